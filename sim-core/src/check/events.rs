//! Where the checker reads a history's events from: a slice of [`HistoryEvent`]s, or
//! [`CompactEvents`], which hold a long history in a third of the memory (keys and values
//! interned, one 56-byte record per event) and rebuild an event when asked.

use crate::history::{EventType, Function, HistoryEvent, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A history's events, in real-time order.
pub trait EventSource {
    /// Number of events.
    fn len(&self) -> usize;
    /// True when there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Event `index` (panics when out of range).
    fn event(&self, index: usize) -> Cow<'_, HistoryEvent>;
    /// Event `index`'s process, type and function, without rebuilding it.
    fn head(&self, index: usize) -> (u64, EventType, Function);
}

impl EventSource for [HistoryEvent] {
    fn len(&self) -> usize {
        <[HistoryEvent]>::len(self)
    }
    fn event(&self, index: usize) -> Cow<'_, HistoryEvent> {
        Cow::Borrowed(&self[index])
    }
    fn head(&self, index: usize) -> (u64, EventType, Function) {
        let event = &self[index];
        (event.process, event.kind, event.f)
    }
}

impl EventSource for Vec<HistoryEvent> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn event(&self, index: usize) -> Cow<'_, HistoryEvent> {
        Cow::Borrowed(&self[index])
    }
    fn head(&self, index: usize) -> (u64, EventType, Function) {
        self.as_slice().head(index)
    }
}

/// One event with its key and value interned.
#[derive(Clone, Copy, Debug)]
struct Record {
    index: u64,
    time: u64,
    process: u64,
    token: Option<u64>,
    /// Index into `keys`.
    key: u32,
    /// Index into `values`.
    value: u32,
    kind: EventType,
    f: Function,
}

/// A history stored compactly: what `faultline check` keeps of a long native history.
#[derive(Clone, Debug, Default)]
pub struct CompactEvents {
    records: Vec<Record>,
    keys: Vec<Option<String>>,
    key_ids: BTreeMap<Option<String>, u32>,
    values: Vec<Value>,
    value_ids: BTreeMap<Value, u32>,
}

impl CompactEvents {
    /// An empty history with room for `capacity` events.
    pub fn with_capacity(capacity: usize) -> CompactEvents {
        CompactEvents {
            records: Vec::with_capacity(capacity),
            ..CompactEvents::default()
        }
    }

    /// Appends `event`.
    ///
    /// # Panics
    /// With more than 2^32 distinct keys or values.
    pub fn push(&mut self, event: HistoryEvent) {
        let key = match self.key_ids.get(&event.key) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.keys.len()).expect("fewer than 2^32 keys");
                self.key_ids.insert(event.key.clone(), id);
                self.keys.push(event.key);
                id
            }
        };
        let value = match self.value_ids.get(&event.value) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.values.len()).expect("fewer than 2^32 values");
                self.value_ids.insert(event.value.clone(), id);
                self.values.push(event.value);
                id
            }
        };
        self.records.push(Record {
            index: event.index,
            time: event.time,
            process: event.process,
            token: event.token,
            key,
            value,
            kind: event.kind,
            f: event.f,
        });
    }

    /// Frees the slack of growing and the interning look-up tables (no more pushes).
    pub fn finish(&mut self) {
        self.records.shrink_to_fit();
        self.key_ids = BTreeMap::new();
        self.value_ids = BTreeMap::new();
    }
}

impl EventSource for CompactEvents {
    fn len(&self) -> usize {
        self.records.len()
    }
    fn event(&self, index: usize) -> Cow<'_, HistoryEvent> {
        let record = &self.records[index];
        Cow::Owned(HistoryEvent {
            index: record.index,
            time: record.time,
            process: record.process,
            kind: record.kind,
            f: record.f,
            key: self.keys[record.key as usize].clone(),
            value: self.values[record.value as usize].clone(),
            token: record.token,
        })
    }
    fn head(&self, index: usize) -> (u64, EventType, Function) {
        let record = &self.records[index];
        (record.process, record.kind, record.f)
    }
}
