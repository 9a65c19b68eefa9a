//! Porcupine's etcd logs (Jepsen console lines, `INFO  jepsen.util - P TYPE F ARG`), a single
//! CAS register that starts absent. Lines without `jepsen.util -`, and lines whose process is
//! not an integer (the nemesis), are skipped; a client line that does not follow the grammar is
//! an error.

use super::{ParseError, ParsedHistory, SourcePosition};
use crate::check::{Dialect, Model};
use crate::history::{EventType, Function, HistoryEvent, Value};

const MARKER: &str = "jepsen.util -";

/// Reads a Porcupine etcd log.
///
/// # Errors
/// The first malformed client line.
pub fn read(text: &str) -> Result<ParsedHistory, ParseError> {
    let mut events = Vec::new();
    let mut positions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let error = |message: String| ParseError {
            line: line_number,
            message,
        };
        let mut tokens = line[at + MARKER.len()..].split_whitespace();
        let Some(process) = tokens.next() else {
            return Err(error("missing process".into()));
        };
        if process.starts_with(':') {
            continue; // the nemesis
        }
        let process: u64 = process
            .parse()
            .map_err(|_| error(format!("process {process:?} is not an integer")))?;
        let kind = match tokens.next() {
            Some(":invoke") => EventType::Invoke,
            Some(":ok") => EventType::Ok,
            Some(":fail") => EventType::Fail,
            Some(":info") => EventType::Info,
            other => {
                return Err(error(format!(
                    "expected :invoke, :ok, :fail or :info, found {other:?}"
                )))
            }
        };
        let f = match tokens.next() {
            Some(":read") => Function::Read,
            Some(":write") => Function::Write,
            Some(":cas") => Function::Cas,
            other => {
                return Err(error(format!(
                    "expected :read, :write or :cas, found {other:?}"
                )))
            }
        };
        let argument: Vec<&str> = tokens.collect();
        let argument = argument.join(" ");
        let mut kind = kind;
        let value = match argument.as_str() {
            "nil" => Value::Null,
            ":timed-out" => {
                // The outcome is unknown: indeterminate (for a read: no constraint at all).
                kind = EventType::Info;
                Value::Null
            }
            text if text.starts_with('[') && text.ends_with(']') => {
                let inner: Vec<&str> = text[1..text.len() - 1].split_whitespace().collect();
                if inner.len() != 2 {
                    return Err(error(format!("a cas pair needs two values: {text}")));
                }
                let parse = |s: &str| -> Result<Value, ParseError> {
                    if s == "nil" {
                        return Ok(Value::Null);
                    }
                    s.parse()
                        .map(Value::Int)
                        .map_err(|_| error(format!("{s:?} is not an integer")))
                };
                Value::List(vec![parse(inner[0])?, parse(inner[1])?])
            }
            text => Value::Int(text.parse().map_err(|_| {
                error(format!(
                    "argument {text:?} is not nil, an integer, a pair or :timed-out"
                ))
            })?),
        };
        if f == Function::Cas && kind != EventType::Info && !matches!(value, Value::List(_)) {
            return Err(error(format!(
                "a cas needs a [from to] pair, found {argument}"
            )));
        }
        positions.push(SourcePosition {
            line: line_number,
            ordinal: events.len(),
        });
        events.push(HistoryEvent {
            index: events.len() as u64,
            time: events.len() as u64,
            process,
            kind,
            f,
            key: None,
            value,
            token: None,
        });
    }
    Ok(ParsedHistory {
        events,
        positions,
        dialect: Dialect::PorcupineEtcd,
        default_model: Model::CasRegister,
        initial: Value::Null,
    })
}
