//! With one coordinator, two-phase commit blocks: a coordinator crash leaves the participants
//! that voted YES in doubt, holding their locks, until it restarts. The fixture
//! `fixtures/compare/2pc-bank-coordinator-crash.ron` crashes node 0 from 2s to 4s; the same
//! workload without the crash blocks nothing. (The replicated coordinator of issue 14, once
//! built, is to run the same schedule and not block.)

use scenarios::runner::{run, Outcome, RunOptions};
use scenarios::scenario::Scenario;
use std::path::Path;

fn coordinator_crash(crash: bool) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare/2pc-bank-coordinator-crash.ron");
    let mut text = std::fs::read_to_string(&path).expect("the fixture");
    if !crash {
        for event in [
            "(at: \"2s\", do: Crash(0)),",
            "(at: \"4s\", do: Restart(0)),",
        ] {
            assert!(text.contains(event), "the fixture's schedule changed");
            text = text.replace(event, "");
        }
    }
    Scenario::from_str(&text, "2pc-bank-coordinator-crash.ron")
        .unwrap_or_else(|e| panic!("{}", e.message()))
}

#[test]
fn a_crashed_single_coordinator_blocks_its_prepared_participants_until_it_restarts() {
    // A crash can land between transactions (every prepared one already decided): then
    // nothing blocks. Most seeds catch participants prepared, and those block for seconds.
    let one_second_ns = 1_000_000_000;
    let seeds = 0..6u64;
    let count = seeds.end - seeds.start;
    let mut blocking = 0;
    for seed in seeds.clone() {
        let crashed = run(&coordinator_crash(true), seed, &RunOptions::default()).expect("runs");
        assert_eq!(crashed.outcome, Outcome::Pass, "seed {seed}");
        if crashed.figures["time_blocked_ns"] > one_second_ns {
            blocking += 1;
        }

        let calm = run(&coordinator_crash(false), seed, &RunOptions::default()).expect("runs");
        assert_eq!(calm.outcome, Outcome::Pass, "seed {seed}");
        assert_eq!(
            calm.figures["time_blocked_ns"], 0,
            "seed {seed}: blocked without a crash"
        );
        assert!(
            calm.figures["time_in_doubt_ns"] > 0,
            "a prepared transaction is in doubt"
        );
    }
    assert!(
        blocking * 2 >= count,
        "only {blocking} of {} seeds blocked over 1s while the coordinator was down for 2s",
        count
    );
}

fn fixture(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("the fixture");
    Scenario::from_str(&text, name).unwrap_or_else(|e| panic!("{}", e.message()))
}

/// The same schedule (node 0 down from 2s to 4s) and workload, single against replicated
/// coordinator (issue 14): with one coordinator most seeds keep prepared participants blocked
/// for more than the outage's 2s in total; with a Raft group of three, whose node 0 leads in
/// about one seed in three, another replica takes over within an election and no seed's
/// participants are blocked for 2s in total. Either half fails if its claim stops holding: a
/// single coordinator that stopped blocking, a replicated one that blocks as long as the
/// outage, or a schedule that never crashes the group's leader.
#[test]
fn the_coordinator_crash_blocks_a_single_coordinator_and_not_a_replicated_one() {
    let outage_ns = 2_000_000_000;
    let seeds = 0..12u64;
    let count = seeds.end - seeds.start;
    let single = fixture("2pc-bank-coordinator-crash.ron");
    let replicated = fixture("2pc-bank-coordinator-crash-replicated.ron");
    let (mut single_blocked, mut took_over) = (0, 0);
    for seed in seeds {
        let one = run(&single, seed, &RunOptions::default()).expect("runs");
        assert_eq!(one.outcome, Outcome::Pass, "single, seed {seed}");
        if one.figures["time_blocked_ns"] > outage_ns {
            single_blocked += 1;
        }

        let group = run(&replicated, seed, &RunOptions::default()).expect("runs");
        assert_eq!(group.outcome, Outcome::Pass, "replicated, seed {seed}");
        assert!(
            group.figures["time_blocked_ns"] < outage_ns,
            "replicated, seed {seed}: blocked {}ns in total",
            group.figures["time_blocked_ns"]
        );
        if group
            .marks
            .contains_key("two_phase_commit.coordinator_took_over")
        {
            took_over += 1;
        }
    }
    assert!(
        single_blocked * 2 >= count,
        "only {single_blocked} of {count} seeds blocked the single coordinator's participants over 2s"
    );
    assert!(
        took_over * 4 >= count,
        "the crash hit the group's leader in only {took_over} of {count} seeds"
    );
}
