//! The simulator: one single-threaded discrete-event loop over nodes, clients, the network,
//! disks, clocks and the fault plan.
//!
//! ```text
//! loop: pop the earliest (time, seq) event -> deliver it to a node or client handler
//!       -> the handler records effects in its Ctx -> the simulator applies them
//!       (sends through the Network, timers, disk appends/syncs, replies, observations, marks)
//!       -> a sync completes after the disk's latency (at once when it has none) and the node's
//!          `on_synced` runs; a crash before that drops the completion
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

use crate::client::{ClientConfig, ClientCtx, Pacing, Workload};
use crate::clock::Clock;
use crate::disk::{Disk, DiskConfig};
use crate::faults::{
    message_kind, CrashPoints, FaultAction, FaultPlan, Membership, MessageFate, MessageRef,
    PartitionShape, TimedFault, CLIENT_REPLY, CLIENT_REQUEST,
};
use crate::history::{EventType, Function, History};
use crate::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use crate::network::{resolve_partition, Fate, Network, NetworkConfig};
use crate::node::{Ctx, Effect, Invariants, Node, Outcome, Reply, Request, SyncToken, Violation};
use crate::observed::ObservationLog;
pub use crate::observed::ObservationRecord;
use crate::prng::{Prng, Stream};
use crate::time::{Duration, Instant};
use crate::trace::{Causality, Digest};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
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
    /// Bytes the run may hold in what grows with its length: the history, the messages in
    /// flight, the disks' records (and the nodes' copies of them) and the trace. An estimate
    /// from counts and type sizes, never a reading of the process's memory, so the limit is
    /// hit at the same event on every machine and with any number of threads.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 200_000_000,
            max_in_flight_messages: 1_000_000,
            max_history_events: 2_000_000,
            max_memory_bytes: 1 << 30,
        }
    }
}

/// Counted events between two looks at the memory estimate.
const MEMORY_CHECK_EVENTS: u64 = 1024;

/// A history event's bytes: the event itself and its key's text.
const HISTORY_EVENT_BYTES: u64 = std::mem::size_of::<crate::history::HistoryEvent>() as u64 + 24;

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
    /// How long disk writes and syncs take (by default nothing: a sync is durable at once).
    pub disk: DiskConfig,
    /// Record a readable line for every event (`faultline replay --trace`).
    pub trace: bool,
    /// Keep the protocol observations that change a node's role or term in
    /// [`SimReport::observations`] (the node lanes of a run's report). Off in sweeps: reading
    /// them costs time no verdict needs.
    pub record_observations: bool,
    /// Random crashes at the protocol's crash points (`None`: off, and the nodes' crash
    /// points cost nothing and draw nothing).
    pub crash_points: Option<CrashPoints>,
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
            disk: DiskConfig::default(),
            trace: false,
            record_observations: false,
            crash_points: None,
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
    /// `max_memory_bytes`.
    Memory,
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
    /// Syncs that completed (`on_synced` calls).
    pub syncs_completed: u64,
    /// Crashes that came while a sync was in flight (its completion never came).
    pub crashes_during_sync: u64,
}

/// A fault as it was applied (for timelines and reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedFault {
    /// When.
    pub at: Instant,
    /// What happened; its `Display` is the timeline's wording.
    pub what: FaultEvent,
}

impl AppliedFault {
    /// What happened, in words.
    pub fn description(&self) -> String {
        self.what.to_string()
    }
}

/// What a fault did when it was applied. Kept structured and put into words only when shown:
/// a fault-heavy run applies hundreds, and formatting each one cost ~6% of a Raft sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    /// A partition of `shape`, resolved to these directed cuts (`from`, `to`).
    Partition {
        /// The shape asked for.
        shape: PartitionShape,
        /// The directed links cut.
        cuts: Vec<(NodeId, NodeId)>,
    },
    /// A crash (with `lose_unsynced`, a power loss): `kept` disk records survived and `lost`
    /// unsynced ones were lost.
    Crash {
        /// The node.
        node: NodeId,
        /// Power-loss semantics.
        lose_unsynced: bool,
        /// Disk records that survived.
        kept: usize,
        /// Unsynced records lost.
        lost: usize,
    },
    /// A crash at a protocol's crash point (random, or scripted with `CrashAt`): the node
    /// passed `point` for the `nth` time since the run began.
    CrashAtPoint {
        /// The node.
        node: NodeId,
        /// The crash point.
        point: &'static str,
        /// Which passage of `point` on `node` it was, counting from 1 over the whole run.
        nth: u64,
        /// Power-loss semantics.
        lose_unsynced: bool,
        /// Disk records that survived.
        kept: usize,
        /// Unsynced records lost.
        lost: usize,
    },
    /// A paused node resumed with `queued` inputs waiting.
    Resume {
        /// The node.
        node: NodeId,
        /// Inputs queued during the pause.
        queued: usize,
    },
    /// The recovery phase begins: everything heals.
    RecoveryBegins,
    /// Any other action, applied as planned (heal, restart, pause, clock step or drift, clog,
    /// unclog, loss burst).
    Action(FaultAction),
}

impl FaultEvent {
    /// Mixes the event into the run's digest.
    fn digest_into(&self, digest: &mut Digest) {
        let pair = |a: NodeId, b: NodeId| u64::from(a.0) << 32 | u64::from(b.0);
        let mut words = |tag: u64, values: &[u64]| {
            digest.word(tag);
            values.iter().for_each(|&value| digest.word(value));
        };
        match self {
            FaultEvent::Partition { shape, cuts } => {
                // The cuts say everything the shape resolved to; the shape adds only its kind.
                let kind = match shape {
                    PartitionShape::Halves => 0,
                    PartitionShape::MajoritiesRing => 1,
                    PartitionShape::Bridge => 2,
                    PartitionShape::IsolateOne => 3,
                    PartitionShape::OneWay => 4,
                    PartitionShape::Groups(_) => 5,
                    PartitionShape::Cuts(_) => 6,
                };
                words(1, &[kind, cuts.len() as u64]);
                for &(a, b) in cuts {
                    words(0, &[pair(a, b)]);
                }
            }
            FaultEvent::Crash {
                node,
                lose_unsynced,
                kept,
                lost,
            } => words(
                2,
                &[
                    u64::from(node.0),
                    u64::from(*lose_unsynced),
                    *kept as u64,
                    *lost as u64,
                ],
            ),
            FaultEvent::CrashAtPoint {
                node,
                point,
                nth,
                lose_unsynced,
                kept,
                lost,
            } => {
                words(
                    13,
                    &[
                        u64::from(node.0),
                        *nth,
                        u64::from(*lose_unsynced),
                        *kept as u64,
                        *lost as u64,
                    ],
                );
                point.bytes().for_each(|byte| digest.word(u64::from(byte)));
            }
            FaultEvent::Resume { node, queued } => words(3, &[u64::from(node.0), *queued as u64]),
            FaultEvent::RecoveryBegins => words(4, &[]),
            FaultEvent::Action(action) => match *action {
                FaultAction::Heal => words(5, &[]),
                FaultAction::Restart { node } => words(6, &[u64::from(node.0)]),
                FaultAction::Pause { node } => words(7, &[u64::from(node.0)]),
                FaultAction::ClockStep { node, delta_nanos } => {
                    words(8, &[u64::from(node.0), delta_nanos as u64])
                }
                FaultAction::ClockDrift { node, drift_ppm } => {
                    words(9, &[u64::from(node.0), i64::from(drift_ppm) as u64])
                }
                FaultAction::Clog { from, to } => words(10, &[pair(from, to)]),
                FaultAction::Unclog { from, to } => words(11, &[pair(from, to)]),
                FaultAction::SetLoss { loss } => {
                    words(12, &[loss.map_or(u64::MAX, |ratio| u64::from(ratio.ppm))])
                }
                FaultAction::Membership(change) => {
                    let (kind, member) = match change {
                        Membership::Add(member) => (0, member),
                        Membership::Remove(member) => (1, member),
                    };
                    words(40, &[kind, member.map_or(u64::MAX, u64::from)])
                }
                FaultAction::CrashAt {
                    node,
                    ref point,
                    nth,
                    lose_unsynced,
                } => {
                    words(
                        14,
                        &[u64::from(node.0), u64::from(nth), u64::from(lose_unsynced)],
                    );
                    point.bytes().for_each(|byte| digest.word(u64::from(byte)));
                }
                FaultAction::Pin { ref message, fate } => {
                    let (code, delay) = match fate {
                        MessageFate::Drop => (0, 0),
                        MessageFate::Duplicate => (1, 0),
                        MessageFate::Delay(delay) => (2, delay.0),
                    };
                    words(
                        15,
                        &[
                            pair(message.from, message.to),
                            u64::from(message.nth),
                            code,
                            delay,
                        ],
                    );
                    message
                        .kind
                        .bytes()
                        .for_each(|byte| digest.word(u64::from(byte)));
                }
                FaultAction::Partition(_)
                | FaultAction::Crash { .. }
                | FaultAction::Resume { .. } => {
                    unreachable!("recorded through their own FaultEvent variants")
                }
            },
        }
    }
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultEvent::Partition { shape, cuts } => {
                match shape {
                    // The cuts below say it all.
                    PartitionShape::Cuts(_) => write!(f, "partition: cut")?,
                    _ => write!(f, "partition {shape:?}: cut")?,
                }
                for (a, b) in cuts {
                    write!(f, " {a}->{b}")?;
                }
                Ok(())
            }
            FaultEvent::Crash {
                node,
                lose_unsynced,
                kept,
                lost,
            } => {
                let kind = if *lose_unsynced {
                    "crash (power loss)"
                } else {
                    "crash"
                };
                write!(
                    f,
                    "{kind} {node}: {kept} records kept, {lost} unsynced lost"
                )
            }
            FaultEvent::CrashAtPoint {
                node,
                point,
                nth,
                lose_unsynced,
                kept,
                lost,
            } => {
                let kind = if *lose_unsynced {
                    "crash (power loss)"
                } else {
                    "crash"
                };
                write!(
                    f,
                    "{kind} {node} at {point} (passage {nth}): {kept} records kept, {lost} unsynced lost"
                )
            }
            FaultEvent::Resume { node, queued } => {
                write!(f, "resume {node} ({queued} queued inputs)")
            }
            FaultEvent::RecoveryBegins => write!(f, "recovery begins: heal everything"),
            FaultEvent::Action(action) => match action {
                FaultAction::Heal => write!(f, "heal"),
                FaultAction::Restart { node } => write!(f, "restart {node}"),
                FaultAction::Pause { node } => write!(f, "pause {node}"),
                FaultAction::ClockStep { node, delta_nanos } => {
                    write!(f, "clock step {node} by {delta_nanos}ns")
                }
                FaultAction::ClockDrift { node, drift_ppm } => {
                    write!(f, "clock drift {node} {drift_ppm}ppm")
                }
                FaultAction::Clog { from, to } => write!(f, "clog {from}->{to}"),
                FaultAction::Unclog { from, to } => write!(f, "unclog {from}->{to}"),
                FaultAction::SetLoss { loss: Some(ratio) } => write!(f, "loss burst {ratio}"),
                FaultAction::SetLoss { loss: None } => write!(f, "loss burst ends"),
                FaultAction::Membership(change) => {
                    let (verb, member) = match change {
                        Membership::Add(member) => ("add", member),
                        Membership::Remove(member) => ("remove", member),
                    };
                    match member {
                        Some(member) => write!(f, "membership: {verb} member {member}"),
                        None => write!(f, "membership: {verb} a member (the protocol's choice)"),
                    }
                }
                FaultAction::CrashAt {
                    node,
                    point,
                    nth,
                    lose_unsynced,
                } => {
                    let kind = if *lose_unsynced {
                        "power loss"
                    } else {
                        "crash"
                    };
                    write!(f, "arm {kind} of {node} at passage {nth} of {point}")
                }
                FaultAction::Pin { message, fate } => match fate {
                    MessageFate::Drop => write!(f, "pin: drop the {message}"),
                    MessageFate::Duplicate => write!(f, "pin: duplicate the {message}"),
                    MessageFate::Delay(delay) => write!(f, "pin: delay the {message} by {delay}"),
                },
                FaultAction::Partition(_)
                | FaultAction::Crash { .. }
                | FaultAction::Resume { .. } => {
                    unreachable!("recorded through their own FaultEvent variants")
                }
            },
        }
    }
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
    /// With tracing: the messages whose fate the network's randomness decided unusually (lost,
    /// duplicated, or delayed past `latency_max` by `reorder`), with when they were sent, in
    /// the form a script pins them (`faultline shrink` pins the ones the failure needs).
    pub random_fates: Vec<(Instant, MessageRef, MessageFate)>,
    /// The trace digest.
    pub digest: u64,
    /// The simulated time at which the run ended.
    pub end_time: Instant,
    /// Counters.
    pub stats: SimStats,
    /// How often each mark was hit.
    pub marks: BTreeMap<&'static str, u64>,
    /// What the invariant checker measured ([`Invariants::figures`]).
    pub figures: BTreeMap<&'static str, u64>,
    /// How often each crash point was passed (counted only when crash points are on: random
    /// ones in [`SimConfig::crash_points`] or a scripted `CrashAt`).
    pub crash_points: BTreeMap<&'static str, u64>,
    /// The client history.
    pub history: History,
    /// The faults as they were applied.
    pub faults_applied: Vec<AppliedFault>,
    /// A readable line per event, when tracing.
    pub trace: Vec<String>,
    /// Happens-before between the trace's lines, when tracing (`replay --trace --focus`).
    pub causality: Causality,
    /// The protocol observations that change a node lane, with
    /// [`SimConfig::record_observations`] (see [`crate::observed`]).
    pub observations: Vec<ObservationRecord>,
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
    /// The node's earliest timer may be due: fire every due timer, re-arm for the next.
    /// Stale (not counted as an event) when `generation` is no longer the node's wakeup.
    Wakeup {
        node: NodeId,
        generation: u64,
    },
    Fault {
        index: usize,
    },
    ClientWake {
        client: ClientId,
        token: u64,
    },
    /// Restart a node crashed at a crash point, unless it restarted (or crashed again) since.
    CrashPointRestart {
        node: NodeId,
        incarnation: u64,
    },
    /// The node's sync in flight (`token`) completes: the records it covers are durable.
    /// Stale when the node crashed since (`incarnation` moved on). How many records it covers
    /// stays with the sync in flight, which keeps this variant, and so every queued event, small.
    SyncDone {
        node: NodeId,
        incarnation: u64,
        token: SyncToken,
    },
    BeginRecovery,
    End,
}

/// The pending events, earliest `(time, seq)` first. The heap orders small keys only; the
/// events themselves (a Raft AppendEntries is ~100 bytes) wait in a slab, so that a pop moves
/// 24-byte keys down the heap instead of whole events (the heap was the largest single cost of
/// a Raft run before).
struct EventQueue<M> {
    heap: BinaryHeap<EventKey>,
    slab: Vec<Option<EventKind<M>>>,
    /// Free slab slots, reused last-freed first.
    free: Vec<u32>,
    /// The sequence number of the event popped last (for [`Causality`]).
    popped: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct EventKey {
    time: Instant,
    seq: u64,
    slot: u32,
}

impl PartialOrd for EventKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EventKey {
    /// Reversed, so the max-heap pops the earliest `(time, seq)`; `seq` is unique, so the
    /// slot never decides the order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl<M> EventQueue<M> {
    fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            popped: 0,
        }
    }

    #[inline]
    fn push(&mut self, time: Instant, seq: u64, kind: EventKind<M>) {
        let slot = match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slab[slot as usize].is_none());
                self.slab[slot as usize] = Some(kind);
                slot
            }
            None => {
                let slot = u32::try_from(self.slab.len()).expect("over 2^32 pending events");
                self.slab.push(Some(kind));
                slot
            }
        };
        self.heap.push(EventKey { time, seq, slot });
    }

    #[inline]
    fn pop(&mut self) -> Option<(Instant, EventKind<M>)> {
        let key = self.heap.pop()?;
        let kind = self.slab[key.slot as usize]
            .take()
            .expect("a queued key's slot holds its event");
        self.free.push(key.slot);
        self.popped = key.seq;
        Some((key.time, kind))
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
    timer: T,
}

/// A physical sync of a node's disk: it makes the first `covers` records durable and reports
/// `token` (the latest sync it stands for).
#[derive(Clone, Copy, Debug)]
struct PhysicalSync {
    token: SyncToken,
    covers: usize,
    /// When the last record it covers reached the disk's cache: it cannot complete earlier.
    written_at: Instant,
}

struct NodeSlot<N: Node> {
    state: Option<N>,
    status: Status,
    rng: Prng,
    next_timer: u64,
    timers: BTreeMap<TimerId, PendingTimer<N::Timer>>,
    /// The pending timers by (local deadline, id): the earliest first, ties in creation order.
    due: BTreeSet<(Instant, TimerId)>,
    /// The node's one live wakeup event: (true instant, generation). Each node keeps at most
    /// one wakeup queued for all its timers, instead of one event per timer: a Raft follower
    /// re-arms its election timer on every AppendEntries, and per-timer events left four
    /// cancelled timers in the queue for every one that fired.
    wakeup: Option<(Instant, u64)>,
    /// The last crash lost unsynced records (cleared by the next boot).
    lost_writes: bool,
    clock: Clock,
    disk: Disk<N::Record>,
    /// The last sync token handed out (tokens never restart, so none from before a crash
    /// can be mistaken for a new one).
    last_sync_token: SyncToken,
    /// Crashes so far: a queued `SyncDone` of an earlier incarnation is stale.
    incarnation: u64,
    /// The sync the disk is doing now (slow disks only).
    sync_in_flight: Option<PhysicalSync>,
    /// Syncs asked for while one was in flight, folded into one (group commit): it starts
    /// when the one in flight completes.
    sync_waiting: Option<PhysicalSync>,
    /// When the last appended record reaches the disk's cache (slow writes only).
    written_until: Instant,
    /// Inputs that arrived while paused, handled in order on resume.
    paused_inbox: Vec<EventKind<N::Msg>>,
    /// Passages of each crash point so far (counted only when crash points are on).
    crash_point_passages: BTreeMap<&'static str, u64>,
    /// The node's BUGGIFY coins (`Ctx::buggify`), drawn only by protocols that ask.
    buggify_rng: Prng,
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
    /// The client's BUGGIFY coins (`ClientCtx::buggify`), drawn only by workloads that ask.
    buggify_rng: Prng,
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
    queue: EventQueue<N::Msg>,
    nodes: Vec<NodeSlot<N>>,
    network: Network,
    network_rng: Prng,
    fault_rng: Prng,
    disk_rng: Prng,
    /// Write and sync latencies; untouched when the disk is instant.
    disk_latency_rng: Prng,
    /// `config.disk.is_instant()`, read on every sync.
    disk_instant: bool,
    /// Instant disks: the node's last sync, durable already, whose `on_synced` runs once the
    /// handler's effects are all applied (as if the handler's fsync returned at its end).
    instant_synced: Option<(NodeId, SyncToken)>,
    /// `on_synced` of an instant sync is running (a sync it asks for completes after it).
    completing_instant_syncs: bool,
    clients: Vec<ClientSlot>,
    workload: Box<dyn Workload>,
    invariants: Box<dyn Invariants<N::Observation>>,
    plan: FaultPlan,
    history: History,
    digest: Digest,
    stats: SimStats,
    marks: BTreeMap<&'static str, u64>,
    /// Crash points: on at all (random ones configured, or a `CrashAt` in the plan)? Off, a
    /// node's `ctx.crash_point` records nothing.
    crash_points_on: bool,
    /// The random crash points' own stream (only with [`SimConfig::crash_points`]).
    crash_point_rng: Option<Prng>,
    /// Scripted `CrashAt`s applied and not yet fired: (node, point, passages left, power loss).
    armed_crashes: Vec<(NodeId, String, u32, bool)>,
    /// How often each crash point was passed, over all nodes.
    crash_point_counts: BTreeMap<&'static str, u64>,
    /// Membership changes applied so far (each node's `on_membership` gets the count).
    membership_requests: u64,
    /// The effect buffer every handler call borrows and returns, so no call allocates. Calls
    /// never nest (an instant sync's `on_synced` runs after the buffer is back), and one that
    /// did would only allocate a fresh buffer.
    effects: Vec<Effect<N>>,
    held: Vec<(Endpoint, Endpoint, Payload<N::Msg>)>,
    in_flight: u64,
    next_request: u64,
    timer_generation: u64,
    phase: Phase,
    stop: Option<StopReason>,
    faults_applied: Vec<AppliedFault>,
    trace: Vec<String>,
    /// Bytes held by `trace`'s lines (for the memory estimate).
    trace_bytes: u64,
    /// Happens-before between trace lines, when tracing.
    causal: Option<Causality>,
    /// Count peer messages by (from, to, kind), for pinned messages and, when tracing, the
    /// report's `random_fates`: on when tracing or when the plan pins a message.
    count_kinds: bool,
    kind_counts: BTreeMap<(NodeId, NodeId, String), u32>,
    /// Pinned messages armed so far, and their fates.
    pins: BTreeMap<MessageRef, MessageFate>,
    random_fates: Vec<(Instant, MessageRef, MessageFate)>,
    observations: Option<ObservationLog<N::Observation>>,
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
    pub const SYNC_DONE: u64 = 13;
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
                    due: BTreeSet::new(),
                    wakeup: None,
                    lost_writes: false,
                    clock: Clock::new(offset),
                    disk: Disk::default(),
                    last_sync_token: SyncToken(0),
                    incarnation: 0,
                    sync_in_flight: None,
                    sync_waiting: None,
                    written_until: Instant::ZERO,
                    paused_inbox: Vec::new(),
                    crash_point_passages: BTreeMap::new(),
                    buggify_rng: Prng::new(seed, Stream::Buggify(i)),
                }
            })
            .collect();
        let clients = (0..config.clients.count)
            .map(|i| ClientSlot {
                id: ClientId(i),
                process: ProcessId(u64::from(i)),
                rng: Prng::new(seed, Stream::Client(i)),
                buggify_rng: Prng::new(seed, Stream::ClientBuggify(i)),
                open: None,
                leader_hint: None,
                wake_token: 0,
                completed_in_recovery: 0,
            })
            .collect();
        for fault in &plan.faults {
            validate_fault(&fault.action, config.node_count);
        }
        // Only the next fault waits in the queue (see `schedule_fault`), so the plan must be in
        // time order; a stable sort keeps equal-time actions in the order given.
        let mut plan = plan;
        plan.faults.sort_by_key(|fault| fault.at);
        let network = Network::new(config.network.clone(), config.node_count);
        let count_kinds = config.trace
            || plan
                .faults
                .iter()
                .any(|fault| matches!(fault.action, FaultAction::Pin { .. }));
        let crash_points_on = config.crash_points.is_some()
            || plan
                .faults
                .iter()
                .any(|fault| matches!(fault.action, FaultAction::CrashAt { .. }));
        Simulation {
            crash_points_on,
            crash_point_rng: config
                .crash_points
                .as_ref()
                .map(|_| Prng::new(seed, Stream::CrashPoints)),
            armed_crashes: Vec::new(),
            crash_point_counts: BTreeMap::new(),
            membership_requests: 0,
            network_rng: Prng::new(seed, Stream::Network),
            disk_rng: Prng::new(seed, Stream::Disk),
            disk_latency_rng: Prng::new(seed, Stream::DiskLatency),
            disk_instant: config.disk.is_instant(),
            instant_synced: None,
            completing_instant_syncs: false,
            fault_rng,
            node_config,
            now: Instant::ZERO,
            seq: 0,
            queue: EventQueue::new(),
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
            trace_bytes: 0,
            count_kinds,
            kind_counts: BTreeMap::new(),
            pins: BTreeMap::new(),
            random_fates: Vec::new(),
            causal: config.trace.then(|| {
                Causality::new(config.node_count as usize + config.clients.count as usize)
            }),
            // Lanes are drawn about a thousand pixels wide: read numbers once per pixel.
            observations: config.record_observations.then(|| {
                let horizon = (config.duration + config.recovery).as_nanos();
                ObservationLog::new(config.node_count, horizon / 1024)
            }),
            config,
        }
    }

    #[inline]
    fn schedule(&mut self, time: Instant, kind: EventKind<N::Msg>) {
        debug_assert!(time >= self.now, "event scheduled in the past");
        self.seq += 1;
        self.queue.push(time, self.seq, kind);
    }

    fn tracing(&mut self, line: impl FnOnce() -> String) {
        if self.config.trace {
            let text = line();
            let line = format!("{} {}", self.now, text);
            self.trace_bytes += (line.capacity() + std::mem::size_of::<String>()) as u64;
            self.trace.push(line);
            if let Some(causal) = &mut self.causal {
                causal.traced();
            }
        }
    }

    /// Runs to the end (or to the first violation or limit) and reports.
    pub fn run(mut self) -> SimReport {
        self.digest.word(self.config.seed);
        let end = Instant::ZERO + self.config.duration + self.config.recovery;
        let recovery_at = Instant::ZERO + self.config.duration;
        self.schedule_fault(0);
        self.schedule(recovery_at, EventKind::BeginRecovery);
        self.schedule(end, EventKind::End);
        for i in 0..self.config.node_count {
            self.boot(NodeId(i));
        }
        for c in 0..self.clients.len() {
            self.schedule_think(ClientId(c as u32));
        }
        while self.stop.is_none() {
            let Some((time, kind)) = self.queue.pop() else {
                break;
            };
            self.now = time;
            if let EventKind::End = kind {
                self.digest.word(tag::PHASE);
                break;
            }
            self.dispatch(kind);
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
        let liveness_failure = match (&self.stop, liveness_failure) {
            (Some(StopReason::Completed), None) => self.invariants.liveness(self.now),
            (_, failure) => failure,
        };
        SimReport {
            seed: self.config.seed,
            stop: self.stop.take().expect("set above"),
            liveness_failure,
            digest: self.digest.value(),
            end_time: self.now,
            stats: self.stats,
            marks: self.marks,
            figures: self
                .invariants
                .figures(self.history.events())
                .into_iter()
                .collect(),
            crash_points: self.crash_point_counts,
            history: self.history,
            faults_applied: self.faults_applied,
            trace: self.trace,
            random_fates: self.random_fates,
            causality: self.causal.unwrap_or_default(),
            observations: self
                .observations
                .map(ObservationLog::into_records)
                .unwrap_or_default(),
        }
    }

    /// Queues the plan's fault `index` if it comes before the recovery phase. Faults are queued
    /// one at a time, each when the previous one fires: a fault-heavy plan holds hundreds of
    /// actions, and keeping them all queued made every pop of the event heap pay for them.
    fn schedule_fault(&mut self, index: usize) {
        let recovery_at = Instant::ZERO + self.config.duration;
        if let Some(fault) = self.plan.faults.get(index) {
            if fault.at < recovery_at {
                let at = fault.at;
                self.schedule(at, EventKind::Fault { index });
            }
        }
    }

    /// Counts one event (a delivery, a timer fired, a fault, a client action); false, with the
    /// run stopped, past the event limit. Stale wakeups are not events: nothing happens.
    fn count_event(&mut self) -> bool {
        self.stats.events += 1;
        if self.stats.events > self.config.limits.max_events {
            self.stop = Some(StopReason::LimitHit {
                limit: Limit::Events,
                time: self.now,
            });
            return false;
        }
        // Every 1,024 events: the estimate moves little between two looks, and summing the
        // disks on every event would cost a loop per event.
        if self.stats.events % MEMORY_CHECK_EVENTS == 0
            && self.memory_estimate_bytes() > self.config.limits.max_memory_bytes
        {
            self.stop = Some(StopReason::LimitHit {
                limit: Limit::Memory,
                time: self.now,
            });
            return false;
        }
        true
    }

    /// The bytes this run holds in what grows with its length (see
    /// [`Limits::max_memory_bytes`]): history events, messages in flight, disk records counted
    /// twice (the disk keeps them and a node keeps its own copy, a Raft log beside its disk)
    /// and trace lines. Heap parts of messages and records are not seen: a type's size stands
    /// for each.
    fn memory_estimate_bytes(&self) -> u64 {
        let history = self.history.len() as u64 * HISTORY_EVENT_BYTES;
        let message_bytes = std::mem::size_of::<(Instant, u64, EventKind<N::Msg>)>() as u64;
        let in_flight = self.in_flight * message_bytes;
        let records: u64 = self.nodes.iter().map(|slot| slot.disk.len() as u64).sum();
        let disks = 2 * records * std::mem::size_of::<N::Record>() as u64;
        history + in_flight + disks + self.trace_bytes
    }

    fn dispatch(&mut self, kind: EventKind<N::Msg>) {
        if let EventKind::Wakeup { node, generation } = kind {
            self.on_wakeup(node, generation);
            return;
        }
        if let EventKind::SyncDone {
            node,
            incarnation,
            token,
        } = kind
        {
            self.on_sync_done(node, incarnation, token);
            return;
        }
        if !self.count_event() {
            return;
        }
        match kind {
            EventKind::Deliver { from, to, payload } => self.on_deliver(from, to, payload),
            EventKind::Wakeup { .. } => unreachable!("handled above"),
            EventKind::Fault { index } => {
                self.schedule_fault(index + 1);
                let fault = self.plan.faults[index].clone();
                self.apply_fault(&fault);
            }
            EventKind::ClientWake { client, token } => self.on_client_wake(client, token),
            EventKind::CrashPointRestart { node, incarnation } => {
                let slot = &self.nodes[node.index()];
                if slot.status == Status::Crashed
                    && slot.incarnation == incarnation
                    && self.phase == Phase::Faults
                {
                    self.record_fault(FaultEvent::Action(FaultAction::Restart { node }));
                    self.boot(node);
                }
            }
            EventKind::SyncDone { .. } => unreachable!("handled above"),
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
        assert!(slot.timers.is_empty() && slot.due.is_empty() && slot.paused_inbox.is_empty());
        slot.state = Some(N::recover(&self.node_config, node, slot.disk.records()));
        slot.status = Status::Up;
        if let (Some(log), Some(state)) = (&mut self.observations, &slot.state) {
            log.offer_lane(self.now, node, state.starting_lane());
        }
        if std::mem::take(&mut slot.lost_writes) {
            // A kernel mark beside the protocol's own: the node just recovered from a disk
            // that lost unsynced writes in its last crash, the path R2 and R6 break.
            *self
                .marks
                .entry("sim.recovered_after_lost_writes")
                .or_insert(0) += 1;
        }
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
        let last_sync_token = {
            let mut ctx = Ctx {
                crash_points_on: self.crash_points_on,
                id: node,
                node_count,
                local_now,
                monotonic_now,
                rng: &mut slot.rng,
                buggify_rng: Some(&mut slot.buggify_rng),
                effects: &mut effects,
                next_timer: &mut slot.next_timer,
                last_sync_token: slot.last_sync_token,
            };
            handler(state, &mut ctx);
            ctx.last_sync_token
        };
        slot.last_sync_token = last_sync_token;
        self.apply_effects(node, local_now, &mut effects);
        self.effects = effects;
        if !self.completing_instant_syncs && self.instant_synced.is_some() {
            // An instant disk: the handler's syncs completed as its effects were applied; it
            // hears of them now, once, with the last token (group commit). A sync asked for
            // inside `on_synced` completes after it, so tokens arrive in order.
            self.completing_instant_syncs = true;
            while let Some((node, token)) = self.instant_synced.take() {
                if self.stop.is_some() {
                    break;
                }
                self.complete_sync(node, token);
            }
            self.completing_instant_syncs = false;
        }
    }

    /// Calls `on_synced(token)` on a live node.
    fn complete_sync(&mut self, node: NodeId, token: SyncToken) {
        self.stats.syncs_completed += 1;
        if let Some(causal) = &mut self.causal {
            causal.on_synced(node.index(), token.0);
        }
        if self.config.trace {
            let durable = self.nodes[node.index()].disk.synced_count();
            self.tracing(|| format!("{node} synced {token} ({durable} records durable)"));
        }
        self.with_node(node, |state, ctx| state.on_synced(ctx, token));
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
                    let slot = &mut self.nodes[node.index()];
                    let deadline_local = local_now + after;
                    let previous = slot.timers.insert(
                        id,
                        PendingTimer {
                            deadline_local,
                            timer,
                        },
                    );
                    assert!(previous.is_none(), "timer id {id:?} reused on {node}");
                    slot.due.insert((deadline_local, id));
                    self.arm_wakeup(node);
                    if let Some(causal) = &mut self.causal {
                        causal.timer_set(node.index(), id.0);
                    }
                }
                Effect::CancelTimer { id } => {
                    // The wakeup stays: it fires early, finds nothing due, and re-arms.
                    let slot = &mut self.nodes[node.index()];
                    if let Some(pending) = slot.timers.remove(&id) {
                        slot.due.remove(&(pending.deadline_local, id));
                    }
                }
                Effect::Append { record } => {
                    self.nodes[node.index()].disk.append(record);
                    if !self.disk_instant {
                        self.write_started(node);
                    }
                }
                Effect::Sync { token } => {
                    if let Some(causal) = &mut self.causal {
                        causal.sync_asked(node.index(), token.0);
                    }
                    self.digest.word(tag::DISK);
                    if self.disk_instant {
                        self.nodes[node.index()].disk.sync();
                        self.instant_synced = Some((node, token));
                    } else {
                        self.sync_asked(node, token);
                    }
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
                        self.tracing(|| format!("{node}: {observation:?}"));
                    }
                    if let Some(log) = &mut self.observations {
                        log.offer(self.now, node, N::lane(&observation, node), &observation);
                    }
                    if let Err(violation) = self.invariants.observe(self.now, node, &observation) {
                        self.tracing(|| format!("!! VIOLATION {violation}"));
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
                Effect::CrashPoint { name } => {
                    if self.pass_crash_point(node, name) {
                        // The node is gone: what it recorded after the point never happens.
                        break;
                    }
                }
            }
        }
        effects.clear();
    }

    /// `node` passes crash point `point`: counts the passage and crashes the node right here if
    /// a scripted `CrashAt` names this passage or the crash-point stream says so. True if the
    /// node crashed. Only in phase 1: recovery is for finishing, not for new faults.
    fn pass_crash_point(&mut self, node: NodeId, point: &'static str) -> bool {
        let nth = {
            let passages = self.nodes[node.index()]
                .crash_point_passages
                .entry(point)
                .or_insert(0);
            *passages += 1;
            *passages
        };
        *self.crash_point_counts.entry(point).or_insert(0) += 1;
        if self.phase != Phase::Faults {
            return false;
        }
        let mut power_loss = None;
        for (armed, name, left, lose_unsynced) in &mut self.armed_crashes {
            if *armed == node && name == point {
                *left -= 1;
                if *left == 0 {
                    power_loss = Some(power_loss.unwrap_or(false) || *lose_unsynced);
                }
            }
        }
        if power_loss.is_some() {
            self.armed_crashes.retain(|(_, _, left, _)| *left > 0);
        }
        let mut restart_after = None;
        if power_loss.is_none() {
            let (Some(options), Some(rng)) = (&self.config.crash_points, &mut self.crash_point_rng)
            else {
                return false;
            };
            if !options.covers(point) {
                return false;
            }
            // As generated plans do: at most a minority of the nodes down at once (one of a
            // single server), so a correct protocol can still make progress.
            let minority = (self.config.node_count.saturating_sub(1) / 2).max(1) as usize;
            let down = self
                .nodes
                .iter()
                .filter(|slot| slot.status == Status::Crashed)
                .count();
            if down >= minority || !rng.chance(options.chance) {
                return false;
            }
            power_loss = Some(rng.chance(options.power_loss));
            restart_after = Some(Duration(
                rng.range_inclusive(options.restart_after_min.0, options.restart_after_max.0),
            ));
        }
        let lose_unsynced = power_loss.expect("decided above");
        self.crash_as(node, lose_unsynced, Some((point, nth)));
        if matches!(self.instant_synced, Some((synced, _)) if synced == node) {
            // Its instant sync made the records durable, but the node is not there to hear it.
            self.instant_synced = None;
        }
        if let Some(after) = restart_after {
            let incarnation = self.nodes[node.index()].incarnation;
            self.schedule(
                self.now + after,
                EventKind::CrashPointRestart { node, incarnation },
            );
        }
        true
    }

    /// Queues a wakeup for the node's earliest timer unless one already comes at or before it.
    fn arm_wakeup(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        let Some(&(deadline_local, _)) = slot.due.first() else {
            return;
        };
        // `now` if it is due; otherwise the first instant whose local reading reaches it
        // (rounded up, so the wakeup never fires early and spins).
        let at = slot.clock.true_instant_of(self.now, deadline_local);
        if matches!(slot.wakeup, Some((queued, _)) if queued <= at) {
            return;
        }
        self.timer_generation += 1;
        let generation = self.timer_generation;
        slot.wakeup = Some((at, generation));
        self.schedule(at, EventKind::Wakeup { node, generation });
    }

    /// Fires the node's due timers in (local deadline, creation) order, one event each.
    fn on_wakeup(&mut self, node: NodeId, generation: u64) {
        let slot = &mut self.nodes[node.index()];
        if slot.wakeup.map(|(_, live)| live) != Some(generation) {
            // Superseded by an earlier wakeup, a clock change or a crash: stale on purpose.
            return;
        }
        slot.wakeup = None;
        if slot.status != Status::Up {
            // Paused: `resume` re-arms, so due timers fire after the queued inputs. (A crash
            // clears the timers and the wakeup.)
            debug_assert_eq!(slot.status, Status::Paused);
            return;
        }
        while self.stop.is_none() {
            let slot = &mut self.nodes[node.index()];
            let local_now = slot.clock.local(self.now);
            let Some(&(deadline_local, id)) = slot.due.first() else {
                break;
            };
            if deadline_local > local_now {
                // Not due yet (its clock was stepped back, or the earliest was cancelled).
                break;
            }
            slot.due.pop_first();
            let pending = slot.timers.remove(&id).expect("due and timers agree");
            if !self.count_event() {
                return;
            }
            self.stats.timers_fired += 1;
            self.digest.word(tag::TIMER);
            self.digest.word(self.now.0);
            self.digest.word(u64::from(node.0) << 32 ^ id.0);
            if let Some(causal) = &mut self.causal {
                causal.on_timer(node.index(), id.0);
            }
            if self.config.trace {
                let timer = pending.timer.clone();
                self.tracing(|| format!("{node} timer: {timer:?}"));
            }
            self.with_node(node, |state, ctx| state.on_timer(ctx, pending.timer));
        }
        self.arm_wakeup(node);
    }

    /// Drops the node's queued wakeup and arms one for its earliest timer now: after a clock
    /// step or re-rate (its timers fall due at other true instants) and on resume.
    fn reschedule_timers(&mut self, node: NodeId) {
        self.nodes[node.index()].wakeup = None;
        self.arm_wakeup(node);
    }

    // ----- slow disks --------------------------------------------------------------------

    /// Draws a latency from `[min, max]`; a fixed latency draws nothing.
    fn disk_latency(&mut self, min: Duration, max: Duration) -> Duration {
        if min == max {
            min
        } else {
            Duration(self.disk_latency_rng.range_inclusive(min.0, max.0))
        }
    }

    /// An append reaches the disk's cache after the write latency, and after every earlier
    /// append (writes complete in order).
    fn write_started(&mut self, node: NodeId) {
        let (min, max) = (
            self.config.disk.write_latency_min,
            self.config.disk.write_latency_max,
        );
        if max == Duration::ZERO {
            return;
        }
        let done = self.now + self.disk_latency(min, max);
        let slot = &mut self.nodes[node.index()];
        slot.written_until = slot.written_until.max(done);
    }

    /// The node asked for sync `token`: it starts now if the disk is idle, otherwise it waits
    /// for the sync in flight, folded with any other waiting one (group commit).
    fn sync_asked(&mut self, node: NodeId, token: SyncToken) {
        let slot = &mut self.nodes[node.index()];
        let sync = PhysicalSync {
            token,
            covers: slot.disk.len(),
            written_at: slot.written_until,
        };
        if slot.sync_in_flight.is_some() {
            slot.sync_waiting = Some(sync);
        } else {
            self.start_sync(node, sync);
        }
    }

    fn start_sync(&mut self, node: NodeId, sync: PhysicalSync) {
        let (min, max) = (
            self.config.disk.sync_latency_min,
            self.config.disk.sync_latency_max,
        );
        let done = (self.now + self.disk_latency(min, max)).max(sync.written_at);
        let slot = &mut self.nodes[node.index()];
        debug_assert!(slot.sync_in_flight.is_none(), "one sync at a time per disk");
        slot.sync_in_flight = Some(sync);
        let incarnation = slot.incarnation;
        self.schedule(
            done,
            EventKind::SyncDone {
                node,
                incarnation,
                token: sync.token,
            },
        );
    }

    /// A sync completed: its records are durable, the waiting sync starts, and the node hears
    /// of it (a paused node once it resumes). Stale after a crash, and then not an event.
    fn on_sync_done(&mut self, node: NodeId, incarnation: u64, token: SyncToken) {
        let slot = &mut self.nodes[node.index()];
        if slot.incarnation != incarnation {
            return; // the node crashed meanwhile: this completion never comes
        }
        if !self.count_event() {
            return;
        }
        let slot = &mut self.nodes[node.index()];
        // Replayed from the paused inbox the disk part is done already.
        if let Some(sync) = slot.sync_in_flight.filter(|sync| sync.token == token) {
            slot.sync_in_flight = None;
            slot.disk.sync_to(sync.covers);
            self.digest.word(tag::SYNC_DONE);
            self.digest.word(self.now.0);
            self.digest.word(u64::from(node.0) << 32 ^ token.0);
            if let Some(next) = self.nodes[node.index()].sync_waiting.take() {
                self.start_sync(node, next);
            }
        }
        match self.nodes[node.index()].status {
            Status::Up => self.complete_sync(node, token),
            Status::Paused => {
                self.nodes[node.index()]
                    .paused_inbox
                    .push(EventKind::SyncDone {
                        node,
                        incarnation,
                        token,
                    });
            }
            Status::Crashed => unreachable!("a crash moves the incarnation on"),
        }
    }

    // ----- network -----------------------------------------------------------------------

    fn home(&self, endpoint: Endpoint) -> NodeId {
        match endpoint {
            Endpoint::Node(n) => n,
            Endpoint::Client(c) => NodeId(c.0 % self.config.node_count),
        }
    }

    /// `endpoint`'s actor in [`Causality`]: nodes first, then clients.
    fn actor_index(&self, endpoint: Endpoint) -> usize {
        match endpoint {
            Endpoint::Node(node) => node.index(),
            Endpoint::Client(client) => self.config.node_count as usize + client.index(),
        }
    }

    #[inline]
    fn send(&mut self, from: Endpoint, to: Endpoint, payload: Payload<N::Msg>) {
        self.send_counted(from, to, payload, true);
    }

    /// Sends a message; `count`: it is sent for the first time (a message a clogged link held
    /// is sent again uncounted).
    #[inline]
    fn send_counted(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        payload: Payload<N::Msg>,
        count: bool,
    ) {
        self.stats.messages_sent += 1;
        let link = match (&payload, from, to) {
            _ if !(count && self.count_kinds) => None,
            (Payload::Peer(msg), Endpoint::Node(a), Endpoint::Node(b)) => {
                let printed = format!("{msg:?}");
                Some((a, b, message_kind(&printed).to_string()))
            }
            (Payload::Request(_), Endpoint::Client(c), Endpoint::Node(b)) => {
                Some((NodeId(c.0), b, CLIENT_REQUEST.to_string()))
            }
            (Payload::Reply(_), Endpoint::Node(a), Endpoint::Client(c)) => {
                Some((a, NodeId(c.0), CLIENT_REPLY.to_string()))
            }
            _ => None,
        };
        let message = link.map(|(a, b, kind)| {
            let counter = self.kind_counts.entry((a, b, kind.clone())).or_insert(0);
            *counter += 1;
            MessageRef {
                from: a,
                to: b,
                kind,
                nth: *counter,
            }
        });
        let (a, b) = (self.home(from), self.home(to));
        if a != b && self.network.is_cut(a, b) {
            self.stats.messages_cut += 1;
            self.digest.word(tag::DROP);
            self.trace_lost(from, to, &payload, "partition", false);
            return;
        }
        if a != b && self.network.is_clogged(a, b) {
            self.held.push((from, to, payload));
            return;
        }
        self.transmit(from, to, payload, message);
    }

    /// Traces a message that will never arrive, `why` in words; `arriving`: it was in flight
    /// and is being delivered now (its line heads the event, caused by its send).
    fn trace_lost(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        payload: &Payload<N::Msg>,
        why: &str,
        arriving: bool,
    ) {
        if !self.config.trace {
            return;
        }
        if arriving {
            if let Some(causal) = &mut self.causal {
                causal.on(None, Some(self.queue.popped));
            }
        }
        let what = match payload {
            Payload::Peer(msg) => format!("{msg:?}"),
            Payload::Request(request) => {
                format!("{} (request #{})", request.operation, request.id.0)
            }
            Payload::Reply(reply) => format!("reply to request #{}", reply.id.0),
        };
        self.tracing(|| format!("{from} ⇸ {to} {what} (lost: {why})"));
    }

    #[inline]
    fn transmit(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        payload: Payload<N::Msg>,
        message: Option<MessageRef>,
    ) {
        // Loopback (a client next to its own node, a node to itself) still takes network time.
        // A pinned message draws its fate as any other (later draws stay where they were),
        // then the pin decides.
        let sampled = self.network.sample(&mut self.network_rng);
        let pinned = message
            .as_ref()
            .and_then(|message| self.pins.get(message).copied());
        let fate = match pinned {
            None => sampled,
            Some(MessageFate::Drop) => Fate::Lost,
            Some(MessageFate::Delay(delay)) => Fate::Deliver(delay),
            Some(MessageFate::Duplicate) => match sampled {
                Fate::Twice(..) => sampled,
                Fate::Deliver(delay) => Fate::Twice(delay, delay),
                Fate::Lost => {
                    let least = self.network.config().latency_min;
                    Fate::Twice(least, least)
                }
            },
        };
        if self.config.trace && pinned.is_none() {
            let unusual = match fate {
                Fate::Lost => Some(MessageFate::Drop),
                Fate::Twice(..) => Some(MessageFate::Duplicate),
                Fate::Deliver(delay) if delay > self.network.config().latency_max => {
                    Some(MessageFate::Delay(delay))
                }
                Fate::Deliver(_) => None,
            };
            if let (Some(fate), Some(message)) = (unusual, &message) {
                self.random_fates.push((self.now, message.clone(), fate));
            }
        }
        match fate {
            Fate::Lost => {
                self.stats.messages_lost += 1;
                self.digest.word(tag::DROP);
                let why = if pinned.is_some() { "pinned" } else { "loss" };
                self.trace_lost(from, to, &payload, why, false);
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
        let (seq, actor) = (self.seq, self.actor_index(from));
        if let Some(causal) = &mut self.causal {
            causal.sent(seq, actor, matches!(from, Endpoint::Client(_)));
        }
    }

    fn on_deliver(&mut self, from: Endpoint, to: Endpoint, payload: Payload<N::Msg>) {
        self.in_flight -= 1;
        let (a, b) = (self.home(from), self.home(to));
        if a != b && self.network.is_cut(a, b) {
            // The partition began while the message was in flight.
            self.stats.messages_cut += 1;
            self.digest.word(tag::DROP);
            self.trace_lost(from, to, &payload, "partition", true);
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
                let actor = self.actor_index(to);
                if let Some(causal) = &mut self.causal {
                    causal.on(Some(actor), Some(self.queue.popped));
                }
                self.on_client_reply(client, server, *reply);
            }
            Endpoint::Node(node) => {
                let slot = &mut self.nodes[node.index()];
                match slot.status {
                    Status::Crashed => {
                        self.stats.messages_to_down_node += 1;
                        self.digest.word(tag::DROP);
                        self.trace_lost(from, to, &payload, "receiver down", true);
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
                if let Some(causal) = &mut self.causal {
                    causal.on(Some(node.index()), Some(self.queue.popped));
                }
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
                            self.tracing(|| format!("{sender} → {node} {msg:?}"));
                        }
                        self.with_node(node, |state, ctx| state.on_message(ctx, sender, msg));
                    }
                    Payload::Request(request) => {
                        self.digest.word(
                            tag::DELIVER_REQUEST ^ (request.id.0 << 8) ^ (u64::from(node.0) << 40),
                        );
                        if self.config.trace {
                            self.tracing(|| {
                                format!(
                                    "{from} → {node} {} (request #{})",
                                    request.operation, request.id.0
                                )
                            });
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
                self.send_counted(from, to, payload, false);
            }
        }
    }

    // ----- faults ------------------------------------------------------------------------

    fn record_fault(&mut self, what: FaultEvent) {
        self.digest.word(tag::FAULT);
        what.digest_into(&mut self.digest);
        if let Some(causal) = &mut self.causal {
            causal.on(None, None);
        }
        if self.config.trace {
            self.tracing(|| format!("!! FAULT {what}"));
        }
        self.faults_applied
            .push(AppliedFault { at: self.now, what });
    }

    fn apply_fault(&mut self, fault: &TimedFault) {
        match &fault.action {
            FaultAction::Partition(shape) => {
                let cuts = resolve_partition(shape, self.config.node_count, &mut self.fault_rng);
                self.network.set_partition(&cuts);
                self.record_fault(FaultEvent::Partition {
                    shape: shape.clone(),
                    cuts,
                });
            }
            FaultAction::Heal => {
                self.network.heal();
                self.record_fault(FaultEvent::Action(FaultAction::Heal));
                self.release_held(None);
            }
            &FaultAction::Crash {
                node,
                lose_unsynced,
            } => self.crash(node, lose_unsynced),
            &FaultAction::Restart { node } => {
                if self.nodes[node.index()].status == Status::Crashed {
                    self.record_fault(FaultEvent::Action(FaultAction::Restart { node }));
                    self.boot(node);
                }
            }
            &FaultAction::Pause { node } => {
                if self.nodes[node.index()].status == Status::Up {
                    self.nodes[node.index()].status = Status::Paused;
                    self.record_fault(FaultEvent::Action(FaultAction::Pause { node }));
                }
            }
            &FaultAction::Resume { node } => self.resume(node),
            &FaultAction::ClockStep { node, delta_nanos } => {
                self.nodes[node.index()].clock.step(self.now, delta_nanos);
                self.record_fault(FaultEvent::Action(FaultAction::ClockStep {
                    node,
                    delta_nanos,
                }));
                self.reschedule_timers(node);
            }
            &FaultAction::ClockDrift { node, drift_ppm } => {
                self.nodes[node.index()]
                    .clock
                    .set_drift(self.now, drift_ppm);
                self.record_fault(FaultEvent::Action(FaultAction::ClockDrift {
                    node,
                    drift_ppm,
                }));
                self.reschedule_timers(node);
            }
            &FaultAction::Clog { from, to } => {
                self.network.set_clogged(from, to, true);
                self.record_fault(FaultEvent::Action(FaultAction::Clog { from, to }));
            }
            &FaultAction::Unclog { from, to } => {
                self.network.set_clogged(from, to, false);
                self.record_fault(FaultEvent::Action(FaultAction::Unclog { from, to }));
                self.release_held(Some((from, to)));
            }
            &FaultAction::SetLoss { loss } => {
                self.network.set_loss_override(loss);
                self.record_fault(FaultEvent::Action(FaultAction::SetLoss { loss }));
            }
            &FaultAction::Membership(change) => {
                self.record_fault(FaultEvent::Action(FaultAction::Membership(change)));
                self.membership_requests += 1;
                let request = self.membership_requests;
                for index in 0..self.config.node_count {
                    let node = NodeId(index);
                    if self.nodes[node.index()].status == Status::Up {
                        self.with_node(node, |state, ctx| {
                            state.on_membership(ctx, request, change);
                        });
                    }
                }
            }
            FaultAction::CrashAt {
                node,
                point,
                nth,
                lose_unsynced,
            } => {
                self.armed_crashes
                    .push((*node, point.clone(), (*nth).max(1), *lose_unsynced));
                self.record_fault(FaultEvent::Action(fault.action.clone()));
            }
            FaultAction::Pin { message, fate } => {
                self.pins.insert(message.clone(), *fate);
                self.record_fault(FaultEvent::Action(fault.action.clone()));
            }
        }
    }

    fn crash(&mut self, node: NodeId, lose_unsynced: bool) {
        self.crash_as(node, lose_unsynced, None);
    }

    /// Crashes `node`; `at_point` names the crash point (and its passage) it crashed at.
    fn crash_as(
        &mut self,
        node: NodeId,
        lose_unsynced: bool,
        at_point: Option<(&'static str, u64)>,
    ) {
        let slot = &mut self.nodes[node.index()];
        if slot.status == Status::Crashed {
            return;
        }
        slot.state = None;
        slot.status = Status::Crashed;
        slot.timers.clear();
        slot.due.clear();
        slot.wakeup = None;
        let dropped_inputs = slot
            .paused_inbox
            .iter()
            .filter(|kind| matches!(kind, EventKind::Deliver { .. }))
            .count() as u64;
        slot.paused_inbox.clear();
        // A sync in flight never completes; its records are as unsynced as any other.
        let sync_was_in_flight = slot.sync_in_flight.take().is_some();
        slot.sync_waiting = None;
        slot.incarnation += 1;
        slot.written_until = Instant::ZERO;
        let loss = slot.disk.crash(lose_unsynced, &mut self.disk_rng);
        self.stats.crashes_during_sync += u64::from(sync_was_in_flight);
        self.in_flight -= dropped_inputs;
        self.stats.crashes += 1;
        self.stats.unsynced_records_lost += loss.lost_count as u64;
        self.nodes[node.index()].lost_writes = loss.lost_count > 0;
        self.invariants.on_crash(self.now, node);
        self.record_fault(match at_point {
            None => FaultEvent::Crash {
                node,
                lose_unsynced,
                kept: loss.kept_count,
                lost: loss.lost_count,
            },
            Some((point, nth)) => FaultEvent::CrashAtPoint {
                node,
                point,
                nth,
                lose_unsynced,
                kept: loss.kept_count,
                lost: loss.lost_count,
            },
        });
    }

    fn resume(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.status != Status::Paused {
            return;
        }
        slot.status = Status::Up;
        let inbox = std::mem::take(&mut slot.paused_inbox);
        self.record_fault(FaultEvent::Resume {
            node,
            queued: inbox.len(),
        });
        // Queued deliveries stay counted in flight; on_deliver counts them out again.
        for kind in inbox {
            self.schedule(self.now, kind);
        }
        // Timers that fell due during the pause fire after the queued inputs.
        self.reschedule_timers(node);
    }

    fn begin_recovery(&mut self) {
        self.phase = Phase::Recovery;
        self.digest.word(tag::PHASE);
        self.record_fault(FaultEvent::RecoveryBegins);
        self.network.heal();
        self.release_held(None);
        for i in 0..self.config.node_count {
            let node = NodeId(i);
            match self.nodes[node.index()].status {
                Status::Crashed => {
                    self.record_fault(FaultEvent::Action(FaultAction::Restart { node }));
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
        match self.workload.pacing(client, self.now) {
            Pacing::Think => {}
            Pacing::At(at) => {
                let at = at.max(self.now);
                if at < self.quiesce_at() {
                    self.schedule_client_wake(client, at);
                }
                return;
            }
            Pacing::Done => return,
        }
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
        let (target, redirected) = {
            let open = self.clients[client.index()].open.as_mut().expect("checked");
            let redirected = open.next_target.is_some();
            let target = open
                .next_target
                .take()
                .unwrap_or(NodeId((open.target.0 + 1) % self.config.node_count));
            (target, redirected)
        };
        if self.config.trace {
            let open = self.clients[client.index()].open.as_ref().expect("checked");
            let (id, attempt) = (open.request.id.0, open.request.attempt.wrapping_add(2));
            let why = if redirected {
                "redirected".to_string()
            } else {
                format!("no answer in {}", self.config.clients.retry_after)
            };
            let actor = self.actor_index(Endpoint::Client(client));
            if let Some(causal) = &mut self.causal {
                causal.on_retry(actor);
            }
            self.tracing(|| {
                format!("{client} retries request #{id} → {target} (attempt {attempt}: {why})")
            });
        }
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
        let mut ctx = ClientCtx::new(
            client,
            self.now,
            &mut slot.rng,
            &mut slot.buggify_rng,
            &mut self.marks,
        );
        let operation = self.workload.next_operation_in(&mut ctx);
        let resend_at_once = ctx.is_resent_at_once();
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
        let actor = self.actor_index(Endpoint::Client(client));
        if let Some(causal) = &mut self.causal {
            causal.on(Some(actor), None);
        }
        self.tracing(|| format!("{client} invoke {}", request.operation));
        if let Some(causal) = &mut self.causal {
            causal.history_event();
        }
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
        if resend_at_once {
            self.resend_at_once(client);
        }
    }

    /// The workload's BUGGIFY asked for the new request to go out twice: a second attempt to
    /// the same node right after the first, same request id, leaving the retry wake as it is.
    fn resend_at_once(&mut self, client: ClientId) {
        let open = self.clients[client.index()]
            .open
            .as_mut()
            .expect("a resend needs the open operation");
        open.request.attempt = open.request.attempt.wrapping_add(1);
        let (target, request) = (open.target, open.request.clone());
        self.tracing(|| format!("{client} resends request {} at once", request.id.0));
        self.send(
            Endpoint::Client(client),
            Endpoint::Node(target),
            Payload::Request(Box::new(request)),
        );
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
        if let Some(causal) = &mut self.causal {
            causal.history_event();
        }
        let slot = &mut self.clients[client.index()];
        let mut ctx = ClientCtx::new(
            client,
            self.now,
            &mut slot.rng,
            &mut slot.buggify_rng,
            &mut self.marks,
        );
        self.workload
            .observe_result_in(&mut ctx, operation, outcome.as_ref());
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
        | FaultAction::ClockDrift { node, .. }
        | FaultAction::CrashAt { node, .. } => check(*node),
        FaultAction::Clog { from, to } | FaultAction::Unclog { from, to } => {
            check(*from);
            check(*to);
        }
        FaultAction::Pin { message, .. } => {
            // A client's number is not a node's.
            if !message.from_client() {
                check(message.from);
            }
            if !message.to_client() {
                check(message.to);
            }
        }
        FaultAction::Partition(_)
        | FaultAction::Heal
        | FaultAction::SetLoss { .. }
        | FaultAction::Membership(_) => {}
    }
}
