//! Porcupine's kv logs (`{:process P, :type T, :f F, :key "K", :value V}` per line): a string
//! key-value store with get (→ `read`), put (→ `write`) and append (→ `add` of a string).

use super::{edn, ParseError, ParsedHistory};
use crate::check::{Dialect, Model};
use crate::history::Value;

/// Reads a Porcupine kv log.
///
/// # Errors
/// The first malformed record.
pub fn read(text: &str) -> Result<ParsedHistory, ParseError> {
    let mut history = edn::read(text)?;
    history.dialect = Dialect::PorcupineKv;
    history.default_model = Model::KvAppend;
    history.initial = Value::Null;
    Ok(history)
}
