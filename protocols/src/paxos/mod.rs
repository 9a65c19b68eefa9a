//! Multi-Paxos (Lamport, *Paxos Made Simple*, ACM SIGACT News 2001, §2–3; leases from Chandra,
//! Griesemer & Redstone, *Paxos Made Live*, PODC 2007, §5.2), as a pure state machine.
//!
//! [`PaxosNode`] implements [`sim_core::node::Node`] for any replicated
//! [`Application`](crate::apps::Application). Every replica plays the three roles of the
//! paper, proposer, acceptor and learner; the handlers record effects in the `Ctx` and never
//! perform them.
//!
//! ## The algorithm, as implemented
//!
//! - **Ballots (§2.2).** A ballot is `(round, node)`, ordered by round then node, so ballots of
//!   different proposers never collide. A proposer picks a round above every round it has seen
//!   (in any message, and in its own durable promise, so a restart never reuses a ballot).
//! - **Phase 1 for all slots at once (§3).** A replica that hears from no leader for a
//!   randomised leader timeout (`[leader_timeout_min, leader_timeout_max]`, local clock) picks
//!   a ballot, promises it to itself, and sends `Prepare { ballot, first_unchosen }`. An
//!   acceptor promises iff the ballot is above its promise, and reports the last proposal it
//!   accepted in every slot from `first_unchosen` on.
//! - **Becoming leader.** With promises from a majority, the proposer proposes in every slot
//!   from its first unchosen one up to the highest one reported, except those it already knows
//!   chosen: the value of the highest-ballot proposal reported there (P2c), or a **no-op**
//!   where nothing was reported (gap filling). New client commands take the slots after that.
//! - **Phase 2 and the distinguished leader.** While its ballot stands, the leader skips phase
//!   1: each command is one `Accept { ballot, slot, value }`; an acceptor accepts iff the
//!   ballot is at least its promise, and accepting also promises the ballot. A majority of
//!   `Accepted` answers chooses the value. The leader heartbeats every `heartbeat`; proposals
//!   unanswered for a round are sent again; a leader that hears from no majority for
//!   `leader_timeout_max` steps down; a `Nack` (the refusal the paper suggests in §2.3) or any
//!   message of a higher ballot preempts it.
//! - **Learning.** Accepts and heartbeats carry the leader's first unchosen slot: an acceptor
//!   whose last acceptance in a lower slot is the leader's current ballot learns that proposal
//!   as chosen. A replica that lags (a missed accept, a restart) reports its first unchosen
//!   slot in its heartbeat acknowledgement and the leader sends it the chosen values it lacks
//!   (catch-up, [`node::CATCH_UP_BATCH_MAX`] per acknowledgement). Slots are applied in order.
//! - **Persistence (§2.3).** The acceptor's promise and accepted proposals are disk records
//!   ([`Record`]), appended **and synced before any answer that depends on them** (a promise,
//!   an `Accepted`, the leader counting its own acceptance).
//!   [`Node::recover`](sim_core::node::Node::recover) folds the synced
//!   records back into the acceptor; everything else (what is chosen, the application, the
//!   proposer's state) is volatile and relearned.
//! - **Clients.** A non-leader answers `Redirect { leader }`. The leader stamps each fresh
//!   command with its ballot as epoch ([`Ballot::epoch`]), calls
//!   `Application::prepare_proposal`, proposes it, and answers when it applies the slot. A
//!   leader that steps down owes nothing (the client times out and retries under the same
//!   request id). Every replica applies commands through
//!   [`Sessions`](crate::apps::session::Sessions), so a command chosen twice (a retry proposed
//!   again by a new leader) is applied once and the retry gets the cached answer.
//! - **Reads.** [`ReadMode::Log`] (default) proposes reads like writes. [`ReadMode::Lease`]:
//!   a replica that acknowledges a heartbeat grants the leader a lease and promises no other
//!   proposer for `leader_timeout_min` on its own monotonic clock (and, after a restart, no
//!   one at all for that long, since it cannot know whom it granted a lease). The leader's
//!   lease runs from the *send* time of the newest heartbeat round a majority acknowledged to
//!   `leader_timeout_min` minus a drift margin later, on its monotonic clock
//!   ([`Config::lease_margin`] states the rule and the drift bound it covers). Under a lease,
//!   and once it has applied every slot below its phase-1 horizon, the leader answers reads
//!   from local state; otherwise reads go through the log.
//!
//! ## Invariants checked ([`PaxosInvariants`])
//!
//! Agreement with the global oracle of BUGS.md §2 (chosen = a majority accepted one (ballot,
//! value); never two values per slot; every learned value is the chosen one), one leader per
//! ballot, and state-machine safety (no two replicas apply different values at one slot).
//! See [`invariants`].
//!
//! ## Mutations (BUGS.md §2)
//!
//! Each is one `if config.bugs.contains(Bug::X)` at the rule it breaks:
//! P1 `paxos-accept-ignores-promise` (the acceptor's `n >= promised` guard on accept, in
//! [`acceptor`]), P2 `paxos-accept-does-not-raise-promise` (accepting `n` no longer promises
//! `n`, in [`acceptor`]), P4 `paxos-ignore-accepted-value` (variant a: a new leader proposes
//! its own value, a no-op, where a promise reported an accepted one), P6
//! `multipaxos-lease-read-unsafe` (no drift margin, [`Config::lease_margin`], and replicas that
//! granted a lease promise other proposers at once). `protocols/tests/paxos_mutations.rs`
//! kills each with a directed schedule.
//!
//! ## Marks
//!
//! The rare paths a sweep counts (preemption, refused prepares and accepts, adopted accepted
//! values, gap no-ops, catch-up, lease reads and waits, ...) are listed in [`MARKS`]; a sweep
//! reports those no seed reached.
//!
//! ## Deliberate simplifications
//!
//! - Static membership, no log compaction or snapshots: acceptors keep every accepted
//!   proposal, catch-up resends chosen values from the lagging replica's first unchosen slot,
//!   and a promise carries every proposal accepted from the proposer's first unchosen slot on
//!   (unbounded, like the log).
//! - What is chosen is not persisted: a restarted replica relearns and re-applies every slot
//!   (as Raft re-applies after learning the commit index).
//! - A lagging leader candidate re-proposes every slot it does not know chosen (Lamport's
//!   phase 1 for all instances, without shortcuts); nothing makes the most up-to-date replica
//!   the preferred candidate.
//! - Acceptors answer every accept and heartbeat individually; there is no batching of slots
//!   per message and no pipelining limit.
//! - A replica's lease grant names one leader: a heartbeat of a newer leader replaces it
//!   (that leader completed phase 1, so the older lease has run out already).

/// Every crash point its nodes pass (`ctx.crash_point`): after a promise or an acceptance is
/// logged (and, on an instant disk, sent), after a sync released the answers that waited for
/// it, between a leader's choice of a value and its Accept broadcast, and during recovery.
pub const CRASH_POINTS: &[&str] = &[
    "paxos.after_promise",
    "paxos.after_accept",
    "paxos.after_sync",
    "paxos.before_accept_broadcast",
    "paxos.recovering",
];

/// Every mark this protocol's nodes may emit (mutation marks aside), so that a sweep can say
/// which rare paths its seeds never reached (FoundationDB's code-probe coverage). A test keeps
/// it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "paxos.accept_refused",
    "paxos.accept_resent",
    "paxos.adopted_accepted_value",
    "paxos.buggify_late_accepted",
    "paxos.buggify_phase_2_waited",
    "paxos.buggify_reproposed",
    "paxos.catch_up",
    "paxos.duplicate_answered_from_session",
    "paxos.duplicate_not_applied",
    "paxos.gap_noop_filled",
    "paxos.lease_read",
    "paxos.lease_wait",
    "paxos.preempted",
    "paxos.prepare_refused",
    "paxos.proposals_abandoned",
    "paxos.quorum_lost",
    "paxos.recovered",
    "paxos.retry_in_flight",
];

pub mod acceptor;
pub mod bugs;
pub mod config;
mod descriptor;
pub mod harness;
pub mod invariants;
pub mod message;
pub mod node;
pub mod proposer;

pub use crate::apps::ProposedCommand;
pub use config::{Config, ReadMode};
pub use descriptor::{PaxosProtocol, PAXOS};
pub use invariants::{PaxosInvariants, PaxosObservation};
pub use message::{Ballot, Message, Proposal, Record, Slot, Timer, Value};
pub use node::{PaxosNode, Role};
