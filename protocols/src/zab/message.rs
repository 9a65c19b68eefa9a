//! ZAB's vocabulary: zxids, transactions, votes, the packets of discovery, synchronization and
//! broadcast, timers and the records written to the node's append-only disk.

use crate::apps::ProposedCommand;
use sim_core::id::NodeId;
use sim_core::node::Request;
use std::fmt;
use std::sync::Arc;

/// A transaction id: the epoch of the leader that proposed it and a counter within that
/// epoch (the high and low 32 bits of ZooKeeper's 64-bit zxid). Ordered lexicographically;
/// `(0, 0)` precedes every transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Zxid {
    /// The proposing leader's epoch.
    pub epoch: u64,
    /// The position within the epoch, from 1.
    pub counter: u64,
}

impl Zxid {
    /// The empty history's zxid.
    pub const ZERO: Zxid = Zxid {
        epoch: 0,
        counter: 0,
    };

    /// `(epoch, counter)`.
    pub const fn new(epoch: u64, counter: u64) -> Zxid {
        Zxid { epoch, counter }
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}.{}", self.epoch, self.counter)
    }
}

/// One transaction of the history: its zxid and the client command it carries, shared (not
/// copied) by every history and packet that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Where it sits in the total order.
    pub zxid: Zxid,
    /// What to apply.
    pub command: Arc<ProposedCommand>,
}

impl Txn {
    /// The command's identity digest (agreement checks compare it).
    pub fn digest(&self) -> u64 {
        self.command.digest()
    }
}

/// A fast-leader-election vote: the proposed leader's `(epoch, zxid, sid)`, compared
/// lexicographically (currentEpoch first, then last zxid, then server id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vote {
    /// The proposed leader's currentEpoch.
    pub epoch: u64,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader.
    pub sid: NodeId,
}

/// A server's state as election notifications report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// In leader election.
    Looking,
    /// Following the leader of its vote.
    Following,
    /// Leading (discovery, synchronization or broadcast).
    Leading,
}

/// How the leader synchronizes a follower, chosen from the follower's last zxid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// The follower's history is a prefix of the leader's: send the txns after it.
    Diff,
    /// The follower has txns the leader does not: truncate to `to` (the last zxid both have),
    /// then send the txns after it.
    Trunc {
        /// The last zxid to keep.
        to: Zxid,
    },
    /// The follower is too far behind (below minCommittedLog): replace its state with the
    /// leader's whole history.
    Snap,
}

/// What a leader sends a learner on their connection.
#[derive(Clone, Debug)]
pub enum LeaderPacket {
    /// LEADERINFO (NEWEPOCH in the paper): the epoch the leader proposes.
    LeaderInfo {
        /// The new epoch.
        new_epoch: u64,
    },
    /// DIFF, TRUNC+DIFF or SNAP: the txns that bring the learner to the leader's history.
    Sync {
        /// How to use `txns`.
        mode: SyncMode,
        /// The txns to append (DIFF, TRUNC) or the whole history (SNAP).
        txns: Vec<Txn>,
    },
    /// NEWLEADER: the leader's history has been sent; the learner adopts the epoch.
    NewLeader {
        /// The epoch (the learner's new currentEpoch).
        epoch: u64,
        /// The last zxid of the synchronized history.
        last: Zxid,
    },
    /// UPTODATE: a quorum acknowledged NEWLEADER; deliver everything up to `committed`.
    UpToDate {
        /// The leader's last committed zxid.
        committed: Zxid,
    },
    /// PROPOSAL of one transaction.
    Proposal(Txn),
    /// COMMIT: every txn up to `zxid` is committed.
    Commit {
        /// The committed zxid.
        zxid: Zxid,
    },
    /// The answer to a learner's SYNC: every txn the leader had proposed when it arrived is
    /// committed, and its COMMIT precedes this packet on the connection.
    SyncDone,
    /// PING (heartbeat), with the position of the next learner packet the leader expects
    /// (a cumulative acknowledgement: the learner forgets the packets before it).
    Ping {
        /// The next expected position.
        ack: u64,
    },
}

/// What a learner sends its leader on their connection.
#[derive(Clone, Debug)]
pub enum LearnerPacket {
    /// FOLLOWERINFO: the learner's acceptedEpoch, opening the connection.
    FollowerInfo {
        /// Its acceptedEpoch.
        accepted_epoch: u64,
    },
    /// ACKEPOCH, sent once the new acceptedEpoch is durable.
    AckEpoch {
        /// Its currentEpoch.
        current_epoch: u64,
        /// Its last logged zxid.
        last_zxid: Zxid,
    },
    /// ACK of NEWLEADER, sent once the synchronized history and currentEpoch are durable.
    AckNewLeader {
        /// The NEWLEADER's last zxid.
        last: Zxid,
    },
    /// ACK of a PROPOSAL, sent once it is durable.
    Ack {
        /// The proposal's zxid.
        zxid: Zxid,
    },
    /// A client request forwarded to the leader (writes, and reads with `read: Log`).
    Request(Request),
    /// SYNC: a `Sync` read waits for the leader's answer.
    Sync,
    /// PING answer, with the position of the next leader packet the learner expects.
    Ping {
        /// The next expected position.
        ack: u64,
    },
}

/// A message between servers.
#[derive(Clone, Debug)]
pub enum Message {
    /// A fast-leader-election notification: the sender's vote, its election round (logical
    /// clock) and its state.
    Notification {
        /// The sender's vote (for a following or leading sender, its leader).
        vote: Vote,
        /// The sender's election round.
        round: u64,
        /// The sender's state.
        state: ServerState,
    },
    /// A packet from a leader on connection `conn`, the `seq`-th on it (0-based), from a
    /// leader of `epoch` (0 before it has chosen one).
    ToLearner {
        /// The connection, chosen by the learner when it opened it.
        conn: u64,
        /// Position on the connection (TCP's byte order, here per packet).
        seq: u64,
        /// The sender's proposed epoch.
        epoch: u64,
        /// The packet.
        packet: LeaderPacket,
    },
    /// A packet from a learner on connection `conn`, the `seq`-th on it (FOLLOWERINFO is 0).
    ToLeader {
        /// The connection.
        conn: u64,
        /// Position on the connection.
        seq: u64,
        /// The packet.
        packet: LearnerPacket,
    },
    /// The receiver of connection `conn` misses the packet at position `from`: the sender
    /// sends again every packet it kept from there (TCP's retransmission).
    Resend {
        /// The connection.
        conn: u64,
        /// The first missing position.
        from: u64,
    },
    /// The connection `conn` is closed (TCP's FIN or RST): the other end forgets it.
    Close {
        /// The connection.
        conn: u64,
    },
}

/// A record of the node's append-only disk.
#[derive(Clone, Debug)]
pub enum Record {
    /// acceptedEpoch: the last NEWEPOCH this server acknowledged.
    AcceptedEpoch(u64),
    /// currentEpoch: the last NEWLEADER this server acknowledged.
    CurrentEpoch(u64),
    /// One txn appended to the history.
    Txn(Txn),
    /// The history keeps only the txns up to this zxid (TRUNC).
    Truncate(Zxid),
    /// The history is exactly these txns (SNAP).
    Snapshot(Vec<Txn>),
}

/// Timer payloads.
#[derive(Clone, Debug)]
pub enum Timer {
    /// Every `tickTime`: pings, limits, election retransmission.
    Tick,
}
