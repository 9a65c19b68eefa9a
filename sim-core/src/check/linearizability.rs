//! The Wing–Gong search with Lowe's improvements, as in Porcupine: a doubly linked list of call
//! and return entries in real-time order, a stack of linearized calls with their previous
//! states, and a cache of every `(linearized set, model state)` pair already explored.
//!
//! At each configuration the search tries the operations whose call comes before the earliest
//! pending return (exactly those may take effect next). A successful model step whose
//! resulting configuration is new is taken ("lifted" out of the list); when the scan reaches a
//! return, the operation it belongs to cannot be linearized any more on this path, so the
//! search backtracks. The history is linearizable when the list becomes empty, and not
//! linearizable when a return is reached with nothing to undo. Tried by call time (the list's
//! order) and with no reductions, this is Porcupine's search, model step for model step (the
//! conformance test `porcupine_corpus_model_steps_at_most_porcupines` checks the counts
//! against the Porcupine MANIFEST).
//!
//! Four reductions, all sound:
//!
//! * The observation cut. Observations (reads, failed compares, read-only transactions) do
//!   not change the state, so when one is legal at a configuration, any linearization from
//!   there can be rearranged to take it first (it is a candidate, so everything that must
//!   precede it already has; moving it earlier changes no other operation's state). A
//!   configuration with a legal observation is therefore linearizable exactly when the
//!   configuration after that observation is; once that one fails, the remaining candidates
//!   are not tried.
//! * Interchangeable indeterminate operations go in call order. Two operations that never
//!   return (crashed, or never completed) and make the same transition in every state (say
//!   two crashed writes of 3) can swap places in any linearization: once both are candidates,
//!   every operation that must precede the later one must precede the earlier one too, and
//!   nothing must follow either. So the later one is a candidate only once the earlier one is
//!   linearized. A history with k such operations then has k + 1 ways to have taken some of
//!   them instead of 2^k.
//! * An indeterminate blind write goes only right before an operation that is not blind. A
//!   blind write (a register's `write`, a string store's `put`) is always legal and leaves a
//!   state that does not depend on the one before it. Take any linearization; while it has an
//!   indeterminate blind write followed by another blind write, or last, delete it: the state
//!   after the pair is the second write's anyway, the operations left keep their order (real
//!   time is respected), and an indeterminate operation may never have happened. So if any
//!   linearization exists, one exists in which every indeterminate blind write is followed by
//!   an operation that is not blind, and the search only builds those. A configuration right
//!   after an indeterminate blind write is "pending" (it may not continue with a blind write),
//!   which the cache keeps apart with one more bit in the linearized set, since it has fewer
//!   continuations than the same set and state reached otherwise. The observation cut stays
//!   sound: a legal observation is not blind, and a pending configuration is linearizable
//!   exactly when some non-blind candidate leads to a linearizable configuration, which by the
//!   cut's argument holds exactly when the one after the observation is. This turns a history
//!   of k crashed writes followed by reads of their values from 2^k configurations into about
//!   k² (a read has to come right after the write it saw). Only one-object searches use it: in
//!   a vector of objects, a write of one object is not blind for the vector.
//! * Dead ends. A pending observation whose return comes before every pending blind call can
//!   only be preceded by operations that are not blind; if those cannot take the state to
//!   one where it is legal (`Spec::may_reach`: a string store's text that is not a prefix of
//!   what the read saw can only grow), no linearization exists from here, and the
//!   configuration fails without trying its candidates. It costs no model step, so it never
//!   adds one to Porcupine's count. On Porcupine's kv `c50-ok` it cuts the search from 711 k
//!   model steps to 34 k (concurrent appends tried in orders a later read already rules out).
//!
//! The order ([`Order`]): a search starts in Porcupine's order, by call time, and if it has
//! not finished within [`SWITCH_STEPS`] model steps, it starts again from the beginning with
//! legal observations taken first (as soon as a configuration is new), keeping every failed
//! configuration in its cache. Neither order is better on every history, but:
//!
//! * In call order the reductions never add a model step to Porcupine's count: Porcupine
//!   expands each configuration at most once; at a failing one it tries every candidate, at a
//!   succeeding one the candidates up to the first whose configuration succeeds. Trying
//!   candidates in the same order follows the same succeeding path: the cut applies to
//!   failing configurations only, and a skipped interchangeable operation is never that first
//!   succeeding candidate (its earlier twin, before it in call order, succeeds whenever it
//!   does). By induction every configuration expanded is one Porcupine expands, with a subset
//!   of its candidates tried. So every search that finishes before the switch is at or below
//!   Porcupine's count.
//! * Observations first is far better on hard searches, whose readers would otherwise wait
//!   behind writers invoked earlier (crashed writes above all, which stay candidates to the
//!   end): etcd_002 takes 0.17 M steps against Porcupine's 1.18 M, a simulator history with
//!   many crashed writes 38 k against 0.54 M in call order. Restarting loses at most the
//!   switch point's worth of steps, less what the cache carries over.
//!
//! Speed: the linearized set is a bitset hashed incrementally (Zobrist: one fixed random word
//! per operation, XOR-ed in and out), so a cache look-up costs one probe plus, on a hash
//! match, one comparison of the bitset. Cache entries live in one arena (no allocation per
//! entry). Both the step count and the number of cache entries are bounded; reaching either
//! bound ends the search with `Unknown`, never with a verdict.

use super::hash::mix64;
use super::strings::Strings;

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
    /// True if operation `op` is always legal and leaves a state that does not depend on the
    /// state before it (a blind write).
    fn is_blind(&self, op: u32) -> bool {
        let _ = op;
        false
    }
    /// False if no sequence of operations that are not blind can take `state` to one where
    /// observation `op` is legal (the string store: its text is not a prefix of the read's).
    fn may_reach(&self, strings: &mut Strings, state: u64, op: u32) -> bool {
        let _ = (strings, state, op);
        true
    }
    /// True if `may_reach` can ever be false (else the search does not look for dead ends).
    fn has_dead_ends(&self) -> bool {
        false
    }
    /// Bytes the specification itself holds beyond its operations (interned state vectors),
    /// counted against the search's memory limit.
    fn bytes(&self) -> u64 {
        0
    }
}

/// Position of a return that never happened: after everything else.
pub(crate) const END: u64 = u64::MAX;

const NIL: u32 = u32::MAX;

/// Why a search gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GaveUp {
    /// The step budget ran out.
    Steps,
    /// The cache reached its entry limit.
    Cache,
    /// The search's memory (cache and interned states) reached its limit.
    Memory,
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

/// The set of explored configurations: an open-addressing hash table over an arena of
/// `(state, bitset words...)` records. Looked up, inserted and (rarely) forgotten, never
/// iterated.
struct Cache {
    words: usize,
    arena: Vec<u64>,
    /// `(hash, record index + 1)`; index 0 means an empty slot, [`FORGOTTEN`] a forgotten
    /// record (probing goes on past it).
    slots: Vec<(u64, u32)>,
    len: u64,
}

/// Slot mark of a forgotten record.
const FORGOTTEN: u32 = u32::MAX;

impl Cache {
    fn new(words: usize, operations: usize) -> Cache {
        // Small histories (the simulator checks one after every run) start small.
        let capacity = (operations * 4).next_power_of_two().clamp(16, 1024);
        Cache {
            words,
            arena: Vec::new(),
            slots: vec![(0, 0); capacity],
            len: 0,
        }
    }

    /// Bytes held: the arena and the slot table (what the cache's memory grows with).
    fn bytes(&self) -> u64 {
        (self.arena.capacity() * 8 + self.slots.len() * 16) as u64
    }

    fn record(&self, index: u32) -> &[u64] {
        let stride = self.words + 1;
        let start = (index as usize - 1) * stride;
        &self.arena[start..start + stride]
    }

    /// The slot holding `(state, bits with mask set in word)`, or else the empty slot where it
    /// would go.
    #[inline]
    fn find(
        &self,
        hash: u64,
        state: u64,
        bits: &[u64],
        word: usize,
        mask: u64,
    ) -> Result<usize, usize> {
        let slot_mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & slot_mask;
        loop {
            let (slot_hash, index) = self.slots[slot];
            if index == 0 {
                return Err(slot);
            }
            if slot_hash == hash && index != FORGOTTEN {
                let record = self.record(index);
                if record[0] == state
                    && record[1..]
                        .iter()
                        .zip(bits)
                        .enumerate()
                        .all(|(i, (&a, &b))| a == if i == word { b | mask } else { b })
                {
                    return Ok(slot);
                }
            }
            slot = (slot + 1) & slot_mask;
        }
    }

    /// Inserts `(state, bits | bit)`; returns false if it was already present.
    #[inline]
    fn insert(&mut self, hash: u64, state: u64, bits: &[u64], word: usize, mask: u64) -> bool {
        let Err(slot) = self.find(hash, state, bits, word, mask) else {
            return false;
        };
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

    /// Forgets `(state, bits)` if present (its record stays in the arena).
    fn forget(&mut self, hash: u64, state: u64, bits: &[u64]) {
        if let Ok(slot) = self.find(hash, state, bits, 0, 0) {
            self.slots[slot].1 = FORGOTTEN;
        }
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mut slots = vec![(0u64, 0u32); capacity];
        let mask = capacity - 1;
        for &(hash, index) in &self.slots {
            if index == 0 || index == FORGOTTEN {
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

/// A resumable search of one partition. `calls[i]` and `returns[i]` are the real-time
/// positions of operation `i`'s invocation and completion ([`END`] for an operation that stays
/// open to the end); positions of distinct entries must be distinct except for [`END`].
///
/// [`Searcher::resume`] runs until a verdict or until its step allowance is used up, and can
/// be called again to continue: the caller interleaves partitions with growing allowances so
/// that an easy violation in one object is found before a hard object exhausts the budget.
pub(crate) struct Searcher<S: Spec> {
    pub spec: S,
    next: Vec<u32>,
    prev: Vec<u32>,
    entry_op: Vec<u32>,
    is_call: Vec<bool>,
    matching: Vec<u32>,
    observation: Vec<bool>,
    zobrist: Vec<u64>,
    cache: Cache,
    bits: Vec<u64>,
    set_hash: u64,
    state: u64,
    /// The steps taken, in order.
    stack: Vec<Frame>,
    /// The entry the scan of the current configuration is at.
    entry: u32,
    /// The current configuration is new: its observations have not been tried yet (only in
    /// [`Order::ObservationsFirst`]).
    fresh: bool,
    order: Order,
    /// The step count at which [`Order::Calls`] gives way to [`Order::ObservationsFirst`].
    switch_at: u64,
    initial: u64,
    /// Apply the observation cut (off, with no twins: Porcupine's search, step for step).
    cut: bool,
    /// Per operation: the interchangeable indeterminate operation it must follow, or NIL.
    twin_before: Vec<u32>,
    /// Look for dead ends (with the reductions on, for a specification that has them).
    dead_ends: bool,
    /// Per operation: a blind write (with the reductions on; else none is).
    blind: Vec<bool>,
    /// Per operation: an indeterminate blind write, after which only an operation that is not
    /// blind may go (the configuration is then "pending": bit `n` of `bits`).
    overwriter: Vec<bool>,
    /// Per operation: it has a return (it is not indeterminate).
    completes: Vec<bool>,
    /// Operations with a return not linearized yet.
    completed_left: u32,
    /// The bit of `bits` that marks a pending configuration, and its Zobrist word.
    pending_bit: usize,
    pending_zobrist: u64,
    max_depth: usize,
    track: bool,
    /// The verdict once known.
    pub outcome: Option<Outcome>,
    pub report: SearchReport,
}

impl<S: Spec> Searcher<S> {
    pub fn new(
        mut spec: S,
        strings: &mut Strings,
        calls: &[u64],
        returns: &[u64],
        track: bool,
        reductions: bool,
        switch_steps: u64,
    ) -> Self {
        let n = calls.len();
        assert_eq!(n, returns.len(), "calls and returns differ in length");
        assert!(
            n < (u32::MAX / 2) as usize,
            "too many operations in one partition: {n}"
        );
        let initial = spec.init(strings);
        // Entries 1..=2n; 0 is the head sentinel. Sorted by (position, is_return, op) so that
        // synthetic END returns come last, in op order.
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
                matching[call_entry[op as usize] as usize] = entry as u32;
            }
            prev[entry] = k as u32;
            next[k] = entry as u32;
        }
        // One bit per operation and one for "pending" (see `overwriter`).
        let words = (n + 1).div_ceil(64);
        let observation = (0..n as u32).map(|op| spec.is_observation(op)).collect();
        let mut twin_before = vec![NIL; n];
        if reductions {
            let mut open: Vec<([u64; 4], u64, u32)> = (0..n as u32)
                .filter(|&op| returns[op as usize] == END)
                .filter_map(|op| Some((spec.effect_key(op)?, calls[op as usize], op)))
                .collect();
            open.sort_unstable();
            for pair in open.windows(2) {
                if pair[0].0 == pair[1].0 {
                    twin_before[pair[1].2 as usize] = pair[0].2;
                }
            }
        }
        let zobrist: Vec<u64> = (0..=n as u64)
            .map(|i| mix64(i.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0x5851_F42D))
            .collect();
        let blind: Vec<bool> = (0..n as u32)
            .map(|op| reductions && spec.is_blind(op))
            .collect();
        let overwriter = (0..n).map(|op| blind[op] && returns[op] == END).collect();
        let entry = next[0];
        let dead_ends = reductions && spec.has_dead_ends();
        Searcher {
            spec,
            next,
            prev,
            entry_op,
            is_call,
            matching,
            observation,
            zobrist: zobrist[..n].to_vec(),
            cache: Cache::new(words, n),
            bits: vec![0u64; words],
            set_hash: 0,
            state: initial,
            stack: Vec::with_capacity(n),
            entry,
            fresh: false,
            order: Order::Calls,
            switch_at: if reductions { switch_steps } else { u64::MAX },
            initial,
            cut: reductions,
            twin_before,
            dead_ends,
            blind,
            overwriter,
            completes: returns.iter().map(|&r| r != END).collect(),
            completed_left: returns.iter().filter(|&&r| r != END).count() as u32,
            pending_bit: n,
            pending_zobrist: zobrist[n],
            max_depth: 0,
            track,
            outcome: if n == 0 {
                Some(Outcome::Linearizable)
            } else {
                None
            },
            report: SearchReport {
                outcome: Outcome::Linearizable,
                steps: 0,
                cache_entries: 0,
                deepest: track.then(|| Deepest {
                    order: Vec::new(),
                    state: initial,
                }),
                witness: None,
            },
        }
    }

    /// Cache entries held.
    pub fn cache_entries(&self) -> u64 {
        self.cache.len
    }

    fn record_deepest(&mut self) {
        if self.track && self.stack.len() > self.max_depth {
            self.max_depth = self.stack.len();
            let deepest = self.report.deepest.get_or_insert_with(Deepest::default);
            deepest.order.clear();
            deepest.order.extend(
                self.stack
                    .iter()
                    .map(|frame| self.entry_op[frame.call as usize]),
            );
            deepest.state = self.state;
        }
    }

    /// Bytes the search holds that grow while it runs: the cache and the specification's
    /// interned states.
    pub fn bytes(&self) -> u64 {
        self.cache.bytes() + self.spec.bytes()
    }

    /// Continues the search for at most `steps` more model steps, within `room` (cache
    /// entries and bytes). Returns the verdict once known (`Unknown` only for the cache or
    /// memory limit); `None` means the step allowance ran out first.
    pub fn resume(&mut self, strings: &mut Strings, steps: u64, room: Room) -> Option<Outcome> {
        if let Some(outcome) = &self.outcome {
            return Some(outcome.clone());
        }
        let steps_max = self.report.steps.saturating_add(steps);
        let outcome = loop {
            let limit = match self.order {
                Order::Calls => steps_max.min(self.switch_at),
                Order::ObservationsFirst => steps_max,
            };
            let outcome = self.run(strings, limit, room);
            if outcome.is_none() && self.order == Order::Calls && self.report.steps < steps_max {
                self.switch_order();
                continue;
            }
            break outcome;
        };
        self.report.cache_entries = self.cache.len;
        if let Some(outcome) = &outcome {
            self.report.outcome = outcome.clone();
            if *outcome == Outcome::Linearizable && self.track {
                self.report.witness = Some(
                    self.stack
                        .iter()
                        .map(|frame| self.entry_op[frame.call as usize])
                        .collect(),
                );
            }
            self.outcome = Some(outcome.clone());
        }
        outcome
    }

    /// Starts again from the initial configuration in [`Order::ObservationsFirst`], keeping
    /// what the cache knows: every configuration in it has failed, except those on the stack
    /// (still being explored), which it forgets.
    fn switch_order(&mut self) {
        while !self.stack.is_empty() {
            self.cache
                .forget(self.set_hash ^ mix64(self.state), self.state, &self.bits);
            self.undo();
        }
        debug_assert_eq!(
            self.state, self.initial,
            "back at the initial configuration"
        );
        self.order = Order::ObservationsFirst;
        self.fresh = true;
        self.entry = self.next[0];
    }

    /// Takes the step of call entry `e` (operation `op`) into configuration `new_state`:
    /// false if that configuration was explored before.
    #[inline]
    fn enter(&mut self, e: u32, op: u32, new_state: u64, decisive: bool) -> bool {
        let word = op as usize / 64;
        let mask = 1u64 << (op % 64);
        let was_pending = self.pending();
        let pending = self.overwriter[op as usize] && self.order == Order::ObservationsFirst;
        if pending != was_pending {
            self.toggle_pending();
        }
        let new_hash = self.set_hash ^ self.zobrist[op as usize];
        if !self.cache.insert(
            new_hash ^ mix64(new_state),
            new_state,
            &self.bits,
            word,
            mask,
        ) {
            if pending != was_pending {
                self.toggle_pending();
            }
            return false;
        }
        self.completed_left -= u32::from(self.completes[op as usize]);
        self.stack.push(Frame {
            call: e,
            previous: self.state,
            decisive,
            was_pending,
        });
        self.state = new_state;
        self.bits[word] |= mask;
        self.set_hash = new_hash;
        lift(&mut self.next, &mut self.prev, &self.matching, e as usize);
        self.record_deepest();
        true
    }

    /// Undoes the last step taken (the reverse of [`Searcher::enter`]): returns its call entry
    /// and whether it was decisive.
    #[inline]
    fn undo(&mut self) -> Option<(u32, bool)> {
        let frame = self.stack.pop()?;
        let op = self.entry_op[frame.call as usize];
        self.completed_left += u32::from(self.completes[op as usize]);
        self.state = frame.previous;
        self.bits[op as usize / 64] &= !(1u64 << (op % 64));
        self.set_hash ^= self.zobrist[op as usize];
        if self.pending() != frame.was_pending {
            self.toggle_pending();
        }
        unlift(
            &mut self.next,
            &mut self.prev,
            &self.matching,
            frame.call as usize,
        );
        Some((frame.call, frame.decisive))
    }

    /// The current configuration follows an indeterminate blind write: the next operation
    /// must not be blind.
    #[inline]
    fn pending(&self) -> bool {
        self.bits[self.pending_bit / 64] & (1u64 << (self.pending_bit % 64)) != 0
    }

    #[inline]
    fn toggle_pending(&mut self) {
        self.bits[self.pending_bit / 64] ^= 1u64 << (self.pending_bit % 64);
        self.set_hash ^= self.pending_zobrist;
    }

    /// One model step of call entry `e` (operation `op`) from the current configuration,
    /// entering the configuration it leads to if that one is new. `Err` stops the search:
    /// `None` when the step allowance is used up, the `Unknown` outcome at a limit of `room`.
    #[inline]
    fn attempt(
        &mut self,
        strings: &mut Strings,
        e: u32,
        op: u32,
        decisive: bool,
        steps_max: u64,
        room: Room,
    ) -> Result<Attempt, Option<Outcome>> {
        if self.report.steps >= steps_max {
            return Err(None);
        }
        self.report.steps += 1;
        let Some(new_state) = self.spec.step(strings, self.state, op) else {
            return Ok(Attempt::Illegal);
        };
        if self.cache.len >= room.entries {
            return Err(Some(Outcome::Unknown(GaveUp::Cache)));
        }
        // The byte count moves only when the cache grows, so checking it every 1024 entries
        // keeps the overshoot below one growth step of the cache.
        if self.cache.len % 1024 == 0 && self.bytes() >= room.bytes {
            return Err(Some(Outcome::Unknown(GaveUp::Memory)));
        }
        Ok(if self.enter(e, op, new_state, decisive) {
            Attempt::Entered
        } else {
            Attempt::Explored
        })
    }

    /// True if the current configuration cannot be linearizable because of a pending
    /// observation: when no blind operation can go before it (no blind operation's call
    /// comes before its return), the state can only move by operations that are not blind
    /// until it goes, so it must be able to reach one where it is legal (`Spec::may_reach`).
    /// The list is in real-time order, so the observations in question are those whose
    /// returns come before the first blind call in it. Costs no model step.
    fn dead_end(&mut self, strings: &mut Strings) -> bool {
        let mut e = self.next[0];
        while e != NIL {
            let op = self.entry_op[e as usize];
            if self.is_call[e as usize] {
                if self.blind[op as usize] {
                    return false;
                }
            } else if self.observation[op as usize] && !self.spec.may_reach(strings, self.state, op)
            {
                return true;
            }
            e = self.next[e as usize];
        }
        false
    }

    fn run(&mut self, strings: &mut Strings, steps_max: u64, room: Room) -> Option<Outcome> {
        while self.next[0] != NIL {
            let mut failed = false;
            if self.fresh {
                // Take every legal observation now, in call order (each one's configuration
                // decides this one's); the scan after a take goes on from the taken entry's
                // successor in the list as it is now, as the state is the same.
                let mut e = self.next[0];
                while e != NIL && self.is_call[e as usize] {
                    let op = self.entry_op[e as usize];
                    if self.cut && self.observation[op as usize] {
                        match self.attempt(strings, e, op, true, steps_max, room) {
                            Err(stop) => return stop,
                            Ok(Attempt::Entered) => {
                                e = self.next[self.prev[e as usize] as usize];
                                continue;
                            }
                            Ok(Attempt::Explored) => {
                                failed = true;
                                break;
                            }
                            Ok(Attempt::Illegal) => {}
                        }
                    }
                    e = self.next[e as usize];
                }
                self.fresh = false;
                self.entry = self.next[0];
                if !failed && self.entry == NIL {
                    break;
                }
            }
            if !failed {
                let entry = self.entry;
                let e = entry as usize;
                // A return: every candidate of this configuration has been tried.
                failed = !self.is_call[e];
                if !failed {
                    let op = self.entry_op[e];
                    let twin = self.twin_before[op as usize];
                    let observation = self.cut && self.observation[op as usize];
                    if (twin != NIL && self.bits[twin as usize / 64] & (1u64 << (twin % 64)) == 0)
                        || (observation && self.order == Order::ObservationsFirst)
                        || (self.blind[op as usize] && self.pending() && self.completed_left > 0)
                    {
                        // An interchangeable operation waits for its twin; observations were
                        // all tried when this configuration was new; a blind write may not
                        // follow an indeterminate blind write.
                        self.entry = self.next[e];
                        continue;
                    }
                    match self.attempt(strings, entry, op, observation, steps_max, room) {
                        Err(stop) => return stop,
                        Ok(Attempt::Entered) if !self.dead_ends || !self.dead_end(strings) => {
                            self.entry = self.next[0];
                            self.fresh = self.order == Order::ObservationsFirst;
                            continue;
                        }
                        // A dead end fails like a configuration explored before.
                        Ok(Attempt::Entered) => failed = true,
                        // Explored before (and failed: it is not on the stack, its set is not
                        // a prefix of ours); for a legal observation that decides this one
                        // too.
                        Ok(Attempt::Explored) => failed = observation,
                        Ok(Attempt::Illegal) => {}
                    }
                    if !failed {
                        self.entry = self.next[e];
                        continue;
                    }
                }
            }
            // Undo the step into this configuration, and the one before it for as long as
            // they were decisive; the scan goes on after the last undone call.
            loop {
                let Some((call, decisive)) = self.undo() else {
                    return Some(Outcome::NotLinearizable);
                };
                if !decisive {
                    self.entry = self.next[call as usize];
                    self.fresh = false;
                    break;
                }
            }
        }
        Some(Outcome::Linearizable)
    }
}

/// One step taken by the search.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// The call entry linearized.
    call: u32,
    /// The state before it.
    previous: u64,
    /// A decisive step is a legal observation, whose configuration fails exactly when the one
    /// before it does.
    decisive: bool,
    /// Whether the configuration before it was pending.
    was_pending: bool,
}

/// How much a search may still grow: cache entries and bytes (cache plus interned states).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Room {
    pub entries: u64,
    pub bytes: u64,
}

/// What one model step from the current configuration did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    /// The operation is illegal in the current state.
    Illegal,
    /// Legal, but the configuration it leads to was explored before.
    Explored,
    /// Legal and new: the search is now in it.
    Entered,
}

/// The order candidates are tried in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// Porcupine's: by call time.
    Calls,
    /// Legal observations first, as soon as a configuration is new; then the rest by call
    /// time.
    ObservationsFirst,
}

/// Model steps a partition's search makes in [`Order::Calls`] before it switches to
/// [`Order::ObservationsFirst`]. Searches this small take well under a millisecond in either
/// order; those that go on are the hard ones, where taking observations first saves most
/// (etcd_002: 0.2 M steps against Porcupine's 1.2 M; simulator histories with many crashed
/// writes: 20 k against 0.5 M). On the corpus any switch point from 2 k to 64 k steps keeps
/// every file at or below Porcupine's count; 1 k does not (etcd_056).
pub(crate) const SWITCH_STEPS: u64 = 4096;

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
