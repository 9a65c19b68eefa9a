//! Two command-line contracts through the real binary: a reader that goes away
//! (`faultline … | head -1`) ends the output quietly and leaves the exit code alone, and
//! `sweep --fail-fast` stops at the lowest failing seed whatever `--jobs` is.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{faultline, BACKUP_READS, CALM};

/// The real binary in the crate directory, with the environment defaults removed.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env_remove("FAULTLINE_SEED")
        .env_remove("FAULTLINE_JOBS");
    command
}

/// Runs `faultline args…` with stdout a pipe whose read end is closed before the process
/// starts, so its first write to stdout already fails with EPIPE, deterministically. The pipe
/// is the stdin of a process that exits without reading it (`faultline --version`): once it
/// has exited, its write end is a pipe nobody can read (`std::io::pipe` is newer than the MSRV).
fn with_stdout_closed(args: &[&str]) -> Output {
    let mut reader = command(&["--version"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the faultline binary runs");
    let writer = reader.stdin.take().expect("piped");
    assert!(reader.wait().expect("it exits").success());
    command(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("the faultline binary runs")
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("faultline-pipes-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    directory
}

/// Asserts that `args` exits with the same code whether or not stdout is read, that the code
/// is not Rust's panic code 101, and that nothing about the closed pipe reaches stderr.
fn assert_quiet_on_a_closed_pipe(args: &[&str]) {
    let (expected, out, _) = faultline(args);
    assert!(!out.is_empty(), "{args:?} prints something to stdout");
    let output = with_stdout_closed(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}:\n{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{args:?}:\n{stderr}");
    let code = output.status.code();
    assert_ne!(code, Some(101), "{args:?}:\n{stderr}");
    assert_eq!(code, Some(expected), "{args:?}:\n{stderr}");
}

#[test]
fn every_command_keeps_its_exit_code_when_stdout_is_closed() {
    let directory = scratch("closed");
    let run_directory = directory.join("run");
    let run_out = run_directory.to_str().unwrap();
    let failover = "catalog/primary-backup-kv-failover.ron";
    // A passing and a failing run, so the exit code kept is not just 0. Each command runs
    // twice, into the same directory: a non-empty `--out` needs `--force`.
    assert_quiet_on_a_closed_pipe(&["run", CALM, "--seed", "1", "--out", run_out, "--force"]);
    assert_quiet_on_a_closed_pipe(&["run", failover, "--seed", "3", "--out", run_out, "--force"]);
    assert_quiet_on_a_closed_pipe(&["replay", failover, "--seed", "3"]);
    assert_quiet_on_a_closed_pipe(&["replay", CALM, "--seed", "1", "--trace"]);
    let history = run_directory.join("history.jsonl");
    assert_quiet_on_a_closed_pipe(&["check", history.to_str().unwrap(), "--model", "kv"]);
    for format in ["human", "jsonl"] {
        assert_quiet_on_a_closed_pipe(&[
            "sweep",
            BACKUP_READS,
            "--seeds",
            "0..6",
            "--jobs",
            "2",
            "--format",
            format,
        ]);
    }
    assert_quiet_on_a_closed_pipe(&["list"]);
    assert_quiet_on_a_closed_pipe(&["list", "--json"]);
    assert_quiet_on_a_closed_pipe(&["validate", CALM, BACKUP_READS]);
    assert_quiet_on_a_closed_pipe(&["--help"]);
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_reader_that_stops_after_one_line_ends_a_long_trace_quietly() {
    // The trace of this run is far larger than a pipe's buffer (64 KiB on Linux), so the
    // replay is still writing when the reader goes away.
    let mut child = command(&["replay", CALM, "--seed", "1", "--trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the faultline binary runs");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first_line)
        .expect("one line");
    // The reader (and with it the pipe's read end) is dropped here.
    assert!(first_line.contains(" c"), "a trace line: {first_line}");
    let output = child.wait_with_output().expect("the replay ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_other_than_a_closed_pipe_is_an_io_error() {
    // /dev/full fails every write with ENOSPC: the output is incomplete, which is exit 2.
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let output = command(&["list"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("the faultline binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: writing to stdout"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The JSON records of a JSONL sweep without the wall times, which differ between runs.
fn records(jsonl: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("every line is JSON"))
        .map(|mut record| {
            let fields = record.as_object_mut().expect("a JSON object");
            fields.remove("wall_ms");
            fields.remove("seed_wall_ms_total");
            record
        })
        .collect()
}

/// `sweep BACKUP_READS --seeds 11..39 --format jsonl` plus `extra`: (exit code, records).
fn backup_reads_sweep(extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let mut args = vec![
        "sweep",
        BACKUP_READS,
        "--seeds",
        "11..39",
        "--format",
        "jsonl",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = faultline(&args);
    assert!(!err.contains("panicked"), "{err}");
    (code, records(&out))
}

#[test]
fn fail_fast_stops_at_the_lowest_failing_seed_for_any_job_count() {
    // The whole range without --fail-fast tells which seeds fail.
    let (code, whole) = backup_reads_sweep(&["--jobs", "2"]);
    assert_eq!(code, 1);
    let failing: Vec<u64> = whole
        .iter()
        .filter(|r| r["type"] == "seed" && r["outcome"] != "pass")
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    // The range is chosen so that a job count splitting it would meet a failure early in its
    // upper half long before the first one: seeds 11..15 pass, seeds from 25 on fail often.
    let first = failing[0];
    assert!(
        first >= 14,
        "the first failing seed is {first}: {failing:?}"
    );
    assert!(
        failing.iter().filter(|&&seed| seed >= 25).count() >= 3,
        "{failing:?}"
    );
    let seeds_to_first_failure = first - 11 + 1;
    let kept: Vec<&serde_json::Value> = whole
        .iter()
        .filter(|r| r["type"] == "seed" && r["seed"].as_u64().unwrap() <= first)
        .collect();
    for jobs in ["1", "2", "3"] {
        let (code, fail_fast) = backup_reads_sweep(&["--fail-fast", "--jobs", jobs]);
        assert_eq!(code, 1, "--jobs {jobs}");
        let (summary, seeds) = fail_fast.split_last().expect("records");
        let seed_numbers: Vec<u64> = seeds.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
        assert_eq!(
            seed_numbers,
            (11..=first).collect::<Vec<_>>(),
            "--jobs {jobs}: the seeds up to the lowest failing one"
        );
        assert_eq!(
            seeds.iter().collect::<Vec<_>>(),
            kept,
            "--jobs {jobs}: the seeds up to the first failure, as the whole sweep ran them"
        );
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["first_failing_seed"], first, "--jobs {jobs}");
        assert_eq!(summary["seeds"], seeds_to_first_failure, "--jobs {jobs}");
        assert_eq!(summary["outcomes"]["safety-violation"], 1, "--jobs {jobs}");
    }
}

#[test]
fn fail_fast_human_and_junit_reports_agree_across_job_counts() {
    let directory = scratch("junit");
    let mut reports = Vec::new();
    for jobs in ["1", "2"] {
        let junit = directory.join(format!("jobs-{jobs}.xml"));
        let (code, out, err) = faultline(&[
            "sweep",
            BACKUP_READS,
            CALM,
            "--seeds",
            "11..39",
            "--fail-fast",
            "--jobs",
            jobs,
            "--junit",
            junit.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{out}{err}");
        // Exactly one FAIL line (the lowest failing seed), none for seeds dropped after it.
        assert_eq!(err.matches("FAIL ").count(), 1, "--jobs {jobs}:\n{err}");
        let stopped = out
            .lines()
            .find(|line| line.contains("--fail-fast: stopped at seed"))
            .unwrap_or_else(|| panic!("--jobs {jobs}:\n{out}"))
            .to_string();
        // The scenario after the failure runs no seed.
        assert!(
            out.contains(&format!("single-server-kv-calm ({CALM}): 0 seeds")),
            "{out}"
        );
        let xml = std::fs::read_to_string(&junit).expect("the report was written");
        let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
        let cases: Vec<Vec<String>> = report
            .test_suites
            .iter()
            .map(|suite| {
                suite
                    .test_cases
                    .iter()
                    .map(|case| match &case.status {
                        quick_junit::TestCaseStatus::NonSuccess { message, .. } => {
                            format!(
                                "{}: {}",
                                case.name.as_str(),
                                message.as_deref().unwrap_or("")
                            )
                        }
                        _ => format!("{}: passed", case.name.as_str()),
                    })
                    .collect()
            })
            .collect();
        reports.push((stopped, cases));
    }
    assert_eq!(reports[0], reports[1]);
    let (_, cases) = &reports[0];
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert_eq!(
        cases[0].len(),
        2,
        "all-seeds and one failing seed: {cases:?}"
    );
    assert!(cases[0][0].contains("1 of "), "{cases:?}");
    assert!(
        cases[0][0].contains("not run after --fail-fast"),
        "{cases:?}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}
