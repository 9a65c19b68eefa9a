//! The single server's node: see the module documentation of
//! [`single_server`](crate::single_server).

use super::{Config, Durability, SERVER};
use crate::apps::kv::Kv;
use crate::apps::session::{Applied, Sessions};
use crate::apps::{Application, Command, Stamp};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};
use std::fmt;

/// Replicas never talk to each other: this type has no values.
#[derive(Clone, Debug)]
pub enum Message {}

/// The server sets no timers: this type has no values.
#[derive(Clone, Debug)]
pub enum Timer {}

/// A disk record: one applied command, in application order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1 for the first command ever applied, then 2, 3, ... (checked again on replay).
    pub index: u64,
    /// The command.
    pub command: Command,
}

/// What the server reports to the (empty) invariant checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A fresh command was applied as the `index`-th command.
    Applied {
        /// Its position in application order, from 1.
        index: u64,
        /// The request it came from.
        request: RequestId,
    },
}

/// A node of the single-server protocol, generic over the application it serves.
pub struct SingleServer<A: Application = Kv> {
    id: NodeId,
    config: Config<A>,
    state: Sessions<A>,
    /// How many fresh commands were applied (the index of the last [`Record`]).
    applied_count: u64,
    /// The last sync asked for and not yet completed.
    unsynced: Option<SyncToken>,
    /// Answers waiting for a sync: (token, client, request, outcome).
    unsynced_replies: Vec<(SyncToken, ClientId, RequestId, Outcome)>,
}

impl<A: Application> fmt::Debug for SingleServer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleServer")
            .field("id", &self.id)
            .field("applied_count", &self.applied_count)
            .field("state", &self.state)
            .finish()
    }
}

impl<A: Application> SingleServer<A> {
    /// Is this node the server (node 0)?
    pub fn is_server(&self) -> bool {
        self.id == SERVER
    }

    /// The application state with its session table.
    pub fn state(&self) -> &Sessions<A> {
        &self.state
    }

    /// How many fresh commands this server applied (since its last loss of state).
    pub fn applied_count(&self) -> u64 {
        self.applied_count
    }

    /// Applies a fresh command: persist it (when durable), then report it.
    fn on_request_fresh(&mut self, ctx: &mut Ctx<'_, Self>, command: Command) {
        self.applied_count += 1;
        let index = self.applied_count;
        let request = command.request;
        if self.config.durability == Durability::Synced {
            // Append and sync; the reply waits for the sync (`reply_when_durable`), so the
            // client never sees an answer for a command a crash could still lose.
            ctx.append(Record { index, command });
            self.unsynced = Some(ctx.sync());
            ctx.crash_point("single_server.after_append");
        }
        ctx.observe(Observation::Applied { index, request });
    }

    /// Answers once every command applied so far is durable: at once when no sync is in
    /// flight. Reads wait too: they may see a write a power loss could still take back.
    fn reply_when_durable(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        outcome: Outcome,
    ) {
        match self.unsynced {
            None => ctx.reply(client, id, outcome),
            Some(token) => self.unsynced_replies.push((token, client, id, outcome)),
        }
    }
}

impl<A: Application> Node for SingleServer<A> {
    type Config = Config<A>;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = Observation;

    fn recover(config: &Config<A>, id: NodeId, durable: &[Record]) -> Self {
        let mut server = SingleServer {
            id,
            config: config.clone(),
            state: Sessions::new(config.app.clone()),
            applied_count: 0,
            unsynced: None,
            unsynced_replies: Vec::new(),
        };
        if config.durability == Durability::InMemory || id != SERVER {
            // Neither ever appends, so there is nothing to replay.
            assert!(
                durable.is_empty(),
                "node {id} found {} records it never writes",
                durable.len()
            );
        }
        for record in durable {
            // Pair of the append in `on_request_fresh`: records are consecutive from 1, and each
            // was fresh when first applied, so it is fresh again when replayed in order.
            assert_eq!(
                record.index,
                server.applied_count + 1,
                "records out of order"
            );
            let applied = server.state.apply_command(&record.command);
            assert!(
                applied.is_fresh(),
                "replayed record {} was not fresh: {applied:?}",
                record.index
            );
            server.applied_count = record.index;
        }
        server
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.applied_count > 0 {
            ctx.mark("single_server.recovered_from_disk");
            ctx.crash_point("single_server.recovering");
        }
    }

    fn on_message(&mut self, _ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Message) {
        match msg {}
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {}
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if !self.is_server() {
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: Some(SERVER),
                },
            );
            return;
        }
        if let Some(outcome) = self.state.query(&request.operation) {
            self.reply_when_durable(ctx, request.client, request.id, outcome);
            return;
        }
        let command = Command::from_request(&request, Stamp::now(0, ctx));
        let applied = self.state.apply_command(&command);
        match &applied {
            Applied::Fresh(_) => self.on_request_fresh(ctx, command),
            Applied::Duplicate(_) => {
                // A retry of a command that is already durable (it was synced before its first
                // answer): answer it again, apply nothing.
                ctx.mark("single_server.duplicate_request");
            }
            Applied::Stale => {
                // A delayed copy of a request its client gave up on; the client no longer
                // listens, so the `Unknown` answer is only for completeness.
                ctx.mark("single_server.stale_request");
            }
        }
        self.reply_when_durable(ctx, request.client, request.id, applied.outcome());
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        if self.unsynced.is_some_and(|last| last <= token) {
            self.unsynced = None;
        }
        let due = self.unsynced_replies.partition_point(|&(t, ..)| t <= token);
        for (_, client, id, outcome) in self.unsynced_replies.drain(..due) {
            ctx.reply(client, id, outcome);
        }
        ctx.crash_point("single_server.after_durable_reply");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::history::{Function, Value};
    use sim_core::id::{ClientId, ProcessId};
    use sim_core::node::{Effect, Operation, Reply};
    use sim_core::prng::{Prng, Stream};
    use sim_core::time::Instant;

    type Server = SingleServer<Kv>;

    fn request(id: u64, client: u32, f: Function, value: Value) -> Request {
        Request {
            id: RequestId(id),
            client: ClientId(client),
            process: ProcessId(u64::from(client)),
            operation: Operation {
                f,
                key: Some(1),
                value,
            },
            attempt: 0,
        }
    }

    /// Delivers `request` to `node` by hand and returns the recorded effects.
    fn deliver(node: &mut Server, request: Request) -> Vec<Effect<Server>> {
        let mut rng = Prng::new(1, Stream::Node(node.id.0));
        let mut effects = Vec::new();
        let mut next_timer = 0;
        let mut ctx = Ctx::new(
            node.id,
            3,
            Instant(1_000),
            &mut rng,
            &mut effects,
            &mut next_timer,
        );
        node.on_request(&mut ctx, request);
        // An instant disk: the node hears of its sync once the handler is done.
        let synced = ctx.last_sync_token();
        if synced != SyncToken(0) {
            node.on_synced(&mut ctx, synced);
        }
        effects
    }

    fn reply_of(effects: &[Effect<Server>]) -> Outcome {
        let replies: Vec<&Reply> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Reply { reply, .. } => Some(reply),
                _ => None,
            })
            .collect();
        assert_eq!(replies.len(), 1, "exactly one reply in {effects:?}");
        replies[0].outcome.clone()
    }

    /// The synced records of `effects`: every append followed by a sync.
    fn synced_records(effects: &[Effect<Server>]) -> Vec<Record> {
        let mut synced = Vec::new();
        let mut pending = Vec::new();
        for effect in effects {
            match effect {
                Effect::Append { record } => pending.push(record.clone()),
                Effect::Sync { .. } => synced.append(&mut pending),
                _ => {}
            }
        }
        synced
    }

    fn ok(value: Value) -> Outcome {
        Outcome::Ok { value, token: None }
    }

    #[test]
    fn write_is_synced_before_it_is_acknowledged() {
        let mut server = Server::recover(&Config::default(), SERVER, &[]);
        let effects = deliver(&mut server, request(1, 0, Function::Write, Value::Int(5)));
        let position = |wanted: fn(&Effect<Server>) -> bool| effects.iter().position(wanted);
        let append = position(|e| matches!(e, Effect::Append { .. })).expect("append");
        let sync = position(|e| matches!(e, Effect::Sync { .. })).expect("sync");
        let reply = position(|e| matches!(e, Effect::Reply { .. })).expect("reply");
        assert!(append < sync && sync < reply, "{effects:?}");
        assert_eq!(reply_of(&effects), ok(Value::Null));
    }

    #[test]
    fn other_nodes_redirect_to_node_0() {
        let mut other = Server::recover(&Config::default(), NodeId(2), &[]);
        let effects = deliver(&mut other, request(1, 0, Function::Read, Value::Null));
        assert_eq!(
            reply_of(&effects),
            Outcome::Redirect {
                leader: Some(SERVER)
            }
        );
        assert_eq!(effects.len(), 1, "a redirect changes nothing");
    }

    #[test]
    fn recover_from_synced_records_restores_state_and_sessions() {
        let mut server = Server::recover(&Config::default(), SERVER, &[]);
        let mut disk = Vec::new();
        disk.extend(synced_records(&deliver(
            &mut server,
            request(1, 0, Function::Write, Value::Int(5)),
        )));
        let cas = request(2, 1, Function::Cas, Value::pair(5, 6));
        disk.extend(synced_records(&deliver(&mut server, cas.clone())));
        assert_eq!(disk.len(), 2);

        // Crash: all volatile state is gone; the node is rebuilt from the synced records.
        let mut restarted = Server::recover(&Config::default(), SERVER, &disk);
        assert_eq!(restarted.state(), server.state());
        assert_eq!(restarted.applied_count(), 2);
        let read = deliver(&mut restarted, request(3, 2, Function::Read, Value::Null));
        assert_eq!(reply_of(&read), ok(Value::Int(6)));
        // The client retries its cas (its first reply was lost): the restored session table
        // answers `ok` again instead of applying it a second time and answering `fail`.
        let retry = deliver(&mut restarted, cas);
        assert_eq!(reply_of(&retry), ok(Value::Null));
        assert!(retry.iter().any(|e| matches!(
            e,
            Effect::Mark {
                name: "single_server.duplicate_request"
            }
        )));
        assert!(
            synced_records(&retry).is_empty(),
            "a duplicate is not persisted again"
        );
    }

    #[test]
    fn in_memory_server_forgets_acknowledged_writes_on_crash() {
        let config = Config {
            durability: Durability::InMemory,
            ..Config::default()
        };
        let mut server = Server::recover(&config, SERVER, &[]);
        let effects = deliver(&mut server, request(1, 0, Function::Write, Value::Int(5)));
        assert_eq!(reply_of(&effects), ok(Value::Null));
        assert!(synced_records(&effects).is_empty());
        let mut restarted = Server::recover(&config, SERVER, &[]);
        let read = deliver(&mut restarted, request(2, 0, Function::Read, Value::Null));
        assert_eq!(
            reply_of(&read),
            ok(Value::Null),
            "the acknowledged write is lost"
        );
    }

    #[test]
    fn failed_cas_is_answered_fail_and_still_recorded_for_its_retries() {
        let mut server = Server::recover(&Config::default(), SERVER, &[]);
        let effects = deliver(&mut server, request(1, 0, Function::Cas, Value::pair(1, 2)));
        assert_eq!(reply_of(&effects), Outcome::Fail);
        // The failed command updated the session table, so it is part of the durable history.
        assert_eq!(synced_records(&effects).len(), 1);
    }

    #[test]
    #[should_panic(expected = "records out of order")]
    fn replay_rejects_a_gap_in_the_records() {
        let command = Command::from_request(
            &request(1, 0, Function::Write, Value::Int(1)),
            Stamp::default(),
        );
        Server::recover(&Config::default(), SERVER, &[Record { index: 2, command }]);
    }
}
