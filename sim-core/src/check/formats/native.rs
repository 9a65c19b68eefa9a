//! faultline's native `history.jsonl` (DESIGN.md §4): one JSON object per line.

use super::{infer_model, ParseError, ParsedHistory, SourcePosition};
use crate::check::Dialect;
use crate::history::{HistoryEvent, Value};

/// Reads a native history. Blank lines are skipped.
///
/// # Errors
/// The first line that is not a valid event.
pub fn read(text: &str) -> Result<ParsedHistory, ParseError> {
    let mut events = Vec::new();
    let mut positions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: HistoryEvent = serde_json::from_str(line).map_err(|error| ParseError {
            line: number + 1,
            message: format!("invalid event: {error}"),
        })?;
        positions.push(SourcePosition {
            line: number + 1,
            ordinal: events.len(),
        });
        events.push(event);
    }
    let default_model = infer_model(&events);
    Ok(ParsedHistory {
        events,
        positions,
        dialect: Dialect::Native,
        default_model,
        initial: Value::Null,
    })
}
