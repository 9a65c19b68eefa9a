//! Scenario files: the catalogue validates, broken files fail with located messages that say
//! what was expected, resolved scenarios round-trip through RON, and no byte soup panics.

use protocols::params::ParamValue;
use scenarios::scenario::{
    AppSpec, ClientSpec, Expectation, FaultSpec, Limits, NetworkSpec, ProtocolSpec, Scenario,
    ScenarioError, WeightedOp,
};
use sim_core::faults::{FaultAction, FaultKind, FaultPlan, PartitionShape, TimedFault};
use sim_core::history::Function;
use sim_core::id::NodeId;
use sim_core::prng::{Prng, Ratio, Stream};
use sim_core::time::{Duration, Instant};
use std::path::{Path, PathBuf};

fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog")
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn catalog_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(catalog_dir())
        .expect("catalog directory")
        .map(|entry| entry.expect("catalog entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ron"))
        .collect();
    // `read_dir` order is unspecified.
    files.sort();
    files
}

/// Parses `text` as `t.ron` and expects a syntax error at `line:column`; returns the message.
#[track_caller]
fn syntax_error(text: &str, line: usize, column: usize) -> String {
    match Scenario::from_str(text, "t.ron") {
        Err(error @ ScenarioError::Syntax { .. }) => {
            let ScenarioError::Syntax {
                line: got_line,
                column: got_column,
                ref message,
                ..
            } = error
            else {
                unreachable!()
            };
            assert_eq!(
                (got_line, got_column),
                (line, column),
                "wrong position for {text:?}: {error}"
            );
            let shown = error.to_string();
            assert_eq!(
                shown.lines().next(),
                Some(format!("t.ron:{line}:{column}: {message}").as_str())
            );
            if !text.trim().is_empty() && !text.trim_start().starts_with("//") {
                assert!(
                    shown.contains(&format!("--> t.ron:{line}:{column}")),
                    "{shown}"
                );
                assert!(shown.contains('^'), "a caret under the span: {shown}");
            }
            message.clone()
        }
        other => panic!("expected a syntax error for {text:?}, got {other:?}"),
    }
}

/// Parses `text` as `t.ron` and expects a semantic error at `path`; returns the message.
#[track_caller]
fn semantic_error(text: &str, path: &str) -> String {
    match Scenario::from_str(text, "t.ron") {
        Err(ScenarioError::Invalid {
            path: got_path,
            message,
            origin,
            ..
        }) => {
            assert_eq!(got_path, path, "wrong path for {text:?}: {message}");
            assert_eq!(origin, "t.ron");
            message
        }
        other => panic!("expected a semantic error for {text:?}, got {other:?}"),
    }
}

#[track_caller]
fn parse(text: &str) -> Scenario {
    Scenario::from_str(text, "t.ron").unwrap_or_else(|error| panic!("{error}"))
}

// ---------------------------------------------------------------------------------------------
// The catalogue.

#[test]
fn every_catalogue_file_is_valid_and_named_after_its_contents() {
    let files = catalog_files();
    assert!(files.len() >= 8, "catalogue has only {} files", files.len());
    for path in files {
        let scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            scenario.name,
            stem,
            "{}: name differs from the file name",
            path.display()
        );
        // `<protocol>-<app>-...`, where the second word may qualify the application
        // (`crdt-gcounter-partitions` runs the counter as a G-Counter).
        let prefix = format!("{}-{}-", scenario.protocol.name(), scenario.app.name());
        let qualified = stem
            .strip_prefix(&format!("{}-", scenario.protocol.name()))
            .and_then(|rest| rest.split('-').next())
            .is_some_and(|word| word.ends_with(scenario.app.name()));
        assert!(
            stem.starts_with(&prefix) || qualified,
            "{stem} should start with {prefix}"
        );
        assert_eq!(scenario.source_path(), Some(path.as_path()));
        assert!(
            scenario.expect.is_some(),
            "{stem}: catalogue files state what they expect"
        );
    }
}

#[test]
fn catalogue_files_say_what_they_show() {
    let load = |name: &str| Scenario::from_file(catalog_dir().join(name)).unwrap();

    let calm = load("single-server-kv-calm.ron");
    assert_eq!(calm.protocol, ProtocolSpec::of("single-server", &[], false));
    assert_eq!(calm.node_count, 1);
    assert_eq!(calm.faults, FaultSpec::None);
    assert_eq!(calm.expect, Some(Expectation::Pass));

    let lossy = load("single-server-kv-lossy.ron");
    assert!(lossy.network.loss > Ratio::ZERO && lossy.network.duplicate > Ratio::ZERO);

    let crashes = load("single-server-kv-crashes.ron");
    let FaultSpec::Script(plan) = &crashes.faults else {
        panic!("crashes is scripted")
    };
    assert!(plan
        .faults
        .iter()
        .any(|f| matches!(f.action, FaultAction::Crash { .. })));
    assert!(plan
        .faults
        .iter()
        .any(|f| matches!(f.action, FaultAction::Restart { .. })));
    assert_eq!(crashes.expect, Some(Expectation::Pass));

    let backup_reads = load("primary-backup-kv-backup-reads.ron");
    assert_eq!(backup_reads.protocol.name(), "primary-backup");
    assert!(backup_reads.protocol.params.bool("read_from_backups"));
    assert_eq!(backup_reads.expect, Some(Expectation::Violation));

    let failover = load("primary-backup-kv-failover.ron");
    assert_eq!(failover.protocol.name(), "primary-backup");
    assert_eq!(failover.protocol.params.choice("replication"), "Async");
    assert!(!failover.protocol.params.bool("read_from_backups"));
    assert_eq!(failover.expect, Some(Expectation::Violation));

    let partitions = load("raft-kv-partitions.ron");
    let FaultSpec::Random(random) = &partitions.faults else {
        panic!("partitions is random")
    };
    assert!(random.swarm);
    assert!(random
        .kinds
        .contains(&FaultKind::Partition(PartitionShape::MajoritiesRing)));
}

// ---------------------------------------------------------------------------------------------
// Defaults and the validated values.

#[test]
fn only_the_protocol_is_required_and_defaults_are_sensible() {
    let scenario = parse("Scenario(protocol: SingleServer)");
    assert_eq!(scenario.name, "t");
    assert_eq!(scenario.node_count, 1);
    assert!(
        scenario.disk.is_instant(),
        "disks are instant unless a scenario says otherwise"
    );
    assert_eq!(
        scenario.app,
        AppSpec::of("kv", &[("keys", ParamValue::Count(4))])
    );
    assert_eq!(
        scenario.clients,
        ClientSpec {
            count: 4,
            think_min: Duration::ZERO,
            think_max: Duration::from_millis(10),
            timeout: Duration::from_secs(1),
            retry_after: Duration::from_millis(250),
            redirect_backoff: Duration::from_millis(10),
        }
    );
    assert_eq!(
        scenario.workload.mix,
        vec![
            WeightedOp {
                function: Function::Read,
                weight: 50
            },
            WeightedOp {
                function: Function::Write,
                weight: 35
            },
            WeightedOp {
                function: Function::Cas,
                weight: 15
            },
        ]
    );
    assert_eq!(scenario.workload.weights(), vec![50, 35, 15]);
    assert_eq!(
        scenario.network,
        NetworkSpec {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            reorder: Ratio::ZERO,
        }
    );
    assert_eq!(scenario.clock_offset_max, Duration::ZERO);
    assert_eq!(scenario.faults, FaultSpec::None);
    assert_eq!(scenario.duration, Duration::from_secs(10));
    assert_eq!(scenario.recovery, Duration::from_secs(5));
    assert!(scenario.bugs.is_empty());
    assert_eq!(scenario.limits, Limits::default());
    assert_eq!(scenario.expect, None);
    assert_eq!(scenario.end(), Instant(15_000_000_000));

    assert_eq!(parse("Scenario(protocol: PrimaryBackup())").node_count, 3);
    let raft = parse("Scenario(protocol: Raft())");
    assert_eq!(raft.node_count, 5);
    assert_eq!(
        raft.node_ids().collect::<Vec<_>>(),
        (0..5).map(NodeId).collect::<Vec<_>>()
    );
    assert_eq!(
        raft.protocol,
        ProtocolSpec::of(
            "raft",
            &[
                (
                    "election_timeout",
                    ParamValue::DurationRange(
                        Duration::from_millis(150),
                        Duration::from_millis(300)
                    )
                ),
                ("heartbeat", ParamValue::Duration(Duration::from_millis(50))),
                ("pre_vote", ParamValue::Bool(false)),
                ("check_quorum", ParamValue::Bool(false)),
                ("buggify", ParamValue::Bool(false)),
                ("read", ParamValue::Choice("ReadIndex")),
            ],
            false
        )
    );
    // BUGGIFY defaults on with random faults only, and the file can say otherwise.
    let buggify = |text: &str| parse(text).protocol.params.bool("buggify");
    let random = r#"faults: Random(every: ("50ms", "1s"), kinds: [Crash])"#;
    assert!(buggify(&format!("Scenario(protocol: Raft(), {random})")));
    assert!(!buggify(&format!(
        "Scenario(protocol: Raft(buggify: false), {random})"
    )));
    assert!(!buggify("Scenario(protocol: Raft())"));
    assert!(buggify("Scenario(protocol: Raft(buggify: true))"));
    // The struct name is optional, as everywhere in RON; `faults: None` means no faults.
    assert_eq!(
        parse("(protocol: Raft(), faults: None)").faults,
        FaultSpec::None
    );
    // Default mixes follow the application.
    let counter = parse("Scenario(protocol: Raft(), app: Counter())");
    assert_eq!(counter.app, AppSpec::of("counter", &[]));
    assert_eq!(counter.workload.weights().len(), 2);
    assert!(counter
        .workload
        .mix
        .iter()
        .all(|op| counter.app.functions().contains(&op.function)));
    let lock = parse("Scenario(protocol: Raft(), app: Lock())");
    assert_eq!(
        lock.app,
        AppSpec::of(
            "lock",
            &[
                ("locks", ParamValue::Count(1)),
                ("lease", ParamValue::Duration(Duration::from_secs(1))),
                (
                    "drift_margin",
                    ParamValue::Duration(Duration::from_millis(100))
                ),
            ]
        )
    );
    assert_eq!(lock.workload.mix[0].function, Function::Acquire);
    // Paxos takes its defaults from the protocol's own configuration.
    let paxos = parse("Scenario(protocol: Paxos())");
    assert_eq!(paxos.node_count, 5);
    let defaults = protocols::paxos::Config::new(());
    assert_eq!(
        paxos.protocol,
        ProtocolSpec::of(
            "paxos",
            &[
                (
                    "leader_timeout",
                    ParamValue::DurationRange(
                        defaults.leader_timeout_min,
                        defaults.leader_timeout_max
                    )
                ),
                ("heartbeat", ParamValue::Duration(defaults.heartbeat)),
                ("read", ParamValue::Choice("Log")),
                (
                    "max_clock_drift",
                    ParamValue::Ratio(Ratio::from_ppm(defaults.max_clock_drift_ppm))
                ),
            ],
            false
        )
    );
    let lease = parse(
        r#"Scenario(protocol: Paxos(leader_timeout: ("200ms", "400ms"), heartbeat: "20ms", read: Lease, max_clock_drift: "1%"))"#,
    );
    assert_eq!(
        lease.protocol,
        ProtocolSpec::of(
            "paxos",
            &[
                (
                    "leader_timeout",
                    ParamValue::DurationRange(
                        Duration::from_millis(200),
                        Duration::from_millis(400)
                    )
                ),
                ("heartbeat", ParamValue::Duration(Duration::from_millis(20))),
                ("read", ParamValue::Choice("Lease")),
                ("max_clock_drift", ParamValue::Ratio(Ratio::from_percent(1))),
            ],
            false
        )
    );
}

#[test]
fn durations_and_ratios_are_exact_integers() {
    let scenario = parse(
        r#"Scenario(
            protocol: Raft(election_timeout: ("0.15s", "300ms"), heartbeat: "50000us"),
            network: (latency: ("1500us", "0.01s"), loss: "0.25%", duplicate: "1/1000"),
        )"#,
    );
    let raft = &scenario.protocol.params;
    assert_eq!(
        raft.duration_range("election_timeout").0,
        Duration::from_millis(150)
    );
    assert_eq!(raft.duration("heartbeat"), Duration::from_millis(50));
    assert_eq!(scenario.network.latency_min, Duration::from_micros(1500));
    assert_eq!(scenario.network.latency_max, Duration::from_millis(10));
    assert_eq!(scenario.network.loss, Ratio::from_ppm(2_500));
    assert_eq!(scenario.network.duplicate, Ratio::from_ppm(1_000));
}

#[test]
fn scripts_cover_every_action_and_are_sorted_by_time() {
    let scenario = parse(
        r#"Scenario(
            protocol: Raft(),
            nodes: 5,
            faults: Script([
                (at: "3s", do: Heal),
                (at: "1s", do: Partition(Groups([[0, 1], [2, 3, 4]]))),
                (at: "1s", do: Crash(1)),
                (at: "2s", do: LoseUnsynced(2)),
                (at: "2s", do: Restart(2)),
                (at: "2s", do: Pause(3)),
                (at: "2s", do: Resume(3)),
                (at: "2s", do: ClockStep(4, "-200ms")),
                (at: "2s", do: ClockStep(4, "+1s")),
                (at: "2s", do: ClockDrift(4, -500)),
                (at: "2s", do: Clog(0, 1)),
                (at: "2s", do: Unclog(0, 1)),
                (at: "2s", do: SetLoss("50%")),
                (at: "2s", do: ResetLoss),
                (at: "2s", do: Partition(Cuts([(0, 1), (1, 0)]))),
                (at: "2s", do: Partition(MajoritiesRing)),
            ]),
        )"#,
    );
    let FaultSpec::Script(plan) = &scenario.faults else {
        panic!()
    };
    let times: Vec<u64> = plan
        .faults
        .iter()
        .map(|f| f.at.as_nanos() / 1_000_000_000)
        .collect();
    assert_eq!(times, [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]);
    let n = NodeId;
    let actions: Vec<&FaultAction> = plan.faults.iter().map(|f| &f.action).collect();
    assert_eq!(
        actions,
        [
            &FaultAction::Partition(PartitionShape::Groups(vec![
                vec![n(0), n(1)],
                vec![n(2), n(3), n(4)]
            ])),
            &FaultAction::Crash {
                node: n(1),
                lose_unsynced: false
            },
            &FaultAction::Crash {
                node: n(2),
                lose_unsynced: true
            },
            &FaultAction::Restart { node: n(2) },
            &FaultAction::Pause { node: n(3) },
            &FaultAction::Resume { node: n(3) },
            &FaultAction::ClockStep {
                node: n(4),
                delta_nanos: -200_000_000
            },
            &FaultAction::ClockStep {
                node: n(4),
                delta_nanos: 1_000_000_000
            },
            &FaultAction::ClockDrift {
                node: n(4),
                drift_ppm: -500
            },
            &FaultAction::Clog {
                from: n(0),
                to: n(1)
            },
            &FaultAction::Unclog {
                from: n(0),
                to: n(1)
            },
            &FaultAction::SetLoss {
                loss: Some(Ratio::from_percent(50))
            },
            &FaultAction::SetLoss { loss: None },
            &FaultAction::Partition(PartitionShape::Cuts(vec![(n(0), n(1)), (n(1), n(0))])),
            &FaultAction::Partition(PartitionShape::MajoritiesRing),
            &FaultAction::Heal,
        ]
    );
}

#[test]
fn bugs_of_the_scenario_protocol_are_switched_on() {
    let scenario = parse(
        r#"Scenario(protocol: Raft(), bugs: ["raft-commit-prior-term", "raft-ack-before-fsync"])"#,
    );
    assert_eq!(
        scenario.bugs.iter().collect::<Vec<_>>(),
        vec![
            protocols::raft::bugs::COMMIT_PRIOR_TERM,
            protocols::raft::bugs::ACK_BEFORE_FSYNC
        ]
    );
}

#[test]
fn application_bugs_apply_to_their_application_on_either_consensus_protocol() {
    for protocol in ["Raft()", "Paxos()"] {
        let counter = parse(&format!(
            r#"Scenario(protocol: {protocol}, app: Counter(), bugs: ["counter-nonatomic-rmw", "counter-retry-not-idempotent"])"#
        ));
        assert_eq!(
            counter.bugs.iter().collect::<Vec<_>>(),
            vec![
                protocols::apps::counter::bugs::NONATOMIC_RMW,
                protocols::apps::counter::bugs::RETRY_NOT_IDEMPOTENT
            ]
        );
        let lock = parse(&format!(
            r#"Scenario(protocol: {protocol}, app: Lock(), bugs: ["lock-release-without-owner-check"])"#
        ));
        assert!(lock
            .bugs
            .contains(protocols::apps::lock::bugs::RELEASE_WITHOUT_OWNER_CHECK));
    }
    let paxos = parse(
        r#"Scenario(protocol: Paxos(read: Lease), app: Counter(), bugs: ["multipaxos-lease-read-unsafe", "counter-nonatomic-rmw"])"#,
    );
    assert!(paxos
        .bugs
        .contains(protocols::paxos::bugs::LEASE_READ_UNSAFE));
    // Every bug applies to exactly the cells of its family, and to at least one.
    for (bug, owner) in protocols::registry::all_bugs() {
        let mut accepted = 0;
        for protocol in [
            "SingleServer",
            "PrimaryBackup()",
            "Raft()",
            "Paxos()",
            "Zab()",
            "TwoPhaseCommit()",
            "Saga()",
            "Crdt()",
            "Sharded()",
        ] {
            for app in ["Kv()", "Register", "Counter()", "Lock()", "Bank()"] {
                let text =
                    format!(r#"Scenario(protocol: {protocol}, app: {app}, bugs: ["{bug}"])"#);
                let Ok(scenario) = Scenario::from_str(&text, "x.ron") else {
                    continue;
                };
                accepted += 1;
                let capabilities = scenario.protocol.protocol.capabilities();
                assert!(
                    owner == scenario.protocol.name()
                        || (owner == scenario.app.name() && capabilities.covers(bug.requires())),
                    "{text} was accepted"
                );
            }
        }
        assert!(accepted > 0, "{bug} applies nowhere");
    }
}

// ---------------------------------------------------------------------------------------------
// Stage one: located syntax errors that say what was expected.

#[test]
fn unknown_field_lists_the_expected_fields() {
    let message = syntax_error(
        "Scenario(\n    protocol: Raft(),\n    clients: (count: 4, thnk: (\"0ms\", \"10ms\")),\n)",
        3,
        25,
    );
    assert_eq!(
        message,
        "unknown field `thnk` in `Clients`: expected one of `count`, `think`, `timeout`, `retry_after`, `redirect_backoff`"
    );
    let message = syntax_error("Scenario(protocol: Raft(), nodez: 5)", 1, 28);
    assert!(message.starts_with("unknown field `nodez` in `Scenario`: expected one of `name`, `protocol`, `app`, `nodes`,"), "{message}");
    let message = syntax_error(
        "Scenario(protocol: Raft(heartbeat: \"50ms\", prevote: true))",
        1,
        44,
    );
    assert!(message.contains("unknown field `prevote`"), "{message}");
    assert!(message.contains("`pre_vote`"), "{message}");
}

#[test]
fn misspelt_variant_lists_the_variants() {
    // Protocols added after these (Redlock, ...) follow in registry order.
    let message = syntax_error("Scenario(\n    protocol: Raftt(),\n)", 2, 15);
    assert!(message.starts_with(
        "unknown variant `Raftt` in `Protocol`: expected one of `SingleServer`, `PrimaryBackup`, `Raft`, `Paxos`, `Zab`, `TwoPhaseCommit`"
    ), "{message}");
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), faults: Random(kinds: [Partition(Halfs)]))", 1, 61),
        "unknown variant `Halfs` in `Shape`: expected one of `Halves`, `MajoritiesRing`, `Bridge`, `IsolateOne`, `OneWay`, `Groups`, `Cuts`"
    );
    let message = syntax_error(
        "Scenario(protocol: Raft(), workload: (mix: [(Reed, 1)]))",
        1,
        46,
    );
    assert!(message.starts_with("unknown variant `Reed` in `Op`: expected one of `Read`, `Write`, `Cas`, `Add`, `Acquire`, `Release`"), "{message}");
    let message = syntax_error(
        "Scenario(protocol: Raft(), faults: Script([(at: \"1s\", do: Kill(1))]))",
        1,
        59,
    );
    assert!(
        message.starts_with(
            "unknown variant `Kill` in `Action`: expected one of `Partition`, `Heal`, `Crash`,"
        ),
        "{message}"
    );
    let message = syntax_error("Scenario(protocol: Raft(), expect: Fail)", 1, 36);
    assert!(
        message.contains("`Pass`, `Violation`, `LivenessFailure`"),
        "{message}"
    );
}

#[test]
fn bad_duration_says_the_expected_form() {
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), duration: \"10 parsecs\")",
            1,
            39
        ),
        "duration `10 parsecs` has unknown unit ` parsecs`: expected ns, us, ms, s, m or h"
    );
    assert!(
        syntax_error("Scenario(protocol: Raft(), recovery: \"10\")", 1, 39).contains("has no unit")
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), duration: 10)", 1, 38),
        "expected a duration string such as \"150ms\" but found the unsigned integer `10` instead"
    );
    let message = syntax_error(
        "Scenario(protocol: Raft(), faults: Script([(at: \"1s\", do: ClockStep(1, \"~20ms\"))]))",
        1,
        73,
    );
    assert!(
        message.contains("a signed duration is written like \"-200ms\""),
        "{message}"
    );
    assert!(
        syntax_error("Scenario(protocol: Raft(), duration: \"584y\")", 1, 39)
            .contains("unknown unit `y`")
    );
    assert!(
        syntax_error("Scenario(protocol: Raft(), duration: \"1.5ns\")", 1, 39)
            .contains("finer than one nanosecond")
    );
}

#[test]
fn bad_ratio_says_the_expected_form() {
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), network: (loss: \"5 percent\"))",
            1,
            45
        ),
        "ratio `5 percent` is not of the form \"1%\", \"0.25%\" or \"1/1000\" (between 0 and 1)"
    );
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), network: (duplicate: \"150%\"))",
            1,
            50
        ),
        "ratio `150%` is above 100%"
    );
    // A float is not a ratio: no float drift.
    assert!(
        syntax_error("Scenario(protocol: Raft(), network: (loss: 0.01))", 1, 44)
            .starts_with("expected a ratio string such as \"1%\"")
    );
}

#[test]
fn unknown_bug_lists_the_bugs() {
    let message = syntax_error(
        "Scenario(\n    protocol: Raft(),\n    bugs: [\"raft-commit-prior-turn\"],\n)",
        3,
        13,
    );
    assert!(
        message.starts_with(
            "unknown bug \"raft-commit-prior-turn\": expected one of \"raft-commit-prior-term\","
        ),
        "{message}"
    );
}

#[test]
fn parentheses_slips_get_hints() {
    assert_eq!(
        syntax_error("Scenario(protocol: SingleServer())", 1, 32),
        "unexpected `(`: `SingleServer` takes no parameters, write it without parentheses"
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), app: Kv)", 1, 35),
        "expected `(` after `Kv`: write `Kv(...)`, or `Kv()` for every default"
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Paxos(), app: Counter)", 1, 41),
        "expected `(` after `Counter`: write `Counter(...)`, or `Counter()` for every default"
    );
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), faults: Script([(at: \"1s\", do: Crash)]))",
            1,
            64
        ),
        "expected `(` after `Crash`: it takes parameters, `Crash(...)`"
    );
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), clients: (think: \"5ms\"))",
            1,
            45
        ),
        "expected `(`: a pair such as `(\"1ms\", \"10ms\")` or a group such as `(count: 4)`"
    );
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), faults: Script([(at: \"1s\", do: Clog(1))]))",
            1,
            65
        ),
        "expected tuple variant Clog with 2 elements but found one element instead"
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft() nodes: 5)", 1, 27),
        "expected a comma between items"
    );
}

#[test]
fn trailing_garbage_is_located() {
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft())\nScenario(protocol: Raft())",
            2,
            1
        ),
        "unexpected text after the end of the scenario: expected nothing after the closing `)`"
    );
}

#[test]
fn empty_files_and_comment_only_files_are_errors() {
    let expected = "the file is empty: expected `Scenario(protocol: ..., ...)`";
    assert_eq!(syntax_error("", 1, 1), expected);
    assert_eq!(syntax_error("  \n// just a comment\n", 1, 1), expected);
}

#[test]
fn non_utf8_is_located_at_the_first_bad_byte() {
    let bytes = b"Scenario(\n    name: \"caf\xe9\",\n    protocol: SingleServer,\n)";
    match Scenario::from_bytes(bytes, "t.ron") {
        Err(ScenarioError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!((line, column), (2, 15));
            assert_eq!(
                message,
                "the file is not valid UTF-8 (byte 0xe9): scenario files are UTF-8 text"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_numbers_are_out_of_range_not_wrapped() {
    let expected = "integer out of range for this field (node numbers, counts and weights are 32-bit, limits 64-bit)";
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), nodes: 99999999999999999999999)",
            1,
            35
        ),
        expected
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), nodes: 4294967296)", 1, 35),
        expected
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), nodes: -1)", 1, 36),
        expected
    );
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), limits: (max_events: 18446744073709551616))",
            1,
            49
        ),
        expected
    );
    assert!(syntax_error(
        "Scenario(protocol: Raft(), duration: \"99999999999999h\")",
        1,
        39
    )
    .contains("too large"));
}

#[test]
fn other_syntax_errors_are_located() {
    assert_eq!(
        syntax_error("Scenario(nodes: 3)", 1, 18),
        "missing field `protocol` in `Scenario`"
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), nodes: 5, nodes: 3)", 1, 38),
        "field `nodes` is given twice in `Scenario`"
    );
    assert_eq!(
        syntax_error("Scenaro(protocol: Raft())", 1, 1),
        "expected `Scenario(...)` but found `Scenaro(...)`"
    );
    assert_eq!(
        syntax_error("Scenario(protocol: Raft(), nodes: \"5\")", 1, 35),
        "expected integer"
    );
    assert_eq!(
        syntax_error(
            "Scenario(protocol: Raft(), faults: Script([(at: \"1s\")]))",
            1,
            53
        ),
        "missing field `do` in `Step`"
    );
    assert_eq!(
        syntax_error("Scenario(\n    protocol: Raft(),\n    name: \"open", 3, 11),
        "expected end of string"
    );
    let deep = format!(
        "Scenario(protocol: Raft(), faults: Script({}",
        "[".repeat(200)
    );
    let message = Scenario::from_str(&deep, "t.ron").unwrap_err().to_string();
    assert!(message.starts_with("t.ron:1:"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Stage two: semantic errors named by field path.

#[test]
fn script_node_out_of_range_names_the_field_path() {
    let text = "Scenario(protocol: Raft(), nodes: 5, faults: Script([(at: \"1s\", do: Heal), (at: \"2s\", do: Heal), (at: \"3s\", do: Crash(7))]))";
    assert_eq!(
        semantic_error(text, "faults.Script[2].do.Crash.node"),
        "node 7 does not exist in a 5-node cluster (nodes are 0 to 4)"
    );
    let error = Scenario::from_str(text, "t.ron").unwrap_err();
    // Located by its field path: the first line says where, the snippet shows it.
    let shown = error.to_string();
    assert_eq!(
        shown.lines().next(),
        Some("t.ron:1:113: faults.Script[2].do.Crash.node: node 7 does not exist in a 5-node cluster (nodes are 0 to 4)")
    );
    assert!(shown.contains("^^^^^^^^ node 7"), "{shown}");
    let clog =
        "Scenario(protocol: Raft(), nodes: 3, faults: Script([(at: \"1s\", do: Clog(0, 3))]))";
    semantic_error(clog, "faults.Script[0].do.Clog.to");
    let groups = "Scenario(protocol: Raft(), nodes: 3, faults: Script([(at: \"1s\", do: Partition(Groups([[0], [1, 5]])))]))";
    semantic_error(groups, "faults.Script[0].do.Partition.Groups[1][1]");
    let overlap = "Scenario(protocol: Raft(), nodes: 3, faults: Script([(at: \"1s\", do: Partition(Groups([[0, 1], [1, 2]])))]))";
    assert!(
        semantic_error(overlap, "faults.Script[0].do.Partition.Groups[1][0]").contains("disjoint")
    );
    let random = "Scenario(protocol: Raft(), nodes: 3, faults: Random(kinds: [Crash, Partition(Cuts([(0, 9)]))]))";
    semantic_error(random, "faults.Random.kinds[1].Partition.Cuts[0].to");
    let step = "Scenario(protocol: Raft(), nodes: 3, faults: Script([(at: \"1s\", do: ClockStep(3, \"1s\"))]))";
    semantic_error(step, "faults.Script[0].do.ClockStep.node");
}

#[test]
fn min_above_max_names_the_range() {
    assert_eq!(
        semantic_error(
            "Scenario(protocol: Raft(), clients: (think: (\"20ms\", \"10ms\")))",
            "clients.think"
        ),
        "min 20ms is above max 10ms"
    );
    assert_eq!(
        semantic_error(
            "Scenario(protocol: Raft(), network: (latency: (\"10ms\", \"1ms\")))",
            "network.latency"
        ),
        "min 10ms is above max 1ms"
    );
    assert_eq!(
        semantic_error(
            "Scenario(protocol: Raft(), disk: (sync_latency: (\"20ms\", \"1ms\")))",
            "disk.sync_latency"
        ),
        "min 20ms is above max 1ms"
    );
    assert_eq!(
        semantic_error(
            "Scenario(protocol: Raft(), disk: (write_latency: (\"0ms\", \"11s\")))",
            "disk.write_latency"
        ),
        "max 11s is above the limit of 10s"
    );
    semantic_error(
        "Scenario(protocol: Raft(election_timeout: (\"300ms\", \"150ms\")))",
        "protocol.Raft.election_timeout",
    );
    semantic_error(
        "Scenario(protocol: Raft(), faults: Random(every: (\"2s\", \"1s\")))",
        "faults.Random.every",
    );
    assert!(semantic_error(
        "Scenario(protocol: Raft(election_timeout: (\"50ms\", \"100ms\"), heartbeat: \"50ms\"))",
        "protocol.Raft.election_timeout",
    )
    .contains("not above the heartbeat interval 50ms"));
}

#[test]
fn op_kind_must_fit_the_application() {
    assert_eq!(
        semantic_error(
            "Scenario(protocol: Raft(), app: Counter(), workload: (mix: [(Add, 1), (Cas, 5)]))",
            "workload.mix[1]"
        ),
        "Cas is not an operation of the counter application: expected one of `Add`, `Read`"
    );
    semantic_error(
        "Scenario(protocol: Raft(), app: Kv(keys: 2), workload: (mix: [(Acquire, 1)]))",
        "workload.mix[0]",
    );
    assert!(semantic_error(
        "Scenario(protocol: Raft(), app: Lock(locks: 2), workload: (mix: [(Acquire, 1)]))",
        "workload.mix",
    )
    .contains("leave `workload` out"));
    assert!(semantic_error(
        "Scenario(protocol: Raft(), workload: (mix: [(Read, 1), (Read, 2)]))",
        "workload.mix[1]"
    )
    .contains("twice"));
    semantic_error(
        "Scenario(protocol: Raft(), workload: (mix: []))",
        "workload.mix",
    );
    semantic_error(
        "Scenario(protocol: Raft(), workload: (mix: [(Read, 0)]))",
        "workload.mix[0]",
    );
}

#[test]
fn bug_of_another_protocol_names_the_bug() {
    assert_eq!(
        semantic_error(
            "Scenario(protocol: SingleServer, bugs: [\"raft-commit-prior-term\"])",
            "bugs[0]"
        ),
        "bug \"raft-commit-prior-term\" belongs to raft, but this scenario runs the kv application on single-server (single-server with the kv application has no switchable bugs)"
    );
    assert_eq!(
        semantic_error(
            "Scenario(protocol: Paxos(), app: Counter(), bugs: [\"raft-commit-prior-term\"])",
            "bugs[0]"
        ),
        "bug \"raft-commit-prior-term\" belongs to raft, but this scenario runs the counter application on paxos (the bugs of paxos with the counter application are \"paxos-accept-ignores-promise\", \"paxos-accept-does-not-raise-promise\", \"paxos-ignore-accepted-value\", \"multipaxos-lease-read-unsafe\", \"counter-nonatomic-rmw\", \"counter-retry-not-idempotent\")"
    );
    assert!(semantic_error(
        "Scenario(protocol: Raft(), app: Kv(), bugs: [\"counter-nonatomic-rmw\"])",
        "bugs[0]"
    )
    .contains("belongs to counter, but this scenario runs the kv application on raft"));
    assert!(semantic_error(
        "Scenario(protocol: SingleServer, app: Counter(), bugs: [\"counter-retry-not-idempotent\"])",
        "bugs[0]"
    )
    .contains("implemented by the protocols with session-switch (raft, paxos, zab), not by single-server"));
    assert!(semantic_error(
        "Scenario(protocol: Raft(), bugs: [\"raft-ack-before-fsync\", \"raft-ack-before-fsync\"])",
        "bugs[1]"
    )
    .contains("listed twice"));
}

#[test]
fn other_semantic_rules() {
    assert_eq!(
        semantic_error("Scenario(protocol: SingleServer, nodes: 3)", "nodes"),
        "single-server runs exactly 1 node, not 3"
    );
    semantic_error("Scenario(protocol: Raft(), nodes: 0)", "nodes");
    semantic_error("Scenario(protocol: Raft(), nodes: 65)", "nodes");
    semantic_error(
        "Scenario(protocol: Raft(), clients: (count: 0))",
        "clients.count",
    );
    semantic_error(
        "Scenario(protocol: Raft(), clients: (timeout: \"0s\"))",
        "clients.timeout",
    );
    semantic_error(
        "Scenario(protocol: Raft(), app: Kv(keys: 0))",
        "app.Kv.keys",
    );
    semantic_error("Scenario(protocol: Raft(), duration: \"0s\")", "duration");
    semantic_error(
        "Scenario(protocol: Raft(), faults: Random(kinds: []))",
        "faults.Random.kinds",
    );
    semantic_error(
        "Scenario(protocol: Raft(), faults: Random(kinds: [ClockDrift(1000000)]))",
        "faults.Random.kinds[0].ClockDrift",
    );
    semantic_error(
        "Scenario(protocol: Raft(), faults: Random(kinds: [Pause(\"0s\")]))",
        "faults.Random.kinds[0].Pause",
    );
    semantic_error(
        "Scenario(protocol: Raft(), faults: Script([(at: \"1s\", do: ClockDrift(0, -1000000))]))",
        "faults.Script[0].do.ClockDrift.ppm",
    );
    semantic_error(
        "Scenario(protocol: Raft(), faults: Script([(at: \"1s\", do: Clog(2, 2))]))",
        "faults.Script[0].do.Clog",
    );
    assert!(semantic_error(
        "Scenario(protocol: Raft(), duration: \"10s\", recovery: \"5s\", faults: Script([(at: \"16s\", do: Heal)]))",
        "faults.Script[0].at"
    )
    .contains("after the end of the run (15s"));
    semantic_error(
        "Scenario(protocol: Raft(), limits: (max_events: 0))",
        "limits.max_events",
    );
    assert!(semantic_error(
        "Scenario(protocol: SingleServer, faults: Random(kinds: [Crash, Clog]))",
        "faults.Random.kinds[1]"
    )
    .contains("at least 2 nodes"));
    semantic_error(
        "Scenario(protocol: PrimaryBackup(heartbeat: \"1s\", failover_timeout: \"1s\"))",
        "protocol.PrimaryBackup.failover_timeout",
    );
    semantic_error("Scenario(name: \" \", protocol: Raft())", "name");
    // Multi-Paxos and the lock application.
    assert!(semantic_error(
        "Scenario(protocol: Paxos(heartbeat: \"150ms\"))",
        "protocol.Paxos.leader_timeout"
    )
    .contains("not above the heartbeat interval"));
    semantic_error(
        "Scenario(protocol: Paxos(leader_timeout: (\"300ms\", \"150ms\")))",
        "protocol.Paxos.leader_timeout",
    );
    semantic_error(
        "Scenario(protocol: Paxos(heartbeat: \"0s\"))",
        "protocol.Paxos.heartbeat",
    );
    assert!(semantic_error(
        "Scenario(protocol: Paxos(max_clock_drift: \"50%\"))",
        "protocol.Paxos.max_clock_drift"
    )
    .contains("below 50%"));
    semantic_error(
        "Scenario(protocol: Raft(), app: Lock(locks: 0))",
        "app.Lock.locks",
    );
    semantic_error(
        "Scenario(protocol: Raft(), app: Lock(locks: 1000001))",
        "app.Lock.locks",
    );
    semantic_error(
        "Scenario(protocol: Raft(), app: Lock(lease: \"0s\"))",
        "app.Lock.lease",
    );
    assert!(semantic_error(
        "Scenario(protocol: Raft(), app: Lock(lease: \"1s\", drift_margin: \"1s\"))",
        "app.Lock.drift_margin"
    )
    .contains("not below the lease"));
    // The lock runs on every protocol with stamped commands, in registry order.
    assert!(
        semantic_error("Scenario(protocol: SingleServer, app: Lock())", "app")
            .contains("runs on primary-backup, raft, paxos, zab, ")
    );
}

// ---------------------------------------------------------------------------------------------
// Fixture files: the same errors through `from_file`, with the file's path.

#[test]
fn broken_fixture_files_report_path_line_and_column() {
    let broken = fixtures_dir().join("broken");
    let cases: &[(&str, &str)] = &[
        (
            "unknown-field.ron",
            ":4:25: unknown field `thnk` in `Clients`",
        ),
        (
            "misspelt-variant.ron",
            ":3:38: unknown variant `Halfs` in `Shape`",
        ),
        (
            "bad-duration.ron",
            ":3:16: duration `10 parsecs` has unknown unit",
        ),
        (
            "node-out-of-range.ron",
            ":7:24: faults.Script[2].do.Crash.node: node 7 does not exist in a 5-node cluster",
        ),
        (
            "not-utf8.ron",
            ":3:15: the file is not valid UTF-8 (byte 0xe9)",
        ),
        ("empty.ron", ":1:1: the file is empty"),
    ];
    for (name, expected) in cases {
        let path = broken.join(name);
        let message = Scenario::from_file(&path).unwrap_err().to_string();
        let expected = format!("{}{expected}", path.display());
        assert!(
            message.starts_with(&expected),
            "{message}\n  should start with\n{expected}"
        );
    }
    let missing = Scenario::from_file(broken.join("no-such-file.ron")).unwrap_err();
    assert!(matches!(missing, ScenarioError::Io { .. }), "{missing}");
    assert!(missing
        .to_string()
        .contains("no-such-file.ron: cannot read the file"));
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn resolved_catalogue_scenarios_round_trip() {
    for path in catalog_files() {
        let scenario = Scenario::from_file(&path).unwrap();
        let text = scenario.to_ron_resolved();
        let again = Scenario::from_str(&text, "resolved.ron")
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(again, scenario, "{}\n{text}", path.display());
        assert_eq!(again.to_ron_resolved(), text, "printing is stable");
    }
}

fn every_action_plan() -> FaultPlan {
    let n = NodeId;
    let at = |millis: u64| Instant(millis * 1_000_000);
    let actions = vec![
        FaultAction::Partition(PartitionShape::Halves),
        FaultAction::Partition(PartitionShape::MajoritiesRing),
        FaultAction::Partition(PartitionShape::Bridge),
        FaultAction::Partition(PartitionShape::IsolateOne),
        FaultAction::Partition(PartitionShape::OneWay),
        FaultAction::Partition(PartitionShape::Groups(vec![vec![n(0)], vec![n(1), n(2)]])),
        FaultAction::Partition(PartitionShape::Cuts(vec![(n(2), n(0))])),
        FaultAction::Heal,
        FaultAction::Crash {
            node: n(0),
            lose_unsynced: false,
        },
        FaultAction::Crash {
            node: n(1),
            lose_unsynced: true,
        },
        FaultAction::Restart { node: n(1) },
        FaultAction::Pause { node: n(2) },
        FaultAction::Resume { node: n(2) },
        FaultAction::ClockStep {
            node: n(0),
            delta_nanos: -123_456_789,
        },
        FaultAction::ClockStep {
            node: n(0),
            delta_nanos: 7,
        },
        FaultAction::ClockDrift {
            node: n(1),
            drift_ppm: -250,
        },
        FaultAction::Clog {
            from: n(0),
            to: n(2),
        },
        FaultAction::Unclog {
            from: n(0),
            to: n(2),
        },
        FaultAction::SetLoss {
            loss: Some(Ratio::from_ppm(1)),
        },
        FaultAction::SetLoss { loss: None },
    ];
    FaultPlan {
        faults: actions
            .into_iter()
            .enumerate()
            // Times with odd units (1500us, 7ns) exercise the duration printer too; two share
            // an instant to check the stable order.
            .map(|(index, action)| TimedFault {
                at: if index == 3 {
                    at(2)
                } else {
                    Instant(
                        at(index as u64).0
                            + 1_500_000 * (index as u64 % 2)
                            + 7 * u64::from(index == 5),
                    )
                },
                action,
            })
            .collect::<Vec<_>>(),
    }
}

#[test]
fn to_ron_with_script_round_trips_every_action() {
    let mut plan = every_action_plan();
    plan.faults.sort_by_key(|fault| fault.at);
    for path in catalog_files() {
        let scenario = Scenario::from_file(&path).unwrap();
        if scenario.node_count < 3 {
            continue;
        }
        let text = scenario.to_ron_with_script(&plan);
        assert!(text.starts_with("Scenario("), "{text}");
        let again = Scenario::from_str(&text, "shrunk.ron")
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        let mut expected = scenario.clone();
        expected.faults = FaultSpec::Script(plan.clone());
        assert_eq!(again, expected, "{}\n{text}", path.display());
        assert_eq!(again.source_path(), None);
    }
    // A single-server scenario with a generated-style plan.
    let single = Scenario::from_file(catalog_dir().join("single-server-kv-crashes.ron")).unwrap();
    let FaultSpec::Script(own) = &single.faults else {
        panic!()
    };
    let again = Scenario::from_str(&single.to_ron_with_script(own), "x.ron").unwrap();
    assert_eq!(again, single);
}

#[test]
fn every_field_survives_a_round_trip() {
    let scenario = parse(
        r#"Scenario(
            name: "every \"field\" ✓",
            protocol: PrimaryBackup(read_from_backups: true, replication: Sync, replication_delay: "7ns", heartbeat: "1500us", failover_timeout: "2s"),
            app: Kv(keys: 3),
            nodes: 4,
            clients: (count: 9, think: ("1us", "1.5ms"), timeout: "250ms", retry_after: "3ms", redirect_backoff: "0s"),
            workload: (mix: [(Cas, 1), (Read, 4000000000)]),
            network: (latency: ("0s", "0s"), loss: "0.0001%", duplicate: "100%", reorder: "2%"),
            clock_offset_max: "7ms",
            disk: (write_latency: ("1us", "2ms"), sync_latency: ("3ms", "20ms")),
            faults: Random(every: ("1s", "1s"), kinds: [Partition(Groups([[3], [0, 2]])), Partition(OneWay), Crash, LoseUnsynced, Pause("1s"), ClockSkew("1ms"), ClockDrift(100), Clog, LossBurst("33%")], swarm: true),
            duration: "1h",
            recovery: "0s",
            limits: (max_events: 18446744073709551615, max_in_flight_messages: 1, max_history_events: 2),
            expect: LivenessFailure,
        )"#,
    );
    assert_eq!(scenario.workload.mix[1].weight, 4_000_000_000);
    assert_eq!(scenario.disk.write_latency_min, Duration::from_micros(1));
    assert_eq!(scenario.disk.sync_latency_max, Duration::from_millis(20));
    let text = scenario.to_ron_resolved();
    assert_eq!(
        Scenario::from_str(&text, "t.ron").unwrap(),
        scenario,
        "{text}"
    );
    let raft = parse(
        r#"Scenario(protocol: Raft(read: Log, pre_vote: true, check_quorum: true), app: Register, bugs: ["raft-stale-read-no-readindex"], expect: Violation)"#,
    );
    assert_eq!(
        Scenario::from_str(&raft.to_ron_resolved(), "t.ron").unwrap(),
        raft
    );
    for text in [
        "Scenario(protocol: Raft(), app: Counter())",
        r#"Scenario(protocol: Paxos(leader_timeout: ("1s", "2s"), heartbeat: "3ms", read: Lease, max_clock_drift: "0.5%"), app: Lock(locks: 7, lease: "2s", drift_margin: "1ms"), bugs: ["paxos-ignore-accepted-value", "lock-lease-no-drift-margin"])"#,
        r#"Scenario(protocol: Paxos(), app: Counter(), workload: (mix: [(Read, 3), (Add, 1)]), bugs: ["counter-retry-not-idempotent"])"#,
    ] {
        let scenario = parse(text);
        let resolved = scenario.to_ron_resolved();
        assert_eq!(
            Scenario::from_str(&resolved, "t.ron").unwrap(),
            scenario,
            "{resolved}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Mini-fuzz: seeded mutations of the catalogue never panic the parser.

const TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"//",
    b"/*",
    b"\n",
    b"0",
    b"-1",
    b"7",
    b"99999999999999999999999",
    b"4294967296",
    b"\"1%\"",
    b"\"150ms\"",
    b"\"-1s\"",
    b"Some(",
    b"None",
    b"Raft()",
    b"Crash(9)",
    b"\xff",
    b"\xc3",
    "µs".as_bytes(),
    b"\"99999999999999h\"",
    b"\"1844674407370955.9999%\"",
    b"\"18446744073709551615/18446744073709551615\"",
    b"r#\"",
    b"1e999",
    b"0x",
    b"'",
    b"\\",
    b"#![enable(unwrap_newtypes)]",
    b"Groups([[0,0]])",
];

fn mutate(rng: &mut Prng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    let mutations = 1 + rng.below(4);
    for _ in 0..mutations {
        let position = if bytes.is_empty() {
            0
        } else {
            rng.index(bytes.len() + 1)
        };
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let index = rng.index(bytes.len());
                bytes[index] = rng.below(256) as u8;
            }
            1 => bytes.insert(position, rng.below(256) as u8),
            2 if position < bytes.len() => {
                let end = (position + 1 + rng.index(16)).min(bytes.len());
                bytes.drain(position..end);
            }
            3 => bytes.truncate(position),
            4 if position < bytes.len() => {
                let end = (position + 1 + rng.index(32)).min(bytes.len());
                let slice = bytes[position..end].to_vec();
                let at = rng.index(bytes.len() + 1);
                bytes.splice(at..at, slice);
            }
            _ => {
                let token = TOKENS[rng.index(TOKENS.len())];
                bytes.splice(position..position, token.iter().copied());
            }
        }
    }
    bytes
}

#[test]
fn seeded_mutations_of_the_catalogue_never_panic() {
    let originals: Vec<Vec<u8>> = catalog_files()
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    let mut rng = Prng::new(0x5eed_f11e, Stream::Custom(7));
    let (mut accepted, mut rejected) = (0u32, 0u32);
    for round in 0..10_000 {
        let original = &originals[round % originals.len()];
        let bytes = mutate(&mut rng, original);
        match Scenario::from_bytes(&bytes, "fuzz.ron") {
            Ok(scenario) => {
                accepted += 1;
                // Whatever parses must also survive printing and parsing again.
                let text = scenario.to_ron_resolved();
                let again = Scenario::from_str(&text, "fuzz.ron")
                    .unwrap_or_else(|error| panic!("round {round}: {error}\n{text}"));
                assert_eq!(again, scenario, "round {round}");
            }
            Err(error) => {
                rejected += 1;
                let message = error.to_string();
                assert!(message.starts_with("fuzz.ron:") || message.starts_with("fuzz.ron: "));
                if let ScenarioError::Syntax { line, column, .. } = error {
                    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
                    assert!(
                        line >= 1 && line <= lines,
                        "round {round}: line {line} of {lines}"
                    );
                    assert!(column >= 1, "round {round}");
                }
            }
        }
    }
    // The mutations should produce both outcomes, or the test exercises too little.
    assert!(
        accepted > 250 && rejected > 2_500,
        "accepted {accepted}, rejected {rejected}"
    );
}

#[test]
fn the_bank_needs_transactions_and_two_phase_commit_runs_only_the_bank() {
    let bank = parse("Scenario(protocol: TwoPhaseCommit(participants: 2), app: Bank())");
    assert_eq!(bank.node_count, 3, "a coordinator and its participants");
    for text in [
        "Scenario(protocol: Raft(), app: Bank())",
        "Scenario(protocol: TwoPhaseCommit(), app: Kv(keys: 2))",
        "Scenario(protocol: TwoPhaseCommit(participants: 2), app: Bank(), nodes: 5)",
        r#"Scenario(protocol: Raft(), bugs: ["2pc-commit-without-unanimous-yes"])"#,
    ] {
        assert!(
            Scenario::from_str(text, "x.ron").is_err(),
            "{text} was accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted clients.

#[test]
fn scripted_operations_are_checked_and_written_back() {
    let scenario = parse(
        r#"Scenario(protocol: Raft(), app: Kv(keys: 2), clients: (count: 2), duration: "1s",
            recovery: "2s", workload: (script: [
                (at: "10ms", client: 1, op: Cas, key: 0, from: 1, to: 2),
                (at: "5ms", client: 0, op: Write, key: 0, value: 1),
                (at: "1.9s", client: 0, op: Read, key: 1),
            ]))"#,
    );
    assert_eq!(scenario.workload.script.len(), 3);
    let (at, client, operation) = &scenario.workload.script[0];
    assert_eq!((at.to_string(), *client), ("10ms".to_string(), 1));
    assert_eq!(operation.f, sim_core::history::Function::Cas);
    assert_eq!(operation.key, Some(0));
    let int = sim_core::history::Value::Int;
    assert_eq!(
        operation.value,
        sim_core::history::Value::List(vec![int(1), int(2)])
    );
    // The resolved scenario (run pages, --export-script) keeps the script, and reads back equal.
    let written = scenario.to_ron_resolved();
    assert!(written.contains("script"), "{written}");
    assert_eq!(parse(&written).workload, scenario.workload);

    let base = |script: &str| {
        format!(
            r#"Scenario(protocol: Raft(), app: Kv(keys: 2), clients: (count: 2), duration: "1s",
                recovery: "2s", workload: ({script}))"#
        )
    };
    let both = base(r#"mix: [(Read, 1)], script: [(at: "0s", client: 0, op: Read, key: 0)]"#);
    assert!(semantic_error(&both, "workload.script").contains("not both"));
    let empty = base("script: []");
    assert!(semantic_error(&empty, "workload.script").contains("empty"));
    let client = base(r#"script: [(at: "0s", client: 2, op: Read, key: 0)]"#);
    assert!(semantic_error(&client, "workload.script[0].client").contains("expected 0 to 1"));
    let op = base(r#"script: [(at: "0s", client: 0, op: Add, key: 0, value: 1)]"#);
    assert!(semantic_error(&op, "workload.script[0].op").contains("not an operation"));
    let cas = base(r#"script: [(at: "0s", client: 0, op: Cas, key: 0, value: 1)]"#);
    assert!(semantic_error(&cas, "workload.script[0]").contains("`from` and `to`"));
    let read = base(r#"script: [(at: "0s", client: 0, op: Read, key: 0, value: 3)]"#);
    assert!(semantic_error(&read, "workload.script[0]").contains("takes no `value`"));
    let late = base(r#"script: [(at: "2s", client: 0, op: Read, key: 0)]"#);
    assert!(semantic_error(&late, "workload.script[0].at").contains("too late"));
}
