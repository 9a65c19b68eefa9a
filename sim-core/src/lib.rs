//! # sim-core: faultline's deterministic simulation kernel
//!
//! A single-threaded discrete-event simulator for consistency protocols, plus the
//! linearizability checker that audits what it records.
//!
//! The principal types and how they compose:
//!
//! - [`time`]: virtual [`time::Instant`] and [`time::Duration`] (u64 nanoseconds).
//! - [`prng`]: [`prng::Prng`], one ChaCha8 stream per purpose, integer-only sampling, and
//!   [`prng::Ratio`] (parts per million).
//! - [`node`]: the [`node::Node`] trait that protocols implement, the [`node::Ctx`] their
//!   handlers record effects into, client [`node::Request`]s and [`node::Reply`]s, and the
//!   [`node::Invariants`] trait of per-protocol checkers.
//! - [`network`], [`disk`], [`clock`]: the virtual network (latency, loss, duplication,
//!   reordering, directed partitions, clogging), per-node append-only disks whose syncs take time,
//!   and per-node clocks with offset and drift.
//! - [`faults`]: the fault plan, scripted or generated from the seed.
//! - [`client`]: workload-driven client processes that record the [`history::History`].
//! - [`simulation`]: the scheduler that ties them together: `Simulation::run` is a pure
//!   function of its configuration and seed.
//! - [`trace`]: the stable 64-bit trace digest.
//! - [`check`]: the linearizability checker and history readers.
//!
//! ## Determinism contract
//!
//! A run depends only on (configuration, seed, build). Nothing in this crate reads the wall
//! clock, the OS's randomness, the environment, or a global; nothing iterates a hash map
//! (`clippy.toml` bans them); events are totally ordered by `(time, sequence number)`; every
//! random draw comes from a purpose-specific stream derived from the seed; no floating point is
//! used inside a run. The trace digest makes violations of this contract visible.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod client;
pub mod clock;
pub mod disk;
pub mod faults;
pub mod history;
pub mod id;
pub mod network;
pub mod node;
pub mod prng;
pub mod simulation;
pub mod testkit;
pub mod time;
pub mod trace;
