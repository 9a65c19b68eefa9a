//! Each protocol's declared crash points (`Protocol::crash_points`, what `faultline list`
//! shows and scenario files may name) must be exactly the `ctx.crash_point("...")` calls of its
//! code: a call missing from the list could not be aimed at or scripted, and a listed name no
//! call passes would be a `CrashAt` that never fires.

use protocols::registry::PROTOCOLS;
use std::collections::BTreeSet;

/// The names passed to `crash_point("...")` in `source`.
fn crash_point_calls(source: &str) -> BTreeSet<String> {
    let opening = "crash_point(\"";
    let mut found = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find(opening) {
        let after = &rest[start + opening.len()..];
        let end = after.find('"').expect("an unterminated string literal");
        found.insert(after[..end].to_string());
        rest = &after[end + 1..];
    }
    found
}

fn sources(protocol: &str) -> &'static str {
    match protocol {
        "raft" => include_str!("../src/raft/node.rs"),
        "paxos" => include_str!("../src/paxos/node.rs"),
        "zab" => include_str!("../src/zab/node.rs"),
        "primary-backup" => include_str!("../src/primary_backup/node.rs"),
        "single-server" => include_str!("../src/single_server/node.rs"),
        "saga" => concat!(
            include_str!("../src/saga/orchestrator.rs"),
            include_str!("../src/saga/participant.rs")
        ),
        "crdt" => include_str!("../src/crdt/node.rs"),
        "redlock" => include_str!("../src/redlock/node.rs"),
        "2pc" => concat!(
            include_str!("../src/two_phase_commit/coordinator.rs"),
            include_str!("../src/two_phase_commit/participant.rs")
        ),
        _ => "",
    }
}

#[test]
fn every_protocols_declared_crash_points_are_the_ones_its_code_passes() {
    let mut checked = 0;
    for protocol in PROTOCOLS {
        let source = sources(protocol.name());
        if source.is_empty() {
            continue; // a protocol this test does not know yet
        }
        let declared: BTreeSet<String> = protocol
            .crash_points()
            .iter()
            .map(|name| name.to_string())
            .collect();
        assert_eq!(
            declared.len(),
            protocol.crash_points().len(),
            "{}: a crash point is listed twice",
            protocol.name()
        );
        assert!(
            !declared.is_empty(),
            "{}: declares no crash points",
            protocol.name()
        );
        assert_eq!(
            declared,
            crash_point_calls(source),
            "{}: declared crash points differ from the code's ctx.crash_point calls",
            protocol.name()
        );
        checked += 1;
    }
    assert_eq!(
        checked, 9,
        "raft, paxos, zab, primary-backup, single-server, 2pc, saga, crdt, redlock"
    );
}

#[test]
fn the_scanner_finds_calls_and_ignores_marks() {
    let source = r#"ctx.mark("raft.x"); ctx.crash_point("raft.after_vote"); crash_point("raft.y")"#;
    let found: Vec<String> = crash_point_calls(source).into_iter().collect();
    assert_eq!(found, ["raft.after_vote", "raft.y"]);
}
