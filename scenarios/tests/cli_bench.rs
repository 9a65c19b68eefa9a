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
