//! What a protocol implements beyond ordering commands, and what an application or one of its
//! bugs requires of it: the registry's protocol × application matrix is computed from these.

use std::fmt;

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
    /// The protocol orders client commands and applies them to an
    /// [`Application`](crate::apps::Application) on its replicas: a replicated state machine.
    /// What every application needs by default ([`App::requires`](crate::describe::App::requires))
    /// and every protocol offers by default.
    pub const STATE_MACHINE: Capabilities = Capabilities(1 << 3);
    /// The protocol runs client transactions over state partitioned among its nodes, atomically
    /// (two-phase commit): the bank needs it, and it is not a replicated state machine.
    pub const TRANSACTIONS: Capabilities = Capabilities(1 << 4);
    /// The replicas hold a state-based CRDT and merge each other's states; there is no order
    /// of commands (the `crdt` counters): the counter runs there, with weaker reads.
    pub const STATE_MERGE: Capabilities = Capabilities(1 << 5);
    /// The leader gives each txn its zxid
    /// ([`Application::prepare_txn`](crate::apps::Application::prepare_txn)) and proposes the
    /// session expiries the applied state names
    /// ([`Application::expired_sessions`](crate::apps::Application::expired_sessions)): ZAB,
    /// for ZooKeeper's lock recipe.
    pub const SESSION_TRACKER: Capabilities = Capabilities(1 << 6);
    /// The protocol keeps per-key values itself and moves them between groups (the sharded
    /// store): it runs only applications that are a per-key read/write/cas store (`Kv`,
    /// `Register`), and it is not a general replicated state machine.
    pub const KEYED_STORE: Capabilities = Capabilities(1 << 7);

    const NAMES: [(Capabilities, &'static str); 8] = [
        (Capabilities::STAMPED_COMMANDS, "stamped-commands"),
        (Capabilities::PROPOSAL_HOOK, "proposal-hook"),
        (Capabilities::SESSION_SWITCH, "session-switch"),
        (Capabilities::STATE_MACHINE, "state-machine"),
        (Capabilities::TRANSACTIONS, "transactions"),
        (Capabilities::STATE_MERGE, "state-merge"),
        (Capabilities::SESSION_TRACKER, "session-tracker"),
        (Capabilities::KEYED_STORE, "keyed-store"),
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
