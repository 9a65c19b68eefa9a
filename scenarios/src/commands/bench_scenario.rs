//! `faultline bench scenario SCENARIO [--seeds A..B | --count N] [--jobs J] [--json]`: how fast
//! a scenario sweeps.
//!
//! Two passes over the same seeds, both on `--jobs` threads:
//!
//! 1. **Throughput**: the seeds run exactly as `sweep` runs them (simulation and checker);
//!    seeds/s, events/s and simulated/wall time come from this pass's wall-clock time.
//! 2. **Checker share**: each seed runs again under a stopwatch, then its history goes through
//!    the linearizability checker once more under a second stopwatch. The share is the sum of
//!    the second over the sum of the first (the runner checks every history once, so a run's
//!    time includes one check). The re-check's verdict must equal the run's; a difference means
//!    this benchmark no longer checks the way the runner does, and is reported.
//!
//! Benchmarks measure; they never fail on a slow machine, and failing seeds are counted, not
//! treated as errors.

use super::output::{errln, outln};
use crate::runner::{run, RunOptions};
use rayon::prelude::*;
use sim_core::check::check_events;
use std::path::PathBuf;

/// Arguments of `faultline bench scenario`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Seed range `A..B` (B exclusive).
    #[arg(long, conflicts_with = "count", value_parser = super::sweep::parse_range)]
    pub seeds: Option<(u64, u64)>,
    /// Number of seeds, starting at 0.
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Worker threads (default: every core).
    #[arg(long, env = "FAULTLINE_JOBS")]
    pub jobs: Option<usize>,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Switch on a classic bug; repeatable.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Pass 1 also does what `run --out` adds to a run: keep the observations and render the
    /// report (`index.html`, `history.edn`) in memory. Compare with and without it to measure
    /// the report's overhead.
    #[arg(long)]
    pub with_report: bool,
}

/// The figures of one scenario benchmark (one JSON line with `--json`).
#[derive(Debug, serde::Serialize)]
pub struct ScenarioFigures {
    /// `scenario/<name>`.
    pub name: String,
    /// The scenario file.
    pub path: String,
    /// Seeds run per pass.
    pub seeds: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Seeds whose outcome was not a pass.
    pub failing_seeds: u64,
    /// Events processed over all seeds (pass 1).
    pub events: u64,
    /// Wall-clock time of pass 1.
    pub wall_s: f64,
    /// Seeds per wall-clock second (pass 1).
    pub seeds_per_sec: f64,
    /// Events per wall-clock second (pass 1).
    pub events_per_sec: f64,
    /// Simulated time over all seeds.
    pub simulated_s: f64,
    /// Simulated seconds per wall-clock second (pass 1, all threads together).
    pub sim_wall_ratio: f64,
    /// Sum of the seeds' run times in pass 2 (simulation plus the runner's check).
    pub run_wall_s: f64,
    /// Sum of the seeds' re-check times in pass 2.
    pub check_wall_s: f64,
    /// `check_wall_s / run_wall_s`: the checker's share of a run's time.
    pub check_share: f64,
    /// Seeds whose re-check verdict differed from the run's (should be 0).
    pub check_mismatches: u64,
    /// Peak resident memory of the process, in MiB.
    pub peak_rss_mib: f64,
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenario = super::load_scenario(&args.scenario, &args.bugs)?;
    let (start, end) = match args.seeds {
        Some(range) => range,
        None => {
            anyhow::ensure!(args.count >= 1, "--count must be at least 1");
            (0, args.count)
        }
    };
    let (jobs, pool) = super::sweep::seed_pool(args.jobs)?;

    let path = args.scenario.display().to_string();
    // Pass 1: throughput. Per seed: (events, simulated ns, failed).
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let pass1: Vec<(u64, u64, bool)> = pool.install(|| {
        (start..end)
            .into_par_iter()
            .map(|seed| {
                let options = if args.with_report {
                    super::run::report_options(false)
                } else {
                    RunOptions::default()
                };
                let report = run(&scenario, seed, &options).expect("checked by load_scenario");
                if args.with_report {
                    let replay = crate::runner::replay_line(&path, seed, &args.bugs);
                    let resolved = scenario.to_ron_with_script(&report.plan);
                    let page = super::run::run_page(&scenario, &report, &replay, &resolved, false);
                    let edn = reports::edn::history_edn(&report.history);
                    std::hint::black_box((page, edn));
                }
                (
                    report.events,
                    report.simulated_nanos,
                    report.outcome.is_failure(),
                )
            })
            .collect()
    });
    let wall_s = started.elapsed().as_secs_f64();

    // Pass 2: the checker's share. Per seed: (run s, re-check s, verdicts differ).
    let (model, options) = crate::runner::check_setup(&scenario.app);
    let pass2: Vec<(f64, f64, bool)> = pool.install(|| {
        (start..end)
            .into_par_iter()
            .map(|seed| {
                #[allow(clippy::disallowed_methods)]
                let run_started = std::time::Instant::now();
                let report =
                    run(&scenario, seed, &RunOptions::default()).expect("checked by load_scenario");
                let run_s = run_started.elapsed().as_secs_f64();
                #[allow(clippy::disallowed_methods)]
                let check_started = std::time::Instant::now();
                let verdict = check_events(&report.history, model, &options)
                    .ok()
                    .map(|result| result.verdict);
                let check_s = check_started.elapsed().as_secs_f64();
                // A run whose history is not judged (sagas) has no verdict to compare.
                let mismatch = report.check.is_some()
                    && verdict != report.check.as_ref().map(|result| result.verdict);
                (run_s, check_s, mismatch)
            })
            .collect()
    });

    let seeds = end - start;
    let events: u64 = pass1.iter().map(|p| p.0).sum();
    let simulated_s = pass1.iter().map(|p| p.1 as f64).sum::<f64>() / 1e9;
    let run_wall_s: f64 = pass2.iter().map(|p| p.0).sum();
    let check_wall_s: f64 = pass2.iter().map(|p| p.1).sum();
    let figures = ScenarioFigures {
        name: format!("scenario/{}", scenario.name),
        path: args.scenario.display().to_string(),
        seeds,
        jobs,
        failing_seeds: pass1.iter().filter(|p| p.2).count() as u64,
        events,
        wall_s,
        seeds_per_sec: seeds as f64 / wall_s,
        events_per_sec: events as f64 / wall_s,
        simulated_s,
        sim_wall_ratio: simulated_s / wall_s,
        run_wall_s,
        check_wall_s,
        check_share: if run_wall_s > 0.0 {
            check_wall_s / run_wall_s
        } else {
            0.0
        },
        check_mismatches: pass2.iter().filter(|p| p.2).count() as u64,
        peak_rss_mib: super::rss::peak_rss_mib(),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&figures)?);
    } else {
        print_table(&figures);
    }
    if figures.check_mismatches > 0 {
        errln!(
            "warning: {} seeds re-checked to a different verdict: the benchmark's check no \
             longer matches the runner's",
            figures.check_mismatches
        );
    }
    Ok(super::EXIT_PASS)
}

fn print_table(f: &ScenarioFigures) {
    outln!(
        "{} ({}): {} seeds on {} jobs, {} failing",
        f.name,
        f.path,
        f.seeds,
        f.jobs,
        f.failing_seeds
    );
    outln!(
        "{:>10} {:>10} {:>14} {:>12} {:>12} {:>10}",
        "wall s",
        "seeds/s",
        "events/s",
        "events",
        "sim/wall",
        "check %"
    );
    outln!(
        "{:>10.3} {:>10.1} {:>14.0} {:>12} {:>12.1} {:>10.1}",
        f.wall_s,
        f.seeds_per_sec,
        f.events_per_sec,
        f.events,
        f.sim_wall_ratio,
        f.check_share * 100.0
    );
    outln!("peak memory: {:.1} MiB", f.peak_rss_mib);
}
