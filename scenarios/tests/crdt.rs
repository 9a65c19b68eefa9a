//! The CRDT counters end to end: runs judged by the protocol's own audit instead of
//! linearizability, staleness measured and reported (run, sweep, JSONL), the protocol ×
//! application rules of the state-merge capability, and the mutant caught where the correct
//! merge passes.

#[allow(dead_code)]
mod support;

use scenarios::runner::{run, Outcome, RunOptions, RunReport};
use scenarios::scenario::Scenario;
use support::faultline;

const G_PARTITIONS: &str = "catalog/crdt-gcounter-partitions.ron";
const PN_EVERYTHING: &str = "catalog/crdt-pncounter-everything.ron";

fn load(path: &str) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    Scenario::from_file(&path).unwrap_or_else(|error| panic!("{}", error.message()))
}

fn parse(text: &str) -> Result<Scenario, String> {
    Scenario::from_str(text, "test.ron").map_err(|error| error.message().to_string())
}

fn figure(report: &RunReport, name: &str) -> u64 {
    *report
        .figures
        .get(name)
        .unwrap_or_else(|| panic!("no figure {name} in {:?}", report.figures))
}

#[test]
fn crdt_runs_pass_with_stale_reads_measured_and_no_linearizability_check() {
    for path in [G_PARTITIONS, PN_EVERYTHING] {
        let report = run(&load(path), 0, &RunOptions::default()).unwrap();
        assert_eq!(report.outcome, Outcome::Pass, "{path}");
        assert!(report.check.is_none(), "{path}: reads are not linearizable");
        let reads = figure(&report, "reads");
        let stale = figure(&report, "stale_reads");
        assert!(
            reads > 100 && stale > 0 && stale < reads,
            "{path}: {stale} of {reads}"
        );
        assert!(figure(&report, "staleness_ops_max") >= 1);
        assert!(figure(&report, "staleness_us_max") > 0);
    }
    // A linearizable protocol measures nothing and is checked as before.
    let raft = load("catalog/raft-counter-calm.ron");
    let report = run(&raft, 0, &RunOptions::default()).unwrap();
    assert!(report.figures.is_empty());
    assert!(report.check.is_some());
}

#[test]
fn the_mutant_is_caught_by_an_invariant_and_the_correct_merge_is_not() {
    let mut scenario = load(G_PARTITIONS);
    let correct = run(&scenario, 0, &RunOptions::default()).unwrap();
    assert_eq!(correct.outcome, Outcome::Pass);
    scenario
        .bugs
        .insert(protocols::apps::counter::bugs::GCOUNTER_MERGE_SUM);
    let report = run(&scenario, 0, &RunOptions::default()).unwrap();
    match &report.outcome {
        Outcome::SafetyViolation { source, .. } => {
            assert!(source.starts_with("invariant:crdt-"), "{source}")
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn the_counter_runs_on_crdt_replicas_and_nothing_else_does() {
    let counter = "Scenario(protocol: Crdt(counter: G), app: Counter(decrements: \"10%\"))";
    let scenario = parse(counter).unwrap();
    assert_eq!(scenario.protocol.name(), "crdt");
    let kv = parse("Scenario(protocol: Crdt(), app: Kv(keys: 2))").unwrap_err();
    assert!(kv.contains("the kv application runs on"), "{kv}");
    assert!(kv.contains("not on crdt"), "{kv}");
    // The counter's linearizable-path bugs need a proposal hook or a session table; the merge
    // bug needs merging replicas.
    let rmw =
        parse("Scenario(protocol: Crdt(), app: Counter(), bugs: [\"counter-nonatomic-rmw\"])")
            .unwrap_err();
    assert!(rmw.contains("counter-nonatomic-rmw"), "{rmw}");
    let merge_on_raft =
        parse("Scenario(protocol: Raft(), app: Counter(), bugs: [\"gcounter-merge-sum\"])")
            .unwrap_err();
    assert!(merge_on_raft.contains("crdt"), "{merge_on_raft}");
    let zero =
        parse("Scenario(protocol: Crdt(gossip_interval: \"0s\"), app: Counter())").unwrap_err();
    assert!(zero.contains("expected a positive duration"), "{zero}");
}

#[test]
fn run_and_sweep_report_the_figures_in_text_and_jsonl() {
    let (code, out, _) = faultline(&["run", G_PARTITIONS, "--seed", "1", "--out", &temp("run")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("measured: reads: "), "{out}");
    assert!(out.contains("stale reads: "), "{out}");

    let (code, out, _) = faultline(&["sweep", PN_EVERYTHING, "--count", "3", "--jobs", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("  measured: reads: "), "{out}");

    let (code, out, _) = faultline(&[
        "sweep",
        PN_EVERYTHING,
        "--count",
        "3",
        "--jobs",
        "1",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{out}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let seeds: Vec<&serde_json::Value> = records.iter().filter(|r| r["type"] == "seed").collect();
    assert_eq!(seeds.len(), 3);
    let stale_total: u64 = seeds
        .iter()
        .map(|r| r["figures"]["stale_reads"].as_u64().unwrap())
        .sum();
    let max = seeds
        .iter()
        .map(|r| r["figures"]["staleness_us_max"].as_u64().unwrap())
        .max()
        .unwrap();
    let summary = records.iter().find(|r| r["type"] == "summary").unwrap();
    assert_eq!(summary["figures"]["stale_reads"], stale_total);
    assert_eq!(summary["figures"]["staleness_us_max"], max);

    // A linearizable scenario's records carry no figures.
    let (_, out, _) = faultline(&["sweep", support::CALM, "--count", "1", "--format", "jsonl"]);
    assert!(out.contains("\"figures\":{}"), "{out}");
    assert!(!out.contains("stale_reads"), "{out}");
}

#[test]
fn list_shows_the_protocol_its_parameters_and_the_mutant() {
    let (code, out, _) = faultline(&["list"]);
    assert_eq!(code, 0);
    for needle in [
        "crdt",
        "gossip_interval",
        "gossip_fanout",
        "G | PN",
        "gcounter-merge-sum",
        "decrements",
        "crdt-gcounter-partitions",
        "crdt-pncounter-everything",
    ] {
        assert!(
            out.contains(needle),
            "`faultline list` lacks {needle}:\n{out}"
        );
    }
}

/// `report merge` of shard outputs adds figures up as the whole sweep does: sums and maxima
/// (a shard's maximum is not the sweep's, a shard's sum is not either), in summary.md and equal
/// to the figures of the sweep's own JSONL summary record.
#[test]
fn report_merge_of_shards_gives_the_whole_sweeps_figures() {
    let sweep = |extra: &[&str], out: &str| {
        let mut args = vec![
            "sweep",
            PN_EVERYTHING,
            "--seeds",
            "0..4",
            "--jobs",
            "1",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = faultline(&args);
        assert_eq!(code, 0, "{stdout}{stderr}");
    };
    let (whole, shard1, shard2, merged) = (
        temp("whole"),
        temp("shard1"),
        temp("shard2"),
        temp("merged"),
    );
    sweep(&[], &whole);
    sweep(&["--shard", "1/2"], &shard1);
    sweep(&["--shard", "2/2"], &shard2);
    let (code, out, err) = faultline(&["report", "merge", &shard1, &shard2, "--out", &merged]);
    assert_eq!(code, 0, "{out}{err}");
    let measured = |directory: &str| {
        let summary = std::fs::read_to_string(format!("{directory}/summary.md")).unwrap();
        summary
            .lines()
            .find(|line| line.starts_with("- measured: "))
            .unwrap_or_else(|| panic!("no figures in {summary}"))
            .to_string()
    };
    assert_eq!(measured(&whole), measured(&merged));
    assert_ne!(measured(&whole), measured(&shard1));
    let records = std::fs::read_to_string(format!("{whole}/results.jsonl")).unwrap();
    let summary: serde_json::Value = records
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|record| record["type"] == "summary")
        .unwrap();
    for (name, value) in summary["figures"].as_object().unwrap() {
        assert!(
            measured(&merged).contains(&format!("`{name}` {value}")),
            "{name} {value} in {}",
            measured(&merged)
        );
    }
    for directory in [whole, shard1, shard2, merged] {
        let _ = std::fs::remove_dir_all(directory);
    }
}

fn temp(name: &str) -> String {
    let directory = std::env::temp_dir().join(format!("faultline-crdt-test-{name}"));
    let _ = std::fs::remove_dir_all(&directory);
    directory.display().to_string()
}
