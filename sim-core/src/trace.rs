//! The trace digest: a stable 64-bit fingerprint of everything a run did.
//!
//! Every applied event (delivery, timer, fault, client step) feeds its kind, time and the ids
//! involved into a [`Digest`]; so do client replies and observations. Two runs of the same
//! scenario, seed and build must end with the same digest on any machine and any thread count.
//! The mixing function is our own (a multiply–xorshift over 64-bit words), never
//! `DefaultHasher` or `RandomState`, whose output may change between Rust releases.

/// A running 64-bit digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    state: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest::new()
    }
}

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

impl Digest {
    /// A fresh digest.
    pub const fn new() -> Digest {
        Digest {
            state: 0x243F_6A88_85A3_08D3,
        }
    }

    /// Mixes one 64-bit word in.
    #[inline]
    pub fn word(&mut self, word: u64) {
        let mixed = (self.state ^ word).wrapping_mul(MULTIPLIER);
        self.state = mixed ^ (mixed >> 29);
    }

    /// Mixes bytes in (length first, so concatenations differ).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        for chunk in bytes.chunks(8) {
            let mut buffer = [0u8; 8];
            buffer[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(buffer));
        }
    }

    /// Mixes a string in.
    pub fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    /// The digest so far (finalised, so that similar states do not give similar values).
    pub fn value(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        z = (z ^ (z >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        z ^ (z >> 33)
    }
}

/// Formats a digest the way reports print it: 16 lowercase hex digits.
pub fn format_digest(value: u64) -> String {
    format!("{value:016x}")
}

/// "No line": a trace line with no predecessor of that kind.
pub const NO_LINE: u32 = u32::MAX;

/// Why each trace line happened (kept only when tracing), for `replay --trace --focus`.
///
/// An *event* (a delivery, a timer firing, a sync completing, an invoke, a completion, a
/// fault) heads a group of lines: what its handler observed follows it. A head line names at
/// most two causes: the event that sent the message delivered, and the event that set the
/// timer that fired or asked for the sync that completed (disk records). The other lines of
/// the group name their head. Program order on a node is *not* an edge: with heartbeats every
/// event of a run would then precede every later one, and the focus would be the whole trace.
/// So the causal past of a line ([`Causality::past`]) is the chain of events that made it
/// happen, not everything that shaped the node's state; faults are on no node.
#[derive(Clone, Debug, Default)]
pub struct Causality {
    /// Per trace line: its causes, [`NO_LINE`] where it has none.
    pub causes: Vec<[u32; 2]>,
    /// The trace line of each history event (an invoke or a completion), in history order.
    pub history_lines: Vec<u32>,
    /// The last head line of each actor (nodes, then clients).
    last: Vec<u32>,
    /// The actor of the event being handled; `None`: no actor (a fault, the first boot).
    actor: Option<usize>,
    /// The head line of the event being handled.
    current: u32,
    /// The next line heads a new event.
    head_pending: bool,
    /// The next head's causes: the send of the message it delivers, and the line that set its
    /// timer or asked for its sync.
    message: u32,
    setter: u32,
    /// Send lines of messages in flight, by their queue sequence number.
    in_flight: std::collections::BTreeMap<u64, u32>,
    /// Lines that set timers and asked for syncs, by (actor, timer id or sync token).
    timers: std::collections::BTreeMap<(usize, u64), u32>,
    syncs: std::collections::BTreeMap<(usize, u64), u32>,
}

impl Causality {
    /// For `actors` actors (nodes, then clients).
    pub fn new(actors: usize) -> Causality {
        Causality {
            last: vec![NO_LINE; actors],
            current: NO_LINE,
            message: NO_LINE,
            setter: NO_LINE,
            ..Causality::default()
        }
    }

    /// A new event on `actor` (`None`: on no actor) delivers the message queued as `delivered`
    /// (its sequence number), if any; its first line is its head.
    pub fn on(&mut self, actor: Option<usize>, delivered: Option<u64>) {
        self.actor = actor;
        self.head_pending = true;
        self.message = delivered
            .and_then(|seq| self.in_flight.remove(&seq))
            .unwrap_or(NO_LINE);
        self.setter = NO_LINE;
    }

    /// A timer of `actor` fires: the event that set it is a cause.
    pub fn on_timer(&mut self, actor: usize, timer: u64) {
        self.on(Some(actor), None);
        self.setter = self.timers.remove(&(actor, timer)).unwrap_or(NO_LINE);
    }

    /// A sync of `actor` completes: the event that asked for it (and wrote its records) is a
    /// cause.
    pub fn on_synced(&mut self, actor: usize, token: u64) {
        self.on(Some(actor), None);
        self.setter = self.syncs.remove(&(actor, token)).unwrap_or(NO_LINE);
    }

    /// A client retries its open request (its retry wake fired): its previous event (the
    /// invoke, or the last retry) is a cause, and the retry sends the request again.
    pub fn on_retry(&mut self, actor: usize) {
        self.on(Some(actor), None);
        self.setter = self.last[actor];
    }

    /// The event being handled sets timer `timer` of `actor`.
    pub fn timer_set(&mut self, actor: usize, timer: u64) {
        self.timers.insert((actor, timer), self.current);
    }

    /// The event being handled asks for sync `token` of `actor`.
    pub fn sync_asked(&mut self, actor: usize, token: u64) {
        self.syncs.insert((actor, token), self.current);
    }

    /// A message queued as `seq` was sent: by the event being handled, or, from a client
    /// (`client`), by the client's latest event (a retry has no line of its own).
    pub fn sent(&mut self, seq: u64, from: usize, client: bool) {
        let line = if client {
            self.last[from]
        } else {
            self.current
        };
        if line != NO_LINE {
            self.in_flight.insert(seq, line);
        }
    }

    /// A line was traced.
    pub fn traced(&mut self) {
        let line = u32::try_from(self.causes.len()).expect("under 2^32 trace lines");
        if self.head_pending {
            self.head_pending = false;
            self.causes.push([self.setter, self.message]);
            self.current = line;
            if let Some(actor) = self.actor {
                self.last[actor] = line;
            }
            self.message = NO_LINE;
            self.setter = NO_LINE;
        } else {
            self.causes.push([self.current, NO_LINE]);
        }
    }

    /// The line just traced is the next history event.
    pub fn history_event(&mut self) {
        if let Some(line) = self.causes.len().checked_sub(1) {
            self.history_lines.push(line as u32);
        }
    }

    /// Whether each line happens before (or is) one of `from`: both edges followed back.
    pub fn past(&self, from: &[u32]) -> Vec<bool> {
        let mut seen = vec![false; self.causes.len()];
        let mut stack: Vec<u32> = from.to_vec();
        while let Some(line) = stack.pop() {
            let Some(mark) = seen.get_mut(line as usize) else {
                continue;
            };
            if *mark {
                continue;
            }
            *mark = true;
            stack.extend(
                self.causes[line as usize]
                    .iter()
                    .filter(|&&cause| cause != NO_LINE),
            );
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_pinned_and_order_sensitive() {
        let mut a = Digest::new();
        a.word(1);
        a.word(2);
        let mut b = Digest::new();
        b.word(2);
        b.word(1);
        assert_ne!(a.value(), b.value());
        let mut c = Digest::new();
        c.str("raft");
        // Pinned: a change to the mixing function changes every golden digest.
        assert_eq!(format_digest(c.value()), PINNED_RAFT);
    }

    const PINNED_RAFT: &str = "1b07e791cadc12c4";

    #[test]
    fn the_past_follows_messages_timers_and_syncs_only() {
        // n0 (actor 0) sends to n1 (actor 1); n2 (actor 2) does something unrelated.
        let mut causality = Causality::new(3);
        causality.on(Some(0), None);
        causality.traced(); // 0: n0 timer
        causality.sent(7, 0, false);
        causality.timer_set(0, 3);
        causality.on(Some(2), None);
        causality.traced(); // 1: n2 timer
        causality.on(None, None);
        causality.traced(); // 2: a fault
        causality.on(Some(1), Some(7));
        causality.traced(); // 3: n1 receives n0's message
        causality.traced(); // 4: n1 observes
        causality.history_event();
        causality.sync_asked(1, 9);
        causality.on_timer(0, 3);
        causality.traced(); // 5: n0's timer set at line 0 fires
        causality.on(Some(1), None);
        causality.traced(); // 6: n1 again: no edge to its earlier events
        causality.on_synced(1, 9);
        causality.traced(); // 7: n1's sync asked at line 3 completes
        assert_eq!(causality.causes[3], [NO_LINE, 0]);
        assert_eq!(causality.causes[4], [3, NO_LINE]);
        assert_eq!(causality.causes[5], [0, NO_LINE]);
        assert_eq!(causality.causes[6], [NO_LINE, NO_LINE]);
        assert_eq!(causality.causes[7], [3, NO_LINE]);
        assert_eq!(causality.history_lines, vec![4]);
        let past = |line| causality.past(&[line]);
        assert_eq!(
            past(4),
            vec![true, false, false, true, true, false, false, false]
        );
        assert_eq!(
            past(1),
            vec![false, true, false, false, false, false, false, false]
        );
        assert_eq!(
            past(7),
            vec![true, false, false, true, false, false, false, true]
        );
    }
}
