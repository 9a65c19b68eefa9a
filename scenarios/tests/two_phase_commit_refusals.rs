//! A client's FAIL must survive a coordinator crash. Presumed abort lets the coordinator keep
//! no record of an abort for the participants' sake; but once a client has heard FAIL, a late
//! duplicate of its request (the network duplicates and delays) reaching a restarted
//! coordinator must not run as a new transaction, or money moves on a request the history
//! records as failed. Both seeds below failed that way (found by the false-alarm sweeps of
//! issue 20) before the coordinator forced a REFUSED record ahead of every FAIL.

use scenarios::runner::{run, Outcome, RunOptions};
use scenarios::scenario::Scenario;
use std::path::Path;

fn catalogue(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("catalog")
        .join(name);
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{}", e.message()))
}

#[test]
fn a_late_duplicate_of_a_refused_request_does_not_commit_after_a_coordinator_restart() {
    for (file, seed) in [
        ("2pc-bank-crash-points.ron", 322),
        ("2pc-bank-everything.ron", 1556),
    ] {
        let report = run(&catalogue(file), seed, &RunOptions::default()).expect("runs");
        assert_eq!(report.outcome, Outcome::Pass, "{file} seed {seed}");
        assert!(
            report
                .marks
                .get("two_phase_commit.duplicate_request")
                .copied()
                .unwrap_or(0)
                > 0,
            "{file} seed {seed}: no duplicate request reached the coordinator"
        );
    }
}
