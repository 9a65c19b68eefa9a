//! The node trait and its handler context.
//!
//! A protocol replica is a deterministic state machine: the simulator calls one of its
//! `on_*` handlers with a [`Ctx`], and the handler *records* effects in the context (send,
//! broadcast, set or cancel a timer, append to disk, sync, reply to a client, observe, mark).
//! It never performs them. Only the simulator applies effects, after the handler returns, in the
//! order they were recorded; that single choke point is where faults are injected and the trace
//! digest is fed.
//!
//! A handler reads time only through [`Ctx::now`], which is the node's *local* clock (offset,
//! drift and faults included), and randomness only through [`Ctx::rng`], the node's own stream.
//! Durable state is only what went through [`Ctx::append`] followed by a completed
//! [`Ctx::sync`]: after a crash the simulator rebuilds the node with [`Node::recover`] from its
//! durable records, and all other state is gone.
//!
//! A sync takes time (the scenario's `disk.sync_latency`): [`Ctx::sync`] returns a
//! [`SyncToken`] at once, and [`Node::on_synced`] is called with it when the records are durable.
//! An answer that depends on durable state (a vote, an acknowledgement) is sent from
//! `on_synced` or later, never right after `sync`. With zero latency `on_synced` runs as soon
//! as the handler that called `sync` returns, before the handler's later effects are applied.

use crate::history::{Function, HistoryEvent, Value};
use crate::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use crate::prng::Prng;
use crate::time::{Duration, Instant};
use std::fmt;

/// A client operation as the workload issues it and a server receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// What to do.
    pub f: Function,
    /// Which object (key, lock name, account); `None` for single-object applications.
    pub key: Option<u32>,
    /// The argument: a written value, a CAS pair `[from, to]`, a delta, or `Null`.
    pub value: Value,
}

impl fmt::Display for Operation {
    /// The trace's words: `write(k1, 7)`, `read(k1)`, `cas(k0, [1,2])`, `acquire(k0)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.f.as_str())?;
        let mut first = true;
        if let Some(key) = self.key {
            write!(f, "k{key}")?;
            first = false;
        }
        if self.value != Value::Null {
            if !first {
                write!(f, ", ")?;
            }
            write!(f, "{}", self.value)?;
        }
        write!(f, ")")
    }
}

/// A client request as delivered to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Unique per operation; a retry of the same operation keeps it, so servers can deduplicate.
    pub id: RequestId,
    /// The client slot that sent it (replies go back to it).
    pub client: ClientId,
    /// The Jepsen process on whose behalf it was sent.
    pub process: ProcessId,
    /// The operation.
    pub operation: Operation,
    /// 0 for the first send, then 1, 2, … for retries.
    pub attempt: u32,
}

/// A server's answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The operation took effect. `value` is a read's result (or `Null`); `token` is a fencing
    /// token for a lock acquire.
    Ok {
        /// The result value.
        value: Value,
        /// A fencing token, for acquires.
        token: Option<u64>,
    },
    /// The operation definitely did not take effect (a failed compare, a refused acquire).
    Fail,
    /// This node cannot serve the request and it did not take effect here; try `leader` if
    /// known. The client retries elsewhere within the operation's timeout.
    Redirect {
        /// The node this one believes leads, if any.
        leader: Option<NodeId>,
    },
    /// The server cannot tell whether the operation took effect.
    Unknown,
}

/// A reply as delivered to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The request being answered.
    pub id: RequestId,
    /// The answer.
    pub outcome: Outcome,
}

/// Names one [`Ctx::sync`] of a node: tokens grow by one per sync, across the node's
/// incarnations too (a token from before a crash never completes). A completion of token `t`
/// means every record appended before that sync, and so every sync with a token up to `t`, is
/// durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncToken(pub u64);

impl fmt::Display for SyncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sync#{}", self.0)
    }
}

/// A replica of some protocol. See the module documentation for the contract.
pub trait Node: Sized + 'static {
    /// Configuration shared by every replica (cluster parameters, switched-on mutations).
    type Config;
    /// Messages between replicas.
    type Msg: Clone + fmt::Debug;
    /// Timer payloads.
    type Timer: Clone + fmt::Debug;
    /// Disk records (the node's append-only durable log).
    type Record: Clone + fmt::Debug;
    /// Protocol-meaningful moments reported to the invariant checker.
    type Observation: Clone + fmt::Debug;

    /// Builds the replica `id` from its synced disk records: empty at first boot, the
    /// surviving prefix after a crash. Volatile state starts fresh.
    fn recover(config: &Self::Config, id: NodeId, durable: &[Self::Record]) -> Self;

    /// Called once after [`Node::recover`], at boot and at every restart: set timers here.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);

    /// A message from another replica arrived.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);

    /// A timer set earlier (and not cancelled) fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// A client request arrived. Answer with [`Ctx::reply`] now or later, or never (the client
    /// then times out).
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request);

    /// The sync `token` completed: every record appended before it is durable. Syncs complete
    /// in token order, but several may share one completion (group commit): then only the
    /// highest token is reported, and it stands for every earlier one. A crash before the
    /// completion means it never comes. The default does nothing, for nodes that answer
    /// nothing that depends on durable state.
    fn on_synced(&mut self, _ctx: &mut Ctx<'_, Self>, _token: SyncToken) {}

    /// The scenario asks for a membership change ([`FaultAction::Membership`]): the
    /// `request`-th of the run (from 1, the same number on every node), handed to every node
    /// that is up (a crashed or paused node misses it). The default ignores it, for protocols
    /// without members.
    ///
    /// [`FaultAction::Membership`]: crate::faults::FaultAction::Membership
    fn on_membership(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        _request: u64,
        _change: crate::faults::Membership,
    ) {
    }

    /// What `observation` of `node` changes in the node's lane on a run page (the role it
    /// starts, the term/ballot/epoch it shows). Asked only when a report is written, and never
    /// feeds back into the run. The default reads the observation's `Debug` text by the naming
    /// convention of [`crate::observed`]; a protocol with leaders says it here, typed.
    fn lane(_observation: &Self::Observation, _node: NodeId) -> crate::observed::Lane {
        crate::observed::Lane::FromDebugText
    }

    /// What this node's lane shows from its start and each restart until an observation says
    /// otherwise: the part it plays by its place (a Redlock instance, a CRDT replica, a 2PC
    /// coordinator or participant). Asked right after [`Node::recover`], only when a report
    /// is written; it must not change the node. The default, nothing: the lane says `up`.
    fn starting_lane(&self) -> crate::observed::Lane {
        crate::observed::Lane::Nothing
    }
}

/// An effect recorded by a handler, applied by the simulator after the handler returns.
#[derive(Clone, Debug)]
pub enum Effect<N: Node> {
    /// Send `msg` to `to`.
    Send {
        /// Destination replica.
        to: NodeId,
        /// The message.
        msg: N::Msg,
    },
    /// Send `msg` to every other replica.
    Broadcast {
        /// The message.
        msg: N::Msg,
    },
    /// Fire `timer` after `after` of *local* time.
    SetTimer {
        /// The id handed back to the handler.
        id: TimerId,
        /// Local-clock delay.
        after: Duration,
        /// The payload.
        timer: N::Timer,
    },
    /// Forget a pending timer (no effect if it already fired).
    CancelTimer {
        /// The timer.
        id: TimerId,
    },
    /// Append a record to the disk (not yet durable).
    Append {
        /// The record.
        record: N::Record,
    },
    /// Make every appended record durable; [`Node::on_synced`] reports the completion.
    Sync {
        /// The token [`Ctx::sync`] handed back.
        token: SyncToken,
    },
    /// Answer a client.
    Reply {
        /// The client slot.
        client: ClientId,
        /// The reply.
        reply: Reply,
    },
    /// Report to the invariant checker.
    Observe {
        /// The observation.
        observation: N::Observation,
    },
    /// Count a rarely taken path.
    Mark {
        /// The mark's name, `protocol.what_happened`.
        name: &'static str,
    },
    /// The node passes a crash point; the kernel may crash it right here (recorded only when
    /// the run has crash points on).
    CrashPoint {
        /// The crash point's name, `protocol.moment`.
        name: &'static str,
    },
}

/// The context a handler receives: reads of the node's world, and a recorder of effects.
pub struct Ctx<'a, N: Node> {
    /// Does this run crash nodes at crash points? Off, [`Ctx::crash_point`] records nothing.
    pub(crate) crash_points_on: bool,
    pub(crate) id: NodeId,
    pub(crate) node_count: u32,
    pub(crate) local_now: Instant,
    pub(crate) monotonic_now: Instant,
    pub(crate) rng: &'a mut Prng,
    /// The node's BUGGIFY stream (`None` in a hand-driven context: the node's own stream).
    pub(crate) buggify_rng: Option<&'a mut Prng>,
    pub(crate) effects: &'a mut Vec<Effect<N>>,
    pub(crate) next_timer: &'a mut u64,
    /// The last token handed out (the kernel numbers the `Sync` effects the same way).
    pub(crate) last_sync_token: SyncToken,
}

impl<'a, N: Node> Ctx<'a, N> {
    /// A context for driving a node by hand (unit tests, golden traces). The caller inspects
    /// `effects` afterwards.
    pub fn new(
        id: NodeId,
        node_count: u32,
        local_now: Instant,
        rng: &'a mut Prng,
        effects: &'a mut Vec<Effect<N>>,
        next_timer: &'a mut u64,
    ) -> Self {
        assert!(
            id.0 < node_count,
            "node {id} outside a cluster of {node_count}"
        );
        Ctx {
            crash_points_on: false,
            id,
            node_count,
            local_now,
            monotonic_now: local_now,
            rng,
            buggify_rng: None,
            effects,
            next_timer,
            last_sync_token: SyncToken(0),
        }
    }

    /// Sets the last sync token handed out before this context, for a harness that drives a
    /// node by hand across several handler calls (by default tokens start at 1 in every context).
    pub fn with_last_sync_token(mut self, token: SyncToken) -> Self {
        self.last_sync_token = token;
        self
    }

    /// The last sync token this context handed out (or was given), so a harness can carry it
    /// into the next context.
    pub fn last_sync_token(&self) -> SyncToken {
        self.last_sync_token
    }

    /// Records crash points in a hand-driven context (off by default), so a harness can see
    /// [`Effect::CrashPoint`]s.
    pub fn with_crash_points(mut self) -> Self {
        self.crash_points_on = true;
        self
    }

    /// Sets the monotonic reading for a hand-driven context (by default it equals `local_now`).
    pub fn with_monotonic_now(mut self, monotonic_now: Instant) -> Self {
        self.monotonic_now = monotonic_now;
        self
    }

    /// This node's local clock (offset, drift and clock faults included).
    #[inline]
    pub fn now(&self) -> Instant {
        self.local_now
    }

    /// This node's monotonic clock: drift included, clock steps (wall-clock jumps) not. Use it
    /// for durations that must not jump (lease expiry); use [`Ctx::now`] for timers and for
    /// anything that models wall-clock time.
    #[inline]
    pub fn monotonic_now(&self) -> Instant {
        self.monotonic_now
    }

    /// This node's id.
    #[inline]
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// How many replicas the cluster has.
    #[inline]
    pub fn node_count(&self) -> u32 {
        self.node_count
    }

    /// The smallest number of replicas that is a majority.
    #[inline]
    pub fn majority(&self) -> u32 {
        self.node_count / 2 + 1
    }

    /// Every other replica, in id order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + 'static {
        let me = self.id;
        (0..self.node_count).map(NodeId).filter(move |&n| n != me)
    }

    /// This node's own random stream.
    #[inline]
    pub fn rng(&mut self) -> &mut Prng {
        self.rng
    }

    /// BUGGIFY's coin (FoundationDB): true one call in `one_in`, for a legal but unusual path
    /// (an answer sent late, a step sent twice) that a protocol switches on with its own
    /// `buggify` option and marks when taken. The draws come from the node's BUGGIFY stream
    /// ([`crate::prng::Stream::Buggify`]), never from [`Ctx::rng`], so a protocol that asks only
    /// when its option is on keeps every run without it unchanged, and a run with it draws
    /// everything else as before. A hand-driven context draws from the node's own stream.
    ///
    /// # Panics
    /// If `one_in` is 0.
    pub fn buggify(&mut self, one_in: u64) -> bool {
        assert!(one_in > 0, "a BUGGIFY coin needs one_in > 0");
        match &mut self.buggify_rng {
            Some(rng) => rng.below(one_in) == 0,
            None => self.rng.below(one_in) == 0,
        }
    }

    /// Send `msg` to `to`.
    ///
    /// # Panics
    /// If `to` is not a replica of this cluster.
    #[inline]
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        assert!(
            to.0 < self.node_count,
            "send to {to} outside a cluster of {}",
            self.node_count
        );
        self.effects.push(Effect::Send { to, msg });
    }

    /// Send `msg` to every other replica.
    pub fn broadcast(&mut self, msg: N::Msg) {
        self.effects.push(Effect::Broadcast { msg });
    }

    /// Fire `timer` after `after` of local time; returns an id to cancel it with.
    pub fn set_timer(&mut self, after: Duration, timer: N::Timer) -> TimerId {
        let id = TimerId(*self.next_timer);
        *self.next_timer += 1;
        self.effects.push(Effect::SetTimer { id, after, timer });
        id
    }

    /// Cancel a pending timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.effects.push(Effect::CancelTimer { id });
    }

    /// Append `record` to this node's disk. It survives a power loss only once a later
    /// [`Ctx::sync`] completed.
    pub fn append(&mut self, record: N::Record) {
        self.effects.push(Effect::Append { record });
    }

    /// Make every record appended so far durable (fsync). It takes the disk's sync latency:
    /// [`Node::on_synced`] is called with the returned token when the records are durable, and
    /// never if the node crashes first.
    pub fn sync(&mut self) -> SyncToken {
        let token = SyncToken(self.last_sync_token.0 + 1);
        self.last_sync_token = token;
        self.effects.push(Effect::Sync { token });
        token
    }

    /// Answer the client that sent request `id`.
    pub fn reply(&mut self, client: ClientId, id: RequestId, outcome: Outcome) {
        self.effects.push(Effect::Reply {
            client,
            reply: Reply { id, outcome },
        });
    }

    /// Report a protocol-meaningful moment to the invariant checker.
    pub fn observe(&mut self, observation: N::Observation) {
        self.effects.push(Effect::Observe { observation });
    }

    /// Count a rarely taken path (`"raft.truncate"`); sweeps report which marks were hit.
    pub fn mark(&mut self, name: &'static str) {
        self.effects.push(Effect::Mark { name });
    }

    /// A moment where a crash is most interesting (`"paxos.after_promise"`: after a durable
    /// write, after sending a vote, between a decision and its broadcast, during recovery).
    /// With crash points on, the kernel may crash the node right here: the effects recorded
    /// before this call happen (sends leave, appends reach the disk's cache), the ones after it
    /// never do. Off (the default), it records nothing and draws nothing, so declaring a crash
    /// point changes no run. Every name must be in the protocol's declared crash points.
    #[inline]
    pub fn crash_point(&mut self, name: &'static str) {
        if self.crash_points_on {
            self.effects.push(Effect::CrashPoint { name });
        }
    }
}

/// A safety violation found by an invariant checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant, in BUGS.md's vocabulary (`election-safety`, `agreement`, …).
    pub invariant: String,
    /// What went wrong, with the values involved.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.message)
    }
}

/// A per-protocol invariant checker. The simulator hands it every observation as it happens
/// (stamped with the *true* simulated time) and stops the run at the first violation.
pub trait Invariants<O> {
    /// Checks one observation.
    ///
    /// # Errors
    /// The violation, at the first bad observation.
    fn observe(&mut self, time: Instant, node: NodeId, observation: &O) -> Result<(), Violation>;

    /// Called when `node` crashes (its volatile state is gone).
    fn on_crash(&mut self, _time: Instant, _node: NodeId) {}

    /// Called once at the end of the run, after the recovery phase.
    ///
    /// # Errors
    /// A violation that only shows at the end (lack of convergence, a lost acknowledged write).
    fn finish(&mut self, _time: Instant) -> Result<(), Violation> {
        Ok(())
    }

    /// Called at the end of a run that [`Invariants::finish`] passed and whose clients all
    /// completed: a liveness failure only the protocol sees (a transaction still in doubt, a
    /// saga still unfinished after the faults healed), reported as one, not as a violation.
    fn liveness(&mut self, _time: Instant) -> Option<String> {
        None
    }

    /// What the checker measured (never a verdict): `(name, value)`, the unit last in the name
    /// (`time_in_doubt_ns`, `isolation_anomalies`, `stale_reads`), from its observations and
    /// the run's client `history` (complete: called once, after [`Invariants::finish`]). The one
    /// hook for a run's figures: they appear in the run's summary and `results.json`, and in
    /// sweep records and summaries added up over seeds by [`combine_figure`].
    fn figures(&self, _history: &[HistoryEvent]) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// Adds one seed's figure `value` to the `total` of the seeds before it, by the figure's name:
/// a name ending in `_max` keeps the maximum (the worst seed), any other the sum (counts and
/// summed durations; a mean is a sum over a count, `staleness_us_sum / stale_reads`). Both are
/// exact in any order and grouping, so the shards of a sweep merge into the whole sweep's
/// figures. A percentile is never a figure: it would need every seed's whole distribution,
/// which a figure does not keep (sweep summaries keep latency histograms for that).
pub fn combine_figure(name: &str, total: u64, value: u64) -> u64 {
    if name.ends_with("_max") {
        total.max(value)
    } else {
        total.saturating_add(value)
    }
}

/// The checker that checks nothing, for protocols without node-internal invariants.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInvariants;

impl<O> Invariants<O> for NoInvariants {
    fn observe(&mut self, _: Instant, _: NodeId, _: &O) -> Result<(), Violation> {
        Ok(())
    }
}
