//! Raft (placeholder doc, rewritten below).

pub mod config;
pub mod harness;
pub mod invariants;
pub mod log;
pub mod message;
pub mod node;

pub use config::{Config, ReadMode};
pub use invariants::{RaftInvariants, RaftObservation};
pub use message::{Entry, LogIndex, Message, Payload, Record, Term, Timer};
pub use node::{RaftNode, Role};
