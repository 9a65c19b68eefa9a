//! History readers: faultline's native `history.jsonl`, Porcupine's etcd logs and kv logs, and
//! Knossos/Jepsen EDN. Each returns a [`ParsedHistory`] (native events plus where each came
//! from and whose semantics apply) or a [`ParseError`] naming the 1-based line.

pub mod edn;
pub mod native;
pub mod porcupine_etcd;
pub mod porcupine_kv;

use super::{Dialect, EventSource, Model};
use crate::history::{Function, HistoryEvent, Value};

/// Where an event came from in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePosition {
    /// 1-based line where the event starts.
    pub line: usize,
    /// 0-based position among the file's records, counting records that were skipped (for
    /// EDN: nemesis maps), as Knossos counts operations.
    pub ordinal: usize,
}

/// A history read from a file.
#[derive(Clone, Debug)]
pub struct ParsedHistory<E = Vec<HistoryEvent>> {
    /// The client events, in real-time order.
    pub events: E,
    /// Where each event came from.
    pub positions: Vec<SourcePosition>,
    /// The semantics the file follows.
    pub dialect: Dialect,
    /// The model the file is most likely meant for.
    pub default_model: Model,
    /// The initial value the file's corpus assumes.
    pub initial: Value,
}

/// Malformed input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `history.jsonl`.
    Native,
    /// Porcupine's `etcd_NNN.log`.
    PorcupineEtcd,
    /// Porcupine's `cNN-ok.txt`.
    PorcupineKv,
    /// Knossos/Jepsen EDN.
    Edn,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
            Format::Edn => "edn",
        }
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        [
            Format::Native,
            Format::PorcupineEtcd,
            Format::PorcupineKv,
            Format::Edn,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }

    /// A guess from a file name and its contents.
    pub fn guess(path: &str, text: &str) -> Format {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(';'))
            .unwrap_or("");
        if path.ends_with(".jsonl") || path.ends_with(".json") || first.starts_with("{\"") {
            Format::Native
        } else if path.ends_with(".log") || first.contains("jepsen.util") {
            Format::PorcupineEtcd
        } else if path.ends_with(".edn") {
            Format::Edn
        } else if first.starts_with("{:process") && first.contains(":key \"") {
            Format::PorcupineKv
        } else if first.starts_with('{') || first.starts_with('[') || first.starts_with('(') {
            Format::Edn
        } else {
            Format::Native
        }
    }
}

/// Reads `text` in `format`.
///
/// # Errors
/// A [`ParseError`] with the line of the first malformed record.
pub fn read(format: Format, text: &str) -> Result<ParsedHistory, ParseError> {
    match format {
        Format::Native => native::read(text),
        Format::PorcupineEtcd => porcupine_etcd::read(text),
        Format::PorcupineKv => porcupine_kv::read(text),
        Format::Edn => edn::read(text),
    }
}

/// The model a history most likely needs, from the functions and values it uses.
pub fn infer_model<E: EventSource + ?Sized>(events: &E) -> Model {
    let heads = || (0..events.len()).map(|i| events.head(i));
    let has = |f: Function| heads().any(|(_, _, g)| g == f);
    let any =
        |test: &dyn Fn(&HistoryEvent) -> bool| (0..events.len()).any(|i| test(&events.event(i)));
    if has(Function::Transfer) {
        Model::Bank
    } else if has(Function::Txn) {
        Model::MultiRegister
    } else if (has(Function::Acquire) || has(Function::Release)) && has(Function::Write) {
        // Lock operations beside writes: the writes go to a fenced resource.
        Model::LeaseLock
    } else if has(Function::Acquire) || has(Function::Release) {
        Model::Mutex
    } else if has(Function::Append)
        || any(&|e| e.f == Function::Add && matches!(e.value, Value::Str(_)))
    {
        Model::KvAppend
    } else if has(Function::Add) {
        Model::Counter
    } else if any(&|e| e.key.is_some()) {
        Model::Kv
    } else {
        Model::CasRegister
    }
}

/// What a history that reads may still hold that Jepsen accepts but its author may not have
/// meant: no operations at all (trivially linearizable), or a `time` that goes back (events
/// are checked in file order, as Jepsen orders them by position; `time` is informational).
/// Each is (1-based line, or `None` for the whole file; message).
pub fn warnings<E: EventSource>(history: &ParsedHistory<E>) -> Vec<(Option<usize>, String)> {
    let events = &history.events;
    if events.is_empty() {
        return vec![(
            None,
            "no operations: an empty history is linearizable, trivially (is it the file you meant?)"
                .to_string(),
        )];
    }
    let line = |index: usize| history.positions.get(index).map_or(0, |p| p.line);
    let mut first_back: Option<(usize, u64, u64)> = None;
    let mut back = 0usize;
    let mut previous = events.event(0).time;
    for index in 1..events.len() {
        let time = events.event(index).time;
        if time < previous {
            back += 1;
            first_back.get_or_insert((index, time, previous));
        }
        previous = time;
    }
    match first_back {
        Some((index, time, before)) => vec![(
            Some(line(index)),
            format!(
                "time {time} is earlier than the event before it ({before}); events are checked in their order in the file, not by `time` (as Jepsen does): {back} event(s) in all go back in time"
            ),
        )],
        None => Vec::new(),
    }
}
