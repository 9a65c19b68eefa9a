//! The Raft server: Figure 2's rules as handlers that record effects.

use super::config::{Config, ReadMode};
use super::invariants::RaftObservation;
use super::log::Log;
use super::message::{Entry, LogIndex, Message, Payload, Record, Term, Timer};
use crate::apps::session::{Applied, Sessions};
use crate::apps::{Application, Command, ProposedCommand, Stamp};
use crate::mutation::Bug;
use crate::raft::bugs;
use sim_core::id::{ClientId, NodeId, RequestId, TimerId};
use sim_core::node::{Ctx, Node, Operation, Outcome, Request, SyncToken};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet};

/// A server's role (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Passive: answers leaders and candidates.
    Follower,
    /// Gathering votes for `current_term`.
    Candidate,
    /// With PreVote (thesis §9.6): asking whether it could win an election for
    /// `current_term + 1`, before it changes anything.
    PreCandidate,
    /// Handles clients and replicates the log.
    Leader,
}

/// How a new leader starts its term (always `Normal` unless BUGGIFY is on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaderStart {
    /// Append the no-op and replicate at once.
    Normal,
    /// Append the no-op, send nothing until the first heartbeat.
    Quiet,
    /// Replicate at once, append the no-op at the first heartbeat.
    LateNoop,
}

/// Why a leader sends AppendEntries to a follower; decides whether entries go along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Send {
    /// New entries were appended (or a response asks for the next batch): sent only when the
    /// follower has no batch outstanding, so that each entry crosses the link about once.
    NewEntries,
    /// A ReadIndex round started: every follower must answer a message of the new round.
    Round,
    /// The heartbeat (§5.2): resends from nextIndex whatever is outstanding, which recovers a
    /// lost batch or a lost answer.
    Heartbeat,
}

/// A read waiting for its ReadIndex round (thesis §6.4).
#[derive(Clone, Debug)]
struct PendingRead {
    client: ClientId,
    request: RequestId,
    operation: Operation,
    /// commitIndex when the read was admitted; `None` until the leader has committed an entry
    /// of its own term.
    read_index: Option<LogIndex>,
    /// The heartbeat round whose majority acknowledgement proves leadership for this read.
    round: u64,
    confirmed: bool,
}

/// Volatile state on leaders (Figure 2), reinitialised after every election.
#[derive(Clone, Debug)]
struct LeaderState {
    /// For each server, index of the next log entry to send to that server.
    next_index: Vec<LogIndex>,
    /// For each server, index of the highest log entry known to be replicated on it.
    match_index: Vec<LogIndex>,
    /// For each server, the last index of the AppendEntries with entries it has not answered
    /// yet. While one is outstanding no further entries are sent (its answer sends the next
    /// batch), so each entry crosses each link about once; the heartbeat resends it in case
    /// it was lost.
    in_flight: Vec<Option<LogIndex>>,
    /// BUGGIFY: followers whose next batch waits for the next heartbeat (all of them for a
    /// quiet new leader).
    held: Vec<bool>,
    /// BUGGIFY: the no-op waits for the first heartbeat.
    noop_pending: bool,
    /// For each server, the highest heartbeat round it acknowledged.
    acked_round: Vec<u64>,
    /// The current heartbeat round; a ReadIndex read starts a new one.
    round: u64,
    /// Client commands this leader appended and owes a reply once applied.
    proposals: BTreeMap<LogIndex, (ClientId, RequestId)>,
    reads: Vec<PendingRead>,
    /// Check-quorum: the peers heard from since `quorum_checked_at`.
    heard: BTreeSet<NodeId>,
    quorum_checked_at: Instant,
}

/// A Raft server replicating the application `A`.
#[derive(Clone, Debug)]
pub struct RaftNode<A: Application> {
    config: Config<A>,
    id: NodeId,
    // Persistent state (Figure 2): only ever changed together with a disk record.
    current_term: Term,
    voted_for: Option<NodeId>,
    log: Log,
    // Volatile state on all servers.
    /// The last log index known synced to this node's disk.
    durable_index: LogIndex,
    /// Syncs asked for and not yet completed, in token order, with the last log index each
    /// covers (capped by later truncations).
    unsynced: Vec<(SyncToken, LogIndex)>,
    /// Answers that vouch for durable state (a granted vote, an AppendEntries success), held
    /// until the sync of `token` completes: (token, to, message).
    durable_answers: Vec<(SyncToken, NodeId, Message)>,
    /// As candidate: the sync of its own vote for itself in `term`; the vote counts once it
    /// completes, or a crash could forget it and let this node vote twice in the term.
    own_vote_unsynced: Option<(Term, SyncToken)>,
    commit_index: LogIndex,
    last_applied: LogIndex,
    /// The replicated application behind its exactly-once session table (thesis §6.3): the
    /// last request applied per client slot and its outcome. Part of the replicated state:
    /// every replica builds it from the same commands.
    app: Sessions<A>,
    role: Role,
    /// As candidate: who granted the vote (this node included); as pre-candidate, who granted
    /// the pre-vote.
    votes: BTreeSet<NodeId>,
    /// As candidate or pre-candidate: who answered the RequestVote or PreVote at all; the
    /// others are asked again.
    voters_answered: BTreeSet<NodeId>,
    leader: Option<LeaderState>,
    leader_id: Option<NodeId>,
    /// When (local clock) an AppendEntries of `leader_id` was last accepted: PreVote refuses
    /// while a current leader was heard from within `election_timeout_min`.
    leader_contact: Option<Instant>,
    election_generation: u64,
    election_timer: Option<TimerId>,
    heartbeat_generation: u64,
    /// `raft-ack-before-fsync` only: appended records wait for the deferred sync.
    sync_pending: bool,
    recovered_with_log: bool,
}

impl<A: Application> RaftNode<A> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// currentTerm.
    pub fn current_term(&self) -> Term {
        self.current_term
    }
    /// votedFor.
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    /// The log.
    pub fn log(&self) -> &Log {
        &self.log
    }
    /// commitIndex.
    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }
    /// lastApplied.
    pub fn last_applied(&self) -> LogIndex {
        self.last_applied
    }
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Is this node the leader of its current term?
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
    /// The leader this node believes in, if any.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.leader_id
    }
    /// The replicated application's state.
    pub fn app(&self) -> &A {
        self.app.app()
    }

    fn bug(&self, bug: Bug) -> bool {
        self.config.bugs.contains(bug)
    }

    // ----- persistence -------------------------------------------------------------------

    /// Asks for everything appended to become durable. Until `on_synced` reports it, nothing
    /// that vouches for these records is sent ([`RaftNode::send_when_durable`]) and a leader
    /// does not count them as its own.
    fn sync(&mut self, ctx: &mut Ctx<'_, Self>) -> SyncToken {
        let token = ctx.sync();
        self.unsynced.push((token, self.log.last_index()));
        self.sync_pending = false;
        token
    }

    /// Sends `msg` once every record appended so far is durable: at once if no sync is in
    /// flight, otherwise when the last one completes (each append is followed by a sync, so
    /// the last sync covers them all).
    fn send_when_durable(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Message) {
        match self.unsynced.last() {
            None => ctx.send(to, msg),
            Some(&(token, _)) => self.durable_answers.push((token, to, msg)),
        }
    }

    /// Writes currentTerm and votedFor as one record and syncs it.
    fn persist_hard_state(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.append(Record::HardState {
            term: self.current_term,
            voted_for: self.voted_for,
        });
        if self.bug(bugs::VOTEDFOR_NOT_DURABLE) {
            // R2, variant A: the record is written but not fsynced, so a crash before the next
            // unrelated sync forgets the vote and the node may vote again in the same term.
            return;
        }
        self.sync(ctx);
    }

    /// Syncs appended log records before an acknowledgement, or defers it under R6.
    fn sync_log(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.bug(bugs::ACK_BEFORE_FSYNC) {
            // R6: acknowledge now, fsync on a later timer; a crash in between loses entries
            // that a leader already counted towards a majority.
            if !self.sync_pending {
                self.sync_pending = true;
                ctx.set_timer(self.config.heartbeat, Timer::DeferredSync);
            }
            return;
        }
        self.sync(ctx);
    }

    /// Appends `entry` to the log, records it on disk and reports it (not yet synced).
    fn store_entry(&mut self, ctx: &mut Ctx<'_, Self>, entry: Entry) -> LogIndex {
        let prev_term = self.log.last_term();
        let term = entry.term;
        let digest = entry.payload_digest();
        let index = self.log.append(entry.clone());
        ctx.append(Record::Entry { index, entry });
        ctx.observe(RaftObservation::Appended {
            index,
            term,
            prev_term,
            digest,
        });
        index
    }

    // ----- roles and timers --------------------------------------------------------------

    fn reset_election_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.election_generation += 1;
        if let Some(old) = self.election_timer.take() {
            ctx.cancel_timer(old);
        }
        let min = self.config.election_timeout_min.as_nanos();
        let max = self.config.election_timeout_max.as_nanos();
        let after = Duration::from_nanos(ctx.rng().range_inclusive(min, max));
        let id = ctx.set_timer(
            after,
            Timer::Election {
                generation: self.election_generation,
            },
        );
        self.election_timer = Some(id);
    }

    fn disarm_election_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.election_generation += 1;
        if let Some(old) = self.election_timer.take() {
            ctx.cancel_timer(old);
        }
    }

    fn arm_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(
            self.config.heartbeat,
            Timer::Heartbeat {
                generation: self.heartbeat_generation,
            },
        );
    }

    /// §5.1: a server that sees a higher term adopts it and reverts to follower.
    fn step_to_term(&mut self, ctx: &mut Ctx<'_, Self>, term: Term) {
        assert!(
            term > self.current_term,
            "step_to_term({term}) from {}",
            self.current_term
        );
        if self.role != Role::Follower {
            ctx.mark("raft.step_down");
        }
        self.current_term = term;
        self.voted_for = None;
        self.leader_id = None;
        self.persist_hard_state(ctx);
        self.become_follower(ctx);
    }

    fn become_follower(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(leader) = self.leader.take() {
            // Replying to the abandoned proposals would be wrong either way: they may still
            // commit under the next leader, so neither `Ok` nor `Fail` is known. The clients
            // time out and retry with the same request id, which the session table dedupes.
            if !leader.proposals.is_empty() {
                ctx.mark("raft.proposals_abandoned");
            }
            // Reads have no effect, so a redirect is exact for them.
            for read in leader.reads {
                ctx.reply(
                    read.client,
                    read.request,
                    Outcome::Redirect { leader: None },
                );
            }
        }
        // Disarms a leader's heartbeat or a candidate's vote retry.
        self.heartbeat_generation += 1;
        self.role = Role::Follower;
        self.votes.clear();
        self.voters_answered.clear();
        self.reset_election_timer(ctx);
    }

    /// §5.2: a follower whose election timer fired increments its term, votes for itself
    /// (durably: `on_synced` counts the vote once the disk has it) and asks every peer.
    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start_round(ctx, Role::Candidate, |candidate, ctx| {
            candidate.current_term = candidate.current_term.next();
            candidate.voted_for = Some(candidate.id);
            candidate.leader_id = None;
            candidate.persist_hard_state(ctx);
            // The new term and the vote for itself are in the disk's cache; nobody knows yet.
            ctx.crash_point("raft.after_candidacy");
            match candidate.unsynced.last() {
                // Its own vote counts once it is durable (see `on_synced`).
                Some(&(token, _)) => {
                    candidate.own_vote_unsynced = Some((candidate.current_term, token));
                }
                // R2 left the vote unsynced: the mutant counts it at once.
                None => {
                    candidate.votes.insert(candidate.id);
                }
            }
            ctx.observe(RaftObservation::Voted {
                term: candidate.current_term,
                candidate: candidate.id,
            });
        });
    }

    /// The round a candidate (§5.2) and a pre-candidate (thesis §9.6) share: forget the last
    /// round's votes and answers, cast its own vote (`own_vote`: a candidate's new term and
    /// durable vote, a pre-candidate's grant to itself), re-arm the election timer (which
    /// starts the next round if this one does not end), and win at once when that vote alone
    /// is a majority (a cluster of one), else ask every peer. The two differ only in the vote
    /// and in what winning means: a candidate becomes leader, a pre-candidate a candidate.
    fn start_round(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        role: Role,
        own_vote: impl FnOnce(&mut Self, &mut Ctx<'_, Self>),
    ) {
        assert!(
            self.role != Role::Leader,
            "{}: a leader does not start a {role:?} round",
            self.id
        );
        self.role = role;
        self.votes.clear();
        self.voters_answered.clear();
        own_vote(self, ctx);
        self.reset_election_timer(ctx);
        if self.votes.len() as u32 >= ctx.majority() {
            match role {
                Role::Candidate => self.become_leader(ctx),
                Role::PreCandidate => {
                    ctx.mark("raft.pre_vote_won");
                    self.start_election(ctx);
                }
                role => panic!("{}: a {role:?} round", self.id),
            }
            return;
        }
        self.ask_voters(ctx);
    }

    /// Sends a candidate's RequestVote or a pre-candidate's PreVote to every peer, and arms
    /// its retry: "servers retry RPCs if they do not receive a response in a timely manner"
    /// (§5.1).
    fn ask_voters(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.broadcast(self.vote_request());
        self.heartbeat_generation += 1;
        self.arm_heartbeat(ctx);
    }

    /// A candidate's RequestVote for its term, or a pre-candidate's PreVote for the next.
    fn vote_request(&self) -> Message {
        let candidate = self.id;
        let last_log_index = self.log.last_index();
        let last_log_term = self.log.last_term();
        match self.role {
            Role::Candidate => Message::RequestVote {
                term: self.current_term,
                candidate,
                last_log_index,
                last_log_term,
            },
            Role::PreCandidate => Message::PreVote {
                term: self.current_term.next(),
                candidate,
                last_log_index,
                last_log_term,
            },
            role => panic!("{}: a {role:?} asks for no votes", self.id),
        }
    }

    /// A candidate (or pre-candidate) asks again every voter that has not answered: a lost
    /// request or answer would otherwise cost a whole election timeout, and a voter that
    /// restarted meanwhile gets to answer.
    fn on_vote_retry(&mut self, ctx: &mut Ctx<'_, Self>) {
        let mark = match self.role {
            Role::Candidate => "raft.vote_retried",
            Role::PreCandidate => "raft.pre_vote_retried",
            role => panic!("{}: vote retry armed as {role:?}", self.id),
        };
        for peer in ctx.peers() {
            if !self.voters_answered.contains(&peer) {
                ctx.mark(mark);
                ctx.send(peer, self.vote_request());
            }
        }
        self.arm_heartbeat(ctx);
    }

    /// Thesis §9.6: instead of incrementing its term, a server whose election timer fired asks
    /// every peer whether it could win an election for the next term. Nothing persistent
    /// changes (a candidate of a failed election keeps its term and its own vote); only a
    /// majority of grants, itself included, starts the real election. Until then the election
    /// timer, re-armed here, starts the next round, and silent peers are asked again every
    /// heartbeat interval as a candidate does.
    fn start_pre_vote(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start_round(ctx, Role::PreCandidate, |pre_candidate, _| {
            pre_candidate.votes.insert(pre_candidate.id);
        });
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader"
        );
        assert!(
            self.votes.len() as u32 >= ctx.majority(),
            "votes={} majority={}",
            self.votes.len(),
            ctx.majority()
        );
        self.role = Role::Leader;
        self.leader_id = Some(self.id);
        ctx.observe(RaftObservation::BecameLeader {
            term: self.current_term,
            log: self.log.terms(),
        });
        self.disarm_election_timer(ctx);
        let node_count = ctx.node_count() as usize;
        self.leader = Some(LeaderState {
            next_index: vec![self.log.last_index().next(); node_count],
            match_index: vec![LogIndex::ZERO; node_count],
            in_flight: vec![None; node_count],
            held: vec![false; node_count],
            noop_pending: false,
            acked_round: vec![0; node_count],
            round: 0,
            proposals: BTreeMap::new(),
            reads: Vec::new(),
            heard: BTreeSet::new(),
            quorum_checked_at: ctx.now(),
        });
        self.heartbeat_generation += 1;
        self.arm_heartbeat(ctx);
        let start = if self.config.buggify {
            // BUGGIFY: one leader in four is quiet until its first heartbeat; one in four
            // catches followers up first and appends its no-op at the first heartbeat.
            match ctx.rng().below(4) {
                0 => LeaderStart::Quiet,
                1 => LeaderStart::LateNoop,
                _ => LeaderStart::Normal,
            }
        } else {
            LeaderStart::Normal
        };
        if start == LeaderStart::LateNoop {
            ctx.mark("raft.buggify_late_noop");
            self.leader
                .as_mut()
                .expect("just became leader")
                .noop_pending = true;
        } else {
            self.append_noop(ctx);
        }
        if start == LeaderStart::Quiet {
            ctx.mark("raft.buggify_quiet_leader");
            let leader = self.leader.as_mut().expect("just became leader");
            leader.held.fill(true);
        }
        self.replicate_to_all(ctx);
        self.advance_leader_commit(ctx);
    }

    /// §8: a blank no-op at the start of the term commits the entries of earlier terms
    /// (which §5.4.2 forbids committing by counting replicas) and lets reads proceed.
    fn append_noop(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.store_entry(
            ctx,
            Entry {
                term: self.current_term,
                payload: Payload::Noop,
            },
        );
        self.sync_log(ctx);
    }

    /// BUGGIFY's coin: true for one call in four when `config.buggify` is on.
    fn buggify(&self, ctx: &mut Ctx<'_, Self>) -> bool {
        self.config.buggify && ctx.rng().below(4) == 0
    }

    // ----- replication --------------------------------------------------------------------

    /// Sends new entries to every follower that has none outstanding.
    fn replicate_to_all(&mut self, ctx: &mut Ctx<'_, Self>) {
        for peer in ctx.peers() {
            self.replicate_to(ctx, peer, Send::NewEntries);
        }
    }

    /// Sends `peer` what `purpose` calls for (see [`Send`]).
    fn replicate_to(&mut self, ctx: &mut Ctx<'_, Self>, peer: NodeId, purpose: Send) {
        let leader = self.leader.as_ref().expect("only leaders replicate");
        let outstanding = leader.in_flight[peer.index()].is_some();
        let waiting = leader.held[peer.index()];
        let next_index = match purpose {
            Send::NewEntries if outstanding || waiting => return,
            // Its answer must carry the new round, but sending entries again would duplicate
            // the batch in flight: an empty AppendEntries at matchIndex, where the follower's
            // log is known to agree, succeeds without touching its log.
            Send::Round if outstanding => {
                let match_index = leader.match_index[peer.index()];
                self.send_append_entries(ctx, peer, match_index.next(), 0);
                return;
            }
            Send::NewEntries | Send::Round | Send::Heartbeat => leader.next_index[peer.index()],
        };
        let max_count = self.batch_limit(ctx);
        let last_sent = self.send_append_entries(ctx, peer, next_index, max_count);
        let leader = self.leader.as_mut().expect("only leaders replicate");
        leader.in_flight[peer.index()] = (last_sent >= next_index).then_some(last_sent);
    }

    /// How many entries the next AppendEntries may carry: a power of two drawn uniformly (so
    /// log-uniformly) up to `max_entries_per_append`. Real systems bound batches in bytes, so
    /// the entry count of a batch varies with the entries' sizes; varying it here makes every
    /// prefix length of a catch-up reach followers in some run, including the splits where
    /// entries of an earlier term reach a majority before the current term's no-op does
    /// (Figure 8). With a maximum of 1 every batch is one entry.
    fn batch_limit(&self, ctx: &mut Ctx<'_, Self>) -> usize {
        let max_count = self.config.max_entries_per_append;
        let exponent_max = max_count.ilog2();
        let exponent = ctx.rng().below(u64::from(exponent_max) + 1) as u32;
        (1usize << exponent).min(max_count)
    }

    /// Sends AppendEntries with up to `max_count` entries from `next_index`; returns the index
    /// of the last entry sent (`next_index - 1` when none).
    fn send_append_entries(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        peer: NodeId,
        next_index: LogIndex,
        max_count: usize,
    ) -> LogIndex {
        let leader = self.leader.as_ref().expect("only leaders replicate");
        assert!(next_index > LogIndex::ZERO, "next_index of {peer} is 0");
        assert!(
            next_index <= self.log.last_index().next(),
            "next_index={next_index} of {peer} past last_index={}",
            self.log.last_index()
        );
        let prev_log_index = next_index.previous();
        let prev_log_term = self
            .log
            .term_at(prev_log_index)
            .expect("prev_log_index is inside the log");
        let entries = self.log.entries_from(next_index, max_count);
        let last_sent = LogIndex(prev_log_index.0 + entries.len() as u64);
        ctx.send(
            peer,
            Message::AppendEntries {
                term: self.current_term,
                leader: self.id,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: self.commit_index,
                round: leader.round,
            },
        );
        last_sent
    }

    /// The commit rule (Figure 2, §5.4.2): commitIndex advances to the largest N replicated on
    /// a majority, and only if log[N] is of the current term.
    fn advance_leader_commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let leader = self.leader.as_ref().expect("only leaders count replicas");
        // The leader counts itself only for entries on its disk: an unsynced entry could be
        // lost by a crash after the commit was announced (etcd#14370). R6 counts them anyway.
        let own = if self.bug(bugs::ACK_BEFORE_FSYNC) {
            self.log.last_index()
        } else {
            self.durable_index
        };
        let mut matches: Vec<LogIndex> = leader.match_index.clone();
        matches[self.id.index()] = own;
        matches.sort_unstable_by(|a, b| b.cmp(a));
        let majority_index = matches[ctx.majority() as usize - 1];
        if majority_index <= self.commit_index {
            return;
        }
        let term = self
            .log
            .term_at(majority_index)
            .expect("a replicated index is in the leader's log");
        if term != self.current_term {
            if !self.bug(bugs::COMMIT_PRIOR_TERM) {
                // Figure 8: a majority holding an entry of an earlier term does not make it
                // safe; a candidate with a later last term can still win and overwrite it. It
                // commits indirectly once an entry of this term reaches a majority.
                ctx.mark("raft.commit_deferred_prior_term");
                return;
            }
            // R1: the mutant commits by counting; the mark shows a sweep reached the bug.
            ctx.mark("mutation.raft-commit-prior-term");
        }
        self.advance_commit_to(ctx, majority_index);
    }

    fn advance_commit_to(&mut self, ctx: &mut Ctx<'_, Self>, new_commit: LogIndex) {
        assert!(
            new_commit > self.commit_index,
            "commit {new_commit} <= {}",
            self.commit_index
        );
        assert!(
            new_commit <= self.log.last_index(),
            "commit {new_commit} past {}",
            self.log.last_index()
        );
        let mut index = self.commit_index;
        while index < new_commit {
            index = index.next();
            let entry = self
                .log
                .entry(index)
                .expect("committed entries are in the log");
            ctx.observe(RaftObservation::Committed {
                index,
                term: entry.term,
                digest: entry.payload_digest(),
                observer_term: self.current_term,
            });
        }
        self.commit_index = new_commit;
        // Committed, not yet applied nor answered.
        ctx.crash_point("raft.after_commit");
        self.apply_committed(ctx);
    }

    fn apply_committed(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied.next();
            let entry = self
                .log
                .entry(index)
                .expect("entries up to commitIndex are in the log")
                .clone();
            let outcome = match &entry.payload {
                Payload::Noop => None,
                Payload::Command(command) => Some(self.apply_command(ctx, command)),
            };
            self.last_applied = index;
            ctx.observe(RaftObservation::Applied {
                index,
                digest: entry.payload_digest(),
            });
            let owed = self
                .leader
                .as_mut()
                .and_then(|leader| leader.proposals.remove(&index));
            if let Some((client, request)) = owed {
                // Paired with the insertion in `on_request`: a leader never overwrites its own
                // entries, so what it applied at `index` is what it appended there.
                let Payload::Command(command) = &entry.payload else {
                    panic!("proposal at {index} is a no-op");
                };
                assert_eq!(
                    command.request, request,
                    "proposal at {index} holds another request"
                );
                ctx.reply(client, request, outcome.expect("commands have outcomes"));
            }
        }
        if self.role == Role::Leader {
            self.progress_reads(ctx);
        }
    }

    /// Applies a command once per request id (thesis §6.3).
    fn apply_command(&mut self, ctx: &mut Ctx<'_, Self>, command: &Command) -> Outcome {
        let applied = self.app.apply_command(command);
        match applied {
            Applied::Fresh(_) => {}
            Applied::Duplicate(_) => ctx.mark("raft.duplicate_not_applied"),
            // A retry of an older request of this slot, which has since moved on: the
            // original was applied or abandoned, and the client no longer waits for it.
            Applied::Stale => ctx.mark("raft.stale_retry_not_applied"),
        }
        applied.outcome()
    }

    // ----- reads ----------------------------------------------------------------------------

    /// Moves ReadIndex reads along: admit them once an entry of this term is committed, start
    /// a heartbeat round for them, confirm them on a majority of acknowledgements of that
    /// round, and answer them once the state machine has caught up with their read index.
    fn progress_reads(&mut self, ctx: &mut Ctx<'_, Self>) {
        let majority = ctx.majority() as usize;
        let id = self.id;
        let commit_index = self.commit_index;
        let last_applied = self.last_applied;
        let has_committed_own_term = self.log.term_at(commit_index) == Some(self.current_term);
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if leader.reads.is_empty() {
            return;
        }
        let mut new_round = false;
        if has_committed_own_term {
            for read in leader
                .reads
                .iter_mut()
                .filter(|read| read.read_index.is_none())
            {
                read.read_index = Some(commit_index);
                read.round = leader.round + 1;
                new_round = true;
            }
        }
        if new_round {
            leader.round += 1;
        }
        for read in leader
            .reads
            .iter_mut()
            .filter(|read| read.read_index.is_some() && !read.confirmed)
        {
            let acknowledged = leader
                .acked_round
                .iter()
                .enumerate()
                .filter(|&(node, &round)| node == id.index() || round >= read.round)
                .count();
            if acknowledged >= majority {
                read.confirmed = true;
                ctx.mark("raft.read_index_confirmed");
            }
        }
        let mut waiting = Vec::new();
        for read in std::mem::take(&mut leader.reads) {
            let ready =
                read.confirmed && read.read_index.is_some_and(|index| index <= last_applied);
            if ready {
                let outcome = self
                    .app
                    .query(&read.operation)
                    .expect("pending reads are read-only");
                ctx.reply(read.client, read.request, outcome);
            } else {
                waiting.push(read);
            }
        }
        leader.reads = waiting;
        if new_round {
            for peer in ctx.peers() {
                self.replicate_to(ctx, peer, Send::Round);
            }
        }
    }

    // ----- handlers -------------------------------------------------------------------------

    /// Is a response carrying `term` addressed to this node in its current `role` and term?
    /// A higher term makes this node adopt it and step down first (§5.1), so the response is
    /// then stale too; a lower term answers a request of an earlier term.
    fn is_current_response(&mut self, ctx: &mut Ctx<'_, Self>, term: Term, role: Role) -> bool {
        if term > self.current_term {
            self.step_to_term(ctx, term);
            return false;
        }
        self.role == role && term == self.current_term
    }

    fn on_request_vote(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: Term,
        candidate: NodeId,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        assert_eq!(from, candidate, "RequestVote relayed");
        if term < self.current_term {
            ctx.mark("raft.vote_rejected_term");
            ctx.send(
                from,
                Message::RequestVoteResponse {
                    term: self.current_term,
                    vote_granted: false,
                },
            );
            return;
        }
        if term > self.current_term {
            self.step_to_term(ctx, term);
        }
        let up_to_date = self.candidate_log_is_up_to_date(ctx, last_log_index, last_log_term);
        let free = self.voted_for.is_none() || self.voted_for == Some(candidate);
        if !up_to_date {
            ctx.mark("raft.vote_rejected_log");
        } else if !free {
            ctx.mark("raft.vote_rejected_already_voted");
        }
        let vote_granted = up_to_date && free;
        if vote_granted {
            if self.voted_for != Some(candidate) {
                self.voted_for = Some(candidate);
                // Durable before the response leaves (Figure 2, `send_when_durable` below): a
                // vote forgotten by a crash can be given again in the same term (R2).
                self.persist_hard_state(ctx);
            }
            ctx.observe(RaftObservation::Voted {
                term: self.current_term,
                candidate,
            });
            if self.role == Role::PreCandidate {
                // It voted for another candidate of its term, which is about to lead: standing
                // for the next term would only compete with it.
                self.become_follower(ctx);
            } else {
                self.reset_election_timer(ctx);
            }
        }
        let response = Message::RequestVoteResponse {
            term: self.current_term,
            vote_granted,
        };
        if vote_granted {
            self.send_when_durable(ctx, from, response);
            // The vote is logged (and, on an instant disk, sent).
            ctx.crash_point("raft.after_vote");
        } else {
            ctx.send(from, response);
        }
    }

    /// §5.4.1, the election restriction: is a candidate's log, ending at `last_log_index` in
    /// `last_log_term`, at least as up-to-date as ours? RequestVote and PreVote share the
    /// rule, as implementations share the comparison; R4 skips it (grants on the term alone).
    fn candidate_log_is_up_to_date(
        &self,
        ctx: &mut Ctx<'_, Self>,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) -> bool {
        let up_to_date = self.log.is_up_to_date(last_log_index, last_log_term);
        if !up_to_date && self.bug(bugs::NO_ELECTION_RESTRICTION) {
            ctx.mark("mutation.raft-no-election-restriction");
            return true;
        }
        up_to_date
    }

    /// Thesis §9.6: would this server vote for `candidate` in `term` (its currentTerm + 1)?
    /// Answering changes no state, neither term nor votedFor nor the election timer, so a
    /// server that is cut off and keeps asking disturbs nobody.
    ///
    /// It grants iff (1) `term` is above our currentTerm, (2) the candidate's log is at least
    /// as up-to-date as ours (§5.4.1), and (3) no current leader was heard from within
    /// `election_timeout_min` on our clock (a leader always refuses). For (1) we take the
    /// strict comparison: a grant then never depends on votedFor (a higher term frees the
    /// vote), and a pre-candidate one term behind learns our term from the answer's `term`
    /// (§5.1) and proposes one past it at its next timeout. The request's term is not
    /// adopted even when it is higher: the real RequestVote that may follow carries it.
    fn on_pre_vote(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: Term,
        candidate: NodeId,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        assert_eq!(from, candidate, "PreVote relayed");
        let pre_vote_granted = if term <= self.current_term {
            ctx.mark("raft.pre_vote_rejected_term");
            false
        } else if self.heard_from_leader_recently(ctx) {
            // The point of PreVote: a server that was cut off must not depose a leader that
            // the rest of the cluster still hears.
            ctx.mark("raft.pre_vote_rejected_leader_alive");
            false
        } else if !self.candidate_log_is_up_to_date(ctx, last_log_index, last_log_term) {
            ctx.mark("raft.pre_vote_rejected_log");
            false
        } else {
            ctx.mark("raft.pre_vote_granted");
            true
        };
        ctx.send(
            from,
            Message::PreVoteResponse {
                term: self.current_term,
                proposed_term: term,
                pre_vote_granted,
            },
        );
    }

    /// Does this server lead, or has it accepted an AppendEntries of its current term's leader
    /// within `election_timeout_min` (local clock)?
    fn heard_from_leader_recently(&self, ctx: &Ctx<'_, Self>) -> bool {
        if self.role == Role::Leader {
            return true;
        }
        let since_contact = self
            .leader_contact
            .map(|contact| ctx.now().saturating_since(contact));
        self.leader_id.is_some()
            && since_contact.is_some_and(|since| since < self.config.election_timeout_min)
    }

    fn on_pre_vote_response(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: Term,
        proposed_term: Term,
        pre_vote_granted: bool,
    ) {
        if term > self.current_term {
            // §5.1 on the voter's real term: this server was behind and now follows.
            self.step_to_term(ctx, term);
            return;
        }
        if self.role != Role::PreCandidate || proposed_term != self.current_term.next() {
            // An answer to a round this server has left (it won, or heard from a leader) or
            // to a round for another term.
            return;
        }
        self.voters_answered.insert(from);
        if pre_vote_granted {
            self.votes.insert(from);
            if self.votes.len() as u32 >= ctx.majority() {
                ctx.mark("raft.pre_vote_won");
                self.start_election(ctx);
            }
        }
    }

    fn on_request_vote_response(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: Term,
        vote_granted: bool,
    ) {
        if !self.is_current_response(ctx, term, Role::Candidate) {
            // A late answer to an election this node already won, lost or left.
            return;
        }
        self.voters_answered.insert(from);
        if vote_granted {
            self.votes.insert(from);
            if self.votes.len() as u32 >= ctx.majority() {
                self.become_leader(ctx);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // The fields of Figure 2's AppendEntries RPC.
    fn on_append_entries(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: Term,
        leader: NodeId,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: LogIndex,
        round: u64,
    ) {
        assert_eq!(from, leader, "AppendEntries relayed");
        let reject = |node: &Self, conflict_index: LogIndex| Message::AppendEntriesResponse {
            term: node.current_term,
            success: false,
            match_index: LogIndex::ZERO,
            conflict_index,
            round,
        };
        if term < self.current_term {
            // A deposed leader: the response carries our term so that it steps down.
            ctx.mark("raft.append_rejected_term");
            let response = reject(self, LogIndex::ZERO);
            ctx.send(from, response);
            return;
        }
        if term > self.current_term {
            self.step_to_term(ctx, term);
        } else if matches!(self.role, Role::Candidate | Role::PreCandidate) {
            // Another server won this term's election (§5.2); a pre-candidate hears that the
            // leader it missed is alive.
            self.become_follower(ctx);
        } else if self.role == Role::Leader {
            // Two leaders in one term: impossible unless a mutation broke election safety,
            // which the invariant checker has already reported.
            assert!(
                !self.config.bugs.is_empty(),
                "{} and {leader} both lead {term}",
                self.id
            );
            return;
        } else {
            self.reset_election_timer(ctx);
        }
        self.leader_id = Some(leader);
        self.leader_contact = Some(ctx.now());

        // The consistency check (§5.3).
        match self.log.term_at(prev_log_index) {
            None => {
                let response = reject(self, self.log.last_index().next());
                ctx.send(from, response);
                return;
            }
            Some(held) if held != prev_log_term => {
                let conflict_index = self.log.first_index_of_term(held, prev_log_index);
                let response = reject(self, conflict_index);
                ctx.send(from, response);
                return;
            }
            Some(_) => {}
        }

        let mut index = prev_log_index;
        let mut wrote = false;
        for entry in entries {
            index = index.next();
            match self.log.term_at(index) {
                // Log matching: same index and term means the same entry and prefix.
                Some(held) if held == entry.term => continue,
                Some(held) => {
                    // An existing entry conflicts with a new one: delete it and all that
                    // follow (§5.3). Committed entries never conflict (leader completeness).
                    if index <= self.commit_index {
                        assert!(
                            !self.config.bugs.is_empty(),
                            "{} truncating committed {index}",
                            self.id
                        );
                    }
                    let last_kept = index.previous();
                    ctx.mark("raft.truncate");
                    ctx.observe(RaftObservation::Truncated {
                        last_kept,
                        first_removed_term: held,
                        leader_term: self.current_term,
                    });
                    self.log.truncate(last_kept);
                    ctx.append(Record::Truncate { last_kept });
                    self.durable_index = self.durable_index.min(last_kept);
                    // A sync in flight vouches for none of the removed entries.
                    for (_, covered) in &mut self.unsynced {
                        *covered = (*covered).min(last_kept);
                    }
                    self.store_entry(ctx, entry);
                    wrote = true;
                }
                None => {
                    self.store_entry(ctx, entry);
                    wrote = true;
                }
            }
        }
        if wrote {
            self.sync_log(ctx);
        }
        // The index of the last entry this request vouches for; later entries of ours may be
        // stale ones from another leader, so they neither count as matched nor as committed.
        let match_index = index;
        if leader_commit > self.commit_index {
            let new_commit = leader_commit.min(match_index);
            if new_commit > self.commit_index {
                self.advance_commit_to(ctx, new_commit);
            }
        }
        let response = Message::AppendEntriesResponse {
            term: self.current_term,
            success: true,
            match_index,
            conflict_index: LogIndex::ZERO,
            round,
        };
        if self.bug(bugs::ACK_BEFORE_FSYNC) {
            // R6: the acknowledgement leaves before the entries are durable.
            ctx.send(from, response);
        } else {
            // Success vouches for the entries (and the term) on disk: a leader counts it
            // towards a majority.
            self.send_when_durable(ctx, from, response);
        }
        ctx.crash_point("raft.after_append_entries");
    }

    #[allow(clippy::too_many_arguments)] // The fields of Figure 2's AppendEntries response.
    fn on_append_entries_response(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: Term,
        success: bool,
        match_index: LogIndex,
        conflict_index: LogIndex,
        round: u64,
    ) {
        if !self.is_current_response(ctx, term, Role::Leader) {
            // An answer to a leader this node no longer is.
            return;
        }
        let last_index = self.log.last_index();
        let leader = self.leader.as_mut().expect("leaders have leader state");
        let peer = from.index();
        leader.acked_round[peer] = leader.acked_round[peer].max(round);
        leader.heard.insert(from);
        if success {
            assert!(
                match_index <= last_index,
                "{from} matched {match_index} past {last_index}"
            );
            // Responses may be reordered: matchIndex only grows.
            leader.match_index[peer] = leader.match_index[peer].max(match_index);
            leader.next_index[peer] = leader.next_index[peer].max(match_index.next());
            if leader.in_flight[peer].is_some_and(|last_sent| match_index >= last_sent) {
                leader.in_flight[peer] = None;
            }
            self.advance_leader_commit(ctx);
            if self.role == Role::Leader {
                self.progress_reads(ctx);
                let leader = self.leader.as_ref().expect("still leader");
                if leader.next_index[peer] <= self.log.last_index() {
                    if self.buggify(ctx) {
                        // The next heartbeat sends the next batch instead.
                        ctx.mark("raft.buggify_held_batch");
                        self.leader.as_mut().expect("still leader").held[peer] = true;
                    } else {
                        self.replicate_to(ctx, from, Send::NewEntries);
                    }
                }
            }
        } else {
            ctx.mark("raft.append_rejected_log");
            // Back up to the follower's hint, one step at least, never below what it matched.
            let backed = conflict_index.min(leader.next_index[peer].previous());
            leader.next_index[peer] = backed.max(leader.match_index[peer].next()).max(LogIndex(1));
            // Whatever was outstanding did not land where it was aimed: probe again from here.
            leader.in_flight[peer] = None;
            self.progress_reads(ctx);
            self.replicate_to(ctx, from, Send::NewEntries);
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        assert_eq!(self.role, Role::Leader);
        if self.config.check_quorum {
            let now = ctx.now();
            let majority = ctx.majority() as usize;
            let leader = self.leader.as_mut().expect("leaders have leader state");
            if now.saturating_since(leader.quorum_checked_at) >= self.config.election_timeout_max {
                let heard = leader.heard.len() + 1;
                leader.heard.clear();
                leader.quorum_checked_at = now;
                if heard < majority {
                    // Thesis §6.2: a leader cut off from a majority stops serving, so that
                    // clients find the new leader instead of waiting on this one.
                    ctx.mark("raft.check_quorum_step_down");
                    self.leader_id = None;
                    self.become_follower(ctx);
                    return;
                }
            }
        }
        let leader = self.leader.as_mut().expect("leaders have leader state");
        leader.held.fill(false);
        if std::mem::take(&mut leader.noop_pending) {
            self.append_noop(ctx);
            self.advance_leader_commit(ctx);
        }
        for peer in ctx.peers() {
            self.replicate_to(ctx, peer, Send::Heartbeat);
        }
        self.arm_heartbeat(ctx);
    }
}

impl<A: Application> Node for RaftNode<A> {
    type Config = Config<A>;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = RaftObservation;

    /// Lanes: a vote for itself starts a candidacy, `BecameLeader` a leadership; every other
    /// observation shows a term the node knows (an entry's term is at most its current one).
    fn lane(observation: &RaftObservation, node: NodeId) -> sim_core::observed::Lane {
        use sim_core::observed::Lane;
        match observation {
            RaftObservation::BecameLeader { term, .. } => Lane::Role {
                role: "leader",
                number: Some(term.0),
            },
            RaftObservation::Voted { term, candidate } if *candidate == node => Lane::Role {
                role: "candidate",
                number: Some(term.0),
            },
            RaftObservation::Voted { term, .. } | RaftObservation::Appended { term, .. } => {
                Lane::Number(term.0)
            }
            RaftObservation::Truncated { leader_term, .. } => Lane::Number(leader_term.0),
            RaftObservation::Committed { observer_term, .. } => Lane::Number(observer_term.0),
            RaftObservation::Applied { .. } => Lane::Nothing,
        }
    }

    fn recover(config: &Config<A>, id: NodeId, durable: &[Record]) -> Self {
        config.assert_valid();
        let mut current_term = Term(0);
        let mut voted_for = None;
        let mut log = Log::new();
        for record in durable {
            match record {
                Record::HardState {
                    term,
                    voted_for: vote,
                } => {
                    current_term = *term;
                    voted_for = *vote;
                }
                Record::Entry { index, entry } => {
                    // Paired with `store_entry`: records describe a contiguous log.
                    assert_eq!(
                        *index,
                        log.last_index().next(),
                        "{id}: entry record out of place"
                    );
                    log.append(entry.clone());
                }
                Record::Truncate { last_kept } => log.truncate(*last_kept),
            }
        }
        if current_term < log.last_term() {
            // Entries are only stored in a term the node has adopted, and the term is synced
            // first; so this only happens when R2 left the term unsynced.
            assert!(
                config.bugs.contains(bugs::VOTEDFOR_NOT_DURABLE),
                "{id}: term {current_term} below log"
            );
            current_term = log.last_term();
            voted_for = None;
        }
        RaftNode {
            config: config.clone(),
            id,
            current_term,
            voted_for,
            durable_index: log.last_index(),
            unsynced: Vec::new(),
            durable_answers: Vec::new(),
            own_vote_unsynced: None,
            recovered_with_log: log.last_index() > LogIndex::ZERO,
            log,
            commit_index: LogIndex::ZERO,
            last_applied: LogIndex::ZERO,
            // C2 switches deduplication off in there.
            app: Sessions::for_bugs(config.app.clone(), config.bugs),
            role: Role::Follower,
            votes: BTreeSet::new(),
            voters_answered: BTreeSet::new(),
            leader: None,
            leader_id: None,
            leader_contact: None,
            election_generation: 0,
            election_timer: None,
            heartbeat_generation: 0,
            sync_pending: false,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.recovered_with_log {
            ctx.mark("raft.recovered_with_log");
            ctx.crash_point("raft.recovering");
        }
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        match msg {
            Message::RequestVote {
                term,
                candidate,
                last_log_index,
                last_log_term,
            } => {
                self.on_request_vote(ctx, from, term, candidate, last_log_index, last_log_term);
            }
            Message::RequestVoteResponse { term, vote_granted } => {
                self.on_request_vote_response(ctx, from, term, vote_granted);
            }
            Message::PreVote {
                term,
                candidate,
                last_log_index,
                last_log_term,
            } => {
                self.on_pre_vote(ctx, from, term, candidate, last_log_index, last_log_term);
            }
            Message::PreVoteResponse {
                term,
                proposed_term,
                pre_vote_granted,
            } => {
                self.on_pre_vote_response(ctx, from, term, proposed_term, pre_vote_granted);
            }
            Message::AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
            } => {
                self.on_append_entries(
                    ctx,
                    from,
                    term,
                    leader,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    round,
                );
            }
            Message::AppendEntriesResponse {
                term,
                success,
                match_index,
                conflict_index,
                round,
            } => {
                self.on_append_entries_response(
                    ctx,
                    from,
                    term,
                    success,
                    match_index,
                    conflict_index,
                    round,
                );
            }
        }
        assert!(self.commit_index <= self.log.last_index() || !self.config.bugs.is_empty());
        assert!(self.last_applied <= self.commit_index);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Election { generation } => {
                if generation != self.election_generation {
                    return; // Superseded: reset or disarmed after it was set.
                }
                self.election_timer = None;
                if self.config.pre_vote {
                    self.start_pre_vote(ctx);
                } else {
                    self.start_election(ctx);
                }
            }
            Timer::Heartbeat { generation } => {
                if generation != self.heartbeat_generation {
                    return; // From an earlier leadership or candidacy.
                }
                match self.role {
                    Role::Leader => self.on_heartbeat(ctx),
                    Role::Candidate | Role::PreCandidate => self.on_vote_retry(ctx),
                    Role::Follower => panic!("{}: heartbeat armed as follower", self.id),
                }
            }
            Timer::DeferredSync => {
                if self.sync_pending {
                    self.sync(ctx);
                    if self.role == Role::Leader {
                        self.advance_leader_commit(ctx);
                    }
                }
            }
        }
    }

    /// Everything appended before the sync `token` is durable: the log up to the index it
    /// covered counts as the leader's own, a candidate's own vote counts, and the answers that
    /// waited for it leave.
    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        let durable_before = self.durable_index;
        let done = self.unsynced.partition_point(|&(t, _)| t <= token);
        if let Some(&(_, covered)) = self.unsynced[..done].last() {
            self.durable_index = self.durable_index.max(covered);
        }
        self.unsynced.drain(..done);
        let due = self.durable_answers.partition_point(|&(t, ..)| t <= token);
        for (_, to, msg) in self.durable_answers.drain(..due) {
            ctx.send(to, msg);
        }
        // Votes and acknowledgements that waited for this sync have left.
        ctx.crash_point("raft.after_sync");
        if let Some((term, vote_token)) = self.own_vote_unsynced {
            if vote_token <= token {
                self.own_vote_unsynced = None;
                if self.role == Role::Candidate && self.current_term == term {
                    self.votes.insert(self.id);
                    if self.votes.len() as u32 >= ctx.majority() {
                        self.become_leader(ctx);
                    }
                }
            }
        }
        if self.role == Role::Leader && self.durable_index > durable_before {
            self.advance_leader_commit(ctx);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if self.role != Role::Leader {
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: self.leader_id,
                },
            );
            return;
        }
        if let Some(outcome) = self.app.query(&request.operation) {
            if self.bug(bugs::STALE_READ_NO_READINDEX) {
                // R7: a leader that was deposed without knowing it answers from stale state.
                ctx.reply(request.client, request.id, outcome);
                return;
            }
            if self.config.read_mode == ReadMode::ReadIndex {
                let leader = self.leader.as_mut().expect("leaders have leader state");
                leader.reads.push(PendingRead {
                    client: request.client,
                    request: request.id,
                    operation: request.operation,
                    read_index: None,
                    round: 0,
                    confirmed: false,
                });
                self.progress_reads(ctx);
                return;
            }
        }
        if let Some(session) = self.app.session(request.client) {
            if session.request == request.id {
                // Applied already, hence committed: answering from the session table is exact.
                ctx.mark("raft.duplicate_answered_from_session");
                ctx.reply(request.client, request.id, session.outcome.clone());
                return;
            }
        }
        let leader = self.leader.as_ref().expect("leaders have leader state");
        if leader.proposals.values().any(|&(_, id)| id == request.id) {
            // A retry of a proposal still in flight: its reply is already owed.
            ctx.mark("raft.retry_in_flight");
            return;
        }
        let mut command = Command::from_request(&request, Stamp::now(self.current_term.0, ctx));
        // The hook through which an application (or its mutation) rewrites a fresh command
        // from the leader's applied state; the identity for every correct application.
        command.operation = self.app.app().prepare_proposal(&command.operation);
        let index = self.store_entry(
            ctx,
            Entry {
                term: self.current_term,
                payload: Payload::Command(ProposedCommand::new(command)),
            },
        );
        self.sync_log(ctx);
        let leader = self.leader.as_mut().expect("leaders have leader state");
        leader.proposals.insert(index, (request.client, request.id));
        self.replicate_to_all(ctx);
        self.advance_leader_commit(ctx);
    }
}
