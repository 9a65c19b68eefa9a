//! `mutex`: a lock per key, `acquire` and `release` by the holding process; an ok acquire may
//! carry a fencing token, which must exceed every token handed out before it. The state packs
//! the holder (low 32 bits, an interned process, 0 = free) and the index of the largest token
//! handed out (high 32 bits, 0 = none; token indices preserve the tokens' order).

use super::super::model::{
    Compiled, HistoryModel, Job, Kind, ObjectSearch, OpData, PreparedOp, Source, Tables,
};
use super::super::strings::Strings;
use crate::history::{Function, Value};

/// The mutex model.
pub(crate) struct Mutex;

pub(crate) static MUTEX: Mutex = Mutex;

impl HistoryModel for Mutex {
    fn initial(&self, _: &Value, _: &mut Tables, _: &mut Strings) -> Result<u64, String> {
        Ok(0)
    }

    fn compile(
        &self,
        source: &Source<'_>,
        tables: &mut Tables,
        _strings: &mut Strings,
    ) -> Result<Compiled, String> {
        let key = tables.key(source.invoke.key.as_deref());
        let process = tables.process(source.invoke.process);
        if process > u64::from(u32::MAX) {
            return Err("too many processes for the mutex model".to_string());
        }
        let data = match source.invoke.f {
            Function::Acquire => {
                let token = source
                    .complete
                    .and_then(|c| c.token)
                    .map_or(0, |t| tables.token(t));
                OpData::new(Kind::Acquire, key, process, token)
            }
            Function::Release => OpData::new(Kind::Release, key, process, 0),
            other => return Err(format!("model mutex does not support {}", other.as_str())),
        };
        let mut compiled = Compiled::plain(source, key, data, true);
        // An acquire that may or may not have happened has no known token.
        compiled.maybe = compiled.maybe.map(|m| OpData { b: 0, ..m });
        Ok(compiled)
    }

    #[inline]
    fn step(&self, _strings: &mut Strings, state: u64, op: &OpData) -> Option<u64> {
        let holder = state & 0xFFFF_FFFF;
        let last = state >> 32;
        match op.kind {
            Kind::Acquire if holder == 0 && (op.b == 0 || op.b > last) => {
                Some(op.a | (last.max(op.b) << 32))
            }
            Kind::Release if holder == op.a => Some(state & !0xFFFF_FFFF),
            Kind::Acquire | Kind::Release if op.unknown => Some(state),
            Kind::Acquire | Kind::Release => None,
            other => unreachable!("{other:?} is not a mutex operation"),
        }
    }

    fn observes(&self, _op: &OpData) -> bool {
        false
    }

    /// Drops indeterminate operations invoked after every completed one has returned
    /// (`drop_unseen` with every completed operation as an observer: nothing completed can
    /// follow a dropped operation, so nothing left needs it).
    fn prune(&self, ops: &mut [&mut PreparedOp], _strings: &Strings) {
        super::drop_unseen(ops, |_| true);
    }

    fn show(&self, tables: &Tables, _strings: &Strings, state: u64) -> String {
        let holder = state & 0xFFFF_FFFF;
        let last = (state >> 32) as usize;
        let mut text = if holder == 0 {
            "free".to_string()
        } else {
            format!("held by process {}", tables.processes[holder as usize])
        };
        if last > 0 {
            text.push_str(&format!(", last token {}", tables.tokens[last]));
        }
        text
    }

    fn rejection(&self, tables: &Tables, strings: &Strings, state: u64, op: &OpData) -> String {
        let now = self.show(tables, strings, state);
        match op.kind {
            Kind::Acquire if state & 0xFFFF_FFFF != 0 => format!("the lock is {now}"),
            Kind::Acquire => format!(
                "its fencing token {} is not above the last one handed out ({now})",
                tables.tokens.get(op.b as usize).copied().unwrap_or(0)
            ),
            _ => format!(
                "process {} does not hold the lock (it is {now})",
                tables.processes[op.a as usize]
            ),
        }
    }

    fn searcher(&'static self, job: Job<'_>) -> Box<dyn ObjectSearch> {
        super::super::model::search(self, job)
    }
}
