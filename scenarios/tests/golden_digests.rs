//! Golden trace digests: for every scenario file in `catalog/` and `directed/`, the trace
//! digest and outcome of seeds 0..20 are committed in `tests/golden/digests.txt`. A run is a
//! pure function of (scenario, seed, build), so any difference is a change of behaviour: either
//! one you meant (a protocol or kernel change: re-bless and say why in the commit) or one you
//! did not (a refactor that moved a random draw, an iteration order that leaked in).
//!
//! Re-bless with `FAULTLINE_BLESS=1 cargo test --release -p scenarios --test golden_digests`;
//! the test then rewrites the file and fails, so a bless never passes silently in CI.

use scenarios::runner::{run, RunOptions};
use scenarios::scenario::Scenario;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Seeds per file.
const SEEDS: std::ops::Range<u64> = 0..20;

fn scenario_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in ["catalog", "directed"] {
        for entry in std::fs::read_dir(root.join(directory)).expect("a scenario directory") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|ext| ext == "ron") {
                files.push(path);
            }
        }
    }
    // `read_dir` order is unspecified.
    files.sort();
    files
}

/// `<dir>/<file> <seed> <digest> <outcome>` per seed, in file and seed order.
fn current_digests() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = String::new();
    for path in scenario_files() {
        let scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
        let name = path.strip_prefix(root).expect("under the crate").display();
        for seed in SEEDS {
            let report = run(&scenario, seed, &RunOptions::default())
                .unwrap_or_else(|error| panic!("{name} seed {seed}: {error}"));
            writeln!(
                text,
                "{name} {seed} {:016x} {}",
                report.digest,
                report.outcome.name()
            )
            .expect("writing to a String");
        }
    }
    text
}

#[test]
fn every_scenario_file_keeps_its_golden_digests() {
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/digests.txt");
    let current = current_digests();
    if std::env::var_os("FAULTLINE_BLESS").is_some() {
        std::fs::write(&golden_path, &current).expect("writing the golden digests");
        panic!(
            "blessed {}: re-run without FAULTLINE_BLESS to check",
            golden_path.display()
        );
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
    let golden_lines: Vec<&str> = golden.lines().collect();
    let current_lines: Vec<&str> = current.lines().collect();
    let mut differences = Vec::new();
    for line in &current_lines {
        if !golden_lines.contains(line) {
            differences.push(format!("now:      {line}"));
        }
    }
    for line in &golden_lines {
        if !current_lines.contains(line) {
            differences.push(format!("expected: {line}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} golden digest lines differ (a change of behaviour; if you meant it, re-bless with \
         FAULTLINE_BLESS=1 and say why in the commit):\n{}",
        differences.len(),
        differences
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
