//! The Wing–Gong search with Lowe's improvements, as in Porcupine: a doubly linked list of call
//! and return entries in real-time order, a stack of linearized calls with their previous
//! states, and a cache of every `(linearized set, model state)` pair already explored.
//!
//! The search tries, at each point, every operation whose call comes before the earliest
//! pending return (those are exactly the operations that may take effect next). A successful
//! model step whose resulting configuration is new is taken ("lifted" out of the list); when
//! the first entry of the list is a return, the operation it belongs to cannot be linearized
//! any more on this path, so the search backtracks. The history is linearizable when the list
//! becomes empty, and not linearizable when a return is reached with nothing to undo.
//!
//! Speed: the linearized set is a bitset hashed incrementally (Zobrist: one fixed random word
//! per operation, XOR-ed in and out), so a cache look-up costs one probe plus, on a hash
//! match, one comparison of the bitset. Cache entries live in one arena (no allocation per
//! entry). Both the step count and the number of cache entries are bounded; reaching either
//! bound ends the search with `Unknown`, never with a verdict.

use super::model::Spec;

/// Position of a return that never happened: after everything else.
pub(crate) const END: u64 = u64::MAX;

const NIL: u32 = u32::MAX;

/// Limits of one search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Model steps allowed (the search stops with `Unknown` when they are used up).
    pub steps_max: u64,
    /// Cache entries allowed.
    pub cache_entries_max: u64,
}

/// Why a search gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GaveUp {
    /// The step budget ran out.
    Steps,
    /// The cache reached its entry limit.
    Cache,
}

/// The result of one search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    NotLinearizable,
    Unknown(GaveUp),
}

/// The deepest configuration reached: the operations linearized, in order, and the state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deepest {
    pub order: Vec<u32>,
    pub state: u64,
}

/// What one search did.
#[derive(Clone, Debug)]
pub(crate) struct SearchReport {
    pub outcome: Outcome,
    pub steps: u64,
    pub cache_entries: u64,
    /// Filled when tracking was asked for.
    pub deepest: Option<Deepest>,
    /// A witness linearization when linearizable and tracking was asked for.
    pub witness: Option<Vec<u32>>,
}

/// SplitMix64 finaliser: a fixed, portable 64-bit mixer.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The set of explored configurations: an open-addressing hash table over an arena of
/// `(state, bitset words...)` records. Looked up and inserted only, never iterated.
struct Cache {
    words: usize,
    arena: Vec<u64>,
    /// `(hash, record index + 1)`; index 0 means an empty slot.
    slots: Vec<(u64, u32)>,
    len: u64,
}

impl Cache {
    fn new(words: usize) -> Cache {
        Cache {
            words,
            arena: Vec::new(),
            slots: vec![(0, 0); 1024],
            len: 0,
        }
    }

    fn record(&self, index: u32) -> &[u64] {
        let stride = self.words + 1;
        let start = (index as usize - 1) * stride;
        &self.arena[start..start + stride]
    }

    /// Inserts `(state, bits | bit)`; returns false if it was already present.
    #[inline]
    fn insert(&mut self, hash: u64, state: u64, bits: &[u64], word: usize, mask: u64) -> bool {
        let slot_mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & slot_mask;
        loop {
            let (slot_hash, index) = self.slots[slot];
            if index == 0 {
                break;
            }
            if slot_hash == hash {
                let record = self.record(index);
                if record[0] == state
                    && record[1..]
                        .iter()
                        .zip(bits)
                        .enumerate()
                        .all(|(i, (&a, &b))| a == if i == word { b | mask } else { b })
                {
                    return false;
                }
            }
            slot = (slot + 1) & slot_mask;
        }
        self.len += 1;
        let index = self.len as u32;
        self.arena.push(state);
        let start = self.arena.len();
        self.arena.extend_from_slice(bits);
        self.arena[start + word] |= mask;
        self.slots[slot] = (hash, index);
        if self.len * 2 > self.slots.len() as u64 {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mut slots = vec![(0u64, 0u32); capacity];
        let mask = capacity - 1;
        for &(hash, index) in &self.slots {
            if index == 0 {
                continue;
            }
            let mut slot = (hash as usize) & mask;
            while slots[slot].1 != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = (hash, index);
        }
        self.slots = slots;
    }
}

/// Checks one partition. `calls[i]` and `returns[i]` are the real-time positions of operation
/// `i`'s invocation and completion ([`END`] for an operation that stays open to the end).
/// Positions of distinct entries must be distinct except for [`END`].
pub(crate) fn search<S: Spec>(
    spec: &mut S,
    calls: &[u64],
    returns: &[u64],
    limits: Limits,
    track: bool,
) -> SearchReport {
    let n = calls.len();
    assert_eq!(n, returns.len(), "calls and returns differ in length");
    let mut report = SearchReport {
        outcome: Outcome::Linearizable,
        steps: 0,
        cache_entries: 0,
        deepest: if track {
            Some(Deepest {
                order: Vec::new(),
                state: spec.init(),
            })
        } else {
            None
        },
        witness: if track { Some(Vec::new()) } else { None },
    };
    if n == 0 {
        return report;
    }
    assert!(
        n < (u32::MAX / 2) as usize,
        "too many operations in one partition: {n}"
    );

    // Entries 1..=2n: call of op i is entry, return is another; 0 is the head sentinel.
    // Sort by (position, is_return, op) so that synthetic END returns come last in op order.
    let mut order: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
    for i in 0..n {
        assert!(
            calls[i] < returns[i],
            "op {i}: call {} not before return {}",
            calls[i],
            returns[i]
        );
        order.push((calls[i], 0, i as u32));
        order.push((returns[i], 1, i as u32));
    }
    order.sort_unstable();
    let size = 2 * n + 1;
    let mut next = vec![NIL; size];
    let mut prev = vec![NIL; size];
    let mut entry_op = vec![0u32; size];
    let mut is_call = vec![false; size];
    let mut matching = vec![0u32; size];
    let mut call_entry = vec![0u32; n];
    for (k, &(_, kind, op)) in order.iter().enumerate() {
        let entry = k + 1;
        entry_op[entry] = op;
        is_call[entry] = kind == 0;
        if kind == 0 {
            call_entry[op as usize] = entry as u32;
        } else {
            let call = call_entry[op as usize] as usize;
            matching[call] = entry as u32;
        }
        prev[entry] = k as u32;
        next[k] = entry as u32;
    }

    let words = n.div_ceil(64);
    let zobrist: Vec<u64> = (0..n as u64)
        .map(|i| mix64(i.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0x5851_F42D))
        .collect();
    let mut cache = Cache::new(words);
    let mut bits = vec![0u64; words];
    let mut set_hash = 0u64;
    let mut state = spec.init();
    let mut max_depth = 0usize;

    // Observations (reads, failed compares, read-only transactions) do not change the state.
    // If one can go next it may as well go now: from any linearization that places it later,
    // moving it to now keeps every other operation's state and every real-time constraint (it
    // is a candidate, so everything that must precede it already has). So at each new
    // configuration they are taken greedily, and when a greedy choice fails, the
    // configuration it was taken in fails too (no alternative needs trying). Ordinary scans
    // then skip observations: at this configuration they were all found illegal.
    let observation: Vec<bool> = (0..n as u32).map(|op| spec.is_observation(op)).collect();
    // Stack entries: (call entry, state before it, taken greedily).
    let mut stack: Vec<(u32, u64, bool)> = Vec::with_capacity(n);
    let mut fresh = true;
    let mut entry = next[0];
    'search: while next[0] != NIL {
        let mut must_backtrack = false;
        if fresh {
            fresh = false;
            let mut e = next[0];
            while e != NIL && is_call[e as usize] {
                let op = entry_op[e as usize];
                if observation[op as usize] {
                    if report.steps >= limits.steps_max {
                        report.outcome = Outcome::Unknown(GaveUp::Steps);
                        break 'search;
                    }
                    report.steps += 1;
                    if spec.step(state, op).is_some() {
                        let word = op as usize / 64;
                        let mask = 1u64 << (op % 64);
                        let new_hash = set_hash ^ zobrist[op as usize];
                        if cache.len >= limits.cache_entries_max {
                            report.outcome = Outcome::Unknown(GaveUp::Cache);
                            break 'search;
                        }
                        if !cache.insert(new_hash ^ mix64(state), state, &bits, word, mask) {
                            // Explored before and failed, so this configuration fails too.
                            must_backtrack = true;
                            break;
                        }
                        stack.push((e, state, true));
                        bits[word] |= mask;
                        set_hash = new_hash;
                        lift(&mut next, &mut prev, &matching, e as usize);
                        if track && stack.len() > max_depth {
                            max_depth = stack.len();
                            record_deepest(&mut report, &stack, &entry_op, state);
                        }
                        fresh = true;
                        entry = next[0];
                        continue 'search;
                    }
                }
                e = next[e as usize];
            }
            entry = next[0];
        }
        if !must_backtrack && is_call[entry as usize] {
            let e = entry as usize;
            let op = entry_op[e];
            if observation[op as usize] {
                entry = next[e];
                continue;
            }
            if report.steps >= limits.steps_max {
                report.outcome = Outcome::Unknown(GaveUp::Steps);
                break;
            }
            report.steps += 1;
            if let Some(new_state) = spec.step(state, op) {
                let word = op as usize / 64;
                let mask = 1u64 << (op % 64);
                let new_hash = set_hash ^ zobrist[op as usize];
                let hash = new_hash ^ mix64(new_state);
                if cache.len >= limits.cache_entries_max {
                    report.outcome = Outcome::Unknown(GaveUp::Cache);
                    break;
                }
                if cache.insert(hash, new_state, &bits, word, mask) {
                    stack.push((entry, state, false));
                    state = new_state;
                    bits[word] |= mask;
                    set_hash = new_hash;
                    lift(&mut next, &mut prev, &matching, e);
                    if track && stack.len() > max_depth {
                        max_depth = stack.len();
                        record_deepest(&mut report, &stack, &entry_op, state);
                    }
                    fresh = true;
                    entry = next[0];
                    continue;
                }
            }
            entry = next[e];
            continue;
        }
        // A return (or a failed configuration): undo up to the last non-greedy choice.
        loop {
            let Some((call, previous, greedy)) = stack.pop() else {
                report.outcome = Outcome::NotLinearizable;
                break 'search;
            };
            let c = call as usize;
            let op = entry_op[c];
            state = previous;
            bits[op as usize / 64] &= !(1u64 << (op % 64));
            set_hash ^= zobrist[op as usize];
            unlift(&mut next, &mut prev, &matching, c);
            if !greedy {
                entry = next[c];
                break;
            }
        }
    }
    report.cache_entries = cache.len;
    if report.outcome == Outcome::Linearizable {
        if let Some(witness) = report.witness.as_mut() {
            witness.extend(stack.iter().map(|&(c, _, _)| entry_op[c as usize]));
        }
    } else {
        report.witness = None;
    }
    report
}

/// Removes call entry `e` and its return from the list.
#[inline]
fn lift(next: &mut [u32], prev: &mut [u32], matching: &[u32], e: usize) {
    let r = matching[e] as usize;
    next[prev[e] as usize] = next[e];
    if next[e] != NIL {
        prev[next[e] as usize] = prev[e];
    }
    next[prev[r] as usize] = next[r];
    if next[r] != NIL {
        prev[next[r] as usize] = prev[r];
    }
}

/// Puts call entry `c` and its return back (the reverse of [`lift`]).
#[inline]
fn unlift(next: &mut [u32], prev: &mut [u32], matching: &[u32], c: usize) {
    let r = matching[c] as usize;
    if next[r] != NIL {
        prev[next[r] as usize] = r as u32;
    }
    next[prev[r] as usize] = r as u32;
    if next[c] != NIL {
        prev[next[c] as usize] = c as u32;
    }
    next[prev[c] as usize] = c as u32;
}

fn record_deepest(
    report: &mut SearchReport,
    stack: &[(u32, u64, bool)],
    entry_op: &[u32],
    state: u64,
) {
    let deepest = report.deepest.get_or_insert_with(Deepest::default);
    deepest.order.clear();
    deepest
        .order
        .extend(stack.iter().map(|&(c, _, _)| entry_op[c as usize]));
    deepest.state = state;
}
