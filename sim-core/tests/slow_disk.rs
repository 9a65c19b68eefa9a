//! Disks that take time: a sync completes after its latency, in token order, several syncs
//! share one completion, and a crash before the completion loses it (and, on power loss, any
//! suffix of the records it covered). Each rule has its failing side next to it.

use sim_core::check::{check_events, CheckOptions, Model, Verdict};
use sim_core::client::{ClientConfig, RegisterWorkload, Workload};
use sim_core::disk::DiskConfig;
use sim_core::faults::{FaultAction, FaultPlan, TimedFault};
use sim_core::history::Function;
use sim_core::id::NodeId;
use sim_core::node::{Ctx, NoInvariants, Node, Request, SyncToken};
use sim_core::simulation::{SimConfig, SimReport, Simulation};
use sim_core::testkit::{Recorder, RegisterServer};
use sim_core::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(millis: u64) -> Instant {
    Instant::ZERO + ms(millis)
}

fn plan(faults: Vec<(u64, FaultAction)>) -> FaultPlan {
    FaultPlan {
        faults: faults
            .into_iter()
            .map(|(t, action)| TimedFault { at: at(t), action })
            .collect(),
    }
}

fn power_loss(node: u32) -> FaultAction {
    FaultAction::Crash {
        node: NodeId(node),
        lose_unsynced: true,
    }
}

fn disk(write_ms: (u64, u64), sync_ms: (u64, u64)) -> DiskConfig {
    DiskConfig {
        write_latency_min: ms(write_ms.0),
        write_latency_max: ms(write_ms.1),
        sync_latency_min: ms(sync_ms.0),
        sync_latency_max: ms(sync_ms.1),
    }
}

/// One step of a [`Scripted`] node, at a local time in ms after boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Append this record.
    Append(u64),
    /// Ask for a sync.
    Sync,
}

#[derive(Clone, Debug)]
struct Script {
    steps: Vec<(u64, Step)>,
    /// Inside `on_synced`, append a record and sync once more (the first time only).
    sync_again_when_synced: bool,
    /// Set at the first boot: a restarted node runs no script.
    started: std::rc::Rc<std::cell::Cell<bool>>,
}

/// What the scripted node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// Booted with these durable records.
    Booted(Vec<u64>),
    /// `sync()` handed out this token.
    Asked(SyncToken),
    /// `on_synced` with this token.
    Synced(SyncToken),
    /// A record was appended.
    Appended(u64),
}

/// Runs its script on the first boot only (a restarted node just reports what survived).
struct Scripted {
    script: Script,
    durable: Vec<u64>,
    synced_again: bool,
}

impl Node for Scripted {
    type Config = Script;
    type Msg = ();
    type Timer = Step;
    type Record = u64;
    type Observation = Seen;

    fn recover(script: &Script, _id: NodeId, durable: &[u64]) -> Self {
        Scripted {
            script: script.clone(),
            durable: durable.to_vec(),
            synced_again: false,
        }
    }
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.observe(Seen::Booted(self.durable.clone()));
        if self.script.started.replace(true) {
            return;
        }
        for &(when, step) in &self.script.steps {
            ctx.set_timer(ms(when), step);
        }
    }
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, step: Step) {
        match step {
            Step::Append(record) => {
                ctx.append(record);
                ctx.observe(Seen::Appended(record));
            }
            Step::Sync => {
                let token = ctx.sync();
                ctx.observe(Seen::Asked(token));
            }
        }
    }
    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        ctx.observe(Seen::Synced(token));
        if self.script.sync_again_when_synced && !self.synced_again {
            self.synced_again = true;
            ctx.append(1_000);
            ctx.observe(Seen::Appended(1_000));
            let again = ctx.sync();
            ctx.observe(Seen::Asked(again));
        }
    }
}

type Observed = Vec<(Instant, Seen)>;

fn scripted_run(
    seed: u64,
    disk: DiskConfig,
    steps: &[(u64, Step)],
    faults: FaultPlan,
    trace: bool,
) -> (SimReport, Observed) {
    scripted_run_with(seed, disk, steps, false, faults, trace)
}

fn scripted_run_with(
    seed: u64,
    disk: DiskConfig,
    steps: &[(u64, Step)],
    sync_again_when_synced: bool,
    faults: FaultPlan,
    trace: bool,
) -> (SimReport, Observed) {
    let mut config = SimConfig::new(seed, 1);
    config.clients.count = 0;
    config.duration = Duration::from_secs(1);
    config.recovery = Duration::ZERO;
    config.disk = disk;
    config.trace = trace;
    let recorder = Recorder::new();
    let seen = recorder.seen.clone();
    let script = Script {
        steps: steps.to_vec(),
        sync_again_when_synced,
        started: Default::default(),
    };
    let report =
        Simulation::<Scripted>::new(config, script, idle_workload(), Box::new(recorder), faults)
            .run();
    let observed = seen
        .borrow()
        .iter()
        .map(|(time, _, seen)| (*time, seen.clone()))
        .collect();
    (report, observed)
}

fn idle_workload() -> Box<dyn Workload> {
    Box::new(RegisterWorkload::new(vec![(Function::Read, 1)], None, 0))
}

fn synced(observed: &Observed) -> Vec<(Instant, SyncToken)> {
    observed
        .iter()
        .filter_map(|(time, seen)| match seen {
            Seen::Synced(token) => Some((*time, *token)),
            _ => None,
        })
        .collect()
}

fn boots(observed: &Observed) -> Vec<Vec<u64>> {
    observed
        .iter()
        .filter_map(|(_, seen)| match seen {
            Seen::Booted(durable) => Some(durable.clone()),
            _ => None,
        })
        .collect()
}

const APPEND_TWO_AND_SYNC: [(u64, Step); 3] = [
    (10, Step::Append(1)),
    (10, Step::Append(2)),
    (10, Step::Sync),
];

#[test]
fn an_instant_disk_completes_the_sync_once_the_handler_returns() {
    let (report, observed) = scripted_run(
        1,
        DiskConfig::default(),
        &APPEND_TWO_AND_SYNC,
        FaultPlan::default(),
        false,
    );
    // At the same instant, right after the handler that asked for it: as if its fsync
    // returned at its end.
    let at_10: Vec<&Seen> = observed
        .iter()
        .filter(|(time, _)| *time == at(10))
        .map(|(_, seen)| seen)
        .collect();
    assert_eq!(
        at_10,
        [
            &Seen::Appended(1),
            &Seen::Appended(2),
            &Seen::Asked(SyncToken(1)),
            &Seen::Synced(SyncToken(1)),
        ]
    );
    assert_eq!(report.stats.syncs_completed, 1);
}

#[test]
fn a_slow_sync_completes_after_its_latency_and_not_before() {
    let (report, observed) = scripted_run(
        1,
        disk((0, 0), (7, 7)),
        &APPEND_TWO_AND_SYNC,
        FaultPlan::default(),
        false,
    );
    assert_eq!(synced(&observed), [(at(17), SyncToken(1))]);
    assert_eq!(report.stats.syncs_completed, 1);
    // Drawn latencies stay inside their range and vary with the seed.
    let mut latencies = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let (_, observed) = scripted_run(
            seed,
            disk((0, 0), (1, 20)),
            &APPEND_TWO_AND_SYNC,
            FaultPlan::default(),
            false,
        );
        let [(time, _)] = synced(&observed)[..] else {
            panic!("one completion expected: {observed:?}")
        };
        assert!(time >= at(11) && time <= at(30), "{time}");
        latencies.insert(time);
    }
    assert!(latencies.len() > 4, "latencies are drawn: {latencies:?}");
}

#[test]
fn a_sync_waits_for_its_writes() {
    let (_, observed) = scripted_run(
        1,
        disk((9, 9), (2, 2)),
        &APPEND_TWO_AND_SYNC,
        FaultPlan::default(),
        false,
    );
    // Written at 19ms; the 2ms sync started at 10ms cannot finish before the writes.
    assert_eq!(synced(&observed), [(at(19), SyncToken(1))]);
}

#[test]
fn syncs_asked_while_one_is_in_flight_share_the_next_completion_in_order() {
    let steps = [
        (10, Step::Append(1)),
        (10, Step::Sync),
        (12, Step::Append(2)),
        (12, Step::Sync),
        (14, Step::Append(3)),
        (14, Step::Sync),
    ];
    let (report, observed) = scripted_run(
        1,
        disk((0, 0), (10, 10)),
        &steps,
        FaultPlan::default(),
        false,
    );
    // Token 1 at 20ms; tokens 2 and 3 were asked while it was in flight and complete together
    // at 30ms, reported once as token 3 (group commit).
    assert_eq!(
        synced(&observed),
        [(at(20), SyncToken(1)), (at(30), SyncToken(3))]
    );
    assert_eq!(report.stats.syncs_completed, 2);
    // Over drawn latencies, completions never go backwards.
    for seed in 0..32 {
        let (_, observed) = scripted_run(
            seed,
            disk((0, 3), (1, 20)),
            &steps,
            FaultPlan::default(),
            false,
        );
        let tokens: Vec<SyncToken> = synced(&observed).iter().map(|(_, t)| *t).collect();
        assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
        assert_eq!(
            tokens.last(),
            Some(&SyncToken(3)),
            "the last sync completes"
        );
    }
}

#[test]
fn a_power_loss_mid_sync_may_drop_its_records_and_the_completion_never_comes() {
    let faults = || {
        plan(vec![
            (15, power_loss(0)),
            (50, FaultAction::Restart { node: NodeId(0) }),
        ])
    };
    let mut lost_all = false;
    let mut kept_some = false;
    for seed in 0..32 {
        let (report, observed) = scripted_run(
            seed,
            disk((0, 0), (10, 10)),
            &APPEND_TWO_AND_SYNC,
            faults(),
            false,
        );
        assert_eq!(
            synced(&observed),
            [],
            "the completion due at 20ms never comes"
        );
        assert_eq!(report.stats.crashes_during_sync, 1);
        let after = &boots(&observed)[1];
        assert!([vec![], vec![1], vec![1, 2]].contains(after), "{after:?}");
        lost_all |= after.is_empty();
        kept_some |= !after.is_empty();
    }
    assert!(
        lost_all && kept_some,
        "any suffix of the in-flight records may go"
    );
    // The failing side: once the completion came, a power loss keeps everything it covered.
    let late = plan(vec![
        (25, power_loss(0)),
        (50, FaultAction::Restart { node: NodeId(0) }),
    ]);
    for seed in 0..32 {
        let (report, observed) = scripted_run(
            seed,
            disk((0, 0), (10, 10)),
            &APPEND_TWO_AND_SYNC,
            late.clone(),
            false,
        );
        assert_eq!(synced(&observed), [(at(20), SyncToken(1))]);
        assert_eq!(boots(&observed)[1], [1, 2], "seed {seed}");
        assert_eq!(report.stats.crashes_during_sync, 0);
    }
}

#[test]
fn a_process_crash_mid_sync_keeps_the_records_but_the_completion_never_comes() {
    let faults = plan(vec![
        (
            15,
            FaultAction::Crash {
                node: NodeId(0),
                lose_unsynced: false,
            },
        ),
        (50, FaultAction::Restart { node: NodeId(0) }),
    ]);
    let (report, observed) = scripted_run(
        3,
        disk((0, 0), (10, 10)),
        &APPEND_TWO_AND_SYNC,
        faults,
        false,
    );
    assert_eq!(synced(&observed), []);
    assert_eq!(boots(&observed)[1], [1, 2], "the OS kept what it was given");
    assert_eq!(report.stats.unsynced_records_lost, 0);
}

#[test]
fn tokens_keep_growing_across_a_restart() {
    // A restarted node's first sync gets a token no completion of the old incarnation had.
    let steps = [(10, Step::Append(1)), (10, Step::Sync)];
    let faults = plan(vec![
        (15, power_loss(0)),
        (16, FaultAction::Restart { node: NodeId(0) }),
    ]);
    let (_, observed) = scripted_run_with(1, disk((0, 0), (10, 10)), &steps, true, faults, false);
    assert_eq!(synced(&observed), [], "the restarted node ran no script");
    // Now with the old completion due after the restart: it must stay silent.
    let faults = plan(vec![
        (12, power_loss(0)),
        (13, FaultAction::Restart { node: NodeId(0) }),
    ]);
    let (report, observed) = scripted_run(1, disk((0, 0), (10, 10)), &steps, faults, false);
    assert_eq!(synced(&observed), []);
    assert_eq!(report.stats.syncs_completed, 0);
}

#[test]
fn a_paused_node_hears_of_its_sync_when_it_resumes() {
    let faults = plan(vec![
        (12, FaultAction::Pause { node: NodeId(0) }),
        (40, FaultAction::Resume { node: NodeId(0) }),
        (45, power_loss(0)),
        (60, FaultAction::Restart { node: NodeId(0) }),
    ]);
    let (_, observed) = scripted_run(
        1,
        disk((0, 0), (10, 10)),
        &APPEND_TWO_AND_SYNC,
        faults,
        false,
    );
    // The disk finished at 20ms during the pause; the node hears of it at 40ms, and the
    // records were durable from 20ms on, so the power loss at 45ms keeps them.
    assert_eq!(synced(&observed), [(at(40), SyncToken(1))]);
    assert_eq!(boots(&observed)[1], [1, 2]);
}

#[test]
fn a_sync_asked_inside_on_synced_completes_after_it_on_any_disk() {
    let steps = [(10, Step::Append(1)), (10, Step::Sync)];
    for disk in [DiskConfig::default(), disk((0, 0), (3, 3))] {
        let (_, observed) = scripted_run_with(1, disk, &steps, true, FaultPlan::default(), false);
        let tokens: Vec<SyncToken> = synced(&observed).iter().map(|(_, t)| *t).collect();
        assert_eq!(tokens, [SyncToken(1), SyncToken(2)], "{disk:?}");
    }
}

#[test]
fn the_trace_shows_sync_completions() {
    let (report, _) = scripted_run(
        1,
        disk((0, 0), (5, 5)),
        &APPEND_TWO_AND_SYNC,
        FaultPlan::default(),
        true,
    );
    assert!(
        report
            .trace
            .iter()
            .any(|line| line.contains("n0 synced sync#1 (2 records durable)")),
        "{:#?}",
        report.trace
    );
}

#[test]
fn slow_disks_are_deterministic_and_an_instant_disk_draws_nothing() {
    let steps = [
        (10, Step::Append(1)),
        (10, Step::Sync),
        (12, Step::Append(2)),
        (13, Step::Sync),
    ];
    let run = |seed, disk| scripted_run(seed, disk, &steps, FaultPlan::default(), false).0;
    let slow = disk((0, 2), (1, 20));
    assert_eq!(run(5, slow).digest, run(5, slow).digest);
    assert_ne!(run(5, slow).digest, run(5, DiskConfig::default()).digest);
    let digests: std::collections::BTreeSet<u64> = (0..16).map(|s| run(s, slow).digest).collect();
    assert!(digests.len() > 1, "the latency draws reach the digest");
}

fn register_run(seed: u64, sync_before_reply: bool, sync_ms: (u64, u64)) -> SimReport {
    let mut config = SimConfig::new(seed, 1);
    // One attempt per operation: the register server does not deduplicate retries, and a
    // write applied twice is a violation of its own.
    config.clients = ClientConfig {
        count: 3,
        timeout: ms(300),
        retry_after: ms(300),
        ..ClientConfig::default()
    };
    config.duration = Duration::from_secs(2);
    config.recovery = Duration::from_secs(1);
    config.disk = disk((0, 0), sync_ms);
    let workload = RegisterWorkload::new(vec![(Function::Read, 1), (Function::Write, 2)], None, 4);
    let faults = plan(
        (1..=18)
            .flat_map(|i| {
                [
                    (i * 100, power_loss(0)),
                    (i * 100 + 20, FaultAction::Restart { node: NodeId(0) }),
                ]
            })
            .collect(),
    );
    Simulation::<RegisterServer>::new(
        config,
        sync_before_reply,
        Box::new(workload),
        Box::new(NoInvariants),
        faults,
    )
    .run()
}

fn linearizable(report: &SimReport) -> bool {
    let result = check_events(
        report.history.events(),
        Model::CasRegister,
        &CheckOptions::default(),
    )
    .expect("the kernel records well-formed histories");
    assert_ne!(result.verdict, Verdict::Unknown, "budget too small");
    result.verdict == Verdict::Linearizable
}

#[test]
fn a_register_that_answers_from_on_synced_survives_power_loss_and_one_that_does_not_loses_writes() {
    let mut early_violations = 0;
    let mut crashes_during_sync = 0;
    for seed in 0..20 {
        let correct = register_run(seed, true, (1, 20));
        crashes_during_sync += correct.stats.crashes_during_sync;
        assert!(
            linearizable(&correct),
            "seed {seed}: answered only once durable, yet not linearizable"
        );
        let early = register_run(seed, false, (1, 20));
        early_violations += u32::from(!linearizable(&early));
    }
    assert!(
        crashes_during_sync > 0,
        "the power losses must hit syncs in flight"
    );
    assert!(
        early_violations > 0,
        "acknowledging before the sync must lose acknowledged writes under power loss"
    );
}
