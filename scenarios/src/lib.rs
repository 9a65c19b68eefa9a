//! # scenarios: scenario files, the runner, sweeps and the `faultline` command line
//!
//! Scenario files are RON, parsed in two stages (raw file, then a validated scenario); the
//! runner turns a scenario and a seed into a run of the kernel; sweeps run many seeds on rayon
//! and collect results in seed order.

#![forbid(unsafe_code)]

pub mod budget;
pub mod commands;
pub mod exit;
pub mod expectation;
pub mod file;
pub mod locate;
pub mod runner;
pub mod scenario;
pub mod shrink;
