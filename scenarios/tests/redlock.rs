//! Redlock's catalogue says what it shows: the clock jump and the restart without persistence
//! are caught by the mutual-exclusion audit; the same faults pass with fencing, with fsync and
//! with a delayed restart; the fenced file catches a resource that skips the fencing check.
//! (Every seed of 0..20 of each file is also pinned in the golden digests, and the catalogue
//! sweeps of README "Redlock" cover 1,000 seeds each.)

use protocols::mutation::BugSet;
use protocols::redlock::drift_bound;
use protocols::registry::bug_by_name;
use scenarios::runner::{run, Outcome, RunOptions};
use scenarios::scenario::Scenario;
use std::path::{Path, PathBuf};

fn redlock_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in ["catalog", "directed"] {
        for entry in std::fs::read_dir(root.join(directory)).expect("a scenario directory") {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("redlock-") && name.ends_with(".ron") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"))
}

fn outcome(scenario: &Scenario, seed: u64) -> Outcome {
    run(scenario, seed, &RunOptions::default())
        .expect("a valid scenario runs")
        .outcome
}

fn is_mutual_exclusion(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::SafetyViolation { source, .. } if source == "invariant:mutual-exclusion")
}

#[test]
fn every_redlock_file_gives_clients_the_redlock_drift_bound() {
    let files = redlock_files();
    assert!(files.len() >= 7, "{files:?}");
    for path in files {
        let scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
        let lease = scenario.app.params.duration("lease");
        let factor = scenario.protocol.params.ratio("clock_drift_factor");
        assert_eq!(
            scenario.app.params.duration("drift_margin"),
            drift_bound(lease, factor),
            "{}: the client's drift margin is the Redlock bound",
            path.display()
        );
    }
}

#[test]
fn a_clock_jump_breaks_the_lock_and_fencing_keeps_the_resource_safe() {
    let jump = load("catalog/redlock-lock-clock-jump.ron");
    let caught = outcome(&jump, 3);
    assert!(is_mutual_exclusion(&caught), "{caught:?}");
    // The same seed's faults with the clock jumps taken out: nothing breaks.
    let text = std::fs::read_to_string(jump.source_path().expect("from a file")).unwrap();
    let without = text.replace(r#", ClockSkew("1s")"#, "");
    assert_ne!(text, without);
    let no_jump = Scenario::from_str(&without, "no-jump.ron").unwrap_or_else(|e| panic!("{e}"));
    for seed in 0..5 {
        assert_eq!(outcome(&no_jump, seed), Outcome::Pass, "seed {seed}");
    }
    let fenced = load("catalog/redlock-lock-fenced.ron");
    for seed in 0..5 {
        assert_eq!(outcome(&fenced, seed), Outcome::Pass, "seed {seed}");
    }
    let mut unfenced = fenced.clone();
    let mut bugs = BugSet::NONE;
    bugs.insert(bug_by_name("lock-resource-skips-fencing-check").unwrap().0);
    unfenced.bugs = bugs;
    let stale_write_accepted = outcome(&unfenced, 0);
    assert!(
        matches!(&stale_write_accepted, Outcome::SafetyViolation { source, .. } if source == "linearizability"),
        "{stale_write_accepted:?}"
    );
}

#[test]
fn a_restart_without_persistence_breaks_the_lock_and_fsync_or_a_delay_restore_it() {
    let restart = load("catalog/redlock-lock-restart.ron");
    let caught = outcome(&restart, 5);
    assert!(is_mutual_exclusion(&caught), "{caught:?}");
    for name in [
        "catalog/redlock-lock-restart-fsync.ron",
        "catalog/redlock-lock-restart-delayed.ron",
    ] {
        let safe = load(name);
        for seed in 0..5 {
            assert_eq!(outcome(&safe, seed), Outcome::Pass, "{name} seed {seed}");
        }
    }
}
