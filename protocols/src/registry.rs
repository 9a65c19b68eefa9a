//! The registry: every protocol and every application faultline can run, one line each.
//!
//! A protocol describes itself through [`Protocol`] (name, parameters, node-count rule,
//! capabilities, marks, bugs, invariants, and how to run a node of it for any application); an
//! application through [`App`] (name, parameters, operations, history model, audit, and how to
//! build its state and its workload); both traits live in [`crate::describe`]. The scenario
//! reader, the runner, `faultline list`, the validation messages and `--bug` all work from
//! [`PROTOCOLS`] and [`APPS`] alone: nothing outside a protocol's folder names its types except
//! its line below.
//!
//! Adding a protocol: a folder `protocols/src/<name>/` with a `pub mod` line in `lib.rs`, a
//! value implementing [`Protocol`], and its line in [`PROTOCOLS`]. See README "Adding a
//! protocol".

use crate::crdt;
pub use crate::describe::{
    App, AuditResult, Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::Bug;
use crate::redlock;
use crate::saga;
use crate::sharded;
use crate::{apps, paxos, primary_backup, raft, single_server, two_phase_commit, zab};

/// Every protocol, in the order listings show them.
pub static PROTOCOLS: &[&dyn Protocol] = &[
    &single_server::SINGLE_SERVER,
    &primary_backup::PRIMARY_BACKUP,
    &raft::RAFT,
    &paxos::PAXOS,
    &zab::ZAB,
    &two_phase_commit::TWO_PHASE_COMMIT,
    &saga::SAGA,
    &redlock::REDLOCK,
    &crdt::CRDT,
    &sharded::SHARDED,
];

/// Every application, in the order listings show them.
pub static APPS: &[&dyn App] = &[
    &apps::kv::KV,
    &apps::kv::REGISTER,
    &apps::counter::COUNTER,
    &apps::lock::LOCK,
    &apps::zk_lock::ZK_LOCK,
    &apps::bank::BANK,
];

/// The protocol written `variant` in a scenario file (`Raft`).
pub fn protocol_by_variant(variant: &str) -> Option<&'static dyn Protocol> {
    PROTOCOLS
        .iter()
        .copied()
        .find(|protocol| protocol.variant() == variant)
}

/// The protocol called `name` (`raft`).
pub fn protocol_by_name(name: &str) -> Option<&'static dyn Protocol> {
    PROTOCOLS
        .iter()
        .copied()
        .find(|protocol| protocol.name() == name)
}

/// The application written `variant` in a scenario file (`Kv`).
pub fn app_by_variant(variant: &str) -> Option<&'static dyn App> {
    APPS.iter().copied().find(|app| app.variant() == variant)
}

/// The application called `name` (`kv`).
pub fn app_by_name(name: &str) -> Option<&'static dyn App> {
    APPS.iter().copied().find(|app| app.name() == name)
}

/// Every bug with its owner (`raft`, `counter`), protocols' first, in registry order.
pub fn all_bugs() -> Vec<(Bug, &'static str)> {
    let protocols = PROTOCOLS
        .iter()
        .flat_map(|protocol| protocol.bugs().iter().map(|&bug| (bug, protocol.name())));
    let apps = APPS
        .iter()
        .flat_map(|app| app.bugs().iter().map(|&bug| (bug, app.name())));
    let mut bugs: Vec<(Bug, &'static str)> = Vec::new();
    for (bug, owner) in protocols.chain(apps) {
        // Applications that share a family (kv and register) may list the same bug once each.
        if !bugs.iter().any(|(known, _)| *known == bug) {
            bugs.push((bug, owner));
        }
    }
    bugs
}

/// The bug called `name`, with its owner.
pub fn bug_by_name(name: &str) -> Option<(Bug, &'static str)> {
    all_bugs().into_iter().find(|(bug, _)| bug.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_variants_and_bugs_are_unique() {
        let mut names: Vec<&str> = PROTOCOLS.iter().map(|p| p.name()).collect();
        names.extend(APPS.iter().map(|a| a.name()));
        let mut variants: Vec<&str> = PROTOCOLS.iter().map(|p| p.variant()).collect();
        variants.extend(APPS.iter().map(|a| a.variant()));
        for list in [&mut names, &mut variants] {
            let count = list.len();
            list.sort_unstable();
            list.dedup();
            assert_eq!(list.len(), count, "a name or variant is registered twice");
        }
        for (bug, owner) in all_bugs() {
            assert!(
                bug.name().contains(owner),
                "{bug} belongs to {owner}: bugs are named after their family"
            );
            assert_eq!(bug_by_name(bug.name()).map(|(b, _)| b), Some(bug));
        }
        assert!(bug_by_name("raft-commit-prior-turn").is_none());
    }

    #[test]
    fn paramless_entries_and_bare_spelling_agree() {
        for protocol in PROTOCOLS {
            assert!(
                !protocol.identity().bare || protocol.params().is_empty(),
                "{}",
                protocol.name()
            );
        }
        for app in APPS {
            assert!(
                !app.identity().bare || app.params().is_empty(),
                "{}",
                app.name()
            );
        }
    }
}
