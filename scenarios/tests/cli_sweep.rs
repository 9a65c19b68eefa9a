//! The run / sweep / replay contract (DESIGN.md §7), through the real binary.

mod support;

use std::path::{Path, PathBuf};
use support::{faultline, BACKUP_READS, CALM};

/// Per-seed records without the wall time (which legitimately differs between runs).
fn seed_records(jsonl: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("every line is JSON"))
        .filter(|record| record["type"] == "seed")
        .map(|mut record| {
            record.as_object_mut().unwrap().remove("wall_ms");
            record
        })
        .collect()
}

#[test]
fn results_do_not_depend_on_jobs_and_shards_concatenate_to_the_whole() {
    let (code, one_job, _) = faultline(&[
        "sweep",
        BACKUP_READS,
        "--seeds",
        "0..24",
        "--jobs",
        "1",
        "--format",
        "jsonl",
    ]);
    assert!(code == 0 || code == 1, "exit {code}");
    let (_, two_jobs, _) = faultline(&[
        "sweep",
        BACKUP_READS,
        "--seeds",
        "0..24",
        "--jobs",
        "2",
        "--format",
        "jsonl",
    ]);
    let whole = seed_records(&one_job);
    assert_eq!(whole.len(), 24);
    assert_eq!(whole, seed_records(&two_jobs));
    let mut joined = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let (_, out, _) = faultline(&[
            "sweep",
            BACKUP_READS,
            "--seeds",
            "0..24",
            "--shard",
            shard,
            "--format",
            "jsonl",
        ]);
        joined.extend(seed_records(&out));
    }
    assert_eq!(joined, whole);
}

#[test]
fn backup_reads_fail_with_replay_lines_and_replay_reproduces_the_digest() {
    let (code, out, _) = faultline(&[
        "sweep",
        BACKUP_READS,
        "--seeds",
        "0..40",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 1, "stale reads from backups must be found: {out}");
    let records = seed_records(&out);
    let failing: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["outcome"] == "safety-violation")
        .collect();
    assert!(!failing.is_empty());
    let first = failing[0];
    let seed = first["seed"].as_u64().unwrap().to_string();
    assert_eq!(
        first["replay"],
        format!("faultline replay {BACKUP_READS} --seed {seed}")
    );
    let (code, replayed, _) = faultline(&["replay", BACKUP_READS, "--seed", &seed]);
    assert_eq!(code, 1);
    assert!(
        replayed.contains(first["digest"].as_str().unwrap()),
        "replay gives the sweep's digest:\n{replayed}"
    );
}

#[test]
fn the_single_server_passes_and_check_determinism_agrees() {
    let (code, out, err) = faultline(&["sweep", CALM, "--count", "30", "--check-determinism"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pass 30"), "{out}");
    assert!(
        out.contains("determinism: every seed ran twice with equal trace digests (30 seeds)"),
        "--check-determinism says it checked: {out}"
    );
}

#[test]
fn an_empty_count_is_refused_like_an_empty_range() {
    for args in [
        &["sweep", CALM, "--count", "0"][..],
        &["sweep", CALM, "--seeds", "5..5"][..],
    ] {
        let (code, out, err) = faultline(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
    }
}

#[test]
fn absurd_job_counts_are_refused_before_any_thread_starts() {
    let (code, out, err) = faultline(&["sweep", CALM, "--count", "2", "--jobs", "100000"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("per core"), "{err}");
}

#[test]
fn many_failures_are_listed_in_groups_with_a_few_replay_lines_each() {
    let (code, out, err) = faultline(&["sweep", BACKUP_READS, "--seeds", "0..40"]);
    assert_eq!(code, 1, "{out}{err}");
    // At most FAIL_LINES_AS_FOUND lines as found, then a pointer to the closing list.
    assert!(err.matches("FAIL ").count() <= 10, "{err}");
    let header = out
        .lines()
        .find(|line| line.starts_with("failing seeds ("))
        .unwrap_or_else(|| panic!("a closing list: {out}"));
    let failing: usize = header["failing seeds (".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(failing > 3, "the fixture must fail often: {out}");
    let listed = out
        .lines()
        .filter(|line| line.trim_start().starts_with("faultline replay"))
        .count();
    assert!(listed < failing, "grouped, not one line per seed: {out}");
    assert!(
        out.contains("more (`--format jsonl` lists every seed)"),
        "{out}"
    );
}

#[test]
fn a_run_directory_reproduces_through_its_resolved_scenario() {
    let directory = std::env::temp_dir().join(format!("faultline-run-test-{}", std::process::id()));
    let dir = directory.to_str().unwrap();
    let (code, out, err) = faultline(&[
        "run",
        "catalog/primary-backup-kv-failover.ron",
        "--seed",
        "3",
        "--out",
        dir,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    for file in [
        "results.json",
        "history.jsonl",
        "scenario.resolved.ron",
        "REPLAY",
    ] {
        assert!(directory.join(file).is_file(), "{file} missing");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.join("results.json")).unwrap())
            .unwrap();
    // The history is checkable on its own and the checker agrees with the run.
    let history = directory.join("history.jsonl");
    let (check_code, check_out, check_err) =
        faultline(&["check", history.to_str().unwrap(), "--model", "kv"]);
    assert_eq!(check_code, 1, "{check_out}{check_err}");
    // The resolved scenario (the generated plan as a Script) reproduces the run exactly.
    let resolved: PathBuf = directory.join("scenario.resolved.ron");
    let (again, again_out, _) = faultline(&["replay", resolved.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(again, 1);
    assert!(
        again_out.contains(results["digest"].as_str().unwrap()),
        "{again_out}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn bad_input_is_exit_2_without_a_panic() {
    let (code, _, err) = faultline(&["sweep", "catalog/does-not-exist.ron"]);
    assert_eq!(code, 2);
    assert!(err.contains("does-not-exist"), "{err}");
    let (code, _, err) = faultline(&["run", CALM, "--bug", "raft-commit-prior-term"]);
    assert_eq!(code, 2);
    assert!(err.contains("belongs to raft"), "{err}");
    let (code, _, _) = faultline(&["sweep", CALM, "--shard", "4/3"]);
    assert_eq!(code, 2);
}

/// Failing seeds of `primary-backup-kv-backup-reads` over seeds 0..40 with the replication
/// delay replaced by `delay_ms`.
fn backup_read_failures(delay_ms: u64) -> usize {
    use scenarios::runner::{run, RunOptions};
    use scenarios::scenario::Scenario;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(BACKUP_READS);
    let mut scenario = Scenario::from_file(&path).expect("the catalogue parses");
    assert_eq!(scenario.protocol.name(), "primary-backup");
    scenario.protocol.params.set(
        "replication_delay",
        protocols::params::ParamValue::Duration(sim_core::time::Duration::from_millis(delay_ms)),
    );
    (0..40)
        .filter(|&seed| {
            run(&scenario, seed, &RunOptions::default())
                .expect("supported")
                .outcome
                .is_failure()
        })
        .count()
}

#[test]
fn a_longer_replication_delay_makes_backup_reads_fail_on_more_seeds() {
    // Measured: 9, 19 and 19 of 40. Writes reach the backups later, so reads served there
    // miss more acknowledged writes. The count saturates: a client's first write is
    // redirected to the primary and the client stays with the node that answered, so only
    // its earlier reads are served by a backup.
    let (immediate, catalogue, long) = (
        backup_read_failures(0),
        backup_read_failures(50),
        backup_read_failures(200),
    );
    assert!(
        immediate < catalogue,
        "0 ms: {immediate}, 50 ms: {catalogue}"
    );
    assert!(catalogue <= long, "50 ms: {catalogue}, 200 ms: {long}");
}

/// The summary names the protocol's rare paths that no seed reached: a calm Raft run elects
/// once and truncates nothing, and what it did hit is not listed as missed.
#[test]
fn the_summary_lists_the_marks_no_seed_hit() {
    let (code, out, _) = faultline(&[
        "sweep",
        "catalog/raft-kv-calm.ron",
        "--seeds",
        "0..3",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0);
    let summary: serde_json::Value = out
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|record| record["type"] == "summary")
        .expect("a summary line");
    let not_hit: Vec<&str> = summary["marks_not_hit"]
        .as_array()
        .expect("marks_not_hit is a list")
        .iter()
        .map(|mark| mark.as_str().unwrap())
        .collect();
    assert!(not_hit.contains(&"raft.truncate"), "{not_hit:?}");
    assert!(
        not_hit.contains(&"raft.check_quorum_step_down"),
        "{not_hit:?}"
    );
    let hit = summary["marks"].as_object().expect("marks is a map");
    assert!(hit.contains_key("raft.read_index_confirmed"), "{hit:?}");
    for mark in hit.keys() {
        assert!(
            !not_hit.contains(&mark.as_str()),
            "{mark} both hit and not hit"
        );
    }
    let (_, human, _) = faultline(&["sweep", "catalog/raft-kv-calm.ron", "--seeds", "0..3"]);
    assert!(human.contains("marks not hit: "), "{human}");
}

/// Determinism on the consensus protocols' busiest scenarios: every seed run twice gives the
/// same trace digest (`--check-determinism`), and one job or two give the same per-seed records.
#[test]
fn consensus_scenarios_are_deterministic_across_runs_and_job_counts() {
    for file in [
        "catalog/raft-kv-everything.ron",
        "catalog/raft-kv-pre-vote.ron",
        "catalog/paxos-kv-everything.ron",
        "catalog/raft-lock-contention.ron",
        "catalog/paxos-counter-faults.ron",
    ] {
        let sweep = |jobs: &str| {
            let (code, out, err) = faultline(&[
                "sweep",
                file,
                "--seeds",
                "0..8",
                "--jobs",
                jobs,
                "--check-determinism",
                "--format",
                "jsonl",
            ]);
            assert_eq!(code, 0, "{file} with {jobs} jobs: {err}{out}");
            seed_records(&out)
        };
        let one = sweep("1");
        assert_eq!(one.len(), 8, "{file}");
        assert_eq!(
            one,
            sweep("2"),
            "{file}: records differ between 1 and 2 jobs"
        );
    }
}
