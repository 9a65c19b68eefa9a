//! What two-phase-commit nodes send, log, time and report.

use super::{TxnId, Work};
use sim_core::history::Value;
use sim_core::id::{ClientId, NodeId, RequestId};

/// Messages between the coordinator and the participants (and among participants, for
/// cooperative termination). `Prepare` here is two-phase commit's, not Paxos's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Coordinator → participant: lock and check `work`, force PREPARE, vote.
    Prepare {
        /// The transaction.
        txn: TxnId,
        /// This participant's part of it.
        work: Vec<Work>,
        /// Every participant of the transaction (for cooperative termination).
        participants: Vec<NodeId>,
    },
    /// Participant → coordinator: the vote, with the balances read (`(account, balance)`).
    Vote {
        /// The transaction.
        txn: TxnId,
        /// YES (prepared) or NO (aborted here).
        yes: bool,
        /// What an audit read, in account order.
        reads: Vec<(u32, i64)>,
    },
    /// The decision: commit (the coordinator forced it first) ...
    Commit {
        /// The transaction.
        txn: TxnId,
    },
    /// ... or abort (presumed: not logged).
    Abort {
        /// The transaction.
        txn: TxnId,
    },
    /// Participant → coordinator: COMMIT applied and forced.
    Ack {
        /// The transaction.
        txn: TxnId,
    },
    /// In-doubt participant → coordinator: what was decided?
    Inquire {
        /// The transaction.
        txn: TxnId,
    },
    /// In-doubt participant → the other participants (cooperative termination).
    DecisionRequest {
        /// The transaction.
        txn: TxnId,
    },
    /// Between the replicas of a replicated coordinator: their Raft group's message.
    Raft(crate::raft::Message),
}

/// Durable records. The coordinator writes `Commit` and `End`, participants `Prepared`,
/// `Committed` and `Aborted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The coordinator's decision to commit (forced before COMMIT is sent).
    Commit {
        /// The transaction.
        txn: TxnId,
        /// Its participants (to re-send COMMIT after a restart).
        participants: Vec<NodeId>,
        /// The client request it answers (a retry is answered from the record).
        request: RequestId,
        /// The client slot.
        client: ClientId,
        /// The answer's value (an audit's balances).
        reply: Value,
    },
    /// The coordinator refused a client request (its transaction aborted), forced before the
    /// client hears FAIL. Presumed abort needs no record for the participants' sake, but the
    /// client's: without it a coordinator that crashed after answering FAIL would run a late
    /// duplicate of the same request as new, and commit what the history says failed.
    Refused {
        /// The client request answered FAIL.
        request: RequestId,
    },
    /// Every participant acknowledged the COMMIT: the coordinator may forget it.
    End {
        /// The transaction.
        txn: TxnId,
    },
    /// A participant's PREPARE record (forced before voting YES): its work, hence its locks.
    Prepared {
        /// The transaction.
        txn: TxnId,
        /// This participant's part.
        work: Vec<Work>,
        /// Every participant of the transaction.
        participants: Vec<NodeId>,
    },
    /// A participant applied the COMMIT (forced before acknowledging).
    Committed {
        /// The transaction.
        txn: TxnId,
    },
    /// A participant rolled a prepared transaction back (not forced: presumed abort), or,
    /// never having voted, promised a peer to abort it (cooperative termination, forced
    /// before answering): it will vote NO.
    Aborted {
        /// The transaction.
        txn: TxnId,
    },
    /// A replicated coordinator's replica: its Raft's record (the coordinator's records are
    /// commands in that log).
    Raft(crate::raft::Record),
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The coordinator stops waiting for votes of `txn`.
    VoteTimeout(TxnId),
    /// The coordinator re-sends unacknowledged COMMITs (periodic).
    Resend,
    /// A participant looks at its in-doubt transactions (periodic).
    InDoubt,
    /// Mutation T4 only: the late sync of the decisions already sent.
    Flush,
    /// A replicated coordinator's replica: a timer of its Raft, under Raft's own id.
    Raft {
        /// Raft's id for it.
        id: sim_core::id::TimerId,
        /// Its payload.
        timer: crate::raft::Timer,
    },
}

/// What nodes report to [`TwoPhaseCommitInvariants`](super::TwoPhaseCommitInvariants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A participant voted (YES: its PREPARE record is durable).
    Voted {
        /// The transaction.
        txn: TxnId,
        /// The vote.
        yes: bool,
    },
    /// A participant applied a COMMIT: these balance changes.
    Committed {
        /// The transaction.
        txn: TxnId,
        /// `(account, delta)` applied.
        changes: Vec<(u32, i64)>,
    },
    /// A participant rolled a prepared transaction back (or promised to abort one).
    Aborted {
        /// The transaction.
        txn: TxnId,
    },
    /// A participant restarted from its durable records.
    Recovered {
        /// Its balances, `(account, balance)`.
        balances: Vec<(u32, i64)>,
        /// The transactions it has committed.
        committed: Vec<TxnId>,
        /// The transactions it is in doubt about.
        in_doubt: Vec<TxnId>,
    },
    /// The coordinator decided (a commit is durable by now, unless a mutation says otherwise).
    Decided {
        /// The transaction.
        txn: TxnId,
        /// Commit or abort.
        commit: bool,
        /// Its participants.
        participants: Vec<NodeId>,
    },
    /// The coordinator acknowledged a committed transfer to its client.
    Acknowledged {
        /// The transaction.
        txn: TxnId,
        /// Its participants.
        participants: Vec<NodeId>,
    },
    /// A replica of a replicated coordinator: what its Raft observed (replicas are nodes
    /// `0..N`, so their ids in the group and in the cluster are the same).
    Group {
        /// Raft's observation, checked by Raft's own invariants.
        observation: crate::raft::RaftObservation,
    },
}

/// Any node that speaks two-phase commit's messages. The coordinator and participant roles take
/// their context through this bound rather than naming `TwoPhaseCommitNode`, so node.rs (which
/// holds the roles) and the roles do not import each other.
pub trait Speaks:
    sim_core::node::Node<Msg = Message, Timer = Timer, Record = Record, Observation = Observation>
{
}

impl<N> Speaks for N where
    N: sim_core::node::Node<
        Msg = Message,
        Timer = Timer,
        Record = Record,
        Observation = Observation,
    >
{
}
