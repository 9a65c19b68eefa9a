//! Shrinking a failing seed to a small scripted scenario (`faultline shrink`).
//!
//! The failing run's fault plan becomes an explicit `Script` (the generated plan is made
//! concrete by [`crate::runner::fault_plan`], so the script replays the run exactly), then
//! passes make the scenario smaller, each candidate re-run with the same seed and kept only if
//! it still fails *the same way* ([`Failure`]: the same outcome kind and, for a safety
//! violation, the same source: the invariant's name or linearizability):
//!
//! 1. a shorter `duration` (faults after it are dropped);
//! 2. delta debugging over fault units (a fault with its undo: crash and restart, partition
//!    and heal...), removing chunks of halving size down to single units;
//! 3. single events (a heal or restart dropped: the fault lasts until recovery; intervals
//!    merge);
//! 4. fewer clients, keys or locks, and nodes where the protocol allows;
//! 5. network randomness down (loss, duplication, reordering, latency spread, clock offsets);
//! 6. a shorter `recovery`;
//! 7. every event moved to the coarsest time grid that keeps the failure, and fault intervals
//!    halved.
//!
//! Rounds repeat until one changes nothing or the budget is spent; a round that changes
//! nothing while faults are left doubles the seeds a candidate may fail with (at most
//! [`ESCALATIONS_MAX`] times) before giving up. Candidates are run in
//! batches of [`BATCH`] on rayon and the *first* failing candidate of a batch (in the pass's
//! order of preference) is taken, so the result depends on the scenario, the seed and the run
//! budget only, never on the number of threads. (A `max_time` budget depends on the machine's
//! speed, and says so in the report.)

pub mod script;

use crate::runner::{fault_plan, run, Outcome, RunOptions, RunReport};
use crate::scenario::{Expectation, FaultSpec, Scenario};
use protocols::params::ParamValue;
use rayon::prelude::*;
use sim_core::faults::{FaultAction, FaultPlan, PartitionShape, TimedFault};
use sim_core::history::EventType;
use sim_core::id::NodeId;
use sim_core::node::Operation;
use sim_core::prng::Ratio;
use sim_core::time::{Duration, Instant};

/// Candidates run together; fixed so that results do not depend on the thread count.
pub const BATCH: usize = 8;

/// The most rounds of all passes (escalations aside).
pub const ROUNDS_MAX: u32 = 8;

/// How many times a shrink that changed nothing in a round doubles the seeds each candidate
/// may fail with, and tries again (faults left and budget permitting).
pub const ESCALATIONS_MAX: u32 = 2;

/// "The same failure": the outcome's kind, and the source of a safety violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// [`Outcome::name`]: `safety-violation`, `liveness-failure`, `panic`, ...
    pub kind: &'static str,
    /// `invariant:<name>` or `linearizability` for a safety violation.
    pub source: Option<String>,
}

impl Failure {
    /// The failure an outcome shows; `None` for a pass.
    pub fn of(outcome: &Outcome) -> Option<Failure> {
        match outcome {
            Outcome::Pass => None,
            Outcome::SafetyViolation { source, .. } => Some(Failure {
                kind: outcome.name(),
                source: Some(source.clone()),
            }),
            other => Some(Failure {
                kind: other.name(),
                source: None,
            }),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} ({source})", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// The sizes the shrinker reports before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Size {
    /// Scripted fault events that run (before the end of phase one).
    pub fault_events: usize,
    /// Client operations invoked (ok + fail + info).
    pub operations: u64,
    /// Phase one.
    pub duration: Duration,
    /// Phase two.
    pub recovery: Duration,
    /// Client slots.
    pub clients: u32,
    /// Nodes.
    pub nodes: u32,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fault events, {} operations, duration {}, recovery {}, {} clients, {} nodes",
            self.fault_events,
            self.operations,
            self.duration,
            self.recovery,
            self.clients,
            self.nodes
        )
    }
}

/// Budgets of a shrink.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stop starting batches after this many runs.
    pub max_runs: u64,
    /// Stop starting batches after this much wall time (none: runs only).
    pub max_time: Option<std::time::Duration>,
    /// Seeds each candidate may fail with: the current failing seed first, then the original
    /// seed's successors. More seeds accept more candidates at more runs each; the shrunk file
    /// names the seed it fails with.
    pub seeds_per_candidate: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_runs: 20_000,
            max_time: Some(std::time::Duration::from_secs(40)),
            seeds_per_candidate: 8,
        }
    }
}

/// Where a shrink is, for a progress display.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Runs so far.
    pub runs: u64,
    /// Fault events in the current smallest failing scenario.
    pub events_left: usize,
    /// The pass running.
    pub pass: &'static str,
}

/// What a shrink found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The failure kept.
    pub failure: Failure,
    /// The original run's outcome.
    pub original_outcome: Outcome,
    /// The original scenario with its plan as a script.
    pub original: Scenario,
    /// Its size.
    pub before: Size,
    /// The smallest failing scenario found (faults as a `Script`).
    pub scenario: Scenario,
    /// Its run's outcome.
    pub outcome: Outcome,
    /// Its size.
    pub after: Size,
    /// Candidate runs (the original run and its script's check not counted).
    pub runs: u64,
    /// A budget ended the shrink before a round changed nothing.
    pub budget_spent: bool,
    /// The seed the shrunk scenario fails with (the original seed, or one of the seeds after
    /// it when `seeds_per_candidate` allowed).
    pub seed: u64,
    /// The shrunk scenario before the last stage (pinned messages and steadier timing), to
    /// measure what that stage gained.
    pub unpinned: Scenario,
    /// Messages the shrunk scenario pins (`DropMessage`, `DuplicateMessage`, `DelayMessage`).
    pub pinned: usize,
}

/// Why a shrink cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario cannot run in this build.
    #[error(transparent)]
    Unsupported(#[from] crate::runner::Unsupported),
    /// The seed passes: nothing to shrink.
    #[error("seed {0} passes: there is no failure to shrink")]
    Passes(u64),
    /// The scripted plan does not fail like the generated one (a bug of ours).
    #[error("the seed's fault plan written as a script does not fail the same way ({0})")]
    ScriptDiffers(String),
}

/// The scenario with `plan` as its script, validated by writing it as RON and reading it back,
/// so every candidate is a scenario a user could have written. `None` if that is not valid.
fn scripted(scenario: &Scenario, plan: &FaultPlan) -> Option<Scenario> {
    let plan = script::applied_part(plan, scenario.duration);
    let text = scenario.to_ron_with_script(&plan);
    let mut parsed = Scenario::from_str(&text, "candidate").ok()?;
    parsed.set_source_path(scenario.source_path().map(Into::into));
    Some(parsed)
}

fn plan_of(scenario: &Scenario) -> &FaultPlan {
    match &scenario.faults {
        FaultSpec::Script(plan) => plan,
        // Every scenario the shrinker holds is scripted (see `scripted`).
        _ => unreachable!("the shrinker works on scripted scenarios"),
    }
}

fn size(scenario: &Scenario, report: &RunReport) -> Size {
    Size {
        fault_events: plan_of(scenario).faults.len(),
        operations: report.ops_ok + report.ops_fail + report.ops_info,
        duration: scenario.duration,
        recovery: scenario.recovery,
        clients: scenario.clients.count,
        nodes: scenario.node_count,
    }
}

struct Shrinker<'a> {
    /// The seed the current scenario fails with.
    seed: u64,
    /// The seed shrinking started from.
    original_seed: u64,
    /// Where the current scenario's failing run ended (an invariant stops the run at once).
    end: u64,
    /// Seeds each candidate may fail with now (see [`ESCALATIONS_MAX`]).
    seed_count: u64,
    failure: Failure,
    options: &'a Options,
    progress: &'a (dyn Fn(&Progress) + Sync),
    started: std::time::Instant,
    runs: u64,
    budget_spent: bool,
    current: Scenario,
    pass: &'static str,
    /// The original scenario's phases (the steadier stage may lengthen the shrunk ones back).
    original_duration: Duration,
    original_recovery: Duration,
}

impl Shrinker<'_> {
    fn out_of_budget(&mut self) -> bool {
        if self.runs >= self.options.max_runs {
            self.budget_spent = true;
        }
        if let Some(limit) = self.options.max_time {
            if self.started.elapsed() >= limit {
                self.budget_spent = true;
            }
        }
        self.budget_spent
    }

    /// The seeds a candidate is run with, in order: the current failing seed, then the
    /// original seed's successors up to `seeds_per_candidate` in all.
    fn seeds(&self) -> Vec<u64> {
        let mut seeds = vec![self.seed];
        let mut next = self.original_seed;
        while (seeds.len() as u64) < self.seed_count {
            next = next.wrapping_add(1);
            if next != self.seed {
                seeds.push(next);
            }
        }
        seeds
    }

    /// The first of `seeds` with which `candidate` fails the same way, with the run's end, and
    /// how many runs that took.
    fn fails_the_same_way(&self, candidate: &Scenario, seeds: &[u64]) -> (Option<(u64, u64)>, u64) {
        for (tried, &seed) in seeds.iter().enumerate() {
            if let Ok(report) = run(candidate, seed, &RunOptions::default()) {
                if Failure::of(&report.outcome).as_ref() == Some(&self.failure) {
                    return (Some((seed, failure_end(&report))), tried as u64 + 1);
                }
            }
        }
        (None, seeds.len() as u64)
    }

    fn report_progress(&self) {
        (self.progress)(&Progress {
            runs: self.runs,
            events_left: plan_of(&self.current).faults.len(),
            pass: self.pass,
        });
    }

    /// Runs `candidates` (in order of preference) in batches and makes the first that fails the
    /// same way current. Candidates equal to the current scenario are skipped. Returns the index
    /// of the one taken.
    fn take_first(&mut self, candidates: Vec<Scenario>) -> Option<usize> {
        let candidates: Vec<(usize, Scenario)> = candidates
            .into_iter()
            .enumerate()
            .filter(|(_, candidate)| *candidate != self.current)
            .collect();
        for batch in candidates.chunks(BATCH) {
            if self.out_of_budget() {
                return None;
            }
            let seeds = self.seeds();
            let verdicts: Vec<(Option<(u64, u64)>, u64)> = batch
                .par_iter()
                .map(|(_, candidate)| self.fails_the_same_way(candidate, &seeds))
                .collect();
            self.runs += verdicts.iter().map(|(_, runs)| runs).sum::<u64>();
            if let Some(position) = verdicts.iter().position(|(fails, _)| fails.is_some()) {
                let (index, candidate) = &batch[position];
                let (seed, end) = verdicts[position].0.expect("a failing verdict");
                self.current = candidate.clone();
                self.seed = seed;
                self.end = end;
                self.report_progress();
                return Some(*index);
            }
            self.report_progress();
        }
        None
    }

    /// The current scenario with another plan (and the same everything else).
    fn with_plan(&self, plan: &FaultPlan) -> Option<Scenario> {
        scripted(&self.current, plan)
    }

    fn shorter_durations(&mut self) -> bool {
        self.pass = "duration";
        let mut changed = false;
        loop {
            let current = self.current.duration.as_nanos();
            let mut lengths: Vec<u64> = [1u64, 2, 4, 6, 8, 10, 12, 14]
                .iter()
                .map(|sixteenths| round_up(current * sixteenths / 16, MILLISECOND * 10))
                .collect();
            // An invariant stops the run where it fires: phase one may end just after that.
            lengths.push(round_up(self.end + 1, MILLISECOND));
            lengths.retain(|&length| length > 0 && length < current);
            lengths.sort_unstable();
            lengths.dedup();
            let candidates: Vec<Scenario> = lengths
                .iter()
                .filter_map(|&length| {
                    let mut candidate = self.current.clone();
                    candidate.duration = Duration(length);
                    scripted(&candidate, plan_of(&self.current))
                })
                .collect();
            if self.take_first(candidates).is_none() {
                return changed;
            }
            changed = true;
        }
    }

    fn shorter_recoveries(&mut self) -> bool {
        self.pass = "recovery";
        let mut changed = false;
        loop {
            let current = self.current.recovery.as_nanos();
            let mut lengths: Vec<u64> = [1u64, 2, 4, 8, 12]
                .iter()
                .map(|sixteenths| round_up(current * sixteenths / 16, MILLISECOND * 10))
                .filter(|&length| length > 0 && length < current)
                .collect();
            lengths.dedup();
            let candidates: Vec<Scenario> = lengths
                .iter()
                .filter_map(|&length| {
                    let mut candidate = self.current.clone();
                    candidate.recovery = Duration(length);
                    scripted(&candidate, plan_of(&self.current))
                })
                .collect();
            if self.take_first(candidates).is_none() {
                return changed;
            }
            changed = true;
        }
    }

    /// Delta debugging over fault units: remove chunks of `k` units, `k` halving from half the
    /// units down to one, until no single unit can go.
    fn fewer_units(&mut self) -> bool {
        self.pass = "fault units";
        let mut changed = false;
        let mut chunk = (script::units(plan_of(&self.current)).len() / 2).max(1);
        loop {
            let mut changed_at_this_size = false;
            let mut start = 0;
            loop {
                let plan = plan_of(&self.current).clone();
                let units = script::units(&plan);
                if start >= units.len() || units.is_empty() {
                    break;
                }
                let chunk_now = chunk.min(units.len());
                let starts: Vec<usize> = (start..units.len()).step_by(chunk_now).collect();
                let candidates: Vec<Scenario> = starts
                    .iter()
                    .filter_map(|&first| {
                        let removed: Vec<usize> = units
                            [first..(first + chunk_now).min(units.len())]
                            .iter()
                            .flatten()
                            .copied()
                            .collect();
                        self.with_plan(&script::without(&plan, &removed))
                    })
                    .collect();
                // `scripted` never refuses a plan without some events of a valid plan, so the
                // candidates line up with `starts`.
                if candidates.len() != starts.len() {
                    break;
                }
                match self.take_first(candidates) {
                    Some(index) => {
                        changed = true;
                        changed_at_this_size = true;
                        start = starts[index];
                    }
                    None => break,
                }
            }
            if self.budget_spent {
                return changed;
            }
            if chunk == 1 {
                if !changed_at_this_size {
                    return changed;
                }
            } else {
                chunk /= 2;
            }
        }
    }

    /// Single events dropped, latest first: an undo dropped makes its fault last until
    /// recovery; a heal dropped merges two partitions.
    fn fewer_events(&mut self) -> bool {
        self.pass = "events";
        let mut changed = false;
        loop {
            let plan = plan_of(&self.current).clone();
            let candidates: Vec<Scenario> = (0..plan.faults.len())
                .rev()
                .filter_map(|index| self.with_plan(&script::without(&plan, &[index])))
                .collect();
            if self.take_first(candidates).is_none() {
                return changed;
            }
            changed = true;
        }
    }

    /// Fewer clients, fewer keys or locks, fewer nodes (faults on removed nodes dropped).
    fn smaller_system(&mut self) -> bool {
        self.pass = "system";
        let mut changed = false;
        // Clients.
        let candidates: Vec<Scenario> = smaller_counts(self.current.clients.count)
            .into_iter()
            .filter_map(|count| {
                let mut candidate = self.current.clone();
                candidate.clients.count = count;
                scripted(&candidate, plan_of(&self.current))
            })
            .collect();
        changed |= self.take_first(candidates).is_some();
        // Keys or locks: the application's count parameter.
        let counted: Vec<(&'static str, u32)> = self
            .current
            .app
            .params
            .iter()
            .filter_map(|(param, value)| match value {
                ParamValue::Count(count) if matches!(param.name, "keys" | "locks") => {
                    Some((param.name, count))
                }
                _ => None,
            })
            .collect();
        for (name, count) in counted {
            let candidates: Vec<Scenario> = smaller_counts(count)
                .into_iter()
                .filter_map(|smaller| {
                    let mut candidate = self.current.clone();
                    candidate.app.params.set(name, ParamValue::Count(smaller));
                    scripted(&candidate, plan_of(&self.current))
                })
                .collect();
            changed |= self.take_first(candidates).is_some();
        }
        // Nodes.
        let rule = self.current.protocol.protocol.nodes();
        let candidates: Vec<Scenario> = smaller_counts(self.current.node_count)
            .into_iter()
            .filter(|&count| rule.allows(count))
            .filter_map(|count| {
                let mut candidate = self.current.clone();
                candidate.node_count = count;
                scripted(&candidate, &on_nodes(plan_of(&self.current), count))
            })
            .collect();
        changed |= self.take_first(candidates).is_some();
        changed
    }

    /// Network randomness and clock offsets down: everything at once first, then one by one.
    /// Each step calms at least one more setting, so the loop ends.
    fn calmer_network(&mut self) -> bool {
        self.pass = "network";
        let edits: [fn(&mut Scenario); 5] = [
            |s| s.network.loss = Ratio::ZERO,
            |s| s.network.duplicate = Ratio::ZERO,
            |s| s.network.reorder = Ratio::ZERO,
            |s| s.network.latency_max = s.network.latency_min,
            |s| s.clock_offset_max = Duration::ZERO,
        ];
        let mut changed = false;
        loop {
            let base = self.current.clone();
            let mut all = base.clone();
            for edit in &edits {
                edit(&mut all);
            }
            let mut candidates = vec![all];
            for edit in &edits {
                let mut one = base.clone();
                edit(&mut one);
                candidates.push(one);
            }
            let candidates: Vec<Scenario> = candidates
                .iter()
                .filter_map(|candidate| scripted(candidate, plan_of(&base)))
                .filter(|candidate| *candidate != base)
                .collect();
            if candidates.is_empty() || self.take_first(candidates).is_none() {
                return changed;
            }
            changed = true;
        }
    }

    /// The random workload replaced by the operations the failing run invoked (up to the
    /// failure), as a `workload: (script: ...)`, if that still fails the same way; then
    /// delta debugging over those operations. False when the workload stays random.
    fn scripted_clients(&mut self) -> bool {
        self.pass = "scripted clients";
        if !self.current.workload.script.is_empty() {
            return self.fewer_operations();
        }
        let Ok(report) = run(&self.current, self.seed, &RunOptions::default()) else {
            return false;
        };
        let clients = u64::from(self.current.clients.count.max(1));
        let script: Vec<(Duration, u32, Operation)> = report
            .history
            .iter()
            .filter(|event| event.kind == EventType::Invoke && event.time <= self.end)
            .filter_map(|event| {
                let key = match &event.key {
                    Some(key) => Some(key.parse::<u32>().ok()?),
                    None => None,
                };
                Some((
                    Duration(event.time),
                    (event.process % clients) as u32,
                    Operation {
                        f: event.f,
                        key,
                        value: event.value.clone(),
                    },
                ))
            })
            .collect();
        if script.is_empty() {
            return false;
        }
        let mut candidate = self.current.clone();
        candidate.workload.script = script;
        let Some(candidate) = scripted(&candidate, plan_of(&self.current)) else {
            return false;
        };
        if self.take_first(vec![candidate]).is_none() {
            return false;
        }
        self.fewer_operations();
        // The operations' instants onto the coarsest grid that keeps the failure.
        let candidates: Vec<Scenario> = [100u64, 50, 10, 5, 1]
            .iter()
            .filter_map(|&grid_ms| {
                let grid = grid_ms * MILLISECOND;
                let mut candidate = self.current.clone();
                for (at, _, _) in &mut candidate.workload.script {
                    *at = Duration((at.as_nanos() + grid / 2) / grid * grid);
                }
                scripted(&candidate, plan_of(&self.current))
            })
            .collect();
        self.take_first(candidates);
        true
    }

    /// The second stage: the messages whose fate the network's randomness decided before the
    /// failure (lost, duplicated, delayed past `latency_max`) become scripted network events
    /// (`DropMessage`, ...), and the network's randomness goes down (no loss, duplication or
    /// reordering, every latency the smallest), if the scenario still fails the same way; then
    /// pins are dropped one by one while it does. False when nothing changed.
    fn pinned_messages(&mut self) -> bool {
        self.pass = "pinned messages";
        let traced = RunOptions {
            trace: true,
            ..RunOptions::default()
        };
        let Ok(report) = run(&self.current, self.seed, &traced) else {
            return false;
        };
        let pins: Vec<TimedFault> = report
            .random_fates
            .iter()
            .filter(|(at, _, _)| at.as_nanos() <= self.end)
            .take(PINS_MAX)
            .map(|(_, message, fate)| TimedFault {
                // Armed from the start: messages count from the start of the run, and a calmer
                // network sends them at other instants.
                at: Instant::ZERO,
                action: FaultAction::Pin {
                    message: message.clone(),
                    fate: *fate,
                },
            })
            .collect();
        if pins.is_empty() {
            return false;
        }
        let mut plan = plan_of(&self.current).clone();
        let mut faults = pins;
        faults.append(&mut plan.faults);
        plan.faults = faults;
        let mut calm = self.current.clone();
        calm.network.loss = Ratio::ZERO;
        calm.network.duplicate = Ratio::ZERO;
        calm.network.reorder = Ratio::ZERO;
        calm.network.latency_max = calm.network.latency_min;
        let candidates: Vec<Scenario> = [scripted(&calm, &plan), scripted(&self.current, &plan)]
            .into_iter()
            .flatten()
            .collect();
        if self.take_first(candidates).is_none() {
            return false;
        }
        // Pins the failure does not need go, latest first.
        loop {
            let plan = plan_of(&self.current).clone();
            let candidates: Vec<Scenario> = (0..plan.faults.len())
                .rev()
                .filter(|&index| matches!(plan.faults[index].action, FaultAction::Pin { .. }))
                .filter_map(|index| self.with_plan(&script::without(&plan, &[index])))
                .collect();
            if candidates.is_empty() || self.take_first(candidates).is_none() {
                return true;
            }
        }
    }

    /// The seeds of `seeds` with which `candidate` fails the same way, with each run's end.
    fn failing_seeds(&mut self, candidate: &Scenario, seeds: &[u64]) -> Vec<(u64, u64)> {
        let failure = &self.failure;
        let verdicts: Vec<Option<(u64, u64)>> = seeds
            .par_iter()
            .map(|&seed| {
                let report = run(candidate, seed, &RunOptions::default()).ok()?;
                (Failure::of(&report.outcome).as_ref() == Some(failure))
                    .then(|| (seed, failure_end(&report)))
            })
            .collect();
        self.runs += seeds.len() as u64;
        verdicts.into_iter().flatten().collect()
    }

    /// Last, steadier timing: a candidate that fails the same way on more of the seeds
    /// `0..STEADY_SEEDS` replaces the current scenario. The candidates take the randomness
    /// left out one source at a time: the network's (no loss, duplication or reordering, one
    /// latency), the initial clock offsets, and every range parameter of the protocol and the
    /// application (an election timeout drawn from 150ms to 300ms) narrowed to its smallest,
    /// middle or largest value. Returns whether anything changed.
    fn steadier(&mut self) -> bool {
        self.pass = "steadier";
        let seeds: Vec<u64> = (0..STEADY_SEEDS).collect();
        let current = self.current.clone();
        let mut best = self.failing_seeds(&current, &seeds).len();
        let mut changed = false;
        let mut edits: Vec<Edit> = vec![
            Box::new(|s: &mut Scenario| {
                s.network.loss = Ratio::ZERO;
                s.network.duplicate = Ratio::ZERO;
                s.network.reorder = Ratio::ZERO;
                s.network.latency_max = s.network.latency_min;
            }),
            Box::new(|s: &mut Scenario| s.clock_offset_max = Duration::ZERO),
        ];
        // A story cut just after its failure leaves other seeds no time: longer phases, up to
        // the original's.
        for factor in [2u64, 4, 8] {
            let (longest, recovery) = (self.original_duration, self.original_recovery);
            edits.push(Box::new(move |s: &mut Scenario| {
                s.duration = Duration(s.duration.0.saturating_mul(factor).min(longest.0));
                s.recovery = Duration(s.recovery.0.max(recovery.0 / 4));
            }));
        }
        for (protocol_side, params) in [
            (true, current.protocol.params.clone()),
            (false, current.app.params.clone()),
        ] {
            for (param, value) in params.iter() {
                let ParamValue::DurationRange(min, max) = value else {
                    continue;
                };
                if min >= max {
                    continue;
                }
                let middle = Duration(min.0 + (max.0 - min.0) / 2);
                for at in [min, middle, max] {
                    let name = param.name;
                    edits.push(Box::new(move |s: &mut Scenario| {
                        let value = ParamValue::DurationRange(at, at);
                        if protocol_side {
                            s.protocol.params.set(name, value);
                        } else {
                            s.app.params.set(name, value);
                        }
                    }));
                }
            }
        }
        for edit in &edits {
            if self.out_of_budget() {
                break;
            }
            let mut candidate = self.current.clone();
            edit(&mut candidate);
            let Some(candidate) = scripted(&candidate, plan_of(&self.current)) else {
                continue;
            };
            if candidate == self.current {
                continue;
            }
            let failing = self.failing_seeds(&candidate, &seeds);
            if failing.len() > best {
                best = failing.len();
                let (seed, end) = failing[0];
                self.current = candidate;
                self.seed = seed;
                self.end = end;
                changed = true;
                self.report_progress();
            }
        }
        changed
    }

    /// Delta debugging over the scripted operations: remove chunks of halving size down to
    /// single operations while the failure stays.
    fn fewer_operations(&mut self) -> bool {
        self.pass = "operations";
        let mut changed = false;
        let mut chunk = (self.current.workload.script.len() / 2).max(1);
        loop {
            let mut changed_at_this_size = false;
            let mut start = 0;
            loop {
                let script = self.current.workload.script.clone();
                if start >= script.len() || script.len() <= 1 {
                    break;
                }
                // An empty script means "the mix runs": at least one operation stays.
                let chunk_now = chunk.min(script.len() - 1);
                let starts: Vec<usize> = (start..script.len()).step_by(chunk_now).collect();
                let candidates: Vec<Scenario> = starts
                    .iter()
                    .filter_map(|&first| {
                        let mut candidate = self.current.clone();
                        candidate.workload.script = script
                            .iter()
                            .enumerate()
                            .filter(|(index, _)| *index < first || *index >= first + chunk_now)
                            .map(|(_, op)| op.clone())
                            .collect();
                        scripted(&candidate, plan_of(&self.current))
                    })
                    .collect();
                if candidates.len() != starts.len() {
                    break;
                }
                match self.take_first(candidates) {
                    Some(index) => {
                        changed = true;
                        changed_at_this_size = true;
                        start = starts[index];
                    }
                    None => break,
                }
            }
            if self.budget_spent {
                return changed;
            }
            if chunk == 1 {
                if !changed_at_this_size {
                    return changed;
                }
            } else {
                chunk /= 2;
            }
        }
    }

    /// Every event onto the coarsest grid that keeps the failure; then each fault interval
    /// halved.
    fn coarser_times(&mut self) -> bool {
        self.pass = "times";
        let plan = plan_of(&self.current).clone();
        let candidates: Vec<Scenario> = [1000u64, 500, 100, 50, 10, 5, 1]
            .iter()
            .filter_map(|&grid_ms| self.with_plan(&on_grid(&plan, grid_ms * MILLISECOND)))
            .collect();
        let mut changed = self.take_first(candidates).is_some();
        // Intervals halved, on a 1 ms grid.
        let mut unit_index = 0;
        loop {
            let plan = plan_of(&self.current).clone();
            let units = script::units(&plan);
            let candidates: Vec<Scenario> = units
                .iter()
                .skip(unit_index)
                .filter(|unit| unit.len() == 2)
                .filter_map(|unit| {
                    let (start, end) = (plan.faults[unit[0]].at, plan.faults[unit[1]].at);
                    let half = round_up((end - start).as_nanos() / 2, MILLISECOND);
                    let moved = start + Duration(half);
                    (moved < end).then(|| {
                        let mut shorter = plan.clone();
                        shorter.faults[unit[1]].at = moved;
                        shorter.faults.sort_by_key(|fault| fault.at);
                        self.with_plan(&shorter)
                    })?
                })
                .collect();
            match self.take_first(candidates) {
                Some(index) => {
                    changed = true;
                    unit_index += index;
                }
                None => return changed,
            }
        }
    }
}

const MILLISECOND: u64 = 1_000_000;

/// One change to a scenario, tried as a candidate.
type Edit = Box<dyn Fn(&mut Scenario)>;

/// The most messages the pinning stage pins (the first ones the network's randomness decided
/// before the failure).
pub const PINS_MAX: usize = 32;

/// Seeds (0..this) on which the last stage counts how often a candidate fails the same way.
pub const STEADY_SEEDS: u64 = 16;

/// When a failing run had already failed: where an invariant stopped it, or the time of the
/// history event at which every linearization fails (the history up to it is already not
/// linearizable, and the same scenario cut just after it runs the same up to there).
fn failure_end(report: &RunReport) -> u64 {
    let linearization_end = report
        .check
        .as_ref()
        .filter(|_| matches!(&report.outcome, Outcome::SafetyViolation { source, .. } if source == "linearizability"))
        .and_then(|check| check.explanation.as_ref())
        .and_then(|explanation| report.history.get(explanation.failing_event))
        .map(|event| event.time);
    linearization_end.unwrap_or(report.simulated_nanos)
}

fn round_up(nanos: u64, grid: u64) -> u64 {
    nanos.div_ceil(grid) * grid
}

/// Smaller counts to try, smallest first: 1, 2, 3, a quarter, a half, three quarters.
fn smaller_counts(count: u32) -> Vec<u32> {
    let mut counts: Vec<u32> = [1, 2, 3, count / 4, count / 2, count * 3 / 4]
        .into_iter()
        .filter(|&c| c >= 1 && c < count)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// `plan` on a cluster of `count` nodes: events naming a removed node dropped, cuts to or from
/// one removed (a partition left with no cuts is dropped).
fn on_nodes(plan: &FaultPlan, count: u32) -> FaultPlan {
    let kept = |node: &NodeId| node.0 < count;
    let faults = plan
        .faults
        .iter()
        .filter_map(|fault| {
            let action = match &fault.action {
                FaultAction::Partition(PartitionShape::Cuts(cuts)) => {
                    let cuts: Vec<(NodeId, NodeId)> = cuts
                        .iter()
                        .filter(|(a, b)| kept(a) && kept(b))
                        .copied()
                        .collect();
                    if cuts.is_empty() {
                        return None;
                    }
                    FaultAction::Partition(PartitionShape::Cuts(cuts))
                }
                FaultAction::Partition(_)
                | FaultAction::Heal
                | FaultAction::SetLoss { .. }
                | FaultAction::Membership(_) => fault.action.clone(),
                FaultAction::Pin { message, .. } => {
                    let gone = (!message.from_client() && !kept(&message.from))
                        || (!message.to_client() && !kept(&message.to));
                    if gone {
                        return None;
                    }
                    fault.action.clone()
                }
                FaultAction::Crash { node, .. }
                | FaultAction::Restart { node }
                | FaultAction::Pause { node }
                | FaultAction::Resume { node }
                | FaultAction::ClockStep { node, .. }
                | FaultAction::ClockDrift { node, .. }
                | FaultAction::CrashAt { node, .. } => {
                    if !kept(node) {
                        return None;
                    }
                    fault.action.clone()
                }
                FaultAction::Clog { from, to } | FaultAction::Unclog { from, to } => {
                    if !kept(from) || !kept(to) {
                        return None;
                    }
                    fault.action.clone()
                }
            };
            Some(TimedFault {
                at: fault.at,
                action,
            })
        })
        .collect();
    FaultPlan { faults }
}

/// Every event rounded to the nearest multiple of `grid`, kept inside phase one's plan order.
fn on_grid(plan: &FaultPlan, grid: u64) -> FaultPlan {
    let mut faults: Vec<TimedFault> = plan
        .faults
        .iter()
        .map(|fault| TimedFault {
            at: Instant((fault.at.as_nanos() + grid / 2) / grid * grid),
            action: fault.action.clone(),
        })
        .collect();
    faults.sort_by_key(|fault| fault.at);
    FaultPlan { faults }
}

/// Shrinks seed `seed` of `scenario` (its bugs switched on) within `options`' budget, calling
/// `progress` after every batch.
///
/// # Errors
/// The scenario is not supported, the seed passes, or the plan as a script does not fail the
/// same way.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    options: &Options,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Shrunk, Error> {
    // The wall clock only bounds the shrink (`max_time`); it never enters a run.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let original_report = run(scenario, seed, &RunOptions::default())?;
    let failure = Failure::of(&original_report.outcome).ok_or(Error::Passes(seed))?;
    // The plan that ran: generated from the seed, plus the crashes random crash points caused
    // (as `CrashAt`s and restarts; see `runner::with_crash_point_crashes`).
    let plan = original_report.plan.clone();
    let original = scripted(scenario, &plan)
        .ok_or_else(|| Error::ScriptDiffers("the plan does not validate as a script".into()))?;
    let script_report = run(&original, seed, &RunOptions::default())?;
    // Scripted crash points arm their crashes as fault events of their own, which the digest
    // sees: there the script must fail the same way, not give the same digest.
    let crash_points_scripted = plan != fault_plan(scenario, seed);
    if crash_points_scripted {
        if Failure::of(&script_report.outcome).map(|f| f.kind) != Some(failure.kind) {
            return Err(Error::ScriptDiffers(format!(
                "{} instead of {}",
                script_report.outcome.name(),
                original_report.outcome.name()
            )));
        }
    } else if script_report.digest != original_report.digest {
        return Err(Error::ScriptDiffers(format!(
            "digest {} instead of {}",
            sim_core::trace::format_digest(script_report.digest),
            sim_core::trace::format_digest(original_report.digest)
        )));
    }
    let before = size(&original, &original_report);
    let mut shrinker = Shrinker {
        seed,
        original_seed: seed,
        end: failure_end(&original_report),
        seed_count: options.seeds_per_candidate.max(1),
        failure: failure.clone(),
        options,
        progress,
        started,
        runs: 0,
        budget_spent: false,
        current: original.clone(),
        pass: "start",
        original_duration: original.duration,
        original_recovery: original.recovery,
    };
    shrinker.report_progress();
    let mut escalations = 0;
    for _ in 0..ROUNDS_MAX + ESCALATIONS_MAX {
        let mut changed = shrinker.shorter_durations();
        changed |= shrinker.fewer_units();
        changed |= shrinker.fewer_events();
        changed |= shrinker.shorter_durations();
        changed |= shrinker.smaller_system();
        changed |= shrinker.calmer_network();
        changed |= shrinker.shorter_recoveries();
        changed |= shrinker.coarser_times();
        if shrinker.budget_spent {
            break;
        }
        if !changed {
            // Stuck: a rare failure may still shrink when each candidate gets more seeds.
            if escalations == ESCALATIONS_MAX || plan_of(&shrinker.current).faults.is_empty() {
                break;
            }
            escalations += 1;
            shrinker.seed_count *= 2;
        }
    }
    // Last, the clients: the operations the failure needs, as a script.
    if !shrinker.budget_spent && shrinker.scripted_clients() && !shrinker.out_of_budget() {
        shrinker.shorter_durations();
        shrinker.shorter_recoveries();
    }
    // The second stage: pinned messages and steadier timing, so the story fails for more seeds
    // than the one it was cut to.
    let unpinned = shrinker.current.clone();
    if !shrinker.out_of_budget() {
        shrinker.pinned_messages();
    }
    if !shrinker.out_of_budget() {
        shrinker.steadier();
    }
    let pinned = plan_of(&shrinker.current)
        .faults
        .iter()
        .filter(|fault| matches!(fault.action, FaultAction::Pin { .. }))
        .count();
    let mut shrunk = shrinker.current.clone();
    shrunk.name = format!("{}-s{seed}-shrunk", scenario.name);
    shrunk.expect = match failure.kind {
        "safety-violation" | "panic" => Some(Expectation::Violation),
        "liveness-failure" => Some(Expectation::LivenessFailure),
        _ => None,
    };
    let final_report = run(&shrunk, shrinker.seed, &RunOptions::default())?;
    let after = size(&shrunk, &final_report);
    Ok(Shrunk {
        failure,
        original_outcome: original_report.outcome,
        original,
        before,
        outcome: final_report.outcome,
        scenario: shrunk,
        after,
        runs: shrinker.runs,
        budget_spent: shrinker.budget_spent,
        seed: shrinker.seed,
        unpinned,
        pinned,
    })
}

/// How many of `seeds` of `scenario` fail with `failure`, run on rayon, counted in any order
/// (a sum of integers).
pub fn robustness(scenario: &Scenario, failure: &Failure, seeds: std::ops::Range<u64>) -> u64 {
    seeds
        .into_par_iter()
        .map(|seed| match run(scenario, seed, &RunOptions::default()) {
            Ok(report) => u64::from(Failure::of(&report.outcome).as_ref() == Some(failure)),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_counts_are_ascending_and_below() {
        assert_eq!(smaller_counts(1), Vec::<u32>::new());
        assert_eq!(smaller_counts(2), vec![1]);
        assert_eq!(smaller_counts(8), vec![1, 2, 3, 4, 6]);
    }

    #[test]
    fn grids_round_to_the_nearest_multiple() {
        let plan = FaultPlan {
            faults: vec![TimedFault {
                at: Instant(1_600_000),
                action: FaultAction::Heal,
            }],
        };
        assert_eq!(on_grid(&plan, MILLISECOND).faults[0].at, Instant(2_000_000));
        assert_eq!(on_grid(&plan, 10 * MILLISECOND).faults[0].at, Instant(0));
    }
}
