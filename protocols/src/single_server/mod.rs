//! A **single-server** register/kv: the reference point every replicated protocol is compared
//! against. One node, node 0, holds the application and answers every client; any other node
//! of the cluster (if the scenario has more than one) answers `Redirect { leader: node 0 }`.
//!
//! ## The algorithm
//!
//! 1. A read is answered from the current state ([`Application::query`]).
//! 2. Any other operation goes through the client-session table
//!    ([`Sessions`](crate::apps::session::Sessions)), so that a retried request is applied once
//!    and its retry gets the cached answer.
//! 3. A fresh command is applied, appended to the disk and synced, and only then answered.
//!    Effects are performed in the order they are recorded, so by the time the client can
//!    see the answer the command is durable.
//! 4. After a crash, [`Node::recover`](sim_core::node::Node::recover) replays the synced
//!    commands through a fresh session table, rebuilding both the application state and the
//!    deduplication cache exactly as they were.
//!
//! Every operation therefore takes effect at one instant inside its interval (when the
//! handler runs) and nothing acknowledged is forgotten: the server is **linearizable** under
//! every fault of the model except losing the server itself (which only costs availability:
//! clients time out while it is down, and their operations become indeterminate).
//!
//! With [`Durability::InMemory`] the server keeps nothing on disk, like a cache without
//! persistence: a crash and restart forget every write, so reads after the restart see `null`
//! and the checker must report the history as not linearizable. That mode exists to show the
//! checker finding lost acknowledged writes.
//!
//! ## What is checked
//!
//! Linearizability of the client history (`kv`, `register` or `cas-register` model). There are
//! no replica invariants: there is one replica. The server reports each applied command as an
//! [`Observation::Applied`].
//!
//! ## Marks
//!
//! Listed in [`MARKS`]: a restart that replayed records, a retry answered from the session
//! table, a delayed request older than its client's last one.
//!
//! ## Deliberate simplifications
//!
//! - The disk log grows without bound: no snapshots or compaction (runs are short).
//! - Every write is synced on its own; there is no group commit.
//! - Requests at other nodes are redirected rather than proxied.
//!
//! [`Application::query`]: crate::apps::Application::query

/// Every crash point its nodes pass (`ctx.crash_point`): after a command is logged (its reply waits for the sync), after the
/// replies a sync released, and during recovery from disk.
pub const CRASH_POINTS: &[&str] = &[
    "single_server.after_append",
    "single_server.after_durable_reply",
    "single_server.recovering",
];

/// Every mark this protocol's nodes may emit (mutation marks aside), so that a sweep can say
/// which rare paths its seeds never reached (FoundationDB's code-probe coverage). A test keeps
/// it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "single_server.duplicate_request",
    "single_server.recovered_from_disk",
    "single_server.stale_request",
];

mod descriptor;
mod node;

pub use descriptor::{SingleServerProtocol, SINGLE_SERVER};
pub use node::{Message, Observation, Record, SingleServer, Timer};

/// Where the server keeps its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Append and sync every write before acknowledging it (the correct server; the default).
    #[default]
    Synced,
    /// Keep everything in memory: a crash loses every write (not linearizable across crashes).
    InMemory,
}

/// Configuration of the single server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config<A = crate::apps::kv::Kv> {
    /// Whether writes survive a crash. Default [`Durability::Synced`].
    pub durability: Durability,
    /// The application's initial state.
    pub app: A,
}

/// The node that serves clients; every other node redirects to it.
pub const SERVER: sim_core::id::NodeId = sim_core::id::NodeId(0);
