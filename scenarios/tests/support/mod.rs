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
