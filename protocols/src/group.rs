//! A consensus group embedded in another protocol's node: an unmodified [`RaftNode`],
//! [`PaxosNode`] or [`ZabNode`] run as one member of a small cluster that lives inside a larger
//! one (a shard group of the sharded store, a replicated coordinator).
//!
//! [`Group<R>`] owns the inner replica `R`, its timer map and the id translation: the group's
//! members are the cluster's nodes `base..base + size`, and the inner replica sees them as
//! `0..size`. [`Group::drive`] runs one inner handler in a [`Ctx`] of the inner replica's own,
//! then performs its effects through the outer node's `Ctx`:
//!
//! - **Performed by the group:** sends (group-local ids to cluster ids), broadcasts (to the
//!   group's other members only, never the whole cluster), timers (set under the outer node's
//!   timer type, the inner id kept so a cancel finds it), disk appends and syncs (the outer
//!   node's disk; sync tokens line up one to one with the outer node's), marks and crash
//!   points (passed on as they are). The wrapping of inner messages, timers and records into
//!   the outer node's types is the outer node's [`Embeds`] implementation.
//! - **Handed back to the caller ([`Handed`]), in the order the inner replica made them:**
//!   client replies (a [`Outcome::Redirect`]'s leader hint is still a group-local id; turn it
//!   into a cluster id with [`Group::cluster_id`], or a hint of your own) and observations
//!   (wrap them in the outer node's observation type, or drop them).
//!
//! The caller routes to the group what is the group's: messages of the inner protocol from a
//! member ([`Group::on_message`] drops the ones from outside the group), its timers when they
//! fire ([`Group::on_timer`]), every sync completion ([`Group::on_synced`]: a completion stands
//! for every earlier sync, the outer node's own included, which is what the inner replica
//! assumes), and client requests it wants ordered ([`Group::on_request`]). At recovery it hands
//! [`Group::recover`] the group's records from its disk.
//!
//! A caller that must interleave its own effects with the inner ones (to keep an existing
//! trace) uses [`Group::handle`] and [`Group::perform`] instead of [`Group::drive`].
//!
//! The inner context keeps crash points off (the inner protocol's own crash points are not the
//! outer protocol's), and draws from the outer node's random stream.

use crate::apps::Application;
use crate::paxos::PaxosNode;
use crate::raft::RaftNode;
use crate::zab::ZabNode;
use sim_core::id::{ClientId, NodeId, TimerId};
use sim_core::node::{Ctx, Effect, Node, Reply, Request, SyncToken};
use std::collections::BTreeMap;

/// A consensus replica that can run inside a [`Group`]: a [`Node`] whose replicated
/// application can be read and which knows whether it leads.
pub trait Replica: Node {
    /// The replicated state machine.
    type App: Application;

    /// The applied state.
    fn app(&self) -> &Self::App;

    /// Does this replica believe it leads its group (may propose)?
    fn is_leader(&self) -> bool;

    /// The member this replica believes leads, as a group-local id, if any.
    fn leader(&self) -> Option<NodeId>;
}

impl<A: Application> Replica for RaftNode<A> {
    type App = A;

    fn app(&self) -> &A {
        RaftNode::app(self)
    }

    fn is_leader(&self) -> bool {
        RaftNode::is_leader(self)
    }

    fn leader(&self) -> Option<NodeId> {
        self.leader_id()
    }
}

impl<A: Application> Replica for PaxosNode<A> {
    type App = A;

    fn app(&self) -> &A {
        PaxosNode::app(self)
    }

    fn is_leader(&self) -> bool {
        PaxosNode::is_leader(self)
    }

    fn leader(&self) -> Option<NodeId> {
        self.leader_hint()
    }
}

impl<A: Application> Replica for ZabNode<A> {
    type App = A;

    fn app(&self) -> &A {
        ZabNode::app(self)
    }

    fn is_leader(&self) -> bool {
        ZabNode::is_leader(self)
    }

    fn leader(&self) -> Option<NodeId> {
        ZabNode::leader(self)
    }
}

/// How an outer node carries an embedded replica `R`'s messages, timers and records in its own
/// types.
pub trait Embeds<R: Replica>: Node {
    /// An inner message, as the outer node's message.
    fn wrap_message(msg: R::Msg) -> Self::Msg;
    /// An inner timer under the inner replica's id for it, as the outer node's timer; when it
    /// fires, hand `id` and `timer` back to [`Group::on_timer`].
    fn wrap_timer(id: TimerId, timer: R::Timer) -> Self::Timer;
    /// An inner disk record, as the outer node's record.
    fn wrap_record(record: R::Record) -> Self::Record;
}

/// What the inner replica did that the caller must route itself.
#[derive(Clone, Debug)]
pub enum Handed<R: Node> {
    /// Answer this client (its leader hint, if any, is group-local).
    Reply {
        /// The client slot.
        client: ClientId,
        /// The reply.
        reply: Reply,
    },
    /// Report this to the invariant checker.
    Observe {
        /// The inner replica's observation.
        observation: R::Observation,
    },
}

/// One member of a consensus group embedded in an outer node. See the module documentation.
#[derive(Debug)]
pub struct Group<R: Replica> {
    replica: R,
    /// The cluster id of member 0.
    base: u32,
    /// How many members the group has.
    size: u32,
    /// This member's group-local id.
    member: NodeId,
    /// The inner replica's timer ids to the outer node's.
    timers: BTreeMap<TimerId, TimerId>,
    /// The inner replica's next timer id.
    next_timer: u64,
}

impl<R: Replica> Group<R> {
    /// Rebuilds the member `node` (a cluster id in `base..base + size`) of the group from its
    /// records (the group's records of the outer node's durable disk, in order).
    ///
    /// # Panics
    /// If `node` is not a member, or the group is empty.
    pub fn recover(
        config: &R::Config,
        node: NodeId,
        base: u32,
        size: u32,
        durable: &[R::Record],
    ) -> Group<R> {
        assert!(size > 0, "a group needs members");
        assert!(
            (base..base + size).contains(&node.0),
            "{node} is not a member of the group {base}..{}",
            base + size
        );
        let member = NodeId(node.0 - base);
        Group {
            replica: R::recover(config, member, durable),
            base,
            size,
            member,
            timers: BTreeMap::new(),
            next_timer: 0,
        }
    }

    /// The inner replica.
    pub fn replica(&self) -> &R {
        &self.replica
    }

    /// The inner replica's applied state.
    pub fn app(&self) -> &R::App {
        self.replica.app()
    }

    /// Does the inner replica believe it leads?
    pub fn is_leader(&self) -> bool {
        self.replica.is_leader()
    }

    /// The member the inner replica believes leads, as a cluster id.
    pub fn leader(&self) -> Option<NodeId> {
        self.replica.leader().map(|member| self.cluster_id(member))
    }

    /// This member's group-local id.
    pub fn member(&self) -> NodeId {
        self.member
    }

    /// How many members the group has.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The cluster id of the group's member 0.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The cluster id of the group-local `member`.
    pub fn cluster_id(&self, member: NodeId) -> NodeId {
        debug_assert!(member.0 < self.size, "{member} outside the group");
        NodeId(self.base + member.0)
    }

    /// The group-local id of the cluster's node `node`, `None` when it is not a member.
    pub fn member_of(&self, node: NodeId) -> Option<NodeId> {
        (self.base..self.base + self.size)
            .contains(&node.0)
            .then(|| NodeId(node.0 - self.base))
    }

    /// The cluster ids of every member, this one included.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + 'static {
        (self.base..self.base + self.size).map(NodeId)
    }

    /// Runs one handler of the inner replica and returns its effects, not yet performed: hand
    /// each to [`Group::perform`], in order.
    pub fn handle<N: Node>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        handler: impl FnOnce(&mut R, &mut Ctx<'_, R>),
    ) -> Vec<Effect<R>> {
        let mut effects: Vec<Effect<R>> = Vec::new();
        let (now, monotonic, last_sync) = (ctx.now(), ctx.monotonic_now(), ctx.last_sync_token());
        let mut inner = Ctx::new(
            self.member,
            self.size,
            now,
            ctx.rng(),
            &mut effects,
            &mut self.next_timer,
        )
        .with_monotonic_now(monotonic)
        .with_last_sync_token(last_sync);
        handler(&mut self.replica, &mut inner);
        effects
    }

    /// Performs one effect of the inner replica through the outer context, or hands it back
    /// when it is the caller's to route (replies, observations).
    pub fn perform<N: Embeds<R>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        effect: Effect<R>,
    ) -> Option<Handed<R>> {
        match effect {
            Effect::Send { to, msg } => ctx.send(self.cluster_id(to), N::wrap_message(msg)),
            Effect::Broadcast { msg } => {
                let member = self.member;
                for peer in (0..self.size).map(NodeId).filter(|&p| p != member) {
                    ctx.send(self.cluster_id(peer), N::wrap_message(msg.clone()));
                }
            }
            Effect::SetTimer { id, after, timer } => {
                let ours = ctx.set_timer(after, N::wrap_timer(id, timer));
                self.timers.insert(id, ours);
            }
            Effect::CancelTimer { id } => {
                if let Some(ours) = self.timers.remove(&id) {
                    ctx.cancel_timer(ours);
                }
            }
            Effect::Append { record } => ctx.append(N::wrap_record(record)),
            Effect::Sync { token } => {
                let ours = ctx.sync();
                assert_eq!(
                    ours, token,
                    "member {} of group {}: sync tokens out of step",
                    self.member, self.base
                );
            }
            Effect::Reply { client, reply } => return Some(Handed::Reply { client, reply }),
            Effect::Observe { observation } => return Some(Handed::Observe { observation }),
            Effect::Mark { name } => ctx.mark(name),
            // The inner context has crash points off; passed on should that change.
            Effect::CrashPoint { name } => ctx.crash_point(name),
        }
        None
    }

    /// Runs one handler of the inner replica, performs its effects, and returns what the
    /// caller must route, in order.
    pub fn drive<N: Embeds<R>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        handler: impl FnOnce(&mut R, &mut Ctx<'_, R>),
    ) -> Vec<Handed<R>> {
        let effects = self.handle(ctx, handler);
        effects
            .into_iter()
            .filter_map(|effect| self.perform(ctx, effect))
            .collect()
    }

    /// The outer node started (boot or restart): start the inner replica.
    pub fn on_start<N: Embeds<R>>(&mut self, ctx: &mut Ctx<'_, N>) -> Vec<Handed<R>> {
        self.drive(ctx, |replica, inner| replica.on_start(inner))
    }

    /// An inner message from the cluster's node `from`; dropped (nothing handed back) when
    /// `from` is not a member of the group.
    pub fn on_message<N: Embeds<R>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        from: NodeId,
        msg: R::Msg,
    ) -> Vec<Handed<R>> {
        let Some(from) = self.member_of(from) else {
            return Vec::new();
        };
        self.drive(ctx, |replica, inner| replica.on_message(inner, from, msg))
    }

    /// An inner timer fired (the `id` and `timer` of [`Embeds::wrap_timer`]).
    pub fn on_timer<N: Embeds<R>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        id: TimerId,
        timer: R::Timer,
    ) -> Vec<Handed<R>> {
        self.timers.remove(&id);
        self.drive(ctx, |replica, inner| replica.on_timer(inner, timer))
    }

    /// Hands a client request to the inner replica (which proposes it if it leads, or answers
    /// a redirect with a group-local hint).
    pub fn on_request<N: Embeds<R>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        request: Request,
    ) -> Vec<Handed<R>> {
        self.drive(ctx, |replica, inner| replica.on_request(inner, request))
    }

    /// A sync of the outer node completed.
    pub fn on_synced<N: Embeds<R>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        token: SyncToken,
    ) -> Vec<Handed<R>> {
        self.drive(ctx, |replica, inner| replica.on_synced(inner, token))
    }

    /// Forgets the outer timer of the inner `id` (for a caller that routes a fired timer
    /// through [`Group::handle`] instead of [`Group::on_timer`]).
    pub fn timer_fired(&mut self, id: TimerId) {
        self.timers.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::kv::Kv;
    use crate::raft::{self, RaftObservation};
    use sim_core::prng::{Prng, Stream};
    use sim_core::time::Instant;

    type Inner = RaftNode<Kv>;

    /// An outer node of a cluster of 9 whose nodes 3..6 are one Raft group.
    #[derive(Debug)]
    struct Host;

    #[derive(Clone, Debug)]
    enum HostMsg {
        Raft(raft::Message),
    }

    #[derive(Clone, Debug)]
    enum HostTimer {
        Raft(TimerId, raft::Timer),
    }

    impl Node for Host {
        type Config = ();
        type Msg = HostMsg;
        type Timer = HostTimer;
        type Record = raft::Record;
        type Observation = RaftObservation;

        fn recover(_: &(), _: NodeId, _: &[raft::Record]) -> Host {
            Host
        }
        fn on_start(&mut self, _: &mut Ctx<'_, Host>) {}
        fn on_message(&mut self, _: &mut Ctx<'_, Host>, _: NodeId, _: HostMsg) {}
        fn on_timer(&mut self, _: &mut Ctx<'_, Host>, _: HostTimer) {}
        fn on_request(&mut self, _: &mut Ctx<'_, Host>, _: Request) {}
    }

    impl Embeds<Inner> for Host {
        fn wrap_message(msg: raft::Message) -> HostMsg {
            HostMsg::Raft(msg)
        }
        fn wrap_timer(id: TimerId, timer: raft::Timer) -> HostTimer {
            HostTimer::Raft(id, timer)
        }
        fn wrap_record(record: raft::Record) -> raft::Record {
            record
        }
    }

    /// One outer handler call: the group runs `step` in a context of node 4 (member 1) whose
    /// outer timer ids start at `next_timer` and sync tokens at `last_sync`.
    fn outer_step(
        group: &mut Group<Inner>,
        next_timer: &mut u64,
        last_sync: SyncToken,
        step: impl FnOnce(&mut Group<Inner>, &mut Ctx<'_, Host>) -> Vec<Handed<Inner>>,
    ) -> (Vec<Effect<Host>>, Vec<Handed<Inner>>) {
        let mut rng = Prng::new(7, Stream::Node(4));
        let mut effects = Vec::new();
        let handed = {
            let mut ctx = Ctx::new(NodeId(4), 9, Instant(0), &mut rng, &mut effects, next_timer)
                .with_last_sync_token(last_sync);
            step(group, &mut ctx)
        };
        (effects, handed)
    }

    #[test]
    fn ids_timers_and_syncs_translate_between_the_group_and_the_cluster() {
        let config = raft::Config::new(Kv::new());
        let mut group: Group<Inner> = Group::recover(&config, NodeId(4), 3, 3, &[]);
        assert_eq!(group.member(), NodeId(1));
        assert_eq!(group.cluster_id(NodeId(2)), NodeId(5));
        assert_eq!(group.member_of(NodeId(3)), Some(NodeId(0)));
        assert_eq!(group.member_of(NodeId(6)), None);
        assert_eq!(group.member_of(NodeId(2)), None);
        assert_eq!(group.members().collect::<Vec<_>>(), [3, 4, 5].map(NodeId));

        // Boot: the inner election timer becomes an outer timer (outer ids start at 100, the
        // inner ones at 0) carrying the inner id.
        let mut next_timer = 100;
        let (effects, handed) = outer_step(&mut group, &mut next_timer, SyncToken(0), |g, ctx| {
            g.on_start(ctx)
        });
        assert!(handed.is_empty());
        let (outer_id, inner_id, election) = match effects.as_slice() {
            [Effect::SetTimer {
                id,
                timer: HostTimer::Raft(inner, timer),
                ..
            }] => (*id, *inner, timer.clone()),
            other => panic!("expected one election timer, got {other:?}"),
        };
        assert_eq!((outer_id, inner_id), (TimerId(100), TimerId(0)));

        // A message from outside the group never reaches the inner replica.
        let (effects, _) = outer_step(&mut group, &mut next_timer, SyncToken(0), |g, ctx| {
            let msg = raft::Message::RequestVoteResponse {
                term: raft::Term(9),
                vote_granted: true,
            };
            g.on_message(ctx, NodeId(7), msg)
        });
        assert!(effects.is_empty(), "{effects:?}");

        // The election timeout: the candidate's term goes to the outer disk with a sync whose
        // token follows the outer node's (5 here), its vote requests go to the two other
        // members by cluster id (never to nodes outside the group), and its own vote comes
        // back as an observation.
        let (effects, handed) = outer_step(&mut group, &mut next_timer, SyncToken(5), |g, ctx| {
            g.on_timer(ctx, inner_id, election)
        });
        let sent: Vec<NodeId> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Send {
                    to,
                    msg: HostMsg::Raft(raft::Message::RequestVote { .. }),
                } => Some(*to),
                _ => None,
            })
            .collect();
        assert_eq!(sent, [NodeId(3), NodeId(5)]);
        assert!(effects
            .iter()
            .any(|effect| matches!(effect, Effect::Sync { token } if *token == SyncToken(6))));
        assert!(effects
            .iter()
            .any(|effect| matches!(effect, Effect::Append { .. })));
        assert!(handed.iter().any(|handed| matches!(
            handed,
            Handed::Observe {
                observation: RaftObservation::Voted { candidate, .. }
            } if *candidate == NodeId(1)
        )));
        // A new timer replaced the election timer: the cancel names the outer id.
        let cancelled: Vec<TimerId> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::CancelTimer { id } => Some(*id),
                _ => None,
            })
            .collect();
        assert!(cancelled.iter().all(|id| id.0 >= 100), "{cancelled:?}");
    }
}
