//! The single server's registry entry.

use super::{Config, Durability, SingleServer, MARKS};
use crate::apps::AnyApp;
use crate::mutation::BugSet;
use crate::registry::{NodeRule, Protocol, SimulationInputs};
use sim_core::node::NoInvariants;
use sim_core::simulation::SimReport;

/// The single server in the registry.
pub struct SingleServerProtocol;

/// The registry's value for the single server.
pub static SINGLE_SERVER: SingleServerProtocol = SingleServerProtocol;

impl Protocol for SingleServerProtocol {
    fn name(&self) -> &'static str {
        "single-server"
    }

    fn variant(&self) -> &'static str {
        "SingleServer"
    }

    fn summary(&self) -> &'static str {
        "node 0 owns all state and syncs every update before replying: the linearizable reference"
    }

    fn bare(&self) -> bool {
        true
    }

    fn nodes(&self) -> NodeRule {
        NodeRule::exactly(1)
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
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
