//! The replicated applications: deterministic state machines that a consensus protocol (Raft,
//! Multi-Paxos, ZAB) or a reference protocol drives through one interface.
//!
//! A protocol turns each client [`Request`] into a [`Command`], agrees on an order of commands,
//! and calls [`Application::apply`] on every replica in that order; the [`Outcome`] of the
//! replica that answers the client goes back in the reply. Reads that bypass the log (ReadIndex,
//! leases) use [`Application::query`].
//!
//! - [`kv::Kv`]: read, write and cas over integer keys (the `kv`, `register` and
//!   `cas-register` models of the checker).
//! - [`counter::Counter`]: add and read (the checker's `counter` model), with its workload and
//!   a bounds audit of counter histories.
//! - [`session::Sessions`]: wraps any application with the client-session table of the Raft
//!   thesis §6.3, so that a retried request is applied at most once and its retry gets the
//!   cached answer.
//!
//! Every application is deterministic: the same commands in the same order give the same
//! outcomes and the same [`Application::state_digest`] on every replica and every machine.

use crate::mutation::BugSet;
use sim_core::id::{ClientId, ProcessId, RequestId};
use sim_core::node::{Ctx, Node, Operation, Outcome, Request};
use sim_core::time::{Duration, Instant};
use std::fmt;

pub mod bank;
pub mod counter;
pub mod kv;
pub mod lock;
pub mod session;
pub mod zk_lock;

/// When and under whom a command was proposed: the proposer stamps every command with its
/// leadership epoch and its clock readings, so that time-dependent applications (lease expiry in
/// the lock table) decide deterministically on every replica from replicated data only.
///
/// Readings of different epochs come from different nodes' clocks and are not comparable; an
/// application that measures time must re-base when the epoch changes (the lock table extends
/// every lease to a full TTL, as etcd's lessor does on a leader change).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// The proposer's leadership epoch: Raft's term, a Paxos ballot, ZAB's epoch; unique per
    /// leader and increasing over leaders. 0 for protocols without leaders.
    pub epoch: u64,
    /// The proposer's wall clock ([`Ctx::now`]): steps with clock-jump faults.
    pub wall: Instant,
    /// The proposer's monotonic clock ([`Ctx::monotonic_now`]): drifts but never jumps.
    pub monotonic: Instant,
}

impl Stamp {
    /// A stamp for a command proposed now by the node of `ctx` in `epoch`.
    pub fn now<N: Node>(epoch: u64, ctx: &Ctx<'_, N>) -> Stamp {
        Stamp {
            epoch,
            wall: ctx.now(),
            monotonic: ctx.monotonic_now(),
        }
    }
}

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
    /// Who proposed it, and when on the proposer's clocks.
    pub stamp: Stamp,
}

impl fmt::Display for Command {
    /// The trace's words: the operation and who asked, `write(k1, 7) by c2#14`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {}#{}",
            self.operation, self.client, self.request.0
        )
    }
}

impl Command {
    /// The command for a client request, proposed with `stamp`.
    pub fn from_request(request: &Request, stamp: Stamp) -> Command {
        Command {
            request: request.id,
            client: request.client,
            process: request.process,
            operation: request.operation.clone(),
            stamp,
        }
    }
}

/// A client command as a protocol proposes it, with its digest computed once: the invariant
/// checkers ask for it at every append, acceptance, commit and application, and the command
/// crosses every link inside an [`Arc`](std::sync::Arc) instead of being cloned.
#[derive(Debug, PartialEq, Eq)]
pub struct ProposedCommand {
    command: Command,
    digest: u64,
}

impl ProposedCommand {
    /// Wraps `command`, digesting it once.
    pub fn new(command: Command) -> std::sync::Arc<ProposedCommand> {
        let digest = ProposedCommand::digest_of(&command);
        std::sync::Arc::new(ProposedCommand { command, digest })
    }

    /// The command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The command's identity digest: equal iff client, request, process and operation are
    /// equal. The stamp is left out: a re-proposal keeps the command, and the command's
    /// identity is its request and operation.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    fn digest_of(command: &Command) -> u64 {
        let mut digest = sim_core::trace::Digest::new();
        digest.str("command");
        digest.word(u64::from(command.client.0));
        digest.word(command.request.0);
        digest.word(command.process.0);
        digest.str(command.operation.f.as_str());
        digest_key(&mut digest, command.operation.key);
        digest_value(&mut digest, &command.operation.value);
        digest.value()
    }
}

/// The digest of a protocol's no-op entry (a new leader's blank entry, a gap filler), in the
/// same space as [`ProposedCommand::digest`].
pub fn noop_digest() -> u64 {
    let mut digest = sim_core::trace::Digest::new();
    digest.str("noop");
    digest.value()
}

impl std::ops::Deref for ProposedCommand {
    type Target = Command;

    fn deref(&self) -> &Command {
        &self.command
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

    /// The operation a leader proposes for a client's `operation`, computed from the leader's
    /// current (applied) state. Correct applications propose the operation unchanged: that
    /// is the default. It exists so that a mutation can model a service that splits one
    /// operation into a local read and a proposed blind write (C1 `counter-nonatomic-rmw`).
    /// Every consensus protocol calls it once per fresh command, when it proposes.
    fn prepare_proposal(&self, operation: &Operation) -> Operation {
        operation.clone()
    }

    /// The lease configuration of a lease lock table, `None` for every other application.
    /// Redlock holds locks outside any replicated state machine: its instances set keys with
    /// the lock's lease as TTL, and its clients need the lease to compute validity.
    fn lock_config(&self) -> Option<LockConfig> {
        None
    }

    /// The operation a leader proposes as the txn numbered `zxid` (ZAB's zxid as one word,
    /// `epoch · 2^32 + counter`): [`Application::prepare_proposal`] unless the application
    /// records where its txn sits (a ZooKeeper create's czxid).
    fn prepare_txn(&self, operation: &Operation, _zxid: u64) -> Operation {
        self.prepare_proposal(operation)
    }

    /// The sessions a leader's session tracker must close at `now` (ZooKeeper's session
    /// expiry): the leader proposes a close for each. None for applications without sessions.
    fn expired_sessions(&self, _now: &Stamp) -> Vec<ProcessId> {
        Vec::new()
    }
}

/// Any application behind one type, so that a protocol is compiled once for every
/// application the registry lists: [`Application`] is implemented by forwarding each call
/// through a box (one indirect call per applied command; the runs' work is elsewhere).
pub struct AnyApp(Box<dyn DynApplication>);

impl AnyApp {
    /// Wraps `app`.
    pub fn new<A: Application>(app: A) -> AnyApp {
        AnyApp(Box::new(app))
    }
}

impl Clone for AnyApp {
    fn clone(&self) -> AnyApp {
        AnyApp(self.0.clone_box())
    }
}

impl fmt::Debug for AnyApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Application for AnyApp {
    fn apply(&mut self, command: &Command) -> Outcome {
        self.0.apply(command)
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        self.0.query(operation)
    }

    fn state_digest(&self) -> u64 {
        self.0.state_digest()
    }

    fn prepare_proposal(&self, operation: &Operation) -> Operation {
        self.0.prepare_proposal(operation)
    }

    fn lock_config(&self) -> Option<LockConfig> {
        self.0.lock_config()
    }

    fn prepare_txn(&self, operation: &Operation, zxid: u64) -> Operation {
        self.0.prepare_txn(operation, zxid)
    }

    fn expired_sessions(&self, now: &Stamp) -> Vec<ProcessId> {
        self.0.expired_sessions(now)
    }
}

/// [`Application`] without `Clone` in its bounds, so that it can be boxed.
trait DynApplication: fmt::Debug {
    fn apply(&mut self, command: &Command) -> Outcome;
    fn query(&self, operation: &Operation) -> Option<Outcome>;
    fn state_digest(&self) -> u64;
    fn prepare_proposal(&self, operation: &Operation) -> Operation;
    fn lock_config(&self) -> Option<LockConfig>;
    fn prepare_txn(&self, operation: &Operation, zxid: u64) -> Operation;
    fn expired_sessions(&self, now: &Stamp) -> Vec<ProcessId>;
    fn clone_box(&self) -> Box<dyn DynApplication>;
}

impl<A: Application> DynApplication for A {
    fn apply(&mut self, command: &Command) -> Outcome {
        Application::apply(self, command)
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        Application::query(self, operation)
    }

    fn state_digest(&self) -> u64 {
        Application::state_digest(self)
    }

    fn prepare_proposal(&self, operation: &Operation) -> Operation {
        Application::prepare_proposal(self, operation)
    }

    fn lock_config(&self) -> Option<LockConfig> {
        Application::lock_config(self)
    }

    fn prepare_txn(&self, operation: &Operation, zxid: u64) -> Operation {
        Application::prepare_txn(self, operation, zxid)
    }

    fn expired_sessions(&self, now: &Stamp) -> Vec<ProcessId> {
        Application::expired_sessions(self, now)
    }

    fn clone_box(&self) -> Box<dyn DynApplication> {
        Box::new(self.clone())
    }
}

/// A command of client slot `client` (process of the same number) with a default stamp, for
/// the applications' unit tests.
#[cfg(test)]
pub(crate) fn test_command(
    client: u32,
    request: u64,
    f: sim_core::history::Function,
    key: Option<u32>,
    value: sim_core::history::Value,
) -> Command {
    Command {
        request: RequestId(request),
        client: ClientId(client),
        process: ProcessId(u64::from(client)),
        operation: Operation { f, key, value },
        stamp: Stamp::default(),
    }
}

/// Mixes an object's key into a digest: the keyless object and key 0 differ.
pub(crate) fn digest_key(digest: &mut sim_core::trace::Digest, key: Option<u32>) {
    match key {
        None => digest.word(0),
        Some(k) => {
            digest.word(1);
            digest.word(u64::from(k));
        }
    }
}

/// Mixes a [`Value`](sim_core::history::Value) into a digest, with a tag per variant so that
/// different shapes never collide by construction (`[1]` versus `1`).
pub(crate) fn digest_value(digest: &mut sim_core::trace::Digest, value: &sim_core::history::Value) {
    use sim_core::history::Value;
    match value {
        Value::Null => digest.word(0),
        Value::Int(v) => {
            digest.word(1);
            digest.word(*v as u64);
        }
        Value::Str(text) => {
            digest.word(2);
            digest.str(text);
        }
        Value::List(items) => {
            digest.word(3);
            digest.word(items.len() as u64);
            for item in items {
                digest_value(digest, item);
            }
        }
    }
}

/// Mixes an [`Outcome`] into a digest (cached outcomes are part of a session table's state).
pub(crate) fn digest_outcome(digest: &mut sim_core::trace::Digest, outcome: &Outcome) {
    match outcome {
        Outcome::Ok { value, token } => {
            digest.word(0);
            digest_value(digest, value);
            match token {
                None => digest.word(0),
                Some(t) => {
                    digest.word(1);
                    digest.word(*t);
                }
            }
        }
        Outcome::Fail => digest.word(1),
        Outcome::Redirect { leader } => {
            digest.word(2);
            digest.word(leader.map_or(u64::MAX, |n| u64::from(n.0)));
        }
        Outcome::Unknown => digest.word(3),
    }
}

/// The lock application's parameters, shared by the table, the workload and the audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockConfig {
    /// How many locks the workload contends for (keys `0..locks`).
    pub locks: u32,
    /// How long a grant or renewal lasts on the table's clock.
    pub lease_ttl: Duration,
    /// How much earlier than `lease_ttl` a client stops trusting its lease (clock drift and
    /// request delay). Must be below `lease_ttl`.
    pub drift_margin: Duration,
    /// Switched-on mutations (only the `lock-*` ones matter here).
    pub bugs: BugSet,
    /// Where fencing tokens come from.
    pub tokens: TokenSource,
    /// What the history must show.
    pub safety: Safety,
}

/// Where a lock's fencing tokens come from (the `tokens` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenSource {
    /// One above the last token of the lock, kept in the replicated table: a Redis `INCR`
    /// next to the lock key. A replica that never saw the last grants hands its tokens out again.
    #[default]
    Counter,
    /// The proposer's epoch in the high bits and a count within the epoch below
    /// (`epoch · 2^24 + n`, like ZooKeeper's zxid): a new primary's or leader's tokens exceed
    /// every token of the epochs before it, whatever of them it saw. A lease does not outlive
    /// its epoch: the first command of a higher epoch frees every lock, so a holder renews
    /// into a fresh grant with a token of the new epoch.
    Epoch,
}

/// What a lock scenario claims (the `safety` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Safety {
    /// Mutual exclusion: no two processes believe they hold a lock at the same instant (the
    /// `mutual-exclusion` audit), and the `lease-lock` model holds.
    #[default]
    Holders,
    /// Only what fencing promises (Kleppmann 2016): the resource never accepts a token below
    /// one it accepted, and tokens grow (the `lease-lock` model). Two processes may believe
    /// they hold a lock at once; the storage, not the lock service, keeps the stale one out.
    Resource,
}
