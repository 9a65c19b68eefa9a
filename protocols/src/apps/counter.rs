//! The **counter** application: one integer per key with `add` and `read` (DESIGN.md §4, the
//! checker's `counter` model), exactly-once through the session table every protocol wraps it
//! in ([`crate::apps::session::Sessions`], Raft thesis §6.3).
//!
//! - `add δ` (`Value::Int(δ)`, signed) adds δ and answers `Ok { value: Null, token: None }`.
//! - `read` answers `Ok { value: Int(v), .. }`; a counter starts at 0.
//! - `write v` sets the counter to `v`. No client sends it: it is the blind write that the
//!   read-modify-write mutation proposes in place of an `add` (below).
//!
//! An `add` is not idempotent, which is what makes the counter a good probe of the session
//! table: a retried add that is applied twice shows in every later read.
//!
//! ## Mutations (BUGS.md §6)
//!
//! - C1 `counter-nonatomic-rmw`: [`Application::prepare_proposal`] turns `add δ` into
//!   `write (local + δ)`, where `local` is the proposer's applied value: the service reads,
//!   then proposes a blind write. Two concurrent adds that read the same value lose one.
//! - C2 `counter-retry-not-idempotent`: the protocol builds its session table with
//!   [`Sessions::for_bugs`](crate::apps::session::Sessions::for_bugs), which then does not
//!   deduplicate; a retried add after a lost reply is applied again.
//!
//! ## The bounds audit
//!
//! [`audit`] checks every `ok` read of a history against what the adds around it allow
//! (BUGS.md's cheap counter check, "acked ≤ final ≤ invoked", applied to every read rather
//! than only the last): an add that completed `ok` before the read was invoked must be in
//! the value, and an add invoked after the read completed, or one that failed, must not be.
//! It needs no search, so it is conclusive where the linearizability checker may run out of
//! budget, and its message says which way the value is off (lost or duplicated adds).

use super::{digest_key, Application, Command};
use crate::mutation::BugSet;
use sim_core::client::{ClientCtx, Pacing, Workload};
use sim_core::history::{EventType, Function, HistoryEvent, Value};
use sim_core::id::ClientId;
use sim_core::node::{Operation, Outcome};
use sim_core::prng::{Prng, Ratio};
use sim_core::time::Instant;
use sim_core::trace::Digest;
use std::collections::BTreeMap;

/// The counter's classic bugs (BUGS.md §6). Both live in the protocol's proposal path, so only
/// protocols with the capability can carry them.
pub mod bugs {
    use crate::capabilities::Capabilities;
    use crate::mutation::Bug;

    /// C1: increment as a read followed by a blind write (in the proposal hook).
    pub const NONATOMIC_RMW: Bug = Bug::new(
        "counter-nonatomic-rmw",
        "add as a read followed by a blind write",
    )
    .requiring(Capabilities::PROPOSAL_HOOK);
    /// C2: no session table: a retried add is applied again.
    pub const RETRY_NOT_IDEMPOTENT: Bug = Bug::new(
        "counter-retry-not-idempotent",
        "no session table: retried adds apply twice",
    )
    .requiring(Capabilities::SESSION_SWITCH);

    /// C3: a state-based CRDT counter merges by adding entries instead of taking their
    /// maximum (in the merge of protocols with the state-merge capability: `crdt`).
    pub const GCOUNTER_MERGE_SUM: Bug = Bug::new(
        "gcounter-merge-sum",
        "CRDT merge adds entries instead of taking the pointwise maximum",
    )
    .requiring(Capabilities::STATE_MERGE);

    /// Every counter bug.
    pub const ALL: &[Bug] = &[NONATOMIC_RMW, RETRY_NOT_IDEMPOTENT, GCOUNTER_MERGE_SUM];
}

/// The counter: the current value of every key that was ever changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// `None` is the keyless object (the scenario's single counter); absent keys hold 0.
    values: BTreeMap<Option<u32>, i64>,
    /// Switched-on mutations; only C1 changes what this application does. Configuration,
    /// identical on every replica, so not part of the state digest.
    bugs: BugSet,
}

impl Counter {
    /// A counter at 0 everywhere, with these mutations switched on (none: the correct
    /// application).
    pub fn new(bugs: BugSet) -> Counter {
        Counter {
            values: BTreeMap::new(),
            bugs,
        }
    }

    /// The value of `key` (0 when never changed).
    pub fn get(&self, key: Option<u32>) -> i64 {
        self.values.get(&key).copied().unwrap_or(0)
    }

    fn read(&self, key: Option<u32>) -> Outcome {
        Outcome::Ok {
            value: Value::Int(self.get(key)),
            token: None,
        }
    }
}

impl Application for Counter {
    /// # Panics
    /// On an operation the counter does not have, a non-integer argument, or a counter that
    /// overflows 64 bits: the scenario's workload and application disagree, which is a bug of
    /// the harness, not a client error.
    fn apply(&mut self, command: &Command) -> Outcome {
        let Operation { f, key, value } = &command.operation;
        let argument = || {
            value.as_int().unwrap_or_else(|| {
                panic!(
                    "counter {} of a non-integer value {value} (request {:?})",
                    f.as_str(),
                    command.request
                )
            })
        };
        match f {
            Function::Read => self.read(*key),
            Function::Add => {
                let delta = argument();
                let sum = self.get(*key).checked_add(delta).unwrap_or_else(|| {
                    panic!(
                        "counter {key:?} overflows adding {delta} to {}",
                        self.get(*key)
                    )
                });
                self.values.insert(*key, sum);
                Outcome::Ok {
                    value: Value::Null,
                    token: None,
                }
            }
            Function::Write => {
                self.values.insert(*key, argument());
                Outcome::Ok {
                    value: Value::Null,
                    token: None,
                }
            }
            other => panic!(
                "the counter application has no `{}` operation",
                other.as_str()
            ),
        }
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        (operation.f == Function::Read).then(|| self.read(operation.key))
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("counter");
        // A key at 0 reads the same as an absent key; leaving zeros out makes equal counters
        // digest equally whatever adds brought them there.
        let nonzero: Vec<_> = self.values.iter().filter(|(_, &v)| v != 0).collect();
        digest.word(nonzero.len() as u64);
        for (key, value) in nonzero {
            digest_key(&mut digest, *key);
            digest.word(*value as u64);
        }
        digest.value()
    }

    fn prepare_proposal(&self, operation: &Operation) -> Operation {
        if !self.bugs.contains(bugs::NONATOMIC_RMW) || operation.f != Function::Add {
            return operation.clone();
        }
        // C1: read the proposer's local value, propose a blind write of the sum. The local
        // value may be behind the log, and a concurrent add proposed from the same value is
        // overwritten: a lost update.
        let Some(delta) = operation.value.as_int() else {
            return operation.clone();
        };
        Operation {
            f: Function::Write,
            key: operation.key,
            value: Value::Int(self.get(operation.key).wrapping_add(delta)),
        }
    }
}

/// The largest delta [`CounterWorkload`] adds. Small deltas keep sums readable in reports;
/// deltas above 1 make a lost or doubled add show as more than an off-by-one.
pub const DELTA_MAX: u64 = 5;

/// A mix of `add` (deltas `1..=DELTA_MAX`) and `read` on the single counter. Deltas are
/// positive, so the bounds audit is tight in both directions, unless the `decrements` ratio
/// makes that share of adds negative (a PN-Counter's subtractions). Retries after a timeout
/// are the kernel's (same request id), which is what C2 needs.
#[derive(Clone, Debug)]
pub struct CounterWorkload {
    mix: Vec<(Function, u64)>,
    weights: Vec<u64>,
    decrements: Ratio,
    /// Takes the unusual paths of [`MARKS`] now and then.
    buggify: bool,
    /// Per client slot: BUGGIFY chose a read at once after its add (grown on demand).
    read_at_once: Vec<bool>,
}

/// The marks of the counter workload's BUGGIFY paths (`Counter(buggify: true)`), one in four
/// at each place: an add sent twice at once with the same request id (the session table must
/// apply it once), and a read invoked the moment an add was acknowledged (it must see the add).
pub const MARKS: &[&str] = &[
    "counter.buggify_add_resent",
    "counter.buggify_read_after_add",
];

/// One BUGGIFY coin in this many at each of the workload's unusual paths.
const BUGGIFY_ONE_IN: u64 = 4;

impl CounterWorkload {
    /// A workload with this mix of `add` and `read`.
    ///
    /// # Panics
    /// If the mix holds another function or has no positive weight (scenario validation
    /// rules both out).
    pub fn new(mix: Vec<(Function, u64)>) -> CounterWorkload {
        assert!(
            mix.iter().any(|&(_, w)| w > 0),
            "workload mix has no positive weight"
        );
        for &(f, _) in &mix {
            assert!(
                matches!(f, Function::Add | Function::Read),
                "{f:?} is not a counter operation"
            );
        }
        let weights = mix.iter().map(|&(_, w)| w).collect();
        CounterWorkload {
            mix,
            weights,
            decrements: Ratio::ZERO,
            buggify: false,
            read_at_once: Vec::new(),
        }
    }

    /// The same workload, taking BUGGIFY's unusual paths ([`MARKS`]) when `buggify` is on.
    pub fn with_buggify(mut self, buggify: bool) -> CounterWorkload {
        self.buggify = buggify;
        self
    }

    fn read_at_once(&mut self, client: ClientId) -> &mut bool {
        if self.read_at_once.len() <= client.index() {
            self.read_at_once.resize(client.index() + 1, false);
        }
        &mut self.read_at_once[client.index()]
    }

    /// The same workload, with this share of adds negative.
    pub fn with_decrements(mut self, decrements: Ratio) -> CounterWorkload {
        self.decrements = decrements;
        self
    }
}

impl Workload for CounterWorkload {
    fn next_operation(&mut self, _client: ClientId, _now: Instant, rng: &mut Prng) -> Operation {
        let f = self.mix[rng.weighted_index(&self.weights)].0;
        let value = match f {
            Function::Add => {
                let delta = rng.range_inclusive(1, DELTA_MAX) as i64;
                // `chance` draws nothing at a ratio of 0: a counter without decrements draws
                // exactly what it always drew.
                Value::Int(if rng.chance(self.decrements) {
                    -delta
                } else {
                    delta
                })
            }
            _ => Value::Null,
        };
        Operation {
            f,
            key: None,
            value,
        }
    }

    fn pacing(&mut self, client: ClientId, now: Instant) -> Pacing {
        // BUGGIFY's read goes out the moment its add was acknowledged.
        match self.read_at_once.get(client.index()) {
            Some(true) => Pacing::At(now),
            _ => Pacing::Think,
        }
    }

    fn next_operation_in(&mut self, ctx: &mut ClientCtx<'_>) -> Operation {
        let (client, now) = (ctx.client(), ctx.now());
        if std::mem::take(self.read_at_once(client)) {
            ctx.mark("counter.buggify_read_after_add");
            return Operation {
                f: Function::Read,
                key: None,
                value: Value::Null,
            };
        }
        let operation = self.next_operation(client, now, ctx.rng());
        if self.buggify && operation.f == Function::Add && ctx.buggify(BUGGIFY_ONE_IN) {
            // A client that retries at once: two copies of one request in flight together.
            ctx.mark("counter.buggify_add_resent");
            ctx.resend_at_once();
        }
        operation
    }

    fn observe_result_in(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        operation: &Operation,
        outcome: Option<&Outcome>,
    ) {
        let (client, now) = (ctx.client(), ctx.now());
        self.observe_result(client, now, operation, outcome);
        let acknowledged_add =
            operation.f == Function::Add && matches!(outcome, Some(Outcome::Ok { .. }));
        if self.buggify && acknowledged_add && ctx.buggify(BUGGIFY_ONE_IN) {
            *self.read_at_once(ctx.client()) = true;
        }
    }
}

/// One add of the history, as the audit sees it.
pub(crate) struct AddSpan {
    pub(crate) delta: i64,
    /// Position of its invoke.
    pub(crate) invoked: usize,
    /// Position of its `ok`, if it completed ok.
    pub(crate) acknowledged: Option<usize>,
    /// It completed `fail`: it did not take effect.
    pub(crate) failed: bool,
}

/// The open operation of a process while the audit scans: its key, function, invoke position
/// and, for an add, its index among the key's adds.
struct OpenOperation<'a> {
    key: Option<&'a str>,
    f: Function,
    invoked: usize,
    add_index: Option<usize>,
}

/// One `ok` read.
pub(crate) struct ReadSpan {
    pub(crate) invoked: usize,
    pub(crate) completed: usize,
    pub(crate) process: u64,
    pub(crate) value: Value,
}

/// Sums of deltas contributed at positions, for prefix queries "before position p".
struct PrefixSums {
    /// (position, running sum including that position), sorted by position.
    points: Vec<(usize, i128)>,
}

impl PrefixSums {
    fn new(mut contributions: Vec<(usize, i64)>) -> PrefixSums {
        contributions.sort_by_key(|&(position, _)| position);
        let mut running = 0i128;
        let points = contributions
            .into_iter()
            .map(|(position, delta)| {
                running += i128::from(delta);
                (position, running)
            })
            .collect();
        PrefixSums { points }
    }

    /// The sum of contributions at positions strictly before `position`.
    fn before(&self, position: usize) -> i128 {
        let count = self.points.partition_point(|&(p, _)| p < position);
        if count == 0 {
            0
        } else {
            self.points[count - 1].1
        }
    }
}

/// A counter history's adds and `ok` reads per key, matched by process in slice order.
pub(crate) struct CounterSpans<'a> {
    pub(crate) adds: BTreeMap<Option<&'a str>, Vec<AddSpan>>,
    pub(crate) reads: BTreeMap<Option<&'a str>, Vec<ReadSpan>>,
}

impl<'a> CounterSpans<'a> {
    /// Scans `history` (real-time order; completions matched to invokes by process).
    pub(crate) fn scan(history: &'a [HistoryEvent]) -> CounterSpans<'a> {
        let mut adds: BTreeMap<Option<&str>, Vec<AddSpan>> = BTreeMap::new();
        let mut reads: BTreeMap<Option<&str>, Vec<ReadSpan>> = BTreeMap::new();
        let mut open: BTreeMap<u64, OpenOperation<'_>> = BTreeMap::new();
        for (position, event) in history.iter().enumerate() {
            let key = event.key.as_deref();
            match event.kind {
                EventType::Invoke => {
                    let add_index = match (event.f, event.value.as_int()) {
                        (Function::Add, Some(delta)) => {
                            let spans = adds.entry(key).or_default();
                            spans.push(AddSpan {
                                delta,
                                invoked: position,
                                acknowledged: None,
                                failed: false,
                            });
                            Some(spans.len() - 1)
                        }
                        _ => None,
                    };
                    open.insert(
                        event.process,
                        OpenOperation {
                            key,
                            f: event.f,
                            invoked: position,
                            add_index,
                        },
                    );
                }
                kind => {
                    let Some(OpenOperation {
                        key,
                        f,
                        invoked,
                        add_index,
                    }) = open.remove(&event.process)
                    else {
                        continue;
                    };
                    if let Some(index) = add_index {
                        let span = &mut adds.get_mut(&key).expect("inserted at invoke")[index];
                        match kind {
                            EventType::Ok => span.acknowledged = Some(position),
                            EventType::Fail => span.failed = true,
                            _ => {}
                        }
                    } else if f == Function::Read && kind == EventType::Ok {
                        reads.entry(key).or_default().push(ReadSpan {
                            invoked,
                            completed: position,
                            process: event.process,
                            value: event.value.clone(),
                        });
                    }
                }
            }
        }
        CounterSpans { adds, reads }
    }
}

/// What the adds of one key allow a read to see, as prefix sums over history positions.
pub(crate) struct AddBounds {
    definite_up: PrefixSums,
    definite_down: PrefixSums,
    possible_up: PrefixSums,
    possible_down: PrefixSums,
}

/// A read's allowed range: `lower..=upper`, and the sums it is made of.
pub(crate) struct Range {
    pub(crate) lower: i128,
    pub(crate) upper: i128,
    /// Positive deltas acknowledged before the read's invoke.
    pub(crate) must_up: i128,
    /// Positive deltas invoked before the read's completion, not failed.
    pub(crate) may_up: i128,
    /// Negative deltas invoked before the read's completion, not failed.
    pub(crate) may_down: i128,
}

impl AddBounds {
    /// The bounds of a key with these adds.
    pub(crate) fn new(spans: &[AddSpan]) -> AddBounds {
        let definite = |positive: bool| {
            PrefixSums::new(
                spans
                    .iter()
                    .filter(|s| (s.delta > 0) == positive && s.delta != 0)
                    .filter_map(|s| s.acknowledged.map(|p| (p, s.delta)))
                    .collect(),
            )
        };
        let possible = |positive: bool| {
            PrefixSums::new(
                spans
                    .iter()
                    .filter(|s| (s.delta > 0) == positive && s.delta != 0 && !s.failed)
                    .map(|s| (s.invoked, s.delta))
                    .collect(),
            )
        };
        AddBounds {
            definite_up: definite(true),
            definite_down: definite(false),
            possible_up: possible(true),
            possible_down: possible(false),
        }
    }

    /// A linearizable read invoked at position `invoked` and completed at `completed`: at
    /// least the adds acknowledged before the invoke, at most those invoked before the
    /// completion (module documentation).
    pub(crate) fn linearizable(&self, invoked: usize, completed: usize) -> Range {
        let must_up = self.definite_up.before(invoked);
        let may_up = self.possible_up.before(completed);
        let must_down = self.definite_down.before(invoked);
        let may_down = self.possible_down.before(completed);
        Range {
            lower: must_up + may_down,
            upper: may_up + must_down,
            must_up,
            may_up,
            may_down,
        }
    }
}

/// The bounds audit of a counter history (see the module documentation): for every `ok` read
/// of every key, the value lies between what must and what may have been added by then.
///
/// With `definite` = adds that completed `ok` before the read's invoke and `possible` = adds
/// invoked before the read's completion that did not `fail`, the value is at least
/// Σ definite positive deltas + Σ possible negative deltas, and at most Σ possible positive
/// deltas + Σ definite negative deltas. Events are taken in slice order (real-time order);
/// completions are matched to invokes by process.
///
/// # Errors
/// The first read outside its bounds (in history order), with the bounds and what they count.
pub fn audit(history: &[HistoryEvent]) -> Result<(), String> {
    let CounterSpans { adds, reads } = CounterSpans::scan(history);
    let mut first_failure: Option<(usize, String)> = None;
    for (key, key_reads) in &reads {
        let bounds = AddBounds::new(adds.get(key).map(Vec::as_slice).unwrap_or(&[]));
        for read in key_reads {
            if first_failure
                .as_ref()
                .is_some_and(|&(at, _)| at < read.completed)
            {
                break;
            }
            let object = key.map_or("the counter".to_string(), |k| format!("counter {k}"));
            let at = format!(
                "read by process {} at history index {} (invoked at {})",
                read.process, history[read.completed].index, history[read.invoked].index
            );
            let Some(value) = read.value.as_int() else {
                first_failure = Some((
                    read.completed,
                    format!("{at} of {object} returned {}, not an integer", read.value),
                ));
                break;
            };
            let Range {
                lower,
                upper,
                must_up,
                may_up,
                may_down,
            } = bounds.linearizable(read.invoked, read.completed);
            let value = i128::from(value);
            let message = if value < lower {
                let subtracted = if may_down == 0 {
                    String::new()
                } else {
                    format!(" (less {} that may have been subtracted)", -may_down)
                };
                Some(format!(
                    "{at} of {object} saw {value}, below {lower}: the adds acknowledged before it was invoked sum to {must_up}{subtracted}, so an acknowledged add was lost"
                ))
            } else if value > upper {
                Some(format!(
                    "{at} of {object} saw {value}, above {upper}: the adds invoked before it completed and not failed sum to at most {may_up}, so an add was applied more than once or one that was never invoked took effect"
                ))
            } else {
                None
            };
            if let Some(message) = message {
                first_failure = Some((read.completed, message));
                break;
            }
        }
    }
    match first_failure {
        None => Ok(()),
        Some((_, message)) => Err(message),
    }
}

/// The counter in the registry.
pub struct CounterApp;

/// The registry's value for the counter.
pub static COUNTER: CounterApp = CounterApp;

/// How the registry and scenario files name it.
const IDENTITY: crate::describe::Identity = crate::describe::Identity {
    name: "counter",
    variant: "Counter",
    summary: "a counter: add (deltas 1-5) and read, exactly-once through client sessions; history audited against acked/invoked bounds",
    params: PARAMS,
    bare: false,
};

/// The counter's parameters.
const PARAMS: &[crate::params::Param] = &[
    crate::params::Param::new(
        "decrements",
        crate::params::ParamKind::Ratio,
        crate::params::ParamValue::Ratio(Ratio::ZERO),
        "share of adds that subtract (negative deltas; a G-Counter refuses them)",
    ),
    crate::params::Param::new(
        "buggify",
        crate::params::ParamKind::Bool,
        crate::params::ParamValue::Bool(false),
        "unusual-but-legal client paths now and then: an add sent twice at once (same request id), a read the moment an add was acknowledged",
    ),
];

impl crate::describe::App for CounterApp {
    fn identity(&self) -> &'static crate::describe::Identity {
        &IDENTITY
    }

    fn bugs(&self) -> &'static [crate::mutation::Bug] {
        bugs::ALL
    }

    fn runs_on(&self, capabilities: crate::capabilities::Capabilities) -> bool {
        use crate::capabilities::Capabilities;
        // Linearizably on a replicated state machine, or as a state-based CRDT whose replicas
        // merge states (reads there are not linearizable: the protocol judges its histories).
        capabilities.covers(Capabilities::STATE_MACHINE)
            || capabilities.covers(Capabilities::STATE_MERGE)
    }

    fn functions(&self) -> &'static [Function] {
        &[Function::Add, Function::Read]
    }

    fn default_mix(&self) -> &'static [(Function, u64)] {
        &[(Function::Add, 50), (Function::Read, 50)]
    }

    fn object_count(&self, _params: &crate::params::Params) -> u32 {
        1
    }

    fn model(&self) -> sim_core::check::Model {
        sim_core::check::Model::Counter
    }

    fn audits(&self) -> &'static [&'static str] {
        &["counter-bounds"]
    }

    fn build(&self, _params: &crate::params::Params, bugs: BugSet) -> super::AnyApp {
        super::AnyApp::new(Counter::new(bugs))
    }

    fn workload(
        &self,
        params: &crate::params::Params,
        mix: Vec<(Function, u64)>,
        _clients: u32,
        _bugs: BugSet,
    ) -> Box<dyn Workload> {
        Box::new(
            CounterWorkload::new(mix)
                .with_decrements(params.ratio("decrements"))
                .with_buggify(params.bool("buggify")),
        )
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn audit(
        &self,
        _params: &crate::params::Params,
        _bugs: BugSet,
        history: &[HistoryEvent],
    ) -> crate::describe::AuditResult {
        audit(history).map_err(|message| ("counter-bounds", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::session::Sessions;
    use sim_core::prng::Stream;

    fn command(client: u32, request: u64, f: Function, value: Value) -> Command {
        crate::apps::test_command(client, request, f, None, value)
    }

    fn add(client: u32, request: u64, delta: i64) -> Command {
        command(client, request, Function::Add, Value::Int(delta))
    }

    fn read_outcome(value: i64) -> Outcome {
        Outcome::Ok {
            value: Value::Int(value),
            token: None,
        }
    }

    #[test]
    fn adds_accumulate_reads_see_the_sum_and_keys_are_independent() {
        let mut counter = Counter::default();
        let read = command(0, 0, Function::Read, Value::Null);
        assert_eq!(
            counter.apply(&read),
            read_outcome(0),
            "a counter starts at 0"
        );
        counter.apply(&add(1, 1, 5));
        counter.apply(&add(2, 2, -2));
        assert_eq!(counter.apply(&read), read_outcome(3));
        let mut keyed = add(1, 3, 7);
        keyed.operation.key = Some(4);
        counter.apply(&keyed);
        assert_eq!(counter.get(Some(4)), 7);
        assert_eq!(counter.get(None), 3, "key 4 is another counter");
        assert_eq!(counter.query(&read.operation), Some(read_outcome(3)));
        assert_eq!(counter.query(&add(1, 9, 1).operation), None);
        assert_eq!(counter.get(None), 3, "query changes nothing");
    }

    #[test]
    fn sessions_apply_a_retried_add_once_and_c2_applies_it_twice() {
        let retried = add(1, 10, 4);
        let mut correct = Sessions::for_bugs(Counter::default(), BugSet::NONE);
        correct.apply(&retried);
        correct.apply(&retried);
        assert_eq!(correct.app().get(None), 4);
        let c2: BugSet = [bugs::RETRY_NOT_IDEMPOTENT].into_iter().collect();
        let mut mutated = Sessions::for_bugs(Counter::default(), c2);
        mutated.apply(&retried);
        mutated.apply(&retried);
        assert_eq!(mutated.app().get(None), 8);
    }

    #[test]
    fn c1_proposes_a_blind_write_that_loses_a_concurrent_add() {
        let c1: BugSet = [bugs::NONATOMIC_RMW].into_iter().collect();
        let mut leader = Counter::new(c1);
        leader.apply(&add(0, 1, 5));
        // Two adds proposed before either is applied both read 5.
        let first = leader.prepare_proposal(&add(1, 2, 1).operation);
        let second = leader.prepare_proposal(&add(2, 3, 2).operation);
        assert_eq!(first.f, Function::Write);
        assert_eq!(first.value, Value::Int(6));
        assert_eq!(second.value, Value::Int(7));
        for (request, operation) in [(2, first), (3, second)] {
            let mut ordered = add(1, request, 0);
            ordered.operation = operation;
            leader.apply(&ordered);
        }
        assert_eq!(leader.get(None), 7, "the add of 1 is lost (5 + 1 + 2 = 8)");
        // The correct counter proposes the add unchanged, and reads pass through under C1.
        let correct = Counter::default();
        let operation = add(1, 2, 1).operation;
        assert_eq!(correct.prepare_proposal(&operation), operation);
        let read = command(0, 4, Function::Read, Value::Null).operation;
        assert_eq!(leader.prepare_proposal(&read), read);
        // Sessions forwards the hook to the application it wraps.
        let wrapped = Sessions::new(leader.clone());
        assert_eq!(wrapped.prepare_proposal(&operation).f, Function::Write);
    }

    #[test]
    fn digest_depends_on_values_not_on_history_or_bugs() {
        let mut a = Counter::default();
        a.apply(&add(1, 1, 3));
        let mut b = Counter::new([bugs::NONATOMIC_RMW].into_iter().collect());
        b.apply(&add(1, 1, 1));
        b.apply(&add(1, 2, 2));
        assert_eq!(a.state_digest(), b.state_digest());
        b.apply(&add(1, 3, -3));
        assert_eq!(b.state_digest(), Counter::default().state_digest());
        assert_ne!(a.state_digest(), b.state_digest());
        let mut keyed = Counter::default();
        let mut other_key = add(1, 1, 3);
        other_key.operation.key = Some(0);
        keyed.apply(&other_key);
        assert_ne!(keyed.state_digest(), a.state_digest());
    }

    #[test]
    fn digest_is_pinned() {
        // A change here changes every replica digest in golden traces: review it as such.
        let mut counter = Counter::default();
        assert_eq!(format!("{:016x}", counter.state_digest()), PINNED_ZERO);
        counter.apply(&add(1, 1, -3));
        let mut keyed = add(1, 2, 4);
        keyed.operation.key = Some(1);
        counter.apply(&keyed);
        assert_eq!(format!("{:016x}", counter.state_digest()), PINNED_TWO_KEYS);
    }

    const PINNED_ZERO: &str = "79870156dd22ebd9";
    const PINNED_TWO_KEYS: &str = "ee7650c32d38f430";

    #[test]
    #[should_panic(expected = "no `cas` operation")]
    fn foreign_operation_is_a_harness_bug() {
        Counter::default().apply(&command(1, 1, Function::Cas, Value::pair(0, 1)));
    }

    #[test]
    fn workload_buggify_resends_adds_and_reads_at_once_and_marks_both_only_when_on() {
        for buggify in [false, true] {
            let mix = vec![(Function::Add, 1), (Function::Read, 1)];
            let mut workload = CounterWorkload::new(mix.clone()).with_buggify(buggify);
            let mut plain = CounterWorkload::new(mix);
            let mut rng = Prng::new(3, Stream::Client(0));
            let mut plain_rng = Prng::new(3, Stream::Client(0));
            let mut coins = Prng::new(3, Stream::ClientBuggify(0));
            let mut marks = BTreeMap::new();
            let (client, now) = (ClientId(0), Instant::ZERO);
            let (mut resent, mut read_after_add) = (0u64, 0u64);
            let mut last_was_acknowledged_add = false;
            for _ in 0..2_000 {
                let at_once = workload.pacing(client, now) == Pacing::At(now);
                assert!(!at_once || (buggify && last_was_acknowledged_add));
                let mut ctx = ClientCtx::new(client, now, &mut rng, &mut coins, &mut marks);
                let operation = workload.next_operation_in(&mut ctx);
                if ctx.is_resent_at_once() {
                    assert_eq!(operation.f, Function::Add, "only adds are sent twice");
                    resent += 1;
                }
                if at_once {
                    assert_eq!(operation.f, Function::Read, "the read after the add");
                    read_after_add += 1;
                } else {
                    // Otherwise the very draws of the plain workload.
                    assert_eq!(operation, plain.next_operation(client, now, &mut plain_rng));
                }
                let mut ctx = ClientCtx::new(client, now, &mut rng, &mut coins, &mut marks);
                let outcome = Outcome::Ok {
                    value: Value::Null,
                    token: None,
                };
                workload.observe_result_in(&mut ctx, &operation, Some(&outcome));
                last_was_acknowledged_add = operation.f == Function::Add;
            }
            let count = |mark: &str| marks.get(mark).copied().unwrap_or(0);
            assert_eq!(count("counter.buggify_add_resent"), resent);
            assert_eq!(count("counter.buggify_read_after_add"), read_after_add);
            if buggify {
                assert!(resent > 100 && read_after_add > 100, "{marks:?}");
                assert_eq!(marks.len(), MARKS.len());
            } else {
                assert!(marks.is_empty(), "{marks:?}");
            }
        }
    }

    #[test]
    fn workload_follows_its_mix_with_small_positive_deltas() {
        let mut workload = CounterWorkload::new(vec![(Function::Add, 3), (Function::Read, 1)]);
        let mut rng = Prng::new(7, Stream::Client(0));
        let (mut adds, mut reads) = (0u32, 0u32);
        let mut deltas_seen = [false; DELTA_MAX as usize + 1];
        for _ in 0..4_000 {
            let op = workload.next_operation(ClientId(0), Instant::ZERO, &mut rng);
            assert_eq!(op.key, None);
            match op.f {
                Function::Add => {
                    adds += 1;
                    let delta = op.value.as_int().unwrap();
                    assert!((1..=DELTA_MAX as i64).contains(&delta), "{delta}");
                    deltas_seen[delta as usize] = true;
                }
                Function::Read => {
                    reads += 1;
                    assert_eq!(op.value, Value::Null);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(adds > 2 * reads + 500, "{adds} adds, {reads} reads");
        assert!(deltas_seen[1..].iter().all(|&seen| seen));
    }

    /// A history builder: `(process, kind, f, value)` in order.
    fn history(events: &[(u64, EventType, Function, Value)]) -> Vec<HistoryEvent> {
        events
            .iter()
            .enumerate()
            .map(|(index, (process, kind, f, value))| HistoryEvent {
                index: index as u64,
                time: index as u64 * 10,
                process: *process,
                kind: *kind,
                f: *f,
                key: None,
                value: value.clone(),
                token: None,
            })
            .collect()
    }

    use EventType::{Fail, Info, Invoke, Ok as Done};
    use Function::{Add, Read};

    fn int(v: i64) -> Value {
        Value::Int(v)
    }

    #[test]
    fn audit_accepts_reads_within_bounds_including_concurrent_and_indeterminate_adds() {
        let events = history(&[
            (0, Invoke, Add, int(2)),
            (0, Done, Add, int(2)),
            (1, Invoke, Add, int(3)), // indeterminate: may or may not count
            (1, Info, Add, int(3)),
            (2, Invoke, Add, int(4)), // fails: never counts
            (2, Fail, Add, int(4)),
            (3, Invoke, Read, Value::Null),
            (4, Invoke, Add, int(1)), // concurrent with the read
            (3, Done, Read, int(6)),  // 2 + 3 + 1
            (4, Done, Add, int(1)),
            (5, Invoke, Read, Value::Null),
            (5, Done, Read, int(3)), // 2 + 1, the info add never took effect
        ]);
        assert_eq!(audit(&events), Ok(()));
    }

    #[test]
    fn audit_finds_a_lost_acknowledged_add() {
        let events = history(&[
            (0, Invoke, Add, int(2)),
            (0, Done, Add, int(2)),
            (1, Invoke, Add, int(5)),
            (1, Done, Add, int(5)),
            (2, Invoke, Read, Value::Null),
            (2, Done, Read, int(5)),
        ]);
        let message = audit(&events).unwrap_err();
        assert!(message.contains("saw 5, below 7"), "{message}");
        assert!(message.contains("history index 5"), "{message}");
        assert!(message.contains("lost"), "{message}");
    }

    #[test]
    fn audit_finds_a_doubled_add_and_a_failed_add_that_took_effect() {
        let doubled = history(&[
            (0, Invoke, Add, int(3)),
            (0, Info, Add, int(3)),
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(6)),
        ]);
        let message = audit(&doubled).unwrap_err();
        assert!(message.contains("saw 6, above 3"), "{message}");
        assert!(message.contains("more than once"), "{message}");
        let failed = history(&[
            (0, Invoke, Add, int(3)),
            (0, Fail, Add, int(3)),
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(3)),
        ]);
        assert!(audit(&failed).unwrap_err().contains("above 0"));
        // An add invoked after the read completed cannot be in it.
        let future = history(&[
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(1)),
            (0, Invoke, Add, int(1)),
            (0, Done, Add, int(1)),
        ]);
        assert!(audit(&future).unwrap_err().contains("above 0"));
    }

    #[test]
    fn audit_handles_negative_deltas_in_both_bounds() {
        // +5 acknowledged, -2 indeterminate: the value is 3 or 5.
        let base = [
            (0, Invoke, Add, int(5)),
            (0, Done, Add, int(5)),
            (1, Invoke, Add, int(-2)),
            (1, Info, Add, int(-2)),
            (2, Invoke, Read, Value::Null),
        ];
        for (seen, fine) in [(3, true), (5, true), (2, false), (6, false)] {
            let mut events = base.to_vec();
            events.push((2, Done, Read, int(seen)));
            assert_eq!(audit(&history(&events)).is_ok(), fine, "read {seen}");
        }
    }

    #[test]
    fn audit_reports_the_earliest_violation_and_non_integer_reads() {
        let events = history(&[
            (0, Invoke, Read, Value::Null),
            (0, Done, Read, int(9)),
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(-1)),
        ]);
        assert!(audit(&events).unwrap_err().contains("history index 1"));
        let null = history(&[(0, Invoke, Read, Value::Null), (0, Done, Read, Value::Null)]);
        assert!(audit(&null).unwrap_err().contains("not an integer"));
        assert_eq!(audit(&[]), Ok(()));
    }
}
