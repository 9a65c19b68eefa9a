//! Randomised runs of Multi-Paxos, in two harnesses:
//!
//! - hand-driven schedules: random deliveries, losses, duplicates, timeouts, heartbeats,
//!   crashes, restarts, cuts, clock jumps and client requests, with every invariant checked
//!   after every step, and a liveness tail (heal, restart everyone, elect, write) that must end
//!   with an answered write;
//! - whole runs of the simulator with generated fault plans (partitions, crashes with power
//!   loss, pauses, clock jumps and drift within the configured bound) and the kv workload,
//!   whose histories must be linearizable, in both read modes.
//!
//! The correct protocol must pass every seed; a smoke test shows random runs reach a mutant.

mod paxos_support;

use paxos_support::*;
use protocols::apps::kv::Kv;
use protocols::mutation::Bug;
use protocols::paxos::{PaxosInvariants, PaxosNode, ReadMode, Timer};
use sim_core::check::{check_events, CheckOptions, Model, Verdict};
use sim_core::client::{ClientConfig, RegisterWorkload};
use sim_core::faults::{generate, FaultKind, PartitionShape, RandomFaults};
use sim_core::history::{Function, Value as Datum};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::network::NetworkConfig;
use sim_core::node::Violation;
use sim_core::prng::{Prng, Ratio, Stream};
use sim_core::simulation::{SimConfig, Simulation, StopReason};
use sim_core::time::Duration;

/// Steps of one hand-driven schedule.
const SCHEDULE_STEPS: usize = 300;

/// A uniformly chosen message on the wire, if any.
fn pick(cluster: &PaxosCluster, rng: &mut Prng) -> Option<protocols::paxos::harness::Envelope> {
    let count = cluster.wire().count();
    (count > 0).then(|| {
        cluster
            .wire()
            .nth(rng.index(count))
            .expect("in range")
            .clone()
    })
}

fn random_operation(rng: &mut Prng, request: u64) -> sim_core::node::Operation {
    match rng.below(4) {
        0 => get(),
        1 => op(
            Function::Cas,
            Datum::pair(rng.below(3) as i64, request as i64),
        ),
        _ => put(request as i64),
    }
}

/// One hand-driven schedule; returns the first violation.
fn hand_schedule(seed: u64, read_mode: ReadMode, bugs: &[Bug]) -> Option<Violation> {
    let size = if seed % 3 == 0 { 5 } else { 3 };
    let mut cluster = PaxosCluster::new(size, paxos_config(bugs, read_mode), seed);
    let mut rng = Prng::new(seed, Stream::Custom(1));
    let mut request = 0u64;
    for _ in 0..SCHEDULE_STEPS {
        if cluster.violation().is_some() {
            break;
        }
        let node = NodeId(rng.below(u64::from(size)) as u32);
        let up = cluster.is_up(node);
        match rng.below(100) {
            0..=49 => {
                if let Some(envelope) = pick(&cluster, &mut rng) {
                    cluster.deliver_where(|e| *e == envelope);
                }
            }
            50..=54 => {
                if let Some(envelope) = pick(&cluster, &mut rng) {
                    cluster.drop_where(|e| *e == envelope);
                }
            }
            55..=57 => {
                if let Some(envelope) = pick(&cluster, &mut rng) {
                    cluster.put_back(vec![envelope]);
                }
            }
            58..=65 if up => {
                cluster.fire_where(node, |t| matches!(t, Timer::LeaderTimeout { .. }));
            }
            66..=75 if up => {
                cluster.fire_where(node, |t| matches!(t, Timer::Heartbeat { .. }));
            }
            76..=79 if up => cluster.crash(node),
            76..=79 => cluster.restart(node),
            80..=81 => cluster.isolate(node),
            82..=83 => cluster.heal(),
            84..=85 => {
                let jump = rng.range_inclusive(0, 400_000_000) as i64 - 200_000_000;
                cluster.step_clock(node, jump);
            }
            86..=99 if up => {
                request += 1;
                let client = ClientId(rng.below(3) as u32);
                let operation = random_operation(&mut rng, request);
                cluster.request(node, client, RequestId(request), operation);
            }
            _ => {}
        }
        cluster.advance(Duration::from_millis(rng.range_inclusive(0, 10)));
    }
    if cluster.violation().is_none() && bugs.is_empty() {
        liveness_tail(&mut cluster, seed);
    }
    cluster.violation().cloned()
}

/// Heals everything and lets any lease run out; then some replica must lead and answer a
/// write within a few rounds of timeouts.
fn liveness_tail(cluster: &mut PaxosCluster, seed: u64) {
    cluster.heal();
    let replicas: Vec<NodeId> = (0..cluster.size()).map(NodeId).collect();
    for &id in &replicas {
        if !cluster.is_up(id) {
            cluster.restart(id);
        }
    }
    cluster.deliver_all();
    let final_request = RequestId(1_000_000);
    for round in 0..4 * replicas.len() {
        // Longer than any lease or restart wait.
        cluster.advance(Duration::from_millis(200));
        if let Some(&leader) = cluster.leaders().last() {
            cluster.request(leader, ClientId(7), final_request, put(-1));
            for _ in 0..3 {
                cluster.deliver_all();
                if cluster.node(leader).is_leader() {
                    cluster.heartbeat(leader);
                }
            }
            cluster.deliver_all();
            if cluster.reply_to(final_request).is_some() || cluster.violation().is_some() {
                return;
            }
        }
        let candidate = replicas[round % replicas.len()];
        if cluster.fire_where(candidate, |t| matches!(t, Timer::LeaderTimeout { .. })) {
            cluster.deliver_all();
        }
    }
    panic!("seed {seed}: no write answered after healing");
}

#[test]
fn paxos_hand_schedules_keep_every_invariant_and_recover() {
    for seed in 0..400 {
        for read_mode in [ReadMode::Log, ReadMode::Lease] {
            if let Some(violation) = hand_schedule(seed, read_mode, &[]) {
                panic!("seed {seed} {read_mode:?}: {violation}");
            }
        }
    }
}

/// Not a kill proof (the directed tests are), but random hand schedules reach the agreement
/// mutants.
#[test]
fn paxos_hand_schedules_find_agreement_mutants() {
    for bug in [
        protocols::paxos::bugs::ACCEPT_IGNORES_PROMISE,
        protocols::paxos::bugs::IGNORE_ACCEPTED_VALUE,
    ] {
        let found = (0..300).find(|&seed| hand_schedule(seed, ReadMode::Log, &[bug]).is_some());
        assert!(found.is_some(), "{bug}: no violation in 300 schedules");
    }
}

/// One simulated run of a 5-replica kv cluster with random faults; returns the stop reason,
/// the liveness verdict and the linearizability verdict of the history.
fn simulate(seed: u64, read_mode: ReadMode, bugs: &[Bug]) -> (StopReason, Option<String>, Verdict) {
    let node_count = 5;
    let mut config = paxos_config(bugs, read_mode);
    config.app = Kv::new();
    let faults = RandomFaults {
        every_min: Duration::from_millis(300),
        every_max: Duration::from_millis(1_500),
        kinds: vec![
            FaultKind::Partition(PartitionShape::Halves),
            FaultKind::Partition(PartitionShape::MajoritiesRing),
            FaultKind::Partition(PartitionShape::IsolateOne),
            FaultKind::Crash,
            FaultKind::LoseUnsynced,
            FaultKind::Pause(Duration::from_millis(300)),
            FaultKind::ClockSkew(Duration::from_millis(200)),
            // Within the configured bound (1,000 ppm) that the lease margin covers.
            FaultKind::ClockDrift(1_000),
        ],
        swarm: true,
        crash_points: None,
    };
    let duration = Duration::from_secs(4);
    let plan = generate(
        &faults,
        node_count,
        duration,
        &mut Prng::new(seed, Stream::Swarm),
    );
    let sim_config = SimConfig {
        network: NetworkConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            loss: Ratio::from_percent(1),
            duplicate: Ratio::from_percent(1),
            reorder: Ratio::from_percent(1),
        },
        clients: ClientConfig {
            count: 6,
            ..ClientConfig::default()
        },
        duration,
        recovery: Duration::from_secs(3),
        ..SimConfig::new(seed, node_count)
    };
    let mix = vec![
        (Function::Read, 50),
        (Function::Write, 35),
        (Function::Cas, 15),
    ];
    let report = Simulation::<PaxosNode<Kv>>::new(
        sim_config,
        config,
        Box::new(RegisterWorkload::new(mix, Some(3), 6)),
        Box::new(PaxosInvariants::new()),
        plan,
    )
    .run();
    let events = report.history.into_events();
    let check = check_events(&events, Model::Kv, &CheckOptions::default()).expect("well formed");
    (report.stop, report.liveness_failure, check.verdict)
}

#[test]
fn paxos_simulated_runs_with_faults_are_linearizable_and_live() {
    for seed in 0..12 {
        for read_mode in [ReadMode::Log, ReadMode::Lease] {
            let (stop, liveness, verdict) = simulate(seed, read_mode, &[]);
            assert_eq!(stop, StopReason::Completed, "seed {seed} {read_mode:?}");
            assert_eq!(liveness, None, "seed {seed} {read_mode:?}");
            assert_eq!(verdict, Verdict::Linearizable, "seed {seed} {read_mode:?}");
        }
    }
}

#[test]
fn paxos_simulated_runs_find_the_ignored_accepted_value() {
    let found = (0..30).find(|&seed| {
        let (stop, _, verdict) = simulate(
            seed,
            ReadMode::Log,
            &[protocols::paxos::bugs::IGNORE_ACCEPTED_VALUE],
        );
        matches!(stop, StopReason::Violation { .. }) || verdict == Verdict::NotLinearizable
    });
    assert!(found.is_some(), "P4 not found in 30 simulated runs");
}
