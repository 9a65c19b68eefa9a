//! Strings of the string store (`kv-append`), hash-consed so that an object's state is one
//! `u32` and appending is O(1).

#![allow(clippy::disallowed_types)]
// Why HashMap is allowed here, against clippy.toml's ban: this is the history checker, not
// simulation state, and every hash map in this file (atom_ids, by_hash, concat) is an interning
// table that is only probed with get/insert and never iterated. They hash with `FixedState`, a
// fixed portable function, not RandomState, so no id can depend on their internal order.

use super::hash::FixedState;
use std::collections::HashMap;

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
    /// Answers of [`Strings::is_prefix`].
    prefixes: HashMap<(u32, u32), bool, FixedState>,
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
            prefixes: HashMap::default(),
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

    /// True if string `a`'s text is a prefix of string `b`'s.
    pub fn is_prefix(&mut self, a: u32, b: u32) -> bool {
        if a == b || a == 0 {
            return true;
        }
        if self.nodes[a as usize].2 > self.nodes[b as usize].2 {
            return false;
        }
        if let Some(&answer) = self.prefixes.get(&(a, b)) {
            return answer;
        }
        let answer = self.text(b).starts_with(&self.text(a));
        self.prefixes.insert((a, b), answer);
        answer
    }

    /// The text of atom `atom`.
    pub fn atom_text(&self, atom: u32) -> &str {
        &self.atoms[atom as usize]
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

    /// The id of string `base` followed by atom `atom`.
    #[inline]
    pub fn append(&mut self, base: u32, atom: u32) -> u32 {
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
