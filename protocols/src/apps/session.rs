//! Exactly-once client sessions (Raft thesis §6.3): a table, part of the replicated state, that
//! remembers for every client slot the last request it applied and that request's answer.
//!
//! A client retries a request (same [`RequestId`]) when its reply was lost or its server
//! crashed after applying it. Without the table the retry is applied a second time: a counter
//! counts twice, a cas that took effect answers `fail` to its retry, a write overwrites a later
//! write of another client. With the table the retry gets the cached answer and changes nothing.
//!
//! The table needs one entry per client slot because the workload guarantees two things: a
//! slot has at most one outstanding operation, and the request ids of one slot increase over
//! time. So a command of slot `c` is one of:
//!
//! 1. newer than the last applied one of `c`: apply it, cache its answer;
//! 2. the same: a retry; answer from the cache without applying;
//! 3. older: a delayed copy of a request whose client has moved on (it timed out and its
//!    operation is indeterminate in the history). Applying it now would be wrong: the client's
//!    later operations already happened, and a write reordered after them would violate
//!    real-time order in the slot's own sequence. It is dropped, and its "answer" is
//!    [`Outcome::Unknown`]; nobody waits for it.
//!
//! The table is part of the replicated state: every replica applies the same commands through
//! it, it goes into snapshots, and it is in the digest. Deliberate simplification: entries never
//! expire (the thesis expires sessions); with one entry per client slot the table is bounded by
//! the scenario's client count.

use super::{digest_outcome, Application, Command};
use crate::mutation::BugSet;
use sim_core::id::{ClientId, RequestId};
use sim_core::node::{Operation, Outcome};
use sim_core::trace::Digest;
use std::collections::BTreeMap;

/// The remembered last request of one client slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The last request of the slot that was applied.
    pub request: RequestId,
    /// Its answer, returned again to retries.
    pub outcome: Outcome,
}

/// What [`Sessions::apply_command`] did with a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new request: it was applied; this is its answer.
    Fresh(Outcome),
    /// A retry of the last applied request: not applied again; this is the cached answer.
    Duplicate(Outcome),
    /// Older than the slot's last applied request: dropped unapplied (nobody waits for it).
    Stale,
}

impl Applied {
    /// The answer to send to the client: the outcome, or `Unknown` for a stale request.
    pub fn outcome(&self) -> Outcome {
        match self {
            Applied::Fresh(outcome) | Applied::Duplicate(outcome) => outcome.clone(),
            Applied::Stale => Outcome::Unknown,
        }
    }

    /// Did the command change the application state (is it a fresh request)?
    pub fn is_fresh(&self) -> bool {
        matches!(self, Applied::Fresh(_))
    }
}

/// An application wrapped with the client-session table. It is itself an [`Application`], so a
/// protocol drives `Sessions<Kv>` exactly as it would drive `Kv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sessions<A: Application> {
    app: A,
    sessions: BTreeMap<ClientId, Session>,
    /// False only for the mutation that removes the session table (BUGS.md C2,
    /// `counter-retry-not-idempotent`): every command is then applied, retries included.
    deduplicate: bool,
}

impl<A: Application + Default> Default for Sessions<A> {
    fn default() -> Self {
        Sessions::new(A::default())
    }
}

impl<A: Application> Sessions<A> {
    /// `app` behind an empty session table.
    pub fn new(app: A) -> Sessions<A> {
        Sessions {
            app,
            sessions: BTreeMap::new(),
            deduplicate: true,
        }
    }

    /// `app` with the session table switched off: every command, retries included, is applied.
    /// This is the classic bug of BUGS.md C2, for mutations only.
    pub fn without_deduplication(app: A) -> Sessions<A> {
        Sessions {
            app,
            sessions: BTreeMap::new(),
            deduplicate: false,
        }
    }

    /// `app` behind the session table a protocol with these switched-on bugs uses: without
    /// deduplication under C2 `counter-retry-not-idempotent`, the correct table otherwise.
    /// Protocols build their table here so that the mutation lives in one place.
    pub fn for_bugs(app: A, bugs: BugSet) -> Sessions<A> {
        if bugs.contains(crate::apps::counter::bugs::RETRY_NOT_IDEMPOTENT) {
            Sessions::without_deduplication(app)
        } else {
            Sessions::new(app)
        }
    }

    /// The wrapped application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The session of client slot `client`, if it ever applied a request.
    pub fn session(&self, client: ClientId) -> Option<&Session> {
        self.sessions.get(&client)
    }

    /// Does this table deduplicate (false only under the C2 mutation)?
    pub fn is_deduplicating(&self) -> bool {
        self.deduplicate
    }

    /// The answer for `command` when it must not be applied (a retry of the slot's last
    /// request, or an older request), or `None` when it is fresh. [`Sessions::apply_command`]
    /// follows this rule; protocols that must know before applying (to put only fresh
    /// commands in a stream) ask here.
    pub fn cached(&self, command: &Command) -> Option<Applied> {
        if !self.deduplicate {
            return None;
        }
        let session = self.sessions.get(&command.client)?;
        if command.request == session.request {
            return Some(Applied::Duplicate(session.outcome.clone()));
        }
        if command.request < session.request {
            // Case 3 of the module documentation: a delayed copy of a request the client
            // has given up on. Dropping it is allowed, since an indeterminate operation may
            // also never take effect.
            return Some(Applied::Stale);
        }
        None
    }

    /// Applies `command` at most once per request id; see the module documentation.
    pub fn apply_command(&mut self, command: &Command) -> Applied {
        if let Some(cached) = self.cached(command) {
            return cached;
        }
        if !self.deduplicate {
            return Applied::Fresh(self.app.apply(command));
        }
        let outcome = self.app.apply(command);
        let previous = self.sessions.insert(
            command.client,
            Session {
                request: command.request,
                outcome: outcome.clone(),
            },
        );
        if let Some(previous) = previous {
            assert!(
                previous.request < command.request,
                "client {} applied request {:?} after {:?}",
                command.client,
                command.request,
                previous.request
            );
        }
        Applied::Fresh(outcome)
    }
}

impl<A: Application> Application for Sessions<A> {
    /// A stale command answers [`Outcome::Unknown`]; use [`Sessions::apply_command`] to tell
    /// fresh, duplicate and stale commands apart.
    fn apply(&mut self, command: &Command) -> Outcome {
        self.apply_command(command).outcome()
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        self.app.query(operation)
    }

    /// The wrapped application decides (the session table proposes nothing of its own).
    fn prepare_proposal(&self, operation: &Operation) -> Operation {
        self.app.prepare_proposal(operation)
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("sessions");
        digest.word(self.app.state_digest());
        digest.word(self.sessions.len() as u64);
        for (client, session) in &self.sessions {
            digest.word(u64::from(client.0));
            digest.word(session.request.0);
            digest_outcome(&mut digest, &session.outcome);
        }
        digest.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::kv::Kv;
    use sim_core::history::{Function, Value};

    fn command(client: u32, request: u64, f: Function, value: Value) -> Command {
        crate::apps::test_command(client, request, f, Some(0), value)
    }

    fn ok_null() -> Outcome {
        Outcome::Ok {
            value: Value::Null,
            token: None,
        }
    }

    /// A minimal counter, to show the table is not specific to kv: `add` is not idempotent, so
    /// a double application is visible in the value.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    struct Counter {
        value: i64,
    }

    impl Application for Counter {
        fn apply(&mut self, command: &Command) -> Outcome {
            match command.operation.f {
                Function::Add => {
                    self.value += command.operation.value.as_int().expect("integer delta");
                    ok_null()
                }
                Function::Read => Outcome::Ok {
                    value: Value::Int(self.value),
                    token: None,
                },
                other => panic!("counter has no {other:?}"),
            }
        }
        fn query(&self, _: &Operation) -> Option<Outcome> {
            None
        }
        fn state_digest(&self) -> u64 {
            self.value as u64
        }
    }

    #[test]
    fn retried_add_applies_once_and_gets_the_cached_answer() {
        let mut sessions = Sessions::new(Counter::default());
        let add = command(1, 10, Function::Add, Value::Int(5));
        assert_eq!(sessions.apply_command(&add), Applied::Fresh(ok_null()));
        assert_eq!(sessions.apply_command(&add), Applied::Duplicate(ok_null()));
        assert_eq!(sessions.app().value, 5);
        assert_eq!(
            sessions.session(ClientId(1)),
            Some(&Session {
                request: RequestId(10),
                outcome: ok_null()
            })
        );
    }

    #[test]
    fn without_the_table_a_retried_add_applies_twice() {
        // The negative space: this is the bug the table exists to prevent (BUGS.md C2).
        let mut bare = Counter::default();
        let add = command(1, 10, Function::Add, Value::Int(5));
        bare.apply(&add);
        bare.apply(&add);
        assert_eq!(bare.value, 10);
        let mut mutated = Sessions::without_deduplication(Counter::default());
        mutated.apply(&add);
        mutated.apply(&add);
        assert_eq!(mutated.app().value, 10);
        assert!(!mutated.is_deduplicating());
    }

    #[test]
    fn retried_write_does_not_overwrite_a_later_write_of_another_client() {
        // 1. Client 1 writes 5; 2. client 2 writes 7; 3. client 1's retry of step 1 arrives.
        let write5 = command(1, 10, Function::Write, Value::Int(5));
        let write7 = command(2, 20, Function::Write, Value::Int(7));
        let mut bare = Kv::new();
        for c in [&write5, &write7, &write5] {
            bare.apply(c);
        }
        assert_eq!(
            bare.get(Some(0)),
            Some(5),
            "without sessions the retry clobbers 7"
        );
        let mut sessions = Sessions::new(Kv::new());
        for c in [&write5, &write7, &write5] {
            sessions.apply(c);
        }
        assert_eq!(sessions.app().get(Some(0)), Some(7));
    }

    #[test]
    fn retried_cas_answers_ok_again_instead_of_fail() {
        let write = command(1, 1, Function::Write, Value::Int(1));
        let cas = command(2, 2, Function::Cas, Value::pair(1, 2));
        let mut bare = Kv::new();
        bare.apply(&write);
        assert_eq!(bare.apply(&cas), ok_null());
        assert_eq!(
            bare.apply(&cas),
            Outcome::Fail,
            "without sessions the retry is told fail"
        );
        let mut sessions = Sessions::new(Kv::new());
        sessions.apply(&write);
        assert_eq!(sessions.apply(&cas), ok_null());
        assert_eq!(sessions.apply(&cas), ok_null());
    }

    #[test]
    fn failed_outcomes_are_cached_too() {
        let mut sessions = Sessions::new(Kv::new());
        let cas = command(1, 3, Function::Cas, Value::pair(1, 2));
        assert_eq!(sessions.apply_command(&cas), Applied::Fresh(Outcome::Fail));
        // Another client makes the compare true; the retry must still answer the first result.
        sessions.apply(&command(2, 4, Function::Write, Value::Int(1)));
        assert_eq!(
            sessions.apply_command(&cas),
            Applied::Duplicate(Outcome::Fail)
        );
        assert_eq!(sessions.app().get(Some(0)), Some(1));
    }

    #[test]
    fn older_request_of_a_slot_is_dropped_unapplied() {
        let mut sessions = Sessions::new(Kv::new());
        sessions.apply(&command(1, 8, Function::Write, Value::Int(8)));
        let delayed = command(1, 7, Function::Write, Value::Int(7));
        assert_eq!(sessions.apply_command(&delayed), Applied::Stale);
        assert_eq!(sessions.apply(&delayed), Outcome::Unknown);
        assert_eq!(sessions.app().get(Some(0)), Some(8));
        assert_eq!(sessions.session(ClientId(1)).unwrap().request, RequestId(8));
    }

    #[test]
    fn digest_covers_the_table_and_replicas_agree() {
        let commands = [
            command(1, 1, Function::Write, Value::Int(1)),
            command(2, 2, Function::Cas, Value::pair(1, 2)),
            command(2, 2, Function::Cas, Value::pair(1, 2)),
        ];
        let mut a = Sessions::new(Kv::new());
        let mut b = Sessions::new(Kv::new());
        for c in &commands {
            a.apply(c);
            b.apply(c);
        }
        assert_eq!(a.state_digest(), b.state_digest());
        assert_eq!(a, b);
        // Same application state, different session tables: different digests.
        let mut c = Sessions::new(Kv::new());
        c.apply(&command(3, 9, Function::Write, Value::Int(2)));
        assert_eq!(c.app(), a.app());
        assert_ne!(c.state_digest(), a.state_digest());
        assert_eq!(a.query(&commands[0].operation), None);
        let read = Operation {
            f: Function::Read,
            key: Some(0),
            value: Value::Null,
        };
        assert_eq!(
            a.query(&read),
            Some(Outcome::Ok {
                value: Value::Int(2),
                token: None
            })
        );
    }
}
