//! The contract between the checker and its history models, and the specifications the search
//! runs on.
//!
//! A history model (register, counter, lease lock, ...) is a plug-in: one file under `models/`
//! implementing [`HistoryModel`] and one line in the registry (`models/mod.rs`). The checker's
//! core (pairing events, partitioning, the search, explanations) only sees this contract, so
//! it imports no model and no model imports it back.
//!
//! Every object's state is one `u64` whose meaning is the model's own (an interned value id,
//! a sum, a packed lock state, a string id). Operations are compact `Copy` records
//! ([`OpData`]) whose arguments are already interned.
//!
//! A partition of one object is searched with [`SingleSpec`] (the state is the object's `u64`).
//! A partition of several objects (`--no-partition`, or a multi-register transaction spanning
//! keys) is searched with [`VectorSpec`]: its state is the id of a hash-consed vector of object
//! states, and transitions are memoised, so the search itself still sees one `u64`.
//!
//! Indeterminate operations (`info`, or never completed) use "apply if legal, otherwise leave
//! the state unchanged". Their return is placed after the end of the history, so an operation
//! that is never applied can always be linearized last; together this is exactly "took effect
//! at some instant after its invocation, or never" (DESIGN.md §4).

#![allow(clippy::disallowed_types)]
// Why HashMap is allowed here, against clippy.toml's ban: this is the history checker, not
// simulation state, and the two hash maps of `VectorSpec` (ids, memo) are a look-up table and
// a transition memo, only probed with get/insert and never iterated (the memo is cleared whole
// when full). They hash with `FixedState`, a fixed portable function, not RandomState. So no
// verdict, step count or id can depend on their internal order; BTreeMap would cost the search
// a log factor on every step.

use super::hash::FixedState;
use super::linearizability::{GaveUp, Outcome, Room, SearchReport, Searcher, Spec};
use super::strings::Strings;
use crate::history::{EventType, HistoryEvent, Value};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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

/// A history that cannot be checked (an input error, not a verdict).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {event}: {message}")]
pub struct HistoryError {
    /// Index of the offending event.
    pub event: usize,
    /// What is wrong.
    pub message: String,
}

/// A read's expected value when any value is acceptable.
pub(crate) const ANY: u64 = u64::MAX;

/// What an operation does (the vocabulary shared by the models; each model gives the kinds it
/// compiles their meaning in its `step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The state must equal `a`.
    Read,
    /// Sets the state to `a`.
    Write,
    /// Compare `a`, set `b`.
    Cas,
    /// Counter: adds `a` (two's complement).
    Add,
    /// String store: appends atom `a` (see [`Strings`]).
    Append,
    /// Mutex: process `a` (interned, from 1) acquires, with token index `b` (0 = none).
    Acquire,
    /// Mutex: process `a` releases.
    Release,
    /// Multi-register transaction number `a`.
    Txn,
    /// Lease lock: process `a` is granted or renews with token index `b` (0 = unknown).
    LeaseAcquire,
    /// Lease lock: process `a` releases its grant of token index `b` (0 = any).
    LeaseRelease,
    /// Fenced resource: a write with token index `b`; `compare_failed` = it was refused.
    FencedWrite,
}

/// One operation, compiled.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpData {
    pub kind: Kind,
    /// Indeterminate: apply if legal, else no change.
    pub unknown: bool,
    /// Porcupine etcd `:fail :cas`: the compare was executed and failed.
    pub compare_failed: bool,
    /// The object's slot inside its partition (a global key id until the partition is built).
    pub slot: u32,
    pub a: u64,
    pub b: u64,
}

impl OpData {
    /// An operation of `kind` on `key` with arguments `a`, `b`.
    pub fn new(kind: Kind, key: u32, a: u64, b: u64) -> OpData {
        OpData {
            kind,
            unknown: false,
            compare_failed: false,
            slot: key,
            a,
            b,
        }
    }

    /// The same operation, indeterminate.
    pub fn indeterminate(self) -> OpData {
        OpData {
            unknown: true,
            compare_failed: false,
            ..self
        }
    }
}

/// A micro-operation of a transaction: `(slot, is_write, value)`; a read of [`ANY`] is free.
pub(crate) type Micro = (u32, bool, u64);

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `ok`, or an observation of a refusal (an etcd `:fail :cas`, a refused fenced write):
    /// `done` applies (None = no constraint).
    Completed,
    /// `fail`: did not happen.
    Failed,
    /// `info`, or never completed.
    Indeterminate,
}

/// Marks a [`PreparedOp`] that is not a transaction.
pub(crate) const NO_TXN: u32 = u32::MAX;

/// One operation of the history, compiled.
#[derive(Clone, Debug)]
pub(crate) struct PreparedOp {
    /// Index of the invoke event.
    pub invoke: usize,
    /// Index of the completion event, if any.
    pub complete: Option<usize>,
    pub ending: Ending,
    /// The operation as it took effect (when completed).
    pub done: Option<OpData>,
    /// The operation as it may have taken effect (when indeterminate or cut off).
    pub maybe: Option<OpData>,
    /// The global key id of the object, or the first key of a transaction.
    pub key: u32,
    /// The transaction's index in [`Txn`]s, or [`NO_TXN`].
    pub txn: u32,
}

impl PreparedOp {
    /// The operation's return position in a search of the whole history: its completion, or
    /// never for an indeterminate one.
    pub fn returns(&self) -> u64 {
        match (self.ending, self.complete) {
            (Ending::Completed, Some(complete)) => complete as u64,
            _ => u64::MAX,
        }
    }
}

/// A transaction's keys and micro-operations (global key ids).
#[derive(Clone, Debug, Default)]
pub(crate) struct Txn {
    pub keys: Vec<u32>,
    pub done: Vec<Micro>,
    pub maybe: Vec<Micro>,
}

/// The interning tables of a history: keys, values, processes and tokens. Models compile
/// arguments into ids here and show states from them.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    key_ids: BTreeMap<Option<String>, u32>,
    /// Global key ids to key names (None = the single unnamed object).
    pub keys: Vec<Option<String>>,
    value_ids: BTreeMap<Value, u64>,
    /// Value ids to values (id 0 = null, absent).
    pub values: Vec<Value>,
    process_ids: BTreeMap<u64, u64>,
    /// Process ids (index 0 unused) to process numbers.
    pub processes: Vec<u64>,
    /// Token indices (index 0 = none) to tokens, in increasing order.
    pub tokens: Vec<u64>,
}

impl Tables {
    /// Empty tables over the tokens a history uses.
    pub fn new(tokens: impl IntoIterator<Item = u64>) -> Tables {
        let mut set: Vec<u64> = tokens.into_iter().collect();
        set.sort_unstable();
        set.dedup();
        let mut tables = Tables {
            key_ids: BTreeMap::new(),
            keys: Vec::new(),
            value_ids: BTreeMap::new(),
            values: Vec::new(),
            process_ids: BTreeMap::new(),
            processes: vec![0],
            tokens: std::iter::once(0).chain(set).collect(),
        };
        tables.value(&Value::Null);
        tables
    }

    /// The id of key `key`, in order of first appearance.
    pub fn key(&mut self, key: Option<&str>) -> u32 {
        if let Some(&id) = self.key_ids.get(&key.map(str::to_string)) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.key_ids.insert(key.map(str::to_string), id);
        self.keys.push(key.map(str::to_string));
        id
    }

    /// The id of `value` (0 = null).
    pub fn value(&mut self, value: &Value) -> u64 {
        if let Some(&id) = self.value_ids.get(value) {
            return id;
        }
        let id = self.values.len() as u64;
        self.value_ids.insert(value.clone(), id);
        self.values.push(value.clone());
        id
    }

    /// The id of a process (from 1).
    pub fn process(&mut self, process: u64) -> u64 {
        let next = self.processes.len() as u64;
        let id = *self.process_ids.entry(process).or_insert(next);
        if id == next {
            self.processes.push(process);
        }
        id
    }

    /// The index of `token` (0 if the history never shows it).
    pub fn token(&self, token: u64) -> u64 {
        self.tokens
            .binary_search(&token)
            .map(|i| i as u64)
            .unwrap_or(0)
    }

    /// The value of register state `state`, for explanations.
    pub fn show_value(&self, state: u64) -> String {
        match self.values.get(state as usize) {
            Some(Value::Null) => "absent".to_string(),
            Some(value) => value.to_string(),
            None => "?".to_string(),
        }
    }
}

/// One operation as the history shows it.
pub(crate) struct Source<'a> {
    pub invoke: &'a HistoryEvent,
    pub complete: Option<&'a HistoryEvent>,
    pub dialect: Dialect,
}

impl Source<'_> {
    /// How it completed (`info` when it never did).
    pub fn completion(&self) -> EventType {
        self.complete.map_or(EventType::Info, |c| c.kind)
    }

    /// The argument: from the invocation, or the completion when the invocation has none.
    pub fn argument(&self) -> &Value {
        if self.invoke.value == Value::Null {
            self.complete.map_or(&self.invoke.value, |c| &c.value)
        } else {
            &self.invoke.value
        }
    }

    /// What the completion returned (null if nothing).
    pub fn result(&self) -> &Value {
        self.complete.map_or(&Value::Null, |c| &c.value)
    }

    /// The usual ending: `ok` completed, `fail` did not happen, the rest indeterminate.
    pub fn ending(&self) -> Ending {
        match self.completion() {
            EventType::Ok => Ending::Completed,
            EventType::Fail => Ending::Failed,
            _ => Ending::Indeterminate,
        }
    }
}

/// A compiled operation: its ending, its two forms and the object it addresses.
pub(crate) struct Compiled {
    pub ending: Ending,
    pub done: Option<OpData>,
    pub maybe: Option<OpData>,
    /// The object's key (a lease lock's write goes to its resource's key).
    pub key: u32,
    /// A transaction's keys and micro-operations (multi-register only).
    pub txn: Option<Txn>,
}

impl Compiled {
    /// An operation with the usual ending whose indeterminate form is `done` made
    /// indeterminate (or none, for a read).
    pub fn plain(source: &Source<'_>, key: u32, done: OpData, may_take_effect: bool) -> Compiled {
        Compiled {
            ending: source.ending(),
            done: Some(done),
            maybe: may_take_effect.then(|| done.indeterminate()),
            key,
            txn: None,
        }
    }
}

/// A history model: how to compile a history's operations, the sequential specification of
/// one object, and how to explain a state and a rejection.
pub(crate) trait HistoryModel: Sync {
    /// The state every object starts in, given the check's initial value.
    fn initial(
        &self,
        initial: &Value,
        tables: &mut Tables,
        strings: &mut Strings,
    ) -> Result<u64, String>;

    /// The fencing tokens the history shows, so that they are indexed in order (by default
    /// the tokens of completions).
    fn tokens(&self, events: &mut dyn Iterator<Item = Cow<'_, HistoryEvent>>) -> Vec<u64> {
        events.filter_map(|e| e.token).collect()
    }

    /// Compiles one operation (the error names what is wrong with it).
    fn compile(
        &self,
        source: &Source<'_>,
        tables: &mut Tables,
        strings: &mut Strings,
    ) -> Result<Compiled, String>;

    /// The state after `op`, or `None` if it is illegal in `state`.
    fn step(&self, strings: &mut Strings, state: u64, op: &OpData) -> Option<u64>;

    /// True if `op` never changes the state when legal and is not indeterminate (a read).
    fn observes(&self, op: &OpData) -> bool {
        !op.unknown && op.kind == Kind::Read
    }

    /// True if `op` is always legal and its resulting state does not depend on the state
    /// before it (a blind write). The search lets an indeterminate one go only right before
    /// an operation that is not blind (see `linearizability.rs`).
    fn overwrites(&self, _op: &OpData) -> bool {
        false
    }

    /// False if no sequence of operations that are not blind (see `overwrites`) can take
    /// `state` to one where observation `op` is legal.
    fn may_reach(&self, _strings: &mut Strings, _state: u64, _op: &OpData) -> bool {
        true
    }

    /// True if `may_reach` can be false.
    fn has_dead_ends(&self) -> bool {
        false
    }

    /// Drops (sets `maybe` to None) indeterminate operations of `ops`, all on one object, that
    /// no completed operation can have observed, so that they may be taken never to have
    /// happened. Each model argues its rule's soundness where it implements it.
    fn prune(&self, _ops: &mut [&mut PreparedOp], _strings: &Strings) {}

    /// A state, for explanations.
    fn show(&self, tables: &Tables, strings: &Strings, state: u64) -> String;

    /// Why `op` is illegal in `state`.
    fn rejection(&self, tables: &Tables, strings: &Strings, state: u64, op: &OpData) -> String {
        let _ = op;
        format!("illegal in state {}", self.show(tables, strings, state))
    }

    /// A search of one partition with this model's specification (each model returns
    /// `search(self, ...)`, so that its `step` is called without indirection).
    fn searcher(&'static self, job: Job<'_>) -> Box<dyn ObjectSearch>;
}

/// What a search of one partition needs.
pub(crate) struct Job<'a> {
    pub strings: &'a mut Strings,
    pub data: Vec<OpData>,
    pub txns: Vec<Vec<Micro>>,
    pub calls: &'a [u64],
    pub returns: &'a [u64],
    /// Number of objects (slots) in the partition.
    pub slots: usize,
    pub initial: u64,
    /// Track the deepest configuration (for explanations).
    pub track: bool,
    pub reductions: bool,
    /// Model steps in Porcupine's order before observations go first.
    pub switch_steps: u64,
}

/// A search of one partition, whatever its model.
pub(crate) trait ObjectSearch {
    /// Continues it (see [`Searcher::resume`]).
    fn resume(&mut self, strings: &mut Strings, steps: u64, room: Room) -> Option<Outcome>;
    /// What it did so far.
    fn report(&self) -> &SearchReport;
    /// Cache entries held.
    fn cache_entries(&self) -> u64;
    /// Bytes held that grow while it runs.
    fn bytes(&self) -> u64;
    /// The per-slot states of the deepest configuration (when tracked).
    fn deepest_slots(&self) -> Option<Vec<u64>>;
}

/// The search of a partition with model `model`: one object, or a vector of them.
pub(crate) fn search<M: HistoryModel>(model: &'static M, job: Job<'_>) -> Box<dyn ObjectSearch> {
    if job.slots == 1 && job.txns.is_empty() {
        let spec = SingleSpec {
            model,
            ops: job.data,
            initial: job.initial,
        };
        Box::new(Searcher::new(
            spec,
            job.strings,
            job.calls,
            job.returns,
            job.track,
            job.reductions,
            job.switch_steps,
        ))
    } else {
        let spec = VectorSpec::new(model, job.data, job.txns, vec![job.initial; job.slots]);
        Box::new(Searcher::new(
            spec,
            job.strings,
            job.calls,
            job.returns,
            job.track,
            job.reductions,
            job.switch_steps,
        ))
    }
}

/// The states of a specification's slots.
pub(crate) trait Slots {
    fn slots_of(&self, state: u64) -> Vec<u64>;
}

impl<S: Spec + Slots> ObjectSearch for Searcher<S> {
    fn resume(&mut self, strings: &mut Strings, steps: u64, room: Room) -> Option<Outcome> {
        Searcher::resume(self, strings, steps, room)
    }
    fn report(&self) -> &SearchReport {
        &self.report
    }
    fn cache_entries(&self) -> u64 {
        Searcher::cache_entries(self)
    }
    fn bytes(&self) -> u64 {
        Searcher::bytes(self)
    }
    fn deepest_slots(&self) -> Option<Vec<u64>> {
        self.report
            .deepest
            .as_ref()
            .map(|d| self.spec.slots_of(d.state))
    }
}

/// Why a search gave up, in words.
pub(crate) fn gave_up_reason(why: GaveUp, budget_steps: u64, entries: u64, bytes: u64) -> String {
    match why {
        GaveUp::Steps => format!("step budget of {budget_steps} exhausted"),
        GaveUp::Cache => format!("cache limit of {entries} entries reached"),
        // In KiB when not a whole MiB: a run's checker gets half of the run's budget.
        GaveUp::Memory if bytes % (1 << 20) != 0 => format!(
            "memory limit of {} KiB reached (cache and interned states)",
            bytes >> 10
        ),
        GaveUp::Memory => format!(
            "memory limit of {} MiB reached (cache and interned states)",
            bytes >> 20
        ),
    }
}

/// An [`OpData`]'s step depends on its fields only, so they are its effect key.
fn effect_key(op: &OpData) -> [u64; 4] {
    let flags = (op.kind as u64) | u64::from(op.unknown) << 8 | u64::from(op.compare_failed) << 9;
    [flags, u64::from(op.slot), op.a, op.b]
}

/// One object.
pub(crate) struct SingleSpec<M: 'static> {
    model: &'static M,
    ops: Vec<OpData>,
    initial: u64,
}

impl<M: HistoryModel> Spec for SingleSpec<M> {
    fn init(&mut self, _strings: &mut Strings) -> u64 {
        self.initial
    }
    #[inline]
    fn step(&mut self, strings: &mut Strings, state: u64, op: u32) -> Option<u64> {
        self.model.step(strings, state, &self.ops[op as usize])
    }
    fn is_observation(&self, op: u32) -> bool {
        self.model.observes(&self.ops[op as usize])
    }
    fn is_blind(&self, op: u32) -> bool {
        self.model.overwrites(&self.ops[op as usize])
    }
    fn may_reach(&self, strings: &mut Strings, state: u64, op: u32) -> bool {
        self.model.may_reach(strings, state, &self.ops[op as usize])
    }
    fn has_dead_ends(&self) -> bool {
        self.model.has_dead_ends()
    }
    fn effect_key(&self, op: u32) -> Option<[u64; 4]> {
        Some(effect_key(&self.ops[op as usize]))
    }
}

impl<M> Slots for SingleSpec<M> {
    fn slots_of(&self, state: u64) -> Vec<u64> {
        vec![state]
    }
}

/// Several objects (slots) with a hash-consed vector state.
pub(crate) struct VectorSpec<M: 'static> {
    model: &'static M,
    ops: Vec<OpData>,
    txns: Vec<Vec<Micro>>,
    initial: Vec<u64>,
    vectors: Vec<Box<[u64]>>,
    ids: HashMap<Box<[u64]>, u32, FixedState>,
    memo: HashMap<(u32, u32), u32, FixedState>,
    scratch: Vec<u64>,
}

/// Transitions remembered by [`VectorSpec`] at most.
const MEMO_ENTRIES_MAX: usize = 1 << 22;

/// Memo value for an illegal transition.
const ILLEGAL: u32 = u32::MAX;

impl<M: HistoryModel> VectorSpec<M> {
    fn new(model: &'static M, ops: Vec<OpData>, txns: Vec<Vec<Micro>>, initial: Vec<u64>) -> Self {
        VectorSpec {
            model,
            ops,
            txns,
            initial,
            vectors: Vec::new(),
            ids: HashMap::default(),
            memo: HashMap::default(),
            scratch: Vec::new(),
        }
    }

    fn intern(&mut self, vector: &[u64]) -> u32 {
        if let Some(&id) = self.ids.get(vector) {
            return id;
        }
        let id = self.vectors.len() as u32;
        self.vectors.push(vector.into());
        self.ids.insert(vector.into(), id);
        id
    }
}

impl<M> Slots for VectorSpec<M> {
    fn slots_of(&self, state: u64) -> Vec<u64> {
        self.vectors[state as usize].to_vec()
    }
}

impl<M: HistoryModel> Spec for VectorSpec<M> {
    fn is_observation(&self, op: u32) -> bool {
        let data = &self.ops[op as usize];
        if data.kind == Kind::Txn {
            !data.unknown
                && self.txns[data.a as usize]
                    .iter()
                    .all(|&(_, is_write, _)| !is_write)
        } else {
            self.model.observes(data)
        }
    }

    fn is_blind(&self, op: u32) -> bool {
        // Blind for its own slot only: the other slots' states pass through unchanged, so an
        // overwrite of one slot is not blind for the vector.
        let _ = op;
        false
    }

    fn effect_key(&self, op: u32) -> Option<[u64; 4]> {
        // A transaction's `a` names its micro-operations, not its effect.
        let data = &self.ops[op as usize];
        (data.kind != Kind::Txn).then(|| effect_key(data))
    }

    fn bytes(&self) -> u64 {
        // Per interned vector: its boxed copy in `vectors` and its key in `ids` (with the
        // table's slot), and the memo's entries.
        let per_vector = 2 * (self.initial.len() as u64 * 8 + 16) + 24;
        self.vectors.len() as u64 * per_vector + self.memo.len() as u64 * 24
    }

    fn init(&mut self, _strings: &mut Strings) -> u64 {
        let initial = self.initial.clone();
        u64::from(self.intern(&initial))
    }

    fn step(&mut self, strings: &mut Strings, state: u64, op: u32) -> Option<u64> {
        if let Some(&next) = self.memo.get(&(state as u32, op)) {
            return (next != ILLEGAL).then_some(u64::from(next));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(&self.vectors[state as usize]);
        let data = self.ops[op as usize];
        let legal = if data.kind == Kind::Txn {
            let mut legal = true;
            for &(slot, is_write, value) in &self.txns[data.a as usize] {
                if is_write {
                    scratch[slot as usize] = value;
                } else if value != ANY && scratch[slot as usize] != value {
                    legal = false;
                    break;
                }
            }
            legal
        } else {
            match self.model.step(strings, scratch[data.slot as usize], &data) {
                Some(value) => {
                    scratch[data.slot as usize] = value;
                    true
                }
                None => false,
            }
        };
        let next = if legal {
            self.intern(&scratch)
        } else {
            ILLEGAL
        };
        self.scratch = scratch;
        // The memo only saves work: bound its memory by starting afresh when it is full.
        if self.memo.len() >= MEMO_ENTRIES_MAX {
            self.memo.clear();
        }
        self.memo.insert((state as u32, op), next);
        (next != ILLEGAL).then_some(u64::from(next))
    }
}
