//! `faultline sweep --explore` through the real binary: its JSONL records, its JUnit report
//! (parsed back with quick-junit) and `--shard`, against a switched-on bug that the first
//! explored seed finds and the same file with the bug off.

#[allow(dead_code)]
mod support;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::path::PathBuf;
use support::faultline;

/// 2PC with crashes at its crash points: T4 fails at seed 0 (README, "Measured").
const CRASH_POINTS: &str = "catalog/2pc-bank-crash-points.ron";
const T4: &str = "2pc-decision-not-logged-before-send";

fn scratch(test: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("faultline-explore-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

fn records(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is one JSON record"))
        .collect()
}

fn of_type<'a>(records: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

#[test]
fn jsonl_has_a_record_per_seed_and_mutant_and_a_summary_that_counts_them() {
    let out = scratch("jsonl");
    let out_text = out.display().to_string();
    let (code, stdout, stderr) = faultline(&[
        "sweep",
        CRASH_POINTS,
        "--seeds",
        "0..6",
        "--explore",
        "--jobs",
        "1",
        "--bug",
        T4,
        "--format",
        "jsonl",
        "--out",
        &out_text,
    ]);
    assert_eq!(code, 1, "T4 fails: {stderr}");
    let all = records(&stdout);
    let seeds = of_type(&all, "seed");
    let mutants = of_type(&all, "mutant");
    let summaries = of_type(&all, "summary");
    assert_eq!(summaries.len(), 1, "{stdout}");
    let summary = summaries[0];
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["scenario"], "2pc-bank-crash-points");
    assert_eq!(seeds.len(), 3, "phase 1 is the first half of 0..6");
    assert_eq!(summary["seeds"], 3);
    assert_eq!(summary["mutants"].as_u64(), Some(mutants.len() as u64));
    let seed_numbers: Vec<u64> = seeds.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seed_numbers, [0, 1, 2]);
    let failing: Vec<_> = all
        .iter()
        .filter(|r| r["type"] != "summary" && r["outcome"] != "pass")
        .collect();
    assert!(!failing.is_empty(), "T4 is found: {stdout}");
    assert_eq!(summary["failing"].as_u64(), Some(failing.len() as u64));
    assert_eq!(summary["exit_code"], 1);
    for record in &failing {
        let replay = record["replay"]
            .as_str()
            .expect("a failing run has a replay line");
        assert!(replay.starts_with("faultline replay "), "{replay}");
        assert!(record["message"].is_string(), "{record}");
    }
    for record in seeds.iter().filter(|r| r["outcome"] == "pass") {
        let replay = record["replay"].as_str().expect("every seed replays");
        assert!(
            replay.contains("--bug 2pc-decision-not-logged-before-send"),
            "{replay}"
        );
    }
    for mutant in &mutants {
        assert!(mutant["mutant"].is_u64(), "{mutant}");
        let parent = mutant["seed"].as_u64().unwrap();
        let corpus: Vec<u64> = summary["corpus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        assert!(
            corpus.contains(&parent),
            "mutant of {parent}, corpus {corpus:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn jsonl_of_a_passing_exploration_exits_0_with_no_failing_run() {
    let (code, stdout, stderr) = faultline(&[
        "sweep",
        CRASH_POINTS,
        "--seeds",
        "0..4",
        "--explore",
        "--jobs",
        "1",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let all = records(&stdout);
    let summary = of_type(&all, "summary")[0];
    assert_eq!(summary["failing"], 0);
    assert_eq!(summary["exit_code"], 0);
    assert!(all
        .iter()
        .filter(|r| r["type"] != "summary")
        .all(|r| r["outcome"] == "pass"));
    assert!(
        !stdout.contains("explore:"),
        "no human line on a JSONL stdout"
    );
}

#[test]
fn junit_has_an_aggregate_and_one_testcase_per_failing_run_with_its_replay_line() {
    let out = scratch("junit");
    let junit = out.join("explore.xml");
    let junit_text = junit.display().to_string();
    let out_text = out.join("reports").display().to_string();
    let (code, stdout, stderr) = faultline(&[
        "sweep",
        CRASH_POINTS,
        "--seeds",
        "0..6",
        "--explore",
        "--jobs",
        "1",
        "--bug",
        T4,
        "--format",
        "jsonl",
        "--junit",
        &junit_text,
        "--out",
        &out_text,
    ]);
    assert_eq!(code, 1, "{stderr}");
    let failing = records(&stdout)
        .into_iter()
        .filter(|r| r["type"] != "summary" && r["outcome"] != "pass")
        .count();
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report was written");
    let report = Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!(report.test_suites.len(), 1);
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "2pc-bank-crash-points");
    assert_eq!(suite.test_cases.len(), 1 + failing, "{xml}");
    let aggregate = &suite.test_cases[0];
    assert_eq!(aggregate.name.as_str(), "explore");
    assert!(matches!(
        aggregate.status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        }
    ));
    for case in &suite.test_cases[1..] {
        match &case.status {
            TestCaseStatus::NonSuccess { message, .. } => {
                let message = message.as_ref().expect("a message").as_str();
                assert!(message.contains("faultline replay "), "{message}");
            }
            other => panic!("a failing run's testcase is a failure, got {other:?}"),
        }
    }

    // The same exploration with the bug off: one passing aggregate.
    let (code, _, stderr) = faultline(&[
        "sweep",
        CRASH_POINTS,
        "--seeds",
        "0..4",
        "--explore",
        "--jobs",
        "1",
        "--junit",
        &junit_text,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap())
        .expect("valid JUnit XML");
    let suite = &report.test_suites[0];
    assert_eq!(suite.test_cases.len(), 1);
    assert!(matches!(
        suite.test_cases[0].status,
        TestCaseStatus::Success { .. }
    ));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_shard_explores_its_block_of_the_seeds_as_that_range_would() {
    let shard = |args: &[&str]| {
        let mut all = vec![
            "sweep",
            CRASH_POINTS,
            "--explore",
            "--jobs",
            "1",
            "--format",
            "jsonl",
        ];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = faultline(&all);
        assert_eq!(code, 0, "{stderr}");
        records(&stdout)
    };
    let second = shard(&["--seeds", "0..8", "--shard", "2/2"]);
    let block = shard(&["--seeds", "4..8"]);
    assert_eq!(second, block, "shard 2/2 of 0..8 explores 4..8");
    let seeds: Vec<u64> = of_type(&second, "seed")
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [4, 5]);
    let first = shard(&["--seeds", "0..8", "--shard", "1/2"]);
    assert_ne!(first, second, "the two shards explore different seeds");
}
