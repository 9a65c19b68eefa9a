//! `faultline bench`: built-in benchmarks (kernel, checker, scenario).

/// Arguments of `faultline bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// The simulation kernel: ping-pong and 5-node gossip.
    Kernel {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The linearizability checker over the conformance corpus.
    Checker(super::bench_checker::Args),
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    match args.which {
        Which::Kernel { json } => {
            let _ = json;
            anyhow::bail!("`faultline bench kernel` is not implemented yet")
        }
        Which::Checker(args) => super::bench_checker::execute(args),
    }
}
