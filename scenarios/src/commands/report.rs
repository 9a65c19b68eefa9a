//! `faultline report merge DIR... --out DIR`: merges the report directories of sweep shards
//! (`sweep --shard M/N --out DIR` on a Slurm array, a Kubernetes indexed Job or a CI matrix)
//! into one: `results.jsonl` (the shards' seed records and, per scenario, one summary record
//! of the whole sweep in place of the shards' own), and `summary.md` and `index.html` computed
//! from them as the whole sweep's would be. The failing seeds link to the run directories the
//! shards wrote. It exits as the unsharded sweep would: with the worst of the merged
//! summaries' `exit_code`s (README "Exit codes"), so a CI job that merges shards fails when a
//! shard found a failure.

use super::output::outln;
use anyhow::Context;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `faultline report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub which: Which,
}

/// The report subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Which {
    /// Merge sweep report directories (shards) into one summary.
    Merge(MergeArgs),
}

/// Arguments of `faultline report merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' `sweep --out` directories.
    #[arg(required = true)]
    pub directories: Vec<PathBuf>,
    /// Where to write the merged report.
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty `--out` directory (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    match args.which {
        Which::Merge(args) => merge(args),
    }
}

fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    super::check_out_directory(&args.out, args.force)?;
    let mut records = Vec::new();
    let mut links = BTreeMap::new();
    for directory in &args.directories {
        let path = directory.join("results.jsonl");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (a `sweep --out` directory?)", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a JSON record", path.display(), number + 1))?;
            records.push(record);
        }
        // The shard's run directories: (scenario path, seed) from their results.json.
        let runs = directory.join("runs");
        let Ok(entries) = std::fs::read_dir(&runs) else {
            continue;
        };
        let mut leaves: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        leaves.sort();
        for leaf in leaves {
            let Ok(text) = std::fs::read_to_string(leaf.join("results.json")) else {
                continue;
            };
            let Ok(result) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let (Some(seed), Some(replay)) = (result["seed"].as_u64(), result["replay"].as_str())
            else {
                continue;
            };
            let Some(scenario_path) = replay.split_whitespace().nth(2) else {
                continue;
            };
            let page = std::fs::canonicalize(leaf.join("index.html"))
                .unwrap_or_else(|_| leaf.join("index.html"));
            links.insert(
                (scenario_path.to_string(), seed),
                page.display().to_string(),
            );
        }
    }
    let summary = reports::summary::summarise(&records)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let results = args.out.join("results.jsonl");
    let mut jsonl = String::new();
    // The merge exits as the whole sweep would have: the worst of its scenarios' exit codes.
    let mut exit = super::EXIT_PASS;
    for record in merged_records(&records)? {
        if record["type"] == "summary" {
            let code = record["exit_code"]
                .as_u64()
                .and_then(|c| u8::try_from(c).ok());
            exit = super::worst_exit_code(exit, code.unwrap_or(super::EXIT_PASS));
        }
        jsonl.push_str(&record.to_string());
        jsonl.push('\n');
    }
    std::fs::write(&results, jsonl).with_context(|| format!("writing {}", results.display()))?;
    super::sweep::write_report_pages(&args.out, &summary, &links)?;
    outln!(
        "merged {} directories ({} records): {}",
        args.directories.len(),
        records.len(),
        args.out.join("summary.md").display()
    );
    Ok(exit)
}

/// The whole sweep's records from its shards': per scenario file (in the order the shards name
/// them), its seed records in seed order (a seed two shards ran counts once), then one summary
/// record computed from them as `sweep` computes its own, so the merged `results.jsonl` is the
/// unsharded sweep's but for the wall-clock fields (`wall_ms`, `seed_wall_ms_total`). Under
/// `--fail-fast` each shard stops at its own first failure, so theirs is not the whole range's.
fn merged_records(records: &[Json]) -> anyhow::Result<Vec<Json>> {
    let mut paths: Vec<&str> = Vec::new();
    let mut seeds: BTreeMap<&str, BTreeMap<u64, &Json>> = BTreeMap::new();
    let mut summaries: BTreeMap<&str, Vec<&Json>> = BTreeMap::new();
    for record in records {
        let path = record["path"]
            .as_str()
            .with_context(|| format!("a record without \"path\": {record}"))?;
        if !paths.contains(&path) {
            paths.push(path);
        }
        match record["type"].as_str() {
            Some("seed") => {
                let seed = record["seed"]
                    .as_u64()
                    .with_context(|| format!("a seed record without \"seed\": {record}"))?;
                seeds.entry(path).or_default().entry(seed).or_insert(record);
            }
            Some("summary") => summaries.entry(path).or_default().push(record),
            _ => anyhow::bail!("a record of unknown type: {record}"),
        }
    }
    let mut merged = Vec::new();
    for path in paths {
        let seeds = seeds.remove(path).unwrap_or_default();
        let shards = summaries.remove(path).unwrap_or_default();
        merged.extend(seeds.values().map(|&record| record.clone()));
        merged.push(merged_summary(path, &seeds, &shards)?);
    }
    Ok(merged)
}

/// One scenario's summary record over `seeds`, as `sweep` writes it (`sweep::summarise`).
fn merged_summary(
    path: &str,
    seeds: &BTreeMap<u64, &Json>,
    shards: &[&Json],
) -> anyhow::Result<Json> {
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut marks, mut figures, mut measures) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let (mut events, mut wall_ms, mut exit) = (0u64, 0f64, super::EXIT_PASS);
    let mut first_failure = None;
    for (&seed, record) in seeds {
        let outcome = record["outcome"].as_str().unwrap_or("");
        *outcomes.entry(outcome.to_string()).or_insert(0) += 1;
        exit = super::worst_exit_code(exit, outcome_exit_code(outcome)?);
        if outcome != "pass" && first_failure.is_none() {
            first_failure = Some(seed);
        }
        events += record["events"].as_u64().unwrap_or(0);
        wall_ms += record["wall_ms"].as_f64().unwrap_or(0.0);
        add_counts(&mut marks, &record["marks"]);
        add_counts(&mut figures, &record["figures"]);
        for (name, value) in record["measures"].as_object().into_iter().flatten() {
            let value = value.as_u64().unwrap_or(0);
            let total = measures.entry(name.clone()).or_insert(0u64);
            // As `sweep`: a name ending in `_max` keeps the maximum, any other the sum.
            *total = if name.ends_with("_max") {
                (*total).max(value)
            } else {
                total.saturating_add(value)
            };
        }
    }
    // A mark no seed hit is listed by every shard that ran a seed, in the protocol's order.
    let not_hit: Vec<&str> = shards
        .iter()
        .find(|shard| shard["seeds"].as_u64().is_some_and(|n| n > 0))
        .and_then(|shard| shard["marks_not_hit"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .filter(|mark| !marks.contains_key(*mark))
        .collect();
    // `sweep` states no expectation for a scenario none of whose seeds ran.
    let expect = shards
        .iter()
        .find_map(|shard| shard["expect"].as_str())
        .filter(|_| !seeds.is_empty());
    let expect_met = expect.map(|expect| {
        let count = |names: &[&str]| -> u64 {
            names
                .iter()
                .map(|name| outcomes.get(*name).copied().unwrap_or(0))
                .sum()
        };
        match expect {
            "Pass" => count(&["pass"]) == seeds.len() as u64,
            "LivenessFailure" => count(&["liveness-failure"]) > 0,
            _ => count(&["safety-violation", "panic"]) > 0,
        }
    });
    if expect_met == Some(false) {
        exit = crate::expectation::exit_code(false, exit);
    }
    let scenario = seeds
        .values()
        .map(|record| &record["scenario"])
        .chain(shards.iter().map(|shard| &shard["scenario"]))
        .find_map(Json::as_str)
        .unwrap_or("");
    let mut summary = serde_json::json!({
        "version": 1,
        "type": "summary",
        "scenario": scenario,
        "path": path,
        "seeds": seeds.len(),
        "outcomes": outcomes,
        "first_failing_seed": first_failure,
        "events": events,
        "seed_wall_ms_total": wall_ms,
        "marks": marks,
        "marks_not_hit": not_hit,
        "figures": figures,
        "expect": expect,
        "expect_met": expect_met,
        "exit_code": exit,
    });
    if !measures.is_empty() {
        summary["measures"] = serde_json::json!(measures);
    }
    Ok(summary)
}

/// Adds a record's `{name: count}` object into `totals`.
fn add_counts(totals: &mut BTreeMap<String, u64>, counts: &Json) {
    for (name, value) in counts.as_object().into_iter().flatten() {
        *totals.entry(name.clone()).or_insert(0) += value.as_u64().unwrap_or(0);
    }
}

/// The exit code of a seed record's `outcome` (`Outcome::exit_code`; a determinism mismatch
/// is 5).
fn outcome_exit_code(outcome: &str) -> anyhow::Result<u8> {
    Ok(match outcome {
        "pass" => super::EXIT_PASS,
        "safety-violation" | "panic" => super::EXIT_VIOLATION,
        "limit-hit" | "inconclusive" => super::EXIT_INCONCLUSIVE,
        "liveness-failure" => super::EXIT_LIVENESS,
        "nondeterministic" => super::EXIT_NONDETERMINISM,
        other => anyhow::bail!("a seed record with an unknown outcome {other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Outcome;

    #[test]
    fn outcome_names_give_the_runs_own_exit_codes() {
        let message = || "x".to_string();
        for outcome in [
            Outcome::Pass,
            Outcome::SafetyViolation {
                source: message(),
                message: message(),
            },
            Outcome::Panic { message: message() },
            Outcome::LimitHit { message: message() },
            Outcome::LivenessFailure { message: message() },
            Outcome::Inconclusive { message: message() },
        ] {
            assert_eq!(
                outcome_exit_code(outcome.name()).unwrap(),
                outcome.exit_code()
            );
        }
        assert!(outcome_exit_code("passed").is_err());
    }
}
