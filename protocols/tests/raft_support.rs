//! Shared pieces of the Raft directed tests: a one-register application and request helpers.
//! (Compiled as its own, empty test target too; the `raft_*` tests include it with `mod`.)

#![allow(dead_code)]

use protocols::apps::{Application, Command};
use protocols::mutation::{Bug, BugSet};
use protocols::raft::harness::Cluster;
use protocols::raft::Config;
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Operation, Outcome};

/// A single integer register: write, read, cas. `applied` counts applications, so a test can
/// see a command applied twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Register {
    pub value: i64,
    pub applied: u64,
}

impl Application for Register {
    fn apply(&mut self, command: &Command) -> Outcome {
        let operation = &command.operation;
        match operation.f {
            Function::Read => Outcome::Ok {
                value: Value::Int(self.value),
                token: None,
            },
            Function::Write => {
                self.applied += 1;
                self.value = operation.value.as_int().expect("writes carry an integer");
                Outcome::Ok {
                    value: Value::Null,
                    token: None,
                }
            }
            Function::Cas => {
                self.applied += 1;
                let (from, to) = operation.value.as_pair().expect("cas carries a pair");
                if self.value == from {
                    self.value = to;
                    Outcome::Ok {
                        value: Value::Null,
                        token: None,
                    }
                } else {
                    Outcome::Fail
                }
            }
            other => panic!("register does not support {}", other.as_str()),
        }
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        (operation.f == Function::Read).then_some(Outcome::Ok {
            value: Value::Int(self.value),
            token: None,
        })
    }

    fn state_digest(&self) -> u64 {
        self.value as u64
    }
}

pub fn n(id: u32) -> NodeId {
    NodeId(id)
}

pub fn write(value: i64) -> Operation {
    Operation {
        f: Function::Write,
        key: None,
        value: Value::Int(value),
    }
}

pub fn read() -> Operation {
    Operation {
        f: Function::Read,
        key: None,
        value: Value::Null,
    }
}

pub fn ok(value: Value) -> Outcome {
    Outcome::Ok { value, token: None }
}

pub fn config(bugs: &[Bug]) -> Config<Register> {
    let mut config = Config::new(Register::default());
    config.bugs = bugs.iter().copied().collect::<BugSet>();
    config
}

pub fn cluster(node_count: u32, bugs: &[Bug]) -> Cluster<Register> {
    Cluster::new(node_count, config(bugs), 7)
}

/// Times out `leader`, delivers everything, and checks that it won.
pub fn elect(cluster: &mut Cluster<Register>, leader: NodeId) {
    cluster.timeout(leader);
    cluster.deliver_all();
    assert!(cluster.node(leader).is_leader(), "{leader} should lead");
}

/// Client 0's request `request` writes `value` through `leader`, fully replicated.
pub fn write_through(cluster: &mut Cluster<Register>, leader: NodeId, request: u64, value: i64) {
    cluster.request(leader, ClientId(0), RequestId(request), write(value));
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(request)), Some(&ok(Value::Null)));
}

/// Raft paper Figure 8 (BUGS.md R1's minimal schedule) on five nodes S1..S5 = n0..n4, with
/// one entry per AppendEntries so that exact prefixes replicate. Index 1 holds term 1's no-op
/// everywhere; the entry at index 2 is a leader's no-op too (ours, §8), which plays the role of
/// the figure's client entries. Returns the cluster and the first violation.
pub fn figure_8(bugs: &[Bug]) -> (Cluster<Register>, Option<sim_core::node::Violation>) {
    use protocols::raft::Term;
    let mut config = config(bugs);
    config.max_entries_per_append = 1;
    let mut cluster = Cluster::new(5, config, 8);
    elect(&mut cluster, n(0));
    cluster.heartbeat(n(0));
    cluster.deliver_all();

    // (a) S1 leads term 2 and replicates index 2 (term 2) to S2 only, then crashes.
    cluster.crash(n(0));
    cluster.restart(n(0));
    cluster.timeout(n(0));
    cluster.deliver_votes();
    assert!(cluster.node(n(0)).is_leader());
    assert_eq!(cluster.node(n(0)).current_term(), Term(2));
    cluster.deliver(n(0), n(1));
    cluster.deliver(n(1), n(0));
    cluster.crash(n(0));
    cluster.drop_all();

    // (b) S5 leads term 3 with votes of S3, S4 (S2 refuses: its log is longer in term 2),
    // appends index 2 (term 3) locally only, and crashes.
    cluster.timeout(n(4));
    cluster.deliver_votes();
    assert!(cluster.node(n(4)).is_leader());
    assert_eq!(cluster.node(n(4)).current_term(), Term(3));
    cluster.crash(n(4));
    cluster.drop_all();

    // (c) S1 restarts and leads term 4 (its first try, term 3, finds S3 and S4 voted for S5).
    cluster.restart(n(0));
    cluster.timeout(n(0));
    cluster.deliver_votes();
    cluster.timeout(n(0));
    cluster.deliver_votes();
    assert!(cluster.node(n(0)).is_leader());
    assert_eq!(cluster.node(n(0)).current_term(), Term(4));
    // S2 takes term 4's no-op; S3 refuses it (no index 2), gets index 2 (term 2) instead.
    cluster.deliver(n(0), n(1));
    cluster.deliver(n(0), n(2));
    cluster.drop_where(|envelope| envelope.from == n(0) && envelope.to == n(3));
    cluster.deliver(n(1), n(0));
    cluster.deliver(n(2), n(0));
    cluster.deliver(n(0), n(2));
    assert_eq!(cluster.node(n(2)).log().terms(), vec![Term(1), Term(2)]);
    // Index 2 (term 2) is now on S1, S2, S3: a majority, but not of term 4 (§5.4.2).
    cluster.deliver(n(2), n(0));
    // S1 crashes before any term-4 entry reaches a majority.
    cluster.drop_all();
    cluster.crash(n(0));

    // (d) S5 restarts and leads term 5 with S3 and S4 (its last term 3 beats S3's 2); it
    // overwrites index 2 everywhere it can reach.
    cluster.restart(n(4));
    cluster.timeout(n(4));
    cluster.deliver_votes();
    if cluster.violation().is_none() && !cluster.node(n(4)).is_leader() {
        cluster.timeout(n(4));
        cluster.deliver_votes();
    }
    assert!(cluster.node(n(4)).is_leader());
    assert_eq!(cluster.node(n(4)).current_term(), Term(5));
    if cluster.violation().is_none() {
        for _ in 0..4 {
            cluster.deliver_all();
            cluster.heartbeat(n(4));
        }
        cluster.deliver_all();
        assert_eq!(
            cluster.node(n(2)).log().terms(),
            vec![Term(1), Term(3), Term(5)]
        );
    }
    let violation = cluster.violation().cloned();
    (cluster, violation)
}
