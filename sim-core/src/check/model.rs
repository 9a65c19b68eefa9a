//! Sequential specifications, compiled for speed.
//!
//! Every object's state is one `u64`: a register holds an interned value id (0 = absent), a
//! counter its sum, a string store's key an interned string id (0 = the empty string), a mutex
//! its holder (low 32 bits, 0 = free) and the index of the largest fencing token handed out
//! (high 32 bits, 0 = none; token indices preserve the tokens' order). Operations are compact
//! `Copy` records ([`OpData`]) whose arguments are already interned.
//!
//! A partition of one object is searched with [`SingleSpec`] (the state is the object's `u64`).
//! A partition of several objects (`--no-partition`, or a multi-register transaction spanning
//! keys) is searched with [`VectorSpec`]: its state is the id of a hash-consed vector of object
//! states, and transitions are memoised, so the search itself still sees one `u64`.
//!
//! Indeterminate operations (`info`, or never completed) use "apply if legal, otherwise leave
//! the state unchanged". Their return is placed after the end of the history, so an operation
//! that is never applied can always be linearized last; together this is exactly "took effect
//! at some instant after its invocation, or never" (DESIGN.md §4).

#![allow(clippy::disallowed_types)]
// Why HashMap is allowed here, against clippy.toml's ban: this is the history checker, not
// simulation state, and every hash map in this file (atom_ids, by_hash, concat, ids, memo) is
// a look-up table (interning or a transition memo) that is only probed with get/insert and
// never iterated (the memo is cleared whole when full). They hash with `FixedState`, a fixed
// portable function, not RandomState. So no verdict, step count or id can depend on their
// internal order; BTreeMap would cost the search a log factor on every step.

use super::linearizability::mix64;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A fixed, portable hasher (multiply-xor), for lookup-only tables.
#[derive(Clone, Copy, Default)]
pub(crate) struct FixedState;

/// The hasher built by [`FixedState`].
pub(crate) struct FixedHasher(u64);

impl Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

impl BuildHasher for FixedState {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher(0)
    }
}

/// A read's expected value when any value is acceptable.
pub(crate) const ANY: u64 = u64::MAX;

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The state must equal `a`.
    Read,
    /// Sets the state to `a`.
    Write,
    /// Compare `a`, set `b`.
    Cas,
    /// Counter: adds `a` (two's complement).
    Add,
    /// String store: appends atom `a` (see [`Strings`]).
    Append,
    /// Mutex: process `a` (interned, from 1) acquires, with token index `b` (0 = none).
    Acquire,
    /// Mutex: process `a` releases.
    Release,
    /// Multi-register transaction number `a`.
    Txn,
    /// Lease lock: process `a` is granted or renews with token index `b` (0 = unknown).
    LeaseAcquire,
    /// Lease lock: process `a` releases its grant of token index `b` (0 = any).
    LeaseRelease,
    /// Fenced resource: a write with token index `b`; `compare_failed` = it was refused.
    FencedWrite,
}

/// One operation, compiled.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpData {
    pub kind: Kind,
    /// Indeterminate: apply if legal, else no change.
    pub unknown: bool,
    /// Porcupine etcd `:fail :cas`: the compare was executed and failed.
    pub compare_failed: bool,
    /// The object's slot inside its partition.
    pub slot: u32,
    pub a: u64,
    pub b: u64,
}

/// A micro-operation of a transaction: `(slot, is_write, value)`; a read of [`ANY`] is free.
pub(crate) type Micro = (u32, bool, u64);

/// Strings of the string store, hash-consed so that a state is one `u32` and appending is
/// O(1): a string is a node `(parent, atom)` meaning "the parent's text followed by the atom's
/// text" (an atom is a text from the history: a put, an append or a read's result). Equal
/// texts get one canonical id whatever the path that built them, so ids compare like texts:
/// nodes are looked up by (length, polynomial hash), and a hash match is confirmed by
/// comparing the texts, so a hash collision can cost time but never a wrong answer.
#[derive(Clone, Debug)]
pub(crate) struct Strings {
    atoms: Vec<String>,
    atom_ids: HashMap<String, u32, FixedState>,
    /// Per atom: its hash and `BASE^len`.
    atom_hash: Vec<(u64, u64)>,
    /// Per canonical node: (parent node or NONE, atom, length, hash).
    nodes: Vec<(u32, u32, u64, u64)>,
    by_hash: HashMap<(u64, u64), Vec<u32>, FixedState>,
    concat: HashMap<(u32, u32), u32, FixedState>,
}

const NONE: u32 = u32::MAX;
const BASE: u64 = 0x100_0000_01B3;

impl Default for Strings {
    fn default() -> Self {
        Strings::new()
    }
}

impl Strings {
    /// A table holding only the empty string, id 0.
    pub fn new() -> Strings {
        let mut strings = Strings {
            atoms: Vec::new(),
            atom_ids: HashMap::default(),
            atom_hash: Vec::new(),
            nodes: Vec::new(),
            by_hash: HashMap::default(),
            concat: HashMap::default(),
        };
        let id = strings.intern("");
        assert_eq!(id, 0, "the empty string is id 0");
        strings
    }

    /// The atom id of `text` (what an append appends).
    pub fn atom(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.atom_ids.get(text) {
            return id;
        }
        let id = self.atoms.len() as u32;
        let mut hash = 0u64;
        let mut power = 1u64;
        for &byte in text.as_bytes() {
            hash = hash.wrapping_mul(BASE).wrapping_add(u64::from(byte) + 1);
            power = power.wrapping_mul(BASE);
        }
        self.atoms.push(text.to_string());
        self.atom_ids.insert(text.to_string(), id);
        self.atom_hash.push((hash, power));
        id
    }

    /// The text of string `id`.
    pub fn text(&self, id: u32) -> String {
        let mut parts = Vec::new();
        let mut node = id;
        while node != NONE {
            let (parent, atom, _, _) = self.nodes[node as usize];
            parts.push(atom);
            node = parent;
        }
        let mut text = String::new();
        for atom in parts.into_iter().rev() {
            text.push_str(&self.atoms[atom as usize]);
        }
        text
    }

    /// The canonical id of the node `(parent, atom)`.
    fn node(&mut self, parent: u32, atom: u32) -> u32 {
        let (atom_hash, power) = self.atom_hash[atom as usize];
        let (parent_len, parent_hash) = if parent == NONE {
            (0, 0)
        } else {
            (self.nodes[parent as usize].2, self.nodes[parent as usize].3)
        };
        let len = parent_len + self.atoms[atom as usize].len() as u64;
        let hash = parent_hash.wrapping_mul(power).wrapping_add(atom_hash);
        if let Some(candidates) = self.by_hash.get(&(len, hash)) {
            if !candidates.is_empty() {
                // Rare (the same text reached by another path, or a collision): compare texts.
                let mut text = if parent == NONE {
                    String::new()
                } else {
                    self.text(parent)
                };
                text.push_str(&self.atoms[atom as usize]);
                for &candidate in candidates {
                    if self.text(candidate) == text {
                        return candidate;
                    }
                }
            }
        }
        let id = self.nodes.len() as u32;
        self.nodes.push((parent, atom, len, hash));
        self.by_hash.entry((len, hash)).or_default().push(id);
        id
    }

    /// The id of `text`.
    pub fn intern(&mut self, text: &str) -> u32 {
        let atom = self.atom(text);
        self.node(NONE, atom)
    }

    #[inline]
    fn append(&mut self, base: u32, atom: u32) -> u32 {
        if let Some(&id) = self.concat.get(&(base, atom)) {
            return id;
        }
        let id = if self.atoms[atom as usize].is_empty() {
            base
        } else if self.nodes[base as usize].2 == 0 {
            self.node(NONE, atom)
        } else {
            self.node(base, atom)
        };
        self.concat.insert((base, atom), id);
        id
    }
}

/// One step of one object.
#[inline]
pub(crate) fn step_object(strings: &mut Strings, state: u64, op: &OpData) -> Option<u64> {
    match op.kind {
        // Unconstrained reads never get here (they are dropped when compiled), so every u64
        // is a real expected value (a counter may legitimately read -1, i.e. u64::MAX).
        Kind::Read => (state == op.a).then_some(state),
        Kind::Write => Some(op.a),
        Kind::Cas => {
            if op.compare_failed {
                (state != op.a).then_some(state)
            } else if state == op.a {
                Some(op.b)
            } else if op.unknown {
                Some(state)
            } else {
                None
            }
        }
        Kind::Add => Some(state.wrapping_add(op.a)),
        Kind::Append => Some(u64::from(strings.append(state as u32, op.a as u32))),
        Kind::Acquire => {
            let holder = state & 0xFFFF_FFFF;
            let last = state >> 32;
            if holder == 0 && (op.b == 0 || op.b > last) {
                Some(op.a | (last.max(op.b) << 32))
            } else if op.unknown {
                Some(state)
            } else {
                None
            }
        }
        Kind::Release => {
            if state & 0xFFFF_FFFF == op.a {
                Some(state & !0xFFFF_FFFF)
            } else if op.unknown {
                Some(state)
            } else {
                None
            }
        }
        Kind::Txn => unreachable!("transactions are stepped by VectorSpec"),
        Kind::LeaseAcquire | Kind::LeaseRelease | Kind::FencedWrite => {
            super::lease_lock::step(state, op)
        }
    }
}

/// A sequential specification as the search sees it: states are `u64`, operations indices.
pub(crate) trait Spec {
    /// The initial state.
    fn init(&mut self, strings: &mut Strings) -> u64;
    /// The state after operation `op`, or `None` if it is illegal in `state`.
    fn step(&mut self, strings: &mut Strings, state: u64, op: u32) -> Option<u64>;
    /// True if operation `op` never changes the state when legal (a read, a failed compare,
    /// a read-only transaction) and is not indeterminate.
    fn is_observation(&self, op: u32) -> bool;
    /// A key such that operations with equal keys make the same transition in every state
    /// (`None`: the operation offers none).
    fn effect_key(&self, op: u32) -> Option<[u64; 4]>;
}

/// An [`OpData`]'s step depends on its fields only, so they are its effect key.
fn effect_key(op: &OpData) -> [u64; 4] {
    let flags = (op.kind as u64) | u64::from(op.unknown) << 8 | u64::from(op.compare_failed) << 9;
    [flags, u64::from(op.slot), op.a, op.b]
}

fn observes(op: &OpData) -> bool {
    (!op.unknown && (op.kind == Kind::Read || (op.kind == Kind::Cas && op.compare_failed)))
        || super::lease_lock::observes(op)
}

/// One object.
pub(crate) struct SingleSpec {
    pub ops: Vec<OpData>,
    pub initial: u64,
}

impl Spec for SingleSpec {
    fn init(&mut self, _strings: &mut Strings) -> u64 {
        self.initial
    }
    #[inline]
    fn step(&mut self, strings: &mut Strings, state: u64, op: u32) -> Option<u64> {
        step_object(strings, state, &self.ops[op as usize])
    }
    fn is_observation(&self, op: u32) -> bool {
        observes(&self.ops[op as usize])
    }
    fn effect_key(&self, op: u32) -> Option<[u64; 4]> {
        Some(effect_key(&self.ops[op as usize]))
    }
}

/// Several objects (slots) with a hash-consed vector state.
pub(crate) struct VectorSpec {
    pub ops: Vec<OpData>,
    pub txns: Vec<Vec<Micro>>,
    pub initial: Vec<u64>,
    pub vectors: Vec<Box<[u64]>>,
    ids: HashMap<Box<[u64]>, u32, FixedState>,
    memo: HashMap<(u32, u32), u32, FixedState>,
    scratch: Vec<u64>,
}

/// Transitions remembered by [`VectorSpec`] at most.
const MEMO_ENTRIES_MAX: usize = 1 << 22;

/// Memo value for an illegal transition.
const ILLEGAL: u32 = u32::MAX;

impl VectorSpec {
    pub fn new(ops: Vec<OpData>, txns: Vec<Vec<Micro>>, initial: Vec<u64>) -> Self {
        VectorSpec {
            ops,
            txns,
            initial,
            vectors: Vec::new(),
            ids: HashMap::default(),
            memo: HashMap::default(),
            scratch: Vec::new(),
        }
    }

    fn intern(&mut self, vector: &[u64]) -> u32 {
        if let Some(&id) = self.ids.get(vector) {
            return id;
        }
        let id = self.vectors.len() as u32;
        self.vectors.push(vector.into());
        self.ids.insert(vector.into(), id);
        id
    }

    /// The per-slot states of a state id.
    pub fn slots(&self, state: u64) -> &[u64] {
        &self.vectors[state as usize]
    }
}

impl Spec for VectorSpec {
    fn is_observation(&self, op: u32) -> bool {
        let data = &self.ops[op as usize];
        if data.kind == Kind::Txn {
            !data.unknown
                && self.txns[data.a as usize]
                    .iter()
                    .all(|&(_, is_write, _)| !is_write)
        } else {
            observes(data)
        }
    }

    fn effect_key(&self, op: u32) -> Option<[u64; 4]> {
        // A transaction's `a` names its micro-operations, not its effect.
        let data = &self.ops[op as usize];
        (data.kind != Kind::Txn).then(|| effect_key(data))
    }

    fn init(&mut self, _strings: &mut Strings) -> u64 {
        let initial = self.initial.clone();
        u64::from(self.intern(&initial))
    }

    fn step(&mut self, strings: &mut Strings, state: u64, op: u32) -> Option<u64> {
        if let Some(&next) = self.memo.get(&(state as u32, op)) {
            return (next != ILLEGAL).then_some(u64::from(next));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(&self.vectors[state as usize]);
        let data = self.ops[op as usize];
        let legal = if data.kind == Kind::Txn {
            let mut legal = true;
            for &(slot, is_write, value) in &self.txns[data.a as usize] {
                if is_write {
                    scratch[slot as usize] = value;
                } else if value != ANY && scratch[slot as usize] != value {
                    legal = false;
                    break;
                }
            }
            legal
        } else {
            match step_object(strings, scratch[data.slot as usize], &data) {
                Some(value) => {
                    scratch[data.slot as usize] = value;
                    true
                }
                None => false,
            }
        };
        let next = if legal {
            self.intern(&scratch)
        } else {
            ILLEGAL
        };
        self.scratch = scratch;
        // The memo only saves work: bound its memory by starting afresh when it is full.
        if self.memo.len() >= MEMO_ENTRIES_MAX {
            self.memo.clear();
        }
        self.memo.insert((state as u32, op), next);
        (next != ILLEGAL).then_some(u64::from(next))
    }
}
