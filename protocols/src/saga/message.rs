//! What saga nodes send, log, time and report.

use super::{SagaId, Step};
use sim_core::id::{ClientId, RequestId};

/// Messages between the orchestrator and the participants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Orchestrator → participant: run `step` of `saga` as a local transaction on `account`.
    Run {
        /// The saga.
        saga: SagaId,
        /// Which step (or compensation).
        step: Step,
        /// The account it touches.
        account: u32,
        /// How much it moves (always positive; the step says which way).
        amount: i64,
        /// The orchestrator's incarnation that decided to run the step (its durable log's
        /// length when it recovered). With `saga` and `step` it is the step's id: every
        /// re-send carries the same one, and a participant decides a step once per id.
        epoch: u64,
    },
    /// Participant → orchestrator: the step ran (its record is durable) or was refused.
    Ran {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: Step,
        /// The incarnation whose request this answers.
        epoch: u64,
        /// Applied (now or earlier), or refused (nothing changed).
        applied: bool,
    },
    /// Orchestrator → participant: an audit's read of every balance it owns (no lock).
    Read {
        /// The audit.
        audit: u64,
    },
    /// Participant → orchestrator: the balances it holds now, `(account, balance)`.
    Balances {
        /// The audit.
        audit: u64,
        /// Every owned account, in order.
        balances: Vec<(u32, i64)>,
    },
}

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Debit and credit both ran.
    Completed,
    /// The debit ran, the credit was refused, the refund ran.
    Compensated,
    /// The debit was refused: nothing ran.
    Refused,
}

/// Durable records. The orchestrator writes `Begin`, `Debited`, `Compensating` and `End` (its
/// saga log); participants write `Applied`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A saga starts (forced before its debit is sent).
    Begin {
        /// The saga.
        saga: SagaId,
        /// The client request it runs.
        request: RequestId,
        /// The client slot.
        client: ClientId,
        /// Debited account.
        from: u32,
        /// Credited account.
        to: u32,
        /// Amount moved.
        amount: i64,
    },
    /// The debit ran (forced before the credit is sent).
    Debited {
        /// The saga.
        saga: SagaId,
    },
    /// The credit was refused: the saga compensates (forced before the refund is sent).
    Compensating {
        /// The saga.
        saga: SagaId,
    },
    /// The saga ended (forced before the client is answered).
    End {
        /// The saga.
        saga: SagaId,
        /// How.
        ending: Ending,
    },
    /// A participant ran a step (forced before answering).
    Applied {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: Step,
        /// The account.
        account: u32,
        /// The signed change.
        delta: i64,
    },
    /// A participant refused a step asked by incarnation `epoch` (forced before answering):
    /// copies of that request, however late, are answered from it, never decided again.
    Refused {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: Step,
        /// The orchestrator incarnation that asked.
        epoch: u64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The orchestrator re-sends steps and reads left unanswered (periodic).
    Resend,
}

/// What nodes report to [`SagaInvariants`](super::SagaInvariants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A participant ran a step: this change to this account.
    Applied {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: Step,
        /// The account.
        account: u32,
        /// The signed change.
        delta: i64,
    },
    /// A participant restarted from its durable records.
    Recovered {
        /// Its balances, `(account, balance)`.
        balances: Vec<(u32, i64)>,
        /// The steps it has run.
        applied: Vec<(SagaId, Step)>,
    },
    /// The orchestrator ended a saga (its END record is durable) and answers the client.
    Ended {
        /// The saga.
        saga: SagaId,
        /// How.
        ending: Ending,
    },
    /// The orchestrator answers an audit with these balances, account 0 first.
    Audited {
        /// Every balance as read.
        balances: Vec<i64>,
    },
}

/// Any node that speaks the saga's messages (the roles take their context through this bound,
/// so node.rs and the roles do not import each other).
pub trait Speaks:
    sim_core::node::Node<Msg = Message, Timer = Timer, Record = Record, Observation = Observation>
{
}

impl<N> Speaks for N where
    N: sim_core::node::Node<
        Msg = Message,
        Timer = Timer,
        Record = Record,
        Observation = Observation,
    >
{
}
