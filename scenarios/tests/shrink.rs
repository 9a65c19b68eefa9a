//! `run --export-script` and `faultline shrink`.
//!
//! The export must replay bit for bit: the same seed of the exported file gives the same trace
//! digest and outcome as the run it was written from, for generated and scripted plans, with
//! and without a bug. The shrinker must keep the failure (the same outcome kind and check) and
//! end within the bound of 20 fault events for one known failing seed per protocol
//! family; a passing seed is refused.

use protocols::registry::bug_by_name;
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::{FaultSpec, Scenario};
use scenarios::shrink::{script, shrink, Error, Failure, Options};
use std::path::Path;

/// The bound on a shrunk scenario's fault and timed events.
const EVENTS_MAX: usize = 20;

fn catalogue(name: &str, bugs: &[&str]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("catalog")
        .join(format!("{name}.ron"));
    let mut scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
    for name in bugs {
        let (bug, _) = bug_by_name(name).unwrap_or_else(|| panic!("no bug {name}"));
        scenario.bugs.insert(bug);
    }
    scenario
}

/// Runs `scenario` for `seed`, exports it, reads the export back and runs it again.
fn assert_export_replays(scenario: &Scenario, seed: u64) {
    let report = run(scenario, seed, &RunOptions::default()).expect("a supported scenario");
    let text = script::exported(
        scenario,
        &report.plan,
        seed,
        "the catalogue",
        report.outcome.name(),
        "exported.ron",
    );
    let exported = Scenario::from_str(&text, "exported.ron")
        .unwrap_or_else(|error| panic!("{}: {error}\n{text}", scenario.name));
    assert!(
        matches!(exported.faults, FaultSpec::Script(_)),
        "an export is scripted"
    );
    let again = run(&exported, seed, &RunOptions::default()).expect("a supported scenario");
    assert_eq!(
        (again.digest, again.outcome.name()),
        (report.digest, report.outcome.name()),
        "{} seed {seed}: the export does not replay the run",
        scenario.name
    );
    // Every scripted event carries its comment.
    let scripted_lines = text.lines().filter(|l| l.trim_start().starts_with("(at:"));
    assert!(scripted_lines.clone().all(|line| line.contains("  // at ")));
    if let FaultSpec::Script(plan) = &exported.faults {
        assert_eq!(scripted_lines.count(), plan.faults.len());
    }
}

#[test]
fn exported_scripts_replay_with_the_same_digest() {
    for name in [
        "raft-kv-crashes",
        "raft-kv-partitions",
        "raft-kv-everything",
        "paxos-kv-everything",
        "paxos-kv-dueling",
        "raft-lock-contention",
        "paxos-counter-faults",
        "primary-backup-kv-failover",
        "single-server-kv-crashes",
    ] {
        let scenario = catalogue(name, &[]);
        for seed in [0, 7, 93] {
            assert_export_replays(&scenario, seed);
        }
    }
    // Failing runs too: the export of a failing seed fails the same way.
    assert_export_replays(
        &catalogue("raft-kv-crashes", &["raft-commit-prior-term"]),
        93,
    );
    assert_export_replays(
        &catalogue("paxos-kv-partitions", &["paxos-accept-ignores-promise"]),
        0,
    );
}

/// Shrinks `seed` of `name` with `bug` on a deterministic budget (runs only, no wall clock) and
/// checks the bound, the failure kept, and that the written file fails as it says.
fn assert_shrinks(name: &str, bug: &str, seed: u64) -> scenarios::shrink::Shrunk {
    let scenario = catalogue(name, &[bug]);
    let options = Options {
        max_runs: 6000,
        max_time: None,
        seeds_per_candidate: 8,
    };
    let shrunk =
        shrink(&scenario, seed, &options, &|_| {}).unwrap_or_else(|error| panic!("{error}"));
    let original = Failure::of(&shrunk.original_outcome).expect("a failing seed");
    assert_eq!(shrunk.failure, original);
    assert_eq!(Failure::of(&shrunk.outcome).as_ref(), Some(&original));
    assert!(
        shrunk.after.fault_events <= EVENTS_MAX,
        "{name} {bug} seed {seed}: {} fault events left (before: {})",
        shrunk.after.fault_events,
        shrunk.before
    );
    assert!(shrunk.after.fault_events <= shrunk.before.fault_events);
    assert!(shrunk.after.duration <= shrunk.before.duration);
    // Scripted clients run only the operations of their script (and one at least).
    let script = &shrunk.scenario.workload.script;
    if !script.is_empty() {
        assert!(shrunk.after.operations <= script.len() as u64);
        assert!(shrunk.after.operations < shrunk.before.operations);
    }
    // The file as written (comments and all) reads back and fails the same way.
    let FaultSpec::Script(plan) = &shrunk.scenario.faults else {
        panic!("a shrunk scenario is scripted");
    };
    let text = script::commented_ron(&shrunk.scenario, plan, &["a header".to_string()]);
    let read = Scenario::from_str(&text, "shrunk.ron").unwrap_or_else(|error| panic!("{error}"));
    let report = run(&read, shrunk.seed, &RunOptions::default()).expect("supported");
    assert_eq!(Failure::of(&report.outcome), Some(original));
    // The same budget gives the same result (no dependence on threads or timing).
    let again = shrink(&scenario, seed, &options, &|_| {}).expect("shrinks again");
    assert_eq!(
        (&again.scenario, again.seed, again.runs),
        (&shrunk.scenario, shrunk.seed, shrunk.runs)
    );
    shrunk
}

#[test]
fn shrinks_a_raft_election_restriction_failure() {
    let shrunk = assert_shrinks("raft-kv-partitions", "raft-no-election-restriction", 0);
    // The random workload became the few operations the failure needs.
    let script = &shrunk.scenario.workload.script;
    assert!(
        (1..=5).contains(&script.len()),
        "{} scripted operations",
        script.len()
    );
}

#[test]
fn shrinks_a_multi_paxos_agreement_failure() {
    let shrunk = assert_shrinks("paxos-kv-partitions", "paxos-accept-ignores-promise", 0);
    assert!(!shrunk.scenario.workload.script.is_empty());
}

#[test]
fn shrinks_a_lock_failure() {
    assert_shrinks(
        "raft-lock-contention",
        "lock-release-without-owner-check",
        1,
    );
}

#[test]
fn shrinks_a_counter_failure() {
    assert_shrinks("raft-counter-faults", "counter-retry-not-idempotent", 0);
}

#[test]
fn a_passing_seed_is_refused() {
    let scenario = catalogue("raft-kv-partitions", &[]);
    let error = shrink(&scenario, 0, &Options::default(), &|_| {}).expect_err("seed 0 passes");
    assert!(matches!(error, Error::Passes(0)), "{error}");
}
