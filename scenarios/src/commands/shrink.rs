//! `faultline shrink SCENARIO --seed N [--bug NAME]... [-o FILE] [--max-runs N] [--max-time D]`:
//! a failing seed cut down to a small scripted scenario that fails the same way (see
//! [`crate::shrink`]), written as commented RON, with its robustness over 100 seeds.

use super::output::outln;
use crate::runner::replay_line;
use crate::shrink::{robustness, script, shrink, Options, Progress};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Seeds of the shrunk file run for its robustness figure.
pub const ROBUSTNESS_SEEDS: u64 = 100;

/// Arguments of `faultline shrink`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The failing seed.
    #[arg(long, env = "FAULTLINE_SEED")]
    pub seed: u64,
    /// Switch on a classic bug (see `faultline list`); repeatable. The shrunk file names it.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Where to write the shrunk scenario (default `<name>-s<seed>-shrunk.ron` here).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop after this many candidate runs.
    #[arg(long, default_value_t = 20_000)]
    pub max_runs: u64,
    /// Stop after this much wall time, e.g. `50s` or `2m`; the result then depends on the
    /// machine's speed, which the output says.
    #[arg(long, default_value = "40s")]
    pub max_time: String,
    /// Seeds a candidate may fail with: the failing seed, then the seeds after the original one.
    /// With more than one, the shrunk file may fail with another seed (its replay line says
    /// which).
    #[arg(long, default_value_t = 8)]
    pub seeds_per_candidate: u64,
    /// Worker threads (default every core); the result does not depend on it.
    #[arg(long, env = "FAULTLINE_JOBS")]
    pub jobs: Option<usize>,
}

/// Runs the command: 0 when a shrunk file was written.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenario = super::load_scenario(&args.scenario, &args.bugs)?;
    let max_time = sim_core::time::Duration::parse(&args.max_time)
        .map_err(|message| anyhow::anyhow!("--max-time {}: {message}", args.max_time))?;
    let options = Options {
        max_runs: args.max_runs,
        max_time: Some(std::time::Duration::from_nanos(max_time.as_nanos())),
        seeds_per_candidate: args.seeds_per_candidate,
    };
    let (_, pool) = super::sweep::seed_pool(args.jobs)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}")
                .expect("a valid template"),
        );
        bar
    });
    let show = |progress: &Progress| {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{} runs tried, {} fault events left ({})",
                progress.runs, progress.events_left, progress.pass
            ));
            bar.tick();
        }
    };
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let shrunk = pool.install(|| shrink(&scenario, args.seed, &options, &show));
    let shrunk = match shrunk {
        Ok(shrunk) => shrunk,
        Err(error) => {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            anyhow::bail!("{}: {error}", args.scenario.display());
        }
    };
    let shrink_seconds = started.elapsed().as_secs_f64();
    if let Some(bar) = &bar {
        bar.set_message(format!(
            "robustness: {ROBUSTNESS_SEEDS} seeds of the shrunk file"
        ));
    }
    let robust =
        pool.install(|| robustness(&shrunk.scenario, &shrunk.failure, 0..ROBUSTNESS_SEEDS));
    let robust_unpinned = if shrunk.unpinned == shrunk.scenario {
        robust
    } else {
        pool.install(|| robustness(&shrunk.unpinned, &shrunk.failure, 0..ROBUSTNESS_SEEDS))
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.ron", shrunk.scenario.name)));
    let replay = replay_line(&output.display().to_string(), shrunk.seed, &[]);
    let original_replay = replay_line(&args.scenario.display().to_string(), args.seed, &args.bugs);
    let mut header = vec![
        format!(
            "Shrunk from seed {} of {} by `faultline shrink`.",
            args.seed,
            args.scenario.display()
        ),
        format!("The failure kept: {}.", shrunk.failure),
    ];
    if let Some(message) = shrunk.outcome.message() {
        header.push(format!(
            "This file's run: {}",
            message.lines().next().unwrap_or("")
        ));
    }
    header.extend([
        format!("Before: {}.", shrunk.before),
        format!("After:  {}.", shrunk.after),
        format!(
            "{} runs tried{}; {robust} of seeds 0..{ROBUSTNESS_SEEDS} of this file fail the same way ({robust_unpinned} before pinning {} messages and steadier timing).",
            shrunk.runs,
            if shrunk.budget_spent { " (budget spent)" } else { "" },
            shrunk.pinned
        ),
        format!("Replay: {replay}"),
        format!("The original: {original_replay}"),
    ]);
    let text = script::commented_ron(
        &shrunk.scenario,
        match &shrunk.scenario.faults {
            crate::scenario::FaultSpec::Script(plan) => plan,
            _ => unreachable!("a shrunk scenario is scripted"),
        },
        &header,
    );
    std::fs::write(&output, text).with_context(|| format!("writing {}", output.display()))?;
    outln!("failure kept: {}", shrunk.failure);
    outln!("before: {}", shrunk.before);
    outln!("after:  {}", shrunk.after);
    outln!(
        "runs tried: {} in {:.1}s{}",
        shrunk.runs,
        shrink_seconds,
        if shrunk.budget_spent {
            " (budget spent: a larger --max-runs or --max-time may shrink further)"
        } else {
            ""
        }
    );
    outln!(
        "robustness: {robust} of {ROBUSTNESS_SEEDS} seeds (0..{ROBUSTNESS_SEEDS}) of the shrunk file fail the same way"
    );
    outln!(
        "before the second stage: {robust_unpinned} of {ROBUSTNESS_SEEDS} seeds ({} messages pinned, then steadier timing)",
        shrunk.pinned
    );
    outln!("wrote {}", output.display());
    outln!("{replay}");
    Ok(crate::exit::EXIT_PASS)
}
