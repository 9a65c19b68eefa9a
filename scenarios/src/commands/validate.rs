//! `faultline validate SCENARIO...`: parse and validate scenario files without running them.
//!
//! Prints `ok <path>` on stdout for each valid file and the located error
//! (`file:line:column: message` or `file: field.path: message`) on stderr for each invalid one.
//! Exits 0 when every file is valid, 2 otherwise. Every file is checked even after a failure.

use super::output::{errln, outln};
use crate::commands::{EXIT_INPUT_ERROR, EXIT_PASS};
use crate::scenario::Scenario;
use std::path::PathBuf;

/// Arguments of `faultline validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario files to check.
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
}

/// Runs the command.
///
/// # Errors
/// None: invalid scenarios are reported and turn into exit code 2; output goes through
/// [`super::output`] (a closed pipe stops the printing, not the checking).
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let mut code = EXIT_PASS;
    for path in &args.scenarios {
        match Scenario::from_file(path) {
            Ok(scenario) => {
                outln!("ok {}", path.display());
                for warning in crate::budget::size_warnings(&scenario) {
                    errln!("warning: {}: {warning}", path.display());
                }
            }
            Err(error) => {
                code = EXIT_INPUT_ERROR;
                errln!("{error}");
            }
        }
    }
    Ok(code)
}
