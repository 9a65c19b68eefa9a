//! A scenario's `expect:` is enforced: a run or a sweep whose outcome differs says so and exits
//! non-zero (6 when it passed where a failure was expected); one that meets it keeps the exit
//! code of its outcome, so a sweep expected to find stale reads still exits 1.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use support::{faultline, BACKUP_READS, CALM};

/// `single-server-kv-calm.ron` (every seed passes) claiming `expect: Violation`, in a
/// directory of this test's own.
fn calm_expecting_a_violation(test: &str) -> String {
    let dir = std::env::temp_dir().join(format!("faultline-expect-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calm =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(CALM)).unwrap();
    assert!(calm.contains("expect: Pass"), "the catalogue file changed");
    let path = dir.join("calm-expects-violation.ron");
    std::fs::write(&path, calm.replace("expect: Pass", "expect: Violation")).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_run_that_passes_where_a_violation_is_expected_exits_6() {
    let path = calm_expecting_a_violation("run");
    let (code, stdout, stderr) = faultline(&["replay", &path, "--seed", "0"]);
    assert_eq!(code, 6, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(": pass ("), "{stdout}");
    assert!(
        stdout.ends_with("expectation not met: the scenario says `expect: Violation`, got pass\n"),
        "{stdout}"
    );
}

#[test]
fn a_sweep_that_finds_no_expected_violation_exits_6() {
    let path = calm_expecting_a_violation("sweep");
    let (code, stdout, _) = faultline(&["sweep", &path, "--count", "3", "--jobs", "1"]);
    assert_eq!(code, 6, "{stdout}");
    assert!(
        stdout
            .contains("  expectation not met: the scenario says `expect: Violation`, got pass 3\n"),
        "{stdout}"
    );
    let (code, jsonl, _) = faultline(&[
        "sweep", &path, "--count", "3", "--jobs", "1", "--format", "jsonl",
    ]);
    assert_eq!(code, 6);
    let summary = jsonl.lines().last().unwrap();
    assert!(
        summary.contains("\"expect\":\"Violation\"") && summary.contains("\"expect_met\":false"),
        "{summary}"
    );
}

#[test]
fn met_expectations_keep_their_exit_codes() {
    // Every seed of the calm file passes, as it expects.
    let (code, stdout, _) = faultline(&["sweep", CALM, "--count", "3", "--jobs", "1"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("expectation"), "{stdout}");
    // Stale reads are expected and found on some seeds: exit 1, as CI relies on.
    let (code, stdout, _) = faultline(&["sweep", BACKUP_READS, "--count", "20", "--jobs", "1"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(!stdout.contains("expectation"), "{stdout}");
}

#[test]
fn a_bug_flag_lifts_the_files_expectation() {
    // `--bug` changes the scenario: the file's `expect: Pass` no longer describes it.
    let (code, stdout, _) = faultline(&[
        "sweep",
        "catalog/raft-counter-calm.ron",
        "--count",
        "1",
        "--bug",
        "counter-nonatomic-rmw",
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(!stdout.contains("expectation"), "{stdout}");
}
