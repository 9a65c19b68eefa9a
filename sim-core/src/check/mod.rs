//! The linearizability checker (DESIGN.md §4).
//!
//! [`check_events`] decides whether a history of [`HistoryEvent`]s is linearizable with
//! respect to a sequential [`Model`]. It compiles the events into compact operations
//! (`prepare`), splits them into independent objects (P-compositionality: per key, per lock,
//! per group of keys that transactions touch together), and searches each object with the
//! Wing–Gong/Lowe algorithm and a cache of `(linearized set, model state)` pairs
//! (`linearizability`). A step budget and a cache-size limit bound the work: reaching either
//! gives [`Verdict::Unknown`], never a pass.
//!
//! Semantics (DESIGN.md §4): `ok` took effect between its invoke and its completion; `fail`
//! did not take effect; `info` and never-completed invokes are indeterminate: they may take
//! effect at any instant after their invoke, or never. A [`Dialect`] adjusts this for imported
//! corpora (Porcupine's etcd `:fail :cas` is an observation that the compare failed; Knossos
//! reads of `nil` are unconstrained).
//!
//! On a violation, an [`Explanation`] gives the event at which every linearization fails (the
//! end of the shortest non-linearizable prefix), the longest linearization the search found
//! there with its state, and the candidate operations it rejected and why.
//!
//! [`formats`] reads the native `history.jsonl`, Porcupine's etcd and kv logs, and
//! Knossos/Jepsen EDN.
//!
//! Determinism: the checker is a pure function of its inputs. Its two hash tables are
//! look-up-only with a fixed hasher; nothing iterates them.

mod bank;
pub mod formats;
mod lease_lock;
mod linearizability;
mod model;
mod prepare;

use crate::history::{EventType, HistoryEvent, Value};
use linearizability::{GaveUp, Outcome, SearchReport, Searcher, END};
use model::{step_object, Kind, Micro, OpData, SingleSpec, Strings, VectorSpec, ANY};
use prepare::{partitions, prepare, prune_unobserved_writes, Prepared};
use serde::Serialize;
use std::fmt;

/// A sequential specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// One register per key: `read`, `write` (values are integers, strings or null).
    Register,
    /// A register with `cas` (`value` = `[from, to]`), one per key.
    CasRegister,
    /// A key-value store: a cas-register per key.
    Kv,
    /// A string key-value store: `read` (get), `write` (put), `add` (append a string).
    KvAppend,
    /// A counter per key: `add` (delta), `read`.
    Counter,
    /// A lock per key: `acquire`, `release` by the holding process; an ok acquire may carry a
    /// fencing token, which must exceed every token handed out before it.
    Mutex,
    /// Registers over several keys with `txn` operations of micro-operations
    /// `[["r"|"read", key, value], ["w"|"write", key, value], ...]` applied atomically in
    /// order; a read of null is unconstrained.
    MultiRegister,
    /// A lease lock per key with its protected resource: `acquire` (an ok carries a fencing
    /// token above every earlier one, or renews the holder's own), `release` (`value` = the
    /// token; only the holder with its current grant), `write` (`value` = `[token, payload]`
    /// to the key's resource: ok needs a token not below the highest accepted, fail one below
    /// it). See `lease_lock.rs`.
    LeaseLock,
    /// A bank, one object: `transfer` (`value` = `[from, to, amount]`)
    /// and `read` (an audit: every balance), checked for strict serializability. See `bank.rs`.
    Bank,
}

impl Model {
    /// Every model, in a stable order.
    pub const ALL: [Model; 9] = [
        Model::Register,
        Model::CasRegister,
        Model::Kv,
        Model::KvAppend,
        Model::Counter,
        Model::Mutex,
        Model::MultiRegister,
        Model::LeaseLock,
        Model::Bank,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::Register => "register",
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
            Model::KvAppend => "kv-append",
            Model::Counter => "counter",
            Model::Mutex => "mutex",
            Model::MultiRegister => "multi-register",
            Model::LeaseLock => "lease-lock",
            Model::Bank => "bank",
        }
    }

    /// The model called `name`.
    pub fn from_name(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Whose conventions a history follows (see each corpus's MANIFEST).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// faultline's own (DESIGN.md §4).
    Native,
    /// Porcupine's etcd logs: a `fail` of a `cas` is an observation that its compare failed.
    PorcupineEtcd,
    /// Porcupine's kv logs (native semantics; strings).
    PorcupineKv,
    /// Knossos/Jepsen EDN: an `ok` read of `nil` is unconstrained.
    Knossos,
}

/// How to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Model steps allowed over all partitions; when used up the verdict is `Unknown`.
    pub budget_steps: u64,
    /// Cache entries allowed in one partition's search; when reached the verdict is `Unknown`.
    pub cache_entries_max: u64,
    /// Split into independent objects before searching (P-compositionality).
    pub partition: bool,
    /// Every object's initial value (null = absent; counters start at 0 when null; string
    /// stores at "").
    pub initial: Value,
    /// Whose semantics the events follow.
    pub dialect: Dialect,
    /// Compute an [`Explanation`] for a violation (costs a few extra searches).
    pub explain: bool,
    /// Reduce the search: stop trying a configuration's candidates once a legal observation
    /// (a read, a failed compare) from it has failed, take interchangeable indeterminate
    /// operations (say two crashed writes of 3) in call order only, and switch a long search
    /// to trying observations first (see `linearizability.rs`). Off, the search is
    /// Porcupine's own, model step for model step (for comparisons).
    pub reductions: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            budget_steps: 50_000_000,
            cache_entries_max: 2_000_000,
            partition: true,
            initial: Value::Null,
            dialect: Dialect::Native,
            explain: true,
            reductions: true,
        }
    }
}

/// The checker's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Some linearization exists.
    Linearizable,
    /// No linearization exists.
    NotLinearizable,
    /// The budget ran out first: no verdict.
    Unknown,
}

impl Verdict {
    /// A lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not-linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}

/// A candidate operation that could not be linearized next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Index (into the checked events) of the operation's invoke.
    pub invoke_event: usize,
    /// Index of its completion, if it completed within the failing prefix.
    pub complete_event: Option<usize>,
    /// Why it was rejected.
    pub reason: String,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The event at which every linearization fails: events `..=failing_event` are already
    /// not linearizable, events `..failing_event` are (operations open at the cut being
    /// indeterminate).
    pub failing_event: usize,
    /// The object (partition) that is not linearizable, e.g. `key "3"`.
    pub object: String,
    /// Invoke-event indices of the longest linearization found in the failing prefix, in
    /// linearization order.
    pub linearized: Vec<usize>,
    /// The model state after it.
    pub state: String,
    /// The operation whose completion forced the search back: it could not be linearized
    /// before its return (its invoke-event index), if any.
    pub blocking_invoke_event: Option<usize>,
    /// The candidates for the next operation at that point and why each was rejected.
    pub rejected: Vec<Rejection>,
}

impl Explanation {
    /// A human-readable rendering. `position` maps an event index to what the user should see
    /// (a line number, say).
    pub fn render(&self, events: &[HistoryEvent], position: &dyn Fn(usize) -> String) -> String {
        let mut out = String::new();
        let failing = &events[self.failing_event];
        out.push_str(&format!(
            "{}: every linearization fails at {} (process {} {} {}{}): the history up to it is not linearizable, the history before it is.\n",
            self.object,
            position(self.failing_event),
            failing.process,
            kind_word(failing.kind),
            failing.f.as_str(),
            if failing.value == Value::Null { String::new() } else { format!(" {}", failing.value) },
        ));
        out.push_str(&format!(
            "longest linearization found ({} operations), in order:\n",
            self.linearized.len()
        ));
        let shown = 12usize;
        let skip = self.linearized.len().saturating_sub(shown);
        if skip > 0 {
            out.push_str(&format!("  … {skip} earlier operations\n"));
        }
        for &invoke in &self.linearized[skip..] {
            out.push_str(&format!(
                "  {}  {}\n",
                position(invoke),
                describe_op(events, invoke)
            ));
        }
        out.push_str(&format!("state after it: {}\n", self.state));
        if let Some(blocking) = self.blocking_invoke_event {
            out.push_str(&format!(
                "the operation invoked at {} ({}) must take effect before it returns, but no candidate can go next:\n",
                position(blocking),
                describe_op(events, blocking)
            ));
        }
        for rejection in &self.rejected {
            out.push_str(&format!(
                "  {}  {}: {}\n",
                position(rejection.invoke_event),
                describe_op(events, rejection.invoke_event),
                rejection.reason
            ));
        }
        out
    }
}

fn kind_word(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// A one-line description of the operation invoked at event `invoke`, e.g.
/// `process 3 write 5 → ok`.
///
/// # Panics
/// If `invoke` is out of range.
pub fn describe_op(events: &[HistoryEvent], invoke: usize) -> String {
    let event = &events[invoke];
    let mut text = format!("process {} {}", event.process, event.f.as_str());
    if let Some(key) = &event.key {
        text.push_str(&format!(" {key:?}"));
    }
    if event.value != Value::Null {
        text.push_str(&format!(" {}", event.value));
    }
    let completion = events[invoke + 1..]
        .iter()
        .find(|e| e.process == event.process && e.kind != EventType::Invoke);
    match completion {
        Some(done) if done.kind == EventType::Ok => {
            text.push_str(" → ok");
            if done.value != Value::Null && done.value != event.value {
                text.push_str(&format!(" {}", done.value));
            }
            if let Some(token) = done.token {
                text.push_str(&format!(" token {token}"));
            }
        }
        Some(done) => text.push_str(&format!(" → {}", kind_word(done.kind))),
        None => text.push_str(" (never completed)"),
    }
    text
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Model steps taken by the search (not counting the explanation's).
    pub steps: u64,
    /// The most cache entries held by one partition's search.
    pub cache_entries_max: u64,
    /// Number of independent partitions.
    pub partitions: usize,
    /// Operations checked (after removing failed ones and unconstrained reads).
    pub operations: usize,
    /// Why the verdict is `Unknown`.
    pub unknown_reason: Option<String>,
    /// Why the verdict is `NotLinearizable` (when asked for).
    pub explanation: Option<Explanation>,
}

/// A history that cannot be checked (an input error, not a verdict).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {event}: {message}")]
pub struct HistoryError {
    /// Index of the offending event.
    pub event: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks `events` against `model`.
///
/// # Errors
/// If the history is not well formed for the model (a completion without an invoke, a value of
/// the wrong shape, an operation the model does not have).
pub fn check_events(
    events: &[HistoryEvent],
    model: Model,
    options: &CheckOptions,
) -> Result<CheckResult, HistoryError> {
    if model == Model::Bank {
        return bank::check(events, options);
    }
    let mut prepared = prepare(events, model, options.dialect, &options.initial)?;
    if options.reductions {
        prune_unobserved_writes(&mut prepared);
    }
    let mut strings = std::mem::take(&mut prepared.strings);
    let parts = partitions(&prepared, options.partition);
    let mut result = CheckResult {
        verdict: Verdict::Linearizable,
        steps: 0,
        cache_entries_max: 0,
        partitions: parts.len(),
        operations: 0,
        unknown_reason: None,
        explanation: None,
    };
    // Partitions are searched in rounds with doubling step allowances, each search resuming
    // where it stopped: an object whose violation is quick to find is found before a hard
    // object (linearizable or not) uses up the budget, and no work is repeated.
    let mut searches: Vec<Option<PartitionSearch>> = Vec::with_capacity(parts.len());
    for (keys, ops) in &parts {
        let built = build(&prepared, keys, ops, None);
        result.operations += built.calls.len();
        searches.push(Some(PartitionSearch::new(
            &prepared,
            &mut strings,
            keys.len(),
            &built,
            false,
            options.reductions,
        )));
    }
    let mut failing = Vec::new();
    let mut undecided: Vec<usize> = (0..parts.len()).collect();
    let mut live_entries = 0u64;
    let mut slice = 8192u64;
    let mut unknown: Option<(GaveUp, usize)> = None;
    'rounds: while !undecided.is_empty() {
        let mut still = Vec::new();
        for (position, &index) in undecided.iter().enumerate() {
            let remaining = options.budget_steps.saturating_sub(result.steps);
            if remaining == 0 {
                unknown.get_or_insert((GaveUp::Steps, index));
                still.extend_from_slice(&undecided[position..]);
                break 'rounds;
            }
            let search = searches[index]
                .as_mut()
                .expect("undecided searches are alive");
            let (steps_before, entries_before) = (search.steps(), search.cache_entries());
            let allowed = options
                .cache_entries_max
                .saturating_sub(live_entries - entries_before);
            let outcome = if undecided.len() == 1 {
                search.resume(&mut strings, remaining, allowed)
            } else {
                search.resume(&mut strings, slice.min(remaining), allowed)
            };
            result.steps += search.steps() - steps_before;
            live_entries = live_entries - entries_before + search.cache_entries();
            result.cache_entries_max = result.cache_entries_max.max(search.cache_entries());
            match outcome {
                None => still.push(index),
                Some(Outcome::Linearizable) => {
                    live_entries -= search.cache_entries();
                    searches[index] = None; // free its memory
                }
                Some(Outcome::NotLinearizable) => {
                    live_entries -= search.cache_entries();
                    searches[index] = None;
                    failing.push(index);
                    if !options.explain {
                        // Any violation decides the verdict; with explanations on, keep
                        // going: the earliest violation over all objects is reported.
                        still.clear();
                        break 'rounds;
                    }
                }
                Some(Outcome::Unknown(why)) => {
                    unknown.get_or_insert((why, index));
                }
            }
        }
        undecided = still;
        slice = slice.saturating_mul(2);
    }
    drop(searches);
    if !failing.is_empty() {
        result.verdict = Verdict::NotLinearizable;
    } else if let Some((why, index)) = unknown {
        result.verdict = Verdict::Unknown;
        let what = match why {
            GaveUp::Steps => format!("step budget of {} exhausted", options.budget_steps),
            GaveUp::Cache => format!(
                "cache limit of {} entries reached",
                options.cache_entries_max
            ),
        };
        result.unknown_reason = Some(format!(
            "{what} ({})",
            object_name(&prepared, &parts[index].0)
        ));
    }
    let failing: Vec<(&Vec<u32>, &Vec<usize>)> = failing
        .into_iter()
        .map(|i| (&parts[i].0, &parts[i].1))
        .collect();
    if options.explain {
        for (keys, ops) in failing {
            let explanation = explain(&prepared, &mut strings, keys, ops, options);
            if result
                .explanation
                .as_ref()
                .is_none_or(|best| explanation.failing_event < best.failing_event)
            {
                result.explanation = Some(explanation);
            }
        }
    }
    Ok(result)
}

/// One partition compiled for a search.
struct Built {
    /// Prepared-op index of each local op.
    origin: Vec<usize>,
    data: Vec<OpData>,
    calls: Vec<u64>,
    returns: Vec<u64>,
    txns: Vec<Vec<Micro>>,
    /// The deepest configuration's per-slot states (when tracked).
    deepest_slots: Vec<u64>,
}

fn build(prepared: &Prepared, keys: &[u32], ops: &[usize], cut: Option<usize>) -> Built {
    let mut built = Built {
        origin: Vec::new(),
        data: Vec::new(),
        calls: Vec::new(),
        returns: Vec::new(),
        txns: Vec::new(),
        deepest_slots: Vec::new(),
    };
    let slot_of = |key: u32| {
        keys.binary_search(&key)
            .expect("key belongs to the partition") as u32
    };
    for &index in ops {
        let op = &prepared.ops[index];
        let Some((mut data, uses_done, call, ret)) = op.form(cut) else {
            continue;
        };
        if data.kind == Kind::Txn {
            let micros = if uses_done {
                &op.txn_done
            } else {
                &op.txn_maybe
            };
            data.a = built.txns.len() as u64;
            built.txns.push(
                micros
                    .iter()
                    .map(|&(key, is_write, value)| (slot_of(key), is_write, value))
                    .collect(),
            );
        } else {
            data.slot = slot_of(op.keys[0]);
        }
        built.origin.push(index);
        built.data.push(data);
        built.calls.push(call);
        built.returns.push(ret);
    }
    built
}

/// A search of one partition, over one object or several.
enum PartitionSearch {
    Single(Searcher<SingleSpec>),
    Vector(Searcher<VectorSpec>),
}

impl PartitionSearch {
    fn new(
        prepared: &Prepared,
        strings: &mut Strings,
        key_count: usize,
        built: &Built,
        track: bool,
        reductions: bool,
    ) -> PartitionSearch {
        if key_count == 1 && built.txns.is_empty() {
            let spec = SingleSpec {
                ops: built.data.clone(),
                initial: prepared.initial,
            };
            PartitionSearch::Single(Searcher::new(
                spec,
                strings,
                &built.calls,
                &built.returns,
                track,
                reductions,
            ))
        } else {
            let spec = VectorSpec::new(
                built.data.clone(),
                built.txns.clone(),
                vec![prepared.initial; key_count],
            );
            PartitionSearch::Vector(Searcher::new(
                spec,
                strings,
                &built.calls,
                &built.returns,
                track,
                reductions,
            ))
        }
    }

    fn resume(
        &mut self,
        strings: &mut Strings,
        steps: u64,
        cache_entries_max: u64,
    ) -> Option<Outcome> {
        match self {
            PartitionSearch::Single(searcher) => searcher.resume(strings, steps, cache_entries_max),
            PartitionSearch::Vector(searcher) => searcher.resume(strings, steps, cache_entries_max),
        }
    }

    fn report(&self) -> &SearchReport {
        match self {
            PartitionSearch::Single(searcher) => &searcher.report,
            PartitionSearch::Vector(searcher) => &searcher.report,
        }
    }

    fn steps(&self) -> u64 {
        self.report().steps
    }

    fn cache_entries(&self) -> u64 {
        match self {
            PartitionSearch::Single(searcher) => searcher.cache_entries(),
            PartitionSearch::Vector(searcher) => searcher.cache_entries(),
        }
    }

    /// The per-slot states of the deepest configuration (when tracked).
    fn deepest_slots(&self) -> Option<Vec<u64>> {
        match self {
            PartitionSearch::Single(searcher) => {
                searcher.report.deepest.as_ref().map(|d| vec![d.state])
            }
            PartitionSearch::Vector(searcher) => searcher
                .report
                .deepest
                .as_ref()
                .map(|d| searcher.spec.slots(d.state).to_vec()),
        }
    }
}

fn run_partition(
    prepared: &Prepared,
    strings: &mut Strings,
    keys: &[u32],
    ops: &[usize],
    cut: Option<usize>,
    options: &CheckOptions,
    track: bool,
) -> (SearchReport, Built) {
    let mut built = build(prepared, keys, ops, cut);
    let mut search = PartitionSearch::new(
        prepared,
        strings,
        keys.len(),
        &built,
        track,
        options.reductions,
    );
    let outcome = search.resume(strings, options.budget_steps, options.cache_entries_max);
    let mut report = search.report().clone();
    report.outcome = outcome.unwrap_or(Outcome::Unknown(GaveUp::Steps));
    if let Some(slots) = search.deepest_slots() {
        built.deepest_slots = slots;
    }
    (report, built)
}

fn object_name(prepared: &Prepared, keys: &[u32]) -> String {
    let names: Vec<String> = keys
        .iter()
        .map(|&k| match &prepared.keys[k as usize] {
            Some(name) => format!("{name:?}"),
            None => "the object".to_string(),
        })
        .collect();
    match names.len() {
        0 => "the history".to_string(),
        1 if prepared.keys[keys[0] as usize].is_none() => "the object".to_string(),
        1 => format!("key {}", names[0]),
        _ => format!("keys {}", names.join(", ")),
    }
}

fn show_slot(prepared: &Prepared, strings: &Strings, state: u64) -> String {
    match prepared.model {
        Model::Counter => (state as i64).to_string(),
        Model::KvAppend => format!("{:?}", strings.text(state as u32)),
        Model::Mutex => {
            let holder = state & 0xFFFF_FFFF;
            let last = (state >> 32) as usize;
            let mut text = if holder == 0 {
                "free".to_string()
            } else {
                format!("held by process {}", prepared.processes[holder as usize])
            };
            if last > 0 {
                text.push_str(&format!(", last token {}", prepared.tokens[last]));
            }
            text
        }
        Model::LeaseLock => lease_lock::show(prepared, state),
        _ => match prepared.values.get(state as usize) {
            Some(Value::Null) => "absent".to_string(),
            Some(value) => value.to_string(),
            None => "?".to_string(),
        },
    }
}

fn show_state(prepared: &Prepared, strings: &Strings, keys: &[u32], slots: &[u64]) -> String {
    if slots.len() == 1 && prepared.keys[keys[0] as usize].is_none() {
        return show_slot(prepared, strings, slots[0]);
    }
    let parts: Vec<String> = keys
        .iter()
        .zip(slots)
        .map(|(&k, &s)| {
            format!(
                "{}: {}",
                prepared.keys[k as usize].as_deref().unwrap_or("-"),
                show_slot(prepared, strings, s)
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Why `data` cannot be applied to `slots`, or None if it can.
fn rejection_reason(
    prepared: &Prepared,
    strings: &mut Strings,
    keys: &[u32],
    slots: &[u64],
    data: &OpData,
    txns: &[Vec<Micro>],
) -> Option<String> {
    if data.kind == Kind::Txn {
        let mut scratch = slots.to_vec();
        for &(slot, is_write, value) in &txns[data.a as usize] {
            if is_write {
                scratch[slot as usize] = value;
            } else if value != ANY && scratch[slot as usize] != value {
                return Some(format!(
                    "its read of {} saw {} but {} holds {}",
                    prepared.keys[keys[slot as usize] as usize]
                        .as_deref()
                        .unwrap_or("-"),
                    show_slot(prepared, strings, value),
                    prepared.keys[keys[slot as usize] as usize]
                        .as_deref()
                        .unwrap_or("-"),
                    show_slot(prepared, strings, scratch[slot as usize])
                ));
            }
        }
        return None;
    }
    let state = slots[data.slot as usize];
    if step_object(strings, state, data).is_some() {
        return None;
    }
    let now = show_slot(prepared, strings, state);
    Some(match data.kind {
        Kind::Read => format!(
            "it read {} but the value is {}",
            show_slot(prepared, strings, data.a),
            now
        ),
        Kind::Cas if data.compare_failed => {
            format!(
                "its compare failed, so the value was not {}, but it is",
                show_slot(prepared, strings, data.a)
            )
        }
        Kind::Cas => format!(
            "cas needs {} but the value is {}",
            show_slot(prepared, strings, data.a),
            now
        ),
        Kind::Acquire if state & 0xFFFF_FFFF != 0 => format!("the lock is {now}"),
        Kind::Acquire => format!(
            "its fencing token {} is not above the last one handed out ({now})",
            prepared.tokens.get(data.b as usize).copied().unwrap_or(0)
        ),
        Kind::Release => format!(
            "process {} does not hold the lock (it is {now})",
            prepared.processes[data.a as usize]
        ),
        Kind::LeaseAcquire | Kind::LeaseRelease | Kind::FencedWrite => {
            lease_lock::rejection(prepared, state, data)
        }
        _ => format!("illegal in state {now}"),
    })
}

fn explain(
    prepared: &Prepared,
    strings: &mut Strings,
    keys: &[u32],
    ops: &[usize],
    options: &CheckOptions,
) -> Explanation {
    // The event positions where this partition's history changes.
    let mut positions: Vec<usize> = ops
        .iter()
        .flat_map(|&i| {
            let op = &prepared.ops[i];
            std::iter::once(op.invoke).chain(op.complete)
        })
        .collect();
    positions.sort_unstable();
    positions.dedup();
    // Smallest prefix that is already not linearizable (prefixes are monotone: a longer one
    // only adds constraints). A prefix that exhausts the budget counts as not shown bad.
    let (mut low, mut high) = (0usize, positions.len() - 1);
    while low < high {
        let middle = (low + high) / 2;
        let (report, _) = run_partition(
            prepared,
            strings,
            keys,
            ops,
            Some(positions[middle]),
            options,
            false,
        );
        if report.outcome == Outcome::NotLinearizable {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let cut = positions[high];
    let (report, built) = run_partition(prepared, strings, keys, ops, Some(cut), options, true);
    let deepest = report.deepest.unwrap_or_default();
    let mut done = vec![false; built.calls.len()];
    for &op in &deepest.order {
        done[op as usize] = true;
    }
    let slots = if built.deepest_slots.is_empty() {
        vec![prepared.initial; keys.len()]
    } else {
        built.deepest_slots.clone()
    };
    // The earliest pending return bounds which operations may go next.
    let blocking = (0..built.calls.len())
        .filter(|&i| !done[i])
        .min_by_key(|&i| (built.returns[i], built.calls[i]));
    let horizon = blocking.map(|i| built.returns[i]).unwrap_or(END);
    let mut rejected = Vec::new();
    let mut candidates: Vec<usize> = (0..built.calls.len())
        .filter(|&i| !done[i] && built.calls[i] < horizon)
        .collect();
    candidates.sort_by_key(|&i| built.calls[i]);
    for i in candidates {
        let op = &prepared.ops[built.origin[i]];
        let reason = rejection_reason(prepared, strings, keys, &slots, &built.data[i], &built.txns)
            .unwrap_or_else(|| {
                "it is legal here, but every continuation after it fails (already explored)"
                    .to_string()
            });
        rejected.push(Rejection {
            invoke_event: op.invoke,
            complete_event: op.complete.filter(|&c| c <= cut),
            reason,
        });
    }
    Explanation {
        failing_event: cut,
        object: object_name(prepared, keys),
        linearized: deepest
            .order
            .iter()
            .map(|&i| prepared.ops[built.origin[i as usize]].invoke)
            .collect(),
        state: show_state(prepared, strings, keys, &slots),
        blocking_invoke_event: blocking
            .filter(|&i| built.returns[i] != END)
            .map(|i| prepared.ops[built.origin[i]].invoke),
        rejected,
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
