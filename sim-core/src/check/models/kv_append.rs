//! `kv-append`: a string key-value store, Porcupine's kv: `read` (get), `write` (put) and
//! `append` (`add` of a string, the older spelling, is accepted too). The state is a string id
//! of the hash-consed [`Strings`] (0 = the empty string).

use super::super::model::{
    Compiled, Ending, HistoryModel, Job, Kind, ObjectSearch, OpData, PreparedOp, Source, Tables,
};
use super::super::strings::Strings;
use crate::history::{Function, Value};

/// The string store model.
pub(crate) struct KvAppend;

pub(crate) static KV_APPEND: KvAppend = KvAppend;

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::List(_) => None,
    }
}

impl HistoryModel for KvAppend {
    fn initial(
        &self,
        initial: &Value,
        _: &mut Tables,
        strings: &mut Strings,
    ) -> Result<u64, String> {
        match text_of(initial) {
            Some(text) => Ok(u64::from(strings.intern(&text))),
            None => Err("kv-append initial value must be a string".to_string()),
        }
    }

    fn compile(
        &self,
        source: &Source<'_>,
        tables: &mut Tables,
        strings: &mut Strings,
    ) -> Result<Compiled, String> {
        let key = tables.key(source.invoke.key.as_deref());
        let f = source.invoke.f;
        let (kind, value) = match f {
            Function::Read => (Kind::Read, source.result()),
            Function::Write => (Kind::Write, source.argument()),
            Function::Append | Function::Add => (Kind::Append, source.argument()),
            other => {
                return Err(format!(
                    "model kv-append does not support {}",
                    other.as_str()
                ))
            }
        };
        let Some(text) = text_of(value) else {
            return Err(format!("kv-append values must be strings, not {value}"));
        };
        let a = u64::from(if kind == Kind::Append {
            strings.atom(&text)
        } else {
            strings.intern(&text)
        });
        Ok(Compiled::plain(
            source,
            key,
            OpData::new(kind, key, a, 0),
            kind != Kind::Read,
        ))
    }

    #[inline]
    fn step(&self, strings: &mut Strings, state: u64, op: &OpData) -> Option<u64> {
        match op.kind {
            Kind::Read => (state == op.a).then_some(state),
            Kind::Write => Some(op.a),
            Kind::Append => Some(u64::from(strings.append(state as u32, op.a as u32))),
            other => unreachable!("{other:?} is not a string store operation"),
        }
    }

    fn overwrites(&self, op: &OpData) -> bool {
        op.kind == Kind::Write
    }

    /// Appends only extend the text: a read can become legal without a put only if the text
    /// now is a prefix of what it read.
    fn may_reach(&self, strings: &mut Strings, state: u64, op: &OpData) -> bool {
        op.kind != Kind::Read || strings.is_prefix(state as u32, op.a as u32)
    }

    fn has_dead_ends(&self) -> bool {
        true
    }

    /// Drops indeterminate appends of the empty string, indeterminate appends whose text no
    /// completed read returning after their invocation contains, and indeterminate puts whose
    /// text no such read starts with.
    ///
    /// Sound: take a linearization in which the dropped operation `d` took effect. Until the
    /// next put, the operations are appends (legal in every state) and reads; a read there
    /// goes after `d`'s invocation, so returns after it, and sees a text that contains `d`'s
    /// appended text (for a put: starts with the put text), since appends only extend it:
    /// there are none. Deleting `d` therefore changes the state only up to the next put, where
    /// no read looks, and `d` may never have happened.
    fn prune(&self, ops: &mut [&mut PreparedOp], strings: &Strings) {
        let reads: Vec<(usize, String)> = ops
            .iter()
            .filter(|op| op.ending == Ending::Completed)
            .filter_map(|op| {
                let done = op.done?;
                (done.kind == Kind::Read).then(|| {
                    (
                        op.complete.unwrap_or(usize::MAX),
                        strings.text(done.a as u32),
                    )
                })
            })
            .collect();
        for op in ops.iter_mut() {
            if op.ending != Ending::Indeterminate {
                continue;
            }
            let Some(maybe) = op.maybe else { continue };
            let invoke = op.invoke;
            let later = reads.iter().filter(|(returns, _)| *returns > invoke);
            let seen = match maybe.kind {
                Kind::Append => {
                    let atom = strings.atom_text(maybe.a as u32);
                    !atom.is_empty() && later.clone().any(|(_, text)| text.contains(atom))
                }
                Kind::Write => {
                    let put = strings.text(maybe.a as u32);
                    later.clone().any(|(_, text)| text.starts_with(&put))
                }
                _ => true,
            };
            if !seen {
                op.maybe = None;
            }
        }
    }

    fn show(&self, _tables: &Tables, strings: &Strings, state: u64) -> String {
        format!("{:?}", strings.text(state as u32))
    }

    fn rejection(&self, _tables: &Tables, strings: &Strings, state: u64, op: &OpData) -> String {
        format!(
            "it read {:?} but the value is {:?}",
            strings.text(op.a as u32),
            strings.text(state as u32)
        )
    }

    fn searcher(&'static self, job: Job<'_>) -> Box<dyn ObjectSearch> {
        super::super::model::search(self, job)
    }
}
