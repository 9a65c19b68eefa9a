//! What a CRDT counter's client history is held to, and what is measured on it.
//!
//! A CRDT replica answers a read from its own state at once, so a read may miss adds that
//! other replicas acknowledged: the history is **not linearizable**, and the counter's
//! linearizable bounds audit (`counter-bounds`, [`crate::apps::counter::audit`]) would fail
//! on every stale read. What the history is held to instead:
//!
//! - **crdt-invoked-range** ([`audit`]): a read lies within the range the invoked adds allow:
//!   at most the positive deltas invoked before it completed (and not failed), at least the
//!   negative ones. A read outside it counted an add twice or one that never was invoked.
//!   (The replica-side bound, "never below what every replica has", is checked by the
//!   invariant `crdt-read-bounds`, which sees the replicas' states.)
//!
//! And what is measured ([`measure`]), never failed: how stale each read was. A read is
//! *stale* when its value is outside the linearizable bounds (the counter audit's: at least
//! the adds acknowledged before its invoke, at most those invoked before its completion). Its
//! staleness is the smallest move of its invoke back in time that makes it fit: moving the
//! invoke back before an acknowledgement removes that add from the "must see" sum, and the
//! bounds only widen as the invoke moves back, so the latest fitting point is found by binary
//! search over the acknowledgements. The read then missed `staleness_ops` acknowledged adds
//! (those acknowledged between that point and its invoke) and is behind by `staleness_us`
//! (from the first missed acknowledgement to its invoke).

use crate::apps::counter::{AddBounds, CounterSpans};
use sim_core::history::HistoryEvent;

/// The history audit of a CRDT counter (see the module documentation).
///
/// # Errors
/// The first read (in history order) outside the invoked range, with the range.
pub fn audit(history: &[HistoryEvent]) -> Result<(), String> {
    let CounterSpans { adds, reads } = CounterSpans::scan(history);
    let mut first: Option<(usize, String)> = None;
    for (key, key_reads) in &reads {
        let bounds = AddBounds::new(adds.get(key).map(Vec::as_slice).unwrap_or(&[]));
        for read in key_reads {
            if first.as_ref().is_some_and(|&(at, _)| at < read.completed) {
                break;
            }
            let at = format!(
                "read by process {} at history index {} (invoked at {})",
                read.process, history[read.completed].index, history[read.invoked].index
            );
            let Some(value) = read.value.as_int() else {
                first = Some((
                    read.completed,
                    format!("{at} returned {}, not an integer", read.value),
                ));
                break;
            };
            // The range does not depend on the invoke: position 0 drops every "must".
            let range = bounds.linearizable(0, read.completed);
            let value = i128::from(value);
            if value > range.may_up || value < range.may_down {
                first = Some((
                    read.completed,
                    format!(
                        "{at} saw {value}, outside [{}, {}], the range of the adds invoked before it completed and not failed: an add was counted more than once or one never invoked took effect",
                        range.may_down, range.may_up
                    ),
                ));
                break;
            }
        }
    }
    match first {
        None => Ok(()),
        Some((_, message)) => Err(message),
    }
}

/// Staleness figures of one history (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Staleness {
    /// `ok` reads with an integer value.
    pub reads: u64,
    /// Of those, reads a linearizable counter could not have answered.
    pub stale_reads: u64,
    /// Acknowledged adds the stale reads missed, summed over them.
    pub staleness_ops_sum: u64,
    /// The most acknowledged adds one read missed.
    pub staleness_ops_max: u64,
    /// How far behind the stale reads were, in simulated microseconds, summed.
    pub staleness_us_sum: u64,
    /// The most one read was behind, in simulated microseconds.
    pub staleness_us_max: u64,
}

impl Staleness {
    /// The run's figures (`CrdtInvariants::figures`).
    pub fn named(self) -> Vec<(&'static str, u64)> {
        vec![
            ("reads", self.reads),
            ("stale_reads", self.stale_reads),
            ("staleness_ops_sum", self.staleness_ops_sum),
            ("staleness_ops_max", self.staleness_ops_max),
            ("staleness_us_sum", self.staleness_us_sum),
            ("staleness_us_max", self.staleness_us_max),
        ]
    }
}

/// Measures how stale the reads of `history` were.
pub fn measure(history: &[HistoryEvent]) -> Staleness {
    let CounterSpans { adds, reads } = CounterSpans::scan(history);
    let mut figures = Staleness::default();
    for (key, key_reads) in &reads {
        let spans = adds.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let bounds = AddBounds::new(spans);
        let mut acknowledged: Vec<usize> = spans.iter().filter_map(|s| s.acknowledged).collect();
        acknowledged.sort_unstable();
        for read in key_reads {
            let Some(value) = read.value.as_int() else {
                continue;
            };
            figures.reads += 1;
            let value = i128::from(value);
            let fits = |invoked: usize| {
                let range = bounds.linearizable(invoked, read.completed);
                (range.lower..=range.upper).contains(&value)
            };
            if fits(read.invoked) {
                continue;
            }
            figures.stale_reads += 1;
            // The acknowledgements before the invoke. With none, the read is outside the
            // invoked range (the audit's finding), and no staleness explains it.
            let before = acknowledged.partition_point(|&p| p < read.invoked);
            if before == 0 {
                continue;
            }
            // The first acknowledgement the read cannot include: with the same
            // acknowledgements as its invoke the read does not fit, so it is one of them.
            let missed_from = acknowledged[..before].partition_point(|&p| fits(p + 1));
            let missed_from = missed_from.min(before - 1);
            let ops = (before - missed_from) as u64;
            let behind_ns = history[read.invoked]
                .time
                .saturating_sub(history[acknowledged[missed_from]].time);
            let behind_us = behind_ns / 1_000;
            figures.staleness_ops_sum += ops;
            figures.staleness_ops_max = figures.staleness_ops_max.max(ops);
            figures.staleness_us_sum += behind_us;
            figures.staleness_us_max = figures.staleness_us_max.max(behind_us);
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::history::{EventType, Function, Value};

    /// `(process, kind, f, value)` at 1 ms apart.
    fn history(events: &[(u64, EventType, Function, Value)]) -> Vec<HistoryEvent> {
        events
            .iter()
            .enumerate()
            .map(|(index, (process, kind, f, value))| HistoryEvent {
                index: index as u64,
                time: index as u64 * 1_000_000,
                process: *process,
                kind: *kind,
                f: *f,
                key: None,
                value: value.clone(),
                token: None,
            })
            .collect()
    }

    use EventType::{Fail, Invoke, Ok as Done};
    use Function::{Add, Read};

    fn int(v: i64) -> Value {
        Value::Int(v)
    }

    #[test]
    fn a_stale_read_passes_the_audit_and_is_measured() {
        // Adds of 2, 3 and 4 acknowledged at 1, 3 and 5 ms; a read invoked at 6 ms sees 2:
        // it missed the 3 and the 4, and the first of them was acknowledged 3 ms earlier.
        let events = history(&[
            (0, Invoke, Add, int(2)),
            (0, Done, Add, int(2)),
            (1, Invoke, Add, int(3)),
            (1, Done, Add, int(3)),
            (2, Invoke, Add, int(4)),
            (2, Done, Add, int(4)),
            (3, Invoke, Read, Value::Null),
            (3, Done, Read, int(2)),
        ]);
        assert_eq!(audit(&events), Ok(()), "stale is not a violation here");
        assert!(
            crate::apps::counter::audit(&events).is_err(),
            "the linearizable audit fails it"
        );
        let figures = measure(&events);
        assert_eq!(figures.reads, 1);
        assert_eq!(figures.stale_reads, 1);
        assert_eq!(figures.staleness_ops_max, 2);
        assert_eq!(figures.staleness_us_max, 3_000);
        assert_eq!(figures.staleness_us_sum, 3_000);
    }

    #[test]
    fn a_fresh_read_is_not_stale_and_a_read_missing_everything_counts_every_add() {
        let events = history(&[
            (0, Invoke, Add, int(2)),
            (0, Done, Add, int(2)),
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(2)),
            (2, Invoke, Read, Value::Null),
            (2, Done, Read, int(0)),
        ]);
        let figures = measure(&events);
        assert_eq!((figures.reads, figures.stale_reads), (2, 1));
        assert_eq!(figures.staleness_ops_sum, 1);
        assert_eq!(figures.staleness_us_max, 3_000);
    }

    #[test]
    fn decrements_are_measured_too() {
        // +5 then -2 acknowledged; a read of 5 missed the decrement.
        let events = history(&[
            (0, Invoke, Add, int(5)),
            (0, Done, Add, int(5)),
            (1, Invoke, Add, int(-2)),
            (1, Done, Add, int(-2)),
            (2, Invoke, Read, Value::Null),
            (2, Done, Read, int(5)),
        ]);
        assert_eq!(audit(&events), Ok(()));
        let figures = measure(&events);
        assert_eq!((figures.stale_reads, figures.staleness_ops_max), (1, 1));
        assert_eq!(figures.staleness_us_max, 1_000);
    }

    #[test]
    fn the_audit_fails_a_read_beyond_the_invoked_range() {
        let doubled = history(&[
            (0, Invoke, Add, int(3)),
            (0, Done, Add, int(3)),
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(6)),
        ]);
        let message = audit(&doubled).unwrap_err();
        assert!(message.contains("saw 6, outside [0, 3]"), "{message}");
        let failed = history(&[
            (0, Invoke, Add, int(-3)),
            (0, Fail, Add, int(-3)),
            (1, Invoke, Read, Value::Null),
            (1, Done, Read, int(-3)),
        ]);
        assert!(audit(&failed).unwrap_err().contains("outside [0, 0]"));
        let null = history(&[(0, Invoke, Read, Value::Null), (0, Done, Read, Value::Null)]);
        assert!(audit(&null).unwrap_err().contains("not an integer"));
    }
}
