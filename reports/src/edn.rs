//! `history.edn`: a history as Jepsen/Knossos EDN, one operation map per line, so it can go to
//! Knossos or Elle. Its first line, [`NATIVE_SEMANTICS_LINE`], tells `faultline check` to read it
//! with faultline's own semantics (objects start absent), so it checks with the run's verdict;
//! EDN readers skip it as a comment.

use crate::svg::{push_i64, push_u64};
use sim_core::check::formats::edn::NATIVE_SEMANTICS_LINE;
use sim_core::history::{EventType, HistoryEvent, Value};

/// An EDN string literal.
fn string(out: &mut String, s: &str) {
    out.push('"');
    // Keys are short and plain: copied whole unless they hold a character to escape.
    if !s.bytes().any(|b| matches!(b, b'"' | b'\\' | b'\n')) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut copied = 0;
    for (at, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => continue,
        };
        // The escaped characters are ASCII: both slices end on character boundaries.
        out.push_str(&s[copied..at]);
        out.push_str(escaped);
        copied = at + 1;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Int(i) => push_i64(out, *i),
        Value::Str(s) => string(out, s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                value(out, item);
            }
            out.push(']');
        }
    }
}

/// The history as EDN: a vector of operation maps with Jepsen's keys (`:index :time :process
/// :type :f :key :value`, and `:token` for fencing tokens).
pub fn history_edn(history: &[HistoryEvent]) -> String {
    // About 110 bytes an event in a kv history: one allocation, no copy on growth.
    let mut out = String::with_capacity(history.len() * 128 + 100);
    out.push_str(NATIVE_SEMANTICS_LINE);
    out.push_str("\n[\n");
    for event in history {
        // The constant text around the numbers in as few pieces as possible: an EDN history is
        // written for every run directory, a line per event.
        let kind = match event.kind {
            EventType::Invoke => ", :type :invoke, :f :",
            EventType::Ok => ", :type :ok, :f :",
            EventType::Fail => ", :type :fail, :f :",
            EventType::Info => ", :type :info, :f :",
        };
        out.push_str("{:index ");
        push_u64(&mut out, event.index);
        out.push_str(", :time ");
        push_u64(&mut out, event.time);
        out.push_str(", :process ");
        push_u64(&mut out, event.process);
        out.push_str(kind);
        out.push_str(event.f.as_str());
        if let Some(key) = &event.key {
            out.push_str(", :key ");
            string(&mut out, key);
        }
        out.push_str(", :value ");
        value(&mut out, &event.value);
        if let Some(token) = event.token {
            out.push_str(", :token ");
            push_u64(&mut out, token);
        }
        out.push_str("}\n");
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::check::formats::{self, Format};
    use sim_core::history::Function;

    #[test]
    fn edn_reads_back_as_the_same_events_with_native_semantics() {
        let history = vec![
            HistoryEvent {
                index: 0,
                time: 5,
                process: 1,
                kind: EventType::Invoke,
                f: Function::Cas,
                key: Some("k \"1\"".into()),
                value: Value::pair(1, 2),
                token: None,
            },
            HistoryEvent {
                index: 1,
                time: 9,
                process: 1,
                kind: EventType::Ok,
                f: Function::Cas,
                key: Some("k \"1\"".into()),
                value: Value::pair(1, 2),
                token: None,
            },
            HistoryEvent {
                index: 2,
                time: 10,
                process: 2,
                kind: EventType::Invoke,
                f: Function::Read,
                key: None,
                value: Value::Null,
                token: Some(7),
            },
        ];
        let text = history_edn(&history);
        let parsed = formats::read(Format::Edn, &text).expect("our EDN parses");
        assert_eq!(parsed.events, history);
        assert_eq!(parsed.dialect, sim_core::check::Dialect::Native);
        assert_eq!(parsed.initial, Value::Null);
        // Without the first line it is plain Knossos EDN.
        let plain = text.split_once('\n').expect("two lines").1;
        let parsed = formats::read(Format::Edn, plain).expect("plain EDN parses");
        assert_eq!(parsed.dialect, sim_core::check::Dialect::Knossos);
    }
}
