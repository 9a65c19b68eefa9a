//! `faultline validate SCENARIO...`: parse and validate scenario files without running them.
//!
//! Prints `ok <path>` on stdout for each valid file and the located error
//! (`file:line:column: message` or `file: field.path: message`) on stderr for each invalid one.
//! Exits 0 when every file is valid, 2 otherwise. Every file is checked even after a failure.

use crate::commands::{EXIT_INPUT_ERROR, EXIT_PASS};
use crate::scenario::Scenario;
use std::io::Write;
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
/// None in practice: invalid scenarios are reported and turn into exit code 2. A failure to
/// write to stdout (other than a closed pipe) is returned.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let mut code = EXIT_PASS;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.scenarios {
        match Scenario::from_file(path) {
            Ok(_) => {
                if let Err(error) = writeln!(out, "ok {}", path.display()) {
                    // A closed pipe (`faultline validate ... | head`) is not a failure.
                    if error.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(code);
                    }
                    return Err(error.into());
                }
            }
            Err(error) => {
                code = EXIT_INPUT_ERROR;
                eprintln!("{error}");
            }
        }
    }
    Ok(code)
}
