//! A replica of the replicated coordinator: one member of a Raft group whose log is the
//! coordinator's [`CoordinatorLog`]. The group's leader plays the coordinator; the others only
//! replicate (and redirect clients to the leader).
//!
//! The leader acts on a record only once the log has applied it (Raft answers the proposer when
//! it applies the entry): PREPARE leaves once BEGIN is applied, COMMIT or ABORT once the
//! decision is, and the client hears the decision then. Votes, acknowledgements and the
//! timers are the leader's volatile state, lost with its office. A new leader, once it has
//! applied an entry of its own term (so its applied state holds every record committed before
//! its term, Raft §5.4.2 and §8), **takes over**: it proposes ABORT for every transaction
//! begun and undecided (the votes went to its predecessor) and re-sends COMMIT for every
//! committed one without END. An inquiry is answered from an applied decision; about an
//! undecided transaction the leader proposes ABORT and answers with whatever decision the log
//! applies first (see [`coordinator_log`](super::coordinator_log)).
//!
//! With the group's majority up and connected, a participant in doubt therefore waits for an
//! election (a few hundred milliseconds), never for a crashed coordinator to come back.

use super::coordinator::{audit_reply, work_of};
use super::coordinator_log::{
    CoordinatorLog, CoordinatorRecord, Decision, ABORTED, COMMITTED, DECIDED_HERE, FRESH,
};
use super::message::{Message, Observation, Record, Speaks, Timer};
use super::{bugs, Config, TxnId};
use crate::group::{Embeds, Group, Handed};
use crate::raft::{self, RaftNode, Term};
use sim_core::history::Value;
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use sim_core::node::{Ctx, Outcome, Request, SyncToken};
use std::collections::{BTreeMap, BTreeSet};

type NodeCtx<'a, 'b, N> = &'a mut Ctx<'b, N>;

/// The Raft group a replica belongs to.
pub type CoordinatorGroup = Group<RaftNode<CoordinatorLog>>;

/// The client slot of the leader's own proposals (far above any scenario's clients).
const PROPOSER: ClientId = ClientId(u32::MAX - 1);

/// What a replica needs of its node: two-phase commit's messages, and Raft embedded.
pub trait Hosts: Speaks + Embeds<RaftNode<CoordinatorLog>> {}

impl<N: Speaks + Embeds<RaftNode<CoordinatorLog>>> Hosts for N {}

/// A transaction the leader sent PREPARE for, collecting votes.
#[derive(Debug)]
struct Collecting {
    yes: BTreeSet<NodeId>,
    reads: BTreeMap<u32, i64>,
    vote_timer: TimerId,
}

/// A committed transaction whose COMMIT is not acknowledged by every participant yet.
/// `waited`: a resend tick has passed since it was sent.
#[derive(Debug)]
struct Committing {
    unacked: BTreeSet<NodeId>,
    waited: bool,
}

/// The leader's volatile state for one term of office.
#[derive(Debug)]
struct Tenure {
    term: Term,
    /// The proposals' next sequence number (request ids grow within the control slot).
    next_proposal: u64,
    /// Has it taken over its predecessors' open transactions?
    taken_over: bool,
    /// Proposed, not yet applied, by their control request id.
    proposed: BTreeMap<RequestId, CoordinatorRecord>,
    /// Client requests with a BEGIN proposed and not yet applied.
    beginning: BTreeSet<RequestId>,
    collecting: BTreeMap<TxnId, Collecting>,
    /// A decision proposed, not yet applied.
    deciding: BTreeSet<TxnId>,
    committing: BTreeMap<TxnId, Committing>,
    /// Participants that asked about a transaction the log does not know.
    inquirers: BTreeMap<TxnId, BTreeSet<NodeId>>,
}

/// A coordinator replica.
#[derive(Debug)]
pub struct Replica {
    group: CoordinatorGroup,
    /// Leading and its term's state, or `None`.
    tenure: Option<Tenure>,
}

impl Replica {
    /// The Raft configuration of the coordinator's group.
    pub fn raft_config(config: &Config) -> raft::Config<CoordinatorLog> {
        let raft = &config.raft;
        raft::Config {
            election_timeout_min: raft.election_timeout_min,
            election_timeout_max: raft.election_timeout_max,
            heartbeat: raft.heartbeat,
            read_mode: raft.read_mode,
            check_quorum: raft.check_quorum,
            pre_vote: raft.pre_vote,
            max_entries_per_append: raft.max_entries_per_append,
            buggify: raft.buggify,
            bugs: raft.bugs,
            app: CoordinatorLog::new(),
        }
    }

    /// Rebuilds replica `id` from its disk (its Raft's records only).
    pub fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Replica {
        let records: Vec<raft::Record> = durable
            .iter()
            .map(|record| match record {
                Record::Raft(record) => record.clone(),
                other => panic!("coordinator replica {id} found {other:?}"),
            })
            .collect();
        Replica {
            group: Group::recover(
                &Replica::raft_config(config),
                id,
                0,
                config.coordinators(),
                &records,
            ),
            tenure: None,
        }
    }

    /// The group's applied log.
    fn log(&self) -> &CoordinatorLog {
        self.group.app()
    }

    /// After boot or restart.
    pub fn on_start<N: Hosts>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        let handed = self.group.on_start(ctx);
        self.after(ctx, config, handed);
        ctx.set_timer(config.resend_interval, Timer::Resend);
    }

    /// A Raft message from another replica.
    pub fn on_raft_message<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        from: NodeId,
        msg: raft::Message,
    ) {
        let handed = self.group.on_message(ctx, from, msg);
        self.after(ctx, config, handed);
    }

    /// A Raft timer fired.
    pub fn on_raft_timer<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        id: TimerId,
        timer: raft::Timer,
    ) {
        let handed = self.group.on_timer(ctx, id, timer);
        self.after(ctx, config, handed);
    }

    /// A sync completed (every record is Raft's).
    pub fn on_synced<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        token: SyncToken,
    ) {
        let handed = self.group.on_synced(ctx, token);
        self.after(ctx, config, handed);
    }

    /// What the group handed back: the answers to this leader's proposals, applied. Then the
    /// office: begun, lost, or ready to take over.
    fn after<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        handed: Vec<Handed<RaftNode<CoordinatorLog>>>,
    ) {
        for item in handed {
            match item {
                Handed::Reply { client, reply } => {
                    assert_eq!(
                        client, PROPOSER,
                        "only the leader's own proposals reach Raft"
                    );
                    let Some(tenure) = self.tenure.as_mut() else {
                        continue; // answered after the office ended: the next leader acts
                    };
                    let Some(record) = tenure.proposed.remove(&reply.id) else {
                        continue; // a proposal of an earlier term, answered late
                    };
                    let Outcome::Ok {
                        value: Value::Int(code),
                        ..
                    } = reply.outcome
                    else {
                        panic!("the coordinator log answered {:?}", reply.outcome);
                    };
                    self.on_applied(ctx, config, record, code);
                }
                // Raft's own checks (election safety, log matching, leader completeness,
                // state machine safety) run on the coordinator's group too.
                Handed::Observe { observation } => ctx.observe(Observation::Group { observation }),
            }
        }
        self.review_office(ctx, config);
    }

    fn review_office<N: Hosts>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        let raft = self.group.replica();
        let term = raft.current_term();
        if !raft.is_leader() || self.tenure.as_ref().is_some_and(|t| t.term != term) {
            if let Some(tenure) = self.tenure.take() {
                for collecting in tenure.collecting.values() {
                    ctx.cancel_timer(collecting.vote_timer);
                }
            }
        }
        if !self.group.is_leader() {
            return;
        }
        let tenure = self.tenure.get_or_insert_with(|| Tenure {
            term,
            next_proposal: 0,
            taken_over: false,
            proposed: BTreeMap::new(),
            beginning: BTreeSet::new(),
            collecting: BTreeMap::new(),
            deciding: BTreeSet::new(),
            committing: BTreeMap::new(),
            inquirers: BTreeMap::new(),
        });
        if tenure.taken_over {
            return;
        }
        // Ready once an entry of its own term is applied: every entry committed before the
        // term is then applied too (Raft §5.4.2, and the no-op every leader appends, §8).
        let raft = self.group.replica();
        if raft.log().term_at(raft.last_applied()) != Some(term) {
            return;
        }
        tenure.taken_over = true;
        let open: Vec<TxnId> = self.log().open().collect();
        if !open.is_empty() {
            ctx.mark("two_phase_commit.coordinator_took_over");
        }
        for txn in open {
            let tenure = self.tenure.as_ref().expect("leading");
            if tenure.collecting.contains_key(&txn)
                || tenure.deciding.contains(&txn)
                || tenure.committing.contains_key(&txn)
            {
                continue; // begun in this term already
            }
            match self.log().transaction(txn).expect("open").decision {
                None => {
                    // Its votes went to an earlier leader: abort it (R*'s coordinator that
                    // recovers without a decision aborts too).
                    ctx.mark("two_phase_commit.took_over_undecided");
                    self.propose_decision(ctx, config, txn, false);
                }
                Some(Decision::Commit) => {
                    ctx.mark("two_phase_commit.took_over_undelivered_commit");
                    self.act(ctx, txn, Decision::Commit, false);
                }
                Some(Decision::Abort) => unreachable!("an aborted transaction is not open"),
            }
        }
    }

    /// Hands a record to the group (the leader appends it; it is acted on once applied).
    fn propose<N: Hosts>(&mut self, ctx: NodeCtx<'_, '_, N>, record: CoordinatorRecord) {
        let tenure = self.tenure.as_mut().expect("only a leader proposes");
        // Ids grow in log order within the control slot, as Raft's session table wants: the
        // term leads, and one leader per term proposes in order.
        let id = RequestId((tenure.term.0 << 32) | tenure.next_proposal);
        tenure.next_proposal += 1;
        tenure.proposed.insert(id, record.clone());
        let request = Request {
            id,
            client: PROPOSER,
            process: ProcessId(u64::from(PROPOSER.0)),
            operation: record.to_operation(),
            attempt: 0,
        };
        let handed = self.group.on_request(ctx, request);
        for item in &handed {
            if let Handed::Reply { reply, .. } = item {
                panic!("a leader's proposal answered at once: {reply:?}");
            }
        }
    }

    fn propose_decision<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        txn: TxnId,
        commit: bool,
    ) {
        let tenure = self.tenure.as_mut().expect("leading");
        let reads = match tenure.collecting.remove(&txn) {
            Some(collecting) => {
                ctx.cancel_timer(collecting.vote_timer);
                collecting.reads
            }
            None => BTreeMap::new(),
        };
        if !tenure.deciding.insert(txn) {
            return; // proposed already
        }
        let record = if commit {
            let is_audit = self.log().transaction(txn).expect("begun").is_audit;
            let reply = if is_audit {
                audit_reply(config, &reads)
            } else {
                Value::Null
            };
            if config.bugs.contains(bugs::DECISION_NOT_LOGGED_BEFORE_SEND) {
                // T4 over the group: COMMIT leaves as the decision is proposed, before the
                // group has it. Wrong: a leader lost now takes the decision with it, and its
                // successor aborts the transaction some participants have committed.
                let participants = self.log().transaction(txn).expect("begun").participants();
                for participant in participants {
                    ctx.send(participant, Message::Commit { txn });
                }
            }
            CoordinatorRecord::Commit { txn, reply }
        } else {
            CoordinatorRecord::Abort { txn }
        };
        self.propose(ctx, record);
    }

    /// A proposal of this leader was applied; `code` is the log's answer.
    fn on_applied<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        record: CoordinatorRecord,
        code: i64,
    ) {
        match record {
            CoordinatorRecord::Begin {
                txn, request, work, ..
            } => {
                let tenure = self.tenure.as_mut().expect("leading");
                tenure.beginning.remove(&request);
                if code != FRESH {
                    return; // the request runs under another transaction, or none
                }
                let participants: Vec<NodeId> = work.iter().map(|(node, _)| *node).collect();
                for (participant, items) in work {
                    ctx.send(
                        participant,
                        Message::Prepare {
                            txn,
                            work: items,
                            participants: participants.clone(),
                        },
                    );
                }
                let vote_timer = ctx.set_timer(config.vote_timeout, Timer::VoteTimeout(txn));
                tenure.collecting.insert(
                    txn,
                    Collecting {
                        yes: BTreeSet::new(),
                        reads: BTreeMap::new(),
                        vote_timer,
                    },
                );
            }
            CoordinatorRecord::Commit { txn, .. } | CoordinatorRecord::Abort { txn } => {
                let decision = match code & !DECIDED_HERE {
                    COMMITTED => Decision::Commit,
                    ABORTED => Decision::Abort,
                    other => panic!("a decision answered {other}"),
                };
                self.act(ctx, txn, decision, code & DECIDED_HERE != 0);
            }
            CoordinatorRecord::End { .. } => {}
        }
    }

    /// Sends an applied decision to the participants and the client. `here`: this leader's
    /// proposal decided it (reported once to the checker).
    fn act<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        txn: TxnId,
        decision: Decision,
        here: bool,
    ) {
        let transaction = self.log().transaction(txn).expect("decided").clone();
        let tenure = self.tenure.as_mut().expect("leading");
        tenure.deciding.remove(&txn);
        if let Some(collecting) = tenure.collecting.remove(&txn) {
            ctx.cancel_timer(collecting.vote_timer);
        }
        let inquirers = tenure.inquirers.remove(&txn).unwrap_or_default();
        let participants = transaction.participants();
        if here {
            ctx.observe(Observation::Decided {
                txn,
                commit: decision == Decision::Commit,
                participants: participants.clone(),
            });
        }
        match decision {
            Decision::Commit => {
                for &participant in &participants {
                    ctx.send(participant, Message::Commit { txn });
                }
                tenure.committing.insert(
                    txn,
                    Committing {
                        unacked: participants.iter().copied().collect(),
                        waited: false,
                    },
                );
                if !transaction.is_audit {
                    ctx.observe(Observation::Acknowledged {
                        txn,
                        participants: participants.clone(),
                    });
                }
            }
            Decision::Abort => {
                let told: BTreeSet<NodeId> =
                    participants.iter().copied().chain(inquirers).collect();
                for participant in told {
                    ctx.send(participant, Message::Abort { txn });
                }
            }
        }
        if let Some((client, request)) = transaction.client_request {
            ctx.reply(client, request, transaction.outcome().expect("decided"));
        }
    }

    /// A client request: the leader begins a transaction for it (or answers a retry from the
    /// log); the others redirect to the leader they know.
    pub fn on_request<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        request: Request,
    ) {
        if self.tenure.is_none() {
            let leader = self.group.leader().filter(|&leader| leader != ctx.id());
            ctx.reply(request.client, request.id, Outcome::Redirect { leader });
            return;
        }
        if let Some(txn) = self.log().transaction_of(request.id) {
            ctx.mark("two_phase_commit.duplicate_request");
            if let Some(outcome) = self.log().transaction(txn).and_then(|t| t.outcome()) {
                ctx.reply(request.client, request.id, outcome);
            }
            // Undecided: the decision's leader answers it.
            return;
        }
        if self
            .tenure
            .as_ref()
            .expect("leading")
            .beginning
            .contains(&request.id)
        {
            ctx.mark("two_phase_commit.duplicate_request");
            return;
        }
        let Some((is_audit, work)) = work_of(config, &request) else {
            ctx.reply(request.client, request.id, Outcome::Fail);
            return;
        };
        let txn = TxnId(ctx.rng().next_u64());
        self.tenure
            .as_mut()
            .expect("leading")
            .beginning
            .insert(request.id);
        self.propose(
            ctx,
            CoordinatorRecord::Begin {
                txn,
                request: request.id,
                client: request.client,
                is_audit,
                work: work.into_iter().collect(),
            },
        );
    }

    /// A participant's vote.
    pub fn on_vote<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        from: NodeId,
        txn: TxnId,
        yes: bool,
        reads: Vec<(u32, i64)>,
    ) {
        let Some(tenure) = self.tenure.as_mut() else {
            return; // not leading: the vote was for an earlier office, ignored on purpose
        };
        let Some(collecting) = tenure.collecting.get_mut(&txn) else {
            return; // decided or deciding already, or another leader's: ignored on purpose
        };
        if !yes {
            self.propose_decision(ctx, config, txn, false);
            return;
        }
        let participants = self.group.app().transaction(txn).expect("begun").work.len();
        collecting.yes.insert(from);
        collecting.reads.extend(reads);
        if collecting.yes.len() == participants {
            self.propose_decision(ctx, config, txn, true);
        }
    }

    /// No answer from every participant in time: abort.
    pub fn on_vote_timeout<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        txn: TxnId,
    ) {
        let collecting = self
            .tenure
            .as_ref()
            .is_some_and(|tenure| tenure.collecting.contains_key(&txn));
        if !collecting {
            return; // decided before the timer fired, or the office ended
        }
        ctx.mark("two_phase_commit.vote_timeout");
        // T1 as in the single coordinator: silence counted as YES.
        let commit = config.bugs.contains(bugs::COMMIT_WITHOUT_UNANIMOUS_YES);
        self.propose_decision(ctx, config, txn, commit);
    }

    /// A participant applied the COMMIT.
    pub fn on_ack<N: Hosts>(&mut self, ctx: NodeCtx<'_, '_, N>, from: NodeId, txn: TxnId) {
        let Some(tenure) = self.tenure.as_mut() else {
            return; // not leading: ignored on purpose
        };
        let Some(committing) = tenure.committing.get_mut(&txn) else {
            return; // ended already, or another leader's: a duplicate
        };
        committing.unacked.remove(&from);
        if committing.unacked.is_empty() {
            tenure.committing.remove(&txn);
            self.propose(ctx, CoordinatorRecord::End { txn });
        }
    }

    /// An in-doubt participant asks for the decision (every replica is asked; the leader
    /// answers).
    pub fn on_inquire<N: Hosts>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        from: NodeId,
        txn: TxnId,
    ) {
        let Some(tenure) = self.tenure.as_mut() else {
            return; // not leading: the leader answers
        };
        match self.group.app().transaction(txn).and_then(|t| t.decision) {
            Some(Decision::Commit) => {
                ctx.mark("two_phase_commit.inquiry_answered_commit");
                ctx.send(from, Message::Commit { txn });
            }
            Some(Decision::Abort) => {
                ctx.mark("two_phase_commit.inquiry_answered_abort");
                ctx.send(from, Message::Abort { txn });
            }
            None if tenure.collecting.contains_key(&txn) => {
                ctx.mark("two_phase_commit.inquiry_while_collecting");
            }
            None => {
                // Undecided in the log as applied here: never presume, decide. The log keeps
                // the first decision, so a COMMIT of an earlier leader still wins.
                ctx.mark("two_phase_commit.inquiry_decided_by_log");
                tenure.inquirers.entry(txn).or_default().insert(from);
                self.propose_decision(ctx, config, txn, false);
            }
        }
    }

    /// The periodic re-send of COMMITs not yet acknowledged.
    pub fn on_resend_timer<N: Hosts>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        ctx.set_timer(config.resend_interval, Timer::Resend);
        let Some(tenure) = self.tenure.as_mut() else {
            return;
        };
        for (&txn, committing) in &mut tenure.committing {
            if !committing.waited {
                committing.waited = true;
                continue;
            }
            for &participant in &committing.unacked {
                ctx.mark("two_phase_commit.decision_resent");
                ctx.send(participant, Message::Commit { txn });
            }
        }
    }
}
