//! From events to compiled operations: pairing invocations with completions, applying the
//! dialect's semantics, interning keys and values, and splitting into independent partitions
//! (P-compositionality: objects that no operation touches together are checked separately).

use super::linearizability::END;
use super::model::{Kind, Micro, OpData, Strings, ANY};
use super::{Dialect, HistoryError, Model};
use crate::history::{EventType, Function, HistoryEvent, Value};
use std::collections::{BTreeMap, BTreeSet};

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `ok`, or an etcd `:fail :cas` observation: `done` applies (None = no constraint).
    Completed,
    /// `fail`: did not happen.
    Failed,
    /// `info`, or never completed.
    Indeterminate,
}

/// One operation of the history.
#[derive(Clone, Debug)]
pub(crate) struct PreparedOp {
    pub invoke: usize,
    pub complete: Option<usize>,
    pub ending: Ending,
    pub done: Option<OpData>,
    pub maybe: Option<OpData>,
    /// Global key ids the operation touches (one, or a transaction's keys).
    pub keys: Vec<u32>,
    /// Transaction micro-operations (global key ids) for `done` and `maybe`.
    pub txn_done: Vec<Micro>,
    pub txn_maybe: Vec<Micro>,
}

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
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    pub ops: Vec<PreparedOp>,
    pub strings: Strings,
    /// Register value ids to values.
    pub values: Vec<Value>,
    /// Mutex process ids (index 0 unused) to process numbers.
    pub processes: Vec<u64>,
    /// Token indices (index 0 = none) to tokens.
    pub tokens: Vec<u64>,
    /// Global key ids to key names (None = the single unnamed object).
    pub keys: Vec<Option<String>>,
    /// Initial state of every object.
    pub initial: u64,
    pub model: Model,
}

/// Key names to dense ids, in order of first appearance.
#[derive(Default)]
struct KeyTable {
    ids: BTreeMap<Option<String>, u32>,
    names: Vec<Option<String>>,
}

impl KeyTable {
    fn id(&mut self, key: Option<String>) -> u32 {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(key.clone(), id);
        self.names.push(key);
        id
    }
}

struct Interner {
    values: BTreeMap<Value, u64>,
    list: Vec<Value>,
}

impl Interner {
    fn value(&mut self, value: &Value) -> u64 {
        if let Some(&id) = self.values.get(value) {
            return id;
        }
        let id = self.list.len() as u64;
        self.values.insert(value.clone(), id);
        self.list.push(value.clone());
        id
    }
}

fn error(event: usize, message: impl Into<String>) -> HistoryError {
    HistoryError {
        event,
        message: message.into(),
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::List(_) => None,
    }
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Compiles `events` for `model` under `dialect`, with every object starting at `initial`.
pub(crate) fn prepare(
    events: &[HistoryEvent],
    model: Model,
    dialect: Dialect,
    initial: &Value,
) -> Result<Prepared, HistoryError> {
    let mut interner = Interner {
        values: BTreeMap::new(),
        list: Vec::new(),
    };
    interner.value(&Value::Null); // id 0 = absent
    let mut strings = Strings::new();
    let mut keys = KeyTable::default();
    // Tokens are indexed in increasing order so that the model can compare indices.
    let mut token_set: BTreeSet<u64> = events.iter().filter_map(|e| e.token).collect();
    if model == Model::LeaseLock {
        token_set.extend(super::lease_lock::argument_tokens(events));
    }
    let mut tokens = vec![0u64];
    tokens.extend(token_set.iter().copied());
    let token_index =
        |token: u64| -> u64 { tokens.binary_search(&token).map(|i| i as u64).unwrap_or(0) };
    let mut process_ids: BTreeMap<u64, u64> = BTreeMap::new();
    let mut processes = vec![0u64];

    let initial_state = match model {
        Model::Register | Model::CasRegister | Model::Kv | Model::MultiRegister => {
            interner.value(initial)
        }
        Model::Counter => match initial {
            Value::Null => 0,
            Value::Int(i) => *i as u64,
            other => {
                return Err(error(
                    0,
                    format!("counter initial value must be an integer, not {other}"),
                ))
            }
        },
        Model::KvAppend => match text_of(initial) {
            Some(text) => u64::from(strings.intern(&text)),
            None => return Err(error(0, "kv-append initial value must be a string")),
        },
        Model::Mutex | Model::LeaseLock => 0,
        Model::Bank => unreachable!("bank histories are checked by bank.rs"),
    };

    let mut ops: Vec<PreparedOp> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    // Completion events, per op, attached after pairing.
    let mut completion: Vec<Option<usize>> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match event.kind {
            EventType::Invoke => {
                // A process with an operation still open that invokes again: the open one
                // stays indeterminate (the weakest assumption) and the new one begins.
                open.insert(event.process, ops.len());
                ops.push(PreparedOp {
                    invoke: index,
                    complete: None,
                    ending: Ending::Indeterminate,
                    done: None,
                    maybe: None,
                    keys: Vec::new(),
                    txn_done: Vec::new(),
                    txn_maybe: Vec::new(),
                });
                completion.push(None);
            }
            EventType::Ok | EventType::Fail | EventType::Info => {
                let Some(op) = open.remove(&event.process) else {
                    return Err(error(
                        index,
                        format!(
                            "{} of process {} without an open invoke",
                            kind_name(event.kind),
                            event.process
                        ),
                    ));
                };
                if events[ops[op].invoke].f != event.f {
                    return Err(error(
                        index,
                        format!(
                            "completion {} does not match invoke {} of process {}",
                            event.f.as_str(),
                            events[ops[op].invoke].f.as_str(),
                            event.process
                        ),
                    ));
                }
                ops[op].complete = Some(index);
                completion[op] = Some(index);
            }
        }
    }

    for op in &mut ops {
        let invoke = &events[op.invoke];
        let complete = op.complete.map(|c| &events[c]);
        let kind = complete.map(|c| c.kind).unwrap_or(EventType::Info);
        op.ending = match kind {
            EventType::Ok => Ending::Completed,
            EventType::Fail if dialect == Dialect::PorcupineEtcd && invoke.f == Function::Cas => {
                Ending::Completed
            }
            // A refused write is the resource's observation that the token was stale.
            EventType::Fail if model == Model::LeaseLock && invoke.f == Function::Write => {
                Ending::Completed
            }
            EventType::Fail => Ending::Failed,
            _ => Ending::Indeterminate,
        };
        let compare_failed = kind == EventType::Fail && op.ending == Ending::Completed;
        let at = op.complete.unwrap_or(op.invoke);
        // The argument: from the invocation, or the completion when the invocation has none.
        let argument = if invoke.value == Value::Null {
            complete.map(|c| &c.value).unwrap_or(&invoke.value)
        } else {
            &invoke.value
        };
        let result = complete.map(|c| &c.value).unwrap_or(&Value::Null);
        let key = keys.id(invoke.key.clone());
        let mut data = OpData {
            kind: Kind::Read,
            unknown: false,
            compare_failed: false,
            slot: key,
            a: 0,
            b: 0,
        };
        let invoke_index = op.invoke;
        let wrong = |what: &str| {
            error(
                invoke_index,
                format!("model {} does not support {what}", model.name()),
            )
        };
        match (model, invoke.f) {
            (Model::MultiRegister, Function::Txn) => {
                let parse = |value: &Value,
                             reads_known: bool,
                             keys: &mut KeyTable,
                             interner: &mut Interner|
                 -> Result<Vec<Micro>, HistoryError> {
                    let Value::List(items) = value else {
                        return Err(error(
                            at,
                            format!("a txn value must be a list of micro-operations, not {value}"),
                        ));
                    };
                    let mut micros = Vec::with_capacity(items.len());
                    for item in items {
                        let Value::List(parts) = item else {
                            return Err(error(
                                at,
                                format!("a micro-operation must be [f, key, value], not {item}"),
                            ));
                        };
                        if parts.len() != 3 {
                            return Err(error(
                                at,
                                format!("a micro-operation must be [f, key, value], not {item}"),
                            ));
                        }
                        let is_write = match &parts[0] {
                            Value::Str(f) if f == "r" || f == "read" => false,
                            Value::Str(f) if f == "w" || f == "write" => true,
                            other => {
                                return Err(error(at, format!("unknown micro-operation {other}")))
                            }
                        };
                        let Some(key) = key_text(&parts[1]) else {
                            return Err(error(
                                at,
                                format!(
                                    "a micro-operation key must be a string or integer, not {}",
                                    parts[1]
                                ),
                            ));
                        };
                        let slot = keys.id(Some(key));
                        let value = if !is_write && (!reads_known || parts[2] == Value::Null) {
                            ANY
                        } else {
                            interner.value(&parts[2])
                        };
                        micros.push((slot, is_write, value));
                    }
                    Ok(micros)
                };
                // For ok: the completion's micro-operations carry the reads' results.
                if op.ending == Ending::Completed {
                    let source = if matches!(result, Value::List(_)) {
                        result
                    } else {
                        argument
                    };
                    op.txn_done = parse(source, true, &mut keys, &mut interner)?;
                }
                op.txn_maybe = parse(argument, false, &mut keys, &mut interner)?;
                let mut touched: Vec<u32> = op
                    .txn_maybe
                    .iter()
                    .chain(op.txn_done.iter())
                    .map(|m| m.0)
                    .collect();
                touched.sort_unstable();
                touched.dedup();
                if touched.is_empty() {
                    // A transaction of no micro-operations constrains nothing.
                    continue;
                }
                op.keys = touched;
                data.kind = Kind::Txn;
                data.slot = 0;
                if op.ending == Ending::Completed {
                    op.done = Some(data);
                }
                op.maybe = Some(OpData {
                    unknown: true,
                    ..data
                });
                continue;
            }
            (
                Model::Register | Model::CasRegister | Model::Kv | Model::MultiRegister,
                Function::Read,
            ) => {
                if *result == Value::Null && dialect == Dialect::Knossos {
                    op.done = None; // nil read: unconstrained
                } else {
                    data.a = interner.value(result);
                    op.done = Some(data);
                }
                op.maybe = None; // a read of unknown result constrains nothing
            }
            (
                Model::Register | Model::CasRegister | Model::Kv | Model::MultiRegister,
                Function::Write,
            ) => {
                data.kind = Kind::Write;
                data.a = interner.value(argument);
                op.done = Some(data);
                op.maybe = Some(OpData {
                    unknown: true,
                    ..data
                });
            }
            (Model::CasRegister | Model::Kv | Model::MultiRegister, Function::Cas) => {
                let Value::List(pair) = argument else {
                    return Err(error(
                        op.invoke,
                        format!("a cas value must be [from, to], not {argument}"),
                    ));
                };
                if pair.len() != 2 {
                    return Err(error(
                        op.invoke,
                        format!("a cas value must be [from, to], not {argument}"),
                    ));
                }
                data.kind = Kind::Cas;
                data.a = interner.value(&pair[0]);
                data.b = interner.value(&pair[1]);
                op.done = Some(OpData {
                    compare_failed,
                    ..data
                });
                op.maybe = Some(OpData {
                    unknown: true,
                    ..data
                });
            }
            (Model::Counter, Function::Add) => {
                let Value::Int(delta) = argument else {
                    return Err(error(
                        op.invoke,
                        format!("a counter add needs an integer delta, not {argument}"),
                    ));
                };
                data.kind = Kind::Add;
                data.a = *delta as u64;
                op.done = Some(data);
                op.maybe = Some(OpData {
                    unknown: true,
                    ..data
                });
            }
            (Model::Counter, Function::Read) => {
                match result {
                    Value::Null => op.done = None,
                    Value::Int(v) => {
                        data.a = *v as u64;
                        op.done = Some(data);
                    }
                    other => {
                        return Err(error(
                            at,
                            format!("a counter read must see an integer, not {other}"),
                        ))
                    }
                }
                op.maybe = None;
            }
            (Model::KvAppend, Function::Read | Function::Write | Function::Add) => {
                let source = if invoke.f == Function::Read {
                    result
                } else {
                    argument
                };
                let Some(text) = text_of(source) else {
                    return Err(error(
                        at,
                        format!("kv-append values must be strings, not {source}"),
                    ));
                };
                data.kind = match invoke.f {
                    Function::Read => Kind::Read,
                    Function::Write => Kind::Write,
                    _ => Kind::Append,
                };
                data.a = u64::from(if data.kind == Kind::Append {
                    strings.atom(&text)
                } else {
                    strings.intern(&text)
                });
                op.done = Some(data);
                op.maybe = if invoke.f == Function::Read {
                    None
                } else {
                    Some(OpData {
                        unknown: true,
                        ..data
                    })
                };
            }
            (Model::Mutex, Function::Acquire | Function::Release) => {
                let next = processes.len() as u64;
                let process = *process_ids.entry(invoke.process).or_insert(next);
                if process == next {
                    processes.push(invoke.process);
                }
                if process > u64::from(u32::MAX) {
                    return Err(error(op.invoke, "too many processes for the mutex model"));
                }
                data.a = process;
                if invoke.f == Function::Acquire {
                    data.kind = Kind::Acquire;
                    data.b = complete.and_then(|c| c.token).map(token_index).unwrap_or(0);
                } else {
                    data.kind = Kind::Release;
                }
                op.done = Some(data);
                op.maybe = Some(OpData {
                    unknown: true,
                    b: 0,
                    ..data
                });
            }
            (Model::LeaseLock, Function::Acquire | Function::Release | Function::Write) => {
                let next = processes.len() as u64;
                let process = *process_ids.entry(invoke.process).or_insert(next);
                if process == next {
                    processes.push(invoke.process);
                }
                let compiled = super::lease_lock::compile(
                    invoke.f,
                    process,
                    argument,
                    complete.and_then(|c| c.token),
                    compare_failed,
                    &token_index,
                )
                .map_err(|message| error(op.invoke, message))?;
                let key = if compiled.is_resource {
                    keys.id(Some(super::lease_lock::resource_key(invoke.key.as_deref())))
                } else {
                    key
                };
                op.done = compiled.done.map(|d| OpData { slot: key, ..d });
                op.maybe = compiled.maybe.map(|d| OpData { slot: key, ..d });
                op.keys = vec![key];
                continue;
            }
            (_, f) => return Err(wrong(f.as_str())),
        }
        op.keys = vec![key];
    }
    // Operations without any key (skipped transactions) take no part.
    ops.retain(|op| !op.keys.is_empty());
    let _ = completion;
    Ok(Prepared {
        ops,
        strings,
        values: interner.list,
        processes,
        tokens,
        keys: keys.names,
        initial: initial_state,
        model,
    })
}

fn kind_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// Groups operations into independent partitions: returns, per partition, the sorted global
/// key ids it owns and the indices of its operations (in history order).
pub(crate) fn partitions(prepared: &Prepared, split: bool) -> Vec<(Vec<u32>, Vec<usize>)> {
    let key_count = prepared.keys.len();
    if !split {
        let keys: BTreeSet<u32> = prepared
            .ops
            .iter()
            .flat_map(|op| op.keys.iter().copied())
            .collect();
        if prepared.ops.is_empty() {
            return Vec::new();
        }
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
    for op in &prepared.ops {
        for pair in op.keys.windows(2) {
            let a = find(&mut parent, pair[0]);
            let b = find(&mut parent, pair[1]);
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<u32, (Vec<u32>, Vec<usize>)> = BTreeMap::new();
    for (index, op) in prepared.ops.iter().enumerate() {
        let root = find(&mut parent, op.keys[0]);
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

/// Drops indeterminate writes (and compare-and-sets) whose written value nothing observes: no
/// completed read returned it and no compare-and-set compares against it. Such an operation may
/// be linearized as "never took effect", and taking effect can never be needed: a read placed
/// after it, before the next change, would have to return its value, and nothing does; a
/// compare against it does not exist. So a linearization with it turns into one without it by
/// deleting it, and the verdict is unchanged while the search loses a factor of two per
/// operation dropped (a crash-heavy run leaves dozens of `info` writes on a key).
///
/// Only for objects whose operations are all reads, writes and compare-and-sets without a
/// compare observed to fail (an etcd `:fail :cas` says "the value was not `a`", which an
/// unobserved write may be the only explanation for).
pub(crate) fn prune_unobserved_writes(prepared: &mut Prepared) {
    let key_count = prepared.keys.len();
    let mut eligible = vec![true; key_count];
    let mut observed: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); key_count];
    for op in &prepared.ops {
        let [key] = op.keys[..] else {
            // Transactions, or an operation on no object: leave their objects alone.
            op.keys
                .iter()
                .for_each(|&key| eligible[key as usize] = false);
            continue;
        };
        let key = key as usize;
        for data in [op.done, op.maybe].into_iter().flatten() {
            match data.kind {
                Kind::Read if data.a != ANY => {
                    observed[key].insert(data.a);
                }
                Kind::Read | Kind::Write => {}
                Kind::Cas if data.compare_failed => eligible[key] = false,
                Kind::Cas => {
                    observed[key].insert(data.a);
                }
                _ => eligible[key] = false,
            }
        }
    }
    for op in &mut prepared.ops {
        let [key] = op.keys[..] else { continue };
        let key = key as usize;
        if !eligible[key] || op.ending != Ending::Indeterminate {
            continue;
        }
        let written = match op.maybe {
            Some(data) if data.kind == Kind::Write => data.a,
            Some(data) if data.kind == Kind::Cas => data.b,
            _ => continue,
        };
        if !observed[key].contains(&written) {
            op.maybe = None;
        }
    }
}
