//! A ZAB server: fast leader election, then discovery, synchronization and broadcast as a
//! follower or as the leader. See the module documentation of [`crate::zab`] for the rules.

use super::bugs;
use super::config::{Config, ReadMode};
use super::invariants::ZabObservation;
use super::message::{
    LeaderPacket, LearnerPacket, Message, Record, ServerState, SyncMode, Timer, Txn, Vote, Zxid,
};
use crate::apps::session::{Applied, Sessions};
use crate::apps::{Application, Command, ProposedCommand, Stamp};
use crate::mutation::Bug;
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Ctx, Node, Operation, Outcome, Request, SyncToken};
use sim_core::time::Instant;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Where a server is in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// In fast leader election.
    Looking,
    /// Following a leader (discovery, synchronization or broadcast).
    Following,
    /// Leading (discovery, synchronization or broadcast).
    Leading,
}

/// A follower's phase with its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FollowerPhase {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent: receiving the history, NEWLEADER, waiting for UPTODATE.
    Synchronization,
    /// UPTODATE received: delivering and serving.
    Broadcast,
}

/// A follower's connection to its leader.
#[derive(Clone, Debug)]
struct Following {
    leader: NodeId,
    conn: u64,
    /// Next sequence number to send, and the one expected next.
    outbox: Outbox<LearnerPacket>,
    inbox: Inbox<LeaderPacket>,
    /// The epoch on the first packet of the leader's side of the connection.
    stream_epoch: Option<u64>,
    phase: FollowerPhase,
    last_heard: Instant,
    /// Reads waiting for the answers to the SYNCs sent, oldest first.
    sync_reads: VecDeque<(ClientId, RequestId, Operation)>,
}

/// Where the leader is with one learner (its LearnerHandler).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LearnerPhase {
    /// FOLLOWERINFO received.
    Info,
    /// ACKEPOCH received, not yet synchronized.
    AckedEpoch,
    /// DIFF/TRUNC/SNAP and NEWLEADER sent: receives proposals and commits from now on.
    Synced,
    /// NEWLEADER acknowledged: its ACKs count.
    AckedNewLeader,
    /// UPTODATE sent.
    UpToDate,
}

/// One end of a connection's receive side: packets are handed on in sequence order (TCP
/// reassembles reordered segments); a hole that stays open longer than the patience breaks
/// the connection (TCP gives up retransmitting).
#[derive(Clone, Debug)]
struct Inbox<P> {
    next: u64,
    pending: BTreeMap<u64, P>,
    /// Since when a packet has waited behind a hole.
    hole_since: Option<Instant>,
}

impl<P> Inbox<P> {
    fn new(next: u64) -> Inbox<P> {
        Inbox {
            next,
            pending: BTreeMap::new(),
            hole_since: None,
        }
    }

    /// Takes packet `seq` (duplicates are dropped).
    fn insert(&mut self, seq: u64, packet: P, now: Instant) {
        if seq < self.next {
            return;
        }
        self.pending.entry(seq).or_insert(packet);
        if seq != self.next && self.hole_since.is_none() {
            self.hole_since = Some(now);
        }
    }

    /// The next packet in order, if it arrived.
    fn pop(&mut self, now: Instant) -> Option<P> {
        let entry = self
            .pending
            .first_entry()
            .filter(|e| *e.key() == self.next)?;
        let packet = entry.remove();
        self.next += 1;
        self.hole_since = match self.pending.first_key_value() {
            None => None,
            Some((&seq, _)) if seq == self.next => self.hole_since,
            Some(_) => Some(now),
        };
        Some(packet)
    }

    /// Is a packet waiting behind a hole?
    fn hole(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Has a hole stayed open longer than `patience`?
    fn broken(&self, now: Instant, patience: sim_core::time::Duration) -> bool {
        self.hole_since
            .is_some_and(|since| now.saturating_since(since) > patience)
    }
}

/// One end of a connection's send side: the packets the other end has not acknowledged, kept
/// for retransmission.
#[derive(Clone, Debug)]
struct Outbox<P> {
    /// The position of the next packet.
    next: u64,
    /// Packets from position `next - unacked.len()` on.
    unacked: VecDeque<P>,
}

impl<P: Clone> Outbox<P> {
    fn new(next: u64) -> Outbox<P> {
        Outbox {
            next,
            unacked: VecDeque::new(),
        }
    }

    /// Keeps a copy of `packet`; returns its position.
    fn push(&mut self, packet: &P) -> u64 {
        self.unacked.push_back(packet.clone());
        self.next += 1;
        self.next - 1
    }

    /// The other end has every packet before position `ack`.
    fn acked(&mut self, ack: u64) {
        while self.unacked.len() as u64 > self.next.saturating_sub(ack) {
            self.unacked.pop_front();
        }
    }

    /// The kept packets from position `from` on, with their positions.
    fn from(&self, from: u64) -> impl Iterator<Item = (u64, P)> + '_ {
        let base = self.next - self.unacked.len() as u64;
        self.unacked
            .iter()
            .enumerate()
            .map(move |(i, p)| (base + i as u64, p.clone()))
            .filter(move |(seq, _)| *seq >= from)
    }
}

#[derive(Clone, Debug)]
struct Learner {
    conn: u64,
    outbox: Outbox<LeaderPacket>,
    inbox: Inbox<LearnerPacket>,
    accepted_epoch: u64,
    /// Its last zxid, from ACKEPOCH.
    peer_last: Zxid,
    phase: LearnerPhase,
    /// The highest zxid it acknowledged as durable.
    acked: Zxid,
    last_heard: Instant,
}

#[derive(Clone, Debug)]
struct Leading {
    since: Instant,
    /// The epoch proposed in LEADERINFO, once a quorum's FOLLOWERINFO arrived.
    new_epoch: Option<u64>,
    /// Servers whose ACKEPOCH arrived (this one once its acceptedEpoch is durable).
    epoch_acks: BTreeSet<NodeId>,
    /// Synchronization started (a quorum acknowledged the epoch).
    syncing: bool,
    /// Servers that acknowledged NEWLEADER (this one once its currentEpoch is durable).
    newleader_acks: BTreeSet<NodeId>,
    established: bool,
    learners: BTreeMap<NodeId, Learner>,
    /// Connections this leader closed: a late copy of their FOLLOWERINFO must not reopen
    /// them mid-stream.
    closed: BTreeSet<u64>,
    /// This server's own last durable zxid (its own ACK).
    durable: Zxid,
    /// The last zxid counter used in the new epoch.
    counter: u64,
    /// SYNCs waiting for every txn proposed before them to commit: (last proposed zxid when
    /// the SYNC arrived, who asked: `None` for a read at the leader itself).
    syncs: Vec<(Zxid, Option<NodeId>, Option<LocalRead>)>,
}

/// A read waiting to be answered from the local replica: (client, request, operation).
type LocalRead = (ClientId, RequestId, Operation);

/// What waits for the disk: every answer that depends on durable state goes through
/// [`ZabNode::after_durable`] and is released by [`Node::on_synced`]. Each names the
/// connection or epoch it belongs to, and is dropped if the server has moved on.
#[derive(Clone, Copy, Debug)]
enum Durable {
    /// The follower's new acceptedEpoch: ACKEPOCH.
    AckEpoch {
        conn: u64,
        current_epoch: u64,
        last_zxid: Zxid,
    },
    /// The synchronized history and currentEpoch: ACK of NEWLEADER.
    AckNewLeader { conn: u64, last: Zxid },
    /// A logged proposal: ACK.
    Ack { conn: u64, zxid: Zxid },
    /// The leader's own acceptedEpoch.
    LeaderEpoch { epoch: u64 },
    /// The leader's own currentEpoch: its own NEWLEADER acknowledgement.
    LeaderNewLeader { epoch: u64 },
    /// The leader's own logged proposal.
    LeaderProposal { zxid: Zxid },
}

/// The client slot of the leader's session tracker: its closeSession txns are nobody's
/// request, and no client waits for their answers.
pub const SESSION_TRACKER: ClientId = ClientId(u32::MAX);

/// One ZAB server replicating the application `A`.
#[derive(Debug)]
pub struct ZabNode<A: Application> {
    config: Config<A>,
    id: NodeId,
    // ----- durable ------------------------------------------------------------------------
    accepted_epoch: u64,
    current_epoch: u64,
    history: Vec<Txn>,
    // ----- volatile -----------------------------------------------------------------------
    app: Sessions<A>,
    /// How many txns of `history` the application has delivered.
    delivered: usize,
    /// The highest zxid known committed.
    committed: Zxid,
    role: Role,
    /// The election round (FLE's logicalclock).
    round: u64,
    vote: Vote,
    /// Votes of this round, by server (this one included).
    votes: BTreeMap<NodeId, Vote>,
    /// Votes of servers out of the election (following or leading), with their state.
    out_of_election: BTreeMap<NodeId, (Vote, ServerState)>,
    following: Option<Following>,
    leading: Option<Leading>,
    /// The connection this server last left, for the stale-epoch mutation only.
    previous: Option<(NodeId, u64, u64)>,
    /// Answers waiting for the disk, in sync-token order.
    awaiting_disk: VecDeque<(SyncToken, Durable)>,
    /// Requests this server received and answers when it delivers them.
    waiting: BTreeMap<RequestId, ClientId>,
    /// The last delivered zxid reported in a `Replica` observation.
    reported: Option<Zxid>,
    recovered_with_history: bool,
}

impl<A: Application> ZabNode<A> {
    /// This server's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Where it is in the protocol.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Is it an established leader (a quorum acknowledged its NEWLEADER)?
    pub fn is_leader(&self) -> bool {
        self.leading.as_ref().is_some_and(|l| l.established)
    }

    /// The follower's phase, when following.
    pub fn follower_phase(&self) -> Option<FollowerPhase> {
        self.following.as_ref().map(|f| f.phase)
    }

    /// The leader it follows, when following.
    pub fn leader(&self) -> Option<NodeId> {
        self.following.as_ref().map(|f| f.leader)
    }

    /// acceptedEpoch (durable).
    pub fn accepted_epoch(&self) -> u64 {
        self.accepted_epoch
    }

    /// currentEpoch (durable).
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// The logged history.
    pub fn history(&self) -> &[Txn] {
        &self.history
    }

    /// The last logged zxid.
    pub fn last_zxid(&self) -> Zxid {
        self.history.last().map_or(Zxid::ZERO, |txn| txn.zxid)
    }

    /// How many txns the application delivered.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// The election round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The replicated application.
    pub fn app(&self) -> &A {
        self.app.app()
    }

    fn bug(&self, bug: Bug) -> bool {
        self.config.bugs.contains(bug)
    }

    fn serving(&self) -> bool {
        match self.role {
            Role::Leading => self.is_leader(),
            Role::Following => self.follower_phase() == Some(FollowerPhase::Broadcast),
            Role::Looking => false,
        }
    }

    // ----- durability ---------------------------------------------------------------------

    /// The one place where an answer that depends on durable state is sent: once the
    /// records appended so far are synced ([`Node::on_synced`]).
    fn after_durable(&mut self, ctx: &mut Ctx<'_, Self>, action: Durable) {
        if matches!(action, Durable::AckNewLeader { .. })
            && self.bug(bugs::ACK_NEWLEADER_BEFORE_PERSIST)
        {
            // Z2: acknowledge now; the synchronized history reaches the disk with the next
            // sync this server makes (asynchronous logging, ZOOKEEPER-4646).
            ctx.mark("mutation.zab-ack-newleader-before-persist");
            self.on_durable(ctx, action);
            return;
        }
        let token = ctx.sync();
        self.awaiting_disk.push_back((token, action));
    }

    fn on_durable(&mut self, ctx: &mut Ctx<'_, Self>, action: Durable) {
        let conn = self.following.as_ref().map(|f| f.conn);
        let epoch = self.leading.as_ref().and_then(|l| l.new_epoch);
        match action {
            Durable::AckEpoch {
                conn: on,
                current_epoch,
                last_zxid,
            } if conn == Some(on) => {
                self.send_to_leader(
                    ctx,
                    LearnerPacket::AckEpoch {
                        current_epoch,
                        last_zxid,
                    },
                );
                ctx.crash_point("zab.after_ack_epoch");
            }
            Durable::AckNewLeader { conn: on, last } if conn == Some(on) => {
                self.send_to_leader(ctx, LearnerPacket::AckNewLeader { last });
                // The synchronized history is acknowledged (and durable, unless Z2 is on).
                ctx.crash_point("zab.after_ack_newleader");
            }
            Durable::Ack { conn: on, zxid } if conn == Some(on) => {
                self.send_to_leader(ctx, LearnerPacket::Ack { zxid });
                ctx.crash_point("zab.after_ack");
            }
            Durable::LeaderEpoch { epoch: of } if epoch == Some(of) => {
                let id = self.id;
                self.leading
                    .as_mut()
                    .expect("leading")
                    .epoch_acks
                    .insert(id);
                self.leader_progress(ctx);
            }
            Durable::LeaderNewLeader { epoch: of } if epoch == Some(of) => {
                let id = self.id;
                let leading = self.leading.as_mut().expect("leading");
                leading.newleader_acks.insert(id);
                self.leader_progress(ctx);
            }
            Durable::LeaderProposal { zxid } if epoch == Some(zxid.epoch) => {
                let leading = self.leading.as_mut().expect("leading");
                leading.durable = leading.durable.max(zxid);
                self.try_commit(ctx);
            }
            // The server left that connection or leadership while the disk worked.
            _ => ctx.mark("zab.durable_answer_dropped"),
        }
    }

    fn append_txn(&mut self, ctx: &mut Ctx<'_, Self>, txn: Txn) {
        ctx.append(Record::Txn(txn.clone()));
        self.history.push(txn);
    }

    // ----- election -----------------------------------------------------------------------

    fn own_vote(&self) -> Vote {
        Vote {
            epoch: self.current_epoch,
            zxid: self.last_zxid(),
            sid: self.id,
        }
    }

    fn state(&self) -> ServerState {
        match self.role {
            Role::Looking => ServerState::Looking,
            Role::Following => ServerState::Following,
            Role::Leading => ServerState::Leading,
        }
    }

    fn notification(&self) -> Message {
        Message::Notification {
            vote: self.vote,
            round: self.round,
            state: self.state(),
        }
    }

    /// Leaves any leader or learners and starts a new election round.
    fn start_looking(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(following) = self.following.take() {
            ctx.send(
                following.leader,
                Message::Close {
                    conn: following.conn,
                },
            );
            self.previous = Some((following.leader, following.conn, following.outbox.next));
        }
        if let Some(leading) = self.leading.take() {
            for (&learner, state) in &leading.learners {
                ctx.send(learner, Message::Close { conn: state.conn });
            }
        }
        // Nobody will answer these here any more; the clients time out and retry.
        self.waiting.clear();
        self.role = Role::Looking;
        self.round += 1;
        self.vote = self.own_vote();
        self.votes.clear();
        self.votes.insert(self.id, self.vote);
        self.out_of_election.clear();
        ctx.broadcast(self.notification());
    }

    fn on_notification(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        vote: Vote,
        round: u64,
        state: ServerState,
    ) {
        if self.role != Role::Looking {
            if state == ServerState::Looking {
                // Tell a looking server whom this one follows or that it leads.
                ctx.send(from, self.notification());
            }
            return;
        }
        match state {
            ServerState::Looking => {
                if round > self.round {
                    ctx.mark("zab.election_round_bumped");
                    self.round = round;
                    self.votes.clear();
                    self.vote = self.own_vote().max(vote);
                    self.votes.insert(self.id, self.vote);
                    ctx.broadcast(self.notification());
                } else if round < self.round {
                    ctx.mark("zab.notification_of_older_round");
                    ctx.send(from, self.notification());
                    return;
                } else if vote > self.vote {
                    self.vote = vote;
                    self.votes.insert(self.id, self.vote);
                    ctx.broadcast(self.notification());
                }
                self.votes.insert(from, vote);
            }
            ServerState::Following | ServerState::Leading => {
                self.out_of_election.insert(from, (vote, state));
                let leader = vote.sid;
                let leader_says_leading = self
                    .out_of_election
                    .get(&leader)
                    .is_some_and(|(_, state)| *state == ServerState::Leading);
                let support = self
                    .out_of_election
                    .values()
                    .filter(|(v, _)| v.sid == leader)
                    .count()
                    + 1;
                if leader != self.id && leader_says_leading && support >= ctx.majority() as usize {
                    // An established ensemble: join it rather than elect anew.
                    ctx.mark("zab.joined_running_leader");
                    self.round = self.round.max(round);
                    self.vote = vote;
                    self.become_follower(ctx, leader);
                }
            }
        }
    }

    /// At a tick: decide if a quorum of this round's votes agree with this server's vote.
    fn try_decide(&mut self, ctx: &mut Ctx<'_, Self>) {
        let agreeing = self.votes.values().filter(|&&v| v == self.vote).count();
        if agreeing < ctx.majority() as usize {
            return;
        }
        if self.vote.sid == self.id {
            self.become_leader(ctx);
        } else {
            self.become_follower(ctx, self.vote.sid);
        }
    }

    // ----- following ----------------------------------------------------------------------

    fn become_follower(&mut self, ctx: &mut Ctx<'_, Self>, leader: NodeId) {
        self.role = Role::Following;
        let conn = ctx.rng().next_u64();
        self.following = Some(Following {
            leader,
            conn,
            outbox: Outbox::new(1),
            inbox: Inbox::new(0),
            stream_epoch: None,
            phase: FollowerPhase::Discovery,
            last_heard: ctx.now(),
            sync_reads: VecDeque::new(),
        });
        self.send_follower_info(ctx);
    }

    /// FOLLOWERINFO is packet 0 of the connection; it is resent until LEADERINFO arrives
    /// (the leader may still be deciding).
    fn send_follower_info(&mut self, ctx: &mut Ctx<'_, Self>) {
        let accepted_epoch = self.accepted_epoch;
        let following = self.following.as_ref().expect("following");
        ctx.send(
            following.leader,
            Message::ToLeader {
                conn: following.conn,
                seq: 0,
                packet: LearnerPacket::FollowerInfo { accepted_epoch },
            },
        );
    }

    fn send_to_leader(&mut self, ctx: &mut Ctx<'_, Self>, packet: LearnerPacket) {
        let Some(following) = self.following.as_mut() else {
            return; // Left the leader while the disk was busy.
        };
        let seq = following.outbox.push(&packet);
        let msg = Message::ToLeader {
            conn: following.conn,
            seq,
            packet,
        };
        ctx.send(following.leader, msg);
    }

    fn on_to_learner(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        conn: u64,
        seq: u64,
        epoch: u64,
        packet: LeaderPacket,
    ) {
        let current = self
            .following
            .as_ref()
            .is_some_and(|f| f.conn == conn && f.leader == from);
        if !current {
            if let LeaderPacket::Proposal(txn) = &packet {
                if epoch < self.accepted_epoch
                    && self.role == Role::Following
                    && self.bug(bugs::ACCEPT_STALE_EPOCH_PROPOSAL)
                {
                    // Z3: log and acknowledge a proposal of an epoch this server promised
                    // (in ACKEPOCH) to ignore.
                    ctx.mark("mutation.zab-accept-stale-epoch-proposal");
                    let zxid = txn.zxid;
                    self.append_txn(ctx, txn.clone());
                    ctx.sync();
                    if let Some((leader, old_conn, next_seq)) = self.previous.as_mut() {
                        if *leader == from && *old_conn == conn {
                            let seq = *next_seq;
                            *next_seq += 1;
                            let msg = Message::ToLeader {
                                conn,
                                seq,
                                packet: LearnerPacket::Ack { zxid },
                            };
                            ctx.send(from, msg);
                        }
                    }
                    return;
                }
            }
            if epoch < self.accepted_epoch {
                ctx.mark("zab.stale_epoch_packet_ignored");
            }
            // A connection this server no longer has: close it at the other end too.
            if !matches!(packet, LeaderPacket::Ping { .. }) || seq == 0 {
                ctx.send(from, Message::Close { conn });
            }
            return;
        }
        let now = ctx.now();
        let following = self.following.as_mut().expect("current connection");
        // Every packet of one LearnerHandler carries the epoch its leader proposed; another
        // epoch on this connection means the leader restarted or led anew and reopened it
        // from a stale FOLLOWERINFO: TCP would have reset the connection.
        match following.stream_epoch {
            None => following.stream_epoch = Some(epoch),
            Some(known) if known != epoch => {
                ctx.mark("zab.connection_broken");
                self.start_looking(ctx);
                return;
            }
            Some(_) => {}
        }
        following.inbox.insert(seq, packet, now);
        // Deliver in connection order (TCP reassembles); stop if the packet ended it.
        while let Some(packet) = self
            .following
            .as_mut()
            .filter(|f| f.conn == conn)
            .and_then(|f| f.inbox.pop(now))
        {
            self.following.as_mut().expect("checked").last_heard = now;
            self.on_leader_packet(ctx, packet);
        }
    }

    fn on_leader_packet(&mut self, ctx: &mut Ctx<'_, Self>, packet: LeaderPacket) {
        match packet {
            LeaderPacket::LeaderInfo { new_epoch } => self.on_leader_info(ctx, new_epoch),
            LeaderPacket::Sync { mode, txns } => self.on_sync(ctx, mode, txns),
            LeaderPacket::NewLeader { epoch, last } => {
                if self.follower_phase() != Some(FollowerPhase::Synchronization) {
                    return;
                }
                self.current_epoch = epoch;
                ctx.append(Record::CurrentEpoch(epoch));
                let conn = self.following.as_ref().expect("following").conn;
                self.after_durable(ctx, Durable::AckNewLeader { conn, last });
            }
            LeaderPacket::UpToDate { committed } => {
                let following = self.following.as_mut().expect("following");
                following.phase = FollowerPhase::Broadcast;
                self.committed = self.committed.max(committed);
                self.deliver(ctx);
            }
            LeaderPacket::Proposal(txn) => {
                let zxid = txn.zxid;
                if zxid <= self.last_zxid() {
                    return; // Already logged (part of the synchronized history).
                }
                self.append_txn(ctx, txn);
                let conn = self.following.as_ref().expect("following").conn;
                self.after_durable(ctx, Durable::Ack { conn, zxid });
            }
            LeaderPacket::Commit { zxid } => {
                self.committed = self.committed.max(zxid);
                self.deliver(ctx);
            }
            LeaderPacket::SyncDone => {
                let following = self.following.as_mut().expect("following");
                if let Some((client, request, operation)) = following.sync_reads.pop_front() {
                    let outcome = self
                        .app
                        .query(&operation)
                        .expect("only reads wait for SYNC");
                    ctx.reply(client, request, outcome);
                }
            }
            LeaderPacket::Ping { ack } => {
                let following = self.following.as_mut().expect("following");
                following.outbox.acked(ack);
                let ack = following.inbox.next;
                self.send_to_leader(ctx, LearnerPacket::Ping { ack });
            }
        }
    }

    fn on_leader_info(&mut self, ctx: &mut Ctx<'_, Self>, new_epoch: u64) {
        if self.follower_phase() != Some(FollowerPhase::Discovery) {
            return;
        }
        if new_epoch < self.accepted_epoch {
            // A follower never joins a leader of a lower epoch than one it accepted.
            ctx.mark("zab.follower_rejected_lower_epoch");
            self.start_looking(ctx);
            return;
        }
        let following = self.following.as_mut().expect("following");
        following.phase = FollowerPhase::Synchronization;
        if new_epoch > self.accepted_epoch {
            self.accepted_epoch = new_epoch;
            ctx.append(Record::AcceptedEpoch(new_epoch));
        }
        let action = Durable::AckEpoch {
            conn: self.following.as_ref().expect("following").conn,
            current_epoch: self.current_epoch,
            last_zxid: self.last_zxid(),
        };
        self.after_durable(ctx, action);
    }

    fn on_sync(&mut self, ctx: &mut Ctx<'_, Self>, mode: SyncMode, txns: Vec<Txn>) {
        if self.follower_phase() != Some(FollowerPhase::Synchronization) {
            return;
        }
        match mode {
            SyncMode::Diff => {}
            SyncMode::Trunc { to } => {
                let kept = self.history.partition_point(|txn| txn.zxid <= to);
                self.history.truncate(kept);
                ctx.append(Record::Truncate(to));
                if self.delivered > kept {
                    self.reset_state(ctx);
                }
            }
            SyncMode::Snap => {
                ctx.append(Record::Snapshot(txns.clone()));
                self.history = txns;
                self.reset_state(ctx);
                return;
            }
        }
        for txn in txns {
            if txn.zxid > self.last_zxid() {
                self.append_txn(ctx, txn);
            }
        }
    }

    /// The application state is rebuilt from scratch (a SNAP, or a TRUNC below what it had
    /// delivered): it delivers the history again from the start.
    fn reset_state(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.mark("zab.state_reset");
        self.app = Sessions::for_bugs(self.config.app.clone(), self.config.bugs);
        self.delivered = 0;
        self.reported = None;
        ctx.observe(ZabObservation::Reset);
    }

    // ----- leading ------------------------------------------------------------------------

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.role = Role::Leading;
        self.leading = Some(Leading {
            since: ctx.now(),
            new_epoch: None,
            epoch_acks: BTreeSet::new(),
            syncing: false,
            newleader_acks: BTreeSet::new(),
            established: false,
            learners: BTreeMap::new(),
            closed: BTreeSet::new(),
            durable: self.last_zxid(),
            counter: 0,
            syncs: Vec::new(),
        });
        self.leader_progress(ctx);
    }

    fn send_to_learner(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, packet: LeaderPacket) {
        let leading = self.leading.as_mut().expect("leading");
        let epoch = leading.new_epoch.expect("LEADERINFO comes first");
        let learner = leading.learners.get_mut(&to).expect("a learner");
        let seq = learner.outbox.push(&packet);
        let msg = Message::ToLearner {
            conn: learner.conn,
            seq,
            epoch,
            packet,
        };
        ctx.send(to, msg);
    }

    /// Moves discovery and synchronization along: propose the epoch on a quorum of
    /// FOLLOWERINFO, synchronize on a quorum of ACKEPOCH, establish on a quorum of NEWLEADER
    /// acknowledgements.
    fn leader_progress(&mut self, ctx: &mut Ctx<'_, Self>) {
        let majority = ctx.majority() as usize;
        let Some(leading) = self.leading.as_mut() else {
            return;
        };
        if leading.new_epoch.is_none() {
            if leading.learners.len() + 1 < majority {
                return;
            }
            // The new epoch is above every acceptedEpoch of the quorum.
            let highest = leading
                .learners
                .values()
                .map(|l| l.accepted_epoch)
                .chain([self.accepted_epoch])
                .max()
                .expect("this server at least");
            let new_epoch = highest + 1;
            leading.new_epoch = Some(new_epoch);
            let learners: Vec<NodeId> = leading.learners.keys().copied().collect();
            for learner in learners {
                self.send_to_learner(ctx, learner, LeaderPacket::LeaderInfo { new_epoch });
            }
            self.accepted_epoch = new_epoch;
            ctx.append(Record::AcceptedEpoch(new_epoch));
            self.after_durable(ctx, Durable::LeaderEpoch { epoch: new_epoch });
            return;
        }
        let new_epoch = leading.new_epoch.expect("checked");
        if !leading.syncing {
            if leading.epoch_acks.len() < majority || !leading.epoch_acks.contains(&self.id) {
                return;
            }
            leading.syncing = true;
            self.current_epoch = new_epoch;
            ctx.append(Record::CurrentEpoch(new_epoch));
            self.sync_learners(ctx);
            self.after_durable(ctx, Durable::LeaderNewLeader { epoch: new_epoch });
            return;
        }
        if !leading.established {
            if leading.newleader_acks.len() < majority || !leading.newleader_acks.contains(&self.id)
            {
                return;
            }
            leading.established = true;
            leading.durable = leading
                .durable
                .max(self.history.last().map_or(Zxid::ZERO, |t| t.zxid));
            ctx.observe(ZabObservation::Established { epoch: new_epoch });
            // The whole history is committed: a quorum holds it durably under this epoch.
            self.committed = self.last_zxid();
            self.deliver(ctx);
            let committed = self.committed;
            let acked: Vec<NodeId> = self
                .leading_ref()
                .learners
                .iter()
                .filter(|(_, l)| l.phase == LearnerPhase::AckedNewLeader)
                .map(|(&id, _)| id)
                .collect();
            for learner in acked {
                self.send_to_learner(ctx, learner, LeaderPacket::UpToDate { committed });
                self.learner_mut(learner).phase = LearnerPhase::UpToDate;
            }
        }
    }

    fn leading_ref(&self) -> &Leading {
        self.leading.as_ref().expect("leading")
    }

    fn learner_mut(&mut self, id: NodeId) -> &mut Learner {
        self.leading
            .as_mut()
            .expect("leading")
            .learners
            .get_mut(&id)
            .expect("a learner")
    }

    /// Synchronizes every learner that acknowledged the epoch and is not synchronized yet.
    fn sync_learners(&mut self, ctx: &mut Ctx<'_, Self>) {
        let ready: Vec<NodeId> = self
            .leading_ref()
            .learners
            .iter()
            .filter(|(_, l)| l.phase == LearnerPhase::AckedEpoch)
            .map(|(&id, _)| id)
            .collect();
        for learner in ready {
            if self.config.buggify && ctx.rng().below(4) == 0 {
                // BUGGIFY: hold this learner's synchronization until the next tick, so that
                // crashes and new epochs land while it is half synchronized.
                ctx.mark("zab.buggify_held_sync");
                continue;
            }
            self.sync_learner(ctx, learner);
        }
    }

    /// Sends DIFF, TRUNC+DIFF or SNAP, then NEWLEADER, chosen from the learner's last zxid
    /// against the committed log (minCommittedLog..maxCommittedLog).
    fn sync_learner(&mut self, ctx: &mut Ctx<'_, Self>, learner: NodeId) {
        let peer_last = self.leading_ref().learners[&learner].peer_last;
        let max_committed = self.last_zxid();
        let window = self.config.committed_log as usize;
        let min_committed = self
            .history
            .get(self.history.len().saturating_sub(window))
            .map_or(Zxid::ZERO, |txn| txn.zxid);
        let (mode, txns) = if peer_last == max_committed {
            (SyncMode::Diff, Vec::new())
        } else if peer_last > max_committed {
            ctx.mark("zab.trunc_sent");
            (SyncMode::Trunc { to: max_committed }, Vec::new())
        } else if peer_last >= min_committed && !self.history.is_empty() {
            let after = self.history.partition_point(|txn| txn.zxid <= peer_last);
            let found = after > 0 && self.history[after - 1].zxid == peer_last;
            let txns = self.history[after..].to_vec();
            if found {
                (SyncMode::Diff, txns)
            } else if self.bug(bugs::DIFF_WITHOUT_TRUNC) {
                // Z1: the follower keeps the txn the leader does not have.
                ctx.mark("mutation.zab-diff-without-trunc");
                (SyncMode::Diff, txns)
            } else {
                ctx.mark("zab.trunc_sent");
                let to = self.history[after - 1].zxid;
                (SyncMode::Trunc { to }, txns)
            }
        } else {
            ctx.mark("zab.snap_sent");
            (SyncMode::Snap, self.history.clone())
        };
        let epoch = self.leading_ref().new_epoch.expect("an epoch");
        let established = self.leading_ref().established;
        if established {
            ctx.mark("zab.learner_synced_while_broadcasting");
        }
        self.send_to_learner(ctx, learner, LeaderPacket::Sync { mode, txns });
        let last = max_committed;
        self.send_to_learner(ctx, learner, LeaderPacket::NewLeader { epoch, last });
        self.learner_mut(learner).phase = LearnerPhase::Synced;
    }

    fn on_to_leader(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        conn: u64,
        seq: u64,
        packet: LearnerPacket,
    ) {
        let now = ctx.now();
        let Some(leading) = self.leading.as_mut() else {
            return; // Not leading (yet): a FOLLOWERINFO is resent.
        };
        if let LearnerPacket::FollowerInfo { accepted_epoch } = packet {
            if leading.learners.get(&from).is_some_and(|l| l.conn == conn) {
                return; // A resent FOLLOWERINFO.
            }
            if leading.closed.contains(&conn) {
                ctx.send(from, Message::Close { conn });
                return;
            }
            if let Some(old) = leading.learners.get(&from) {
                leading.closed.insert(old.conn);
            }
            // A new connection replaces the learner's old one (a new LearnerHandler).
            leading.learners.insert(
                from,
                Learner {
                    conn,
                    outbox: Outbox::new(0),
                    inbox: Inbox::new(1),
                    accepted_epoch,
                    peer_last: Zxid::ZERO,
                    phase: LearnerPhase::Info,
                    acked: Zxid::ZERO,
                    last_heard: now,
                },
            );
            if let Some(new_epoch) = leading.new_epoch {
                self.send_to_learner(ctx, from, LeaderPacket::LeaderInfo { new_epoch });
            } else {
                self.leader_progress(ctx);
            }
            return;
        }
        let Some(learner) = leading.learners.get_mut(&from).filter(|l| l.conn == conn) else {
            ctx.send(from, Message::Close { conn });
            return;
        };
        learner.inbox.insert(seq, packet, now);
        while let Some(packet) = self
            .leading
            .as_mut()
            .and_then(|l| l.learners.get_mut(&from))
            .filter(|l| l.conn == conn)
            .and_then(|l| l.inbox.pop(now))
        {
            self.on_learner_packet(ctx, from, packet, now);
        }
    }

    fn on_learner_packet(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        packet: LearnerPacket,
        now: Instant,
    ) {
        let own = (self.current_epoch, self.last_zxid());
        let committed = self.committed;
        let leading = self.leading.as_mut().expect("leading");
        let learner = leading.learners.get_mut(&from).expect("a learner");
        learner.last_heard = now;
        match packet {
            LearnerPacket::FollowerInfo { .. } => unreachable!("handled above"),
            LearnerPacket::AckEpoch {
                current_epoch,
                last_zxid,
            } => {
                if learner.phase != LearnerPhase::Info {
                    return;
                }
                if (current_epoch, last_zxid) > own {
                    // The election chose a leader behind a follower: give up leading.
                    ctx.mark("zab.leader_behind_follower");
                    self.start_looking(ctx);
                    return;
                }
                learner.peer_last = last_zxid;
                learner.phase = LearnerPhase::AckedEpoch;
                leading.epoch_acks.insert(from);
                if leading.syncing {
                    self.sync_learners(ctx);
                } else {
                    self.leader_progress(ctx);
                }
            }
            LearnerPacket::AckNewLeader { last } => {
                if learner.phase != LearnerPhase::Synced {
                    return;
                }
                learner.phase = LearnerPhase::AckedNewLeader;
                learner.acked = learner.acked.max(last);
                leading.newleader_acks.insert(from);
                if leading.established {
                    self.send_to_learner(ctx, from, LeaderPacket::UpToDate { committed });
                    self.learner_mut(from).phase = LearnerPhase::UpToDate;
                    self.try_commit(ctx);
                } else {
                    self.leader_progress(ctx);
                }
            }
            LearnerPacket::Ack { zxid } => {
                learner.acked = learner.acked.max(zxid);
                self.try_commit(ctx);
            }
            LearnerPacket::Request(request) => {
                if leading.established {
                    self.propose(ctx, &request);
                }
            }
            LearnerPacket::Sync => {
                let last = own.1;
                if last <= committed {
                    self.send_to_learner(ctx, from, LeaderPacket::SyncDone);
                } else {
                    ctx.mark("zab.sync_waits_for_commit");
                    leading.syncs.push((last, Some(from), None));
                }
            }
            LearnerPacket::Ping { ack } => learner.outbox.acked(ack),
        }
    }

    /// PROPOSAL of a client request in the current epoch.
    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, request: &Request) {
        let in_flight = self.history[self.delivered..]
            .iter()
            .any(|txn| txn.command.request == request.id && txn.command.client == request.client);
        if in_flight {
            ctx.mark("zab.retry_in_flight");
            return;
        }
        let leading = self.leading.as_ref().expect("leading");
        let epoch = leading.new_epoch.expect("established");
        let command = Command::from_request(request, Stamp::now(epoch, ctx));
        self.propose_command(ctx, command);
    }

    /// PROPOSAL of `command` as the next txn of the epoch.
    fn propose_command(&mut self, ctx: &mut Ctx<'_, Self>, mut command: Command) {
        let leading = self.leading.as_mut().expect("leading");
        let epoch = leading.new_epoch.expect("established");
        leading.counter += 1;
        let zxid = Zxid::new(epoch, leading.counter);
        // The hook through which an application (or its mutation) rewrites a fresh command
        // from the leader's applied state (the identity for every correct application but one
        // that records its txn's zxid).
        let word = (zxid.epoch << 32) | zxid.counter;
        command.operation = self.app.app().prepare_txn(&command.operation, word);
        let txn = Txn {
            zxid,
            command: ProposedCommand::new(command),
        };
        ctx.observe(ZabObservation::Proposed {
            zxid,
            digest: txn.digest(),
            delivered: self.delivered as u64,
        });
        self.append_txn(ctx, txn.clone());
        let forwarding: Vec<NodeId> = self
            .leading_ref()
            .learners
            .iter()
            .filter(|(_, l)| l.phase >= LearnerPhase::Synced)
            .map(|(&id, _)| id)
            .collect();
        for learner in forwarding {
            self.send_to_learner(ctx, learner, LeaderPacket::Proposal(txn.clone()));
        }
        self.after_durable(ctx, Durable::LeaderProposal { zxid });
    }

    /// ZooKeeper's session tracker: a closeSession txn for each session the applied state
    /// finds expired now, unless one is already proposed and not yet delivered.
    fn expire_sessions(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(epoch) = self
            .leading
            .as_ref()
            .filter(|l| l.established)
            .and_then(|l| l.new_epoch)
        else {
            return;
        };
        let stamp = Stamp::now(epoch, ctx);
        for process in self.app.app().expired_sessions(&stamp) {
            let pending = self.history[self.delivered..]
                .iter()
                .any(|txn| txn.command.client == SESSION_TRACKER && txn.command.process == process);
            if pending {
                continue;
            }
            ctx.mark("zab.session_closed");
            let counter = self.leading_ref().counter + 1;
            let command = Command {
                // Above every client's request ids, growing with the zxid: the session table
                // applies each close once.
                request: RequestId(1 << 63 | (epoch << 32) | counter),
                client: SESSION_TRACKER,
                process,
                operation: crate::apps::zk_lock::close_session(),
                stamp,
            };
            self.propose_command(ctx, command);
        }
    }

    /// COMMIT every txn of this epoch that a quorum holds durably, in zxid order.
    fn try_commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let majority = ctx.majority() as usize;
        let Some(leading) = self.leading.as_ref().filter(|l| l.established) else {
            return;
        };
        let mut committed = self.committed;
        for txn in self.history.iter().filter(|txn| txn.zxid > self.committed) {
            let acks = usize::from(leading.durable >= txn.zxid)
                + leading
                    .learners
                    .values()
                    .filter(|l| l.phase >= LearnerPhase::AckedNewLeader && l.acked >= txn.zxid)
                    .count();
            if acks < majority {
                break;
            }
            committed = txn.zxid;
        }
        if committed == self.committed {
            return;
        }
        self.committed = committed;
        // A quorum acknowledged: committed at the leader, no follower told yet.
        ctx.crash_point("zab.before_commit_broadcast");
        let forwarding: Vec<NodeId> = leading
            .learners
            .iter()
            .filter(|(_, l)| l.phase >= LearnerPhase::Synced)
            .map(|(&id, _)| id)
            .collect();
        for learner in forwarding {
            self.send_to_learner(ctx, learner, LeaderPacket::Commit { zxid: committed });
        }
        self.deliver(ctx);
        self.answer_syncs(ctx);
    }

    fn answer_syncs(&mut self, ctx: &mut Ctx<'_, Self>) {
        let committed = self.committed;
        let leading = self.leading.as_mut().expect("leading");
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut leading.syncs)
            .into_iter()
            .partition(|(last, _, _)| *last <= committed);
        leading.syncs = waiting;
        for (_, learner, read) in done {
            match learner {
                Some(learner) => {
                    if self.leading_ref().learners.contains_key(&learner) {
                        self.send_to_learner(ctx, learner, LeaderPacket::SyncDone);
                    }
                }
                None => {
                    let (client, request, operation) = read.expect("a local read");
                    let outcome = self.app.query(&operation).expect("a read");
                    ctx.reply(client, request, outcome);
                }
            }
        }
    }

    // ----- delivery -----------------------------------------------------------------------

    /// Delivers the committed txns in zxid order, answering the clients that wait here.
    fn deliver(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.serving() {
            return;
        }
        while let Some(txn) = self.history.get(self.delivered) {
            if txn.zxid > self.committed {
                break;
            }
            let txn = txn.clone();
            let applied = self.app.apply_command(&txn.command);
            match applied {
                Applied::Fresh(_) => {}
                Applied::Duplicate(_) => ctx.mark("zab.duplicate_not_applied"),
                Applied::Stale => ctx.mark("zab.stale_retry_not_applied"),
            }
            self.delivered += 1;
            ctx.observe(ZabObservation::Delivered {
                zxid: txn.zxid,
                digest: txn.digest(),
            });
            if let Some(client) = self.waiting.remove(&txn.command.request) {
                if client == txn.command.client {
                    ctx.reply(client, txn.command.request, applied.outcome());
                }
            }
        }
    }

    // ----- ticks --------------------------------------------------------------------------

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.config.tick_time, Timer::Tick);
        let now = ctx.now();
        match self.role {
            Role::Looking => {
                self.try_decide(ctx);
                if self.role == Role::Looking {
                    ctx.broadcast(self.notification());
                }
            }
            Role::Following => {
                let following = self.following.as_ref().expect("following");
                let limit = if following.phase == FollowerPhase::Broadcast {
                    self.config.ticks(self.config.sync_limit)
                } else {
                    self.config.ticks(self.config.init_limit)
                };
                if following
                    .inbox
                    .broken(now, self.config.ticks(self.config.sync_limit))
                {
                    // A packet never arrived: TCP would have broken the connection.
                    ctx.mark("zab.connection_broken");
                    self.start_looking(ctx);
                } else if now.saturating_since(following.last_heard) > limit {
                    ctx.mark("zab.follower_lost_leader");
                    self.start_looking(ctx);
                } else if following.phase == FollowerPhase::Discovery {
                    self.send_follower_info(ctx);
                } else if following.inbox.hole() {
                    // Ask for what is missing (TCP's retransmission, receiver-driven here).
                    let msg = Message::Resend {
                        conn: following.conn,
                        from: following.inbox.next,
                    };
                    ctx.send(following.leader, msg);
                }
            }
            Role::Leading => self.leader_tick(ctx, now),
        }
        self.report(ctx);
    }

    fn leader_tick(&mut self, ctx: &mut Ctx<'_, Self>, now: Instant) {
        let majority = ctx.majority() as usize;
        let init = self.config.ticks(self.config.init_limit);
        let sync = self.config.ticks(self.config.sync_limit);
        let leading = self.leading.as_mut().expect("leading");
        let broken: Vec<(NodeId, u64)> = leading
            .learners
            .iter()
            .filter(|(_, l)| l.inbox.broken(now, sync))
            .map(|(&id, l)| (id, l.conn))
            .collect();
        for (learner, conn) in broken {
            ctx.mark("zab.connection_broken");
            leading.learners.remove(&learner);
            leading.closed.insert(conn);
            ctx.send(learner, Message::Close { conn });
        }
        if !leading.established {
            if now.saturating_since(leading.since) > init {
                ctx.mark("zab.leader_not_established_in_time");
                self.start_looking(ctx);
                return;
            }
            if leading.syncing {
                self.sync_learners(ctx);
            }
        } else {
            let heard = 1 + leading
                .learners
                .values()
                .filter(|l| {
                    l.phase >= LearnerPhase::AckedNewLeader
                        && now.saturating_since(l.last_heard) <= sync
                })
                .count();
            if heard < majority {
                ctx.mark("zab.leader_lost_quorum");
                self.start_looking(ctx);
                return;
            }
        }
        if self.leading_ref().new_epoch.is_none() {
            return; // Nothing goes to learners before LEADERINFO.
        }
        let learners: Vec<(NodeId, u64, Option<u64>)> = self
            .leading_ref()
            .learners
            .iter()
            .map(|(&id, l)| (id, l.inbox.next, l.inbox.hole().then_some(l.conn)))
            .collect();
        for (learner, ack, hole) in learners {
            if let Some(conn) = hole {
                ctx.send(learner, Message::Resend { conn, from: ack });
            }
            self.send_to_learner(ctx, learner, LeaderPacket::Ping { ack });
        }
        self.expire_sessions(ctx);
    }

    /// Sends again, in order, every packet of connection `conn` from position `from` on.
    fn on_resend(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, conn: u64, from: u64) {
        if let Some(following) = self
            .following
            .as_ref()
            .filter(|f| f.conn == conn && f.leader == to)
        {
            for (seq, packet) in following.outbox.from(from) {
                let msg = Message::ToLeader { conn, seq, packet };
                ctx.send(to, msg);
            }
        } else if let Some(leading) = self.leading.as_ref() {
            let epoch = leading.new_epoch.unwrap_or(0);
            if let Some(learner) = leading.learners.get(&to).filter(|l| l.conn == conn) {
                for (seq, packet) in learner.outbox.from(from) {
                    let msg = Message::ToLearner {
                        conn,
                        seq,
                        epoch,
                        packet,
                    };
                    ctx.send(to, msg);
                }
            }
        }
    }

    /// Reports the replica's state when it delivered something new (replica digest check).
    fn report(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.serving() {
            return;
        }
        let zxid = self
            .delivered
            .checked_sub(1)
            .map_or(Zxid::ZERO, |i| self.history[i].zxid);
        if self.reported == Some(zxid) {
            return;
        }
        self.reported = Some(zxid);
        ctx.observe(ZabObservation::Replica {
            zxid,
            delivered: self.delivered as u64,
            state: self.app.state_digest(),
        });
    }
}

impl<A: Application> Node for ZabNode<A> {
    type Config = Config<A>;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = ZabObservation;

    /// Lanes: a leader is one once a quorum acknowledged its NEWLEADER (`Established`); a
    /// proposal, delivery or replica state shows the epoch of its zxid.
    fn lane(observation: &ZabObservation, _node: NodeId) -> sim_core::observed::Lane {
        use sim_core::observed::Lane;
        match observation {
            ZabObservation::Established { epoch } => Lane::Role {
                role: "leader",
                number: Some(*epoch),
            },
            ZabObservation::Proposed { zxid, .. }
            | ZabObservation::Delivered { zxid, .. }
            | ZabObservation::Replica { zxid, .. } => Lane::Number(zxid.epoch),
            ZabObservation::Reset => Lane::Nothing,
        }
    }

    fn recover(config: &Config<A>, id: NodeId, durable: &[Record]) -> Self {
        config.assert_valid();
        let mut accepted_epoch = 0;
        let mut current_epoch = 0;
        let mut history: Vec<Txn> = Vec::new();
        for record in durable {
            match record {
                Record::AcceptedEpoch(epoch) => accepted_epoch = *epoch,
                Record::CurrentEpoch(epoch) => current_epoch = *epoch,
                Record::Txn(txn) => history.push(txn.clone()),
                Record::Truncate(to) => {
                    let kept = history.partition_point(|txn| txn.zxid <= *to);
                    history.truncate(kept);
                }
                Record::Snapshot(txns) => history = txns.clone(),
            }
        }
        ZabNode {
            config: config.clone(),
            id,
            accepted_epoch,
            current_epoch,
            recovered_with_history: !history.is_empty(),
            history,
            app: Sessions::for_bugs(config.app.clone(), config.bugs),
            delivered: 0,
            committed: Zxid::ZERO,
            role: Role::Looking,
            round: 0,
            vote: Vote {
                epoch: current_epoch,
                zxid: Zxid::ZERO,
                sid: id,
            },
            votes: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            following: None,
            leading: None,
            previous: None,
            awaiting_disk: VecDeque::new(),
            waiting: BTreeMap::new(),
            reported: None,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.recovered_with_history {
            ctx.mark("zab.recovered_with_history");
            ctx.crash_point("zab.recovering");
        }
        // Servers tick out of phase with one another.
        let first = ctx.rng().below(self.config.tick_time.as_nanos()) + 1;
        ctx.set_timer(sim_core::time::Duration::from_nanos(first), Timer::Tick);
        self.start_looking(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        match msg {
            Message::Notification { vote, round, state } => {
                self.on_notification(ctx, from, vote, round, state);
            }
            Message::ToLearner {
                conn,
                seq,
                epoch,
                packet,
            } => self.on_to_learner(ctx, from, conn, seq, epoch, packet),
            Message::ToLeader { conn, seq, packet } => {
                if self.role == Role::Leading {
                    self.on_to_leader(ctx, from, conn, seq, packet);
                } else if seq > 0 {
                    ctx.send(from, Message::Close { conn });
                }
            }
            Message::Resend { conn, from: seq } => self.on_resend(ctx, from, conn, seq),
            Message::Close { conn } => {
                if self
                    .following
                    .as_ref()
                    .is_some_and(|f| f.conn == conn && f.leader == from)
                {
                    ctx.mark("zab.closed_by_leader");
                    self.start_looking(ctx);
                } else if let Some(leading) = self.leading.as_mut() {
                    if leading.learners.get(&from).is_some_and(|l| l.conn == conn) {
                        leading.learners.remove(&from);
                        leading.closed.insert(conn);
                    }
                }
            }
        }
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        // A completion stands for every earlier token too (group commit).
        while let Some(&(waiting, action)) = self.awaiting_disk.front() {
            if waiting > token {
                break;
            }
            self.awaiting_disk.pop_front();
            self.on_durable(ctx, action);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Tick => self.on_tick(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if !self.serving() {
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect { leader: None },
            );
            return;
        }
        if let Some(outcome) = self.app.query(&request.operation) {
            match self.config.read_mode {
                ReadMode::Local => {
                    ctx.reply(request.client, request.id, outcome);
                    return;
                }
                ReadMode::Sync => {
                    let read = (request.client, request.id, request.operation);
                    if let Some(following) = self.following.as_mut() {
                        following.sync_reads.push_back(read);
                        self.send_to_leader(ctx, LearnerPacket::Sync);
                    } else {
                        let last = self.last_zxid();
                        let leading = self.leading.as_mut().expect("serving");
                        leading.syncs.push((last, None, Some(read)));
                        self.answer_syncs(ctx);
                    }
                    return;
                }
                ReadMode::Log => {}
            }
        }
        if let Some(session) = self.app.session(request.client) {
            if session.request == request.id {
                // Delivered already: answering from the session table is exact.
                ctx.mark("zab.duplicate_answered_from_session");
                ctx.reply(request.client, request.id, session.outcome.clone());
                return;
            }
        }
        self.waiting.insert(request.id, request.client);
        if self.role == Role::Leading {
            self.propose(ctx, &request);
        } else {
            self.send_to_leader(ctx, LearnerPacket::Request(request));
        }
    }
}
