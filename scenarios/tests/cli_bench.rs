//! `faultline bench scenario` through the real binary: the shape of its output and its
//! usage errors (never its speed, which depends on the machine).

mod support;

use support::{faultline, BACKUP_READS, CALM};

fn bench_json(scenario: &str, count: &str) -> serde_json::Value {
    let (code, out, err) = faultline(&[
        "bench", "scenario", scenario, "--count", count, "--jobs", "2", "--json",
    ]);
    assert_eq!(code, 0, "a benchmark never fails: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {out}");
    serde_json::from_str(lines[0]).expect("JSON")
}

fn number(figures: &serde_json::Value, field: &str) -> f64 {
    figures[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is a number in {figures}"))
}

#[test]
fn bench_scenario_json_has_every_figure_and_consistent_ratios() {
    let figures = bench_json(CALM, "4");
    assert_eq!(figures["name"], "scenario/single-server-kv-calm");
    assert_eq!(figures["path"], CALM);
    assert_eq!(
        (figures["seeds"].as_u64(), figures["jobs"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(figures["failing_seeds"], 0);
    assert_eq!(
        figures["check_mismatches"], 0,
        "the re-check agrees with the runner"
    );
    let events = figures["events"].as_u64().expect("events");
    assert!(events > 1_000, "4 seeds of 15 simulated seconds: {events}");
    let wall_s = number(&figures, "wall_s");
    assert!(wall_s > 0.0);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert!(close(number(&figures, "seeds_per_sec"), 4.0 / wall_s));
    assert!(close(
        number(&figures, "events_per_sec"),
        events as f64 / wall_s
    ));
    // Each seed simulates 10 s of workload and 5 s of recovery, at most.
    let simulated_s = number(&figures, "simulated_s");
    assert!(
        simulated_s > 4.0 * 10.0 && simulated_s <= 4.0 * 15.0,
        "{simulated_s}"
    );
    assert!(close(
        number(&figures, "sim_wall_ratio"),
        simulated_s / wall_s
    ));
    let (run_s, check_s) = (
        number(&figures, "run_wall_s"),
        number(&figures, "check_wall_s"),
    );
    assert!(run_s > 0.0 && check_s > 0.0);
    assert!(close(number(&figures, "check_share"), check_s / run_s));
    assert!(number(&figures, "peak_rss_mib") > 0.0);
}

#[test]
fn bench_scenario_counts_failing_seeds_without_failing_and_prints_a_table() {
    let figures = bench_json(BACKUP_READS, "6");
    assert!(figures["failing_seeds"].as_u64().unwrap() > 0, "{figures}");
    assert_eq!(figures["check_mismatches"], 0);
    let (code, out, err) = faultline(&[
        "bench", "scenario", CALM, "--seeds", "10..12", "--jobs", "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("scenario/single-server-kv-calm (catalog/single-server-kv-calm.ron): 2 seeds on 1 jobs, 0 failing\n"),
        "{out}"
    );
    for column in ["seeds/s", "events/s", "sim/wall", "check %", "peak memory"] {
        assert!(out.contains(column), "{column} in {out}");
    }
}

#[test]
fn bench_scenario_rejects_bad_input_with_exit_2() {
    for args in [
        &["bench", "scenario", "catalog/no-such.ron"][..],
        &[
            "bench",
            "scenario",
            "catalog/single-server-kv-calm.ron",
            "--seeds",
            "5..5",
        ],
        &[
            "bench",
            "scenario",
            "catalog/single-server-kv-calm.ron",
            "--count",
            "0",
        ],
        &[
            "bench",
            "scenario",
            "catalog/single-server-kv-calm.ron",
            "--jobs",
            "0",
        ],
    ] {
        let (code, out, err) = faultline(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}

/// The history `bench checker` measures its memory on is linearizable, as the bench expects,
/// and the checker is not fooled by it: one read changed to a value never written is caught.
#[test]
fn bench_checker_generates_a_linearizable_kv_history_and_measures_its_peak() {
    let mut text = Vec::new();
    scenarios::commands::bench_checker::write_large_kv_history(4_000, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.lines().count(), 4_000);
    assert!(text.contains(r#""type":"info""#), "1% of operations crash");
    let dir = std::env::temp_dir().join(format!("faultline-bench-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.jsonl");
    std::fs::write(&good, &text).unwrap();
    let (code, out, err) = faultline(&["check", good.to_str().unwrap(), "--model", "kv"]);
    assert_eq!(code, 0, "{out}{err}");
    // The first ok read of a written value now sees 999999, which no write wrote.
    let bad_text: String = {
        let mut changed = false;
        text.lines()
            .map(|line| {
                if !changed
                    && line.contains(r#""type":"ok","f":"read""#)
                    && !line.ends_with("null}")
                {
                    changed = true;
                    let cut = line.rfind(":").unwrap();
                    format!("{}:999999}}\n", &line[..cut])
                } else {
                    format!("{line}\n")
                }
            })
            .collect()
    };
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, bad_text).unwrap();
    let (code, out, err) = faultline(&["check", bad.to_str().unwrap(), "--model", "kv"]);
    assert_eq!(code, 1, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);

    // The bench reports the generated history first, with a peak measured after a reset.
    let (code, out, err) = faultline(&[
        "bench",
        "checker",
        "--repeat",
        "1",
        "--skip-unpartitioned",
        "--large-kv-events",
        "20000",
        "--json",
    ]);
    if err.contains("conformance corpus not found") {
        return; // The corpus sits beside the workspace, not in it.
    }
    assert_eq!(code, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["name"], "checker/generated/kv-20000-events");
    assert_eq!(first["verdict"], "linearizable");
    assert_eq!(first["events"], 20_000);
    if first["peak_reset"] == true {
        assert!(number(&first, "peak_memory_kib") > 1024.0, "{first}");
    }
}
