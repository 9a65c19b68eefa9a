//! **Sagas**: the bank's transfers as orchestrated sagas (Garcia-Molina & Salem, "Sagas",
//! SIGMOD 1987), the alternative to two-phase commit that holds no lock across steps.
//!
//! Node 0 is the **orchestrator** (the paper's saga execution component, with its durable saga
//! log); nodes 1 to `participants` are the **participants**, participant `i` owning the `i`-th
//! contiguous range of accounts, as in [`two_phase_commit`](crate::two_phase_commit). Clients
//! send transfers and audits to the orchestrator; a participant redirects them there.
//!
//! ## The saga, as implemented
//!
//! A transfer of `amount` from `from` to `to` is the saga T1 T2 with one compensation C1:
//!
//! - T1, **debit** `from` (refused when `from` holds less than `amount`);
//! - T2, **credit** `to` (refused when `balance_max` is set and `to` would hold more);
//! - C1, **refund** `from` (never refused: a compensation must not fail).
//!
//! Either T1 T2 run, or T1 C1 run, or T1 is refused and nothing runs (the paper's guarantee,
//! *semantic atomicity*). Each step is a local transaction at its participant, which applies
//! it, forces an APPLIED record and only then answers; a step runs at most once per saga (a
//! re-sent step is answered from the record). A refusal is forced too (a REFUSED record with
//! the orchestrator's epoch) before it is answered, so every copy of one request gets the same
//! answer, however late or duplicated.
//!
//! A step's id is `(saga, step, epoch)`, the epoch being the orchestrator's incarnation (its
//! durable saga log's length when it recovered: it never goes down). Re-sends carry the same
//! id; a participant answers a refused id from its record, decides again only for a later
//! epoch (the orchestrator's forward recovery after a crash, which is allowed to decide the
//! credit again because it sent no refund yet), and ignores a request from an earlier epoch
//! than its latest refusal: a late copy nobody waits for. The orchestrator takes any answer
//! of its own epoch for the step in flight. So the saga is order-tolerant: a late copy of a
//! refused credit cannot be credited after the refund, nor one of a refused debit be debited
//! after the saga ended (both happened before session 9 under duplication and reordering:
//! `saga-bank-lossy`).
//!
//! The orchestrator's saga log: it **forces BEGIN before sending the debit**, **DEBITED before
//! sending the credit**, **COMPENSATING before sending the refund** and **END before answering
//! the client** (Ok for a completed saga, Fail otherwise). Steps left unanswered are re-sent
//! every `step_timeout` under the same id. **Recovery** replays the log: a saga with END is answered from it (a
//! retried request); one with COMPENSATING re-sends the refund; one with DEBITED re-sends the
//! credit (forward recovery: the credit is decided again); one with only BEGIN re-sends the
//! debit.
//!
//! Why COMPENSATING must be durable first: the refusal of the credit is not recorded anywhere
//! else. An orchestrator that sent the refund and then lost its record recovers to DEBITED,
//! re-sends the credit, and the credit may now be accepted: the money is both refunded and
//! credited (mutation `saga-compensation-not-durable`).
//!
//! An **audit** reads every participant's balances, each at its own moment, with no lock: it
//! may see money in flight (debited and not yet credited or refunded, or credited while its
//! debit is read from before). Sagas are not isolated. Every audit whose balances do not sum
//! to the initial total is an **isolation anomaly**: measured (`isolation_anomalies` in the
//! run's and the sweep's figures), not failed, unless the scenario says
//! `isolation_anomalies: Fatal` (for teaching): then the first one is a violation, and the
//! history also goes through the bank's strict-serializability model and conservation audit,
//! as for two-phase commit.
//!
//! ## What is checked
//!
//! [`SagaInvariants`], from the nodes' observations: `semantic-atomicity` (a saga never both
//! credited and refunded, a refund only after its debit, no step after its saga ended
//! otherwise, an ended saga's steps agree with its ending), `compensation-once` (no refund
//! applied twice), `conservation` (no negative balance; at the end, with nothing in flight,
//! the balances sum to the initial total), `durability` (checked at each END: a completed saga
//! has both steps applied, a compensated one its refund), `isolation` (only with `Fatal`), and
//! the liveness finding `saga-finished` (after the faults heal, no money stays in flight).
//! Measured figures: `isolation_anomalies`, `audits`, `compensations`, `money_in_flight_ns`
//! (simulated time from each debit to its credit or refund, summed).
//!
//! ## Deliberate simplifications
//!
//! - One orchestrator, not replicated; sagas wait for it while it is down (no lock waits).
//! - Logs grow without bound (no checkpoints); saga ids are random 64-bit draws.

use crate::mutation::BugSet;
use sim_core::id::NodeId;
use sim_core::time::Duration;
use std::fmt;

pub mod bugs;
mod descriptor;
mod invariants;
mod message;
mod node;
mod orchestrator;
mod participant;

pub use descriptor::{SagaProtocol, SAGA};
pub use invariants::SagaInvariants;
pub use message::{Ending, Message, Observation, Record, Timer};
pub use node::SagaNode;

/// Every crash point a saga node passes (`ctx.crash_point`); a test keeps it equal to the calls.
pub const CRASH_POINTS: &[&str] = &[
    "saga.after_step_sent",
    "saga.after_step_answered",
    "saga.orchestrator_recovering",
];

/// Every mark this protocol's nodes may emit. A test keeps it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "saga.audit_reread",
    "saga.buggify_step_resent",
    "saga.compensating",
    "saga.credit_refused",
    "saga.debit_refused",
    "saga.duplicate_request",
    "saga.recovered_compensating",
    "saga.recovered_in_flight",
    "saga.stale_answer",
    "saga.step_late_copy_ignored",
    "saga.step_refusal_answered",
    "saga.step_rerun_answered",
    "saga.step_resent",
];

/// The orchestrator's node.
pub const ORCHESTRATOR: NodeId = NodeId(0);

/// A saga's id: a random draw of the orchestrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SagaId(pub u64);

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "saga {:016x}", self.0)
    }
}

/// A step of a transfer's saga, or its compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// T1: take the amount from the debited account.
    Debit,
    /// T2: give it to the credited account.
    Credit,
    /// C1: give it back to the debited account.
    Refund,
}

impl Step {
    /// The signed change this step makes to its account.
    pub fn delta(self, amount: i64) -> i64 {
        match self {
            Step::Debit => -amount,
            Step::Credit | Step::Refund => amount,
        }
    }
}

/// The configuration every node shares.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many participants (nodes 1 to `participants`).
    pub participants: u32,
    /// Every account's initial balance, account 0 first (from the bank's audit).
    pub initial_balances: Vec<i64>,
    /// How long the orchestrator waits for an answer before re-sending.
    pub step_timeout: Duration,
    /// A credit that would take a balance above this is refused (0: no limit).
    pub balance_max: i64,
    /// The first isolation anomaly is a violation.
    pub anomalies_fatal: bool,
    /// Switched-on mutations.
    pub bugs: BugSet,
    /// BUGGIFY: now and then a step is sent twice (`saga.buggify_step_resent`).
    pub buggify: bool,
}

impl Config {
    /// A configuration with the descriptor's defaults.
    pub fn new(participants: u32, initial_balances: Vec<i64>) -> Config {
        assert!(participants >= 1, "a saga needs a participant");
        Config {
            participants,
            initial_balances,
            step_timeout: Duration::from_millis(50),
            balance_max: 0,
            anomalies_fatal: false,
            bugs: BugSet::NONE,
            buggify: false,
        }
    }

    /// How many accounts the bank has.
    pub fn accounts(&self) -> u32 {
        self.initial_balances.len() as u32
    }

    /// The accounts participant `node` owns (empty for the orchestrator).
    pub fn range(&self, node: NodeId) -> std::ops::Range<u32> {
        debug_assert_eq!(ORCHESTRATOR, NodeId(0), "node 0 owns no accounts");
        crate::apps::bank::account_range(self.accounts(), self.participants, node)
    }

    /// The participant owning `account`.
    ///
    /// # Panics
    /// If the bank has no such account.
    pub fn owner(&self, account: u32) -> NodeId {
        crate::apps::bank::account_owner(self.accounts(), self.participants, account)
    }

    /// The sum of every initial balance.
    pub fn total(&self) -> i64 {
        self.initial_balances.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participants_own_contiguous_ranges_and_steps_move_money_their_way() {
        let config = Config::new(3, vec![10; 8]);
        assert_eq!(config.range(ORCHESTRATOR), 0..0);
        assert_eq!(config.range(NodeId(2)), 2..5);
        for account in 0..8 {
            assert!(config.range(config.owner(account)).contains(&account));
        }
        assert_eq!(Step::Debit.delta(7), -7);
        assert_eq!(Step::Credit.delta(7), 7);
        assert_eq!(Step::Refund.delta(7), 7);
    }
}
