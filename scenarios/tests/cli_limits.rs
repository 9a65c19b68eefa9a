//! Every run has a memory budget: a scenario far longer than its limits ends with `limit-hit`
//! (exit 3) naming the limit, it never grows until the machine kills it; `validate` warns
//! about such a scenario up front.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use support::faultline;

/// A directory of this test's own under the system's temporary directory.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-limits-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `raft-kv-calm.ron` with `duration: "1000h"` and `extra` added before `expect`.
fn thousand_hours(dir: &std::path::Path, extra: &str) -> String {
    let calm = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog/raft-kv-calm.ron"),
    )
    .unwrap();
    assert!(
        calm.contains("duration: \"10s\""),
        "the catalogue file changed"
    );
    let long = calm
        .replace("duration: \"10s\"", "duration: \"1000h\"")
        .replace("expect: Pass,", &format!("{extra}\n    expect: Pass,"));
    let path = dir.join("long.ron");
    std::fs::write(&path, long).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn validate_warns_that_a_thousand_hours_overrun_the_history_limit() {
    let dir = scratch("validate");
    let path = thousand_hours(&dir, "");
    let (code, stdout, stderr) = faultline(&["validate", &path]);
    assert_eq!(code, 0, "a warning is not an error: {stderr}");
    assert_eq!(stdout, format!("ok {path}\n"));
    assert!(
        stderr.starts_with(&format!("warning: {path}: up to "))
            && stderr.contains("limits.max_history_events = 2000000")
            && stderr.contains("limit-hit (exit 3)"),
        "{stderr}"
    );
}

#[test]
fn a_thousand_hour_run_ends_as_limit_hit_within_the_default_budget() {
    let dir = scratch("default");
    let path = thousand_hours(&dir, "");
    let out = dir.join("run");
    let (code, stdout, stderr) = faultline(&["run", &path, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 3, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(": limit-hit ("), "{stdout}");
    // A run of several seconds, but stderr is a pipe here: no progress line.
    assert!(!stderr.contains("so far"), "{stderr}");
    assert!(
        stdout.contains("limits.max_history_events = 2000000 (history events recorded) reached at"),
        "{stdout}"
    );
}

#[test]
fn the_memory_budget_stops_a_run_and_its_trace() {
    let dir = scratch("memory");
    let path = thousand_hours(&dir, "    limits: (max_memory_mib: 16),");
    let (code, stdout, _) = faultline(&["replay", &path, "--seed", "0", "--trace"]);
    assert_eq!(code, 3);
    let verdict = stdout
        .lines()
        .find(|line| line.contains(": limit-hit ("))
        .unwrap_or_else(|| panic!("no verdict line in {} bytes", stdout.len()));
    assert!(verdict.starts_with("raft-kv-calm seed 0"), "{verdict}");
    assert!(
        stdout.contains("limits.max_memory_mib = 16 (MiB held by the history"),
        "no memory limit message"
    );
    // The trace counts against the budget: 16 MiB of lines at most, plus the summary.
    assert!(stdout.len() < 20 << 20, "{} bytes printed", stdout.len());

    // Without the trace the same budget holds more history, so the run goes on longer.
    let (code, quiet, _) = faultline(&["replay", &path, "--seed", "0"]);
    assert_eq!(code, 3);
    assert!(quiet.contains("limits.max_memory_mib = 16"), "{quiet}");
    let events = |text: &str| -> u64 {
        let start = text.find("digest ").expect("a verdict line");
        let tail = &text[start..];
        let words: Vec<&str> = tail.split([' ', ',']).collect();
        let at = words.iter().position(|word| *word == "events").unwrap();
        words[at - 1].parse().unwrap()
    };
    assert!(events(&quiet) > events(&stdout), "{quiet}");
}
