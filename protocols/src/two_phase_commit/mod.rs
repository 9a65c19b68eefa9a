//! **Two-phase commit** with presumed abort, over a bank whose accounts are split among the
//! participants (Gray & Lamport, "Consensus on Transaction Commit", TODS 2006, §3; Mohan,
//! Lindsay & Obermarck, "Transaction Management in the R* Distributed Database Management
//! System", TODS 1986, §2–3).
//!
//! Node 0 is the **coordinator** (Gray & Lamport's transaction manager); nodes 1 to
//! `participants` are the **participants** (resource managers), participant `i` owning the
//! `i`-th contiguous range of accounts. Clients send transfers and audits to the coordinator;
//! a participant redirects them there.
//!
//! ## The protocol, as implemented
//!
//! 1. The coordinator turns a request into a transaction with a fresh id and sends
//!    `Prepare { txn, work }` to every participant it touches (a transfer: the owners of the
//!    two accounts; an audit: every participant with accounts), then waits for votes, at
//!    most `vote_timeout`.
//! 2. A participant that receives `Prepare` takes its locks under **strict two-phase locking**
//!    (exclusive for a debit or credit, shared for an audit's read, held until the decision,
//!    no waiting: a conflict is a NO) and checks the funds. On a conflict or an overdraft it
//!    votes **NO** and forgets the transaction (it may abort on its own before voting). Else it
//!    appends a **PREPARE** record naming its work and locks, **forces** it, and only then votes
//!    **YES** (with the balances it read, for an audit). From then on it is **in doubt**: it
//!    may neither commit nor abort on its own.
//! 3. The coordinator decides **COMMIT** iff every participant voted YES; a NO or a vote
//!    missing at the timeout decides **ABORT**. It **forces a COMMIT record before sending
//!    COMMIT** to anyone and before answering the client. Presumed abort (R* §3): an abort is
//!    not logged and not acknowledged; "no record" means aborted.
//! 4. A participant that receives COMMIT applies its work, releases its locks, forces a
//!    COMMIT record and acknowledges; ABORT releases the locks and undoes nothing (nothing was
//!    applied). When every participant has acknowledged, the coordinator appends an END record
//!    (not forced) and forgets the transaction.
//! 5. **Recovery.** The coordinator rebuilds its committed transactions from its COMMIT
//!    records and re-sends COMMIT, every `resend_interval`, to the participants that have not
//!    acknowledged. A participant rebuilds its balances from its COMMIT records and its
//!    in-doubt transactions (with their locks) from PREPARE records without a COMMIT.
//! 6. **Termination.** A participant in doubt for `decision_timeout` asks the coordinator
//!    (`Inquire`) every `inquiry_interval`; the coordinator answers COMMIT for a committed
//!    transaction, nothing while it is still collecting votes, and ABORT for any other
//!    (presumed abort: it never committed, or it would have a record). With
//!    `cooperative_termination`, the participant also asks the other participants
//!    (Bernstein, Hadzilacos & Goodman, *Concurrency Control and Recovery*, §7.4): one that
//!    committed answers COMMIT; one that voted NO or rolled back answers ABORT; one that never
//!    voted forces an ABORT record (so it will vote NO later) and answers ABORT; one in doubt
//!    does not answer.
//!
//! Every answer that depends on a durable record (the YES vote, the COMMIT decision, the
//! participant's acknowledgement) goes through [`forced::ForcedLog`], the one place that waits
//! for the disk.
//!
//! ## Blocking is behaviour
//!
//! With the coordinator down or cut off, a participant that voted YES keeps its locks until it
//! learns the decision: 2PC blocks (Gray & Lamport §4). That is counted, never failed:
//! `two_phase_commit.blocked` once per transaction that stays in doubt past `decision_timeout`,
//! `two_phase_commit.in_doubt_inquiry` once per inquiry (time in doubt ≈ inquiries ×
//! `inquiry_interval`), `two_phase_commit.lock_held_in_doubt` once per lock per inquiry; the
//! checker measures the time in doubt and blocked in simulated time (figures
//! `time_in_doubt_ns`, `time_blocked_ns`). After the faults heal every in-doubt transaction
//! must resolve (`in-doubt-resolved`, a liveness finding at the end of the run).
//!
//! ## What is checked
//!
//! [`TwoPhaseCommitInvariants`], from the nodes' observations: **atomicity** (no transaction
//! committed at one participant and aborted — voted NO or rolled back — at another; the
//! coordinator commits only with a YES from every participant), **conservation** (no negative
//! balance; at the end the balances sum to the initial total), **durability** (every transfer
//! acknowledged to a client is committed in the final state of both its participants) and
//! `in-doubt-resolved`. The bank application's history goes through the checker's `bank`
//! model (strict serializability) and its `conservation` audit.
//!
//! ## Marks
//!
//! Listed in [`MARKS`]: votes refused for a conflict or an overdraft, blocking, inquiries and
//! their answers, decisions re-sent, recovery with in-doubt transactions, duplicate requests.
//!
//! ## Deliberate simplifications
//!
//! - One coordinator, not replicated: blocking is the point of the comparison.
//! - No-wait locking (a conflict votes NO) instead of waiting with deadlock detection.
//! - Logs grow without bound (no checkpoints): runs are short.
//! - Transaction ids are random 64-bit draws from the coordinator's stream, unique across its
//!   restarts without a durable counter.

use crate::mutation::BugSet;
use sim_core::id::NodeId;
use sim_core::time::Duration;
use std::fmt;

pub mod bugs;
mod coordinator;
pub mod coordinator_log;
mod descriptor;
pub(crate) mod forced;
mod invariants;
mod lane;
mod message;
mod node;
mod participant;
mod replica;

pub use descriptor::{TwoPhaseCommitProtocol, TWO_PHASE_COMMIT};
pub use invariants::TwoPhaseCommitInvariants;
pub use message::{Message, Observation, Record, Timer};
pub use node::TwoPhaseCommitNode;

/// Every crash point its nodes pass (`ctx.crash_point`): the coordinator between its commit
/// decision and the forced record, and between the first COMMIT sent and the others; a
/// participant after its YES vote left; either during recovery with unfinished work.
pub const CRASH_POINTS: &[&str] = &[
    "2pc.after_commit_decision",
    "2pc.mid_commit_broadcast",
    "2pc.after_vote_yes",
    "2pc.coordinator_recovering",
    "2pc.participant_recovering",
];

/// Every mark this protocol's nodes may emit, so that a sweep can say which paths its seeds
/// never reached. A test keeps it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "two_phase_commit.abort_after_commit_ignored",
    "two_phase_commit.blocked",
    "two_phase_commit.commit_for_unknown_txn",
    "two_phase_commit.cooperative_answer",
    "two_phase_commit.coordinator_took_over",
    "two_phase_commit.decision_resent",
    "two_phase_commit.duplicate_request",
    "two_phase_commit.in_doubt_inquiry",
    "two_phase_commit.inquiry_answered_abort",
    "two_phase_commit.inquiry_answered_commit",
    "two_phase_commit.inquiry_decided_by_log",
    "two_phase_commit.inquiry_while_collecting",
    "two_phase_commit.lock_held_in_doubt",
    "two_phase_commit.recovered_in_doubt",
    "two_phase_commit.recovered_undelivered_commit",
    "two_phase_commit.took_over_undecided",
    "two_phase_commit.took_over_undelivered_commit",
    "two_phase_commit.vote_no_conflict",
    "two_phase_commit.vote_no_funds",
    "two_phase_commit.vote_timeout",
];

/// The coordinator's node.
pub const COORDINATOR: NodeId = NodeId(0);

/// A transaction's id: a random draw of the coordinator, unique across its restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId(pub u64);

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn {:016x}", self.0)
    }
}

/// What a transaction does to one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read the balance (an audit): a shared lock.
    Read,
    /// Add this signed amount (a debit is negative): an exclusive lock.
    Add(i64),
}

/// One account's part of a transaction at its participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    /// The account.
    pub account: u32,
    /// What is done to it.
    pub access: Access,
}

/// Who coordinates: one node, or a Raft group of coordinator replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordinatorKind {
    /// Node 0 alone (it blocks its prepared participants while it is down).
    Single,
    /// Nodes `0..replicas` run the coordinator as a replicated state machine over Raft; the
    /// group's leader coordinates (see [`coordinator_log`]).
    Replicated {
        /// The group's size.
        replicas: u32,
    },
}

/// The configuration every node shares.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many participants (the nodes after the coordinator's).
    pub participants: u32,
    /// One coordinator or a replicated one.
    pub coordinator: CoordinatorKind,
    /// The replicated coordinator's Raft timing (unused with a single coordinator).
    pub raft: crate::raft::Config<()>,
    /// Every account's initial balance, account 0 first (from the bank's audit).
    pub initial_balances: Vec<i64>,
    /// How long the coordinator waits for every vote before it aborts.
    pub vote_timeout: Duration,
    /// How long a participant stays in doubt before it asks for the decision.
    pub decision_timeout: Duration,
    /// How often an in-doubt participant asks again.
    pub inquiry_interval: Duration,
    /// How often the coordinator re-sends an unacknowledged COMMIT.
    pub resend_interval: Duration,
    /// In-doubt participants ask each other too (cooperative termination).
    pub cooperative_termination: bool,
    /// Switched-on mutations.
    pub bugs: BugSet,
}

impl Config {
    /// A configuration with the descriptor's default timings.
    pub fn new(participants: u32, initial_balances: Vec<i64>) -> Config {
        assert!(participants >= 1, "two-phase commit needs a participant");
        Config {
            participants,
            coordinator: CoordinatorKind::Single,
            raft: crate::raft::Config {
                // A replica whose log lags would otherwise raise the term again and again,
                // resetting the up-to-date replica's election timer: with PreVote (Raft thesis
                // §9.6) it cannot, and the group elects within one timeout.
                pre_vote: true,
                ..crate::raft::Config::new(())
            },
            initial_balances,
            vote_timeout: Duration::from_millis(100),
            decision_timeout: Duration::from_millis(100),
            inquiry_interval: Duration::from_millis(50),
            resend_interval: Duration::from_millis(50),
            cooperative_termination: false,
            bugs: BugSet::NONE,
        }
    }

    /// How many accounts the bank has.
    pub fn accounts(&self) -> u32 {
        self.initial_balances.len() as u32
    }

    /// How many nodes coordinate: 1, or the replicated coordinator's group size. They are
    /// nodes `0..coordinators()`; the participants follow.
    pub fn coordinators(&self) -> u32 {
        match self.coordinator {
            CoordinatorKind::Single => 1,
            CoordinatorKind::Replicated { replicas } => replicas,
        }
    }

    /// Is `node` the coordinator or one of its replicas?
    pub fn is_coordinator(&self, node: NodeId) -> bool {
        node.0 < self.coordinators()
    }

    /// Every participant's node, in order.
    pub fn participant_ids(&self) -> impl Iterator<Item = NodeId> + 'static {
        let first = self.coordinators();
        (first..first + self.participants).map(NodeId)
    }

    /// The node count: coordinators and participants.
    pub fn node_count(&self) -> u32 {
        self.coordinators() + self.participants
    }

    /// The accounts participant `node` owns: the `i`-th of `participants` contiguous ranges
    /// for the `i`-th participant (empty for a coordinator).
    pub fn range(&self, node: NodeId) -> std::ops::Range<u32> {
        debug_assert_eq!(COORDINATOR, NodeId(0), "node 0 owns no accounts");
        if self.is_coordinator(node) {
            return 0..0;
        }
        // The bank numbers participants from 1 (node 0 coordinating).
        let index = NodeId(node.0 + 1 - self.coordinators());
        crate::apps::bank::account_range(self.accounts(), self.participants, index)
    }

    /// The participant owning `account`.
    ///
    /// # Panics
    /// If the bank has no such account.
    pub fn owner(&self, account: u32) -> NodeId {
        let index = crate::apps::bank::account_owner(self.accounts(), self.participants, account);
        NodeId(index.0 + self.coordinators() - 1)
    }

    /// The sum of every initial balance.
    pub fn total(&self) -> i64 {
        self.initial_balances.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participants_own_contiguous_ranges_covering_every_account() {
        let config = Config::new(3, vec![10; 8]);
        assert_eq!(config.range(COORDINATOR), 0..0);
        assert_eq!(config.range(NodeId(1)), 0..2);
        assert_eq!(config.range(NodeId(2)), 2..5);
        assert_eq!(config.range(NodeId(3)), 5..8);
        for account in 0..8 {
            assert!(config.range(config.owner(account)).contains(&account));
        }
        assert_eq!(config.total(), 80);
    }

    /// With a replicated coordinator the replicas take nodes 0..N and participant i is node
    /// N + i - 1, owning what participant i owns with one coordinator.
    #[test]
    fn a_replicated_coordinator_shifts_the_participants_after_its_replicas() {
        let single = Config::new(3, vec![10; 8]);
        let mut replicated = single.clone();
        replicated.coordinator = CoordinatorKind::Replicated { replicas: 5 };
        assert_eq!(replicated.node_count(), 8);
        assert_eq!(
            replicated.participant_ids().collect::<Vec<_>>(),
            [NodeId(5), NodeId(6), NodeId(7)]
        );
        for replica in 0..5 {
            assert!(replicated.is_coordinator(NodeId(replica)));
            assert_eq!(replicated.range(NodeId(replica)), 0..0);
        }
        for (index, node) in replicated.participant_ids().enumerate() {
            assert!(!replicated.is_coordinator(node));
            assert_eq!(
                replicated.range(node),
                single.range(NodeId(index as u32 + 1))
            );
        }
        for account in 0..8 {
            assert_eq!(replicated.owner(account).0, single.owner(account).0 + 4);
        }
    }
}
