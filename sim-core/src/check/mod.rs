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
mod events;
pub mod formats;
mod hash;
mod linearizability;
mod model;
mod models;
mod prepare;
mod strings;

use crate::history::{EventType, HistoryEvent, Value};
pub use events::{CompactEvents, EventSource};
use linearizability::{GaveUp, Outcome, Room, SearchReport, END};
use model::{gave_up_reason, HistoryModel, Job, Kind, Micro, ObjectSearch, OpData, ANY};
pub use model::{Dialect, HistoryError};
use prepare::{partitions, prepare, prune, Prepared};
use serde::Serialize;
use std::fmt;
use strings::Strings;

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
    /// The model's plug-in of the linearizability search: the registry of history models,
    /// one line each; `None` for a model with a search of its own (the bank).
    fn plugin(self) -> Option<&'static dyn HistoryModel> {
        Some(match self {
            Model::Register => &models::register::REGISTER,
            Model::CasRegister => &models::register::CAS_REGISTER,
            Model::Kv => &models::register::KV,
            Model::KvAppend => &models::kv_append::KV_APPEND,
            Model::Counter => &models::counter::COUNTER,
            Model::Mutex => &models::mutex::MUTEX,
            Model::MultiRegister => &models::register::MULTI_REGISTER,
            Model::LeaseLock => &models::lease_lock::LEASE_LOCK,
            Model::Bank => return None,
        })
    }

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

/// How to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Model steps allowed over all partitions; when used up the verdict is `Unknown`.
    pub budget_steps: u64,
    /// Cache entries allowed over the searches alive at once; when reached the verdict is
    /// `Unknown`.
    pub cache_entries_max: u64,
    /// Bytes the searches alive at once may hold in their caches and interned states (the
    /// part of the checker's memory that grows with the search); when reached the verdict is
    /// `Unknown`, with the reason.
    pub memory_bytes_max: u64,
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
    /// Model steps a search makes in Porcupine's order before it starts again with
    /// observations first (see `linearizability.rs`); 0 starts there. Only with `reductions`.
    pub switch_steps: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            budget_steps: 50_000_000,
            cache_entries_max: 2_000_000,
            memory_bytes_max: 512 << 20,
            partition: true,
            initial: Value::Null,
            dialect: Dialect::Native,
            explain: true,
            reductions: true,
            switch_steps: linearizability::SWITCH_STEPS,
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
    pub fn render<E: EventSource + ?Sized>(
        &self,
        events: &E,
        position: &dyn Fn(usize) -> String,
    ) -> String {
        let mut out = String::new();
        let failing = events.event(self.failing_event);
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
pub fn describe_op<E: EventSource + ?Sized>(events: &E, invoke: usize) -> String {
    let event = events.event(invoke);
    let mut text = format!("process {} {}", event.process, event.f.as_str());
    if let Some(key) = &event.key {
        text.push_str(&format!(" {key:?}"));
    }
    if event.value != Value::Null {
        text.push_str(&format!(" {}", event.value));
    }
    let completion = (invoke + 1..events.len())
        .find(|&i| {
            let (process, kind, _) = events.head(i);
            process == event.process && kind != EventType::Invoke
        })
        .map(|i| events.event(i));
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

/// Checks `events` against `model`.
///
/// # Errors
/// If the history is not well formed for the model (a completion without an invoke, a second
/// invoke by a process whose operation is still open, a value of the wrong shape, an operation
/// the model does not have).
pub fn check_events(
    events: &[HistoryEvent],
    model: Model,
    options: &CheckOptions,
) -> Result<CheckResult, HistoryError> {
    check_source(events, model, options)
}

/// [`check_events`] over any [`EventSource`] (say [`CompactEvents`], for long histories).
///
/// # Errors
/// As [`check_events`].
pub fn check_source<E: EventSource + ?Sized>(
    events: &E,
    model: Model,
    options: &CheckOptions,
) -> Result<CheckResult, HistoryError> {
    let Some(plugin) = model.plugin() else {
        // The bank has a search of its own (bank.rs): its transfers commute, so it needs no
        // per-object partitioning or Wing-Gong search.
        let events: Vec<HistoryEvent> = (0..events.len())
            .map(|i| events.event(i).into_owned())
            .collect();
        return bank::check(&events, options);
    };
    let mut prepared = prepare(events, plugin, options.dialect, &options.initial)?;
    if options.reductions {
        prune(&mut prepared);
    }
    let mut strings = std::mem::take(&mut prepared.strings);
    let parts = partitions(&prepared, options.partition);
    let mut result = CheckResult {
        verdict: Verdict::Linearizable,
        steps: 0,
        cache_entries_max: 0,
        partitions: parts.len(),
        operations: prepared
            .ops
            .iter()
            .filter(|op| op.form(None).is_some())
            .count(),
        unknown_reason: None,
        explanation: None,
    };
    // Partitions are searched in rounds with doubling step allowances, each search resuming
    // where it stopped: an object whose violation is quick to find is found before a hard
    // object (linearizable or not) uses up the budget, and no work is repeated. A search is
    // built when it first runs and dropped when decided, so only the undecided ones hold
    // memory.
    let mut searches: Vec<Option<Box<dyn ObjectSearch>>> = (0..parts.len()).map(|_| None).collect();
    let mut failing = Vec::new();
    let mut undecided: Vec<usize> = (0..parts.len()).collect();
    let (mut live_entries, mut live_bytes) = (0u64, 0u64);
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
            let search = searches[index].get_or_insert_with(|| {
                let (keys, ops) = &parts[index];
                let built = build(&prepared, keys, ops, None);
                let search =
                    new_search(&prepared, &mut strings, keys.len(), built, false, options).0;
                live_bytes += search.bytes();
                search
            });
            let (steps_before, entries_before, bytes_before) = (
                search.report().steps,
                search.cache_entries(),
                search.bytes(),
            );
            let room = Room {
                entries: options
                    .cache_entries_max
                    .saturating_sub(live_entries - entries_before),
                bytes: options
                    .memory_bytes_max
                    .saturating_sub(live_bytes - bytes_before),
            };
            let allowance = if undecided.len() == 1 {
                remaining
            } else {
                slice.min(remaining)
            };
            let outcome = search.resume(&mut strings, allowance, room);
            result.steps += search.report().steps - steps_before;
            live_entries = live_entries - entries_before + search.cache_entries();
            live_bytes = live_bytes - bytes_before + search.bytes();
            result.cache_entries_max = result.cache_entries_max.max(search.cache_entries());
            let decided = match outcome {
                None => {
                    still.push(index);
                    false
                }
                Some(Outcome::Linearizable) => true,
                Some(Outcome::NotLinearizable) => {
                    failing.push(index);
                    true
                }
                Some(Outcome::Unknown(why)) => {
                    unknown.get_or_insert((why, index));
                    false
                }
            };
            if decided {
                live_entries -= search.cache_entries();
                live_bytes -= search.bytes();
                searches[index] = None; // free its memory
                if !failing.is_empty() && !options.explain {
                    // Any violation decides the verdict; with explanations on, keep going:
                    // the earliest violation over all objects is reported.
                    still.clear();
                    break 'rounds;
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
        result.unknown_reason = Some(format!(
            "{} ({})",
            gave_up_reason(
                why,
                options.budget_steps,
                options.cache_entries_max,
                options.memory_bytes_max
            ),
            object_name(&prepared, &parts[index].0)
        ));
    }
    prepared.strings = strings;
    if options.explain {
        for index in failing {
            let (keys, ops) = &parts[index];
            let explanation = explain(&mut prepared, keys, ops, options);
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
}

fn build(prepared: &Prepared, keys: &[u32], ops: &[usize], cut: Option<usize>) -> Built {
    let mut built = Built {
        origin: Vec::new(),
        data: Vec::new(),
        calls: Vec::new(),
        returns: Vec::new(),
        txns: Vec::new(),
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
            let txn = &prepared.txns[op.txn as usize];
            let micros = if uses_done { &txn.done } else { &txn.maybe };
            data.a = built.txns.len() as u64;
            built.txns.push(
                micros
                    .iter()
                    .map(|&(key, is_write, value)| (slot_of(key), is_write, value))
                    .collect(),
            );
        } else {
            data.slot = slot_of(op.key);
        }
        built.origin.push(index);
        built.data.push(data);
        built.calls.push(call);
        built.returns.push(ret);
    }
    built
}

/// The search of one built partition, and what is left of the build (its origins and
/// positions, for explanations).
fn new_search(
    prepared: &Prepared,
    strings: &mut Strings,
    key_count: usize,
    built: Built,
    track: bool,
    options: &CheckOptions,
) -> (Box<dyn ObjectSearch>, Built) {
    let job = Job {
        strings,
        data: built.data.clone(),
        txns: built.txns.clone(),
        calls: &built.calls,
        returns: &built.returns,
        slots: key_count,
        initial: prepared.initial,
        track,
        reductions: options.reductions,
        switch_steps: options.switch_steps,
    };
    (prepared.model.searcher(job), built)
}

/// Searches one partition cut after event `cut` to the end (for explanations): the report,
/// the build, and the per-slot states of the deepest configuration (when tracked).
fn run_partition(
    prepared: &mut Prepared,
    keys: &[u32],
    ops: &[usize],
    cut: Option<usize>,
    options: &CheckOptions,
    track: bool,
) -> (SearchReport, Built, Option<Vec<u64>>) {
    let built = build(prepared, keys, ops, cut);
    let mut strings = std::mem::take(&mut prepared.strings);
    let (mut search, built) = new_search(prepared, &mut strings, keys.len(), built, track, options);
    let room = Room {
        entries: options.cache_entries_max,
        bytes: options.memory_bytes_max,
    };
    let outcome = search.resume(&mut strings, options.budget_steps, room);
    prepared.strings = strings;
    let mut report = search.report().clone();
    report.outcome = outcome.unwrap_or(Outcome::Unknown(GaveUp::Steps));
    let slots = search.deepest_slots();
    (report, built, slots)
}

fn object_name(prepared: &Prepared, keys: &[u32]) -> String {
    let names = &prepared.tables.keys;
    match keys {
        [] => "the history".to_string(),
        [key] => match &names[*key as usize] {
            Some(name) => format!("key {name:?}"),
            None => "the object".to_string(),
        },
        _ => {
            let list: Vec<String> = keys
                .iter()
                .map(|&k| match &names[k as usize] {
                    Some(name) => format!("{name:?}"),
                    None => "the object".to_string(),
                })
                .collect();
            format!("keys {}", list.join(", "))
        }
    }
}

fn show_slot(prepared: &Prepared, state: u64) -> String {
    prepared
        .model
        .show(&prepared.tables, &prepared.strings, state)
}

fn key_name(prepared: &Prepared, key: u32) -> &str {
    prepared.tables.keys[key as usize].as_deref().unwrap_or("-")
}

fn show_state(prepared: &Prepared, keys: &[u32], slots: &[u64]) -> String {
    if slots.len() == 1 && prepared.tables.keys[keys[0] as usize].is_none() {
        return show_slot(prepared, slots[0]);
    }
    let parts: Vec<String> = keys
        .iter()
        .zip(slots)
        .map(|(&k, &s)| format!("{}: {}", key_name(prepared, k), show_slot(prepared, s)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Why `data` cannot be applied to `slots`, or None if it can.
fn rejection_reason(
    prepared: &mut Prepared,
    keys: &[u32],
    slots: &[u64],
    data: &OpData,
    txns: &[Vec<Micro>],
) -> Option<String> {
    if data.kind == Kind::Txn {
        let mut scratch = slots.to_vec();
        for &(slot, is_write, value) in &txns[data.a as usize] {
            let slot = slot as usize;
            if is_write {
                scratch[slot] = value;
            } else if value != ANY && scratch[slot] != value {
                let key = key_name(prepared, keys[slot]);
                return Some(format!(
                    "its read of {key} saw {} but {key} holds {}",
                    show_slot(prepared, value),
                    show_slot(prepared, scratch[slot])
                ));
            }
        }
        return None;
    }
    let state = slots[data.slot as usize];
    if prepared
        .model
        .step(&mut prepared.strings, state, data)
        .is_some()
    {
        return None;
    }
    Some(
        prepared
            .model
            .rejection(&prepared.tables, &prepared.strings, state, data),
    )
}

fn explain(
    prepared: &mut Prepared,
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
        let (report, _, _) =
            run_partition(prepared, keys, ops, Some(positions[middle]), options, false);
        if report.outcome == Outcome::NotLinearizable {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let cut = positions[high];
    let (report, built, deepest_slots) =
        run_partition(prepared, keys, ops, Some(cut), options, true);
    let deepest = report.deepest.unwrap_or_default();
    let mut done = vec![false; built.calls.len()];
    for &op in &deepest.order {
        done[op as usize] = true;
    }
    let slots = deepest_slots.unwrap_or_else(|| vec![prepared.initial; keys.len()]);
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
        let (invoke_event, complete_event) = {
            let op = &prepared.ops[built.origin[i]];
            (op.invoke, op.complete.filter(|&c| c <= cut))
        };
        let reason = rejection_reason(prepared, keys, &slots, &built.data[i], &built.txns)
            .unwrap_or_else(|| {
                "it is legal here, but every continuation after it fails (already explored)"
                    .to_string()
            });
        rejected.push(Rejection {
            invoke_event,
            complete_event,
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
        state: show_state(prepared, keys, &slots),
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
