//! `faultline check` (under construction).

/// Arguments of `faultline check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remaining arguments (not yet interpreted).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Runs the command.
pub fn execute(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`faultline check` is not implemented yet")
}
