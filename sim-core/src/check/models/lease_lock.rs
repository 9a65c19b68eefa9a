//! The `lease-lock` model: a lock whose grants carry fencing tokens and may be taken over when
//! a lease expires, and the resource the lock protects, which accepts a write only with a token
//! not lower than the highest it has accepted (Kleppmann, *How to do distributed locking*,
//! 2016; Burrows, *The Chubby lock service*, OSDI'06, sequencers).
//!
//! The history's operations, per lock key `k`:
//!
//! - `acquire` (key `k`; an `ok` carries `"token": t`): a grant or a renewal. Lease expiry is
//!   invisible to the history (it depends on the lock service's clock), so an acquire may take
//!   the lock from a holder at any time; what the model demands is what expiry cannot excuse:
//!   a grant's token exceeds every token handed out before it (`t > last`), and a renewal
//!   returns the holder's own token (`t == last` and the process holds the lock).
//! - `release` (key `k`, `value` = the token): compare-and-delete. An `ok` release is legal
//!   only for the current holder with the current token; the lock is then free.
//! - `write` (key `k`, `value` = `[token, payload]`): a write to the protected resource of `k`,
//!   which is a separate object (it never consults the lock). An `ok` write needs
//!   `token >= highest accepted` and raises it; a `fail` write is an observation that
//!   `token < highest accepted` at its linearization point (the resource refused a stale token,
//!   so a refusal of a current token is a violation too).
//!
//! `fail` acquires and releases did not take effect and constrain nothing: a refused acquire
//! is explained by an unexpired lease the model cannot see. Indeterminate operations follow
//! the checker's rule "apply if legal, else no change"; an indeterminate acquire has no known
//! token, so it may make its process the holder without raising the last token (the weakest
//! assumption: a later grant still has to exceed every token the history shows).
//!
//! The resource of key `k` is checked as its own object, named `k (resource)`: the lock and
//! the resource never share an operation, so splitting them keeps each search small
//! (P-compositionality) without changing the verdict.
//!
//! State of one object, one `u64`: holder (an interned process, 0 = free) in bits 0..21, the
//! index of the last token handed out in bits 21..42, the index of the highest token the
//! resource accepted in bits 42..63. Token indices preserve the tokens' order (0 = none).
//! Histories with more than [`FIELD_MAX`] processes or tokens are refused with an error.

use super::super::model::{
    Compiled, Ending, HistoryModel, Job, Kind, ObjectSearch, OpData, PreparedOp, Source, Tables,
};
use super::super::strings::Strings;
use crate::history::{EventType, Function, HistoryEvent, Value};
use std::borrow::Cow;

/// The lease-lock model.
pub(crate) struct LeaseLock;

pub(crate) static LEASE_LOCK: LeaseLock = LeaseLock;

impl HistoryModel for LeaseLock {
    fn initial(&self, _: &Value, _: &mut Tables, _: &mut Strings) -> Result<u64, String> {
        Ok(0)
    }

    fn tokens(&self, events: &mut dyn Iterator<Item = Cow<'_, HistoryEvent>>) -> Vec<u64> {
        let mut tokens = Vec::new();
        for event in events {
            tokens.extend(event.token);
            tokens.extend(argument_token(&event));
        }
        tokens
    }

    fn compile(
        &self,
        source: &Source<'_>,
        tables: &mut Tables,
        _strings: &mut Strings,
    ) -> Result<Compiled, String> {
        let invoke = source.invoke;
        let process = tables.process(invoke.process);
        // A refused write is the resource's observation that the token was stale.
        let refused_write = invoke.f == Function::Write && source.completion() == EventType::Fail;
        let compiled = compile(
            invoke.f,
            process,
            source.argument(),
            source.complete.and_then(|c| c.token),
            refused_write,
            &|token| tables.token(token),
        )?;
        let key = if compiled.is_resource {
            tables.key(Some(&resource_key(invoke.key.as_deref())))
        } else {
            tables.key(invoke.key.as_deref())
        };
        Ok(Compiled {
            ending: if refused_write {
                Ending::Completed
            } else {
                source.ending()
            },
            done: compiled.done.map(|d| OpData { slot: key, ..d }),
            maybe: compiled.maybe.map(|d| OpData { slot: key, ..d }),
            key,
            txn: None,
        })
    }

    #[inline]
    fn step(&self, _strings: &mut Strings, state: u64, op: &OpData) -> Option<u64> {
        step(state, op)
    }

    fn observes(&self, op: &OpData) -> bool {
        observes(op)
    }

    /// Drops indeterminate operations invoked after every completed one on the object has
    /// returned (`drop_unseen` with every completed operation as an observer: nothing
    /// completed can follow a dropped operation, so nothing left needs it).
    fn prune(&self, ops: &mut [&mut PreparedOp], _strings: &Strings) {
        super::drop_unseen(ops, |_| true);
    }

    fn show(&self, tables: &Tables, _strings: &Strings, state: u64) -> String {
        show(tables, state)
    }

    fn rejection(&self, tables: &Tables, _strings: &Strings, state: u64, op: &OpData) -> String {
        rejection(tables, state, op)
    }

    fn searcher(&'static self, job: Job<'_>) -> Box<dyn ObjectSearch> {
        super::super::model::search(self, job)
    }
}

/// Bits per field of the packed state.
const FIELD_BITS: u32 = 21;

/// The largest process or token index the packed state can hold.
pub(crate) const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;

const _: () = assert!(3 * FIELD_BITS <= 64, "three fields must fit one u64");

/// `(holder, last token index, highest accepted token index)` of a state.
#[inline]
pub(crate) fn unpack(state: u64) -> (u64, u64, u64) {
    (
        state & FIELD_MAX,
        (state >> FIELD_BITS) & FIELD_MAX,
        (state >> (2 * FIELD_BITS)) & FIELD_MAX,
    )
}

#[inline]
fn pack(holder: u64, last: u64, highest: u64) -> u64 {
    debug_assert!(holder <= FIELD_MAX && last <= FIELD_MAX && highest <= FIELD_MAX);
    holder | (last << FIELD_BITS) | (highest << (2 * FIELD_BITS))
}

/// One step of a lease-lock object: `None` when the operation is illegal in `state`.
#[inline]
pub(crate) fn step(state: u64, op: &OpData) -> Option<u64> {
    let (holder, last, highest) = unpack(state);
    let legal = match op.kind {
        Kind::LeaseAcquire if op.b == 0 => {
            // Token unknown (indeterminate, or an ok without a token): the process may hold
            // the lock now; the last token is not known to have moved.
            Some(pack(op.a, last, highest))
        }
        Kind::LeaseAcquire if op.b > last => Some(pack(op.a, op.b, highest)),
        Kind::LeaseAcquire if op.b == last && holder == op.a => Some(state),
        Kind::LeaseAcquire => None,
        // A release without a token (index 0) only needs the holder to match.
        Kind::LeaseRelease if holder == op.a && (op.b == 0 || op.b == last) => {
            Some(pack(0, last, highest))
        }
        Kind::LeaseRelease => None,
        Kind::FencedWrite if op.compare_failed => (op.b < highest).then_some(state),
        Kind::FencedWrite if op.b >= highest => Some(pack(holder, last, op.b)),
        Kind::FencedWrite => None,
        other => unreachable!("{other:?} is not a lease-lock operation"),
    };
    match legal {
        Some(next) => Some(next),
        None if op.unknown => Some(state),
        None => None,
    }
}

/// True if the compiled operation never changes its object's state when legal: a refused
/// resource write that is known to have been refused.
pub(crate) fn observes(op: &OpData) -> bool {
    !op.unknown && op.kind == Kind::FencedWrite && op.compare_failed
}

/// The token an event carries in its argument (a release's token, a write's `[token, _]`), so
/// that it is indexed in the same order as the tokens acquires return.
fn argument_token(event: &HistoryEvent) -> Option<u64> {
    match event.f {
        Function::Release => token_of(&event.value),
        Function::Write => match &event.value {
            Value::List(items) if !items.is_empty() => token_of(&items[0]),
            _ => None,
        },
        _ => None,
    }
}

fn token_of(value: &Value) -> Option<u64> {
    value.as_int().and_then(|token| u64::try_from(token).ok())
}

/// The key name of the resource that lock `key` protects.
pub(crate) fn resource_key(key: Option<&str>) -> String {
    match key {
        Some(name) => format!("{name} (resource)"),
        None => "(resource)".to_string(),
    }
}

/// What a compiled lease-lock operation is: its `done` and `maybe` forms and whether it
/// addresses the resource rather than the lock.
pub(crate) struct LeaseCompiled {
    pub done: Option<OpData>,
    pub maybe: Option<OpData>,
    pub is_resource: bool,
}

/// Compiles one operation. `process` is the interned process (from 1), `token_index` maps a
/// token to its index, `argument` is the invocation's value, `token` the completion's token,
/// `compare_failed` whether it is a refused write.
///
/// # Errors
/// A message when the operation is not a lease-lock operation or its value has the wrong
/// shape.
pub(crate) fn compile(
    f: Function,
    process: u64,
    argument: &Value,
    token: Option<u64>,
    compare_failed: bool,
    token_index: &dyn Fn(u64) -> u64,
) -> Result<LeaseCompiled, String> {
    if process > FIELD_MAX {
        return Err(format!(
            "more than {FIELD_MAX} processes for the lease-lock model"
        ));
    }
    let index = |token: u64| -> Result<u64, String> {
        let index = token_index(token);
        if index > FIELD_MAX {
            return Err(format!(
                "more than {FIELD_MAX} distinct tokens for the lease-lock model"
            ));
        }
        Ok(index)
    };
    let data = |kind: Kind, b: u64| OpData {
        kind,
        unknown: false,
        compare_failed: false,
        slot: 0,
        a: process,
        b,
    };
    let indeterminate = |data: OpData| OpData {
        unknown: true,
        compare_failed: false,
        ..data
    };
    match f {
        Function::Acquire => {
            let done = data(
                Kind::LeaseAcquire,
                token.map(index).transpose()?.unwrap_or(0),
            );
            Ok(LeaseCompiled {
                done: Some(done),
                // An acquire that may or may not have happened has no known token.
                maybe: Some(indeterminate(OpData { b: 0, ..done })),
                is_resource: false,
            })
        }
        Function::Release => {
            let b = match argument {
                Value::Null => 0,
                value => match token_of(value) {
                    Some(token) => index(token)?,
                    None => {
                        return Err(format!(
                            "a lease-lock release carries its token (a non-negative integer), not {value}"
                        ))
                    }
                },
            };
            let done = data(Kind::LeaseRelease, b);
            Ok(LeaseCompiled {
                done: Some(done),
                maybe: Some(indeterminate(done)),
                is_resource: false,
            })
        }
        Function::Write => {
            let token = match argument {
                Value::List(items) if items.len() == 2 => token_of(&items[0]),
                _ => None,
            };
            let Some(token) = token else {
                return Err(format!(
                    "a lease-lock write must be [token, payload] with a non-negative token, not {argument}"
                ));
            };
            let done = OpData {
                compare_failed,
                ..data(Kind::FencedWrite, index(token)?)
            };
            Ok(LeaseCompiled {
                done: Some(done),
                maybe: Some(indeterminate(done)),
                is_resource: true,
            })
        }
        other => Err(format!(
            "model lease-lock does not support {}",
            other.as_str()
        )),
    }
}

fn token_text(prepared: &Tables, index: u64) -> String {
    prepared
        .tokens
        .get(index as usize)
        .map_or_else(|| "?".to_string(), u64::to_string)
}

/// A lease-lock object's state for explanations. Only the parts that are set are shown, so a
/// lock reads `held by process 3 (token 7)` and a resource `highest accepted token 7`.
pub(crate) fn show(prepared: &Tables, state: u64) -> String {
    let (holder, last, highest) = unpack(state);
    let mut parts = Vec::new();
    if holder != 0 {
        let process = prepared.processes.get(holder as usize).copied();
        parts.push(match process {
            Some(process) if last != 0 => {
                format!(
                    "held by process {process} (token {})",
                    token_text(prepared, last)
                )
            }
            Some(process) => format!("held by process {process}"),
            None => "held".to_string(),
        });
    } else if last != 0 {
        parts.push(format!("free, last token {}", token_text(prepared, last)));
    }
    if highest != 0 {
        parts.push(format!(
            "highest accepted token {}",
            token_text(prepared, highest)
        ));
    }
    if parts.is_empty() {
        "initial".to_string()
    } else {
        parts.join(", ")
    }
}

/// Why `op` is illegal in `state`.
pub(crate) fn rejection(prepared: &Tables, state: u64, op: &OpData) -> String {
    let (holder, last, highest) = unpack(state);
    let now = show(prepared, state);
    let process = prepared.processes.get(op.a as usize).copied().unwrap_or(0);
    match op.kind {
        Kind::LeaseAcquire if holder == op.a => format!(
            "its token {} is neither a renewal of the current grant nor above the last one handed out ({now})",
            token_text(prepared, op.b)
        ),
        Kind::LeaseAcquire => format!(
            "its token {} is not above the last one handed out ({now})",
            token_text(prepared, op.b)
        ),
        Kind::LeaseRelease if holder != op.a => {
            format!("process {process} does not hold the lock ({now})")
        }
        Kind::LeaseRelease => format!(
            "process {process} released token {}, but its grant is token {}",
            token_text(prepared, op.b),
            token_text(prepared, last)
        ),
        Kind::FencedWrite if op.compare_failed => format!(
            "the resource refused token {}, but it is not below the highest accepted ({now})",
            token_text(prepared, op.b)
        ),
        Kind::FencedWrite => format!(
            "the resource accepted token {} below the highest it had accepted, {}",
            token_text(prepared, op.b),
            token_text(prepared, highest)
        ),
        _ => format!("illegal in state {now}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{check_events, CheckOptions, Model, Verdict};
    use crate::history::{EventType, Function, HistoryEvent, Value};

    /// A history line: `(process, type, f, value, token)` on lock key "0".
    type Line = (u64, EventType, Function, Value, Option<u64>);

    fn history(lines: &[Line]) -> Vec<HistoryEvent> {
        lines
            .iter()
            .enumerate()
            .map(|(index, (process, kind, f, value, token))| HistoryEvent {
                index: index as u64,
                time: index as u64 * 10,
                process: *process,
                kind: *kind,
                f: *f,
                key: Some("0".into()),
                value: value.clone(),
                token: *token,
            })
            .collect()
    }

    fn verdict(lines: &[Line]) -> Verdict {
        check_events(&history(lines), Model::LeaseLock, &CheckOptions::default())
            .expect("well formed")
            .verdict
    }

    use EventType::{Fail, Info, Invoke, Ok};
    use Function::{Acquire, Release, Write};

    fn acquire(process: u64, token: u64) -> [Line; 2] {
        [
            (process, Invoke, Acquire, Value::Null, None),
            (process, Ok, Acquire, Value::Null, Some(token)),
        ]
    }

    fn release(process: u64, token: i64, kind: EventType) -> [Line; 2] {
        [
            (process, Invoke, Release, Value::Int(token), None),
            (process, kind, Release, Value::Int(token), None),
        ]
    }

    fn write(process: u64, token: i64, kind: EventType) -> [Line; 2] {
        let value = Value::pair(token, 100 + process as i64);
        [
            (process, Invoke, Write, value.clone(), None),
            (process, kind, Write, value, None),
        ]
    }

    fn concat(parts: &[[Line; 2]]) -> Vec<Line> {
        parts.iter().flat_map(|pair| pair.iter().cloned()).collect()
    }

    #[test]
    fn lease_takeover_renewal_and_fenced_writes_are_linearizable() {
        // Kleppmann's story with a correct resource: A holds 1, its lease runs out, B is
        // granted 2 and writes; A's late write with 1 is refused; A's release fails; B renews
        // and releases; A acquires again with a fresh token.
        let lines = concat(&[
            acquire(1, 1),
            write(1, 1, Ok),
            acquire(2, 2),
            write(2, 2, Ok),
            write(1, 1, Fail),
            release(1, 1, Fail),
            acquire(2, 2),
            write(2, 2, Ok),
            release(2, 2, Ok),
            acquire(1, 3),
            write(1, 3, Ok),
        ]);
        assert_eq!(verdict(&lines), Verdict::Linearizable);
    }

    #[test]
    fn a_token_that_does_not_grow_is_a_violation() {
        let lines = concat(&[acquire(1, 5), acquire(2, 5)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        let lines = concat(&[acquire(1, 5), acquire(2, 4)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        // The holder renewing its own token is fine, also after a taken-over grant.
        let lines = concat(&[acquire(1, 5), acquire(1, 5), acquire(2, 6), acquire(2, 6)]);
        assert_eq!(verdict(&lines), Verdict::Linearizable);
        // Renewing a token after it was taken over is not.
        let lines = concat(&[acquire(1, 5), acquire(2, 6), acquire(1, 5)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
    }

    #[test]
    fn release_by_anyone_but_the_current_grant_is_a_violation() {
        // L3: A's lease expired, B holds 2, A's release succeeds.
        let lines = concat(&[acquire(1, 1), acquire(2, 2), release(1, 1, Ok)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        // The holder releasing with a token that is not its grant.
        let lines = concat(&[acquire(1, 1), acquire(1, 2), release(1, 1, Ok)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        // Releasing a free lock.
        let lines = concat(&[acquire(1, 1), release(1, 1, Ok), release(1, 1, Ok)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        // A failed release constrains nothing.
        let lines = concat(&[acquire(1, 1), acquire(2, 2), release(1, 1, Fail)]);
        assert_eq!(verdict(&lines), Verdict::Linearizable);
    }

    #[test]
    fn the_resource_must_accept_exactly_the_tokens_not_below_the_highest() {
        // L1: a stale token accepted after a newer one.
        let lines = concat(&[write(2, 2, Ok), write(1, 1, Ok)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        // Equal tokens are accepted again (one holder writing twice).
        let lines = concat(&[write(2, 2, Ok), write(2, 2, Ok)]);
        assert_eq!(verdict(&lines), Verdict::Linearizable);
        // A refusal with nothing newer accepted is a violation too.
        let lines = concat(&[write(1, 1, Fail)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        let lines = concat(&[write(2, 2, Ok), write(2, 2, Fail)]);
        assert_eq!(verdict(&lines), Verdict::NotLinearizable);
        // Concurrent writes: the stale one may have gone first.
        let lines = vec![
            (1, Invoke, Write, Value::pair(1, 7), None),
            (2, Invoke, Write, Value::pair(2, 8), None),
            (2, Ok, Write, Value::pair(2, 8), None),
            (1, Ok, Write, Value::pair(1, 7), None),
        ];
        assert_eq!(verdict(&lines), Verdict::Linearizable);
    }

    #[test]
    fn indeterminate_operations_may_or_may_not_have_happened() {
        // An acquire that timed out may have taken the lock: the holder's release may then
        // not be linearized after it, but it may go before.
        let lines = vec![
            (1, Invoke, Acquire, Value::Null, None),
            (1, Ok, Acquire, Value::Null, Some(1)),
            (2, Invoke, Acquire, Value::Null, None),
            (2, Info, Acquire, Value::Null, None),
            (1, Invoke, Release, Value::Int(1), None),
            (1, Ok, Release, Value::Int(1), None),
            (3, Invoke, Acquire, Value::Null, None),
            (3, Ok, Acquire, Value::Null, Some(4)),
        ];
        assert_eq!(verdict(&lines), Verdict::Linearizable);
        // A write that timed out with a newer token may have been accepted: a later refusal
        // of an older token is explained by it.
        let lines = vec![
            (2, Invoke, Write, Value::pair(2, 8), None),
            (2, Info, Write, Value::pair(2, 8), None),
            (1, Invoke, Write, Value::pair(1, 7), None),
            (1, Fail, Write, Value::pair(1, 7), None),
        ];
        assert_eq!(verdict(&lines), Verdict::Linearizable);
    }

    #[test]
    fn the_lock_and_its_resource_are_separate_objects_in_explanations() {
        let lines = concat(&[
            acquire(1, 1),
            acquire(2, 2),
            write(2, 2, Ok),
            write(1, 1, Ok),
        ]);
        let result =
            check_events(&history(&lines), Model::LeaseLock, &CheckOptions::default()).unwrap();
        assert_eq!(result.verdict, Verdict::NotLinearizable);
        assert_eq!(result.partitions, 2);
        let explanation = result.explanation.expect("explained");
        assert_eq!(explanation.object, "key \"0 (resource)\"");
        assert_eq!(explanation.failing_event, 7);
        assert_eq!(
            explanation.state,
            "{0 (resource): highest accepted token 2}"
        );
        let reasons: Vec<&str> = explanation
            .rejected
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            ["the resource accepted token 1 below the highest it had accepted, 2"]
        );
    }

    #[test]
    fn malformed_lock_operations_are_errors_not_panics() {
        let bad_write = vec![(1, Invoke, Write, Value::Int(3), None)];
        let error = check_events(
            &history(&bad_write),
            Model::LeaseLock,
            &CheckOptions::default(),
        )
        .unwrap_err();
        assert!(error.message.contains("[token, payload]"), "{error}");
        let bad_release = vec![(1, Invoke, Release, Value::Int(-1), None)];
        assert!(check_events(
            &history(&bad_release),
            Model::LeaseLock,
            &CheckOptions::default()
        )
        .is_err());
        let read = vec![(1, Invoke, Function::Read, Value::Null, None)];
        assert!(check_events(&history(&read), Model::LeaseLock, &CheckOptions::default()).is_err());
    }
}
