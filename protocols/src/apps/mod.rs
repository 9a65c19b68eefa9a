//! The replicated applications: deterministic state machines that a consensus protocol (Raft,
//! Multi-Paxos, ZAB) or a reference protocol drives through one interface.
//!
//! A protocol turns each client [`Request`] into a [`Command`], agrees on an order of commands,
//! and calls [`Application::apply`] on every replica in that order; the [`Outcome`] of the
//! replica that answers the client goes back in the reply. Reads that bypass the log (ReadIndex,
//! leases) use [`Application::query`].

use sim_core::id::{ClientId, ProcessId, RequestId};
use sim_core::node::{Operation, Outcome, Request};
use std::fmt;

/// A client command as it is ordered by a protocol and applied by an application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The request (retries keep it: the key for exactly-once deduplication).
    pub request: RequestId,
    /// The client slot that sent it.
    pub client: ClientId,
    /// The Jepsen process it was sent for.
    pub process: ProcessId,
    /// What to do.
    pub operation: Operation,
}

impl Command {
    /// The command for a client request.
    pub fn from_request(request: &Request) -> Command {
        Command {
            request: request.id,
            client: request.client,
            process: request.process,
            operation: request.operation.clone(),
        }
    }
}

/// A deterministic replicated state machine.
pub trait Application: Clone + fmt::Debug + 'static {
    /// Applies one ordered command; returns the answer for its client.
    fn apply(&mut self, command: &Command) -> Outcome;

    /// Answers a read-only operation from the current state without changing it, or `None`
    /// when the operation is not read-only (it must then go through [`Application::apply`]).
    fn query(&self, operation: &Operation) -> Option<Outcome>;

    /// A digest of the whole state, for replica-equality checks after quiescence.
    fn state_digest(&self) -> u64;
}
