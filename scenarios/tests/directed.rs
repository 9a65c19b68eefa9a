//! Every directed scenario kills its mutant: each `.ron` file in `scenarios/directed/` switches
//! on one or more classic bugs (`bugs: [...]`) and states `expect: Violation`. For each file,
//! every seed in [`SEEDS`] must end in a safety violation as written, and must pass (with every
//! client operation completing in recovery) once the bugs are switched off. The first half
//! shows the schedule reaches the bug; the second that the schedule alone, on the correct
//! protocol, breaks nothing, so the violation is the bug's (BUGS.md §7.2).
//!
//! The test is generic: a new protocol's directed files (named
//! `<protocol>-<app>-<bug-name>.ron`, see `scenarios/directed/README.md`) are picked up by
//! adding them to the directory.

use protocols::mutation::BugSet;
use scenarios::runner::{run, Outcome, RunOptions};
use scenarios::scenario::{Expectation, Scenario};
use std::path::{Path, PathBuf};

/// The seeds every directed file is run with. Scripted schedules fix the faults, so the seed
/// only varies latencies inside the scripted windows, the workload and the disk's choice of
/// which unsynced records a power loss keeps: a schedule must work for each of these.
const SEEDS: [u64; 3] = [0, 1, 2];

fn directed_files() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("directed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("the directed directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ron"))
        .collect();
    // `read_dir` order is unspecified.
    files.sort();
    files
}

fn load(path: &Path) -> Scenario {
    let scenario = Scenario::from_file(path).unwrap_or_else(|error| panic!("{}", error.message()));
    let name = path.display();
    assert_eq!(
        scenario.expect,
        Some(Expectation::Violation),
        "{name}: a directed scenario states `expect: Violation`"
    );
    assert!(
        !scenario.bugs.is_empty(),
        "{name}: a directed scenario switches on the bug it kills"
    );
    for bug in scenario.bugs.iter() {
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("");
        assert!(
            stem.ends_with(bug.name()),
            "{name}: the file is named after its bug, `<protocol>-<app>-{bug}.ron`"
        );
    }
    scenario
}

/// Runs every seed of `scenario`; returns `(seed, outcome)` for each.
fn outcomes(scenario: &Scenario, path: &Path) -> Vec<(u64, Outcome)> {
    SEEDS
        .iter()
        .map(|&seed| {
            let report = run(scenario, seed, &RunOptions::default())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (seed, report.outcome)
        })
        .collect()
}

/// Runs one file with and without its bugs; returns what went wrong.
fn check(path: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let mut scenario = load(path);
    for (seed, outcome) in outcomes(&scenario, path) {
        if !matches!(outcome, Outcome::SafetyViolation { .. }) {
            failures.push(format!(
                "with its bugs, `faultline replay {} --seed {seed}` ended {}: {:?}",
                path.display(),
                outcome.name(),
                outcome.message()
            ));
        }
    }
    scenario.bugs = BugSet::NONE;
    for (seed, outcome) in outcomes(&scenario, path) {
        if outcome != Outcome::Pass {
            failures.push(format!(
                "without its bugs, seed {seed} of {} ended {}: {:?}",
                path.display(),
                outcome.name(),
                outcome.message()
            ));
        }
    }
    failures
}

#[test]
fn every_directed_scenario_fails_with_its_bug_and_passes_without() {
    let files = directed_files();
    assert!(
        files.len() >= 5,
        "the five Raft mutants have directed files: {files:?}"
    );
    // Files run on a few threads (each run is independent and deterministic); failures are
    // collected so that one report names every broken file.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let per_thread = files.len().div_ceil(threads);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|path| check(path))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a directed run does not panic"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
