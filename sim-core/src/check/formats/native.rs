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
            message: format!("invalid event: {error}"),
        })?;
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
