//! The replicated coordinator's log: two-phase commit's coordinator records as the commands of
//! a replicated state machine, so that the coordinator survives the loss of any minority of
//! its replicas (Gray & Lamport, "Consensus on Transaction Commit", TODS 2006, §5: the
//! transaction manager's decision made fault tolerant by consensus; Corbett et al., "Spanner",
//! OSDI 2012, §4.2.1: the coordinator leader of a Paxos group logs its records through the
//! group).
//!
//! The commands are the single coordinator's durable records, plus BEGIN:
//!
//! - **BEGIN** `txn`: the request it runs, its client, and each participant's work. The leader
//!   sends PREPARE only once BEGIN is applied, so every transaction a participant can be in
//!   doubt about is in the log, and a new leader knows every transaction still open.
//! - **COMMIT** / **ABORT** `txn`: the decision. **The first decision applied wins**; a later
//!   one for the same transaction changes nothing. Two leaders (a deposed one and its
//!   successor) may both propose a decision; the log orders them, and every replica keeps the
//!   first. An ABORT of a begun request doubles as the single coordinator's REFUSED record:
//!   a retry of the request is answered FAIL from it.
//! - **END** `txn`: every participant acknowledged the COMMIT.
//!
//! The applied state is the table the single coordinator rebuilds from its disk after a crash
//! (committed transactions, refused and committed requests), so a new leader knows every
//! decision as soon as it has applied its log.
//!
//! **No presumed abort on local knowledge.** The single coordinator answers ABORT to an
//! inquiry about a transaction it has no COMMIT record for. A replica must not: its applied
//! state may lag the log (a new Raft leader has not necessarily applied the entries of earlier
//! terms: Raft §5.4.2 and §8, a leader knows which entries are committed only once an entry of
//! its own term is). Instead the leader *proposes* ABORT and answers once the log has applied
//! a decision: since the first decision wins, the answer is whatever the log decided, COMMIT
//! included. Presumed abort survives in this form: a transaction with no record is aborted by
//! the record the inquiry causes.

use super::{Access, TxnId, Work};
use crate::apps::{Application, Command};
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Operation, Outcome};
use sim_core::trace::Digest;
use std::collections::{BTreeMap, BTreeSet};

const BEGIN: i64 = 1;
const COMMIT: i64 = 2;
const ABORT: i64 = 3;
const END: i64 = 4;

/// The answer to a proposer: BEGIN was applied (`FRESH`) or ignored (its request or
/// transaction was begun already).
pub const FRESH: i64 = 1;
/// The answer to a decision: the transaction is committed ...
pub const COMMITTED: i64 = 1;
/// ... or aborted ...
pub const ABORTED: i64 = 0;
/// ... and, added, this very command decided it (not an earlier one).
pub const DECIDED_HERE: i64 = 2;

/// One record of the coordinator's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordinatorRecord {
    /// A transaction begins: the leader sends PREPARE once this is applied.
    Begin {
        /// The transaction.
        txn: TxnId,
        /// The client request it runs.
        request: RequestId,
        /// The client slot.
        client: ClientId,
        /// An audit (its reply is the balances read).
        is_audit: bool,
        /// Each participant's part, in node order.
        work: Vec<(NodeId, Vec<Work>)>,
    },
    /// Decide COMMIT (unless decided already), with the client's answer.
    Commit {
        /// The transaction.
        txn: TxnId,
        /// The answer's value (an audit's balances).
        reply: Value,
    },
    /// Decide ABORT (unless decided already).
    Abort {
        /// The transaction.
        txn: TxnId,
    },
    /// Every participant acknowledged the COMMIT.
    End {
        /// The transaction.
        txn: TxnId,
    },
}

impl CoordinatorRecord {
    /// The operation that carries this record through the log.
    pub fn to_operation(&self) -> Operation {
        let mut words: Vec<i64> = Vec::new();
        match self {
            CoordinatorRecord::Begin {
                txn,
                request,
                client,
                is_audit,
                work,
            } => {
                words.extend([
                    BEGIN,
                    txn.0 as i64,
                    request.0 as i64,
                    i64::from(client.0),
                    i64::from(*is_audit),
                    work.len() as i64,
                ]);
                for (node, items) in work {
                    words.extend([i64::from(node.0), items.len() as i64]);
                    for item in items {
                        match item.access {
                            Access::Read => words.extend([i64::from(item.account), 0, 0]),
                            Access::Add(delta) => words.extend([i64::from(item.account), 1, delta]),
                        }
                    }
                }
            }
            CoordinatorRecord::Commit { txn, reply } => {
                words.extend([COMMIT, txn.0 as i64]);
                match reply {
                    Value::Null => words.push(-1),
                    Value::List(items) => {
                        words.push(items.len() as i64);
                        words.extend(
                            items
                                .iter()
                                .map(|item| item.as_int().expect("an audit reads integers")),
                        );
                    }
                    other => panic!("a coordinator's reply is null or balances, not {other}"),
                }
            }
            CoordinatorRecord::Abort { txn } => words.extend([ABORT, txn.0 as i64]),
            CoordinatorRecord::End { txn } => words.extend([END, txn.0 as i64]),
        }
        Operation {
            f: Function::Write,
            key: None,
            value: Value::List(words.into_iter().map(Value::Int).collect()),
        }
    }

    /// The record an operation carries.
    ///
    /// # Panics
    /// If the operation is not one of [`CoordinatorRecord::to_operation`]'s: only the
    /// coordinator's replicas propose to this log.
    pub fn from_operation(operation: &Operation) -> CoordinatorRecord {
        assert!(
            operation.f == Function::Write && operation.key.is_none(),
            "not a coordinator record: {operation}"
        );
        let Value::List(items) = &operation.value else {
            panic!("not a coordinator record: {operation}");
        };
        let words: Vec<i64> = items
            .iter()
            .map(|item| item.as_int().expect("records are integers"))
            .collect();
        let txn = TxnId(words[1] as u64);
        match words[0] {
            BEGIN => {
                let mut at = 6;
                let mut work = Vec::new();
                for _ in 0..words[5] {
                    let node = NodeId(words[at] as u32);
                    let count = words[at + 1] as usize;
                    at += 2;
                    let items = words[at..at + 3 * count]
                        .chunks(3)
                        .map(|triple| Work {
                            account: triple[0] as u32,
                            access: if triple[1] == 0 {
                                Access::Read
                            } else {
                                Access::Add(triple[2])
                            },
                        })
                        .collect();
                    at += 3 * count;
                    work.push((node, items));
                }
                assert_eq!(at, words.len(), "a BEGIN's words all read");
                CoordinatorRecord::Begin {
                    txn,
                    request: RequestId(words[2] as u64),
                    client: ClientId(words[3] as u32),
                    is_audit: words[4] != 0,
                    work,
                }
            }
            COMMIT => CoordinatorRecord::Commit {
                txn,
                reply: if words[2] < 0 {
                    Value::Null
                } else {
                    Value::List(words[3..].iter().map(|&b| Value::Int(b)).collect())
                },
            },
            ABORT => CoordinatorRecord::Abort { txn },
            END => CoordinatorRecord::End { txn },
            tag => panic!("unknown coordinator record tag {tag}"),
        }
    }
}

/// A transaction's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Every participant voted YES.
    Commit,
    /// A NO, a missing vote, a lost leader or an inquiry.
    Abort,
}

/// What the log knows of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The request and client it runs (`None`: aborted on an inquiry, never begun).
    pub client_request: Option<(ClientId, RequestId)>,
    /// An audit.
    pub is_audit: bool,
    /// Each participant's part (emptied at END).
    pub work: Vec<(NodeId, Vec<Work>)>,
    /// The first decision applied.
    pub decision: Option<Decision>,
    /// The client's answer to a commit.
    pub reply: Value,
    /// END applied.
    pub ended: bool,
}

impl Transaction {
    /// Its participants, in node order.
    pub fn participants(&self) -> Vec<NodeId> {
        self.work.iter().map(|(node, _)| *node).collect()
    }

    /// The client's answer once decided.
    pub fn outcome(&self) -> Option<Outcome> {
        Some(match self.decision? {
            Decision::Commit => Outcome::Ok {
                value: self.reply.clone(),
                token: None,
            },
            Decision::Abort => Outcome::Fail,
        })
    }
}

/// The coordinator's applied state: every transaction, and which are still open.
#[derive(Clone, Debug, Default)]
pub struct CoordinatorLog {
    txns: BTreeMap<TxnId, Transaction>,
    /// Each begun request's transaction (the first BEGIN of a request wins too).
    requests: BTreeMap<RequestId, TxnId>,
    /// Begun and not finished: undecided, or committed without END.
    open: BTreeSet<TxnId>,
}

impl CoordinatorLog {
    /// The empty log.
    pub fn new() -> CoordinatorLog {
        CoordinatorLog::default()
    }

    /// A transaction, if the log has any record of it.
    pub fn transaction(&self, txn: TxnId) -> Option<&Transaction> {
        self.txns.get(&txn)
    }

    /// The transaction a request runs, if begun.
    pub fn transaction_of(&self, request: RequestId) -> Option<TxnId> {
        self.requests.get(&request).copied()
    }

    /// The transactions a new leader must finish: undecided ones (to abort: their votes were
    /// the old leader's) and committed ones without END (to deliver).
    pub fn open(&self) -> impl Iterator<Item = TxnId> + '_ {
        self.open.iter().copied()
    }

    fn decide(&mut self, txn: TxnId, decision: Decision, reply: Value) -> Outcome {
        let entry = self.txns.entry(txn).or_insert_with(|| Transaction {
            client_request: None,
            is_audit: false,
            work: Vec::new(),
            decision: None,
            reply: Value::Null,
            ended: false,
        });
        let here = if entry.decision.is_none() {
            entry.decision = Some(decision);
            if decision == Decision::Commit {
                entry.reply = reply;
            } else {
                self.open.remove(&txn);
            }
            DECIDED_HERE
        } else {
            0
        };
        let code = match entry.decision.expect("decided") {
            Decision::Commit => COMMITTED,
            Decision::Abort => ABORTED,
        };
        Outcome::Ok {
            value: Value::Int(code + here),
            token: None,
        }
    }
}

impl Application for CoordinatorLog {
    fn apply(&mut self, command: &Command) -> Outcome {
        let ok = |code: i64| Outcome::Ok {
            value: Value::Int(code),
            token: None,
        };
        match CoordinatorRecord::from_operation(&command.operation) {
            CoordinatorRecord::Begin {
                txn,
                request,
                client,
                is_audit,
                work,
            } => {
                if self.requests.contains_key(&request) || self.txns.contains_key(&txn) {
                    // A second leader began the same request (its client retried there before
                    // the first BEGIN was applied), or an inquiry aborted the id first: the
                    // first record stands.
                    return ok(0);
                }
                assert!(!work.is_empty(), "{txn} begins with no participant");
                self.requests.insert(request, txn);
                self.open.insert(txn);
                self.txns.insert(
                    txn,
                    Transaction {
                        client_request: Some((client, request)),
                        is_audit,
                        work,
                        decision: None,
                        reply: Value::Null,
                        ended: false,
                    },
                );
                ok(FRESH)
            }
            CoordinatorRecord::Commit { txn, reply } => {
                // Pair of the leader's rule: COMMIT is proposed only for a begun transaction.
                assert!(self.txns.contains_key(&txn), "{txn}: COMMIT without BEGIN");
                self.decide(txn, Decision::Commit, reply)
            }
            CoordinatorRecord::Abort { txn } => self.decide(txn, Decision::Abort, Value::Null),
            CoordinatorRecord::End { txn } => {
                let entry = self.txns.get_mut(&txn).expect("END of a known transaction");
                assert_eq!(
                    entry.decision,
                    Some(Decision::Commit),
                    "{txn}: END without COMMIT"
                );
                if !entry.ended {
                    entry.ended = true;
                    entry.work.clear();
                    self.open.remove(&txn);
                }
                ok(0)
            }
        }
    }

    /// Nothing is read around the log: the replicas act on applied records only.
    fn query(&self, _operation: &Operation) -> Option<Outcome> {
        None
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("coordinator-log");
        digest.word(self.txns.len() as u64);
        for (txn, entry) in &self.txns {
            digest.word(txn.0);
            digest.word(match entry.decision {
                None => 0,
                Some(Decision::Commit) => 1,
                Some(Decision::Abort) => 2,
            });
            digest.word(u64::from(entry.ended));
            if let Some((client, request)) = entry.client_request {
                digest.word(u64::from(client.0));
                digest.word(request.0);
            }
        }
        digest.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::Stamp;
    use sim_core::id::ProcessId;

    const T: TxnId = TxnId(0xfeed_0000_0000_0001);

    fn command(seq: u64, record: &CoordinatorRecord) -> Command {
        Command {
            request: RequestId(seq),
            client: ClientId(u32::MAX - 1),
            process: ProcessId(0),
            operation: record.to_operation(),
            stamp: Stamp::default(),
        }
    }

    fn begin(txn: TxnId, request: u64) -> CoordinatorRecord {
        CoordinatorRecord::Begin {
            txn,
            request: RequestId(request),
            client: ClientId(2),
            is_audit: false,
            work: vec![
                (
                    NodeId(3),
                    vec![Work {
                        account: 0,
                        access: Access::Add(-7),
                    }],
                ),
                (
                    NodeId(4),
                    vec![
                        Work {
                            account: 5,
                            access: Access::Add(7),
                        },
                        Work {
                            account: 6,
                            access: Access::Read,
                        },
                    ],
                ),
            ],
        }
    }

    fn code(outcome: Outcome) -> i64 {
        match outcome {
            Outcome::Ok {
                value: Value::Int(code),
                ..
            } => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_record_survives_its_operation() {
        let records = [
            begin(T, 9),
            CoordinatorRecord::Commit {
                txn: T,
                reply: Value::Null,
            },
            CoordinatorRecord::Commit {
                txn: T,
                reply: Value::List(vec![Value::Int(3), Value::Int(-1), Value::Int(0)]),
            },
            CoordinatorRecord::Abort {
                txn: TxnId(u64::MAX),
            },
            CoordinatorRecord::End { txn: T },
        ];
        for record in records {
            assert_eq!(
                CoordinatorRecord::from_operation(&record.to_operation()),
                record
            );
        }
    }

    /// Two leaders decide the same transaction differently: the log's order picks the first,
    /// on every replica, and the second proposer learns it from its answer.
    #[test]
    fn the_first_decision_applied_wins() {
        let mut log = CoordinatorLog::new();
        assert_eq!(code(log.apply(&command(1, &begin(T, 9)))), FRESH);
        assert_eq!(log.open().collect::<Vec<_>>(), [T]);
        let commit = CoordinatorRecord::Commit {
            txn: T,
            reply: Value::Null,
        };
        assert_eq!(
            code(log.apply(&command(2, &commit))),
            COMMITTED + DECIDED_HERE
        );
        let abort = CoordinatorRecord::Abort { txn: T };
        assert_eq!(code(log.apply(&command(3, &abort))), COMMITTED);
        assert_eq!(log.transaction(T).unwrap().decision, Some(Decision::Commit));
        assert_eq!(log.open().collect::<Vec<_>>(), [T], "committed, not ended");
        log.apply(&command(4, &CoordinatorRecord::End { txn: T }));
        assert_eq!(log.open().count(), 0);

        let mut other = CoordinatorLog::new();
        other.apply(&command(1, &begin(T, 9)));
        assert_eq!(
            code(other.apply(&command(2, &abort))),
            ABORTED + DECIDED_HERE
        );
        assert_eq!(code(other.apply(&command(3, &commit))), ABORTED);
        assert_eq!(other.transaction(T).unwrap().outcome(), Some(Outcome::Fail));
        assert_eq!(other.open().count(), 0, "an abort needs no END");
    }

    /// An inquiry about a transaction the log has never begun aborts it by a record; its
    /// BEGIN, should it come later, is ignored, and a second BEGIN of the same request too.
    #[test]
    fn an_abort_without_begin_is_recorded_and_a_request_begins_once() {
        let mut log = CoordinatorLog::new();
        let abort = CoordinatorRecord::Abort { txn: T };
        assert_eq!(code(log.apply(&command(1, &abort))), ABORTED + DECIDED_HERE);
        assert_eq!(code(log.apply(&command(2, &begin(T, 9)))), 0);
        assert_eq!(log.transaction_of(RequestId(9)), None);
        let other = TxnId(5);
        assert_eq!(code(log.apply(&command(3, &begin(other, 9)))), FRESH);
        assert_eq!(code(log.apply(&command(4, &begin(TxnId(6), 9)))), 0);
        assert_eq!(log.transaction_of(RequestId(9)), Some(other));
        assert_eq!(
            log.transaction(other).unwrap().participants(),
            [NodeId(3), NodeId(4)]
        );
    }

    #[test]
    fn replicas_applying_the_same_records_agree() {
        let records = [
            begin(T, 9),
            CoordinatorRecord::Abort { txn: T },
            begin(TxnId(7), 10),
        ];
        let mut a = CoordinatorLog::new();
        let mut b = CoordinatorLog::new();
        for (seq, record) in records.iter().enumerate() {
            a.apply(&command(seq as u64, record));
            b.apply(&command(seq as u64, record));
        }
        assert_eq!(a.state_digest(), b.state_digest());
        a.apply(&command(9, &CoordinatorRecord::Abort { txn: TxnId(7) }));
        assert_ne!(a.state_digest(), b.state_digest());
    }
}
