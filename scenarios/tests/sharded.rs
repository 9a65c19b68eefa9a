//! The sharded store end to end: what validation refuses (a non-keyed application, bad
//! membership events, unknown crash points) with the field path and what is expected.

use scenarios::runner::{fault_plan, run, Outcome, RunOptions, RunReport};
use scenarios::scenario::{Scenario, ScenarioError};
use sim_core::faults::FaultAction;

/// Parses `text` and expects a semantic error at `path`; returns the message.
#[track_caller]
fn semantic_error(text: &str, path: &str) -> String {
    match Scenario::from_str(text, "t.ron") {
        Err(ScenarioError::Invalid {
            path: got_path,
            message,
            ..
        }) => {
            assert_eq!(got_path, path, "wrong path for {text:?}: {message}");
            message
        }
        other => panic!("expected a semantic error for {text:?}, got {other:?}"),
    }
}

#[track_caller]
fn parse(text: &str) -> Scenario {
    Scenario::from_str(text, "t.ron").unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_sharded_store_runs_only_keyed_stores() {
    // It keeps the keys itself: the kv store and the register run on it...
    parse("Scenario(protocol: Sharded(), app: Kv(keys: 8))");
    parse("Scenario(protocol: Sharded(), app: Register)");
    // ... and any other application is refused at validation, not at the start of its run.
    for app in ["Counter()", "Lock()", "Bank()"] {
        let message = semantic_error(&format!("Scenario(protocol: Sharded(), app: {app})"), "app");
        assert!(message.contains("not on shard"), "{message}");
        assert!(!message.contains(", shard"), "{message}");
    }
    let message = semantic_error("Scenario(protocol: Sharded(), app: Counter())", "app");
    assert!(
        message.contains("the counter application runs on single-server"),
        "{message}"
    );
}

fn scripted(script: &str, bugs: &str) -> String {
    format!(
        r#"Scenario(
    protocol: Sharded(rebalances: 0, poll_interval: "20ms", election_timeout: ("60ms", "120ms"), heartbeat: "20ms"),
    app: Kv(keys: 16),
    clients: (count: 6, think: ("0ms", "5ms"), timeout: "500ms"),
    faults: Script([{script}]),
    duration: "4s",
    recovery: "3s",
    bugs: [{bugs}],
)"#
    )
}

#[test]
fn membership_changes_are_refused_where_they_cannot_run() {
    // Not on a protocol without members, random or scripted, with the field path.
    let message = semantic_error(
        "Scenario(protocol: Raft(), faults: Random(kinds: [Crash, AddShard]))",
        "faults.Random.kinds[1].AddShard",
    );
    assert!(
        message.contains("raft has no members to add or remove"),
        "{message}"
    );
    assert!(message.contains("run on shard only"), "{message}");
    semantic_error(
        r#"Scenario(protocol: Paxos(), faults: Script([(at: "1s", do: RemoveShard(None))]))"#,
        "faults.Script[0].do.RemoveShard",
    );
    // Not a shard the store does not have (shards_max 5: shards 0 to 4).
    let message = semantic_error(
        &scripted(r#"(at: "1s", do: Heal), (at: "2s", do: AddShard(5))"#, ""),
        "faults.Script[1].do.AddShard",
    );
    assert!(
        message.contains("shard 5 does not exist: expected 0 to 4"),
        "{message}"
    );
    // The good ones parse.
    parse(&scripted(
        r#"(at: "1s", do: AddShard(4)), (at: "2s", do: RemoveShard(None))"#,
        "",
    ));
    parse("Scenario(protocol: Sharded(), faults: Random(kinds: [AddShard, RemoveShard]))");
}

#[test]
fn listing_membership_kinds_moves_no_other_fault() {
    let kinds = |extra: &str| {
        parse(&format!(
            r#"Scenario(protocol: Sharded(), faults: Random(every: ("50ms", "300ms"), kinds: [Crash, Partition(Halves){extra}], swarm: true))"#
        ))
    };
    let (without, with) = (kinds(""), kinds(", AddShard, RemoveShard"));
    let mut changes = 0;
    for seed in 0..20 {
        let plain = fault_plan(&without, seed);
        let plan = fault_plan(&with, seed);
        let others: Vec<_> = plan
            .faults
            .iter()
            .filter(|fault| !matches!(fault.action, FaultAction::Membership(_)))
            .cloned()
            .collect();
        assert_eq!(others, plain.faults, "seed {seed}");
        assert!(plain
            .faults
            .iter()
            .all(|fault| !matches!(fault.action, FaultAction::Membership(_))));
        changes += plan.faults.len() - others.len();
    }
    assert!(changes > 100, "membership changes drawn: {changes}");
}

fn marks(report: &RunReport, name: &str) -> u64 {
    report.marks.get(name).copied().unwrap_or(0)
}

#[test]
fn scripted_changes_grow_and_shrink_the_ring_and_the_fence_holds() {
    let script = r#"(at: "1s", do: AddShard(3)), (at: "2s", do: RemoveShard(0)), (at: "2500ms", do: RemoveShard(0))"#;
    let scenario = parse(&scripted(script, ""));
    let report = run(&scenario, 1, &RunOptions::default()).expect("runs");
    assert!(
        matches!(report.outcome, Outcome::Pass),
        "{:?}",
        report.outcome
    );
    // One add, one remove; the second RemoveShard(0) finds shard 0 gone: nothing changes.
    assert!(marks(&report, "shard.add_shard") >= 1, "{:?}", report.marks);
    assert!(
        marks(&report, "shard.remove_shard") >= 1,
        "{:?}",
        report.marks
    );
    assert!(
        marks(&report, "shard.membership_unchanged") >= 1,
        "{:?}",
        report.marks
    );
    assert!(
        marks(&report, "shard.install_proposed") >= 1,
        "{:?}",
        report.marks
    );
    // Without the script nothing moves...
    let calm = parse(&scripted("", "").replace("faults: Script([]),", ""));
    let report = run(&calm, 1, &RunOptions::default()).expect("runs");
    assert_eq!(
        marks(&report, "shard.reconfigure_proposed"),
        0,
        "{:?}",
        report.marks
    );
    // ... and the same script with the old owner serving on is caught.
    let buggy = parse(&scripted(script, "\"shard-serve-after-handoff\""));
    let report = run(&buggy, 1, &RunOptions::default()).expect("runs");
    assert!(
        matches!(&report.outcome, Outcome::SafetyViolation { .. }),
        "{:?}",
        report.outcome
    );
}

#[test]
fn the_crash_points_file_crashes_nodes_at_every_handoff_moment() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/shard-kv-crash-points.ron");
    let scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
    let mut crashed = std::collections::BTreeMap::new();
    for seed in 0..4 {
        let report = run(&scenario, seed, &RunOptions::default()).expect("runs");
        assert!(
            matches!(report.outcome, Outcome::Pass),
            "seed {seed}: {:?}",
            report.outcome
        );
        for point in protocols::sharded::CRASH_POINTS {
            *crashed.entry(*point).or_insert(0) += marks(&report, &format!("crashed:{point}"));
        }
    }
    assert!(crashed.values().all(|&count| count > 0), "{crashed:?}");
}

#[test]
fn group_protocol_chooses_every_groups_consensus() {
    // Shard 3 added, node 4 (shard 0's member 1) crashed and restarted, shard 0 removed.
    let text = |group_protocol: &str, bugs: &str| {
        format!(
            r#"Scenario(
    protocol: Sharded(rebalances: 0, poll_interval: "20ms", election_timeout: ("60ms", "120ms"), heartbeat: "20ms"{group_protocol}),
    app: Kv(keys: 16),
    clients: (count: 6, think: ("0ms", "5ms"), timeout: "500ms"),
    faults: Script([(at: "1s", do: AddShard(3)), (at: "1500ms", do: Crash(4)), (at: "2s", do: RemoveShard(0)), (at: "2500ms", do: Restart(4))]),
    duration: "4s",
    recovery: "3s",
    bugs: [{bugs}],
)"#
        )
    };
    let scenario = |group_protocol: &str, bugs: &str| {
        parse(&text(&format!(", group_protocol: {group_protocol}"), bugs))
    };
    let prefixes = ["raft.", "paxos.", "zab."];
    for (group_protocol, prefix, recovered) in [
        ("Raft", "raft.", "raft.recovered_with_log"),
        ("MultiPaxos", "paxos.", "paxos.recovered"),
        ("Zab", "zab.", "zab.recovered_with_history"),
    ] {
        let report = run(&scenario(group_protocol, ""), 1, &RunOptions::default()).expect("runs");
        assert!(
            matches!(report.outcome, Outcome::Pass),
            "{group_protocol}: {:?}",
            report.outcome
        );
        // The ranges moved, and the restarted node's replica recovered from its disk as the
        // chosen protocol's replica: every consensus mark is that protocol's.
        assert!(
            marks(&report, "shard.install_proposed") >= 1,
            "{group_protocol}: {:?}",
            report.marks
        );
        assert!(
            marks(&report, recovered) >= 1,
            "{group_protocol}: {:?}",
            report.marks
        );
        let foreign: Vec<&String> = report
            .marks
            .keys()
            .filter(|mark| prefixes.iter().any(|p| *p != prefix && mark.starts_with(p)))
            .collect();
        assert!(foreign.is_empty(), "{group_protocol}: {foreign:?}");
        // The old owner serving on is caught on every protocol.
        let buggy = scenario(group_protocol, "\"shard-serve-after-handoff\"");
        let report = run(&buggy, 1, &RunOptions::default()).expect("runs");
        assert!(
            matches!(&report.outcome, Outcome::SafetyViolation { .. }),
            "{group_protocol}: {:?}",
            report.outcome
        );
    }
    // Raft is the default: without the parameter, the same run as with `Raft`, and another
    // than with the others.
    let digest = |scenario: &Scenario| {
        run(scenario, 1, &RunOptions::default())
            .expect("runs")
            .digest
    };
    let default = digest(&parse(&text("", "")));
    assert_eq!(default, digest(&scenario("Raft", "")));
    assert_ne!(default, digest(&scenario("MultiPaxos", "")));
    assert_ne!(default, digest(&scenario("Zab", "")));
}

#[test]
fn an_unknown_group_protocol_is_refused_naming_the_parameter() {
    let text = "Scenario(protocol: Sharded(group_protocol: Pbft), app: Kv(keys: 8))";
    match Scenario::from_str(text, "t.ron") {
        Err(ScenarioError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!((line, column), (1, 44), "{message}");
            assert!(
                message.contains(
                    "unknown variant `Pbft` for `group_protocol`: expected one of `Raft`, `MultiPaxos`, `Zab`"
                ),
                "{message}"
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}
