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

/// `summary.md` without its wall-clock line (seeds/s differs from run to run).
fn summary_without_wall_time(directory: &Path) -> String {
    read(&directory.join("summary.md"))
        .lines()
        .filter(|line| !line.starts_with("- seeds/s:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sweep_out_writes_a_summary_and_merged_shards_equal_the_whole_sweep() {
    let work = scratch("sweep");
    let dir = |name: &str| work.join(name).display().to_string();
    let sweep = |extra: &[&str], out: &str| {
        let mut args = vec![
            "sweep",
            BACKUP_READS,
            "--seeds",
            "0..12",
            "--jobs",
            "2",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = faultline(&args);
        assert_eq!(
            code, 1,
            "backup reads fail on some of 12 seeds: {stdout}{stderr}"
        );
    };
    sweep(&[], &dir("whole"));
    sweep(&["--shard", "1/2"], &dir("shard1"));
    sweep(&["--shard", "2/2"], &dir("shard2"));
    let (code, out, err) = faultline(&[
        "report",
        "merge",
        &dir("shard1"),
        &dir("shard2"),
        "--out",
        &dir("merged"),
    ]);
    // The merge exits as the whole sweep does: 1, some seed found a violation.
    assert_eq!(code, 1, "{out}{err}");
    let whole = summary_without_wall_time(&work.join("whole"));
    assert_eq!(whole, summary_without_wall_time(&work.join("merged")));
    // The summary says what a reader needs.
    for needle in [
        "- outcomes: pass ",
        "safety-violation ",
        "- latency (ms",
        "p99",
        "- marks hit: `primary_backup.resent`",
        "- marks not hit:",
        "### Failing seeds",
        "`faultline replay catalog/primary-backup-kv-backup-reads.ron --seed 0`",
        "every linearization fails",
    ] {
        assert!(
            whole.contains(needle),
            "summary.md lacks {needle:?}:\n{whole}"
        );
    }
    assert!(read(&work.join("whole/summary.md")).contains("- seeds/s: "));
    // results.jsonl holds the --format jsonl records; the first 5 failing seeds have runs.
    let records = read(&work.join("whole/results.jsonl"));
    assert_eq!(
        records
            .lines()
            .filter(|l| l.contains(r#""type":"seed""#))
            .count(),
        12
    );
    let index = read(&work.join("whole/index.html"));
    let linked = index.matches("class=\"run\" href=\"runs/").count();
    assert_eq!(
        linked, 5,
        "five failing seeds link to their run directories"
    );
    assert!(work
        .join("whole/runs/primary-backup-kv-backup-reads-s0/index.html")
        .exists());
    let merged_index = read(&work.join("merged/index.html"));
    assert!(merged_index.matches("class=\"run\" href=\"").count() >= 5);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn report_merge_of_passing_shards_exits_0_and_of_a_failing_shard_exits_1() {
    let work = scratch("merge-exit");
    let dir = |name: &str| work.join(name).display().to_string();
    let sweep = |scenario: &str, shard: &str, out: &str| {
        let (code, stdout, stderr) = faultline(&[
            "sweep", scenario, "--seeds", "0..4", "--shard", shard, "--jobs", "1", "--out", out,
        ]);
        (code, format!("{stdout}{stderr}"))
    };
    let merge = |shards: &[String], out: &str| {
        let mut args = vec!["report".to_string(), "merge".to_string()];
        args.extend(shards.iter().cloned());
        args.extend(["--out".to_string(), out.to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        faultline(&args)
    };
    // Two passing shards merge to 0.
    for shard in ["1/2", "2/2"] {
        let (code, text) = sweep(CALM, shard, &dir(&format!("calm-{}", &shard[..1])));
        assert_eq!(code, 0, "{text}");
    }
    let (code, out, err) = merge(&[dir("calm-1"), dir("calm-2")], &dir("calm-merged"));
    assert_eq!(code, 0, "{out}{err}");
    // A failing shard (seed 0 of the backup-reads scenario fails) makes the merge exit 1 like
    // the sweep, even merged with a passing scenario's shard.
    let (code, text) = sweep(BACKUP_READS, "1/4", &dir("reads-1"));
    assert_eq!(code, 1, "seed 0 fails: {text}");
    let (code, out, err) = merge(&[dir("calm-1"), dir("reads-1")], &dir("mixed-merged"));
    assert_eq!(code, 1, "{out}{err}");
    let summary = read(&work.join("mixed-merged/results.jsonl"));
    assert!(summary.contains(r#""exit_code":1"#), "{summary}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn report_merge_of_a_directory_without_results_is_an_input_error() {
    let work = scratch("merge-bad");
    std::fs::create_dir_all(&work).unwrap();
    let (code, _, err) = faultline(&[
        "report",
        "merge",
        &work.display().to_string(),
        "--out",
        &work.join("out").display().to_string(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("results.jsonl"), "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

const COMPARE_RAFT: &str = "tests/fixtures/compare/raft-kv.ron";
const COMPARE_PAXOS: &str = "tests/fixtures/compare/paxos-kv.ron";

#[test]
fn compare_writes_a_table_and_a_page_for_scenarios_with_the_same_faults() {
    let work = scratch("compare");
    let out = work.display().to_string();
    let (code, stdout, stderr) = faultline(&[
        "compare",
        COMPARE_RAFT,
        COMPARE_PAXOS,
        "--seeds",
        "0..4",
        "--out",
        &out,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for text in [stdout.as_str(), &read(&work.join("compare.md"))] {
        assert!(text.contains("| compare-raft-kv | pass 4 |"), "{text}");
        assert!(text.contains("| compare-paxos-kv | pass 4 |"), "{text}");
        assert!(text.contains("ok/s during faults"));
        assert!(text.contains("| events/s | ok / fail / info |"), "{text}");
        assert!(
            text.contains("| leader crashes | no leader p50 ms |"),
            "{text}"
        );
        // Each row has its 13 cells, and the operation totals add up to something.
        let row = text
            .lines()
            .find(|line| line.starts_with("| compare-raft-kv |"))
            .expect("the Raft row");
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 13, "{row}");
        let ok: u64 = cells[4].split(" / ").next().unwrap().parse().unwrap();
        assert!(ok > 0, "{row}");
    }
    let page = read(&work.join("index.html"));
    assert!(
        page.contains("fraction of ok operations"),
        "the CDF is drawn"
    );
    assert!(page.contains("ok operations / s"));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn compare_refuses_scenarios_whose_fault_plans_differ() {
    let (code, _, err) = faultline(&[
        "compare",
        "catalog/raft-kv-partitions.ron",
        "catalog/paxos-kv-partitions.ron",
        "--seeds",
        "0..2",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot be compared: durations differ"),
        "{err}"
    );
    let (code, _, err) = faultline(&["compare", COMPARE_RAFT, "catalog/raft-kv-calm.ron"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be compared"), "{err}");
}
