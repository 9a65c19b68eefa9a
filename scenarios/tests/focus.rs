//! `faultline replay --trace --focus`: only the events that made the failure happen.
//!
//! On known failing directed files the focused trace must be much shorter than the whole
//! trace, hold the violation (or the operation where linearization fails) and the chain that
//! led to it, and keep every fault before it; a failure that names no event is refused.

use scenarios::commands::replay::focus;
use scenarios::runner::{run, RunOptions, RunReport};
use scenarios::scenario::Scenario;
use std::path::Path;

fn traced(file: &str, seed: u64) -> RunReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("directed")
        .join(format!("{file}.ron"));
    let scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
    let options = RunOptions {
        trace: true,
        ..RunOptions::default()
    };
    run(&scenario, seed, &options).expect("a supported scenario")
}

fn focused_text(report: &RunReport) -> Vec<String> {
    let focused = focus(report).unwrap_or_else(|why| panic!("no focus: {why}"));
    focused
        .lines
        .iter()
        .map(|(index, mark)| format!("{}{mark}", report.trace[*index]))
        .collect()
}

#[test]
fn an_invariant_violation_is_focused_on_the_election_that_broke_it() {
    let report = traced("raft-kv-raft-no-election-restriction", 0);
    let lines = focused_text(&report);
    assert!(
        lines.len() * 20 < report.trace.len(),
        "{} of {} lines kept",
        lines.len(),
        report.trace.len()
    );
    // The violation is the last line; the vote that made n2 leader, the request for it, and
    // the timeout that started the election come before it, in order.
    assert!(lines
        .last()
        .expect("lines")
        .contains("!! VIOLATION leader-completeness"));
    let position = |needle: &str| {
        lines
            .iter()
            .rposition(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the focus:\n{}", lines.join("\n")))
    };
    let timeout = position("n2 timer: election timeout");
    let request = position("n2 → n1 RequestVote");
    let grant = position("n1 → n2 RequestVoteResponse");
    assert!(timeout < request && request < grant);
    // Every fault before the violation is kept, and nothing of the other clients' traffic.
    let faults = report
        .trace
        .iter()
        .filter(|line| line.contains("!! FAULT"))
        .count();
    assert_eq!(
        lines.iter().filter(|l| l.contains("!! FAULT")).count(),
        faults
    );
    assert!(!lines.iter().any(|line| line.contains(" invoke ")));
}

#[test]
fn a_stale_read_is_focused_on_the_read_where_linearization_fails() {
    let report = traced("raft-kv-raft-stale-read-no-readindex", 0);
    let lines = focused_text(&report);
    assert!(
        lines.len() * 100 < report.trace.len(),
        "{} of {} lines kept",
        lines.len(),
        report.trace.len()
    );
    let marked: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("every linearization fails here"))
        .collect();
    assert_eq!(marked.len(), 1, "{}", lines.join("\n"));
    // The stale read: its invoke, its request reaching the old leader, and its reply.
    let failing = marked[0];
    let client = failing.split_whitespace().nth(1).expect("a client");
    assert!(failing.contains(&format!("{client} Ok ")));
    assert!(lines
        .iter()
        .any(|line| line.contains(&format!("{client} invoke read"))));
    assert!(lines
        .iter()
        .any(|line| line.contains(&format!("{client} → n"))));
}

#[test]
fn a_failure_of_the_whole_history_has_no_event_to_focus_on() {
    // The counter's bound is audited on the whole history after the run.
    let report = traced("raft-counter-counter-retry-not-idempotent", 0);
    assert_eq!(report.outcome.name(), "safety-violation");
    let why = focus(&report).expect_err("no event to start from");
    assert!(why.contains("whole history"), "{why}");
    // A passing run has none either.
    let mut passing = report.clone();
    passing.outcome = scenarios::runner::Outcome::Pass;
    assert!(focus(&passing).is_err());
}
