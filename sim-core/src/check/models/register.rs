//! Registers: `register` (read, write), `cas-register` and `kv` (with `cas`, `value` =
//! `[from, to]`), and `multi-register` (with `txn` operations over several keys). One register
//! per key; its state is an interned value id (0 = absent).

use super::super::model::{
    Compiled, Dialect, HistoryModel, Job, Kind, Micro, ObjectSearch, OpData, PreparedOp, Source,
    Tables, Txn, ANY,
};
use super::super::strings::Strings;
use crate::history::{EventType, Function, Value};
use std::collections::BTreeSet;

/// A register family member.
pub(crate) struct Registers {
    pub name: &'static str,
    /// `cas` is an operation.
    pub cas: bool,
    /// `txn` is an operation.
    pub txn: bool,
    /// Values must be integers or null (the kv store of the simulator's applications); a
    /// string value is an input error that names the string store model.
    pub integers_only: bool,
}

pub(crate) static REGISTER: Registers = Registers {
    name: "register",
    cas: false,
    txn: false,
    integers_only: false,
};
pub(crate) static CAS_REGISTER: Registers = Registers {
    name: "cas-register",
    cas: true,
    txn: false,
    integers_only: false,
};
pub(crate) static KV: Registers = Registers {
    name: "kv",
    cas: true,
    txn: false,
    integers_only: true,
};
pub(crate) static MULTI_REGISTER: Registers = Registers {
    name: "multi-register",
    cas: true,
    txn: true,
    integers_only: false,
};

impl Registers {
    fn value(&self, value: &Value, tables: &mut Tables) -> Result<u64, String> {
        if self.integers_only {
            let strings = match value {
                Value::Str(_) => true,
                Value::List(items) => items.iter().any(|v| matches!(v, Value::Str(_))),
                _ => false,
            };
            if strings {
                return Err(format!(
                    "model {} holds integers, not the string value {value} (a string store is model kv-append)",
                    self.name
                ));
            }
        }
        Ok(tables.value(value))
    }

    fn transaction(
        &self,
        value: &Value,
        reads_known: bool,
        tables: &mut Tables,
    ) -> Result<Vec<Micro>, String> {
        let Value::List(items) = value else {
            return Err(format!(
                "a txn value must be a list of micro-operations, not {value}"
            ));
        };
        let mut micros = Vec::with_capacity(items.len());
        for item in items {
            let Value::List(parts) = item else {
                return Err(format!(
                    "a micro-operation must be [f, key, value], not {item}"
                ));
            };
            if parts.len() != 3 {
                return Err(format!(
                    "a micro-operation must be [f, key, value], not {item}"
                ));
            }
            let is_write = match &parts[0] {
                Value::Str(f) if f == "r" || f == "read" => false,
                Value::Str(f) if f == "w" || f == "write" => true,
                other => return Err(format!("unknown micro-operation {other}")),
            };
            let key = match &parts[1] {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                other => {
                    return Err(format!(
                        "a micro-operation key must be a string or integer, not {other}"
                    ))
                }
            };
            let slot = tables.key(Some(&key));
            let value = if !is_write && (!reads_known || parts[2] == Value::Null) {
                ANY
            } else {
                self.value(&parts[2], tables)?
            };
            micros.push((slot, is_write, value));
        }
        Ok(micros)
    }
}

impl HistoryModel for Registers {
    fn initial(
        &self,
        initial: &Value,
        tables: &mut Tables,
        _strings: &mut Strings,
    ) -> Result<u64, String> {
        self.value(initial, tables)
    }

    fn compile(
        &self,
        source: &Source<'_>,
        tables: &mut Tables,
        _strings: &mut Strings,
    ) -> Result<Compiled, String> {
        let key = tables.key(source.invoke.key.as_deref());
        let f = source.invoke.f;
        match f {
            Function::Read => {
                let result = source.result();
                // A read of unknown result constrains nothing; a Knossos read of nil neither.
                let done = if *result == Value::Null && source.dialect == Dialect::Knossos {
                    None
                } else {
                    Some(OpData::new(Kind::Read, key, self.value(result, tables)?, 0))
                };
                Ok(Compiled {
                    ending: source.ending(),
                    done,
                    maybe: None,
                    key,
                    txn: None,
                })
            }
            Function::Write => {
                let a = self.value(source.argument(), tables)?;
                Ok(Compiled::plain(
                    source,
                    key,
                    OpData::new(Kind::Write, key, a, 0),
                    true,
                ))
            }
            Function::Cas if self.cas => {
                let argument = source.argument();
                let Value::List(pair) = argument else {
                    return Err(format!("a cas value must be [from, to], not {argument}"));
                };
                if pair.len() != 2 {
                    return Err(format!("a cas value must be [from, to], not {argument}"));
                }
                let data = OpData::new(
                    Kind::Cas,
                    key,
                    self.value(&pair[0], tables)?,
                    self.value(&pair[1], tables)?,
                );
                // Porcupine's etcd `:fail :cas` is an observation: the compare failed.
                let compare_failed = source.dialect == Dialect::PorcupineEtcd
                    && source.completion() == EventType::Fail;
                let mut compiled = Compiled::plain(source, key, data, true);
                if compare_failed {
                    compiled.ending = super::super::model::Ending::Completed;
                    compiled.done = Some(OpData {
                        compare_failed: true,
                        ..data
                    });
                }
                Ok(compiled)
            }
            Function::Txn if self.txn => {
                let mut txn = Txn::default();
                let ending = source.ending();
                if ending == super::super::model::Ending::Completed {
                    // The completion's micro-operations carry the reads' results.
                    let result = source.result();
                    let from = if matches!(result, Value::List(_)) {
                        result
                    } else {
                        source.argument()
                    };
                    txn.done = self.transaction(from, true, tables)?;
                }
                txn.maybe = self.transaction(source.argument(), false, tables)?;
                let keys: BTreeSet<u32> = txn.maybe.iter().chain(&txn.done).map(|m| m.0).collect();
                txn.keys = keys.into_iter().collect();
                let data = OpData::new(Kind::Txn, 0, 0, 0);
                Ok(Compiled {
                    ending,
                    done: (ending == super::super::model::Ending::Completed).then_some(data),
                    maybe: Some(data.indeterminate()),
                    key: txn.keys.first().copied().unwrap_or(key),
                    txn: Some(txn),
                })
            }
            other => Err(format!(
                "model {} does not support {}{}",
                self.name,
                other.as_str(),
                if other == Function::Append {
                    " (appends are model kv-append's)"
                } else {
                    ""
                }
            )),
        }
    }

    #[inline]
    fn step(&self, _strings: &mut Strings, state: u64, op: &OpData) -> Option<u64> {
        match op.kind {
            // Unconstrained reads never get here (they are dropped when compiled).
            Kind::Read => (state == op.a).then_some(state),
            Kind::Write => Some(op.a),
            Kind::Cas => {
                if op.compare_failed {
                    (state != op.a).then_some(state)
                } else if state == op.a {
                    Some(op.b)
                } else if op.unknown {
                    Some(state)
                } else {
                    None
                }
            }
            other => unreachable!("{other:?} is not a register operation"),
        }
    }

    fn observes(&self, op: &OpData) -> bool {
        !op.unknown && (op.kind == Kind::Read || (op.kind == Kind::Cas && op.compare_failed))
    }

    fn overwrites(&self, op: &OpData) -> bool {
        op.kind == Kind::Write
    }

    /// Drops indeterminate writes and compare-and-sets whose written value no completed
    /// operation can have observed: no completed read of that value and no compare against
    /// it returns after the operation's invocation (an indeterminate compare counts, as it may
    /// return at the end).
    ///
    /// Sound: let `d` write `v` and take a linearization with it. Until the next operation
    /// that changes the state, every operation sees `v`: a completed read there reads `v`, a
    /// compare that succeeds there compares `v`, and both go after `d`'s invocation, so they
    /// return after it; there are none. What is left there is indeterminate compares that
    /// were no-ops (they may be taken never to have happened, too), and the next change is a
    /// blind write (a successful compare would compare `v`). Deleting `d` and those no-ops
    /// leaves every other operation legal with the same effect, and `d` may never have
    /// happened. Objects with a completed compare observed to fail (Porcupine etcd's
    /// `:fail :cas`, "the value was not `a`") are left alone: an unobserved write may be
    /// their only explanation.
    fn prune(&self, ops: &mut [&mut PreparedOp], _strings: &Strings) {
        let mut observers: Vec<(u64, u64)> = Vec::new(); // (value, return)
        for op in ops.iter() {
            if op.txn != super::super::model::NO_TXN {
                return;
            }
            for data in [op.done, op.maybe].into_iter().flatten() {
                match data.kind {
                    Kind::Cas if data.compare_failed => return,
                    Kind::Read | Kind::Cas if data.a != ANY => {
                        let returns = if data.unknown { u64::MAX } else { op.returns() };
                        observers.push((data.a, returns));
                    }
                    _ => {}
                }
            }
        }
        // Per value, the latest return of an operation that observes it.
        observers.sort_unstable();
        let latest = |value: u64| -> Option<u64> {
            let end = observers.partition_point(|&(v, _)| v <= value);
            (end > 0 && observers[end - 1].0 == value).then(|| observers[end - 1].1)
        };
        for op in ops.iter_mut() {
            if op.ending != super::super::model::Ending::Indeterminate {
                continue;
            }
            let written = match op.maybe {
                Some(data) if data.kind == Kind::Write => data.a,
                Some(data) if data.kind == Kind::Cas => data.b,
                _ => continue,
            };
            if latest(written).is_none_or(|returns| returns <= op.invoke as u64) {
                op.maybe = None;
            }
        }
    }

    fn show(&self, tables: &Tables, _strings: &Strings, state: u64) -> String {
        tables.show_value(state)
    }

    fn rejection(&self, tables: &Tables, _strings: &Strings, state: u64, op: &OpData) -> String {
        let now = tables.show_value(state);
        match op.kind {
            Kind::Read => format!("it read {} but the value is {now}", tables.show_value(op.a)),
            Kind::Cas if op.compare_failed => format!(
                "its compare failed, so the value was not {}, but it is",
                tables.show_value(op.a)
            ),
            Kind::Cas => format!(
                "cas needs {} but the value is {now}",
                tables.show_value(op.a)
            ),
            _ => format!("illegal in state {now}"),
        }
    }

    fn searcher(&'static self, job: Job<'_>) -> Box<dyn ObjectSearch> {
        super::super::model::search(self, job)
    }
}
