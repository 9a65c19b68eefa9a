//! The runner: `run(&Scenario, seed) -> RunReport` (DESIGN.md §2).
//!
//! Phase 1 runs the workload under the scenario's faults; phase 2 (recovery) heals everything
//! and demands that every operation invoked then completes. Then the history goes through the
//! linearizability checker. The outcome is, in order of precedence: a safety violation (an
//! invariant checker or the linearizability checker), a protocol panic (caught per run), a limit
//! hit, a liveness failure, an inconclusive check, or a pass.
//!
//! Generated fault plans are made concrete before the run: partition shapes are resolved to
//! explicit cuts, so `scenario.resolved.ron` (the plan written back as a `Script`) re-runs the
//! same faults for any seed.

use crate::scenario::{AppSpec, FaultSpec, Limits, ProtocolSpec, Scenario};
use protocols::params::ParamValue;
use protocols::registry::ScenarioContext;
use protocols::registry::SimulationInputs;
use serde::Serialize;
use sim_core::check::{check_events, CheckOptions, CheckResult, Model, Verdict};
use sim_core::client::{ClientConfig, ScriptedWorkload};
use sim_core::faults::{
    generate, generate_membership, FaultAction, FaultPlan, PartitionShape, TimedFault,
    MEMBERSHIP_STREAM,
};
use sim_core::history::HistoryEvent;
use sim_core::id::ClientId;
use sim_core::network::{resolve_partition, NetworkConfig};
use sim_core::prng::Ratio;
use sim_core::prng::{Prng, Stream};
use sim_core::simulation::{self, Limit, SimConfig, SimReport, StopReason};
use sim_core::time::{Duration, Instant};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a run found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// No violation, every recovery operation completed, the history is linearizable.
    Pass,
    /// An invariant or the linearizability checker found a safety violation.
    SafetyViolation {
        /// `invariant:<name>` or `linearizability`.
        source: String,
        /// What went wrong.
        message: String,
    },
    /// The protocol (or the kernel) panicked.
    Panic {
        /// The panic message.
        message: String,
    },
    /// A limit (events, in-flight messages, history length) ended the run.
    LimitHit {
        /// Which limit, and when.
        message: String,
    },
    /// Operations invoked during recovery never completed.
    LivenessFailure {
        /// Which.
        message: String,
    },
    /// The checker's budget ran out.
    Inconclusive {
        /// Why.
        message: String,
    },
}

impl Outcome {
    /// The process exit code for this outcome (DESIGN.md §7). A limit hit is inconclusive.
    pub fn exit_code(&self) -> u8 {
        use crate::exit::*;
        match self {
            Outcome::Pass => EXIT_PASS,
            Outcome::SafetyViolation { .. } | Outcome::Panic { .. } => EXIT_VIOLATION,
            Outcome::LivenessFailure { .. } => EXIT_LIVENESS,
            Outcome::LimitHit { .. } | Outcome::Inconclusive { .. } => EXIT_INCONCLUSIVE,
        }
    }

    /// A short name: `pass`, `safety-violation`, `panic`, `limit-hit`, `liveness-failure`,
    /// `inconclusive`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::SafetyViolation { .. } => "safety-violation",
            Outcome::Panic { .. } => "panic",
            Outcome::LimitHit { .. } => "limit-hit",
            Outcome::LivenessFailure { .. } => "liveness-failure",
            Outcome::Inconclusive { .. } => "inconclusive",
        }
    }

    /// The message, if the outcome carries one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Pass => None,
            Outcome::SafetyViolation { message, .. }
            | Outcome::Panic { message }
            | Outcome::LimitHit { message }
            | Outcome::LivenessFailure { message }
            | Outcome::Inconclusive { message } => Some(message),
        }
    }

    /// Is this a failure a sweep should report with a replay line?
    pub fn is_failure(&self) -> bool {
        !matches!(self, Outcome::Pass)
    }
}

/// Everything one run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// What the run found.
    pub outcome: Outcome,
    /// The trace digest (0 when the run panicked).
    pub digest: u64,
    /// Events processed.
    pub events: u64,
    /// Simulated nanoseconds.
    pub simulated_nanos: u64,
    /// Operations completed ok / fail / info.
    pub ops_ok: u64,
    /// Operations completed fail.
    pub ops_fail: u64,
    /// Operations ended info.
    pub ops_info: u64,
    /// Marks hit.
    pub marks: BTreeMap<String, u64>,
    /// What the protocol's checker measured (`time_in_doubt_ns`, `isolation_anomalies`,
    /// `stale_reads`: `sim_core::node::Invariants::figures`), by name.
    pub figures: BTreeMap<String, u64>,
    /// The concrete fault plan that ran.
    pub plan: FaultPlan,
    /// The faults as applied.
    pub faults_applied: Vec<simulation::AppliedFault>,
    /// The client history.
    pub history: Vec<HistoryEvent>,
    /// The checker's result (absent if the run panicked).
    pub check: Option<CheckResult>,
    /// The kernel's counters.
    pub stats: Option<simulation::SimStats>,
    /// The event trace, when asked for.
    pub trace: Vec<String>,
    /// Happens-before between the trace's lines, when traced (`replay --trace --focus`).
    pub causality: sim_core::trace::Causality,
    /// The protocol's observations, when asked for (the report's node lanes).
    pub observations: Vec<simulation::ObservationRecord>,
    /// When traced: the messages the network's randomness lost, duplicated or delayed long,
    /// as scripts pin them (`faultline shrink`'s pinning stage).
    pub random_fates: Vec<(
        Instant,
        sim_core::faults::MessageRef,
        sim_core::faults::MessageFate,
    )>,
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Record every event (`replay --trace`).
    pub trace: bool,
    /// Keep the protocol's observations (`--out`: the report's node lanes).
    pub record_observations: bool,
}

/// Why a scenario cannot run at all (a usage error, exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// Every mark the scenario's protocol may emit (its `MARKS`), for a sweep's "marks not hit":
/// the rare paths none of its seeds reached. Mutation marks and the kernel's own are not
/// listed.
pub fn declared_marks(protocol: &ProtocolSpec) -> &'static [&'static str] {
    protocol.protocol.marks()
}

/// Checks that this build can run `scenario`: options that parse but are not implemented.
/// (The protocol × application matrix is a rule of scenario validation: capabilities.)
///
/// # Errors
/// What is not supported yet.
pub fn supported(scenario: &Scenario) -> Result<(), Unsupported> {
    match scenario
        .protocol
        .protocol
        .unsupported(&scenario.protocol.params)
    {
        Some(message) => Err(Unsupported(message)),
        None => Ok(()),
    }
}

/// The concrete fault plan of `scenario` for `seed`: generated plans come from the seed (a
/// stream of their own); partition shapes are resolved to explicit cuts.
pub fn fault_plan(scenario: &Scenario, seed: u64) -> FaultPlan {
    let mut rng = Prng::new(seed, Stream::Swarm);
    let mut plan = match &scenario.faults {
        FaultSpec::None => FaultPlan::default(),
        FaultSpec::Script(plan) => plan.clone(),
        FaultSpec::Random(options) => {
            let mut plan = generate(options, scenario.node_count, scenario.duration, &mut rng);
            // Membership changes on a stream of their own: listing them moves no other fault.
            let mut membership = Prng::new(seed, MEMBERSHIP_STREAM);
            let changes = generate_membership(options, scenario.duration, &mut membership);
            if !changes.is_empty() {
                plan.faults.extend(changes);
                plan.faults.sort_by_key(|fault| fault.at);
            }
            plan
        }
    };
    for fault in &mut plan.faults {
        if let FaultAction::Partition(shape) = &fault.action {
            if !matches!(shape, PartitionShape::Cuts(_)) {
                let cuts = resolve_partition(shape, scenario.node_count, &mut rng);
                fault.action = FaultAction::Partition(PartitionShape::Cuts(cuts));
            }
        }
    }
    plan
}

/// Swarm testing over the whole configuration (Groce et al., "Swarm testing", ISSTA 2012):
/// the scenario as seed `seed` runs it with `swarm: true`. Every range of the file becomes
/// the range this seed draws its own sub-range from, and every ratio the bound of this seed's
/// own ratio: message latency, loss, duplication and reordering, the client count (1 to the
/// file's), think time, and every duration range among the protocol's parameters (its
/// timeouts), kept only if the protocol's own rules accept them. One catalogue file so covers
/// many configurations: a calm network in one seed, a slow lossy one in the next.
///
/// The draws come from a stream of their own ([`Stream::SwarmConfig`]), so they shift no other
/// draw of the run; without `swarm` nothing is drawn and the scenario runs as written.
pub fn swarm_draw(scenario: &Scenario, seed: u64) -> Scenario {
    let mut rng = Prng::new(seed, Stream::SwarmConfig);
    let mut drawn = scenario.clone();
    let sub_range = |rng: &mut Prng, min: Duration, max: Duration| {
        let low = rng.range_inclusive(min.0, max.0);
        (Duration(low), Duration(rng.range_inclusive(low, max.0)))
    };
    let network = &mut drawn.network;
    (network.latency_min, network.latency_max) =
        sub_range(&mut rng, network.latency_min, network.latency_max);
    let ratio_up_to =
        |rng: &mut Prng, bound: Ratio| Ratio::from_ppm(rng.below(u64::from(bound.ppm) + 1) as u32);
    network.loss = ratio_up_to(&mut rng, network.loss);
    network.duplicate = ratio_up_to(&mut rng, network.duplicate);
    network.reorder = ratio_up_to(&mut rng, network.reorder);
    let clients = &mut drawn.clients;
    clients.count = rng.range_inclusive(1, u64::from(clients.count.max(1))) as u32;
    (clients.think_min, clients.think_max) =
        sub_range(&mut rng, clients.think_min, clients.think_max);
    let mut params = drawn.protocol.params.clone();
    let ranges: Vec<(&'static str, Duration, Duration)> = params
        .iter()
        .filter_map(|(param, value)| match value {
            ParamValue::DurationRange(min, max) => Some((param.name, min, max)),
            _ => None,
        })
        .collect();
    for (name, min, max) in ranges {
        // A protocol's randomised timeout keeps at least half its spread: a range drawn down
        // to one value would take away the randomness that breaks split votes.
        let half = (max.0 - min.0) / 2;
        let low = rng.range_inclusive(min.0, min.0 + half);
        let high = rng.range_inclusive(low + half, max.0);
        params.set(
            name,
            ParamValue::DurationRange(Duration(low), Duration(high)),
        );
    }
    let context = ScenarioContext {
        random_faults: matches!(drawn.faults, FaultSpec::Random(_)),
    };
    if drawn
        .protocol
        .protocol
        .validate(&mut params, &context)
        .is_ok()
    {
        drawn.protocol.params = params;
    }
    drawn
}

fn sim_config(scenario: &Scenario, seed: u64, options: &RunOptions) -> SimConfig {
    let clients = &scenario.clients;
    let network = &scenario.network;
    SimConfig {
        seed,
        node_count: scenario.node_count,
        network: NetworkConfig {
            latency_min: network.latency_min,
            latency_max: network.latency_max,
            loss: network.loss,
            duplicate: network.duplicate,
            reorder: network.reorder,
        },
        clients: ClientConfig {
            count: clients.count,
            think_min: clients.think_min,
            think_max: clients.think_max,
            timeout: clients.timeout,
            retry_after: clients.retry_after,
            redirect_backoff: clients.redirect_backoff,
        },
        duration: scenario.duration,
        recovery: scenario.recovery,
        limits: simulation::Limits {
            max_events: scenario.limits.max_events,
            max_in_flight_messages: scenario.limits.max_in_flight_messages,
            max_history_events: scenario.limits.max_history_events,
            max_memory_bytes: scenario.limits.max_memory_mib.saturating_mul(1 << 20),
        },
        clock_offset_max: scenario.clock_offset_max,
        disk: scenario.disk,
        trace: options.trace,
        record_observations: options.record_observations,
        crash_points: match &scenario.faults {
            FaultSpec::Random(random) => random.crash_points.clone(),
            FaultSpec::None | FaultSpec::Script(_) => None,
        },
    }
}

/// How a run's history is checked: the model for `app` and the options (a step budget a few
/// seconds long). `bench scenario` re-checks histories with the same setup.
pub fn check_setup(app: &AppSpec) -> (Model, CheckOptions) {
    let options = CheckOptions {
        budget_steps: 20_000_000,
        ..CheckOptions::default()
    };
    (app.app.model(), options)
}

/// The application's own audit of the history, beyond linearizability: `Err((invariant,
/// message))` on a violation.
fn audit_history(
    scenario: &Scenario,
    history: &[HistoryEvent],
) -> Result<(), (&'static str, String)> {
    scenario
        .app
        .app
        .audit(&scenario.app.params, scenario.bugs, history)
}

/// Runs `scenario` with its application on its protocol.
fn simulate_protocol(
    scenario: &Scenario,
    seed: u64,
    options: &RunOptions,
    plan: FaultPlan,
) -> SimReport {
    let app = &scenario.app;
    let mix = scenario
        .workload
        .mix
        .iter()
        .map(|op| (op.function, op.weight))
        .collect();
    let workload: Box<dyn sim_core::client::Workload> = if scenario.workload.script.is_empty() {
        app.app
            .workload(&app.params, mix, scenario.clients.count, scenario.bugs)
    } else {
        let script = scenario
            .workload
            .script
            .iter()
            .map(|(at, client, operation)| {
                (Instant::ZERO + *at, ClientId(*client), operation.clone())
            })
            .collect();
        Box::new(ScriptedWorkload::new(scenario.clients.count, script))
    };
    let inputs = SimulationInputs {
        sim: sim_config(scenario, seed, options),
        workload,
        plan,
    };
    let protocol = &scenario.protocol;
    protocol.protocol.simulate(
        &protocol.params,
        app.app.build(&app.params, scenario.bugs),
        scenario.bugs,
        inputs,
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".into()
    }
}

/// Runs one seed of `scenario`. A panic anywhere in the simulation is caught and reported as
/// [`Outcome::Panic`].
///
/// # Errors
/// If the scenario is not supported by this build ([`supported`]).
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> Result<RunReport, Unsupported> {
    supported(scenario)?;
    let drawn;
    let scenario = if scenario.swarm {
        drawn = swarm_draw(scenario, seed);
        &drawn
    } else {
        scenario
    };
    let plan = fault_plan(scenario, seed);
    let simulated = catch_unwind(AssertUnwindSafe(|| {
        simulate_protocol(scenario, seed, options, plan.clone())
    }));
    let report = match simulated {
        Ok(report) => report,
        Err(payload) => {
            return Ok(RunReport {
                scenario: scenario.name.clone(),
                seed,
                outcome: Outcome::Panic {
                    message: panic_message(payload.as_ref()),
                },
                digest: 0,
                events: 0,
                simulated_nanos: 0,
                ops_ok: 0,
                ops_fail: 0,
                ops_info: 0,
                marks: BTreeMap::new(),
                figures: BTreeMap::new(),
                plan,
                faults_applied: Vec::new(),
                history: Vec::new(),
                check: None,
                stats: None,
                trace: Vec::new(),
                causality: Default::default(),
                observations: Vec::new(),
                random_fates: Vec::new(),
            })
        }
    };
    let history = report.history.into_events();
    let (check_model, mut check_options) = check_setup(&scenario.app);
    // The checker's search may hold half the run's budget (512 MiB by default, its own
    // default): the history it reads was bounded by the other half.
    check_options.memory_bytes_max = scenario.limits.max_memory_mib.saturating_mul(1 << 19);
    let protocol = &scenario.protocol;
    // A protocol that does not promise linearizability (CRDT replicas) judges its histories
    // itself; one without isolation (sagas) answers audits that may see work in flight, so
    // its histories are judged by neither the application's model nor its audit (its checker
    // measures the anomalies instead), unless its scenario makes them fatal.
    let linearizable = protocol.protocol.linearizable();
    let judged = linearizable && protocol.protocol.isolated(&protocol.params);
    let audit = if judged {
        audit_history(scenario, &history)
    } else if !linearizable {
        protocol.protocol.audit(&protocol.params, &history)
    } else {
        Ok(())
    };
    let checked = if judged {
        check_events(&history, check_model, &check_options).map(Some)
    } else {
        Ok(None)
    };
    let check = match checked {
        Ok(result) => result,
        Err(error) => {
            // The kernel wrote a history the checker cannot read: a bug of ours, reported loudly.
            return Ok(RunReport {
                outcome: Outcome::Panic {
                    message: format!("recorded history is malformed: {error}"),
                },
                ..base_report(
                    scenario,
                    seed,
                    &report.stats,
                    report.digest,
                    report.end_time.as_nanos(),
                    plan,
                    history,
                )
            });
        }
    };
    let outcome = decide(
        &report.stop,
        &scenario.limits,
        report.liveness_failure.as_deref(),
        audit,
        check.as_ref(),
        &history,
    );
    let mut result = base_report(
        scenario,
        seed,
        &report.stats,
        report.digest,
        report.end_time.as_nanos(),
        plan,
        history,
    );
    result.outcome = outcome;
    result.marks = report
        .marks
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    result.figures = report
        .figures
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    // Crash points show beside the marks (only when they are on: nothing is counted
    // otherwise): `passed:NAME` for passages, `crashed:NAME` for crashes there.
    for (point, count) in report.crash_points {
        *result.marks.entry(format!("passed:{point}")).or_insert(0) += count;
    }
    for fault in &report.faults_applied {
        if let simulation::FaultEvent::CrashAtPoint { point, .. } = &fault.what {
            *result.marks.entry(format!("crashed:{point}")).or_insert(0) += 1;
        }
    }
    result.plan = with_crash_point_crashes(result.plan, &report.faults_applied);
    result.faults_applied = report.faults_applied;
    result.check = check;
    result.trace = report.trace;
    result.causality = report.causality;
    result.observations = report.observations;
    result.random_fates = report.random_fates;
    Ok(result)
}

/// `plan` with the crashes that random crash points caused written in as script actions, so
/// the plan that ran can be replayed, exported and shrunk as a script: a `CrashAt` armed at
/// time zero for the same passage of the same crash point (passages count over the whole run),
/// and a `Restart` when the kernel restarted the node (none when it stayed down until the
/// recovery phase). Unchanged when no crash point fired, or when the plan scripted them.
pub fn with_crash_point_crashes(
    mut plan: FaultPlan,
    applied: &[simulation::AppliedFault],
) -> FaultPlan {
    use simulation::FaultEvent;
    if plan
        .faults
        .iter()
        .any(|fault| matches!(fault.action, FaultAction::CrashAt { .. }))
    {
        return plan; // scripted: the plan says it already
    }
    let mut armed = Vec::new();
    let mut restarts = Vec::new();
    for (index, fault) in applied.iter().enumerate() {
        let FaultEvent::CrashAtPoint {
            node,
            point,
            nth,
            lose_unsynced,
            ..
        } = fault.what
        else {
            continue;
        };
        armed.push(TimedFault {
            at: Instant::ZERO,
            action: FaultAction::CrashAt {
                node,
                point: point.to_string(),
                nth: u32::try_from(nth).unwrap_or(u32::MAX),
                lose_unsynced,
            },
        });
        let restart = applied[index + 1..]
            .iter()
            .find_map(|later| match later.what {
                FaultEvent::Action(FaultAction::Restart { node: restarted })
                    if restarted == node =>
                {
                    Some(later.at)
                }
                FaultEvent::RecoveryBegins => Some(Instant::MAX),
                _ => None,
            });
        if let Some(at) = restart.filter(|&at| at != Instant::MAX) {
            let planned = plan
                .faults
                .iter()
                .any(|fault| fault.at == at && fault.action == FaultAction::Restart { node });
            if !planned {
                restarts.push(TimedFault {
                    at,
                    action: FaultAction::Restart { node },
                });
            }
        }
    }
    if armed.is_empty() {
        return plan;
    }
    armed.append(&mut plan.faults);
    armed.append(&mut restarts);
    // Stable: the armed crashes stay first among the actions at time zero.
    armed.sort_by_key(|fault| fault.at);
    plan.faults = armed;
    plan
}

fn base_report(
    scenario: &Scenario,
    seed: u64,
    stats: &simulation::SimStats,
    digest: u64,
    simulated_nanos: u64,
    plan: FaultPlan,
    history: Vec<HistoryEvent>,
) -> RunReport {
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        outcome: Outcome::Pass,
        digest,
        events: stats.events,
        simulated_nanos,
        ops_ok: stats.ops_ok,
        ops_fail: stats.ops_fail,
        ops_info: stats.ops_info,
        marks: BTreeMap::new(),
        figures: BTreeMap::new(),
        plan,
        faults_applied: Vec::new(),
        history,
        check: None,
        stats: Some(stats.clone()),
        trace: Vec::new(),
        causality: Default::default(),
        observations: Vec::new(),
        random_fates: Vec::new(),
    }
}

/// Which limit ended the run, when, and what to change: the field to raise, or the scenario to
/// shorten.
fn limit_message(limit: Limit, time: Instant, limits: &Limits) -> String {
    let (field, value, what) = match limit {
        Limit::Events => ("max_events", limits.max_events, "events processed"),
        Limit::InFlightMessages => (
            "max_in_flight_messages",
            limits.max_in_flight_messages,
            "messages in flight at once",
        ),
        Limit::HistoryEvents => (
            "max_history_events",
            limits.max_history_events,
            "history events recorded",
        ),
        Limit::Memory => (
            "max_memory_mib",
            limits.max_memory_mib,
            "MiB held by the history, messages in flight, disk records and trace (estimated)",
        ),
    };
    format!(
        "limits.{field} = {value} ({what}) reached at {time}: shorten `duration`, or raise \
         `limits: ({field}: ...)` if the machine has the memory"
    )
}

fn decide(
    stop: &StopReason,
    limits: &Limits,
    liveness_failure: Option<&str>,
    audit: Result<(), (&'static str, String)>,
    check: Option<&CheckResult>,
    history: &[HistoryEvent],
) -> Outcome {
    match stop {
        StopReason::Violation {
            time,
            node,
            violation,
        } => {
            return Outcome::SafetyViolation {
                source: format!("invariant:{}", violation.invariant),
                message: format!("at {time} on {node}: {}", violation.message),
            }
        }
        StopReason::FinalViolation { violation } => {
            return Outcome::SafetyViolation {
                source: format!("invariant:{}", violation.invariant),
                message: violation.message.clone(),
            }
        }
        _ => {}
    }
    // The application's audit before linearizability: it is always conclusive and its message
    // names the violated bound or the overlapping lock holders directly.
    if let Err((invariant, message)) = audit {
        return Outcome::SafetyViolation {
            source: format!("invariant:{invariant}"),
            message,
        };
    }
    if let Some(check) = check {
        if check.verdict == Verdict::NotLinearizable {
            let message = match &check.explanation {
                Some(explanation) => explanation.render(history, &|i| format!("history index {i}")),
                None => "the history is not linearizable".into(),
            };
            return Outcome::SafetyViolation {
                source: "linearizability".into(),
                message,
            };
        }
    }
    if let StopReason::LimitHit { limit, time } = stop {
        return Outcome::LimitHit {
            message: limit_message(*limit, *time, limits),
        };
    }
    if let Some(failure) = liveness_failure {
        return Outcome::LivenessFailure {
            message: failure.to_string(),
        };
    }
    if let Some(check) = check {
        if check.verdict == Verdict::Unknown {
            let reason = check
                .unknown_reason
                .clone()
                .unwrap_or_else(|| "budget spent".into());
            // The checker's search stops at half the run's memory budget (`run`).
            let raise = if reason.starts_with("memory") {
                format!(
                    "; the checker holds at most half of limits.max_memory_mib = {}: raise it to decide",
                    limits.max_memory_mib
                )
            } else {
                String::new()
            };
            return Outcome::Inconclusive {
                message: format!("linearizability check: {reason}{raise}"),
            };
        }
    }
    Outcome::Pass
}

/// A measured figure as a summary line shows it: `isolation anomalies: 3`, and a name ending in
/// `_ns` (a simulated duration) in seconds, `time in doubt: 1.250s`.
pub fn figure_text(name: &str, value: u64) -> String {
    match name.strip_suffix("_ns") {
        Some(label) => format!("{}: {:.3}s", label.replace('_', " "), value as f64 / 1e9),
        None => format!("{}: {value}", name.replace('_', " ")),
    }
}

/// The line that replays a run: `faultline replay <path> --seed <n>` (with `--bug` flags when
/// bugs were switched on from the command line rather than in the file).
pub fn replay_line(scenario_path: &str, seed: u64, extra_bugs: &[String]) -> String {
    let mut line = format!("faultline replay {scenario_path} --seed {seed}");
    for bug in extra_bugs {
        line.push_str(&format!(" --bug {bug}"));
    }
    line
}
