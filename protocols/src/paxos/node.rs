//! The Multi-Paxos replica: proposer, acceptor and learner in one node (Paxos Made Simple §3),
//! as handlers that record effects.

use super::acceptor::{AcceptDecision, Acceptor, PrepareDecision};
use super::config::{Config, ReadMode};
use super::invariants::PaxosObservation;
use super::message::{Ballot, Message, Proposal, Record, Slot, Timer, Value};
use super::proposer::{Candidate, InFlight, Leadership};
use crate::apps::session::Sessions;
use crate::apps::{Application, Command, Stamp};
use crate::mutation::Bug;
use crate::paxos::bugs;
use sim_core::id::{NodeId, TimerId};
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};
use sim_core::time::{Duration, Instant};
use std::collections::BTreeMap;

/// The most chosen values one catch-up message carries.
pub const CATCH_UP_BATCH_MAX: usize = 256;

/// The most unanswered proposals a leader retransmits per heartbeat.
pub const RESEND_MAX: usize = 64;

/// A replica's part in the proposer protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepts and learns; redirects clients to the leader it knows.
    Follower,
    /// Running phase 1 for its ballot.
    Candidate,
    /// The distinguished proposer: phase 1 done, proposes in phase 2 only.
    Leader,
}

/// A lease this replica granted by acknowledging a heartbeat: until `until` on its monotonic
/// clock it promises no other proposer (Paxos Made Live §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LeaseGrant {
    /// The leader it was granted to; `None` after a restart, when the replica cannot know
    /// whom it granted a lease before the crash and waits out a lease for everyone.
    holder: Option<NodeId>,
    until: Instant,
}

/// What waits for a sync: a message to send, or an acceptance to report to the oracle.
#[derive(Clone, Debug)]
enum DurableAnswer {
    Send(NodeId, Message),
    Observe(PaxosObservation),
}

/// A Multi-Paxos replica of the application `A`.
#[derive(Clone, Debug)]
pub struct PaxosNode<A: Application> {
    config: Config<A>,
    id: NodeId,
    /// The acceptor: its state is the node's only durable state.
    acceptor: Acceptor,
    // Learner state (volatile: relearned from the leader after a restart).
    /// The value of every slot below the first unchosen one, all applied (index = slot - 1).
    chosen: Vec<Value>,
    /// Values known chosen above a gap, applied once the gap is filled.
    learned: BTreeMap<Slot, Value>,
    app: Sessions<A>,
    // Proposer state (volatile).
    role: Role,
    /// The highest round seen in any ballot: a new ballot goes above it.
    highest_round: u64,
    candidate: Option<Candidate>,
    leadership: Option<Leadership>,
    /// The owner of the highest ballot this replica follows, for redirects.
    leader_hint: Option<NodeId>,
    leader_timer: Option<TimerId>,
    leader_timer_generation: u64,
    heartbeat_generation: u64,
    lease_grant: Option<LeaseGrant>,
    recovered: bool,
    /// The last sync asked for and not yet completed: it covers every record appended.
    unsynced: Option<SyncToken>,
    /// Promises and Accepted messages held until the acceptor state they report is durable,
    /// with the oracle's `Accepted` observations (an acceptance lost to a power loss before
    /// it was durable was never made): (token, what).
    durable_answers: Vec<(SyncToken, DurableAnswer)>,
    /// As candidate: its own promise for `ballot`, counted once durable.
    own_promise_unsynced: Option<(Ballot, SyncToken)>,
    /// As leader: its own acceptances, counted towards a majority once durable.
    own_accepts_unsynced: Vec<(SyncToken, Ballot, Slot)>,
    /// BUGGIFY: the ballot whose phase 2 waits for a `Phase2` timer.
    phase_2_waiting: Option<Ballot>,
}

impl<A: Application> PaxosNode<A> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Is it the distinguished leader?
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
    /// The ballot it leads or prepares, if any.
    pub fn ballot(&self) -> Option<Ballot> {
        match self.role {
            Role::Follower => None,
            Role::Candidate => self.candidate.as_ref().map(|c| c.ballot),
            Role::Leader => self.leadership.as_ref().map(|l| l.ballot),
        }
    }
    /// The acceptor's state.
    pub fn acceptor(&self) -> &Acceptor {
        &self.acceptor
    }
    /// The first slot not known chosen.
    pub fn first_unchosen(&self) -> Slot {
        Slot(self.chosen.len() as u64 + 1)
    }
    /// The values of the chosen prefix, slot 1 first.
    pub fn chosen(&self) -> &[Value] {
        &self.chosen
    }
    /// The leader this node would redirect a client to.
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader_hint
    }
    /// The replicated application's state.
    pub fn app(&self) -> &A {
        self.app.app()
    }
    /// The leader's next free slot, if it leads.
    pub fn next_slot(&self) -> Option<Slot> {
        self.leadership.as_ref().map(|l| l.next_slot)
    }
    /// The end of the leader's lease on its monotonic clock, if it leads.
    pub fn lease_until(&self) -> Option<Instant> {
        self.leadership.as_ref().map(|l| l.lease_until)
    }

    fn bug(&self, bug: Bug) -> bool {
        self.config.bugs.contains(bug)
    }

    fn majority(ctx: &Ctx<'_, Self>) -> usize {
        ctx.majority() as usize
    }

    /// BUGGIFY's coin: true for one call in four when `config.buggify` is on (and no draw
    /// at all when it is off, so runs without it are unchanged).
    fn buggify(&self, ctx: &mut Ctx<'_, Self>) -> bool {
        self.config.buggify && ctx.rng().below(4) == 0
    }

    /// A majority promised `ballot`: phase 2 starts, at once or (BUGGIFY) after a while, as
    /// a slow proposer would: the promises stay valid until a higher ballot comes.
    fn on_promise_quorum(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        if self.phase_2_waiting == Some(ballot) {
            return; // waiting already; the timer starts phase 2
        }
        if self.buggify(ctx) {
            ctx.mark("paxos.buggify_phase_2_waited");
            self.phase_2_waiting = Some(ballot);
            let wait = self.config.heartbeat;
            ctx.set_timer(wait, Timer::Phase2 { ballot });
            return;
        }
        self.become_leader(ctx);
    }

    // ----- persistence ----------------------------------------------------------------------

    /// Appends `records` and asks for them to be synced. Every answer that depends on
    /// acceptor state waits for the sync ([`PaxosNode::send_when_durable`]): nothing leaves
    /// before it is durable (Paxos Made Simple §2.3).
    fn persist(&mut self, ctx: &mut Ctx<'_, Self>, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        for record in records {
            ctx.append(record);
        }
        self.unsynced = Some(ctx.sync());
    }

    /// Sends `msg` once the acceptor state is durable: at once when no sync is in flight,
    /// otherwise when the last one (which covers every record) completes.
    fn send_when_durable(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Message) {
        match self.unsynced {
            None => ctx.send(to, msg),
            Some(token) => self
                .durable_answers
                .push((token, DurableAnswer::Send(to, msg))),
        }
    }

    /// Reports an acceptance to the oracle once it is durable (see `send_when_durable`).
    fn observe_when_durable(&mut self, ctx: &mut Ctx<'_, Self>, observation: PaxosObservation) {
        match self.unsynced {
            None => ctx.observe(observation),
            Some(token) => self
                .durable_answers
                .push((token, DurableAnswer::Observe(observation))),
        }
    }

    /// Counts this node's own promise for the candidate's ballot (checking for a majority).
    fn count_own_promise(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        let Some(candidate) = self.candidate.as_mut() else {
            return;
        };
        if candidate.ballot != ballot {
            return;
        }
        let first_unchosen = candidate.first_unchosen;
        candidate.add_promise(self.id, self.acceptor.accepted_from(first_unchosen));
        if candidate.promised_by.len() >= Self::majority(ctx) {
            self.on_promise_quorum(ctx, ballot);
        }
    }

    // ----- timers and roles -------------------------------------------------------------------

    fn reset_leader_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        let min = self.config.leader_timeout_min.as_nanos();
        let max = self.config.leader_timeout_max.as_nanos();
        let after = Duration::from_nanos(ctx.rng().range_inclusive(min, max));
        self.set_leader_timer(ctx, Some(after));
    }

    /// Re-arms the leader timeout to fire `after` from now on the local clock, or disarms it
    /// (`None`). Either way its generation moves on, so that a superseded timer whose
    /// cancellation raced with its firing is recognised and ignored.
    fn set_leader_timer(&mut self, ctx: &mut Ctx<'_, Self>, after: Option<Duration>) {
        self.leader_timer_generation += 1;
        if let Some(superseded) = self.leader_timer.take() {
            ctx.cancel_timer(superseded);
        }
        let generation = self.leader_timer_generation;
        self.leader_timer =
            after.map(|after| ctx.set_timer(after, Timer::LeaderTimeout { generation }));
    }

    /// Gives up candidacy or leadership. Owed replies are dropped on purpose: the proposals
    /// may still be chosen under the next leader, so neither `Ok` nor `Fail` is known; the
    /// clients time out and retry with the same request id, which the session table dedupes.
    fn step_down(&mut self, ctx: &mut Ctx<'_, Self>, mark: &'static str) {
        if self.role == Role::Follower {
            return;
        }
        ctx.mark(mark);
        if let Some(leadership) = self.leadership.take() {
            if !leadership.owed.is_empty() {
                ctx.mark("paxos.proposals_abandoned");
            }
            self.heartbeat_generation += 1;
        }
        self.candidate = None;
        self.role = Role::Follower;
        self.leader_hint = None;
        self.reset_leader_timer(ctx);
    }

    /// A message of `ballot` arrived: a proposer of a lower ballot is preempted.
    fn note_ballot(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        self.highest_round = self.highest_round.max(ballot.round);
        if self.ballot().is_some_and(|mine| mine < ballot) {
            self.step_down(ctx, "paxos.preempted");
        }
    }

    /// Follows the leader of `ballot` (a heartbeat or accept that the acceptor did not refuse).
    fn follow(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        if self.role == Role::Leader || ballot < self.acceptor.promised() {
            // Under P1 the acceptor takes accepts of lower ballots; their sender is no leader.
            return;
        }
        self.leader_hint = Some(ballot.node);
        if self.role == Role::Follower {
            self.reset_leader_timer(ctx);
        }
    }

    /// Does a lease granted by this replica forbid promising `proposer` now? Followers that
    /// granted a lease refuse to promise anyone else until it has expired on their own
    /// monotonic clock (Paxos Made Live §5.2). P6 forgets the rule.
    fn lease_forbids(&self, ctx: &Ctx<'_, Self>, proposer: NodeId) -> bool {
        let Some(grant) = self.lease_grant else {
            return false;
        };
        if grant.holder == Some(proposer) || ctx.monotonic_now() >= grant.until {
            return false;
        }
        !self.bug(bugs::LEASE_READ_UNSAFE)
    }

    // ----- phase 1 --------------------------------------------------------------------------

    fn on_leader_timeout(&mut self, ctx: &mut Ctx<'_, Self>) {
        assert_ne!(self.role, Role::Leader, "a leader has no leader timeout");
        if self.lease_forbids(ctx, self.id) {
            // The timer runs on the wall clock, which may have jumped ahead; the lease is
            // measured on the monotonic clock. Wait out what is left of it.
            ctx.mark("paxos.lease_wait");
            let until = self.lease_grant.expect("a lease forbids").until;
            let left = until.saturating_since(ctx.monotonic_now());
            self.set_leader_timer(ctx, Some(left + Duration::NANOSECOND));
            return;
        }
        self.start_phase_1(ctx);
    }

    /// Phase 1a: pick a ballot above every round seen, promise it locally (durably), and ask
    /// every acceptor for its promise about every slot from the first unchosen one on.
    fn start_phase_1(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.candidate = None;
        self.role = Role::Candidate;
        self.leader_hint = None;
        let round = self.highest_round.max(self.acceptor.promised().round) + 1;
        self.highest_round = round;
        let ballot = Ballot::new(round, self.id);
        let first_unchosen = self.first_unchosen();
        match self.acceptor.on_prepare(ballot) {
            PrepareDecision::Promised { record } => self.persist(ctx, record.into_iter().collect()),
            PrepareDecision::Refused { promised } => {
                panic!("{}: own fresh {ballot} refused below {promised}", self.id)
            }
        }
        self.candidate = Some(Candidate::new(ballot, first_unchosen));
        self.reset_leader_timer(ctx);
        ctx.broadcast(Message::Prepare {
            ballot,
            first_unchosen,
        });
        // Its own promise counts once durable, like any other (`on_synced`).
        match self.unsynced {
            Some(token) => self.own_promise_unsynced = Some((ballot, token)),
            None => self.count_own_promise(ctx, ballot),
        }
    }

    fn on_prepare(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        first_unchosen: Slot,
    ) {
        assert_eq!(from, ballot.node, "prepare of {ballot} relayed by {from}");
        self.highest_round = self.highest_round.max(ballot.round);
        if self.lease_forbids(ctx, from) {
            // No answer: the proposer retries after its own timeout with a higher ballot.
            ctx.mark("paxos.lease_wait");
            return;
        }
        match self.acceptor.on_prepare(ballot) {
            PrepareDecision::Refused { promised } => {
                ctx.mark("paxos.prepare_refused");
                ctx.send(from, Message::Nack { ballot, promised });
            }
            PrepareDecision::Promised { record } => {
                self.persist(ctx, record.into_iter().collect());
                self.note_ballot(ctx, ballot);
                if self.role == Role::Follower {
                    // Give the new proposer time to finish phase 1 before competing with it.
                    self.leader_hint = None;
                    self.reset_leader_timer(ctx);
                }
                let accepted = self.acceptor.accepted_from(first_unchosen);
                self.send_when_durable(ctx, from, Message::Promise { ballot, accepted });
                // The promise is in the disk's cache (and left, on an instant disk).
                ctx.crash_point("paxos.after_promise");
            }
        }
    }

    fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        accepted: Vec<(Slot, Proposal)>,
    ) {
        let Some(candidate) = self.candidate.as_mut() else {
            return; // A late promise for a phase 1 this node finished or abandoned.
        };
        if candidate.ballot != ballot {
            return; // For an earlier ballot of this node.
        }
        candidate.add_promise(from, accepted);
        if candidate.promised_by.len() >= Self::majority(ctx) {
            self.on_promise_quorum(ctx, ballot);
        }
    }

    /// Phase 1 is complete: learn what the promises reported chosen, then propose in every
    /// other slot up to the highest one reported: the value of the highest-ballot proposal
    /// reported there (P2c), or a no-op where nothing was (§3's gap filling).
    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.phase_2_waiting = None;
        let candidate = self.candidate.take().expect("a candidate becomes leader");
        assert!(
            candidate.promised_by.len() >= Self::majority(ctx),
            "{} leads {} with {} promises",
            self.id,
            candidate.ballot,
            candidate.promised_by.len()
        );
        assert_eq!(self.acceptor.promised(), candidate.ballot);
        self.role = Role::Leader;
        self.leader_hint = Some(self.id);
        self.set_leader_timer(ctx, None);
        ctx.observe(PaxosObservation::BecameLeader {
            ballot: candidate.ballot,
        });
        let next_slot = candidate.end_of_reports().max(self.first_unchosen());
        self.leadership = Some(Leadership::new(
            candidate.ballot,
            ctx.node_count(),
            next_slot,
            ctx.monotonic_now(),
        ));
        self.heartbeat_generation += 1;
        let generation = self.heartbeat_generation;
        ctx.set_timer(self.config.heartbeat, Timer::Heartbeat { generation });
        let mut slot = self.first_unchosen();
        while slot < next_slot && self.role == Role::Leader {
            if !self.learned.contains_key(&slot) {
                let value = match candidate.highest_accepted.get(&slot) {
                    // P4 (variant a): the leader proposes its own value (a no-op) even where
                    // an acceptor reported an accepted one, possibly chosen.
                    Some(proposal) if !self.bug(bugs::IGNORE_ACCEPTED_VALUE) => {
                        ctx.mark("paxos.adopted_accepted_value");
                        proposal.value.clone()
                    }
                    reported => {
                        if reported.is_none() {
                            ctx.mark("paxos.gap_noop_filled");
                        }
                        Value::Noop
                    }
                };
                self.propose(ctx, slot, value);
            }
            slot = slot.next();
        }
        if self.role == Role::Leader {
            self.send_heartbeats(ctx);
        }
    }

    // ----- phase 2 --------------------------------------------------------------------------

    /// Phase 2a in `slot`: accept locally (durably), then ask every acceptor.
    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, slot: Slot, value: Value) {
        let leadership = self.leadership.as_ref().expect("only a leader proposes");
        let ballot = leadership.ballot;
        let round = leadership.round;
        assert!(
            slot >= self.first_unchosen(),
            "proposing in chosen {slot} below {}",
            self.first_unchosen()
        );
        match self.acceptor.on_accept(ballot, slot, value.clone()) {
            AcceptDecision::Accepted { records } => self.persist(ctx, records),
            AcceptDecision::Refused { promised } => {
                // Promising a higher ballot steps the leader down at once, so its own
                // acceptor cannot refuse it.
                panic!(
                    "{}: leader of {ballot} refused by itself ({promised})",
                    self.id
                );
            }
        }
        self.observe_when_durable(
            ctx,
            PaxosObservation::Accepted {
                slot,
                ballot,
                digest: value.digest(),
            },
        );
        let leadership = self.leadership.as_mut().expect("checked above");
        leadership.in_flight.insert(
            slot,
            InFlight {
                value: value.clone(),
                accepted_by: Default::default(),
                proposed_in_round: round,
            },
        );
        // The leader chose what to propose here and logged its own acceptance; nobody has
        // heard of it yet.
        ctx.crash_point("paxos.before_accept_broadcast");
        if self.buggify(ctx) {
            // The same proposal twice, as a leader that re-proposes a slot after a timeout
            // would: acceptors must treat the repeat as the same proposal.
            ctx.mark("paxos.buggify_reproposed");
            ctx.broadcast(Message::Accept {
                ballot,
                slot,
                value: value.clone(),
                first_unchosen: self.first_unchosen(),
            });
        }
        ctx.broadcast(Message::Accept {
            ballot,
            slot,
            value,
            first_unchosen: self.first_unchosen(),
        });
        // Its own acceptance counts once durable, like any other (`on_synced`).
        match self.unsynced {
            Some(token) => self.own_accepts_unsynced.push((token, ballot, slot)),
            None => self.count_accept(ctx, slot, self.id),
        }
    }

    fn count_accept(&mut self, ctx: &mut Ctx<'_, Self>, slot: Slot, acceptor: NodeId) {
        let majority = Self::majority(ctx);
        let leadership = self.leadership.as_mut().expect("only a leader counts");
        if let Some(value) = leadership.count_accept(slot, acceptor, majority) {
            self.learn(ctx, slot, value);
        }
    }

    fn on_accept(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        slot: Slot,
        value: Value,
        first_unchosen: Slot,
    ) {
        assert_eq!(from, ballot.node, "accept of {ballot} relayed by {from}");
        let digest = value.digest();
        match self.acceptor.on_accept(ballot, slot, value) {
            AcceptDecision::Refused { promised } => {
                ctx.mark("paxos.accept_refused");
                ctx.send(from, Message::Nack { ballot, promised });
                return;
            }
            AcceptDecision::Accepted { records } => {
                self.persist(ctx, records);
                // Reported with every Accepted message, a resent one too: the first report
                // may have been lost with a crash whose disk kept the acceptance.
                self.observe_when_durable(
                    ctx,
                    PaxosObservation::Accepted {
                        slot,
                        ballot,
                        digest,
                    },
                );
            }
        }
        self.note_ballot(ctx, ballot);
        self.follow(ctx, ballot);
        self.learn_from_leader(ctx, ballot, first_unchosen);
        if self.buggify(ctx) {
            // A slow acceptor: the answer leaves a heartbeat later (and still only once
            // durable); the proposer may resend, preempt or give up meanwhile.
            ctx.mark("paxos.buggify_late_accepted");
            let msg = Box::new(Message::Accepted { ballot, slot });
            ctx.set_timer(self.config.heartbeat, Timer::LateAnswer { to: from, msg });
        } else {
            self.send_when_durable(ctx, from, Message::Accepted { ballot, slot });
        }
        ctx.crash_point("paxos.after_accept");
    }

    fn on_accepted(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot, slot: Slot) {
        let Some(leadership) = self.leadership.as_mut() else {
            return; // An answer to a leadership this node no longer holds.
        };
        if leadership.ballot != ballot {
            return; // An answer to an earlier ballot of this node.
        }
        leadership.heard.insert(from);
        self.count_accept(ctx, slot, from);
    }

    fn on_nack(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot, promised: Ballot) {
        self.highest_round = self.highest_round.max(promised.round);
        if self.ballot() == Some(ballot) && promised > ballot {
            self.step_down(ctx, "paxos.preempted");
        }
    }

    // ----- learning -------------------------------------------------------------------------

    /// The leader of `ballot` knows every slot below `leader_first_unchosen` chosen. Where
    /// this acceptor's last acceptance is that ballot's proposal, that proposal is the chosen
    /// value: a leader proposes one value per slot and ballot, and the slot was chosen either
    /// by it or, earlier, with the value the leader then had to re-propose (P2c).
    fn learn_from_leader(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        ballot: Ballot,
        leader_first_unchosen: Slot,
    ) {
        if ballot < self.acceptor.promised() {
            return;
        }
        let first_unchosen = self.first_unchosen();
        if leader_first_unchosen <= first_unchosen {
            return;
        }
        let known: Vec<(Slot, Value)> = self
            .acceptor
            .accepted_in(first_unchosen, leader_first_unchosen)
            .filter(|(_, proposal)| proposal.ballot == ballot)
            .map(|(slot, proposal)| (slot, proposal.value.clone()))
            .collect();
        for (slot, value) in known {
            self.learn(ctx, slot, value);
        }
    }

    /// `value` is chosen in `slot`: remember it and apply what became contiguous.
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, slot: Slot, value: Value) {
        if slot < self.first_unchosen() || self.learned.contains_key(&slot) {
            return; // Known already (a duplicate or a second path to the same fact).
        }
        ctx.observe(PaxosObservation::Learned {
            slot,
            digest: value.digest(),
        });
        if let Some(leadership) = self.leadership.as_mut() {
            leadership.in_flight.remove(&slot);
        }
        self.learned.insert(slot, value);
        self.apply_learned(ctx);
    }

    /// Applies every learned slot from the first unchosen one on, in order; the leader answers
    /// the clients it owes.
    fn apply_learned(&mut self, ctx: &mut Ctx<'_, Self>) {
        while let Some(value) = self.learned.remove(&self.first_unchosen()) {
            let slot = self.first_unchosen();
            let applied = match &value {
                Value::Noop => None,
                Value::Command(proposed) => Some(self.app.apply_command(proposed.command())),
            };
            ctx.observe(PaxosObservation::Applied {
                slot,
                digest: value.digest(),
            });
            let owed = self
                .leadership
                .as_mut()
                .and_then(|leadership| leadership.owed.remove(&slot));
            if let Some((client, request)) = owed {
                let matches = matches!(&value, Value::Command(c) if c.request == request);
                // Paired with `on_request`: the leader proposed this request here, and in the
                // correct protocol the slot is chosen with the leader's own proposal.
                assert!(
                    matches || !self.config.bugs.is_empty(),
                    "{}: {slot} owed to {request:?} chose {value:?}",
                    self.id
                );
                if matches {
                    let applied = applied.expect("commands are applied");
                    if !applied.is_fresh() {
                        ctx.mark("paxos.duplicate_not_applied");
                    }
                    ctx.reply(client, request, applied.outcome());
                }
            }
            self.chosen.push(value);
        }
    }

    fn on_chosen(&mut self, ctx: &mut Ctx<'_, Self>, values: Vec<(Slot, Value)>) {
        for (slot, value) in values {
            self.learn(ctx, slot, value);
        }
    }

    // ----- the distinguished leader -----------------------------------------------------------

    fn send_heartbeats(&mut self, ctx: &mut Ctx<'_, Self>) {
        let first_unchosen = self.first_unchosen();
        let leadership = self.leadership.as_mut().expect("only a leader heartbeats");
        let round = leadership.start_round(ctx.monotonic_now(), first_unchosen);
        ctx.broadcast(Message::Heartbeat {
            ballot: leadership.ballot,
            round,
            first_unchosen,
        });
    }

    fn on_heartbeat_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        let majority = Self::majority(ctx);
        let now = ctx.monotonic_now();
        let leadership = self.leadership.as_mut().expect("only a leader heartbeats");
        if now.saturating_since(leadership.quorum_checked_at) >= self.config.leader_timeout_max {
            let heard = leadership.heard.len() + 1;
            leadership.heard.clear();
            leadership.quorum_checked_at = now;
            if heard < majority {
                // A leader cut off from a majority stops serving, so that clients find the
                // leader the majority elects instead of waiting on this one.
                self.step_down(ctx, "paxos.quorum_lost");
                return;
            }
        }
        // Proposals unanswered for a whole round lost a message somewhere: send them again to
        // the acceptors that have not accepted them.
        let ballot = leadership.ballot;
        let current_round = leadership.round;
        let stale: Vec<(Slot, InFlight)> = leadership
            .in_flight
            .iter()
            .filter(|(_, in_flight)| in_flight.proposed_in_round < current_round)
            .take(RESEND_MAX)
            .map(|(&slot, in_flight)| (slot, in_flight.clone()))
            .collect();
        let first_unchosen = self.first_unchosen();
        for (slot, in_flight) in stale {
            ctx.mark("paxos.accept_resent");
            for peer in ctx.peers() {
                if !in_flight.accepted_by.contains(&peer) {
                    ctx.send(
                        peer,
                        Message::Accept {
                            ballot,
                            slot,
                            value: in_flight.value.clone(),
                            first_unchosen,
                        },
                    );
                }
            }
        }
        self.send_heartbeats(ctx);
        let generation = self.heartbeat_generation;
        ctx.set_timer(self.config.heartbeat, Timer::Heartbeat { generation });
    }

    fn on_heartbeat(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        first_unchosen: Slot,
    ) {
        assert_eq!(from, ballot.node, "heartbeat of {ballot} relayed by {from}");
        self.note_ballot(ctx, ballot);
        let promised = self.acceptor.promised();
        if ballot < promised {
            ctx.send(from, Message::Nack { ballot, promised });
            return;
        }
        self.follow(ctx, ballot);
        if self.config.read_mode == ReadMode::Lease {
            self.lease_grant = Some(LeaseGrant {
                holder: Some(from),
                until: ctx.monotonic_now() + self.config.leader_timeout_min,
            });
        }
        self.learn_from_leader(ctx, ballot, first_unchosen);
        ctx.send(
            from,
            Message::HeartbeatAck {
                ballot,
                round,
                first_unchosen: self.first_unchosen(),
            },
        );
    }

    fn on_heartbeat_ack(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        follower_first_unchosen: Slot,
    ) {
        let majority = Self::majority(ctx);
        let lease_length = self.config.lease_length();
        let Some(leadership) = self.leadership.as_mut() else {
            return; // For a leadership this node no longer holds.
        };
        if leadership.ballot != ballot {
            return;
        }
        leadership.heard.insert(from);
        leadership.acknowledge(self.id, from, round, majority, lease_length);
        // A replica behind what this round announced missed a value it cannot learn from its
        // own acceptances (a lost accept, a restart): send it the chosen values it lacks. One
        // merely behind values chosen since the round was sent learns them from later
        // messages, like everyone else.
        let announced = leadership.announced_in(round).unwrap_or(Slot::FIRST);
        let first_unchosen = self.first_unchosen();
        if follower_first_unchosen < announced {
            ctx.mark("paxos.catch_up");
            let start = follower_first_unchosen.0 - 1;
            let end = first_unchosen.0 - 1;
            let values = (start..end)
                .take(CATCH_UP_BATCH_MAX)
                .map(|index| (Slot(index + 1), self.chosen[index as usize].clone()))
                .collect();
            ctx.send(from, Message::Chosen { values });
        }
    }

    // ----- clients --------------------------------------------------------------------------

    /// Can the leader answer a read from its own state now? Only under a lease, and only once
    /// it has applied every slot that anything may have been chosen in before it led.
    fn can_read_locally(&self, ctx: &Ctx<'_, Self>) -> bool {
        let Some(leadership) = self.leadership.as_ref() else {
            return false;
        };
        self.config.read_mode == ReadMode::Lease
            && leadership.lease_holds(ctx.monotonic_now())
            && self.first_unchosen() >= leadership.horizon
    }
}

impl<A: Application> Node for PaxosNode<A> {
    type Config = Config<A>;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = PaxosObservation;

    /// Lanes: `BecameLeader` starts a leadership in its ballot's round; an accepted ballot is a
    /// round the node knows.
    fn lane(observation: &PaxosObservation, _node: NodeId) -> sim_core::observed::Lane {
        use sim_core::observed::Lane;
        match observation {
            PaxosObservation::BecameLeader { ballot } => Lane::Role {
                role: "leader",
                number: Some(ballot.round),
            },
            PaxosObservation::Accepted { ballot, .. } => Lane::Number(ballot.round),
            PaxosObservation::Started { .. }
            | PaxosObservation::Learned { .. }
            | PaxosObservation::Applied { .. } => Lane::Nothing,
        }
    }

    fn recover(config: &Config<A>, id: NodeId, durable: &[Record]) -> Self {
        config.assert_valid();
        let acceptor = Acceptor::recover(config.bugs, durable);
        // C2 switches deduplication off in there.
        let app = Sessions::for_bugs(config.app.clone(), config.bugs);
        PaxosNode {
            config: config.clone(),
            id,
            highest_round: acceptor.promised().round,
            recovered: !acceptor.is_blank(),
            acceptor,
            chosen: Vec::new(),
            learned: BTreeMap::new(),
            app,
            role: Role::Follower,
            candidate: None,
            leadership: None,
            leader_hint: None,
            leader_timer: None,
            leader_timer_generation: 0,
            heartbeat_generation: 0,
            phase_2_waiting: None,
            lease_grant: None,
            unsynced: None,
            durable_answers: Vec::new(),
            own_promise_unsynced: None,
            own_accepts_unsynced: Vec::new(),
        }
    }

    /// The acceptor state recorded before the sync `token` is durable: the answers that
    /// waited for it leave, and a candidate's or leader's own promise and acceptances count.
    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        if self.unsynced.is_some_and(|last| last <= token) {
            self.unsynced = None;
        }
        let due = self.durable_answers.partition_point(|&(t, _)| t <= token);
        for (_, answer) in self.durable_answers.drain(..due) {
            match answer {
                DurableAnswer::Send(to, msg) => ctx.send(to, msg),
                DurableAnswer::Observe(observation) => ctx.observe(observation),
            }
        }
        // Promises and Accepted messages that waited for this sync have left.
        ctx.crash_point("paxos.after_sync");
        if let Some((ballot, promise_token)) = self.own_promise_unsynced {
            if promise_token <= token {
                self.own_promise_unsynced = None;
                self.count_own_promise(ctx, ballot);
            }
        }
        let due = self
            .own_accepts_unsynced
            .partition_point(|&(t, ..)| t <= token);
        let accepts: Vec<(SyncToken, Ballot, Slot)> =
            self.own_accepts_unsynced.drain(..due).collect();
        for (_, ballot, slot) in accepts {
            let leading = self
                .leadership
                .as_ref()
                .is_some_and(|leadership| leadership.ballot == ballot);
            if leading {
                self.count_accept(ctx, slot, self.id);
            }
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.observe(PaxosObservation::Started {
            node_count: ctx.node_count(),
        });
        if self.recovered {
            ctx.mark("paxos.recovered");
            ctx.crash_point("paxos.recovering");
        }
        if self.config.read_mode == ReadMode::Lease {
            // The node may have granted a lease just before it crashed, and does not
            // remember to whom: it promises nobody until any such lease has run out.
            self.lease_grant = Some(LeaseGrant {
                holder: None,
                until: ctx.monotonic_now() + self.config.leader_timeout_min,
            });
        }
        self.reset_leader_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        match msg {
            Message::Prepare {
                ballot,
                first_unchosen,
            } => self.on_prepare(ctx, from, ballot, first_unchosen),
            Message::Promise { ballot, accepted } => self.on_promise(ctx, from, ballot, accepted),
            Message::Nack { ballot, promised } => self.on_nack(ctx, ballot, promised),
            Message::Accept {
                ballot,
                slot,
                value,
                first_unchosen,
            } => self.on_accept(ctx, from, ballot, slot, value, first_unchosen),
            Message::Accepted { ballot, slot } => self.on_accepted(ctx, from, ballot, slot),
            Message::Heartbeat {
                ballot,
                round,
                first_unchosen,
            } => self.on_heartbeat(ctx, from, ballot, round, first_unchosen),
            Message::HeartbeatAck {
                ballot,
                round,
                first_unchosen,
            } => self.on_heartbeat_ack(ctx, from, ballot, round, first_unchosen),
            Message::Chosen { values } => self.on_chosen(ctx, values),
        }
        assert_eq!(self.role == Role::Leader, self.leadership.is_some());
        assert_eq!(self.role == Role::Candidate, self.candidate.is_some());
        if let Some(mine) = self.ballot() {
            assert_eq!(
                self.acceptor.promised(),
                mine,
                "{} proposes below its promise",
                self.id
            );
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::LeaderTimeout { generation } if generation == self.leader_timer_generation => {
                self.leader_timer = None;
                self.on_leader_timeout(ctx);
            }
            Timer::Heartbeat { generation }
                if generation == self.heartbeat_generation && self.is_leader() =>
            {
                self.on_heartbeat_timer(ctx);
            }
            Timer::Phase2 { ballot } => {
                let still_candidate = self
                    .candidate
                    .as_ref()
                    .is_some_and(|candidate| candidate.ballot == ballot);
                if self.phase_2_waiting == Some(ballot) && still_candidate {
                    self.become_leader(ctx);
                } else if self.phase_2_waiting == Some(ballot) {
                    // Preempted while it waited: its phase 1 is void.
                    self.phase_2_waiting = None;
                }
            }
            Timer::LateAnswer { to, msg } => self.send_when_durable(ctx, to, *msg),
            // Superseded (re-armed or disarmed after it was set), or from an earlier
            // leadership: ignored on purpose.
            Timer::LeaderTimeout { .. } | Timer::Heartbeat { .. } => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        let Some(ballot) = self.ballot().filter(|_| self.is_leader()) else {
            let leader = self.leader_hint.filter(|&leader| leader != self.id);
            ctx.reply(request.client, request.id, Outcome::Redirect { leader });
            return;
        };
        if self.config.read_mode == ReadMode::Lease && self.can_read_locally(ctx) {
            if let Some(outcome) = self.app.query(&request.operation) {
                ctx.mark("paxos.lease_read");
                ctx.reply(request.client, request.id, outcome);
                return;
            }
        }
        let mut command = Command::from_request(&request, Stamp::now(ballot.epoch(), ctx));
        if let Some(cached) = self.app.cached(&command) {
            // Applied already, hence chosen: answering from the session table is exact.
            ctx.mark("paxos.duplicate_answered_from_session");
            ctx.reply(request.client, request.id, cached.outcome());
            return;
        }
        let leadership = self.leadership.as_mut().expect("leaders lead");
        if leadership.owed.values().any(|&(_, id)| id == request.id) {
            // A retry of a proposal still in flight: its answer is owed already.
            ctx.mark("paxos.retry_in_flight");
            return;
        }
        command.operation = self.app.app().prepare_proposal(&request.operation);
        let slot = leadership.take_slot();
        leadership.owed.insert(slot, (request.client, request.id));
        self.propose(ctx, slot, Value::command(command));
    }
}
