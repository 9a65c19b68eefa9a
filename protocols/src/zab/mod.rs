//! ZAB, ZooKeeper's atomic broadcast (Junqueira, Reed, Serafini, *Zab: High-performance
//! broadcast for primary-backup systems*, DSN 2011; Medeiros, *ZooKeeper's atomic broadcast
//! protocol: Theory and practice*, 2012), as a pure state machine.
//!
//! [`ZabNode`] implements [`sim_core::node::Node`] for any replicated
//! [`Application`](crate::apps::Application), in the papers' and ZooKeeper's vocabulary.
//!
//! ## The protocol, as implemented
//!
//! - **Fast leader election** (Medeiros §2.3). A server that starts, or loses its leader or
//!   its quorum, is LOOKING: it increments its election round (logicalclock), votes for itself
//!   with `(currentEpoch, lastZxid, sid)` and broadcasts a notification. Votes compare
//!   lexicographically. A notification of a higher round moves the receiver to that round
//!   (its votes of the old round are dropped) and makes it vote for the better of its own vote
//!   and the sender's; one of a lower round is answered with the receiver's notification; one
//!   of the same round with a better vote is adopted. At each tick a server whose vote a
//!   quorum of the round shares decides: it leads if the vote is its own, and follows
//!   otherwise. A following or leading server answers a LOOKING server's notification with
//!   its leader's vote and its state; a looking server that hears from a LEADING server and
//!   enough of its followers that it would complete a quorum joins it without an election.
//!   LOOKING servers rebroadcast every tick.
//! - **Connections.** ZAB assumes FIFO channels (TCP). A follower opens a connection with a
//!   fresh random id; every packet on it carries its position, and a gap (a lost or reordered
//!   packet) breaks the connection as TCP would: the follower goes LOOKING, the leader drops
//!   its LearnerHandler, and each end sends `Close` (a FIN) to the other.
//! - **Discovery** (DSN §IV-A, phase 1). The follower sends FOLLOWERINFO with its
//!   acceptedEpoch (resent each tick until answered). Once a quorum (itself included) has
//!   connected, the leader proposes `newEpoch = max(acceptedEpoch) + 1` in LEADERINFO (the
//!   paper's NEWEPOCH) and makes it its own durable acceptedEpoch. A follower rejects a
//!   LEADERINFO below its acceptedEpoch (mark `zab.follower_rejected_lower_epoch`) and goes
//!   LOOKING; otherwise it makes the epoch its durable acceptedEpoch and, once durable,
//!   answers ACKEPOCH with its currentEpoch and last zxid. A leader that finds a follower
//!   ahead of it (`(currentEpoch, lastZxid)` above its own) gives up leading.
//! - **Synchronization** (phase 2). Once a quorum acknowledged the epoch, the leader makes it
//!   its durable currentEpoch and synchronizes each follower from its last zxid against its
//!   committed log (the last `committed_log` txns, `minCommittedLog..maxCommittedLog`):
//!   equal to maxCommittedLog: an empty DIFF; above it: TRUNC to it; within the window and in
//!   the leader's history: DIFF of the txns after it; within the window but *not* in the
//!   history (a txn of an abandoned epoch): TRUNC to the last zxid below it, then DIFF
//!   (ZOOKEEPER-1154); below the window: SNAP (the whole history; the follower rebuilds its
//!   state). NEWLEADER follows; the follower makes the epoch its currentEpoch and answers
//!   ACK once the synchronized history is durable. After a quorum (the leader included)
//!   acknowledged NEWLEADER the leader is established: its whole history is committed, it
//!   delivers it and sends UPTODATE (with its last committed zxid), and only then proposes.
//!   A follower delivers and serves only after UPTODATE. Followers that connect later are
//!   synchronized the same way while the leader broadcasts; proposals and commits follow
//!   their NEWLEADER on the connection.
//! - **Broadcast** (phase 3). A write (or, with `read: Log`, a read) at a follower is
//!   forwarded to the leader; the leader assigns zxid `(epoch, counter + 1)`, logs it and
//!   sends PROPOSAL; a follower logs it and ACKs once durable. The leader COMMITs, in zxid
//!   order, every txn held durably by a quorum (its own log counts once synced); servers
//!   deliver committed txns in zxid order, and the server a client asked answers it when it
//!   delivers the txn. The application runs behind the session table, so a retried request
//!   is applied once.
//! - **Liveness** (ZooKeeper's `tickTime`, `initLimit`, `syncLimit`). The leader PINGs every
//!   learner each tick and followers answer. A follower that hears nothing for `syncLimit`
//!   ticks (`initLimit` before UPTODATE) goes LOOKING; a leader not established within
//!   `initLimit` ticks, or that has not heard from a quorum of synchronized followers within
//!   `syncLimit` ticks, goes LOOKING.
//! - **Durability.** acceptedEpoch, currentEpoch, txns, truncations and snapshots are disk
//!   records; [`Node::recover`](sim_core::node::Node::recover) folds the surviving ones into
//!   the epochs and the history. The application state is volatile: a restarted server
//!   delivers its history again once its leader tells it what is committed. Every answer that
//!   depends on durable state (ACKEPOCH, the ACK of NEWLEADER, the ACK of a PROPOSAL, and the
//!   leader's own acknowledgements) goes through one place, `after_durable`: it syncs and
//!   queues the answer, and `on_synced` releases the answers up to the completed token, in
//!   order, dropping those whose connection or leadership is gone by then (the disk's sync
//!   latency, `disk: (sync_latency: ...)`, decides how long that takes).
//! - **Reads.** `Log` (default): through the broadcast, linearizable. `Sync`: the server sends
//!   SYNC to the leader, which answers once every txn it had proposed when the SYNC arrived
//!   is committed; the COMMITs precede the answer on the connection, so the server's local
//!   read then reflects them (ZooKeeper's `sync` + read). `Local`: ZooKeeper's default, the
//!   server answers from its replica: sequentially consistent only, a lagging follower serves
//!   stale values (the checker catches it; see `zab-kv-local-reads`).
//!
//! - **Sessions** (ZooKeeper's session tracker, for applications that have sessions: the
//!   `zk-lock` recipe). The established leader asks its applied state at each tick which
//!   sessions have not been touched for their timeout and proposes a closeSession txn for
//!   each (from the tracker's own client, [`node::SESSION_TRACKER`]); every replica ends the
//!   session where the txn sits in the history. Each proposal also hands the application its
//!   zxid, so that a create records its czxid.
//!
//! ## BUGGIFY
//!
//! With `Config::buggify` (on for generated fault plans) a leader now and then holds one
//! learner's synchronization until the next tick, so that crashes and new elections land
//! while a follower is half synchronized.
//!
//! ## Deliberate simplifications
//!
//! - No observers, no dynamic reconfiguration, no sessions or ephemeral nodes in the protocol
//!   itself (the lock's sessions live in the application), no log compaction: the history is
//!   the whole txn log and SNAP sends it whole.
//! - A leader does not propose before it is established (ZooKeeper queues proposals of
//!   followers syncing after establishment the same way).
//! - Election notifications are resent every tick rather than with exponential backoff.

/// Every crash point its servers pass (`ctx.crash_point`): after a follower sent ACKEPOCH,
/// ACK of NEWLEADER or ACK of a proposal (each once its records are durable), between the
/// leader's commit decision and its COMMIT broadcast, and during recovery with a history.
pub const CRASH_POINTS: &[&str] = &[
    "zab.after_ack_epoch",
    "zab.after_ack_newleader",
    "zab.after_ack",
    "zab.before_commit_broadcast",
    "zab.recovering",
];

/// Every mark this protocol's servers may emit (mutation marks aside); a test keeps it equal
/// to the marks in `node.rs`.
pub const MARKS: &[&str] = &[
    "zab.buggify_held_sync",
    "zab.closed_by_leader",
    "zab.connection_broken",
    "zab.duplicate_answered_from_session",
    "zab.duplicate_not_applied",
    "zab.durable_answer_dropped",
    "zab.election_round_bumped",
    "zab.follower_lost_leader",
    "zab.follower_rejected_lower_epoch",
    "zab.joined_running_leader",
    "zab.leader_behind_follower",
    "zab.leader_lost_quorum",
    "zab.leader_not_established_in_time",
    "zab.learner_synced_while_broadcasting",
    "zab.notification_of_older_round",
    "zab.recovered_with_history",
    "zab.retry_in_flight",
    "zab.session_closed",
    "zab.snap_sent",
    "zab.stale_epoch_packet_ignored",
    "zab.stale_retry_not_applied",
    "zab.state_reset",
    "zab.sync_waits_for_commit",
    "zab.trunc_sent",
];

pub mod bugs;
pub mod config;
mod descriptor;
pub mod harness;
pub mod invariants;
pub mod message;
pub mod node;

pub use config::{Config, ReadMode};
pub use descriptor::{ZabProtocol, ZAB};
pub use invariants::{ZabInvariants, ZabObservation};
pub use message::{LeaderPacket, LearnerPacket, Message, Record, SyncMode, Timer, Txn, Vote, Zxid};
pub use node::{FollowerPhase, Role, ZabNode};
