//! Raft (Ongaro & Ousterhout, *In Search of an Understandable Consensus Algorithm*, USENIX
//! ATC'14, extended version; Ongaro's thesis, Stanford 2014), as a pure state machine.
//!
//! [`RaftNode`] implements [`sim_core::node::Node`] for any replicated
//! [`Application`](crate::apps::Application). Its handlers follow Figure 2's "Rules for
//! Servers" in the paper's vocabulary and record effects in the `Ctx`; they never perform them.
//!
//! ## The algorithm, as implemented
//!
//! - **Elections (§5.2).** A follower that hears from no leader for a randomised election
//!   timeout (drawn from `ctx.rng()` in `[election_timeout_min, election_timeout_max]`, on the
//!   *local* clock) becomes candidate: it increments currentTerm, votes for itself and sends
//!   RequestVote. A voter grants at most one vote per term, and only to a candidate whose log
//!   is at least as up-to-date as its own, comparing (lastLogTerm, lastLogIndex)
//!   lexicographically (§5.4.1). A majority of votes makes a leader. A candidate asks the
//!   voters that have not answered again every heartbeat interval ("servers retry RPCs if they
//!   do not receive a response in a timely manner", §5.1).
//! - **Terms (§5.1).** Any message with a higher term makes the receiver adopt the term and
//!   become follower; messages of lower terms are answered with the receiver's term (so a
//!   deposed leader learns it) or ignored when they are responses.
//! - **Replication (§5.3).** AppendEntries carries prevLogIndex/prevLogTerm; a follower whose
//!   log does not match rejects it and returns a hint (the first index of the conflicting term,
//!   or one past its log) so the leader backs nextIndex up by a term at a time. A follower
//!   deletes a conflicting suffix before appending. The leader keeps nextIndex and matchIndex
//!   per follower; matchIndex only grows (responses may be reordered or duplicated).
//! - **Commitment (§5.4.2).** The leader advances commitIndex to the largest N stored on a
//!   majority **only if `log[N].term == currentTerm`**: counting replicas of an earlier term's
//!   entry is unsafe (Figure 8). Every leader appends a no-op at the start of its term (§8),
//!   which commits the earlier entries indirectly.
//! - **Persistence (Figure 2).** currentTerm and votedFor are one disk record
//!   ([`Record::HardState`]), so a crash cannot separate them; log entries are
//!   [`Record::Entry`] and a removed suffix is [`Record::Truncate`] (the disk is append-only).
//!   Every reply that depends on them (a vote, an AppendEntries acknowledgement) is recorded
//!   after `ctx.sync()`, and a leader counts its own entries toward a majority only once they
//!   are synced. [`Node::recover`](sim_core::node::Node::recover) folds the synced records back
//!   into term, vote and log; commitIndex and the state machine are volatile and rebuilt by
//!   re-applying once the node learns the commit index again.
//! - **Clients (§8, thesis §6).** A non-leader answers `Redirect { leader }`. A leader appends
//!   the command and replies when it applies the entry; if it loses leadership first it does
//!   not reply at all (the client times out and retries: the entry may still commit). Each
//!   replica drives the application through [`Sessions`](crate::apps::session::Sessions),
//!   the session table of thesis §6.3 (client slot → last request id and its outcome), so a
//!   retried request is applied once and its retry gets the cached outcome. A fresh command
//!   goes through [`Application::prepare_proposal`](crate::apps::Application::prepare_proposal)
//!   when the leader proposes it.
//! - **Reads (§8, thesis §6.4).** With [`ReadMode::ReadIndex`] (default) a read waits until
//!   the leader has committed an entry of its own term, records commitIndex as its read index,
//!   starts a heartbeat round, and is answered from the state machine once a majority has
//!   acknowledged that round and lastApplied ≥ read index. With [`ReadMode::Log`] reads are
//!   appended and answered when applied. A leader that steps down redirects waiting reads.
//! - **Check-quorum (thesis §6.2, optional).** A leader that hears from no majority within
//!   `election_timeout_max` steps down.
//! - **PreVote (thesis §9.6, optional).** With `Config::pre_vote` a server whose election timer
//!   fires becomes pre-candidate instead: it sends `PreVote { term: currentTerm + 1, .. }` and
//!   changes nothing persistent (term and votedFor stay). A server grants a pre-vote iff the
//!   proposed term is above its own, the pre-candidate's log is at least as up-to-date (§5.4.1)
//!   and it has not accepted an AppendEntries from a current leader within
//!   `election_timeout_min` on its clock (a leader always refuses); answering changes no state,
//!   and the proposed term is never adopted. A majority of grants (itself included) starts the
//!   real election above; otherwise the next timeout runs another round, and silent peers are
//!   asked again every heartbeat interval. A server cut off and reconnected thus cannot raise
//!   the cluster's term and depose a leader the others still hear.
//!
//! ## Invariants checked ([`RaftInvariants`])
//!
//! Election safety, log matching, leader completeness and state-machine safety (Figure 3), from
//! [`RaftObservation`]s emitted at the moments they concern: became leader (with the log's
//! terms), voted, appended, truncated, committed, applied. See [`invariants`].
//!
//! ## Mutations (BUGS.md §1)
//!
//! Each is one `if config.bugs.contains(Bug::X)` at the rule it breaks:
//! R1 `raft-commit-prior-term` (commit rule drops the current-term clause), R2
//! `raft-votedfor-not-durable` (the hard state is appended but not synced: variant A), R4
//! `raft-no-election-restriction` (votes and pre-votes skip the up-to-date check, which they
//! share), R6 `raft-ack-before-fsync` (followers acknowledge and the leader counts itself
//! before syncing; the sync happens on a later timer), R7 `raft-stale-read-no-readindex` (a leader answers reads from local state at
//! once). `protocols/tests/raft_mutations.rs` kills each with its minimal schedule. The
//! application mutations apply too: C2 `counter-retry-not-idempotent` switches the session
//! table off ([`Sessions::without_deduplication`](crate::apps::session::Sessions::without_deduplication)),
//! and an application's own mutations (C1 `counter-nonatomic-rmw`) act through
//! `prepare_proposal`.
//!
//! ## BUGGIFY
//!
//! With `Config::buggify` (the runner sets it for generated fault plans, never for scripted
//! ones) a node now and then takes a legal but unusual path, drawn from its own stream, so
//! that random faults land in windows that otherwise need exact timing (FoundationDB's
//! BUGGIFY): one new leader in four stays quiet until its first heartbeat (its no-op stays
//! local a while, as if its disk were slow), one in four catches followers up before it
//! appends its no-op, and one acknowledgement in four leaves the follower's next batch to the
//! next heartbeat. Every choice is correct Raft; they only move when things happen.
//!
//! ## Marks
//!
//! The rare paths a sweep counts (truncation, step-down, each reason a vote or an append is
//! refused, recovery with a log, PreVote's and BUGGIFY's paths, ...) are listed in [`MARKS`];
//! a sweep reports those no seed reached. Where a switched-on mutation changes a decision it
//! also marks `mutation.raft-commit-prior-term` or `mutation.raft-no-election-restriction`.
//!
//! ## Deliberate simplifications
//!
//! - Static membership: no configuration changes (§6), no log compaction or snapshots (§7).
//! - No leadership transfer and no leases for reads. PreVote is the only defence against
//!   disruptive servers: a RequestVote received soon after hearing from a leader is still
//!   honoured (thesis §4.2.3 would ignore it).
//! - Flow control is the simplest that keeps each entry crossing each link about once: at most
//!   one AppendEntries carrying entries is outstanding per follower (its answer sends the next
//!   batch), and the heartbeat resends from nextIndex in case a batch or its answer was lost.
//!   No pipelining; followers treat repeats idempotently. Each batch carries at most a power
//!   of two of entries drawn from the node's stream, up to `max_entries_per_append`: real
//!   batches are bounded in bytes, so their entry counts vary, and varying them here lets
//!   every prefix of a catch-up reach a majority in some run.
//! - The leader syncs each client entry before replicating it rather than writing to its
//!   disk in parallel with replication (§10.2.1), which is slower but simpler to reason about.
//! - The session table keeps only the last request per client slot and assumes a slot's
//!   request ids increase (a retry of an older request is answered `Unknown`, not re-applied).
//!   Entries of abandoned sessions are never expired.
//! - Unreachable or down peers are retried on every heartbeat with no backoff.

/// Every crash point its nodes pass (`ctx.crash_point`): after a candidate logged its new
/// term and its own vote, after a vote or an AppendEntries success is logged (sent at once on
/// an instant disk), after a sync released the answers that waited for it, between commit and
/// apply, and during recovery with a log.
pub const CRASH_POINTS: &[&str] = &[
    "raft.after_candidacy",
    "raft.after_vote",
    "raft.after_append_entries",
    "raft.after_sync",
    "raft.after_commit",
    "raft.recovering",
];

/// Every mark this protocol's nodes may emit (mutation marks aside), so that a sweep can say
/// which rare paths its seeds never reached (FoundationDB's code-probe coverage). A test keeps
/// it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "raft.append_rejected_log",
    "raft.append_rejected_term",
    "raft.buggify_held_batch",
    "raft.buggify_late_noop",
    "raft.buggify_quiet_leader",
    "raft.check_quorum_step_down",
    "raft.commit_deferred_prior_term",
    "raft.duplicate_answered_from_session",
    "raft.duplicate_not_applied",
    "raft.pre_vote_granted",
    "raft.pre_vote_rejected_leader_alive",
    "raft.pre_vote_rejected_log",
    "raft.pre_vote_rejected_term",
    "raft.pre_vote_retried",
    "raft.pre_vote_won",
    "raft.proposals_abandoned",
    "raft.read_index_confirmed",
    "raft.recovered_with_log",
    "raft.retry_in_flight",
    "raft.stale_retry_not_applied",
    "raft.step_down",
    "raft.truncate",
    "raft.vote_rejected_already_voted",
    "raft.vote_rejected_log",
    "raft.vote_rejected_term",
    "raft.vote_retried",
];

pub mod bugs;
pub mod config;
mod descriptor;
pub mod harness;
pub mod invariants;
pub mod log;
pub mod message;
pub mod node;

pub use config::{Config, ReadMode};
pub use descriptor::{RaftProtocol, RAFT};
pub use invariants::{RaftInvariants, RaftObservation};
pub use message::{Entry, LogIndex, Message, Payload, Record, Term, Timer};
pub use node::{RaftNode, Role};
