//! Run reports through the real binary: `index.html` and `history.edn` of `run --out`.

mod support;

use std::path::{Path, PathBuf};
use support::{faultline, BACKUP_READS, CALM};

fn scratch(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("faultline-reports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `faultline check FILE`: (exit code, the line naming the failing operation if any).
fn check(path: &Path) -> (i32, Option<String>) {
    let (code, out, err) = faultline(&["check", &path.display().to_string()]);
    assert!(code == 0 || code == 1, "check exit {code}: {out}{err}");
    // The failing line is `key "1": every linearization fails at line N (process P ok read)`;
    // line numbers differ between formats, the object and the operation must not.
    let failing = out
        .lines()
        .find(|l| l.contains("every linearization fails"))
        .map(|l| {
            let (object, rest) = l.trim().split_once(": every").expect("object first");
            let operation = rest.split_once('(').expect("operation in parentheses").1;
            format!("{object} {operation}")
        });
    (code, failing)
}

#[test]
fn a_failing_run_writes_a_page_with_the_violation_and_an_edn_history_that_checks_the_same() {
    let directory = scratch("failing");
    let out = directory.display().to_string();
    let (code, stdout, stderr) = faultline(&["run", BACKUP_READS, "--seed", "0", "--out", &out]);
    assert_eq!(
        code, 1,
        "seed 0 of the backup-reads scenario fails: {stdout}{stderr}"
    );
    let page = read(&directory.join("index.html"));
    for needle in [
        "safety-violation",
        "faultline replay catalog/primary-backup-kv-backup-reads.ron --seed 0",
        "every linearization fails",
        r#"id="violation""#,
        "op ok violation",
        "prefix-end",
        "class=\"lane faults\"",
        "class=\"lane nodes\"",
        "class=\"lane history\"",
        "latency (ms)",
        "operations / s",
        "primary_backup.resent",
        "Scenario(",
        "<a href=\"history.jsonl\">",
        concat!("faultline ", env!("CARGO_PKG_VERSION")),
    ] {
        assert!(page.contains(needle), "index.html lacks {needle:?}");
    }
    // Self-contained: nothing is fetched.
    for remote in ["http://", "https://", "<link", "src=\""] {
        let outside_svg_namespace = page.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !outside_svg_namespace.contains(remote),
            "index.html refers to {remote}"
        );
    }
    let (native_code, native_failing) = check(&directory.join("history.jsonl"));
    let (edn_code, edn_failing) = check(&directory.join("history.edn"));
    assert_eq!(native_code, 1);
    assert_eq!((edn_code, &edn_failing), (native_code, &native_failing));
    assert!(edn_failing.is_some());
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn a_passing_run_writes_a_page_without_a_violation_and_its_edn_history_passes() {
    let directory = scratch("passing");
    let out = directory.display().to_string();
    let (code, _, _) = faultline(&["run", CALM, "--seed", "3", "--out", &out]);
    assert_eq!(code, 0);
    let page = read(&directory.join("index.html"));
    assert!(page.contains("verdict pass"));
    assert!(!page.contains(r#"id="violation""#));
    assert_eq!(check(&directory.join("history.edn")), (0, None));
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn raft_node_lanes_show_leaders_with_their_terms() {
    let directory = scratch("raft");
    let out = directory.display().to_string();
    let (code, _, _) = faultline(&[
        "run",
        "catalog/raft-kv-partitions.ron",
        "--seed",
        "1",
        "--out",
        &out,
    ]);
    assert_eq!(code, 0);
    let page = read(&directory.join("index.html"));
    assert!(
        page.contains(r#"class="role leader""#),
        "no leader in any node lane"
    );
    assert!(
        page.contains("leader 1"),
        "the first leader's term is not shown"
    );
    assert!(page.contains("class=\"fault partition\""));
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn the_page_of_a_60_second_20_client_run_stays_under_5_mb() {
    let directory = scratch("long");
    let out = directory.display().to_string();
    let (code, stdout, _) = faultline(&[
        "run",
        "tests/fixtures/reports-60s-20-clients.ron",
        "--seed",
        "1",
        "--out",
        &out,
    ]);
    assert!(code == 0 || code == 1, "{stdout}");
    let size = std::fs::metadata(directory.join("index.html"))
        .expect("written")
        .len();
    assert!(size < 5_000_000, "index.html is {size} bytes");
    let page = read(&directory.join("index.html"));
    assert!(
        page.contains("Showing operations 0 to 399 of"),
        "the history is windowed"
    );
    let _ = std::fs::remove_dir_all(&directory);
}
