//! `faultline sweep --junit FILE` through the real binary: the report is parsed back with
//! quick-junit and compared with the sweep's own JSONL records.

mod support;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus, TestSuite};
use std::path::{Path, PathBuf};
use support::{faultline, BACKUP_READS, CALM};

/// A fresh directory for one test's reports.
fn scratch(test: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("faultline-junit-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

fn read_report(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("the report was written");
    Report::deserialize_from_str(&xml).expect("the report is valid JUnit XML")
}

/// The seeds the JSONL output reports as not passing, for one scenario path.
fn failing_seeds(jsonl: &str, path: &str) -> Vec<u64> {
    jsonl
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .filter(|r| r["type"] == "seed" && r["path"] == path && r["outcome"] != "pass")
        .map(|r| r["seed"].as_u64().expect("a seed"))
        .collect()
}

fn property<'a>(suite: &'a TestSuite, name: &str) -> Option<&'a str> {
    suite
        .properties
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str())
}

/// Checks one suite against the seeds the JSONL output says failed.
fn assert_suite(suite: &TestSuite, path: &str, seeds_run: usize, failing: &[u64]) {
    assert_eq!(property(suite, "path"), Some(path));
    assert_eq!(suite.test_cases.len(), 1 + failing.len(), "{suite:?}");
    assert_eq!(
        suite.failures,
        usize::from(!failing.is_empty()) + failing.len()
    );
    let aggregate = &suite.test_cases[0];
    assert_eq!(aggregate.name.as_str(), "all-seeds");
    assert_eq!(aggregate.classname.as_deref(), Some(suite.name.as_str()));
    let summary = format!("{} of {seeds_run} seeds failed", failing.len());
    match &aggregate.status {
        TestCaseStatus::Success { .. } => assert!(failing.is_empty()),
        TestCaseStatus::NonSuccess { kind, message, .. } => {
            assert_eq!(*kind, NonSuccessKind::Failure);
            let message = message.as_deref().expect("a message");
            assert!(message.starts_with(&summary), "{message}");
            let first = format!("first: faultline replay {path} --seed {}", failing[0]);
            assert!(message.ends_with(&first), "{message}");
        }
        other => panic!("unexpected aggregate status {other:?}"),
    }
    assert!(aggregate
        .system_out
        .as_deref()
        .is_some_and(|out| out.starts_with(&summary)));
    for (case, seed) in suite.test_cases[1..].iter().zip(failing) {
        assert_eq!(case.name.as_str(), format!("seed {seed}"));
        let TestCaseStatus::NonSuccess {
            kind,
            message,
            ty,
            description,
            ..
        } = &case.status
        else {
            panic!("a failing seed's testcase failed: {case:?}");
        };
        assert_eq!(*kind, NonSuccessKind::Failure);
        let replay = format!("faultline replay {path} --seed {seed}");
        let kind = ty.as_deref().expect("the outcome as the type");
        assert_eq!(
            message.as_deref(),
            Some(format!("{kind}: {replay}").as_str())
        );
        assert!(description
            .as_deref()
            .is_some_and(|d| d.starts_with(&replay) && d.len() > replay.len()));
    }
}

#[test]
fn junit_has_an_aggregate_per_scenario_and_a_replay_line_per_failing_seed() {
    let directory = scratch("both");
    let report_path = directory.join("nested/junit.xml");
    let report_arg = report_path.to_str().unwrap();
    let (code, out, err) = faultline(&[
        "sweep",
        BACKUP_READS,
        CALM,
        "--seeds",
        "0..16",
        "--format",
        "jsonl",
        "--junit",
        report_arg,
    ]);
    assert_eq!(code, 1, "{err}");
    let report = read_report(&report_path);
    assert_eq!(report.name.as_deref(), Some("faultline sweep"));
    assert_eq!(report.test_suites.len(), 2);
    let failing = failing_seeds(&out, BACKUP_READS);
    assert!(!failing.is_empty(), "backup reads fail on some of 16 seeds");
    let [reads, calm] = &report.test_suites[..] else {
        unreachable!()
    };
    assert_eq!(reads.name.as_str(), "primary-backup-kv-backup-reads");
    assert_eq!(property(reads, "seeds"), Some("0..16"));
    assert_suite(reads, BACKUP_READS, 16, &failing);
    assert_eq!(calm.name.as_str(), "single-server-kv-calm");
    assert!(failing_seeds(&out, CALM).is_empty());
    assert_suite(calm, CALM, 16, &[]);
    assert_eq!(report.tests, 2 + failing.len());
    // Written through a temporary sibling that is gone afterwards.
    let leftovers: Vec<_> = std::fs::read_dir(report_path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("junit.xml")]);
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_passing_sweep_writes_one_passing_testcase_and_a_shard_writes_its_own_seeds() {
    let directory = scratch("shard");
    let calm_report = directory.join("calm.xml");
    let (code, _, err) = faultline(&[
        "sweep",
        CALM,
        "--count",
        "6",
        "--junit",
        calm_report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report = read_report(&calm_report);
    assert_eq!((report.tests, report.failures), (1, 0));
    assert_suite(&report.test_suites[0], CALM, 6, &[]);

    let shard_report = directory.join("shard-2-of-2.xml");
    let (code, out, err) = faultline(&[
        "sweep",
        BACKUP_READS,
        "--seeds",
        "0..16",
        "--shard",
        "2/2",
        "--format",
        "jsonl",
        "--junit",
        shard_report.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{err}");
    let report = read_report(&shard_report);
    assert_eq!(report.name.as_deref(), Some("faultline sweep (shard 2/2)"));
    let suite = &report.test_suites[0];
    assert_eq!(property(suite, "shard"), Some("2/2"));
    assert_eq!(property(suite, "seeds"), Some("8..16"));
    let failing = failing_seeds(&out, BACKUP_READS);
    assert!(failing.iter().all(|&seed| (8..16).contains(&seed)));
    assert_suite(suite, BACKUP_READS, 8, &failing);
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn an_unwritable_junit_path_is_a_usage_error_before_the_sweep() {
    let directory = scratch("bad");
    std::fs::create_dir_all(&directory).unwrap();
    let (code, out, err) = faultline(&[
        "sweep",
        CALM,
        "--count",
        "2",
        "--junit",
        directory.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("--junit") && err.contains("is a directory"),
        "{err}"
    );
    assert!(!out.contains("seeds in"), "no seed ran: {out}");
    std::fs::remove_dir_all(&directory).unwrap();
}
