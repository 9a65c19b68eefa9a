//! The simulator: one single-threaded discrete-event loop over nodes, clients, the network,
//! disks, clocks and the fault plan.
//!
//! ```text
//! loop: pop the earliest (time, seq) event -> deliver it to a node or client handler
//!       -> the handler records effects in its Ctx -> the simulator applies them
//!       (sends through the Network, timers, disk appends/syncs, replies, observations, marks)
//!       -> observations go to the invariant checker; every applied event feeds the digest
//! phase 1 (duration): workload + faults
//! phase 2 (recovery): every fault healed, every crashed node restarted, clocks re-rated;
//!                     operations invoked now must complete (liveness)
//! ```
//!
//! [`Simulation::run`] is a pure function of its inputs: the same configuration, seed, node
//! code, workload and fault plan give the same [`SimReport`] and the same digest, on any machine
//! and thread. Every limit ([`Limits`]) ends the run with a reported [`StopReason`], never a
//! hang.

use crate::client::{ClientConfig, Workload};
use crate::clock::Clock;
use crate::disk::Disk;
use crate::faults::{FaultAction, FaultPlan, TimedFault};
use crate::history::{EventType, Function, History};
use crate::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use crate::network::{resolve_partition, Fate, Network, NetworkConfig};
use crate::node::{Ctx, Effect, Invariants, Node, Outcome, Reply, Request, Violation};
use crate::prng::{Prng, Stream};
use crate::time::{Duration, Instant};
use crate::trace::Digest;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

/// Hard limits of one run. Hitting one ends the run with [`StopReason::LimitHit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events processed.
    pub max_events: u64,
    /// Messages in flight at once.
    pub max_in_flight_messages: u64,
    /// History events recorded.
    pub max_history_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 200_000_000,
            max_in_flight_messages: 1_000_000,
            max_history_events: 2_000_000,
        }
    }
}

/// Everything a run needs besides the node code, the workload and the invariant checker.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The root seed.
    pub seed: u64,
    /// Replicas in the cluster.
    pub node_count: u32,
    /// Network parameters.
    pub network: NetworkConfig,
    /// Client parameters (`count` 0: no clients).
    pub clients: ClientConfig,
    /// Length of phase 1 (workload and faults).
    pub duration: Duration,
    /// Length of phase 2 (recovery: faults healed, operations must complete).
    pub recovery: Duration,
    /// Limits.
    pub limits: Limits,
    /// Largest initial clock offset of a node (drawn per node from the fault stream).
    pub clock_offset_max: Duration,
    /// Record a readable line for every event (`faultline replay --trace`).
    pub trace: bool,
}

impl SimConfig {
    /// A configuration with defaults for everything but the seed and the cluster size.
    pub fn new(seed: u64, node_count: u32) -> SimConfig {
        SimConfig {
            seed,
            node_count,
            network: NetworkConfig::default(),
            clients: ClientConfig::default(),
            duration: Duration::from_secs(10),
            recovery: Duration::from_secs(5),
            limits: Limits::default(),
            clock_offset_max: Duration::ZERO,
            trace: false,
        }
    }
}

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max_events`.
    Events,
    /// `max_in_flight_messages`.
    InFlightMessages,
    /// `max_history_events`.
    HistoryEvents,
}

/// Why a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The run reached the end of the recovery phase.
    Completed,
    /// An invariant checker reported a violation.
    Violation {
        /// When.
        time: Instant,
        /// At which node's observation.
        node: NodeId,
        /// What.
        violation: Violation,
    },
    /// The end-of-run invariant check failed.
    FinalViolation {
        /// What.
        violation: Violation,
    },
    /// A limit was hit.
    LimitHit {
        /// Which.
        limit: Limit,
        /// When.
        time: Instant,
    },
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events processed.
    pub events: u64,
    /// Messages handed to the network (peer, request and reply).
    pub messages_sent: u64,
    /// Messages delivered to a live handler.
    pub messages_delivered: u64,
    /// Messages lost to random loss.
    pub messages_lost: u64,
    /// Messages dropped by a partition.
    pub messages_cut: u64,
    /// Messages dropped because their receiver was down.
    pub messages_to_down_node: u64,
    /// Extra copies delivered by duplication.
    pub messages_duplicated: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Operations invoked.
    pub ops_invoked: u64,
    /// Operations completed `ok`.
    pub ops_ok: u64,
    /// Operations completed `fail`.
    pub ops_fail: u64,
    /// Operations ended `info`.
    pub ops_info: u64,
    /// Crashes applied.
    pub crashes: u64,
    /// Unsynced records lost in crashes.
    pub unsynced_records_lost: u64,
}

/// A fault as it was applied (for timelines and reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedFault {
    /// When.
    pub at: Instant,
    /// What, in words.
    pub description: String,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Why the run ended.
    pub stop: StopReason,
    /// A liveness failure, if any: operations invoked during recovery that never completed.
    pub liveness_failure: Option<String>,
    /// The trace digest.
    pub digest: u64,
    /// The simulated time at which the run ended.
    pub end_time: Instant,
    /// Counters.
    pub stats: SimStats,
    /// How often each mark was hit.
    pub marks: BTreeMap<&'static str, u64>,
    /// The client history.
    pub history: History,
    /// The faults as they were applied.
    pub faults_applied: Vec<AppliedFault>,
    /// A readable line per event, when tracing.
    pub trace: Vec<String>,
}

/// Where a message comes from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Node(NodeId),
    Client(ClientId),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Node(n) => write!(f, "{n}"),
            Endpoint::Client(c) => write!(f, "{c}"),
        }
    }
}

/// A message on the wire. Client traffic is boxed to keep queue entries small.
#[derive(Clone, Debug)]
enum Payload<M> {
    Peer(M),
    Request(Box<Request>),
    Reply(Box<Reply>),
}

#[derive(Debug)]
enum EventKind<M> {
    Deliver {
        from: Endpoint,
        to: Endpoint,
        payload: Payload<M>,
    },
    Timer {
        node: NodeId,
        id: TimerId,
        generation: u64,
    },
    Fault {
        index: usize,
    },
    ClientWake {
        client: ClientId,
        token: u64,
    },
    BeginRecovery,
    End,
}

struct Event<M> {
    time: Instant,
    seq: u64,
    kind: EventKind<M>,
}

impl<M> PartialEq for Event<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<M> Eq for Event<M> {}
impl<M> PartialOrd for Event<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Event<M> {
    /// Reversed, so the max-heap pops the earliest `(time, seq)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Up,
    Paused,
    Crashed,
}

struct PendingTimer<T> {
    deadline_local: Instant,
    generation: u64,
    timer: T,
}

struct NodeSlot<N: Node> {
    state: Option<N>,
    status: Status,
    rng: Prng,
    next_timer: u64,
    timers: BTreeMap<TimerId, PendingTimer<N::Timer>>,
    clock: Clock,
    disk: Disk<N::Record>,
    /// Inputs that arrived while paused, handled in order on resume.
    paused_inbox: Vec<EventKind<N::Msg>>,
}

struct OpenOperation {
    request: Request,
    deadline: Instant,
    target: NodeId,
    /// Where the next attempt goes when the client wakes (after a redirect's backoff); by
    /// default the node after `target`.
    next_target: Option<NodeId>,
    in_recovery: bool,
}

struct ClientSlot {
    id: ClientId,
    process: ProcessId,
    rng: Prng,
    open: Option<OpenOperation>,
    leader_hint: Option<NodeId>,
    wake_token: u64,
    completed_in_recovery: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Faults,
    Recovery,
}

/// A run in progress. Build it with [`Simulation::new`] and consume it with
/// [`Simulation::run`].
pub struct Simulation<N: Node> {
    config: SimConfig,
    node_config: N::Config,
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Event<N::Msg>>,
    nodes: Vec<NodeSlot<N>>,
    network: Network,
    network_rng: Prng,
    fault_rng: Prng,
    disk_rng: Prng,
    clients: Vec<ClientSlot>,
    workload: Box<dyn Workload>,
    invariants: Box<dyn Invariants<N::Observation>>,
    plan: FaultPlan,
    history: History,
    digest: Digest,
    stats: SimStats,
    marks: BTreeMap<&'static str, u64>,
    effects: Vec<Effect<N>>,
    held: Vec<(Endpoint, Endpoint, Payload<N::Msg>)>,
    in_flight: u64,
    next_request: u64,
    timer_generation: u64,
    phase: Phase,
    stop: Option<StopReason>,
    faults_applied: Vec<AppliedFault>,
    trace: Vec<String>,
}

/// Digest tags: one per event kind, so equal times and ids of different kinds differ.
mod tag {
    pub const DELIVER_PEER: u64 = 1;
    pub const DELIVER_REQUEST: u64 = 2;
    pub const DELIVER_REPLY: u64 = 3;
    pub const TIMER: u64 = 4;
    pub const FAULT: u64 = 5;
    pub const CLIENT_WAKE: u64 = 6;
    pub const PHASE: u64 = 7;
    pub const SEND: u64 = 8;
    pub const DROP: u64 = 9;
    pub const OBSERVE: u64 = 10;
    pub const HISTORY: u64 = 11;
    pub const DISK: u64 = 12;
}

impl<N: Node> Simulation<N> {
    /// Prepares a run. Nodes boot (with empty disks) at time zero; clients start after their
    /// first think time; the fault plan's actions are scheduled (those at or after the end of
    /// phase 1 are ignored: recovery heals everything).
    ///
    /// # Panics
    /// On a configuration that cannot run: no nodes, a fault naming a node outside the cluster.
    pub fn new(
        config: SimConfig,
        node_config: N::Config,
        workload: Box<dyn Workload>,
        invariants: Box<dyn Invariants<N::Observation>>,
        plan: FaultPlan,
    ) -> Simulation<N> {
        assert!(config.node_count > 0, "a cluster needs at least one node");
        let seed = config.seed;
        let mut fault_rng = Prng::new(seed, Stream::Faults);
        let nodes = (0..config.node_count)
            .map(|i| {
                let offset = if config.clock_offset_max == Duration::ZERO {
                    Duration::ZERO
                } else {
                    Duration(fault_rng.range_inclusive(0, config.clock_offset_max.0))
                };
                NodeSlot {
                    state: None,
                    status: Status::Crashed,
                    rng: Prng::new(seed, Stream::Node(i)),
                    next_timer: 0,
                    timers: BTreeMap::new(),
                    clock: Clock::new(offset),
                    disk: Disk::default(),
                    paused_inbox: Vec::new(),
                }
            })
            .collect();
        let clients = (0..config.clients.count)
            .map(|i| ClientSlot {
                id: ClientId(i),
                process: ProcessId(u64::from(i)),
                rng: Prng::new(seed, Stream::Client(i)),
                open: None,
                leader_hint: None,
                wake_token: 0,
                completed_in_recovery: 0,
            })
            .collect();
        for fault in &plan.faults {
            validate_fault(&fault.action, config.node_count);
        }
        let network = Network::new(config.network.clone(), config.node_count);
        Simulation {
            network_rng: Prng::new(seed, Stream::Network),
            disk_rng: Prng::new(seed, Stream::Disk),
            fault_rng,
            node_config,
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            network,
            clients,
            workload,
            invariants,
            plan,
            history: History::new(),
            digest: Digest::new(),
            stats: SimStats::default(),
            marks: BTreeMap::new(),
            effects: Vec::new(),
            held: Vec::new(),
            in_flight: 0,
            next_request: 0,
            timer_generation: 0,
            phase: Phase::Faults,
            stop: None,
            faults_applied: Vec::new(),
            trace: Vec::new(),
            config,
        }
    }

    #[inline]
    fn schedule(&mut self, time: Instant, kind: EventKind<N::Msg>) {
        debug_assert!(time >= self.now, "event scheduled in the past");
        self.seq += 1;
        self.queue.push(Event {
            time,
            seq: self.seq,
            kind,
        });
    }

    fn tracing(&mut self, line: impl FnOnce() -> String) {
        if self.config.trace {
            let text = line();
            self.trace.push(format!("{} {}", self.now, text));
        }
    }

    /// Runs to the end (or to the first violation or limit) and reports.
    pub fn run(mut self) -> SimReport {
        self.digest.word(self.config.seed);
        let end = Instant::ZERO + self.config.duration + self.config.recovery;
        let recovery_at = Instant::ZERO + self.config.duration;
        for index in 0..self.plan.faults.len() {
            let at = self.plan.faults[index].at;
            if at < recovery_at {
                self.schedule(at, EventKind::Fault { index });
            }
        }
        self.schedule(recovery_at, EventKind::BeginRecovery);
        self.schedule(end, EventKind::End);
        for i in 0..self.config.node_count {
            self.boot(NodeId(i));
        }
        for c in 0..self.clients.len() {
            self.schedule_think(ClientId(c as u32));
        }
        let max_events = self.config.limits.max_events;
        while self.stop.is_none() {
            let Some(event) = self.queue.pop() else { break };
            self.now = event.time;
            self.stats.events += 1;
            if self.stats.events > max_events {
                self.stop = Some(StopReason::LimitHit {
                    limit: Limit::Events,
                    time: self.now,
                });
                break;
            }
            if let EventKind::End = event.kind {
                self.digest.word(tag::PHASE);
                break;
            }
            self.dispatch(event.kind);
        }
        let liveness_failure = if self.stop.is_none() {
            self.liveness_verdict()
        } else {
            None
        };
        if self.stop.is_none() {
            self.stop = Some(match self.invariants.finish(self.now) {
                Ok(()) => StopReason::Completed,
                Err(violation) => StopReason::FinalViolation { violation },
            });
        }
        SimReport {
            seed: self.config.seed,
            stop: self.stop.take().expect("set above"),
            liveness_failure,
            digest: self.digest.value(),
            end_time: self.now,
            stats: self.stats,
            marks: self.marks,
            history: self.history,
            faults_applied: self.faults_applied,
            trace: self.trace,
        }
    }

    fn dispatch(&mut self, kind: EventKind<N::Msg>) {
        match kind {
            EventKind::Deliver { from, to, payload } => self.on_deliver(from, to, payload),
            EventKind::Timer {
                node,
                id,
                generation,
            } => self.on_timer_event(node, id, generation),
            EventKind::Fault { index } => {
                let fault = self.plan.faults[index].clone();
                self.apply_fault(&fault);
            }
            EventKind::ClientWake { client, token } => self.on_client_wake(client, token),
            EventKind::BeginRecovery => self.begin_recovery(),
            EventKind::End => unreachable!("handled in run"),
        }
    }

    // ----- nodes -------------------------------------------------------------------------

    fn boot(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        assert_eq!(
            slot.status,
            Status::Crashed,
            "boot of a running node {node}"
        );
        assert!(slot.timers.is_empty() && slot.paused_inbox.is_empty());
        slot.state = Some(N::recover(&self.node_config, node, slot.disk.records()));
        slot.status = Status::Up;
        self.with_node(node, |state, ctx| state.on_start(ctx));
    }

    /// Calls a handler of a live node and applies what it recorded.
    #[inline]
    fn with_node(&mut self, node: NodeId, handler: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let node_count = self.config.node_count;
        let mut effects = std::mem::take(&mut self.effects);
        let slot = &mut self.nodes[node.index()];
        debug_assert_eq!(slot.status, Status::Up);
        let local_now = slot.clock.local(self.now);
        let monotonic_now = slot.clock.monotonic(self.now);
        let state = slot.state.as_mut().expect("a live node has state");
        {
            let mut ctx = Ctx {
                id: node,
                node_count,
                local_now,
                monotonic_now,
                rng: &mut slot.rng,
                effects: &mut effects,
                next_timer: &mut slot.next_timer,
            };
            handler(state, &mut ctx);
        }
        self.apply_effects(node, local_now, &mut effects);
        self.effects = effects;
    }

    fn apply_effects(&mut self, node: NodeId, local_now: Instant, effects: &mut Vec<Effect<N>>) {
        for effect in effects.drain(..) {
            if self.stop.is_some() {
                break;
            }
            match effect {
                Effect::Send { to, msg } => {
                    self.send(Endpoint::Node(node), Endpoint::Node(to), Payload::Peer(msg));
                }
                Effect::Broadcast { msg } => {
                    for peer in 0..self.config.node_count {
                        if peer != node.0 {
                            self.send(
                                Endpoint::Node(node),
                                Endpoint::Node(NodeId(peer)),
                                Payload::Peer(msg.clone()),
                            );
                        }
                    }
                }
                Effect::SetTimer { id, after, timer } => {
                    self.timer_generation += 1;
                    let generation = self.timer_generation;
                    let slot = &mut self.nodes[node.index()];
                    let deadline_local = local_now + after;
                    let at = slot.clock.true_instant_of(self.now, deadline_local);
                    let previous = slot.timers.insert(
                        id,
                        PendingTimer {
                            deadline_local,
                            generation,
                            timer,
                        },
                    );
                    assert!(previous.is_none(), "timer id {id:?} reused on {node}");
                    self.schedule(
                        at,
                        EventKind::Timer {
                            node,
                            id,
                            generation,
                        },
                    );
                }
                Effect::CancelTimer { id } => {
                    self.nodes[node.index()].timers.remove(&id);
                }
                Effect::Append { record } => {
                    self.nodes[node.index()].disk.append(record);
                }
                Effect::Sync => {
                    self.nodes[node.index()].disk.sync();
                    self.digest.word(tag::DISK);
                }
                Effect::Reply { client, reply } => {
                    assert!(
                        client.index() < self.clients.len(),
                        "reply to unknown client {client}"
                    );
                    self.send(
                        Endpoint::Node(node),
                        Endpoint::Client(client),
                        Payload::Reply(Box::new(reply)),
                    );
                }
                Effect::Observe { observation } => {
                    self.digest.word(tag::OBSERVE);
                    if self.config.trace {
                        self.tracing(|| format!("{node} observe {observation:?}"));
                    }
                    if let Err(violation) = self.invariants.observe(self.now, node, &observation) {
                        self.tracing(|| format!("VIOLATION {violation}"));
                        self.stop = Some(StopReason::Violation {
                            time: self.now,
                            node,
                            violation,
                        });
                    }
                }
                Effect::Mark { name } => {
                    *self.marks.entry(name).or_insert(0) += 1;
                }
            }
        }
        effects.clear();
    }

    fn on_timer_event(&mut self, node: NodeId, id: TimerId, generation: u64) {
        let slot = &mut self.nodes[node.index()];
        match slot.timers.get(&id) {
            Some(pending) if pending.generation == generation => {}
            // Cancelled, re-scheduled after a clock change, or lost in a crash: stale on purpose.
            _ => return,
        }
        if slot.status == Status::Paused {
            slot.paused_inbox.push(EventKind::Timer {
                node,
                id,
                generation,
            });
            return;
        }
        let local_now = slot.clock.local(self.now);
        let deadline_local = slot.timers[&id].deadline_local;
        if local_now < deadline_local {
            // The clock was stepped back after the timer was scheduled: wait for local time.
            let at = slot.clock.true_instant_of(self.now, deadline_local);
            self.schedule(
                at.max(self.now + Duration::NANOSECOND),
                EventKind::Timer {
                    node,
                    id,
                    generation,
                },
            );
            return;
        }
        let pending = slot.timers.remove(&id).expect("checked above");
        self.stats.timers_fired += 1;
        self.digest.word(tag::TIMER);
        self.digest.word(self.now.0);
        self.digest.word(u64::from(node.0) << 32 ^ id.0);
        if self.config.trace {
            let timer = pending.timer.clone();
            self.tracing(|| format!("{node} timer {timer:?}"));
        }
        self.with_node(node, |state, ctx| state.on_timer(ctx, pending.timer));
    }

    /// After a clock step or re-rate, every pending timer of the node moves to the true instant
    /// at which its local deadline is now reached.
    fn reschedule_timers(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        let mut moves = Vec::with_capacity(slot.timers.len());
        for (&id, pending) in slot.timers.iter_mut() {
            self.timer_generation += 1;
            pending.generation = self.timer_generation;
            moves.push((
                slot.clock.true_instant_of(self.now, pending.deadline_local),
                id,
                pending.generation,
            ));
        }
        for (at, id, generation) in moves {
            self.schedule(
                at,
                EventKind::Timer {
                    node,
                    id,
                    generation,
                },
            );
        }
    }

    // ----- network -----------------------------------------------------------------------

    fn home(&self, endpoint: Endpoint) -> NodeId {
        match endpoint {
            Endpoint::Node(n) => n,
            Endpoint::Client(c) => NodeId(c.0 % self.config.node_count),
        }
    }

    #[inline]
    fn send(&mut self, from: Endpoint, to: Endpoint, payload: Payload<N::Msg>) {
        self.stats.messages_sent += 1;
        let (a, b) = (self.home(from), self.home(to));
        if a != b && self.network.is_cut(a, b) {
            self.stats.messages_cut += 1;
            self.digest.word(tag::DROP);
            return;
        }
        if a != b && self.network.is_clogged(a, b) {
            self.held.push((from, to, payload));
            return;
        }
        self.transmit(from, to, payload);
    }

    #[inline]
    fn transmit(&mut self, from: Endpoint, to: Endpoint, payload: Payload<N::Msg>) {
        // Loopback (a client next to its own node, a node to itself) still takes network time.
        match self.network.sample(&mut self.network_rng) {
            Fate::Lost => {
                self.stats.messages_lost += 1;
                self.digest.word(tag::DROP);
            }
            Fate::Deliver(delay) => self.enqueue_delivery(from, to, payload, delay),
            Fate::Twice(first, second) => {
                self.stats.messages_duplicated += 1;
                self.enqueue_delivery(from, to, payload.clone(), first);
                self.enqueue_delivery(from, to, payload, second);
            }
        }
    }

    #[inline]
    fn enqueue_delivery(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        payload: Payload<N::Msg>,
        delay: Duration,
    ) {
        if self.in_flight >= self.config.limits.max_in_flight_messages {
            self.stop = Some(StopReason::LimitHit {
                limit: Limit::InFlightMessages,
                time: self.now,
            });
            return;
        }
        self.in_flight += 1;
        self.digest.word(tag::SEND ^ delay.0 << 8);
        let at = self.now + delay;
        self.schedule(at, EventKind::Deliver { from, to, payload });
    }

    fn on_deliver(&mut self, from: Endpoint, to: Endpoint, payload: Payload<N::Msg>) {
        self.in_flight -= 1;
        let (a, b) = (self.home(from), self.home(to));
        if a != b && self.network.is_cut(a, b) {
            // The partition began while the message was in flight.
            self.stats.messages_cut += 1;
            self.digest.word(tag::DROP);
            return;
        }
        match to {
            Endpoint::Client(client) => {
                let Payload::Reply(reply) = payload else {
                    unreachable!("clients only receive replies")
                };
                self.stats.messages_delivered += 1;
                self.digest.word(tag::DELIVER_REPLY);
                self.digest.word(self.now.0);
                self.digest.word(u64::from(client.0) << 32 ^ u64::from(a.0));
                let Endpoint::Node(server) = from else {
                    unreachable!("replies come from nodes")
                };
                self.on_client_reply(client, server, *reply);
            }
            Endpoint::Node(node) => {
                let slot = &mut self.nodes[node.index()];
                match slot.status {
                    Status::Crashed => {
                        self.stats.messages_to_down_node += 1;
                        self.digest.word(tag::DROP);
                        return;
                    }
                    Status::Paused => {
                        // Re-enqueued on resume; count it in flight again until then.
                        self.in_flight += 1;
                        slot.paused_inbox
                            .push(EventKind::Deliver { from, to, payload });
                        return;
                    }
                    Status::Up => {}
                }
                self.stats.messages_delivered += 1;
                self.digest.word(self.now.0);
                match payload {
                    Payload::Peer(msg) => {
                        let Endpoint::Node(sender) = from else {
                            unreachable!("peer messages come from nodes")
                        };
                        self.digest.word(
                            tag::DELIVER_PEER
                                ^ (u64::from(sender.0) << 8)
                                ^ (u64::from(node.0) << 32),
                        );
                        if self.config.trace {
                            self.tracing(|| format!("{sender} -> {node} {msg:?}"));
                        }
                        self.with_node(node, |state, ctx| state.on_message(ctx, sender, msg));
                    }
                    Payload::Request(request) => {
                        self.digest.word(
                            tag::DELIVER_REQUEST ^ (request.id.0 << 8) ^ (u64::from(node.0) << 40),
                        );
                        if self.config.trace {
                            self.tracing(|| format!("{from} -> {node} request {:?}", request));
                        }
                        self.with_node(node, |state, ctx| state.on_request(ctx, *request));
                    }
                    Payload::Reply(_) => unreachable!("nodes never receive replies"),
                }
            }
        }
    }

    fn release_held(&mut self, only: Option<(NodeId, NodeId)>) {
        let held = std::mem::take(&mut self.held);
        for (from, to, payload) in held {
            let link = (self.home(from), self.home(to));
            if only.is_some_and(|wanted| wanted != link) || self.network.is_clogged(link.0, link.1)
            {
                self.held.push((from, to, payload));
            } else {
                self.send(from, to, payload);
            }
        }
    }

    // ----- faults ------------------------------------------------------------------------

    fn record_fault(&mut self, description: String) {
        self.digest.word(tag::FAULT);
        self.digest.str(&description);
        self.tracing(|| format!("FAULT {description}"));
        self.faults_applied.push(AppliedFault {
            at: self.now,
            description,
        });
    }

    fn apply_fault(&mut self, fault: &TimedFault) {
        match &fault.action {
            FaultAction::Partition(shape) => {
                let cuts = resolve_partition(shape, self.config.node_count, &mut self.fault_rng);
                self.network.set_partition(&cuts);
                let text: Vec<String> = cuts.iter().map(|(a, b)| format!("{a}->{b}")).collect();
                self.record_fault(format!("partition {shape:?}: cut {}", text.join(" ")));
            }
            FaultAction::Heal => {
                self.network.heal();
                self.record_fault("heal".into());
                self.release_held(None);
            }
            &FaultAction::Crash {
                node,
                lose_unsynced,
            } => self.crash(node, lose_unsynced),
            &FaultAction::Restart { node } => {
                if self.nodes[node.index()].status == Status::Crashed {
                    self.record_fault(format!("restart {node}"));
                    self.boot(node);
                }
            }
            &FaultAction::Pause { node } => {
                if self.nodes[node.index()].status == Status::Up {
                    self.nodes[node.index()].status = Status::Paused;
                    self.record_fault(format!("pause {node}"));
                }
            }
            &FaultAction::Resume { node } => self.resume(node),
            &FaultAction::ClockStep { node, delta_nanos } => {
                self.nodes[node.index()].clock.step(self.now, delta_nanos);
                self.record_fault(format!("clock step {node} by {delta_nanos}ns"));
                self.reschedule_timers(node);
            }
            &FaultAction::ClockDrift { node, drift_ppm } => {
                self.nodes[node.index()]
                    .clock
                    .set_drift(self.now, drift_ppm);
                self.record_fault(format!("clock drift {node} {drift_ppm}ppm"));
                self.reschedule_timers(node);
            }
            &FaultAction::Clog { from, to } => {
                self.network.set_clogged(from, to, true);
                self.record_fault(format!("clog {from}->{to}"));
            }
            &FaultAction::Unclog { from, to } => {
                self.network.set_clogged(from, to, false);
                self.record_fault(format!("unclog {from}->{to}"));
                self.release_held(Some((from, to)));
            }
            &FaultAction::SetLoss { loss } => {
                self.network.set_loss_override(loss);
                match loss {
                    Some(ratio) => self.record_fault(format!("loss burst {ratio}")),
                    None => self.record_fault("loss burst ends".into()),
                }
            }
        }
    }

    fn crash(&mut self, node: NodeId, lose_unsynced: bool) {
        let slot = &mut self.nodes[node.index()];
        if slot.status == Status::Crashed {
            return;
        }
        slot.state = None;
        slot.status = Status::Crashed;
        slot.timers.clear();
        let dropped_inputs = slot
            .paused_inbox
            .iter()
            .filter(|kind| matches!(kind, EventKind::Deliver { .. }))
            .count() as u64;
        slot.paused_inbox.clear();
        let loss = slot.disk.crash(lose_unsynced, &mut self.disk_rng);
        self.in_flight -= dropped_inputs;
        self.stats.crashes += 1;
        self.stats.unsynced_records_lost += loss.lost_count as u64;
        self.invariants.on_crash(self.now, node);
        let kind = if lose_unsynced {
            "crash (power loss)"
        } else {
            "crash"
        };
        self.record_fault(format!(
            "{kind} {node}: {} records kept, {} unsynced lost",
            loss.kept_count, loss.lost_count
        ));
    }

    fn resume(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.status != Status::Paused {
            return;
        }
        slot.status = Status::Up;
        let inbox = std::mem::take(&mut slot.paused_inbox);
        self.record_fault(format!("resume {node} ({} queued inputs)", inbox.len()));
        // Queued deliveries stay counted in flight; on_deliver counts them out again.
        for kind in inbox {
            self.schedule(self.now, kind);
        }
    }

    fn begin_recovery(&mut self) {
        self.phase = Phase::Recovery;
        self.digest.word(tag::PHASE);
        self.record_fault("recovery begins: heal everything".into());
        self.network.heal();
        self.release_held(None);
        for i in 0..self.config.node_count {
            let node = NodeId(i);
            match self.nodes[node.index()].status {
                Status::Crashed => {
                    self.record_fault(format!("restart {node}"));
                    self.boot(node);
                }
                Status::Paused => self.resume(node),
                Status::Up => {}
            }
            if self.nodes[node.index()].clock.drift_ppm() != 0 {
                self.nodes[node.index()].clock.set_drift(self.now, 0);
                self.reschedule_timers(node);
            }
        }
        // Operations already open get the recovery phase's patience too.
        for client in &mut self.clients {
            if let Some(open) = &mut client.open {
                open.deadline = Instant::MAX;
            }
        }
    }

    // ----- clients -----------------------------------------------------------------------

    /// No new operation is invoked after this instant: the rest of recovery is for finishing.
    fn quiesce_at(&self) -> Instant {
        Instant::ZERO + self.config.duration + Duration(self.config.recovery.0 / 2)
    }

    fn schedule_client_wake(&mut self, client: ClientId, at: Instant) {
        let slot = &mut self.clients[client.index()];
        slot.wake_token += 1;
        let token = slot.wake_token;
        self.schedule(at, EventKind::ClientWake { client, token });
    }

    fn schedule_think(&mut self, client: ClientId) {
        let config = &self.config.clients;
        let (low, high) = (config.think_min.0, config.think_max.0);
        let think = Duration(self.clients[client.index()].rng.range_inclusive(low, high));
        let at = self.now + think;
        if at < self.quiesce_at() {
            self.schedule_client_wake(client, at);
        }
    }

    fn on_client_wake(&mut self, client: ClientId, token: u64) {
        if self.clients[client.index()].wake_token != token {
            return; // superseded on purpose: a reply or a redirect re-armed the client
        }
        self.digest.word(tag::CLIENT_WAKE);
        self.digest.word(u64::from(client.0));
        if self.clients[client.index()].open.is_none() {
            assert!(
                self.now < self.quiesce_at(),
                "{client} woke to invoke after quiescence"
            );
            self.invoke(client);
            return;
        }
        let deadline = self.clients[client.index()]
            .open
            .as_ref()
            .expect("checked")
            .deadline;
        if self.now >= deadline {
            self.complete(client, None, None);
            return;
        }
        // No answer to this attempt (or a redirect's backoff ended): try the next node with the
        // same request id.
        let target = {
            let open = self.clients[client.index()].open.as_mut().expect("checked");
            open.next_target
                .take()
                .unwrap_or(NodeId((open.target.0 + 1) % self.config.node_count))
        };
        self.send_attempt(client, target);
    }

    fn invoke(&mut self, client: ClientId) {
        if self.history.len() as u64 + 2 > self.config.limits.max_history_events {
            self.stop = Some(StopReason::LimitHit {
                limit: Limit::HistoryEvents,
                time: self.now,
            });
            return;
        }
        let slot = &mut self.clients[client.index()];
        let operation = self
            .workload
            .next_operation(client, self.now, &mut slot.rng);
        self.next_request += 1;
        let request = Request {
            id: RequestId(self.next_request),
            client,
            process: slot.process,
            operation,
            attempt: 0,
        };
        let in_recovery = self.phase == Phase::Recovery;
        let deadline = if in_recovery {
            Instant::MAX
        } else {
            self.now + self.config.clients.timeout
        };
        let target = slot
            .leader_hint
            .unwrap_or(NodeId(client.0 % self.config.node_count));
        let key = request.operation.key.map(|k| k.to_string());
        self.history.push(
            self.now,
            slot.process,
            EventType::Invoke,
            request.operation.f,
            key,
            request.operation.value.clone(),
            None,
        );
        self.digest.word(tag::HISTORY);
        self.stats.ops_invoked += 1;
        self.tracing(|| format!("{client} invoke {:?}", request.operation));
        let slot = &mut self.clients[client.index()];
        let mut request = request;
        request.attempt = u32::MAX; // send_attempt increments to 0
        slot.open = Some(OpenOperation {
            request,
            deadline,
            target,
            next_target: None,
            in_recovery,
        });
        self.send_attempt(client, target);
    }

    fn send_attempt(&mut self, client: ClientId, target: NodeId) {
        let retry_after = self.config.clients.retry_after;
        let slot = &mut self.clients[client.index()];
        let open = slot
            .open
            .as_mut()
            .expect("an attempt needs an open operation");
        open.request.attempt = open.request.attempt.wrapping_add(1);
        open.target = target;
        let request = open.request.clone();
        let wake = (self.now + retry_after).min(open.deadline);
        self.schedule_client_wake(client, wake);
        self.send(
            Endpoint::Client(client),
            Endpoint::Node(target),
            Payload::Request(Box::new(request)),
        );
    }

    fn on_client_reply(&mut self, client: ClientId, server: NodeId, reply: Reply) {
        let slot = &self.clients[client.index()];
        let Some(open) = &slot.open else { return };
        if open.request.id != reply.id {
            return; // a late or duplicated answer to an earlier operation: ignored on purpose
        }
        match reply.outcome {
            Outcome::Redirect { leader } => {
                let config = &self.config.clients;
                let slot = &mut self.clients[client.index()];
                slot.leader_hint = leader.filter(|&l| l != server);
                let next = slot
                    .leader_hint
                    .unwrap_or(NodeId((server.0 + 1) % self.config.node_count));
                // Follow a hint at once; without one, back off so a leaderless cluster is not
                // flooded.
                let backoff = if slot.leader_hint.is_some() {
                    Duration::ZERO
                } else {
                    config.redirect_backoff
                };
                let deadline = slot.open.as_ref().expect("checked").deadline;
                if self.now + backoff >= deadline {
                    self.schedule_client_wake(client, deadline);
                } else if backoff == Duration::ZERO {
                    self.send_attempt(client, next);
                } else {
                    slot.open.as_mut().expect("checked").next_target = Some(next);
                    let at = self.now + backoff;
                    self.schedule_client_wake(client, at);
                }
            }
            outcome => {
                self.clients[client.index()].leader_hint = Some(server);
                self.complete(client, Some(outcome), Some(server));
            }
        }
    }

    /// Ends the open operation of `client`: `None` is a timeout (`info`).
    fn complete(&mut self, client: ClientId, outcome: Option<Outcome>, _server: Option<NodeId>) {
        let slot = &mut self.clients[client.index()];
        let open = slot
            .open
            .take()
            .expect("completing needs an open operation");
        let operation = &open.request.operation;
        let key = operation.key.map(|k| k.to_string());
        let (kind, value, token) = match &outcome {
            Some(Outcome::Ok { value, token }) => {
                let recorded = if matches!(operation.f, Function::Read) {
                    value.clone()
                } else {
                    operation.value.clone()
                };
                (EventType::Ok, recorded, *token)
            }
            Some(Outcome::Fail) => (EventType::Fail, operation.value.clone(), None),
            Some(Outcome::Unknown) | None => (EventType::Info, operation.value.clone(), None),
            Some(Outcome::Redirect { .. }) => unreachable!("redirects keep the operation open"),
        };
        let process = slot.process;
        match kind {
            EventType::Ok => self.stats.ops_ok += 1,
            EventType::Fail => self.stats.ops_fail += 1,
            _ => self.stats.ops_info += 1,
        }
        if open.in_recovery && kind != EventType::Info {
            slot.completed_in_recovery += 1;
        }
        if kind == EventType::Info {
            // Jepsen's convention: the process that may still have an operation in flight is
            // retired; the slot continues as a fresh process.
            slot.process = ProcessId(slot.process.0 + u64::from(self.config.clients.count));
        }
        self.history.push(
            self.now,
            process,
            kind,
            operation.f,
            key,
            value.clone(),
            token,
        );
        self.digest.word(tag::HISTORY ^ (kind as u64) << 8);
        self.digest.word(value.as_int().unwrap_or(0) as u64);
        self.tracing(|| format!("{client} {kind:?} {value}"));
        self.workload
            .observe_result(client, self.now, operation, outcome.as_ref());
        // Invalidate the attempt's pending retry wake even when no think wake follows.
        self.clients[client.index()].wake_token += 1;
        self.schedule_think(client);
    }

    fn liveness_verdict(&self) -> Option<String> {
        if self.config.recovery == Duration::ZERO || self.clients.is_empty() {
            return None;
        }
        let stuck: Vec<String> = self
            .clients
            .iter()
            .filter_map(|c| {
                let open = c.open.as_ref()?;
                (open.in_recovery || open.deadline == Instant::MAX).then(|| {
                    format!(
                        "{} ({}) {:?} never completed",
                        c.id, c.process, open.request.operation.f
                    )
                })
            })
            .collect();
        if !stuck.is_empty() {
            return Some(format!(
                "operations still open at the end of recovery: {}",
                stuck.join("; ")
            ));
        }
        let completed: u64 = self.clients.iter().map(|c| c.completed_in_recovery).sum();
        if completed == 0 {
            return Some("no operation completed during recovery".into());
        }
        None
    }
}

fn validate_fault(action: &FaultAction, node_count: u32) {
    let check = |node: NodeId| {
        assert!(
            node.0 < node_count,
            "fault names {node} in a {node_count}-node cluster"
        )
    };
    match action {
        FaultAction::Crash { node, .. }
        | FaultAction::Restart { node }
        | FaultAction::Pause { node }
        | FaultAction::Resume { node }
        | FaultAction::ClockStep { node, .. }
        | FaultAction::ClockDrift { node, .. } => check(*node),
        FaultAction::Clog { from, to } | FaultAction::Unclog { from, to } => {
            check(*from);
            check(*to);
        }
        FaultAction::Partition(_) | FaultAction::Heal | FaultAction::SetLoss { .. } => {}
    }
}
