//! What the command-line tests share: running the real `faultline` binary.

use std::path::Path;
use std::process::Command;

/// A catalogue scenario every seed of which passes.
pub const CALM: &str = "catalog/single-server-kv-calm.ron";
/// A catalogue scenario that fails on some seeds with stale reads.
pub const BACKUP_READS: &str = "catalog/primary-backup-kv-backup-reads.ron";

/// Runs `faultline args…` in the crate directory (so `catalog/…` paths resolve) without the
/// environment variables that would change its defaults: (exit code, stdout, stderr).
pub fn faultline(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env_remove("FAULTLINE_SEED")
        .env_remove("FAULTLINE_JOBS")
        .output()
        .expect("the faultline binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The JSONL summary of `faultline sweep FILE --seeds RANGE --jobs 1 [--bug BUG --fail-fast]`,
/// with its exit code. (Only the BUGGIFY tests use it; the other test crates include this
/// module too.)
#[allow(dead_code)]
pub fn sweep_summary(file: &str, seeds: &str, bug: Option<&str>) -> (i32, serde_json::Value) {
    let mut args = vec![
        "sweep", file, "--seeds", seeds, "--jobs", "1", "--format", "jsonl",
    ];
    if let Some(bug) = bug {
        args.extend(["--bug", bug, "--fail-fast"]);
    }
    let (code, stdout, stderr) = faultline(&args);
    let summary = stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .find(|record| record["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    (code, summary)
}
