//! faultline's native `history.jsonl` (DESIGN.md §4): one JSON object per line.

use super::{infer_model, ParseError, ParsedHistory, SourcePosition};
use crate::check::{CompactEvents, Dialect, EventSource};
use crate::history::{HistoryEvent, Value};
use std::io::BufRead;

/// Reads a native history. Blank lines are skipped.
///
/// # Errors
/// The first line that is not a valid event.
pub fn read(text: &str) -> Result<ParsedHistory, ParseError> {
    read_from(text.as_bytes(), text.lines().count())
}

/// Reads a native history line by line from `reader`, holding one line at a time (a history
/// of millions of events is never in memory as text). `lines` (the number of lines, if known)
/// sizes the event list once: growing it by doubling would hold the old and the new list at
/// the same time, three times the history's size.
///
/// # Errors
/// The first line that is not UTF-8 text or not a valid event, or a read error (at the line
/// being read).
pub fn read_from(reader: impl BufRead, lines: usize) -> Result<ParsedHistory, ParseError> {
    read_into(reader, lines, Vec::with_capacity(lines), |events, event| {
        events.push(event)
    })
}

/// [`read_from`] into [`CompactEvents`]: what `faultline check` keeps of a long history.
///
/// # Errors
/// As [`read_from`].
pub fn read_compact_from(
    reader: impl BufRead,
    lines: usize,
) -> Result<ParsedHistory<CompactEvents>, ParseError> {
    let mut history = read_into(
        reader,
        lines,
        CompactEvents::with_capacity(lines),
        CompactEvents::push,
    )?;
    history.events.finish();
    Ok(history)
}

fn read_into<E: EventSource>(
    mut reader: impl BufRead,
    lines: usize,
    mut events: E,
    push: impl Fn(&mut E, HistoryEvent),
) -> Result<ParsedHistory<E>, ParseError> {
    let mut positions = Vec::with_capacity(lines);
    let mut line = String::new();
    let mut number = 0usize;
    let mut last_index: Option<(u64, usize)> = None;
    loop {
        line.clear();
        number += 1;
        let read = reader.read_line(&mut line).map_err(|error| ParseError {
            line: number,
            message: if error.kind() == std::io::ErrorKind::InvalidData {
                "not UTF-8 text".to_string()
            } else {
                format!("cannot read: {error}")
            },
        })?;
        if read == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let event: HistoryEvent = serde_json::from_str(&line).map_err(|error| ParseError {
            line: number,
            message: diagnose(&line, &error),
        })?;
        // `index` names the event and states its place: file order and index order must
        // agree, or "event 7" would mean two things. Gaps are fine (a filtered history).
        if let Some((previous, previous_line)) = last_index {
            if event.index <= previous {
                let message = if event.index == previous {
                    format!(
                        "index {} again (line {previous_line} has it too): every event needs its own index",
                        event.index
                    )
                } else {
                    format!(
                        "index {} after index {previous} (line {previous_line}): indices increase down the file, in real-time order",
                        event.index
                    )
                };
                return Err(ParseError {
                    line: number,
                    message,
                });
            }
        }
        last_index = Some((event.index, number));
        positions.push(SourcePosition {
            line: number,
            ordinal: events.len(),
        });
        push(&mut events, event);
    }
    positions.shrink_to_fit();
    let default_model = infer_model(&events);
    Ok(ParsedHistory {
        events,
        positions,
        dialect: Dialect::Native,
        default_model,
        initial: Value::Null,
    })
}

/// What is wrong with a line that is not an event, in plain words for the mistakes made by
/// hand or by converting another tool's output: an array instead of one object per line, an
/// object spread over lines, a missing field, a number that is negative, fractional or wider
/// than 64 bits. Anything else keeps the JSON reader's own message.
fn diagnose(text: &str, error: &serde_json::Error) -> String {
    use serde_json::Value as Json;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return "a JSON array: a native history is one JSON object per line (JSON Lines), not an array of them (`jq -c '.[]' FILE` converts it)".into();
    }
    let fields = match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(fields)) => fields,
        Ok(other) => {
            let found = match other {
                Json::Null => "null",
                Json::Bool(_) => "a boolean",
                Json::Number(_) => "a number",
                Json::String(_) => "a string",
                _ => "an array",
            };
            return format!("expected one JSON object per line, found {found}");
        }
        Err(_) if error.is_eof() && trimmed.starts_with('{') => {
            return "the line ends inside its JSON object: a native history holds one whole object per line (pretty-printed JSON is not read)".into();
        }
        Err(_) => return format!("not JSON: {error}"),
    };
    let missing = [
        (
            "index",
            "its place in the history: 0, 1, 2, ... down the file",
        ),
        (
            "time",
            "nanoseconds; informational, the order is the file's",
        ),
        ("process", "the client, a whole number"),
        ("type", "invoke, ok, fail or info"),
        ("f", "the operation: read, write, cas, add, ..."),
    ];
    for (name, what) in missing {
        let Some(value) = fields.get(name) else {
            return format!("no `{name}` ({what})");
        };
        if matches!(name, "index" | "time" | "process") {
            if let Some(why) = not_a_count(name, value) {
                return why;
            }
        }
    }
    let token = fields.get("token").filter(|token| !token.is_null());
    if let Some(why) = token.and_then(|token| not_a_count("token", token)) {
        return why;
    }
    if let Some(why) = fields.get("value").and_then(not_an_integer) {
        return why;
    }
    format!("invalid event: {error}")
}

/// Why `value` is not a whole number from 0 to 2^64 - 1, if it is not.
fn not_a_count(name: &str, value: &serde_json::Value) -> Option<String> {
    if value.is_u64() {
        return None;
    }
    Some(match value.as_f64() {
        Some(_) if value.is_i64() => {
            format!("`{name}` is negative ({value}): it counts from 0")
        }
        Some(x) if x.fract() == 0.0 && x.abs() >= 1.8e19 => format!(
            "`{name}` is {value}, an integer wider than 64 bits (at most 18446744073709551615)"
        ),
        _ => format!("`{name}` is {value}, expected a whole number"),
    })
}

/// Why a number inside `value` cannot be read as a 64-bit signed integer, if one cannot.
fn not_an_integer(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Number(n) if n.is_i64() => None,
        serde_json::Value::Number(n) => Some(match n.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() >= 9.2e18 => format!(
                "`value` holds {n}, an integer outside the signed 64-bit range (values are integers from -2^63 to 2^63 - 1, strings, lists or null)"
            ),
            _ => format!(
                "`value` holds {n}, expected an integer (values are integers from -2^63 to 2^63 - 1, strings, lists or null)"
            ),
        }),
        serde_json::Value::Array(items) => items.iter().find_map(not_an_integer),
        _ => None,
    }
}
