//! Pinned messages (`DropMessage`, `DuplicateMessage`, `DelayMessage`) and the shrinker's
//! second stage: located errors for bad pins, a pin that really decides its message's fate
//! (and changes nothing when it names no message), the trace's lost messages and retries, and
//! a shrunk file that fails for most seeds, not only the one it was cut to.

use protocols::registry::bug_by_name;
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::Scenario;
use scenarios::shrink::{robustness, shrink, Options};
use std::path::Path;

fn parse(text: &str) -> Result<Scenario, String> {
    Scenario::from_str(text, "test.ron").map_err(|error| error.to_string())
}

/// A three-node Raft cluster with one scripted event.
fn raft_with(event: &str) -> String {
    format!(
        r#"Scenario(
    protocol: Raft(election_timeout: ("150ms", "300ms"), heartbeat: "50ms"),
    app: Kv(keys: 2),
    nodes: 3,
    clients: (count: 1),
    network: (latency: ("1ms", "1ms")),
    faults: Script([(at: "0s", do: {event})]),
    duration: "1s",
    recovery: "1s",
)"#
    )
}

#[test]
fn bad_pins_are_located_errors() {
    let cases = [
        (
            r#"DropMessage(0, 3, "AppendEntries", 1)"#,
            "faults.Script[0].do.DropMessage.to",
            "node 3 does not exist",
        ),
        (
            r#"DropMessage(0, 1, "AppendEntries", 0)"#,
            "faults.Script[0].do.DropMessage.nth",
            "messages count from 1",
        ),
        (
            r#"DuplicateMessage(0, 1, "Append Entries", 2)"#,
            "faults.Script[0].do.DuplicateMessage.kind",
            "expected a message kind",
        ),
        (
            r#"DelayMessage(0, 1, "", 2, "40ms")"#,
            "faults.Script[0].do.DelayMessage.kind",
            "expected a message kind",
        ),
        (
            r#"DropMessage(4, 0, "ClientRequest", 1)"#,
            "faults.Script[0].do.DropMessage.from",
            "client 4 does not exist",
        ),
    ];
    for (event, path, words) in cases {
        let error = parse(&raft_with(event)).expect_err(event);
        let first = error.lines().next().unwrap_or_default();
        assert!(
            first.contains(path) && first.contains(words),
            "{event}: {error}"
        );
    }
    // A delay that is not a duration is a parse error naming the expected form.
    let error = parse(&raft_with(
        r#"DelayMessage(0, 1, "AppendEntries", 2, "soon")"#,
    ))
    .expect_err("not a duration");
    assert!(error.contains("soon"), "{error}");
    // The well-formed ones read.
    for event in [
        r#"DropMessage(0, 1, "AppendEntries", 1)"#,
        r#"DuplicateMessage(0, 1, "RequestVote", 2)"#,
        r#"DelayMessage(2, 0, "AppendEntries", 3, "40ms")"#,
        r#"DuplicateMessage(0, 0, "ClientRequest", 1)"#,
    ] {
        parse(&raft_with(event)).unwrap_or_else(|error| panic!("{event}: {error}"));
    }
}

#[test]
fn a_pin_decides_its_message_and_a_pin_of_no_message_changes_nothing() {
    let traced = RunOptions {
        trace: true,
        ..RunOptions::default()
    };
    let plain = parse(&raft_with("Heal")).expect("valid");
    let plain_run = run(&plain, 1, &traced).expect("runs");
    // The first AppendEntries n0 sends to n1, if n0 leads; else whoever sent one first.
    let first_append = plain_run
        .trace
        .iter()
        .find(|line| line.contains(" → ") && line.contains("AppendEntries("))
        .expect("a leader replicates");
    let words: Vec<&str> = first_append.split_whitespace().collect();
    let (from, to) = (&words[1][1..], &words[3][1..]);
    let dropped = parse(&raft_with(&format!(
        r#"DropMessage({from}, {to}, "AppendEntries", 1)"#
    )))
    .expect("valid");
    let dropped_run = run(&dropped, 1, &traced).expect("runs");
    assert!(
        dropped_run.trace.iter().any(|line| line
            .contains(&format!("n{from} ⇸ n{to} AppendEntries("))
            && line.ends_with("(lost: pinned)")),
        "the pinned AppendEntries is not lost"
    );
    assert_ne!(dropped_run.digest, plain_run.digest);
    // A pin of a message never sent: the run is the plain one, event for event (only the
    // pin's own fault record differs).
    let nothing = parse(&raft_with(r#"DropMessage(0, 1, "NoSuchMessage", 1)"#)).expect("valid");
    let nothing_run = run(&nothing, 1, &traced).expect("runs");
    let deliveries = |trace: &[String]| -> Vec<String> {
        trace
            .iter()
            .filter(|line| !line.contains("!! FAULT"))
            .cloned()
            .collect()
    };
    assert_eq!(deliveries(&nothing_run.trace), deliveries(&plain_run.trace));
    // A duplicated message is delivered twice.
    let twice = parse(&raft_with(&format!(
        r#"DuplicateMessage({from}, {to}, "AppendEntries", 1)"#
    )))
    .expect("valid");
    let twice_run = run(&twice, 1, &traced).expect("runs");
    let count = |trace: &[String]| {
        trace
            .iter()
            .filter(|line| line.contains(&format!("n{from} → n{to} AppendEntries(")))
            .count()
    };
    assert!(count(&twice_run.trace) > count(&plain_run.trace));
}

#[test]
fn traces_show_lost_messages_and_retries_without_moving_the_digest() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/raft-kv-lossy.ron");
    let scenario = Scenario::from_file(&path).expect("catalogue");
    let traced = run(
        &scenario,
        0,
        &RunOptions {
            trace: true,
            ..RunOptions::default()
        },
    )
    .expect("runs");
    let untraced = run(&scenario, 0, &RunOptions::default()).expect("runs");
    assert_eq!(traced.digest, untraced.digest, "tracing moved the digest");
    assert!(traced
        .trace
        .iter()
        .any(|line| line.contains(" ⇸ ") && line.ends_with("(lost: loss)")));
    assert!(traced
        .trace
        .iter()
        .any(|line| line.contains(" retries request #")));
    // Every lost message the randomness decided is offered to the shrinker as a pin.
    assert!(!traced.random_fates.is_empty());
}

#[test]
fn the_second_stage_makes_the_shrunk_file_fail_for_most_seeds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/raft-kv-partitions.ron");
    let mut scenario = Scenario::from_file(&path).expect("catalogue");
    let (bug, _) = bug_by_name("raft-no-election-restriction").expect("a bug");
    scenario.bugs.insert(bug);
    let options = Options {
        max_runs: 6_000,
        max_time: None,
        ..Options::default()
    };
    let shrunk = shrink(&scenario, 0, &options, &|_| {}).expect("seed 0 fails");
    let after = robustness(&shrunk.scenario, &shrunk.failure, 0..100);
    let before = robustness(&shrunk.unpinned, &shrunk.failure, 0..100);
    assert!(after >= 50, "{after} of 100 seeds fail the same way");
    assert!(
        after > before,
        "the second stage gained nothing ({before} → {after})"
    );
}
