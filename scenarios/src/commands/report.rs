//! `faultline report merge DIR... --out DIR`: merges the report directories of sweep shards
//! (`sweep --shard M/N --out DIR` on a Slurm array, a Kubernetes indexed Job or a CI matrix)
//! into one: `results.jsonl` (the shards' records, concatenated), and `summary.md` and
//! `index.html` computed from them as the whole sweep's would be. The failing seeds link to the
//! run directories the shards wrote.

use super::output::outln;
use anyhow::Context;
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
    let mut jsonl = String::new();
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
            jsonl.push_str(line);
            jsonl.push('\n');
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
    std::fs::write(&results, jsonl).with_context(|| format!("writing {}", results.display()))?;
    super::sweep::write_report_pages(&args.out, &summary, &links)?;
    outln!(
        "merged {} directories ({} records): {}",
        args.directories.len(),
        records.len(),
        args.out.join("summary.md").display()
    );
    Ok(super::EXIT_PASS)
}
