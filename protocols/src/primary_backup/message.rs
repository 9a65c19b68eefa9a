//! Epochs, stream offsets and the messages between replicas.

use crate::apps::session::Sessions;
use crate::apps::{Application, Command};
use sim_core::id::NodeId;
use std::fmt;

/// A primary's reign. Ordered by `number`, then by `primary`: like a Paxos ballot, the pair is
/// unique per node, so two backups that promote themselves concurrently (each on its side of a
/// partition) still get different, ordered epochs, and the lower one steps down when it hears
/// of the higher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch {
    /// Grows by one at each promotion.
    pub number: u64,
    /// The node that is primary in this epoch.
    pub primary: NodeId,
}

impl Epoch {
    /// The epoch every node boots into: node 0 is its primary.
    pub const INITIAL: Epoch = Epoch {
        number: 0,
        primary: NodeId(0),
    };

    /// The epoch `node` creates when it promotes itself after knowing `self`.
    pub fn successor(self, node: NodeId) -> Epoch {
        let next = Epoch {
            number: self.number + 1,
            primary: node,
        };
        assert!(next > self);
        next
    }
}

impl Epoch {
    /// The epoch as one number ordered like epochs, for command stamps
    /// ([`Stamp::epoch`](crate::apps::Stamp)): `number · 2^16 + primary`. Two primaries that
    /// promoted themselves concurrently share a number but not a stamp epoch, so their
    /// epoch-prefixed fencing tokens never collide.
    pub fn stamp_epoch(self) -> u64 {
        assert!(self.primary.0 < 1 << 16, "node ids above 2^16");
        (self.number << 16) | u64::from(self.primary.0)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}@{}", self.number, self.primary)
    }
}

/// A position in the replication stream: the number of commands applied. The command at
/// offset `k` is the `k`-th of its lineage; offsets continue across a promotion (the new
/// primary's first command gets its own offset plus one), like Redis's replication offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u64);

impl Offset {
    /// The next position.
    pub fn next(self) -> Offset {
        Offset(self.0 + 1)
    }
}

/// What a node claims to be in its heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepts writes and streams them.
    Primary,
    /// Applies the primary's stream.
    Backup,
}

/// Messages between replicas.
#[derive(Clone)]
pub enum Message<A: Application> {
    /// Sent by every node every `heartbeat`. From the primary it tells backups the stream's
    /// length; from a backup it is the acknowledgement and the resynchronisation request: the
    /// primary answers a lagging backup with the missing commands or a snapshot.
    Heartbeat {
        /// The highest epoch the sender knows.
        epoch: Epoch,
        /// What the sender believes it is.
        role: Role,
        /// The epoch whose stream the sender's state is a prefix of.
        synced_epoch: Epoch,
        /// How many commands of that stream the sender applied.
        offset: Offset,
    },
    /// Commands of `epoch`'s stream: `commands[i]` is at offset `first_offset + i`.
    Replicate {
        /// The primary's epoch.
        epoch: Epoch,
        /// The offset of the first command.
        first_offset: Offset,
        /// The commands, in stream order.
        commands: Vec<Command>,
    },
    /// With `replication: Sync`, a backup's acknowledgement: its disk holds the first `offset`
    /// commands of `epoch`'s stream. Sent when a sync completes and at every tick (a lost
    /// acknowledgement is repeated).
    Ack {
        /// The stream the durable state belongs to.
        epoch: Epoch,
        /// How many of its commands are durable.
        offset: Offset,
    },
    /// A full resynchronisation (Redis's FULLRESYNC): the primary's whole state at `offset`.
    Snapshot {
        /// The primary's epoch.
        epoch: Epoch,
        /// The stream position the state is at.
        offset: Offset,
        /// The application with its session table.
        state: Sessions<A>,
    },
}

impl<A: Application> Message<A> {
    /// The epoch the sender knows (every message carries one).
    pub fn epoch(&self) -> Epoch {
        match self {
            Message::Heartbeat { epoch, .. }
            | Message::Replicate { epoch, .. }
            | Message::Ack { epoch, .. }
            | Message::Snapshot { epoch, .. } => *epoch,
        }
    }
}

impl<A: Application> fmt::Display for Message<A> {
    /// One line for the trace: `Replicate(e2@n1, from 14, [write(k1, 7) by c1#9])`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Heartbeat {
                epoch,
                role,
                synced_epoch,
                offset,
            } => write!(
                f,
                "Heartbeat({epoch}, {role:?}, synced {synced_epoch}, offset {})",
                offset.0
            ),
            Message::Replicate {
                epoch,
                first_offset,
                commands,
            } => {
                write!(f, "Replicate({epoch}, from {}, [", first_offset.0)?;
                for (position, command) in commands.iter().enumerate() {
                    if position > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{command}")?;
                }
                write!(f, "])")
            }
            Message::Ack { epoch, offset } => write!(f, "Ack({epoch}, durable {})", offset.0),
            Message::Snapshot { epoch, offset, .. } => {
                write!(f, "Snapshot({epoch}, up to {})", offset.0)
            }
        }
    }
}

impl<A: Application> fmt::Debug for Message<A> {
    /// The trace's line; a snapshot's state is left out (it is the whole store).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_order_by_number_then_primary() {
        let a = Epoch {
            number: 1,
            primary: NodeId(2),
        };
        let b = Epoch {
            number: 1,
            primary: NodeId(1),
        };
        let c = Epoch {
            number: 2,
            primary: NodeId(0),
        };
        assert!(Epoch::INITIAL < b && b < a && a < c);
        assert_eq!(
            Epoch::INITIAL.successor(NodeId(3)),
            Epoch {
                number: 1,
                primary: NodeId(3)
            }
        );
        assert_eq!(a.to_string(), "e1@n2");
        // Stamp epochs order like epochs and differ between concurrent primaries.
        assert!(Epoch::INITIAL.stamp_epoch() < b.stamp_epoch());
        assert!(b.stamp_epoch() < a.stamp_epoch() && a.stamp_epoch() < c.stamp_epoch());
    }
}
