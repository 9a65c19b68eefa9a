//! The README's tables of `results.jsonl` / `sweep --format jsonl` / `results.json` fields are
//! the records' fields, name for name, and the fields it calls wall-clock are the only ones
//! that differ between two runs of a sweep; each shard ends with a summary record, and
//! `report merge` of two shards gives the unsharded sweep's records.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::{faultline, BACKUP_READS, CALM};

/// A CRDT scenario: its records carry non-empty `figures`.
const CRDT: &str = "catalog/crdt-pncounter-calm.ron";

fn scratch(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("faultline-jsonl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

/// One README table of fields: every name, those it says may be absent, and those it marks
/// **wall clock**.
#[derive(Debug, Default)]
struct Documented {
    fields: BTreeSet<String>,
    optional: BTreeSet<String>,
    wall_clock: BTreeSet<String>,
}

/// The three field tables after the README heading on the records, in order: seed records,
/// summary records, `results.json`.
fn documented_tables() -> Vec<Documented> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the README");
    let start = readme
        .find("### The records: `results.jsonl`")
        .expect("the README documents the records");
    let section = &readme[start..];
    let end = section[4..].find("\n### ").map_or(section.len(), |e| e + 4);
    let mut tables: Vec<Documented> = Vec::new();
    let mut in_table = false;
    for line in section[..end].lines() {
        if line.starts_with("| Field |") {
            tables.push(Documented::default());
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(name) = cells[0]
            .strip_prefix("| `")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            continue; // the `| --- |` rule
        };
        assert!(in_table, "a field row outside a table: {line}");
        let table = tables.last_mut().unwrap();
        assert!(table.fields.insert(name.to_string()), "{name} twice");
        if line.contains("absent for") || line.contains("absent when") {
            table.optional.insert(name.to_string());
        }
        if line.contains("**wall clock**") {
            table.wall_clock.insert(name.to_string());
        }
    }
    assert_eq!(tables.len(), 3, "seed, summary and results.json tables");
    tables
}

fn keys(record: &Json) -> BTreeSet<String> {
    record
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect()
}

/// The records of `sweep SCENARIO --seeds RANGE --format jsonl`.
fn jsonl_records(scenario: &str, seeds: &str) -> Vec<Json> {
    let (code, out, err) = faultline(&[
        "sweep", scenario, "--seeds", seeds, "--jobs", "1", "--format", "jsonl",
    ]);
    assert!(code == 0 || code == 1, "{scenario}: exit {code}: {err}");
    out.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record"))
        .collect()
}

/// A record's fields match a table: every field documented, every documented field present
/// unless the table says it may be absent (`with_optional`: present too).
fn assert_documented(record: &Json, table: &Documented, with_optional: bool, what: &str) {
    let have = keys(record);
    let undocumented: Vec<&String> = have.difference(&table.fields).collect();
    assert!(
        undocumented.is_empty(),
        "{what}: fields the README does not document: {undocumented:?}"
    );
    let expected: BTreeSet<String> = if with_optional {
        table.fields.clone()
    } else {
        table.fields.difference(&table.optional).cloned().collect()
    };
    assert_eq!(have, expected, "{what}: the README documents other fields");
}

#[test]
fn every_record_field_is_documented_and_every_documented_field_exists() {
    let tables = documented_tables();
    let (seed_table, summary_table, results_table) = (&tables[0], &tables[1], &tables[2]);
    // One `figures` field for every protocol (`{}` when it measures nothing): never optional.
    for table in [seed_table, summary_table] {
        assert!(table.fields.contains("figures") && !table.optional.contains("figures"));
    }
    assert_eq!(
        seed_table.wall_clock,
        BTreeSet::from(["wall_ms".to_string()])
    );
    assert_eq!(
        summary_table.wall_clock,
        BTreeSet::from(["seed_wall_ms_total".to_string()])
    );
    assert!(results_table.wall_clock.is_empty());

    // A CRDT scenario (figures measured) and a single server (figures empty) both have every
    // field.
    for (scenario, with_optional) in [(CRDT, true), (CALM, false)] {
        let records = jsonl_records(scenario, "0..2");
        assert_eq!(records.len(), 3, "two seed records and a summary");
        for record in &records[..2] {
            assert_eq!(record["type"], "seed");
            assert_documented(record, seed_table, with_optional, scenario);
        }
        assert_eq!(records[2]["type"], "summary");
        assert_documented(&records[2], summary_table, with_optional, scenario);
    }

    // results.json of a run directory, with and without measured figures.
    let work = scratch("results");
    for (scenario, with_optional) in [(CRDT, true), (BACKUP_READS, false)] {
        let out = work.join(if with_optional { "crdt" } else { "kv" });
        let (code, stdout, stderr) = faultline(&[
            "run",
            scenario,
            "--seed",
            "0",
            "--out",
            &out.display().to_string(),
        ]);
        assert!(code == 0 || code == 1, "{stdout}{stderr}");
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        let results: Json = serde_json::from_str(&text).unwrap();
        assert_documented(&results, results_table, with_optional, "results.json");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// `record` without the fields the README marks wall-clock.
fn without_wall_clock(mut record: Json, tables: &[Documented]) -> Json {
    let object = record.as_object_mut().expect("an object");
    for table in tables {
        for field in &table.wall_clock {
            object.remove(field);
        }
    }
    record
}

#[test]
fn only_the_wall_clock_fields_differ_between_two_runs_of_a_sweep() {
    let tables = documented_tables();
    // Failing and passing seeds, two job counts.
    let first = jsonl_records(BACKUP_READS, "0..6");
    let (code, out, _) = faultline(&[
        "sweep",
        BACKUP_READS,
        "--seeds",
        "0..6",
        "--jobs",
        "2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 1);
    let second: Vec<Json> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(first.len(), second.len());
    for (a, b) in first.into_iter().zip(second) {
        assert_eq!(
            without_wall_clock(a, &tables),
            without_wall_clock(b, &tables)
        );
    }

    // results.json: byte for byte.
    let work = scratch("twice");
    let write = |leaf: &str| {
        let out = work.join(leaf);
        let (code, _, _) = faultline(&[
            "run",
            BACKUP_READS,
            "--seed",
            "0",
            "--out",
            &out.display().to_string(),
        ]);
        assert_eq!(code, 1);
        std::fs::read(out.join("results.json")).unwrap()
    };
    assert_eq!(write("a"), write("b"));
    let _ = std::fs::remove_dir_all(&work);
}

fn results_jsonl(directory: &Path) -> Vec<Json> {
    std::fs::read_to_string(directory.join("results.jsonl"))
        .unwrap_or_else(|e| panic!("{}: {e}", directory.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn merged_shards_give_the_unsharded_sweeps_records_and_summary() {
    let tables = documented_tables();
    let work = scratch("merge");
    let dir = |name: &str| work.join(name).display().to_string();
    // Seeds 1..4 of the backup-reads scenario: seed 1 passes, so with 3 shards the first holds
    // no violation and does not meet the file's `expect: Violation` on its own (exit 6),
    // while the whole sweep does.
    let sweep = |extra: &[&str], out: &str| -> i32 {
        let mut args = vec![
            "sweep",
            BACKUP_READS,
            CALM,
            "--seeds",
            "1..4",
            "--jobs",
            "1",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        faultline(&args).0
    };
    assert_eq!(sweep(&[], &dir("whole")), 1);
    let shard_codes: Vec<i32> = (1..=3)
        .map(|m| sweep(&["--shard", &format!("{m}/3")], &dir(&format!("shard{m}"))))
        .collect();
    assert_eq!(
        shard_codes[0], 6,
        "shard 1 alone meets no expect: Violation"
    );
    // Each shard's output ends every scenario with a summary record.
    for m in 1..=3 {
        let records = results_jsonl(&work.join(format!("shard{m}")));
        let summaries: Vec<&Json> = records.iter().filter(|r| r["type"] == "summary").collect();
        assert_eq!(summaries.len(), 2, "shard {m}: one summary per scenario");
        assert_eq!(summaries[0]["seeds"], 1);
    }
    let (code, out, err) = faultline(&[
        "report",
        "merge",
        &dir("shard1"),
        &dir("shard2"),
        &dir("shard3"),
        "--out",
        &dir("merged"),
    ]);
    // The merge exits as the whole sweep did (a violation: 1), not as a shard did.
    assert_eq!(code, 1, "{out}{err}");
    let strip = |records: Vec<Json>| -> Vec<Json> {
        records
            .into_iter()
            .map(|r| without_wall_clock(r, &tables))
            .collect()
    };
    let whole = strip(results_jsonl(&work.join("whole")));
    let merged = strip(results_jsonl(&work.join("merged")));
    assert_eq!(whole.len(), 3 + 1 + 3 + 1);
    assert_eq!(merged, whole);
    let summary = &merged[3];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["expect_met"], true);
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["first_failing_seed"], 2);

    // Shards given in another order, one of them twice: the same records.
    let (code, _, err) = faultline(&[
        "report",
        "merge",
        &dir("shard3"),
        &dir("shard1"),
        &dir("shard2"),
        &dir("shard3"),
        "--out",
        &dir("merged-again"),
    ]);
    assert_eq!(code, 1, "{err}");
    let mut again = strip(results_jsonl(&work.join("merged-again")));
    let mut sorted = merged.clone();
    let by_path = |r: &Json| r["path"].as_str().unwrap().to_string();
    again.sort_by_key(by_path);
    sorted.sort_by_key(by_path);
    assert_eq!(again, sorted);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_shard_without_seeds_still_writes_its_summary() {
    let (code, out, err) = faultline(&[
        "sweep", CALM, "--seeds", "0..1", "--shard", "1/2", "--format", "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let records: Vec<Json> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{out}");
    assert_eq!(records[0]["type"], "summary");
    assert_eq!(records[0]["seeds"], 0);
}
