//! Identifier newtypes. A bare integer never crosses an API.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A replica (server) in the simulated cluster, numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

/// A client *slot* (a thread of the workload), numbered from 0. A slot runs a sequence of
/// [`ProcessId`]s: when an operation ends indeterminate the slot gets a fresh process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub u32);

/// A Jepsen-style process: the logical single-threaded client that invoked an operation.
/// Process `p` belongs to client slot `p mod client_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcessId(pub u64);

/// A client request, unique within a run (a retried request keeps its id so that servers can
/// deduplicate it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// A timer set by a node, unique per node for the whole run (never reused after a restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

impl NodeId {
    /// The node's index into per-node tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl ClientId {
    /// The client slot's index into per-client tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}
