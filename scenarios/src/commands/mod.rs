//! One module per `faultline` subcommand. Each owns its clap `Args` and an
//! `execute(args) -> anyhow::Result<u8>` returning the process exit code; an `Err` is reported
//! by `main` as `error: …` with exit code 2.

mod atomic;
pub mod bench;
pub mod bench_checker;
pub mod bench_scenario;
pub mod check;
pub mod compare;
pub mod explore;
pub mod list;
pub mod output;
pub mod progress;
pub mod replay;
pub mod report;
pub mod rss;
pub mod run;
pub mod shrink;
pub mod sweep;
pub mod validate;

use crate::scenario::Scenario;
use std::path::Path;

/// Loads and validates a scenario file, then switches on the `--bug` flags.
///
/// # Errors
/// The located scenario error, or an unknown bug / a bug of another protocol.
pub fn load_scenario(path: &Path, bugs: &[String]) -> anyhow::Result<Scenario> {
    let mut scenario = Scenario::from_file(path).map_err(|error| anyhow::anyhow!("{error}"))?;
    for name in bugs {
        let (bug, _) = protocols::registry::bug_by_name(name).ok_or_else(|| {
            let known: Vec<&str> = protocols::registry::all_bugs()
                .iter()
                .map(|(bug, _)| bug.name())
                .collect();
            anyhow::anyhow!(
                "--bug {name}: unknown bug; expected one of {}",
                known.join(", ")
            )
        })?;
        crate::scenario::bug_applies(bug, &scenario.protocol, &scenario.app)
            .map_err(|message| anyhow::anyhow!("--bug {name}: {}: {message}", path.display()))?;
        scenario.bugs.insert(bug);
    }
    crate::runner::supported(&scenario)?;
    for warning in crate::budget::size_warnings(&scenario) {
        output::errln!("warning: {}: {warning}", path.display());
    }
    Ok(scenario)
}

/// Refuses an `--out` directory that already holds files (an earlier run's report would mix
/// with this one's) unless `force`; a missing or empty directory is fine. Called before the
/// work starts, so a refusal costs nothing.
///
/// # Errors
/// The directory is not empty (without `force`), or the path is a file.
pub fn check_out_directory(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.is_file() {
        anyhow::bail!("--out {}: is a file; expected a directory", out.display());
    }
    let not_empty = std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some());
    if not_empty && !force {
        anyhow::bail!(
            "--out {}: the directory is not empty; give a new directory, or --force to write \
             into it (files of the same name are replaced, others stay)",
            out.display()
        );
    }
    Ok(())
}

pub use crate::exit::{
    worst_exit_code, EXIT_INCONCLUSIVE, EXIT_INPUT_ERROR, EXIT_LIVENESS, EXIT_NONDETERMINISM,
    EXIT_PASS, EXIT_VIOLATION,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_exit_code_follows_the_contract() {
        assert_eq!(
            worst_exit_code(EXIT_PASS, EXIT_INCONCLUSIVE),
            EXIT_INCONCLUSIVE
        );
        assert_eq!(
            worst_exit_code(EXIT_LIVENESS, EXIT_INCONCLUSIVE),
            EXIT_LIVENESS
        );
        assert_eq!(
            worst_exit_code(EXIT_LIVENESS, EXIT_NONDETERMINISM),
            EXIT_NONDETERMINISM
        );
        assert_eq!(
            worst_exit_code(EXIT_VIOLATION, EXIT_NONDETERMINISM),
            EXIT_VIOLATION
        );
        assert_eq!(worst_exit_code(EXIT_PASS, EXIT_PASS), EXIT_PASS);
    }
}
