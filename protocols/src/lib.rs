//! # protocols: the systems faultline tests
//!
//! Each protocol is a [`sim_core::node::Node`] implementation written in its paper's
//! vocabulary, with durable state through the simulated disk and timeouts on the local clock.
//! [`apps`] holds the replicated applications any consensus protocol can drive; [`mutation`]
//! the classic bugs each protocol can switch on.

#![forbid(unsafe_code)]

pub mod apps;
pub mod capabilities;
pub mod crdt;
pub mod describe;
pub mod group;
pub mod harness;
pub mod mutation;
pub mod params;
pub mod paxos;
pub mod primary_backup;
pub mod raft;
pub mod redlock;
pub mod registry;
pub mod saga;
pub mod sharded;
pub mod single_server;
pub mod two_phase_commit;
pub mod zab;
