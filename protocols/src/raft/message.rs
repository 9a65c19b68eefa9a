//! Raft's vocabulary: terms, log indexes, entries, the RPCs of Figure 2, timers and the
//! records written to the node's append-only disk.

use crate::apps::ProposedCommand;
use sim_core::id::NodeId;
use std::fmt;
use std::sync::Arc;

/// A Raft term (§5.1): a logical clock that numbers elections. Term 0 precedes every election.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

impl Term {
    /// The term after this one.
    pub fn next(self) -> Term {
        Term(self.0.checked_add(1).expect("term overflowed u64"))
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

/// A position in the replicated log, counted from 1 as in the paper; index 0 is the empty
/// prefix (the `prevLogIndex` of the first entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

impl LogIndex {
    /// The empty prefix.
    pub const ZERO: LogIndex = LogIndex(0);

    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }

    /// The index before this one (`ZERO` stays `ZERO`).
    pub fn previous(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The blank entry a leader appends at the start of its term (§8): committing it commits
    /// every earlier entry and lets the leader serve reads.
    Noop,
    /// A client command for the replicated application, shared (not copied) by every log and
    /// message that holds it, with its digest computed once.
    Command(Arc<ProposedCommand>),
}

/// One log entry: the term of the leader that created it, and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The term in which a leader created the entry.
    pub term: Term,
    /// What to apply.
    pub payload: Payload,
}

impl Entry {
    /// A stable digest of the payload (not the term), for the state-machine-safety check:
    /// two replicas applying the same index must apply the same command.
    pub fn payload_digest(&self) -> u64 {
        match &self.payload {
            Payload::Noop => crate::apps::noop_digest(),
            Payload::Command(proposed) => proposed.digest(),
        }
    }
}

/// The messages between servers (Figure 2), with named fields in the paper's words. `Debug`
/// prints the same one-line form as `Display` (the trace's: `RequestVote(term 3, last 2@2)`).
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// Invoked by candidates to gather votes (§5.2).
    RequestVote {
        /// The candidate's term.
        term: Term,
        /// The candidate requesting the vote.
        candidate: NodeId,
        /// Index of the candidate's last log entry (§5.4).
        last_log_index: LogIndex,
        /// Term of the candidate's last log entry (§5.4).
        last_log_term: Term,
    },
    /// The answer to [`Message::RequestVote`].
    RequestVoteResponse {
        /// The voter's current term, for the candidate to update itself.
        term: Term,
        /// True means the candidate received the vote.
        vote_granted: bool,
    },
    /// Invoked by the leader to replicate entries (§5.3); also the heartbeat (§5.2).
    AppendEntries {
        /// The leader's term.
        term: Term,
        /// So that followers can redirect clients.
        leader: NodeId,
        /// Index of the entry immediately preceding the new ones.
        prev_log_index: LogIndex,
        /// Term of the entry at `prev_log_index`.
        prev_log_term: Term,
        /// Entries to store (empty for a heartbeat).
        entries: Vec<Entry>,
        /// The leader's commitIndex.
        leader_commit: LogIndex,
        /// The leader's heartbeat round when it sent this message, echoed in the response, so
        /// that a ReadIndex read knows which acknowledgements postdate it (thesis §6.4).
        round: u64,
    },
    /// The answer to [`Message::AppendEntries`].
    AppendEntriesResponse {
        /// The follower's current term.
        term: Term,
        /// True if the follower contained an entry matching prevLogIndex and prevLogTerm.
        success: bool,
        /// On success, the index of the last entry the request made the follower match
        /// (`prev_log_index + entries.len()`), which the leader stores as matchIndex.
        match_index: LogIndex,
        /// On failure, where the leader should retry from (the fast backup of §5.3's last
        /// paragraphs): the first index of the conflicting term, or one past the follower's log.
        conflict_index: LogIndex,
        /// The `round` of the request being answered.
        round: u64,
    },
    /// Asks whether the sender could win an election for `term` (PreVote, thesis §9.6). Sent
    /// by a pre-candidate instead of starting an election; changes no state anywhere.
    PreVote {
        /// The term the sender would stand for: its currentTerm + 1. Not adopted by anyone.
        term: Term,
        /// The server asking.
        candidate: NodeId,
        /// Index of the sender's last log entry (§5.4).
        last_log_index: LogIndex,
        /// Term of the sender's last log entry (§5.4).
        last_log_term: Term,
    },
    /// The answer to [`Message::PreVote`].
    PreVoteResponse {
        /// The voter's currentTerm, for the pre-candidate to update itself (§5.1).
        term: Term,
        /// The `term` of the PreVote being answered, so that an answer to an earlier round
        /// (for another term) is not counted.
        proposed_term: Term,
        /// True if the voter would grant a vote in `proposed_term`.
        pre_vote_granted: bool,
    },
}

impl Message {
    /// The sender's term, carried by every Raft message (§5.1: "if one server's current term
    /// is smaller than the other's, then it updates its current term"). For a PreVote it is
    /// the proposed term, one past the sender's, which nobody adopts.
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. } => *term,
        }
    }
}

/// Timer payloads. Each carries the generation it was armed in: resetting a timer bumps the
/// generation, so a timer that fires after it was superseded is recognised and ignored even if
/// its cancellation raced with it.
#[derive(Clone, PartialEq, Eq)]
pub enum Timer {
    /// No AppendEntries from a current leader and no vote granted for a randomised interval:
    /// start an election (§5.2), or with PreVote a pre-vote round (thesis §9.6).
    Election {
        /// The arming generation.
        generation: u64,
    },
    /// A leader's periodic heartbeat (and check-quorum tick); a candidate's RequestVote retry
    /// or a pre-candidate's PreVote retry.
    Heartbeat {
        /// The arming generation.
        generation: u64,
    },
    /// Under `raft-ack-before-fsync` only: the deferred fsync of acknowledged entries.
    DeferredSync,
}

/// A record of the node's append-only disk. The durable state of Figure 2 (currentTerm,
/// votedFor, log[]) is the fold of these records in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// currentTerm and votedFor, written together in one record so that no crash can separate
    /// them (hashicorp/raft#661 is what happens when they are two writes).
    HardState {
        /// currentTerm.
        term: Term,
        /// votedFor in that term.
        voted_for: Option<NodeId>,
    },
    /// A log entry stored at `index` (which is always one past the log's end at that point).
    Entry {
        /// Where the entry goes.
        index: LogIndex,
        /// The entry.
        entry: Entry,
    },
    /// Every entry after `last_kept` was removed (a conflicting suffix, §5.3). The disk is
    /// append-only, so truncation is itself a record.
    Truncate {
        /// The last index that survives.
        last_kept: LogIndex,
    },
}

/// `index@term`, the paper's way of naming an entry by its position and term.
pub(crate) struct At(pub(crate) LogIndex, pub(crate) Term);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.0 .0, self.1 .0)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Noop => write!(f, "no-op"),
            Payload::Command(proposed) => write!(f, "{}", proposed.command()),
        }
    }
}

impl fmt::Display for Message {
    /// One line in Figure 2's words: `AppendEntries(term 3, prev 4@2, [5@3 write(k1, 7) by
    /// c1#9], commit 4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let granted = |yes: bool| if yes { "granted" } else { "refused" };
        match self {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => write!(
                f,
                "RequestVote(term {}, last {})",
                term.0,
                At(*last_log_index, *last_log_term)
            ),
            Message::RequestVoteResponse { term, vote_granted } => {
                write!(
                    f,
                    "RequestVoteResponse(term {}, {})",
                    term.0,
                    granted(*vote_granted)
                )
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                ..
            } => {
                write!(
                    f,
                    "AppendEntries(term {}, prev {}, ",
                    term.0,
                    At(*prev_log_index, *prev_log_term)
                )?;
                if entries.is_empty() {
                    write!(f, "heartbeat")?;
                } else {
                    write!(f, "[")?;
                    for (offset, entry) in entries.iter().enumerate() {
                        let index = LogIndex(prev_log_index.0 + 1 + offset as u64);
                        if offset > 0 {
                            write!(f, ", ")?;
                        }
                        write!(f, "{} {}", At(index, entry.term), entry.payload)?;
                    }
                    write!(f, "]")?;
                }
                write!(f, ", commit {})", leader_commit.0)
            }
            Message::AppendEntriesResponse {
                term,
                success,
                match_index,
                conflict_index,
                ..
            } => {
                if *success {
                    write!(
                        f,
                        "AppendEntriesResponse(term {}, ok, match {})",
                        term.0, match_index.0
                    )
                } else {
                    write!(
                        f,
                        "AppendEntriesResponse(term {}, mismatch, retry from {})",
                        term.0, conflict_index.0
                    )
                }
            }
            Message::PreVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => write!(
                f,
                "PreVote(term {}, last {})",
                term.0,
                At(*last_log_index, *last_log_term)
            ),
            Message::PreVoteResponse {
                term,
                proposed_term,
                pre_vote_granted,
            } => write!(
                f,
                "PreVoteResponse(term {}, for term {}, {})",
                term.0,
                proposed_term.0,
                granted(*pre_vote_granted)
            ),
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
            Timer::Election { .. } => write!(f, "election timeout"),
            Timer::Heartbeat { .. } => write!(f, "heartbeat timeout"),
            Timer::DeferredSync => write!(f, "deferred fsync"),
        }
    }
}

impl fmt::Debug for Timer {
    /// The trace's words (the generation only tells stale firings apart, which the node ignores).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
