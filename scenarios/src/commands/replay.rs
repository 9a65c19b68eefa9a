//! `faultline replay SCENARIO --seed N [--trace] [--out DIR]`: the same run, bit for bit, with
//! its full event trace on request.

use super::output::outln;
use crate::runner::{replay_line, run, RunOptions};
use std::path::PathBuf;

/// Arguments of `faultline replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed to replay.
    #[arg(long, env = "FAULTLINE_SEED")]
    pub seed: u64,
    /// Print every event in a readable form (and write `trace.log` with `--out`).
    #[arg(long)]
    pub trace: bool,
    /// Write a run directory here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a non-empty `--out` directory (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
    /// Switch on a classic bug; repeatable.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenario = super::load_scenario(&args.scenario, &args.bugs)?;
    if let Some(out) = &args.out {
        super::check_out_directory(out, args.force)?;
    }
    // Observations are kept only when a run directory (with its report) is written.
    let options = match &args.out {
        Some(_) => super::run::report_options(args.trace),
        None => RunOptions {
            trace: args.trace,
            ..RunOptions::default()
        },
    };
    let label = format!("{} seed {}", scenario.name, args.seed);
    let report = super::progress::while_running(label, || run(&scenario, args.seed, &options))?;
    let replay = replay_line(&args.scenario.display().to_string(), args.seed, &args.bugs);
    if args.trace {
        for line in &report.trace {
            outln!("{line}");
        }
    }
    if let Some(out) = &args.out {
        let trace = args.trace.then_some(report.trace.as_slice());
        super::run::write_run_directory(out, &scenario, &report, &replay, trace)?;
        outln!("run directory: {}", out.display());
    }
    super::run::print_summary(&report, &replay);
    let expect = crate::expectation::in_force(&scenario, &args.bugs);
    let (code, unmet) = crate::expectation::for_run(expect, &report.outcome);
    if let Some(line) = unmet {
        outln!("{line}");
    }
    Ok(code)
}
