//! How a protocol or an application describes itself to the rest of faultline: the traits
//! [`Protocol`] and [`App`] that every registry entry implements (`registry.rs` lists them).
//! Protocols and applications import this module, never the registry, so the registry can
//! import them.

use crate::apps::AnyApp;
pub use crate::capabilities::Capabilities;
use crate::mutation::{Bug, BugSet};
use crate::params::{Param, ParamError, Params};
use sim_core::check::Model;
use sim_core::client::Workload;
use sim_core::faults::FaultPlan;
use sim_core::history::{Function, HistoryEvent};
use sim_core::node::{Invariants, Node};
use sim_core::simulation::{SimConfig, SimReport, Simulation};
use std::fmt;

/// What names a registry entry, the same for protocols and applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Kebab-case name (`raft`, `kv`): reports, `faultline list`, bug families.
    pub name: &'static str,
    /// How a scenario file writes it (`Raft`, `Kv`).
    pub variant: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
    /// Its parameters, in the order listings show them.
    pub params: &'static [Param],
    /// Written without parentheses (`SingleServer`, `Register`): entries without parameters.
    pub bare: bool,
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
    /// Its name (`raft`), spelling (`Raft`), summary and parameters.
    fn identity(&self) -> &'static Identity;

    /// Kebab-case name (`raft`): reports, `faultline list`, bug families.
    fn name(&self) -> &'static str {
        self.identity().name
    }

    /// How a scenario file writes it (`Raft`).
    fn variant(&self) -> &'static str {
        self.identity().variant
    }

    /// Its parameters, in the order listings show them (`Raft(election_timeout: ...)`).
    fn params(&self) -> &'static [Param] {
        self.identity().params
    }

    /// How many nodes it runs.
    fn nodes(&self) -> NodeRule;

    /// How many nodes it runs with these (validated) parameters: [`Protocol::nodes`] unless
    /// a parameter decides it (two-phase commit: a coordinator and its participants).
    fn nodes_for(&self, _params: &Params) -> NodeRule {
        self.nodes()
    }

    /// What it implements for applications and their bugs: by default a replicated state
    /// machine.
    fn capabilities(&self) -> Capabilities {
        Capabilities::STATE_MACHINE
    }

    /// Every mark its nodes may emit (mutation marks aside): a sweep lists those no seed hit.
    fn marks(&self) -> &'static [&'static str];

    /// The classic bugs it carries.
    fn bugs(&self) -> &'static [Bug] {
        &[]
    }

    /// Every crash point its nodes pass (`ctx.crash_point(..)`): the moments where a crash
    /// is most interesting. Scenarios aim random crashes at them and script `CrashAt`s by
    /// these names; `faultline list` shows them.
    fn crash_points(&self) -> &'static [&'static str] {
        &[]
    }

    /// How many members a membership change (`AddShard`/`RemoveShard`) may name, with these
    /// parameters; `None` (the default): the protocol has no members to change, and validation
    /// refuses such changes.
    fn members(&self, _params: &Params) -> Option<u32> {
        None
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

    /// Are its client histories isolated (serializable), so that the application's history
    /// model and audit judge them? Sagas' are not: an audit may see money in flight, which
    /// their checker measures instead (unless the scenario makes it fatal).
    fn isolated(&self, _params: &Params) -> bool {
        true
    }

    /// Are its client histories linearizable when it is correct? The default. A protocol that
    /// promises less (CRDT replicas: reads may be stale) answers `false`: its runs skip the
    /// linearizability checker and the application's audit, and judge the history with
    /// [`Protocol::audit`] instead, and their invariant checker's figures measure what is
    /// not promised (how stale reads were: `sim_core::node::Invariants::figures`).
    fn linearizable(&self) -> bool {
        true
    }

    /// The audit of a non-[`linearizable`](Protocol::linearizable) protocol's history (the
    /// weaker guarantees it does promise).
    fn audit(&self, _params: &Params, _history: &[HistoryEvent]) -> AuditResult {
        Ok(())
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
    /// Its name (`kv`), spelling (`Kv`), summary and parameters.
    fn identity(&self) -> &'static Identity;

    /// Kebab-case name (`kv`).
    fn name(&self) -> &'static str {
        self.identity().name
    }

    /// How a scenario file writes it (`Kv`).
    fn variant(&self) -> &'static str {
        self.identity().variant
    }

    /// Its parameters.
    fn params(&self) -> &'static [Param] {
        self.identity().params
    }

    /// What a protocol must implement to run it: by default a replicated state machine.
    fn requires(&self) -> Capabilities {
        Capabilities::STATE_MACHINE
    }

    /// Does a protocol with `capabilities` run it? By default when they cover
    /// [`App::requires`]; an application that also runs another way says so here (the counter
    /// runs on state-merging CRDT replicas too).
    fn runs_on(&self, capabilities: Capabilities) -> bool {
        capabilities.covers(self.requires())
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

    /// Every mark its workload may record (BUGGIFY's client paths), for listings.
    fn marks(&self) -> &'static [&'static str] {
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
