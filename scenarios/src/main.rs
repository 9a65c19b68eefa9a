//! `faultline`: the command line. Policy and I/O live here and in `scenarios::commands`; the
//! logic lives in the libraries.

use clap::{Parser, Subcommand};
use scenarios::commands::{self, output};
use std::process::ExitCode;

/// faultline: a deterministic simulation testbed for consistency protocols.
#[derive(Parser)]
#[command(name = "faultline", version, propagate_version = true)]
#[command(about = "faultline: a deterministic simulation testbed for consistency protocols")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one seed of a scenario and write a run directory.
    Run(commands::run::Args),
    /// Run many seeds of one or more scenarios in parallel.
    Sweep(commands::sweep::Args),
    /// Re-run one seed exactly, optionally printing every event.
    Replay(commands::replay::Args),
    /// Shrink a failing seed to a minimal scripted scenario.
    Shrink(commands::shrink::Args),
    /// Run scenarios side by side on the same seeds under the same faults.
    Compare(commands::compare::Args),
    /// Sweep reports: merge shard outputs into one summary.
    Report(commands::report::Args),
    /// Check a history file for linearizability.
    Check(commands::check::Args),
    /// Parse and validate scenario files only.
    Validate(commands::validate::Args),
    /// List protocols, applications, fault kinds, defaults, bugs and checker models.
    List(commands::list::Args),
    /// Built-in benchmarks.
    Bench(commands::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::execute(args),
        Command::Sweep(args) => commands::sweep::execute(args),
        Command::Replay(args) => commands::replay::execute(args),
        Command::Shrink(args) => commands::shrink::execute(args),
        Command::Compare(args) => commands::compare::execute(args),
        Command::Report(args) => commands::report::execute(args),
        Command::Check(args) => commands::check::execute(args),
        Command::Validate(args) => commands::validate::execute(args),
        Command::List(args) => commands::list::execute(args),
        Command::Bench(args) => commands::bench::execute(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            output::write_stderr(format_args!("error: {error:#}\n"));
            commands::EXIT_INPUT_ERROR
        }
    };
    // The command's output is incomplete: a closed pipe is not counted (`faultline ... | head`
    // keeps the command's own exit code), any other failed write to stdout is an I/O error.
    if let Some(error) = output::stdout_failure() {
        output::write_stderr(format_args!("error: writing to stdout: {error}\n"));
        return ExitCode::from(commands::EXIT_INPUT_ERROR);
    }
    ExitCode::from(code)
}
