//! Client histories in faultline's native format (`history.jsonl`, DESIGN.md §4): one JSON
//! object per line, in real-time order, with Jepsen's field names.
//!
//! ```text
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"a","value":5}
//! {"index":1,"time":3400,"process":3,"type":"ok","f":"write","key":"a","value":5}
//! ```
//!
//! Semantics: `ok` took effect (a read's `value` is what it saw); `fail` did not take effect;
//! `info` is indeterminate (may take effect at any time after its invoke, or never). An invoke
//! with no completion is indeterminate too. Each process has at most one open operation; a
//! process that got `info` never appears again.

use crate::id::ProcessId;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a history event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation was invoked.
    Invoke,
    /// It completed and took effect.
    Ok,
    /// It completed and did not take effect.
    Fail,
    /// Its outcome is unknown: it may take effect at any time after its invoke, or never.
    Info,
}

/// The function of an operation, per model: register/cas-register/kv use `read`, `write`,
/// `cas`; counter uses `add`, `read`; mutex uses `acquire`, `release`; multi-register uses
/// `txn`; the string store (kv-append) uses `read`, `write`, `append`; bank uses `transfer`
/// and `read` (an audit of every balance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Read the object (`value` of the completion is what was seen).
    Read,
    /// Write `value`.
    Write,
    /// Compare-and-set: `value` is `[from, to]`.
    Cas,
    /// Add `value` (a signed delta) to a counter.
    Add,
    /// Acquire a lock; the holder is the process.
    Acquire,
    /// Release a lock held by the process.
    Release,
    /// A transaction of micro-operations `[["r", key, value], ["w", key, value], ...]`.
    Txn,
    /// Append `value` (a string) to a string store's key (Porcupine's kv `append`).
    Append,
    /// Move money between two bank accounts: `value` is `[from, to, amount]`.
    Transfer,
}

impl Function {
    /// The lowercase name used in history files.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Read => "read",
            Function::Write => "write",
            Function::Cas => "cas",
            Function::Add => "add",
            Function::Acquire => "acquire",
            Function::Release => "release",
            Function::Txn => "txn",
            Function::Append => "append",
            Function::Transfer => "transfer",
        }
    }
}

/// An operation's argument or result: `null` (absent / initial / unknown), an integer, a
/// string, or a list (a CAS pair `[from, to]`, a transaction's micro-operations).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Absent, initial, or not known.
    #[default]
    Null,
    /// An integer.
    Int(i64),
    /// A string (keys inside transactions; string-valued stores).
    Str(String),
    /// A list of values.
    List(Vec<Value>),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// A CAS pair `[from, to]`.
    pub fn pair(from: i64, to: i64) -> Value {
        Value::List(vec![Value::Int(from), Value::Int(to)])
    }

    /// The two integers of a CAS pair, if this is one.
    pub fn as_pair(&self) -> Option<(i64, i64)> {
        match self {
            Value::List(items) if items.len() == 2 => {
                Some((items[0].as_int()?, items[1].as_int()?))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ",")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// One line of a native history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEvent {
    /// Position in the history, from 0, in real-time order.
    pub index: u64,
    /// Simulated time in nanoseconds (informational: `index` is the order).
    pub time: u64,
    /// The process that invoked the operation.
    pub process: u64,
    /// Invoke or one of the three completions.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation's function.
    pub f: Function,
    /// The object the operation addresses; absent means the history has one object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument (on invoke) or the result (on `ok`).
    #[serde(default)]
    pub value: Value,
    /// A fencing token handed out by an `ok` acquire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
}

impl HistoryEvent {
    /// This event as one line of `history.jsonl` (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a history event always serialises")
    }
}

/// An append-only history being recorded by the simulator's clients.
#[derive(Clone, Debug, Default)]
pub struct History {
    events: Vec<HistoryEvent>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends an event, assigning its index. Returns the index.
    // One argument per field of a history line: a builder would only hide the same list.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        time: Instant,
        process: ProcessId,
        kind: EventType,
        f: Function,
        key: Option<String>,
        value: Value,
        token: Option<u64>,
    ) -> u64 {
        let index = self.events.len() as u64;
        if let Some(last) = self.events.last() {
            assert!(
                last.time <= time.as_nanos(),
                "history must be appended in time order"
            );
        }
        self.events.push(HistoryEvent {
            index,
            time: time.as_nanos(),
            process: process.0,
            kind,
            f,
            key,
            value,
            token,
        });
        index
    }

    /// The recorded events, in order.
    pub fn events(&self) -> &[HistoryEvent] {
        &self.events
    }

    /// Number of events recorded.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The whole history as `history.jsonl` text (one line per event, each ending in `\n`).
    pub fn to_jsonl(&self) -> String {
        let mut out = String::with_capacity(self.events.len() * 96);
        for event in &self.events {
            out.push_str(&event.to_json_line());
            out.push('\n');
        }
        out
    }

    /// Consumes the recorder, returning the events.
    pub fn into_events(self) -> Vec<HistoryEvent> {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact lines of DESIGN.md §4 round-trip byte for byte.
    #[test]
    fn design_example_round_trips_exactly() {
        let lines = [
            r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"a","value":5}"#,
            r#"{"index":1,"time":3400,"process":3,"type":"ok","f":"write","key":"a","value":5}"#,
            r#"{"index":2,"time":3500,"process":4,"type":"invoke","f":"cas","key":"a","value":[5,6]}"#,
            r#"{"index":3,"time":3900,"process":4,"type":"fail","f":"cas","key":"a","value":[5,6]}"#,
            r#"{"index":4,"time":4000,"process":5,"type":"invoke","f":"read","key":"a","value":null}"#,
            r#"{"index":5,"time":4800,"process":5,"type":"ok","f":"read","key":"a","value":6}"#,
        ];
        for line in lines {
            let event: HistoryEvent = serde_json::from_str(line).unwrap();
            assert_eq!(event.to_json_line(), line);
        }
        let cas: HistoryEvent = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(cas.value.as_pair(), Some((5, 6)));
    }

    #[test]
    fn recorder_writes_what_it_was_given() {
        let mut history = History::new();
        history.push(
            Instant(10),
            ProcessId(1),
            EventType::Invoke,
            Function::Acquire,
            Some("l".into()),
            Value::Null,
            None,
        );
        history.push(
            Instant(20),
            ProcessId(1),
            EventType::Ok,
            Function::Acquire,
            Some("l".into()),
            Value::Null,
            Some(7),
        );
        assert_eq!(
            history.to_jsonl(),
            concat!(
                r#"{"index":0,"time":10,"process":1,"type":"invoke","f":"acquire","key":"l","value":null}"#,
                "\n",
                r#"{"index":1,"time":20,"process":1,"type":"ok","f":"acquire","key":"l","value":null,"token":7}"#,
                "\n",
            )
        );
    }
}
