//! `faultline bench`: built-in benchmarks (kernel, checker, scenario).
//!
//! Benchmarks measure; they never fail on a slow machine. The kernel benchmark runs
//! (a) ping-pong between two nodes and (b) all-to-all gossip among five nodes with the network
//! model on (1–10 ms latency, 1% loss, 0.5% duplication, 1% reordering spikes), each for a
//! fixed number of delivered messages, and reports events/s, delivered messages/s and the
//! ratio of simulated to wall-clock time. `bench checker` and `bench scenario` live in their
//! own modules.

use super::output::outln;
use super::rss::peak_rss_mib;
use sim_core::client::RegisterWorkload;
use sim_core::faults::FaultPlan;
use sim_core::history::Function;
use sim_core::network::NetworkConfig;
use sim_core::node::{NoInvariants, Node};
use sim_core::prng::Ratio;
use sim_core::simulation::{SimConfig, SimReport, Simulation};
use sim_core::testkit::{Gossip, GossipConfig, PingPong};
use sim_core::time::Duration;

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
        /// Delivered messages per benchmark.
        #[arg(long, default_value_t = 20_000_000)]
        messages: u64,
    },
    /// The linearizability checker over the conformance corpus.
    Checker(super::bench_checker::Args),
    /// One scenario swept over seeds: seeds/s, events/s, simulated/wall, checker share.
    Scenario(super::bench_scenario::Args),
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    match args.which {
        Which::Kernel { json, messages } => bench_kernel(json, messages),
        Which::Checker(args) => super::bench_checker::execute(args),
        Which::Scenario(args) => super::bench_scenario::execute(args),
    }
}

/// One benchmark's figures.
#[derive(serde::Serialize)]
struct KernelFigures {
    name: &'static str,
    events: u64,
    messages_delivered: u64,
    wall_s: f64,
    events_per_sec: f64,
    messages_per_sec: f64,
    simulated_s: f64,
    sim_wall_ratio: f64,
    digest: String,
    peak_rss_mib: f64,
}

fn measure<N: Node>(
    name: &'static str,
    config: SimConfig,
    node_config: N::Config,
) -> KernelFigures {
    let workload = Box::new(RegisterWorkload::new(vec![(Function::Read, 1)], None, 0));
    let simulation = Simulation::<N>::new(
        config,
        node_config,
        workload,
        Box::new(NoInvariants),
        FaultPlan::default(),
    );
    // Wall-clock time is what a benchmark measures; it never feeds a simulation.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let report: SimReport = simulation.run();
    let wall_s = started.elapsed().as_secs_f64();
    let simulated_s = report.end_time.as_nanos() as f64 / 1e9;
    KernelFigures {
        name,
        events: report.stats.events,
        messages_delivered: report.stats.messages_delivered,
        wall_s,
        events_per_sec: report.stats.events as f64 / wall_s,
        messages_per_sec: report.stats.messages_delivered as f64 / wall_s,
        simulated_s,
        sim_wall_ratio: simulated_s / wall_s,
        digest: sim_core::trace::format_digest(report.digest),
        peak_rss_mib: peak_rss_mib(),
    }
}

fn bench_kernel(json: bool, messages: u64) -> anyhow::Result<u8> {
    anyhow::ensure!(messages >= 10, "--messages must be at least 10");
    let mut ping = SimConfig::new(1, 2);
    ping.clients.count = 0;
    ping.recovery = Duration::ZERO;
    ping.duration = Duration::from_secs(1_000_000_000);
    ping.limits.max_events = u64::MAX;

    let mut gossip = ping.clone();
    gossip.node_count = 5;
    gossip.network = NetworkConfig {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(10),
        loss: Ratio::from_percent(1),
        duplicate: Ratio::from_ppm(5_000),
        reorder: Ratio::from_percent(1),
    };
    let gossip_config = GossipConfig {
        per_node_limit: messages / 5,
        period: Duration::from_millis(50),
    };

    let results = [
        measure::<PingPong>("kernel/ping-pong", ping, messages),
        measure::<Gossip>("kernel/gossip-5-lossy", gossip, gossip_config),
    ];
    if json {
        for figures in &results {
            outln!("{}", serde_json::to_string(figures)?);
        }
    } else {
        outln!(
            "{:<24} {:>12} {:>12} {:>8} {:>14} {:>14} {:>12}",
            "benchmark",
            "events",
            "delivered",
            "wall s",
            "events/s",
            "messages/s",
            "sim/wall"
        );
        for f in &results {
            outln!(
                "{:<24} {:>12} {:>12} {:>8.3} {:>14.0} {:>14.0} {:>12.0}",
                f.name,
                f.events,
                f.messages_delivered,
                f.wall_s,
                f.events_per_sec,
                f.messages_per_sec,
                f.sim_wall_ratio
            );
        }
        outln!("peak memory: {:.1} MiB", peak_rss_mib());
    }
    Ok(super::EXIT_PASS)
}
