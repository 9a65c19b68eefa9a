//! Each protocol's `MARKS` (what a sweep reports as "not hit") must list exactly the marks its
//! node emits: a mark added to the code but not to the list would never be reported missing,
//! and a listed mark the code no longer emits would always be.

use std::collections::BTreeSet;

/// The string literals in `source` that start with `prefix.`.
fn literals(source: &str, prefix: &str) -> BTreeSet<String> {
    let opening = format!("\"{prefix}.");
    let mut found = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find(&opening) {
        let after = &rest[start + 1..];
        let end = after.find('"').expect("an unterminated string literal");
        // Crash points share the protocol's prefix; declared_crash_points.rs checks them.
        if !rest[..start].ends_with("crash_point(") {
            found.insert(after[..end].to_string());
        }
        rest = &after[end + 1..];
    }
    found
}

fn check(declared: &[&str], source: &str, prefix: &str) {
    let declared_set: BTreeSet<String> = declared.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        declared_set.len(),
        declared.len(),
        "{prefix}: a mark is listed twice"
    );
    let emitted = literals(source, prefix);
    assert!(
        !emitted.is_empty(),
        "{prefix}: no marks found in the source"
    );
    assert_eq!(
        declared_set, emitted,
        "{prefix}::MARKS differs from the marks in its node.rs"
    );
}

#[test]
fn every_protocols_declared_marks_are_the_marks_its_code_emits() {
    let protocols: &[(&[&str], &str, &str)] = &[
        (
            protocols::raft::MARKS,
            include_str!("../src/raft/node.rs"),
            "raft",
        ),
        (
            protocols::paxos::MARKS,
            include_str!("../src/paxos/node.rs"),
            "paxos",
        ),
        (
            protocols::primary_backup::MARKS,
            include_str!("../src/primary_backup/node.rs"),
            "primary_backup",
        ),
        (
            protocols::single_server::MARKS,
            include_str!("../src/single_server/node.rs"),
            "single_server",
        ),
        (
            protocols::zab::MARKS,
            include_str!("../src/zab/node.rs"),
            "zab",
        ),
        (
            protocols::two_phase_commit::MARKS,
            concat!(
                include_str!("../src/two_phase_commit/coordinator.rs"),
                include_str!("../src/two_phase_commit/participant.rs"),
                include_str!("../src/two_phase_commit/replica.rs")
            ),
            "two_phase_commit",
        ),
        (
            protocols::saga::MARKS,
            concat!(
                include_str!("../src/saga/orchestrator.rs"),
                include_str!("../src/saga/participant.rs")
            ),
            "saga",
        ),
    ];
    for (declared, source, prefix) in protocols {
        check(declared, source, prefix);
    }
}

#[test]
fn the_literal_scan_finds_marks_and_only_marks() {
    let source = r#"ctx.mark("raft.a"); let x = "raft.b_c"; ctx.mark("paxos.d"); "raftx.e""#;
    let found: Vec<String> = literals(source, "raft").into_iter().collect();
    assert_eq!(found, vec!["raft.a".to_string(), "raft.b_c".to_string()]);
}

/// `source` without its `pub const MARKS` list, so that the scan sees only the marks the code
/// records (an application keeps its list beside its workload, in the same file).
fn without_declaration(source: &str) -> String {
    let start = source.find("pub const MARKS").expect("a MARKS declaration");
    let end = start + source[start..].find("];").expect("the end of MARKS") + 2;
    format!("{}{}", &source[..start], &source[end..])
}

#[test]
fn every_applications_declared_marks_are_the_marks_its_workload_records() {
    let apps: &[(&[&str], &str, &str)] = &[
        (
            protocols::apps::lock::MARKS,
            include_str!("../src/apps/lock.rs"),
            "lock",
        ),
        (
            protocols::apps::counter::MARKS,
            include_str!("../src/apps/counter.rs"),
            "counter",
        ),
    ];
    for (declared, source, prefix) in apps {
        check(declared, &without_declaration(source), prefix);
    }
    // The listing shows them.
    use protocols::describe::App;
    assert_eq!(
        protocols::apps::lock::LOCK.marks(),
        protocols::apps::lock::MARKS
    );
    assert_eq!(
        protocols::apps::counter::COUNTER.marks(),
        protocols::apps::counter::MARKS
    );
}

#[test]
fn a_declaration_is_not_counted_as_a_recorded_mark() {
    let source = r#"pub const MARKS: &[&str] = &["lock.a", "lock.b"]; ctx.mark("lock.a");"#;
    let found: Vec<String> = literals(&without_declaration(source), "lock")
        .into_iter()
        .collect();
    assert_eq!(found, vec!["lock.a".to_string()]);
}
