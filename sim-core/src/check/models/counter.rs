//! `counter`: one counter per key, `add` (a signed delta) and `read`. The state is the sum in
//! two's complement.

use super::super::model::{
    Compiled, Ending, HistoryModel, Job, Kind, ObjectSearch, OpData, PreparedOp, Source, Tables,
};
use super::super::strings::Strings;
use crate::history::{Function, Value};

/// The counter model.
pub(crate) struct Counter;

pub(crate) static COUNTER: Counter = Counter;

impl HistoryModel for Counter {
    fn initial(
        &self,
        initial: &Value,
        _tables: &mut Tables,
        _strings: &mut Strings,
    ) -> Result<u64, String> {
        match initial {
            Value::Null => Ok(0),
            Value::Int(i) => Ok(*i as u64),
            other => Err(format!(
                "counter initial value must be an integer, not {other}"
            )),
        }
    }

    fn compile(
        &self,
        source: &Source<'_>,
        tables: &mut Tables,
        _strings: &mut Strings,
    ) -> Result<Compiled, String> {
        let key = tables.key(source.invoke.key.as_deref());
        match source.invoke.f {
            Function::Add => {
                let argument = source.argument();
                let Value::Int(delta) = argument else {
                    return Err(format!(
                        "a counter add needs an integer delta, not {argument}"
                    ));
                };
                let data = OpData::new(Kind::Add, key, *delta as u64, 0);
                Ok(Compiled::plain(source, key, data, true))
            }
            Function::Read => {
                let done = match source.result() {
                    // A read of unknown result constrains nothing.
                    Value::Null => None,
                    Value::Int(v) => Some(OpData::new(Kind::Read, key, *v as u64, 0)),
                    other => {
                        return Err(format!("a counter read must see an integer, not {other}"))
                    }
                };
                Ok(Compiled {
                    ending: source.ending(),
                    done,
                    maybe: None,
                    key,
                    txn: None,
                })
            }
            other => Err(format!("model counter does not support {}", other.as_str())),
        }
    }

    #[inline]
    fn step(&self, _strings: &mut Strings, state: u64, op: &OpData) -> Option<u64> {
        match op.kind {
            // Every u64 is a real expected value (a counter may read -1, i.e. u64::MAX).
            Kind::Read => (state == op.a).then_some(state),
            Kind::Add => Some(state.wrapping_add(op.a)),
            other => unreachable!("{other:?} is not a counter operation"),
        }
    }

    /// Drops indeterminate adds of 0, and indeterminate adds invoked after every completed
    /// read has returned.
    ///
    /// Sound: an add of 0 changes nothing. For the others, `drop_unseen`'s argument with reads
    /// as the only observers: what may follow a dropped add is adds, which are legal in every
    /// state, and the reads after them are none.
    fn prune(&self, ops: &mut [&mut PreparedOp], _strings: &Strings) {
        for op in ops.iter_mut() {
            if op.ending == Ending::Indeterminate && op.maybe.is_some_and(|d| d.a == 0) {
                op.maybe = None;
            }
        }
        super::drop_unseen(ops, |op| op.done.is_some_and(|d| d.kind == Kind::Read));
    }

    fn show(&self, _tables: &Tables, _strings: &Strings, state: u64) -> String {
        (state as i64).to_string()
    }

    fn rejection(&self, _tables: &Tables, _strings: &Strings, state: u64, op: &OpData) -> String {
        format!("it read {} but the value is {}", op.a as i64, state as i64)
    }

    fn searcher(&'static self, job: Job<'_>) -> Box<dyn ObjectSearch> {
        super::super::model::search(self, job)
    }
}
