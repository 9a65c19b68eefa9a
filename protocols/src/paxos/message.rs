//! Multi-Paxos vocabulary (Lamport, *Paxos Made Simple*, §2–3): ballots, slots, values,
//! proposals, the messages of the two phases, timers and the acceptor's disk records.

use crate::apps::{Command, ProposedCommand};
use sim_core::id::NodeId;
use std::fmt;
use std::sync::Arc;

/// How many bits of [`Ballot::epoch`] hold the proposer's node id.
const EPOCH_NODE_BITS: u32 = 16;

/// A ballot ("proposal number" in Paxos Made Simple §2.2): a round chosen by one proposer,
/// made unique by the proposer's id. Ballots are ordered by round, then node, so two proposers
/// never issue the same ballot and every proposer can always pick a higher one.
///
/// Round 0 is [`Ballot::ZERO`], below every ballot a proposer issues (their rounds start at 1):
/// it is the promise of an acceptor that has promised nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    /// The round: a proposer picks one above every round it has seen.
    pub round: u64,
    /// The proposer that owns the ballot.
    pub node: NodeId,
}

impl Ballot {
    /// Below every issued ballot: nothing promised, nothing accepted.
    pub const ZERO: Ballot = Ballot {
        round: 0,
        node: NodeId(0),
    };

    /// The ballot of `node` in `round`.
    ///
    /// # Panics
    /// If `round` is 0 (reserved for [`Ballot::ZERO`]) or does not fit [`Ballot::epoch`].
    pub fn new(round: u64, node: NodeId) -> Ballot {
        assert!(round > 0, "round 0 is reserved for Ballot::ZERO");
        assert!(
            round < 1 << (64 - EPOCH_NODE_BITS),
            "round {round} overflows the epoch"
        );
        assert!(
            node.0 < 1 << EPOCH_NODE_BITS,
            "{node} does not fit the epoch's node bits"
        );
        Ballot { round, node }
    }

    /// The ballot as one integer that orders exactly like the ballot: `round << 16 | node`.
    /// Commands are stamped with it (`apps::Stamp::epoch`), which must grow with leadership.
    pub fn epoch(self) -> u64 {
        self.round << EPOCH_NODE_BITS | u64::from(self.node.0)
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}.{}", self.round, self.node.0)
    }
}

/// One instance of the consensus algorithm: position `slot` of the sequence of chosen values
/// (§3's "instance"). Slots count from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u64);

impl Slot {
    /// The first slot.
    pub const FIRST: Slot = Slot(1);

    /// The slot after this one.
    pub fn next(self) -> Slot {
        Slot(self.0.checked_add(1).expect("slot overflowed u64"))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// What a slot holds once chosen: a client command, or the no-op a new leader proposes to fill
/// a gap (§3: "it fills the gaps ... by proposing a special no-op command").
///
/// A command is shared, not copied: the same proposal sits in every message that carries it,
/// in each acceptor's state and disk, and in each learner's chosen prefix, and it never
/// changes once proposed. Build one with [`Value::command`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Leaves the state unchanged.
    Noop,
    /// A client command for the replicated application.
    Command(Arc<ProposedCommand>),
}

impl Value {
    /// The value of a client command.
    pub fn command(command: Command) -> Value {
        Value::Command(ProposedCommand::new(command))
    }

    /// A stable digest of the value, for the agreement and state-machine checks: two
    /// proposals carry the same value iff their digests are equal.
    pub fn digest(&self) -> u64 {
        match self {
            Value::Noop => crate::apps::noop_digest(),
            Value::Command(proposed) => proposed.digest(),
        }
    }
}

/// A proposal as an acceptor accepted it: a ballot and the value proposed in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The ballot in which the value was proposed.
    pub ballot: Ballot,
    /// The value.
    pub value: Value,
}

/// The messages between replicas. Each carries the ballot it concerns; the comments name the
/// phase of Paxos Made Simple §2.2 it implements.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// Phase 1a, for every slot from `first_unchosen` on at once (§3): promise not to accept
    /// proposals below `ballot`, and report what you accepted.
    Prepare {
        /// The proposer's new ballot.
        ballot: Ballot,
        /// The proposer's first slot not known chosen; lower slots are not asked about.
        first_unchosen: Slot,
    },
    /// Phase 1b: the promise, with the last proposal the acceptor accepted in every slot from
    /// the prepare's `first_unchosen` on where it accepted one.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// (slot, (na, va)) in slot order.
        accepted: Vec<(Slot, Proposal)>,
    },
    /// A refusal of a prepare or accept of `ballot`, because the acceptor promised the higher
    /// `promised` (the optimisation of §2.3: "the acceptor should inform the proposer").
    Nack {
        /// The refused ballot.
        ballot: Ballot,
        /// The acceptor's promise.
        promised: Ballot,
    },
    /// Phase 2a: accept `value` in `slot` under `ballot`.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot.
        slot: Slot,
        /// The proposed value.
        value: Value,
        /// The leader's first unchosen slot: an acceptor that accepted this ballot's proposal in
        /// an earlier slot learns that it was chosen (see `node.rs`, `learn_from_leader`).
        first_unchosen: Slot,
    },
    /// Phase 2b: the acceptor accepted the proposal of `ballot` in `slot`.
    Accepted {
        /// The accepted ballot.
        ballot: Ballot,
        /// The slot.
        slot: Slot,
    },
    /// The distinguished leader's periodic message: it still leads `ballot`, and knows every
    /// slot below `first_unchosen` chosen. In lease mode an answer grants it a lease.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// Numbers the leader's heartbeats, so that acknowledgements name the one they answer.
        round: u64,
        /// The leader's first unchosen slot.
        first_unchosen: Slot,
    },
    /// The answer to a [`Message::Heartbeat`]: the replica follows `ballot` and knows every slot
    /// below `first_unchosen` chosen (the leader sends what it lacks).
    HeartbeatAck {
        /// The ballot followed.
        ballot: Ballot,
        /// The heartbeat answered.
        round: u64,
        /// The replica's first unchosen slot.
        first_unchosen: Slot,
    },
    /// Chosen values sent to a replica that lags (catch-up); a learner takes each at face value.
    Chosen {
        /// Consecutive chosen slots with their values.
        values: Vec<(Slot, Value)>,
    },
}

/// Timer payloads, each with the generation it was armed in: re-arming bumps the generation,
/// so a superseded timer that fires anyway is recognised and ignored.
#[derive(Clone, PartialEq, Eq)]
pub enum Timer {
    /// No word from a leader for a randomised interval: start phase 1 (or retry it).
    LeaderTimeout {
        /// The arming generation.
        generation: u64,
    },
    /// The leader's heartbeat, accept retransmission and quorum check.
    Heartbeat {
        /// The arming generation.
        generation: u64,
    },
    /// BUGGIFY: a candidate with a majority of promises waited; now it starts phase 2 (if
    /// it is still the candidate of `ballot`).
    Phase2 {
        /// The candidate's ballot.
        ballot: Ballot,
    },
    /// BUGGIFY: an acceptor's answer it held back; it leaves now (once durable).
    LateAnswer {
        /// The proposer.
        to: NodeId,
        /// The held answer.
        msg: Box<Message>,
    },
}

/// A record of the acceptor's append-only disk. Its durable state (Paxos Made Simple §2.3:
/// "an acceptor must remember this information even if it fails and then restarts") is the
/// fold of these records in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The acceptor promised `ballot` (the highest so far).
    Promised {
        /// The promise.
        ballot: Ballot,
    },
    /// The acceptor accepted `proposal` in `slot` (replacing what it accepted there before).
    Accepted {
        /// The slot.
        slot: Slot,
        /// The proposal.
        proposal: Proposal,
    },
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Noop => write!(f, "no-op"),
            Value::Command(proposed) => write!(f, "{}", proposed.command()),
        }
    }
}

impl fmt::Display for Message {
    /// One line in the paper's words: `Accept(b2.1, s7, write(k1, 7) by c1#9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Prepare {
                ballot,
                first_unchosen,
            } => write!(f, "Prepare({ballot}, from {first_unchosen})"),
            Message::Promise { ballot, accepted } => {
                write!(f, "Promise({ballot}")?;
                if accepted.is_empty() {
                    write!(f, ", nothing accepted")?;
                }
                for (slot, proposal) in accepted {
                    write!(f, ", {slot}: {} {}", proposal.ballot, proposal.value)?;
                }
                write!(f, ")")
            }
            Message::Nack { ballot, promised } => {
                write!(f, "Nack({ballot}, promised {promised})")
            }
            Message::Accept {
                ballot,
                slot,
                value,
                ..
            } => write!(f, "Accept({ballot}, {slot}, {value})"),
            Message::Accepted { ballot, slot } => write!(f, "Accepted({ballot}, {slot})"),
            Message::Heartbeat {
                ballot,
                first_unchosen,
                ..
            } => write!(f, "Heartbeat({ballot}, chosen below {first_unchosen})"),
            Message::HeartbeatAck {
                ballot,
                first_unchosen,
                ..
            } => write!(f, "HeartbeatAck({ballot}, chosen below {first_unchosen})"),
            Message::Chosen { values } => {
                write!(f, "Chosen(")?;
                for (position, (slot, value)) in values.iter().enumerate() {
                    if position > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{slot}: {value}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::LeaderTimeout { .. } => write!(f, "leader timeout"),
            Timer::Heartbeat { .. } => write!(f, "heartbeat timeout"),
            Timer::Phase2 { ballot } => write!(f, "phase 2 of {ballot} after a wait (buggify)"),
            Timer::LateAnswer { to, msg } => write!(f, "late answer to {to}: {msg:?} (buggify)"),
        }
    }
}

impl fmt::Debug for Timer {
    /// The trace's words (the generation only tells stale firings apart, which the node ignores).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::Stamp;
    use sim_core::history::{Function, Value as Datum};
    use sim_core::id::{ClientId, ProcessId, RequestId};
    use sim_core::node::Operation;

    #[test]
    fn ballots_order_by_round_then_node_and_epochs_agree() {
        let low = Ballot::new(1, NodeId(4));
        let high = Ballot::new(2, NodeId(0));
        let tie = Ballot::new(2, NodeId(3));
        assert!(Ballot::ZERO < low && low < high && high < tie);
        assert!(Ballot::ZERO.epoch() < low.epoch());
        assert!(low.epoch() < high.epoch() && high.epoch() < tie.epoch());
        assert_eq!(tie.epoch(), 2 << 16 | 3);
        assert_eq!(tie.to_string(), "b2.3");
    }

    #[test]
    #[should_panic(expected = "reserved")]
    fn round_zero_is_not_a_ballot() {
        Ballot::new(0, NodeId(1));
    }

    #[test]
    fn value_digests_tell_commands_apart_but_ignore_the_stamp() {
        let command = |value: i64, epoch: u64| {
            Value::command(Command {
                request: RequestId(7),
                client: ClientId(1),
                process: ProcessId(1),
                operation: Operation {
                    f: Function::Write,
                    key: Some(2),
                    value: Datum::Int(value),
                },
                stamp: Stamp {
                    epoch,
                    ..Stamp::default()
                },
            })
        };
        assert_eq!(command(5, 1).digest(), command(5, 9).digest());
        assert_ne!(command(5, 1).digest(), command(6, 1).digest());
        assert_ne!(command(5, 1).digest(), Value::Noop.digest());
    }
}
