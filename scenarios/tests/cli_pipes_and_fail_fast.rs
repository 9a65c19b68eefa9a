//! A command-line contract through the real binary: a reader that goes away
//! (`faultline … | head -1`) ends the output quietly and leaves the exit code alone.

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
    // A passing and a failing run, so the exit code kept is not just 0.
    assert_quiet_on_a_closed_pipe(&["run", CALM, "--seed", "1", "--out", run_out]);
    assert_quiet_on_a_closed_pipe(&["run", failover, "--seed", "3", "--out", run_out]);
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
