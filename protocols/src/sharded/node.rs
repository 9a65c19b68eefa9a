//! A node of the sharded store: one replica of one consensus group, plus the routing and
//! migration duties of its group.
//!
//! The cluster's node ids are cut into groups of `replicas`: group 0 is the configuration
//! service, group `1 + s` replicates shard `s`. Each node runs an unmodified consensus replica
//! ([`RaftNode`] by default, or a `PaxosNode` or `ZabNode`: [`GroupReplica`]) as the member
//! `id % replicas` of a cluster of `replicas`, embedded as a [`Group`]: the inner replica sees
//! node ids `0..replicas`, and its effects are translated (group-local ids to cluster ids, its
//! timers to ours, its broadcast to its group only) before they reach the simulator. The sync
//! tokens line up one to one: a node's disk holds only its replica's records.

use super::config::{Config, GroupReplica, Rebalance};
use super::invariants::ShardObservation;
use super::message::{Message, Timer};
use super::state::{
    Configurations, Control, GroupApp, ShardState, Snapshot, Version, KEYLESS, WRONG_SHARD,
};
use crate::group::{Embeds, Group, Handed};
use crate::raft::RaftNode;
use sim_core::faults::Membership;
use sim_core::history::Function;
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet};

/// Client slots at or above this are a node's own control streams into its group's log.
const CONTROL_CLIENT_BASE: u32 = u32::MAX - 1024;
/// Control request ids live far above any client's.
const CONTROL_REQUEST_BASE: u64 = 1 << 62;

/// The most client requests a node remembers handing to its group.
const IN_FLIGHT_MAX: usize = 4096;

/// The control stream of configuration changes (on the configuration service).
const STREAM_CHANGE: u32 = 0;
/// The control stream of reconfigurations (on a shard group).
const STREAM_RECONFIGURE: u32 = 1;
/// The control streams of installations, one per sending shard: `STREAM_INSTALL + from`.
const STREAM_INSTALL: u32 = 2;
/// The control stream of the scenario's membership requests (on the configuration service),
/// above every installation stream.
const STREAM_REQUESTED: u32 = STREAM_INSTALL + super::SHARDS_MAX;

/// A node of the sharded store whose groups run the consensus replica `R` (Raft by default).
#[derive(Debug)]
pub struct ShardedNode<R: GroupReplica = RaftNode<GroupApp>> {
    config: Config,
    group: u32,
    /// This node's member of its group's consensus.
    replica: Group<R>,
    /// How far the replica's durable log reached at recovery: applying up to there may be a
    /// re-application of what this node applied before it crashed, which is no handoff moment.
    recovered_position: u64,
    /// The next configuration, as learned from the configuration service.
    next_configuration: Option<(Version, BTreeSet<u32>)>,
    /// Snapshots whose receiver confirmed the installation.
    acknowledged: BTreeSet<(Version, u32)>,
    /// Round robin over the configuration service's nodes.
    poll_turn: u32,
    /// Keys of the client requests handed to the group, by request id, for read claims and
    /// hints.
    in_flight: BTreeMap<RequestId, (u32, Function)>,
    /// The last (key -> version) claims reported to the invariant checker.
    claimed: BTreeMap<u32, Version>,
    /// When (monotonic clock) this node first saw its group wait for each (version, from)
    /// snapshot: the start of the range's unavailability window.
    pending_since: BTreeMap<(Version, u32), Instant>,
    /// The scenario's membership requests this configuration node heard of and has not seen
    /// done, by number (lost with a crash; the other replicas heard them too).
    requested: BTreeMap<u64, Membership>,
}

/// The unavailability window of a migrated range, as a mark: from the new owner adopting the
/// version to its installing the snapshot, measured by its leader on its monotonic clock.
fn window_mark(window: Duration) -> &'static str {
    let millis = window.as_nanos() / 1_000_000;
    match millis {
        0..20 => "shard.unavailable_under_20ms",
        20..100 => "shard.unavailable_20ms_to_100ms",
        100..500 => "shard.unavailable_100ms_to_500ms",
        _ => "shard.unavailable_500ms_or_more",
    }
}

impl<R: GroupReplica> ShardedNode<R> {
    fn replicas(&self) -> u32 {
        self.config.replicas
    }

    fn cluster_id(&self, inner: NodeId) -> NodeId {
        self.replica.cluster_id(inner)
    }

    /// The group of shard `shard`.
    fn group_of_shard(shard: u32) -> u32 {
        shard + 1
    }

    fn shard_state(&self) -> Option<&ShardState> {
        match self.replica.app() {
            GroupApp::Shard(state) => Some(state),
            GroupApp::Configurations(_) => None,
        }
    }

    fn configurations(&self) -> Option<&Configurations> {
        match self.replica.app() {
            GroupApp::Configurations(configurations) => Some(configurations),
            GroupApp::Shard(_) => None,
        }
    }

    /// Runs one handler of the inner replica and applies its effects as ours, the client
    /// replies and observations it hands back routed in their place among the others.
    fn drive(&mut self, ctx: &mut Ctx<'_, Self>, handler: impl FnOnce(&mut R, &mut Ctx<'_, R>)) {
        let before = self.handoff_moments();
        let effects = self.replica.handle(ctx, handler);
        for effect in effects {
            match self.replica.perform(ctx, effect) {
                None => {}
                Some(Handed::Reply { client, reply }) => {
                    if client.0 >= CONTROL_CLIENT_BASE {
                        continue; // Our own control command: progress shows in the state.
                    }
                    let outcome = self.client_outcome(ctx, reply.id, reply.outcome);
                    ctx.reply(client, reply.id, outcome);
                }
                Some(Handed::Observe { observation }) => ctx.observe(ShardObservation::Group {
                    group: self.group,
                    observation,
                }),
            }
        }
        self.report_claims(ctx);
        // The handoff's crash points, once the handler's entries are applied and its effects
        // recorded: a crash here loses nothing the log does not bring back. Only for the live
        // moment: a restarted node re-applying its recovered log passes none (a handler that
        // applies past the recovered log counts as live).
        if self.replica.replica().applied_position() <= self.recovered_position {
            return;
        }
        let after = self.handoff_moments();
        if after.0 > before.0 {
            ctx.crash_point("shard.after_freeze");
        }
        if after.1 > before.1 {
            ctx.crash_point("shard.after_install");
        }
        if after.2 > before.2 {
            ctx.crash_point("shard.after_config_commit");
        }
    }

    /// Counters of the handoff's moments in the applied state: snapshots taken (frozen
    /// ranges), snapshots installed, configurations committed.
    fn handoff_moments(&self) -> (usize, u64, Version) {
        match self.replica.app() {
            GroupApp::Shard(state) => (state.outgoing().len(), state.installs(), 0),
            GroupApp::Configurations(configurations) => (0, 0, configurations.version()),
        }
    }

    /// The client's view of the group's answer: group-local leader hints become cluster ids, and
    /// "not this shard's key" becomes a hint at the owner by this node's configuration.
    fn client_outcome(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        request: RequestId,
        outcome: Outcome,
    ) -> Outcome {
        let in_flight = self.in_flight.remove(&request);
        match outcome {
            Outcome::Redirect {
                leader: Some(WRONG_SHARD),
            } => {
                if let (Some((key, _)), Some(state)) = (in_flight, self.shard_state()) {
                    if state.serves(key) {
                        // Refused when the group did not serve the key, and cached so by
                        // the group's session table, which answers every retry of this request id
                        // the same way, though the key is ours again (removed and re-added):
                        // the request was never applied, so "unknown" is a safe answer, and
                        // the client's next request is fresh.
                        ctx.mark("shard.refusal_answered_unknown");
                        return Outcome::Unknown;
                    }
                }
                ctx.mark("shard.refused_after_handoff");
                let leader = in_flight.map(|(key, _)| self.hint(key, 0)).unwrap_or(None);
                Outcome::Redirect { leader }
            }
            Outcome::Redirect { leader } => Outcome::Redirect {
                leader: leader.map(|inner| self.cluster_id(inner)),
            },
            Outcome::Ok { value, token } => {
                if let (Some((key, Function::Read)), Some(state)) = (in_flight, self.shard_state())
                {
                    // A read answered from the state as it is now: claim its version.
                    if state.serves(key) {
                        ctx.observe(ShardObservation::Served {
                            shard: state.shard(),
                            key,
                            version: state.version(),
                        });
                    }
                }
                Outcome::Ok { value, token }
            }
            other => other,
        }
    }

    /// Reports the keys this group's state machine served at a version not yet reported.
    fn report_claims(&mut self, ctx: &mut Ctx<'_, Self>) {
        let GroupApp::Shard(state) = self.replica.app() else {
            return;
        };
        let shard = state.shard();
        let now = ctx.monotonic_now();
        for &from in state.pending() {
            self.pending_since
                .entry((state.version(), from))
                .or_insert(now);
        }
        let installed: Vec<(Version, u32)> = self
            .pending_since
            .keys()
            .filter(|&&(version, from)| state.has_installed(version, from))
            .copied()
            .collect();
        for handoff in installed {
            let since = self.pending_since.remove(&handoff).expect("listed");
            if self.replica.is_leader() {
                ctx.mark(window_mark(now.saturating_since(since)));
            }
        }
        for (&key, &version) in state.last_served() {
            if self.claimed.get(&key) != Some(&version) {
                self.claimed.insert(key, version);
                ctx.observe(ShardObservation::Served {
                    shard,
                    key,
                    version,
                });
            }
        }
    }

    /// A node of the group that owns `key` by this node's configuration (another group's
    /// node, or `None` when the key is this group's own or unknown). The replica is rotated
    /// by the attempt so a client tries each in turn.
    fn hint(&self, key: u32, attempt: u32) -> Option<NodeId> {
        let ring = match self.replica.app() {
            GroupApp::Shard(state) => state.ring(),
            GroupApp::Configurations(configurations) => configurations.ring(),
        };
        let group = Self::group_of_shard(ring.owner(key));
        (group != self.group).then(|| NodeId(group * self.replicas() + attempt % self.replicas()))
    }

    /// Hands a control command to this node's replica (which proposes it if it leads).
    fn propose(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        stream: u32,
        version: Version,
        control: Control,
    ) {
        let request = Request {
            id: RequestId(CONTROL_REQUEST_BASE | (u64::from(stream) << 40) | version),
            client: ClientId(CONTROL_CLIENT_BASE + stream),
            process: ProcessId(u64::from(CONTROL_CLIENT_BASE + stream)),
            operation: control.to_operation(),
            attempt: 0,
        };
        self.drive(ctx, |replica, inner| replica.on_request(inner, request));
    }

    /// A shard group's leader, every poll interval: adopt the next configuration once settled
    /// (or ask the configuration service for it), and resend every snapshot not yet
    /// acknowledged.
    fn on_poll(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(state) = self.shard_state() else {
            return;
        };
        if !self.replica.is_leader() {
            return;
        }
        let (version, settled) = (state.version(), state.is_settled());
        let owed: Vec<((Version, u32), Snapshot)> = state
            .outgoing()
            .iter()
            .filter(|(handoff, _)| !self.acknowledged.contains(handoff))
            .map(|(&handoff, snapshot)| (handoff, snapshot.clone()))
            .collect();
        let shard = state.shard();
        match self.next_configuration.take() {
            Some((next, members)) if next == version + 1 && settled => {
                ctx.mark("shard.reconfigure_proposed");
                self.propose(
                    ctx,
                    STREAM_RECONFIGURE,
                    next,
                    Control::Reconfigure {
                        version: next,
                        members: members.clone(),
                    },
                );
                self.next_configuration = Some((next, members));
            }
            Some(known) if known.0 > version => self.next_configuration = Some(known),
            _ => {
                let to = NodeId(self.poll_turn % self.replicas());
                self.poll_turn = self.poll_turn.wrapping_add(1);
                ctx.send(to, Message::FetchConfiguration { known: version });
            }
        }
        for ((handoff_version, to), snapshot) in owed {
            let group = Self::group_of_shard(to);
            for replica in 0..self.replicas() {
                ctx.send(
                    NodeId(group * self.replicas() + replica),
                    Message::Snapshot {
                        version: handoff_version,
                        from: shard,
                        snapshot: snapshot.clone(),
                    },
                );
            }
        }
    }

    /// The configuration service's leader, every rebalance interval: propose the next
    /// membership change, up to the scenario's number of changes.
    fn on_rebalance(&mut self, ctx: &mut Ctx<'_, Self>) {
        let (min, max) = (
            self.config.rebalance_every_min,
            self.config.rebalance_every_max,
        );
        let after = Duration::from_nanos(ctx.rng().range_inclusive(min.as_nanos(), max.as_nanos()));
        ctx.set_timer(after, Timer::Rebalance);
        let Some(configurations) = self.configurations() else {
            return;
        };
        if !self.replica.is_leader() {
            return;
        }
        let version = configurations.version();
        let changes = u32::try_from(version - 1).expect("few changes");
        if changes >= self.config.rebalances {
            return;
        }
        let members = configurations
            .members(version)
            .expect("the latest version exists")
            .clone();
        let spare = (0..self.config.shards_max).find(|s| !members.contains(s));
        let grow = match self.config.rebalance {
            Rebalance::Grow => true,
            Rebalance::Shrink => false,
            Rebalance::Random => ctx.rng().below(2) == 0,
        };
        let mut next = members.clone();
        match spare {
            Some(shard) if grow => {
                next.insert(shard);
                ctx.mark("shard.add_shard");
            }
            _ if members.len() > 1 => {
                let leaving = *members
                    .iter()
                    .nth(ctx.rng().below(members.len() as u64) as usize)
                    .expect("in range");
                next.remove(&leaving);
                ctx.mark("shard.remove_shard");
            }
            _ => return,
        }
        self.propose(
            ctx,
            STREAM_CHANGE,
            version + 1,
            Control::Change {
                version: version + 1,
                members: next,
            },
        );
    }

    /// The configuration service's leader, every poll interval: propose the oldest membership
    /// request not yet done, resolved against the latest configuration.
    fn propose_requested(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(done) = self.configurations().map(Configurations::requests_applied) else {
            return;
        };
        self.requested = self.requested.split_off(&(done + 1));
        let Some(configurations) = self.configurations() else {
            return;
        };
        if !self.replica.is_leader() {
            return;
        }
        let Some((&request, &change)) = self.requested.first_key_value() else {
            return;
        };
        let version = configurations.version();
        let members = configurations
            .members(version)
            .expect("the latest version exists")
            .clone();
        let mut next = members.clone();
        let shards_max = self.config.shards_max;
        match change {
            Membership::Add(shard) => {
                let spare = shard.or_else(|| (0..shards_max).find(|s| !members.contains(s)));
                if let Some(shard) = spare.filter(|s| *s < shards_max) {
                    next.insert(shard);
                }
            }
            Membership::Remove(shard) if members.len() > 1 => {
                let leaving = shard.unwrap_or_else(|| {
                    *members
                        .iter()
                        .nth(ctx.rng().below(members.len() as u64) as usize)
                        .expect("in range")
                });
                next.remove(&leaving);
            }
            Membership::Remove(_) => {} // The last shard stays.
        }
        ctx.mark(if next == members {
            "shard.membership_unchanged"
        } else if next.len() > members.len() {
            "shard.add_shard"
        } else {
            "shard.remove_shard"
        });
        // Request ids grow with (request, version), as a client slot's must.
        let id = (request << 20) | version;
        self.propose(
            ctx,
            STREAM_REQUESTED,
            id,
            Control::Requested {
                version: version + 1,
                request,
                members: next,
            },
        );
    }

    fn on_snapshot(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from_node: NodeId,
        version: Version,
        from: u32,
        snapshot: Snapshot,
    ) {
        let Some(state) = self.shard_state() else {
            return;
        };
        if state.has_installed(version, from) {
            let shard = state.shard();
            ctx.send(from_node, Message::SnapshotInstalled { version, shard });
            return;
        }
        if !state.awaits(version, from) || !self.replica.is_leader() {
            // Not adopted that version yet, or not the leader: the sender retries.
            return;
        }
        ctx.mark("shard.install_proposed");
        self.propose(
            ctx,
            STREAM_INSTALL + from,
            version,
            Control::Install {
                version,
                from,
                snapshot,
            },
        );
    }
}

impl<R: GroupReplica> Node for ShardedNode<R> {
    type Config = Config;
    type Msg = Message<R::Msg>;
    type Timer = Timer<R::Timer>;
    type Record = R::Record;
    type Observation = ShardObservation<R::Observation>;

    fn lane(observation: &Self::Observation, _node: NodeId) -> sim_core::observed::Lane {
        observation.lane::<R>()
    }

    fn starting_lane(&self) -> sim_core::observed::Lane {
        super::lane::starting(self.group)
    }

    fn recover(config: &Config, id: NodeId, durable: &[R::Record]) -> Self {
        let group = id.0 / config.replicas;
        assert!(group <= config.shards_max, "{id} outside every group");
        let group_config = R::group_config(config, group);
        let replica: Group<R> = Group::recover(
            &group_config,
            id,
            group * config.replicas,
            config.replicas,
            durable,
        );
        ShardedNode {
            config: config.clone(),
            group,
            recovered_position: replica.replica().durable_position(),
            replica,
            next_configuration: None,
            acknowledged: BTreeSet::new(),
            poll_turn: id.0,
            in_flight: BTreeMap::new(),
            claimed: BTreeMap::new(),
            pending_since: BTreeMap::new(),
            requested: BTreeMap::new(),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.drive(ctx, |replica, inner| replica.on_start(inner));
        if self.group == 0 {
            if self.config.rebalances > 0 {
                self.on_rebalance(ctx);
            }
            if self.config.membership_changes {
                ctx.set_timer(self.config.poll_interval, Timer::Poll);
            }
        } else {
            ctx.set_timer(self.config.poll_interval, Timer::Poll);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message<R::Msg>) {
        match msg {
            Message::Group(inner_msg) => {
                let Some(inner_from) = self.replica.member_of(from) else {
                    return; // Consensus messages never cross groups.
                };
                self.drive(ctx, |replica, inner| {
                    replica.on_message(inner, inner_from, inner_msg)
                });
            }
            Message::FetchConfiguration { known } => {
                // Any replica answers from its applied (hence committed) list: a lagging one
                // answers nothing new, and versions only grow.
                let Some(configurations) = self.configurations() else {
                    return;
                };
                if let Some(members) = configurations.members(known + 1) {
                    let members = members.clone();
                    ctx.send(
                        from,
                        Message::Configuration {
                            version: known + 1,
                            members,
                        },
                    );
                }
            }
            Message::Configuration { version, members } => {
                let Some(state) = self.shard_state() else {
                    return;
                };
                if version == state.version() + 1 {
                    self.next_configuration = Some((version, members));
                }
            }
            Message::Snapshot {
                version,
                from: shard,
                snapshot,
            } => self.on_snapshot(ctx, from, version, shard, snapshot),
            Message::SnapshotInstalled { version, shard } => {
                self.acknowledged.insert((version, shard));
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer<R::Timer>) {
        match timer {
            Timer::Group { id, timer } => {
                self.replica.timer_fired(id);
                self.drive(ctx, |replica, inner| replica.on_timer(inner, timer));
            }
            Timer::Poll => {
                ctx.set_timer(self.config.poll_interval, Timer::Poll);
                if self.group == 0 {
                    self.propose_requested(ctx);
                } else {
                    self.on_poll(ctx);
                }
            }
            Timer::Rebalance => self.on_rebalance(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        let key = request.operation.key.unwrap_or(KEYLESS);
        // Every third attempt of a bounced request waits (the client backs off on a redirect
        // without a hint): while two groups disagree on a key's owner during a handoff, each
        // would otherwise send the client to the other at once.
        let attempt = request.attempt;
        let patient = attempt % 3 == 2;
        let (serves, owns) = match self.replica.app() {
            GroupApp::Shard(state) => (state.serves(key), state.ring().owner(key) == state.shard()),
            GroupApp::Configurations(_) => (false, false),
        };
        if !serves && owns {
            // Ours from this version on, but its snapshot is not installed yet.
            ctx.mark("shard.awaiting_snapshot");
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect { leader: None },
            );
            return;
        }
        if !serves {
            ctx.mark("shard.redirect_wrong_shard");
            let leader = if patient {
                None
            } else {
                self.hint(key, attempt)
            };
            ctx.reply(request.client, request.id, Outcome::Redirect { leader });
            return;
        }
        if self.in_flight.len() >= IN_FLIGHT_MAX {
            // Requests whose leader lost office are never answered: forget the oldest.
            self.in_flight.pop_first();
        }
        self.in_flight
            .insert(request.id, (key, request.operation.f));
        self.drive(ctx, |replica, inner| replica.on_request(inner, request));
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        self.drive(ctx, |replica, inner| replica.on_synced(inner, token));
    }

    fn on_membership(&mut self, ctx: &mut Ctx<'_, Self>, request: u64, change: Membership) {
        // Every configuration node queues it; whichever leads proposes it, at once if this one
        // does, else at its next poll.
        if self.group == 0 {
            self.requested.insert(request, change);
            self.propose_requested(ctx);
        }
    }
}

impl<R: GroupReplica> Embeds<R> for ShardedNode<R> {
    fn wrap_message(msg: R::Msg) -> Message<R::Msg> {
        Message::Group(msg)
    }

    fn wrap_timer(id: TimerId, timer: R::Timer) -> Timer<R::Timer> {
        Timer::Group { id, timer }
    }

    fn wrap_record(record: R::Record) -> R::Record {
        record
    }
}
