//! The single server's registry entry.

use super::{Config, Durability, SingleServer, MARKS};
use crate::apps::AnyApp;
use crate::describe::{Identity, NodeRule, Protocol, SimulationInputs};
use crate::mutation::BugSet;
use sim_core::node::NoInvariants;
use sim_core::simulation::SimReport;

/// The single server in the registry.
pub struct SingleServerProtocol;

/// The registry's value for the single server.
pub static SINGLE_SERVER: SingleServerProtocol = SingleServerProtocol;

/// How the registry and scenario files name it.
const IDENTITY: Identity = Identity {
    name: "single-server",
    variant: "SingleServer",
    summary:
        "node 0 owns all state and syncs every update before replying: the linearizable reference",
    params: &[],
    bare: true,
};

impl Protocol for SingleServerProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule::exactly(1)
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn crash_points(&self) -> &'static [&'static str] {
        super::CRASH_POINTS
    }

    fn simulate(
        &self,
        _params: &crate::params::Params,
        app: AnyApp,
        _bugs: BugSet,
        inputs: SimulationInputs,
    ) -> SimReport {
        let config = Config {
            durability: Durability::Synced,
            app,
        };
        inputs.simulate::<SingleServer<AnyApp>>(config, Box::new(NoInvariants))
    }
}
