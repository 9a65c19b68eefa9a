//! From events to compiled operations: pairing invocations with completions, compiling each
//! operation with its model, pruning what no completed operation can have observed, and
//! splitting into independent partitions (P-compositionality: objects that no operation
//! touches together are checked separately).

use super::events::EventSource;
use super::linearizability::END;
use super::model::{
    Dialect, Ending, HistoryError, HistoryModel, OpData, PreparedOp, Source, Tables, Txn, NO_TXN,
};
use super::strings::Strings;
use crate::history::{EventType, Function, Value};
use std::collections::{BTreeMap, BTreeSet};

impl PreparedOp {
    /// The operation as seen by a history cut after event `cut` (None = the whole history):
    /// `(data, uses_done, call, return)`, or None if it has no part in that history.
    pub fn form(&self, cut: Option<usize>) -> Option<(OpData, bool, u64, u64)> {
        if let Some(cut) = cut {
            if self.invoke > cut {
                return None;
            }
        }
        let completed = match (self.complete, cut) {
            (Some(complete), Some(cut)) => complete <= cut,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let invoke = self.invoke as u64;
        if completed {
            match self.ending {
                Ending::Completed => {
                    let complete = self.complete.expect("completed") as u64;
                    self.done.map(|data| (data, true, invoke, complete))
                }
                Ending::Failed => None,
                Ending::Indeterminate => self.maybe.map(|data| (data, false, invoke, END)),
            }
        } else {
            self.maybe.map(|data| (data, false, invoke, END))
        }
    }
}

/// A compiled history.
pub(crate) struct Prepared {
    pub ops: Vec<PreparedOp>,
    pub txns: Vec<Txn>,
    pub tables: Tables,
    pub strings: Strings,
    /// Initial state of every object.
    pub initial: u64,
    pub model: &'static dyn HistoryModel,
}

impl Prepared {
    /// The keys operation `op` touches.
    pub fn keys_of<'a>(&'a self, op: &'a PreparedOp) -> &'a [u32] {
        if op.txn == NO_TXN {
            std::slice::from_ref(&op.key)
        } else {
            &self.txns[op.txn as usize].keys
        }
    }
}

fn error(event: usize, message: impl Into<String>) -> HistoryError {
    HistoryError {
        event,
        message: message.into(),
    }
}

fn kind_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// Compiles `events` for `model` under `dialect`, with every object starting at `initial`.
///
/// # Errors
/// A completion without an open invoke or of another function, an invoke by a process whose
/// previous operation is still open, and whatever the model refuses.
pub(crate) fn prepare<E: EventSource + ?Sized>(
    events: &E,
    model: &'static dyn HistoryModel,
    dialect: Dialect,
    initial: &Value,
) -> Result<Prepared, HistoryError> {
    let mut tables = Tables::new(model.tokens(&mut (0..events.len()).map(|i| events.event(i))));
    let mut strings = Strings::new();
    let initial_state = model
        .initial(initial, &mut tables, &mut strings)
        .map_err(|message| error(0, message))?;

    // Pair invocations with completions: (invoke, completion or NONE) per operation.
    const NONE: u32 = u32::MAX;
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let index_max = events.len().min(NONE as usize);
    if events.len() > index_max {
        return Err(error(index_max, "a history of more than 2^32 - 1 events"));
    }
    for index in 0..events.len() {
        let (process, kind, f) = events.head(index);
        match kind {
            EventType::Invoke => {
                // Jepsen's convention: a process runs one operation at a time (a client whose
                // operation timed out continues as a new process). A second invoke while the
                // first is open would make the first's completion ambiguous.
                if let Some(&earlier) = open.get(&process) {
                    let first = events.event(pairs[earlier].0 as usize);
                    return Err(error(
                        index,
                        format!(
                            "process {process} invokes {} while its {} (event {}) is still open: a process has at most one open operation",
                            f.as_str(),
                            first.f.as_str(),
                            first.index
                        ),
                    ));
                }
                open.insert(process, pairs.len());
                pairs.push((index as u32, NONE));
            }
            EventType::Ok | EventType::Fail | EventType::Info => {
                let Some(op) = open.remove(&process) else {
                    return Err(error(
                        index,
                        format!(
                            "{} of process {process} without an open invoke",
                            kind_name(kind),
                        ),
                    ));
                };
                let (_, _, invoke_f) = events.head(pairs[op].0 as usize);
                if invoke_f != f {
                    return Err(error(
                        index,
                        format!(
                            "completion {} does not match invoke {} of process {process}",
                            f.as_str(),
                            invoke_f.as_str(),
                        ),
                    ));
                }
                pairs[op].1 = index as u32;
            }
        }
    }

    let mut ops = Vec::with_capacity(pairs.len());
    let mut txns = Vec::new();
    for (invoke, complete) in pairs {
        let invoke = invoke as usize;
        let complete = (complete != NONE).then_some(complete as usize);
        let invoke_event = events.event(invoke);
        let complete_event = complete.map(|c| events.event(c));
        let source = Source {
            invoke: &invoke_event,
            complete: complete_event.as_deref(),
            dialect,
        };
        // An error names the event that carries the offending value: the completion for a
        // read's result or an argument given only there, else the invocation.
        let culprit = match complete {
            Some(c) if source.invoke.f == Function::Read || source.invoke.value == Value::Null => c,
            _ => invoke,
        };
        let compiled = model
            .compile(&source, &mut tables, &mut strings)
            .map_err(|message| error(culprit, message))?;
        let txn = match compiled.txn {
            // A transaction of no micro-operations constrains nothing.
            Some(txn) if txn.keys.is_empty() => continue,
            Some(txn) => {
                txns.push(txn);
                (txns.len() - 1) as u32
            }
            None => NO_TXN,
        };
        ops.push(PreparedOp {
            invoke,
            complete,
            ending: compiled.ending,
            done: compiled.done,
            maybe: compiled.maybe,
            key: compiled.key,
            txn,
        });
    }
    Ok(Prepared {
        ops,
        txns,
        tables,
        strings,
        initial: initial_state,
        model,
    })
}

/// Applies the model's pruning to every object that no transaction touches.
pub(crate) fn prune(prepared: &mut Prepared) {
    let key_count = prepared.tables.keys.len();
    let mut in_txn = vec![false; key_count];
    for txn in &prepared.txns {
        for &key in &txn.keys {
            in_txn[key as usize] = true;
        }
    }
    let mut by_key: Vec<Vec<&mut PreparedOp>> = (0..key_count).map(|_| Vec::new()).collect();
    for op in &mut prepared.ops {
        if op.txn == NO_TXN && !in_txn[op.key as usize] {
            by_key[op.key as usize].push(op);
        }
    }
    for mut ops in by_key {
        if !ops.is_empty() {
            prepared.model.prune(&mut ops, &prepared.strings);
        }
    }
}

/// Groups operations into independent partitions: returns, per partition, the sorted global
/// key ids it owns and the indices of its operations (in history order).
pub(crate) fn partitions(prepared: &Prepared, split: bool) -> Vec<(Vec<u32>, Vec<usize>)> {
    let key_count = prepared.tables.keys.len();
    if !split {
        if prepared.ops.is_empty() {
            return Vec::new();
        }
        let keys: BTreeSet<u32> = prepared
            .ops
            .iter()
            .flat_map(|op| prepared.keys_of(op).iter().copied())
            .collect();
        return vec![(
            keys.into_iter().collect(),
            (0..prepared.ops.len()).collect(),
        )];
    }
    let mut parent: Vec<u32> = (0..key_count as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for txn in &prepared.txns {
        for pair in txn.keys.windows(2) {
            let a = find(&mut parent, pair[0]);
            let b = find(&mut parent, pair[1]);
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<u32, (Vec<u32>, Vec<usize>)> = BTreeMap::new();
    for (index, op) in prepared.ops.iter().enumerate() {
        let root = find(&mut parent, prepared.keys_of(op)[0]);
        groups.entry(root).or_default().1.push(index);
    }
    for key in 0..key_count as u32 {
        let root = find(&mut parent, key);
        if let Some(group) = groups.get_mut(&root) {
            group.0.push(key);
        }
    }
    groups.into_values().collect()
}
