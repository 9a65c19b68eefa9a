//! The registry: every protocol and every application faultline can run, one line each.
//!
//! A protocol describes itself through [`Protocol`] (name, parameters, node-count rule,
//! capabilities, marks, bugs, invariants, and how to run a node of it for any application); an
//! application through [`App`] (name, parameters, operations, history model, audit, and how to
//! build its state and its workload). The scenario reader, the runner, `faultline list`, the
//! validation messages and `--bug` all work from [`PROTOCOLS`] and [`APPS`] alone: nothing
//! outside a protocol's folder names its types except its line below.
//!
//! Adding a protocol: a folder `protocols/src/<name>/` with a `pub mod` line in `lib.rs`, a
//! value implementing [`Protocol`], and its line in [`PROTOCOLS`]. See README "Adding a
//! protocol".

use crate::apps::AnyApp;
use crate::mutation::{Bug, BugSet};
use crate::params::{ParamError, Params};
use crate::{apps, paxos, primary_backup, raft, single_server};
use sim_core::check::Model;
use sim_core::client::Workload;
use sim_core::faults::FaultPlan;
use sim_core::history::{Function, HistoryEvent};
use sim_core::node::{Invariants, Node};
use sim_core::simulation::{SimConfig, SimReport, Simulation};
use std::fmt;

/// Every protocol, in the order listings show them.
pub static PROTOCOLS: &[&dyn Protocol] = &[
    &single_server::SINGLE_SERVER,
    &primary_backup::PRIMARY_BACKUP,
    &raft::RAFT,
    &paxos::PAXOS,
];

/// Every application, in the order listings show them.
pub static APPS: &[&dyn App] = &[
    &apps::kv::KV,
    &apps::kv::REGISTER,
    &apps::counter::COUNTER,
    &apps::lock::LOCK,
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

/// What a protocol implements beyond ordering commands, and what an application or a bug may
/// require of it. A small bitset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities(u32);

impl Capabilities {
    /// Nothing.
    pub const NONE: Capabilities = Capabilities(0);
    /// Commands carry the proposer's leadership epoch and clock readings
    /// ([`Stamp`](crate::apps::Stamp)), so time-dependent applications (lease locks) decide
    /// from replicated data only.
    pub const STAMPED_COMMANDS: Capabilities = Capabilities(1);
    /// The leader calls [`Application::prepare_proposal`](crate::apps::Application::prepare_proposal)
    /// once per fresh command (where the counter's C1 lives).
    pub const PROPOSAL_HOOK: Capabilities = Capabilities(1 << 1);
    /// The replicas build their session table with
    /// [`Sessions::for_bugs`](crate::apps::session::Sessions::for_bugs) (where the counter's C2
    /// switches deduplication off).
    pub const SESSION_SWITCH: Capabilities = Capabilities(1 << 2);

    const NAMES: [(Capabilities, &'static str); 3] = [
        (Capabilities::STAMPED_COMMANDS, "stamped-commands"),
        (Capabilities::PROPOSAL_HOOK, "proposal-hook"),
        (Capabilities::SESSION_SWITCH, "session-switch"),
    ];

    /// Both sets.
    pub const fn with(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// Does this set hold every capability of `required`?
    pub const fn covers(self, required: Capabilities) -> bool {
        self.0 & required.0 == required.0
    }

    /// The names of the capabilities in this set.
    pub fn names(self) -> Vec<&'static str> {
        Capabilities::NAMES
            .iter()
            .filter(|(capability, _)| self.covers(*capability))
            .map(|&(_, name)| name)
            .collect()
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(", "))
        }
    }
}

/// How many nodes a protocol runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeRule {
    /// When the scenario gives no `nodes`.
    pub default: u32,
    /// The fewest it runs.
    pub min: u32,
    /// The most it runs (the scenario's own limit applies too).
    pub max: u32,
}

impl NodeRule {
    /// Exactly `count` nodes.
    pub const fn exactly(count: u32) -> NodeRule {
        NodeRule {
            default: count,
            min: count,
            max: count,
        }
    }

    /// Any number from 1, `default` when unsaid.
    pub const fn any(default: u32) -> NodeRule {
        NodeRule {
            default,
            min: 1,
            max: u32::MAX,
        }
    }

    /// Does the rule allow `count` nodes?
    pub fn allows(self, count: u32) -> bool {
        (self.min..=self.max).contains(&count)
    }
}

impl fmt::Display for NodeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "exactly {}", self.min)
        } else {
            write!(f, "default {}", self.default)
        }
    }
}

/// What a protocol's `validate` may look at besides its own parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScenarioContext {
    /// The faults are generated from the seed (`Random(...)`), not scripted or absent.
    pub random_faults: bool,
}

/// Everything one simulation needs besides the node type and its configuration: the kernel's
/// configuration, the client workload and the concrete fault plan.
pub struct SimulationInputs {
    /// The kernel's configuration (seed, node count, network, clients, phases, limits).
    pub sim: SimConfig,
    /// The client workload.
    pub workload: Box<dyn Workload>,
    /// The faults, made concrete.
    pub plan: FaultPlan,
}

impl SimulationInputs {
    /// Runs nodes of type `N`, configured with `node_config`, under `invariants`.
    pub fn simulate<N: Node>(
        self,
        node_config: N::Config,
        invariants: Box<dyn Invariants<N::Observation>>,
    ) -> SimReport {
        Simulation::<N>::new(self.sim, node_config, self.workload, invariants, self.plan).run()
    }
}

/// A protocol, as the rest of faultline sees it.
pub trait Protocol: Sync {
    /// Kebab-case name (`raft`): reports, `faultline list`, bug families.
    fn name(&self) -> &'static str;

    /// How a scenario file writes it (`Raft`).
    fn variant(&self) -> &'static str;

    /// One line on what it is.
    fn summary(&self) -> &'static str;

    /// Its parameters, in the order listings show them (`Raft(election_timeout: ...)`).
    fn params(&self) -> &'static [crate::params::Param] {
        &[]
    }

    /// Written without parentheses (`SingleServer`): for protocols without parameters.
    fn bare(&self) -> bool {
        false
    }

    /// How many nodes it runs.
    fn nodes(&self) -> NodeRule;

    /// What it implements for applications and their bugs.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Every mark its nodes may emit (mutation marks aside): a sweep lists those no seed hit.
    fn marks(&self) -> &'static [&'static str];

    /// The classic bugs it carries.
    fn bugs(&self) -> &'static [Bug] {
        &[]
    }

    /// The names of the invariants its checker enforces at every step (listings).
    fn invariants(&self) -> &'static [&'static str] {
        &[]
    }

    /// The rules its parameters must keep together, and decided defaults (every parameter has
    /// a value afterwards). The shared rules of [`crate::params::check_kinds`] already hold.
    ///
    /// # Errors
    /// The parameter that breaks a rule, and why.
    fn validate(&self, _params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        Ok(())
    }

    /// Why a validated configuration cannot run in this build (an option that parses but is
    /// not implemented), if so.
    fn unsupported(&self, _params: &Params) -> Option<String> {
        None
    }

    /// Runs one simulation of this protocol replicating `app`, with `bugs` switched on.
    fn simulate(
        &self,
        params: &Params,
        app: AnyApp,
        bugs: BugSet,
        inputs: SimulationInputs,
    ) -> SimReport;
}

/// An application's audit of a history beyond linearizability: `Err((invariant, message))`.
pub type AuditResult = Result<(), (&'static str, String)>;

/// A replicated application, as the rest of faultline sees it.
pub trait App: Sync {
    /// Kebab-case name (`kv`).
    fn name(&self) -> &'static str;

    /// How a scenario file writes it (`Kv`).
    fn variant(&self) -> &'static str;

    /// One line on what it is.
    fn summary(&self) -> &'static str;

    /// Its parameters.
    fn params(&self) -> &'static [crate::params::Param] {
        &[]
    }

    /// Written without parentheses (`Register`): for applications without parameters.
    fn bare(&self) -> bool {
        false
    }

    /// What a protocol must implement to replicate it.
    fn requires(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// The classic bugs it carries (each may require more of the protocol: [`Bug::requires`]).
    fn bugs(&self) -> &'static [Bug] {
        &[]
    }

    /// The operations clients invoke.
    fn functions(&self) -> &'static [Function];

    /// The operation mix when the scenario gives none.
    fn default_mix(&self) -> &'static [(Function, u64)];

    /// Does the workload take a mix? (The lock's is fixed: acquire, fenced writes, release.)
    fn takes_mix(&self) -> bool {
        true
    }

    /// Independent objects (keys, locks; 1 for single-object applications).
    fn object_count(&self, params: &Params) -> u32;

    /// The checker's model of its histories.
    fn model(&self) -> Model;

    /// The names of the audits [`App::audit`] runs besides linearizability (listings).
    fn audits(&self) -> &'static [&'static str] {
        &[]
    }

    /// The rules its parameters must keep together.
    ///
    /// # Errors
    /// The parameter that breaks a rule, and why.
    fn validate(&self, _params: &mut Params) -> Result<(), ParamError> {
        Ok(())
    }

    /// The initial state every replica starts from.
    fn build(&self, params: &Params, bugs: BugSet) -> AnyApp;

    /// The client workload: `mix` of functions and weights, `clients` slots.
    fn workload(
        &self,
        params: &Params,
        mix: Vec<(Function, u64)>,
        clients: u32,
        bugs: BugSet,
    ) -> Box<dyn Workload>;

    /// Its own audit of a history (bounds, mutual exclusion).
    fn audit(&self, _params: &Params, _bugs: BugSet, _history: &[HistoryEvent]) -> AuditResult {
        Ok(())
    }
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
                bug.name().starts_with(owner) || owner == "paxos",
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
                !protocol.bare() || protocol.params().is_empty(),
                "{}",
                protocol.name()
            );
        }
        for app in APPS {
            assert!(!app.bare() || app.params().is_empty(), "{}", app.name());
        }
    }
}
