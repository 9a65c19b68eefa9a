//! A primary-backup replica: see the module documentation of
//! [`primary_backup`](crate::primary_backup).

use super::message::{Epoch, Message, Offset, Role};
use super::{Config, Replication};
use crate::apps::kv::Kv;
use crate::apps::session::{Applied, Sessions};
use crate::apps::{Application, Command, Stamp};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// An answer the primary holds until the stream is committed up to `offset`: durable on its
/// own disk and, with `replication: Sync`, acknowledged by every live backup.
#[derive(Clone, Debug)]
struct HeldReply {
    offset: Offset,
    client: ClientId,
    id: RequestId,
    outcome: Outcome,
}

/// The node's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The periodic tick: every `heartbeat`, broadcast a heartbeat and (at a backup) consider
    /// failover.
    Tick,
    /// `replication_delay` after the first unshipped write of `epoch`'s stream: ship every
    /// unshipped write. Ignored once the node no longer leads `epoch`.
    Ship {
        /// The epoch whose stream the held-back writes belong to.
        epoch: Epoch,
    },
}

/// A disk record. Replayed in order by [`Node::recover`].
#[derive(Clone, Debug)]
pub enum Record<A: Application> {
    /// The node adopted a higher epoch; when `epoch.primary` is the node itself, it promoted
    /// itself at its current state.
    Epoch {
        /// The epoch.
        epoch: Epoch,
    },
    /// The node replaced its state with the primary's snapshot of `epoch`'s stream.
    Snapshot {
        /// The stream the state belongs to.
        epoch: Epoch,
        /// Its position.
        offset: Offset,
        /// The state.
        state: Sessions<A>,
    },
    /// The node applied the command at `offset` of its stream.
    Entry {
        /// The command's offset.
        offset: Offset,
        /// The command.
        command: Command,
    },
}

/// Moments reported for the timeline (there are no invariants to check: see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The node promoted itself to primary of `epoch` with its state at `offset`.
    Promoted {
        /// The new epoch.
        epoch: Epoch,
        /// The stream position it starts from.
        offset: Offset,
    },
    /// The node was primary of `epoch` and heard of the higher `new_epoch`.
    SteppedDown {
        /// The epoch it led.
        epoch: Epoch,
        /// The epoch it adopted.
        new_epoch: Epoch,
    },
    /// The node replaced its state with a snapshot of `epoch`'s stream at `offset`.
    SnapshotInstalled {
        /// The stream.
        epoch: Epoch,
        /// Its position.
        offset: Offset,
    },
}

/// A replica of asynchronous primary-backup replication, generic over the application.
pub struct PrimaryBackup<A: Application = Kv> {
    id: NodeId,
    config: Config<A>,
    /// The highest epoch this node knows (durable).
    epoch: Epoch,
    /// The epoch whose stream `state` is a prefix of (durable). Equal to `epoch` at the primary;
    /// older at a backup that has not yet taken the new primary's snapshot.
    synced_epoch: Epoch,
    /// The application with its session table, at `offset` of `synced_epoch`'s stream.
    state: Sessions<A>,
    offset: Offset,
    /// The commands at offsets `log_start + 1 ..= offset`, kept for resending.
    log: BTreeMap<Offset, Command>,
    log_start: Offset,
    /// When each peer was last heard from, on the local clock (volatile).
    last_heard: BTreeMap<NodeId, Instant>,
    /// The stream length the primary last announced (volatile; a backup's staleness hint).
    primary_offset: Offset,
    /// At the primary, the end of the stream as released to the backups (volatile): commands
    /// after it wait for the `Ship` timer and are neither streamed nor resent. Equal to
    /// `offset` when `replication_delay` is zero.
    shipped: Offset,
    /// The epoch of the pending `Ship` timer, if one is armed (volatile).
    ship_armed: Option<Epoch>,
    /// Syncs asked for and not yet completed, with the stream position each makes durable
    /// (volatile).
    syncs: VecDeque<(SyncToken, Epoch, Offset)>,
    /// The stream position known to be on disk (volatile; everything replayed is).
    durable: (Epoch, Offset),
    /// At the primary, answers waiting for their commit, in stream order (volatile).
    held: VecDeque<HeldReply>,
    /// At the primary with `replication: Sync`, each backup's acknowledged durable offset in
    /// this epoch's stream (volatile).
    acked: BTreeMap<NodeId, Offset>,
    /// At the primary, when each backup's last `Ack` of this epoch arrived, on the local clock
    /// (volatile): `min_replicas_to_write` counts the backups heard within the lag window.
    ack_heard: BTreeMap<NodeId, Instant>,
    /// Each peer's stream position as its last heartbeat said (volatile): with
    /// `replication: Sync` the most up-to-date live backup takes over.
    peer_positions: BTreeMap<NodeId, (Epoch, Offset)>,
}

impl<A: Application> fmt::Debug for PrimaryBackup<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrimaryBackup")
            .field("id", &self.id)
            .field("epoch", &self.epoch)
            .field("synced_epoch", &self.synced_epoch)
            .field("offset", &self.offset)
            .field("log_start", &self.log_start)
            .field("shipped", &self.shipped)
            .field("state", &self.state)
            .finish()
    }
}

/// Is it `me`'s turn to promote itself? Only when the primary has been silent for `timeout`
/// and `me` is the lowest-numbered of the backups heard from within `timeout` (itself
/// included). A backup that is lower but silent does not block `me`: it is presumed dead.
pub(crate) fn is_failover_turn(
    me: NodeId,
    primary: NodeId,
    last_heard: &BTreeMap<NodeId, Instant>,
    now: Instant,
    timeout: Duration,
) -> bool {
    assert_ne!(me, primary, "the primary does not fail over to itself");
    let is_live = |node: NodeId| {
        last_heard
            .get(&node)
            .is_some_and(|&heard| now.saturating_since(heard) < timeout)
    };
    if is_live(primary) {
        return false;
    }
    let lowest_live_backup = last_heard
        .keys()
        .copied()
        .filter(|&node| node != primary && node != me && is_live(node))
        .chain(std::iter::once(me))
        .min()
        .expect("me is always a candidate");
    lowest_live_backup == me
}

/// Is it `me`'s turn to promote itself under `replication: Sync`? Only when the primary has
/// been silent for `timeout` and `me` holds the furthest stream position of the backups heard
/// from within `timeout` (`positions`, from their heartbeats), the lowest-numbered on a tie:
/// every command the primary answered is on every live backup, so on the furthest one too.
pub(crate) fn is_sync_failover_turn(
    me: NodeId,
    mine: (Epoch, Offset),
    primary: NodeId,
    last_heard: &BTreeMap<NodeId, Instant>,
    positions: &BTreeMap<NodeId, (Epoch, Offset)>,
    now: Instant,
    timeout: Duration,
) -> bool {
    assert_ne!(me, primary, "the primary does not fail over to itself");
    let is_live = |node: NodeId| {
        last_heard
            .get(&node)
            .is_some_and(|&heard| now.saturating_since(heard) < timeout)
    };
    if is_live(primary) {
        return false;
    }
    // The best candidate: furthest position first, then the lowest id (hence `Reverse`).
    let rank = |node: NodeId, position: (Epoch, Offset)| (position, std::cmp::Reverse(node));
    let best_other = last_heard
        .keys()
        .copied()
        .filter(|&node| node != primary && node != me && is_live(node))
        .filter_map(|node| positions.get(&node).map(|&position| rank(node, position)))
        .max();
    best_other.is_none_or(|other| rank(me, mine) > other)
}

impl<A: Application> PrimaryBackup<A> {
    /// Does this node act as primary (of its epoch, with its state in that epoch's stream)?
    pub fn is_primary(&self) -> bool {
        self.epoch.primary == self.id && self.synced_epoch == self.epoch
    }

    /// The highest epoch this node knows.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The epoch whose stream this node's state belongs to.
    pub fn synced_epoch(&self) -> Epoch {
        self.synced_epoch
    }

    /// How many commands of its stream this node has applied.
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The application state with its session table.
    pub fn state(&self) -> &Sessions<A> {
        &self.state
    }

    fn role(&self) -> Role {
        if self.is_primary() {
            Role::Primary
        } else {
            Role::Backup
        }
    }

    fn heartbeat(&self) -> Message<A> {
        Message::Heartbeat {
            epoch: self.epoch,
            role: self.role(),
            synced_epoch: self.synced_epoch,
            offset: self.offset,
        }
    }

    /// Applies the next command of the stream to the state and the log. Used by the primary,
    /// by backups and by replay, so all three keep the same books.
    fn apply_entry(&mut self, offset: Offset, command: Command) -> Outcome {
        assert_eq!(
            offset,
            self.offset.next(),
            "stream applied out of order at {}",
            self.id
        );
        let applied = self.state.apply_command(&command);
        // Pair of the primary's check in `on_request`: only fresh commands enter a stream, and a
        // backup's session table equals the primary's at the same offset of the same stream, so
        // the command is fresh here too. A duplicate here would mean two lineages got mixed.
        assert!(
            applied.is_fresh(),
            "stream command at {offset:?} not fresh on {}",
            self.id
        );
        self.offset = offset;
        self.log.insert(offset, command);
        applied.outcome()
    }

    /// Replaces the state with a snapshot of `epoch`'s stream.
    fn install_snapshot(&mut self, epoch: Epoch, offset: Offset, state: Sessions<A>) {
        self.state = state;
        self.offset = offset;
        self.synced_epoch = epoch;
        self.epoch = self.epoch.max(epoch);
        self.log.clear();
        self.log_start = offset;
    }

    /// Starts a new stream at the current state: the commands before it are never resent,
    /// because every backup of the new epoch starts from a snapshot taken in it.
    fn become_primary_of(&mut self, epoch: Epoch) {
        assert_eq!(epoch.primary, self.id);
        self.epoch = epoch;
        self.synced_epoch = epoch;
        self.log.clear();
        self.log_start = self.offset;
        self.shipped = self.offset;
        self.acked.clear();
        self.ack_heard.clear();
        self.held.clear();
    }

    /// Syncs the disk; the completion makes the current stream position durable.
    fn sync(&mut self, ctx: &mut Ctx<'_, Self>) {
        let token = ctx.sync();
        self.syncs
            .push_back((token, self.synced_epoch, self.offset));
    }

    /// How far this node's own stream is committed: durable here and, with
    /// `replication: Sync`, acknowledged by every backup heard from within `failover_timeout`.
    /// `None` while nothing of the stream is durable yet (a primary whose epoch record is
    /// still on its way to disk).
    fn committed(&self, now: Instant) -> Option<Offset> {
        let (durable_epoch, durable_offset) = self.durable;
        if durable_epoch != self.synced_epoch {
            return None;
        }
        if self.config.replication == Replication::Async {
            return Some(durable_offset);
        }
        let timeout = self.config.failover_timeout;
        let slowest_live_backup = self
            .last_heard
            .iter()
            .filter(|&(&peer, &heard)| peer != self.id && now.saturating_since(heard) < timeout)
            .map(|(peer, _)| self.acked.get(peer).copied().unwrap_or(Offset(0)))
            .min();
        let committed =
            slowest_live_backup.map_or(durable_offset, |acked| acked.min(durable_offset));
        Some(committed.min(self.held_by_min_replicas()))
    }

    /// With `min_replicas_to_write` N above zero (and `replication: Sync`), the furthest offset
    /// that N backups have acknowledged as durable: a quorum rule in place of "every backup
    /// heard from", which an isolated primary satisfies alone once it stops hearing them.
    /// Unbounded when N is zero.
    fn held_by_min_replicas(&self) -> Offset {
        let needed = self.config.min_replicas_to_write as usize;
        if needed == 0 {
            return Offset(u64::MAX);
        }
        let mut offsets: Vec<Offset> = self.acked.values().copied().collect();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.get(needed - 1).copied().unwrap_or(Offset(0))
    }

    /// Redis's `min-replicas-to-write` / `min-replicas-max-lag`: does the primary have at
    /// least `min_replicas_to_write` backups whose last acknowledgement arrived within
    /// `min_replicas_max_lag`? Always with the rule off (zero).
    fn has_min_replicas(&self, now: Instant) -> bool {
        let needed = self.config.min_replicas_to_write as usize;
        let lag_max = self.config.min_replicas_max_lag;
        needed == 0
            || self
                .ack_heard
                .values()
                .filter(|&&heard| now.saturating_since(heard) <= lag_max)
                .count()
                >= needed
    }

    /// Do backups acknowledge what they hold (`Message::Ack`)? Under `replication: Sync`,
    /// and for the primary's `min_replicas_to_write` rule (Redis replicas' `REPLCONF ACK`).
    fn sends_acks(&self) -> bool {
        self.config.replication == Replication::Sync || self.config.min_replicas_to_write > 0
    }

    /// Sends every held answer whose commands are committed, in stream order.
    fn release_held(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(committed) = self.committed(ctx.now()) else {
            return;
        };
        while self
            .held
            .front()
            .is_some_and(|held| held.offset <= committed)
        {
            let held = self.held.pop_front().expect("checked");
            ctx.reply(held.client, held.id, held.outcome);
        }
    }

    /// Answers `outcome` once the stream is committed up to `offset`: at once when it is and
    /// nothing earlier waits.
    fn reply_when_committed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        offset: Offset,
        request: &Request,
        outcome: Outcome,
    ) {
        let committed = self.committed(ctx.now());
        if self.held.is_empty() && committed.is_some_and(|committed| offset <= committed) {
            ctx.reply(request.client, request.id, outcome);
            return;
        }
        self.held.push_back(HeldReply {
            offset,
            client: request.client,
            id: request.id,
            outcome,
        });
    }

    /// Streams what became durable at the primary: at once without a replication delay,
    /// else when the `Ship` timer fires. A command leaves only once it is on the primary's
    /// disk, so no backup ever holds a command its primary could lose in a power loss.
    fn ship_durable(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(durable) = self.durable_in_stream() else {
            return;
        };
        if durable <= self.shipped {
            return;
        }
        let delayed = self.config.replication_delay > Duration::ZERO
            || (self.config.buggify && self.ship_armed != Some(self.epoch) && ctx.buggify(4));
        if !delayed {
            self.ship_up_to(ctx, durable);
        } else if self.ship_armed != Some(self.epoch) {
            // The first write held back: it and every write until the timer fires leave
            // together, `replication_delay` after this one (BUGGIFY: a heartbeat after it,
            // as a primary busy elsewhere would).
            let delay = if self.config.replication_delay == Duration::ZERO {
                ctx.mark("primary_backup.buggify_ship_delayed");
                self.config.heartbeat
            } else {
                self.config.replication_delay
            };
            self.ship_armed = Some(self.epoch);
            ctx.set_timer(delay, Timer::Ship { epoch: self.epoch });
        }
    }

    /// The durable offset of this node's own stream, if any of it is durable.
    fn durable_in_stream(&self) -> Option<Offset> {
        (self.durable.0 == self.synced_epoch).then_some(self.durable.1)
    }

    /// Adopts `epoch`, higher than any this node knew; a primary steps down.
    fn adopt_epoch(&mut self, ctx: &mut Ctx<'_, Self>, epoch: Epoch) {
        assert!(
            epoch > self.epoch,
            "adopting {epoch} while at {}",
            self.epoch
        );
        assert_ne!(
            epoch.primary, self.id,
            "only the node itself creates its epochs"
        );
        if self.is_primary() {
            // Answers still held were never given: their clients retry at the new primary.
            self.held.clear();
            ctx.mark("primary_backup.stepped_down");
            ctx.observe(Observation::SteppedDown {
                epoch: self.epoch,
                new_epoch: epoch,
            });
        }
        self.epoch = epoch;
        // Persisted so that a restart does not resurrect an old primary; a crash before the
        // sync only delays the step-down until the next heartbeat of the new epoch.
        ctx.append(Record::Epoch { epoch });
        self.sync(ctx);
        ctx.mark("primary_backup.epoch_adopted");
        // Our state belongs to an older stream: ask the new primary for a snapshot right away
        // rather than at the next tick.
        ctx.send(epoch.primary, self.heartbeat());
    }

    /// The primary answers a backup's heartbeat: the missing commands, or a snapshot when the
    /// backup's state is not in this epoch's stream or is older than the kept log.
    fn on_heartbeat_from_backup(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        synced_epoch: Epoch,
        offset: Offset,
    ) {
        assert!(self.is_primary());
        if synced_epoch == self.epoch {
            // Every command of this epoch's stream comes from this node, which never forgets
            // one (each is synced before it is sent), so no backup can be ahead.
            assert!(
                offset <= self.offset,
                "{from} at {offset:?} ahead of primary {:?}",
                self.offset
            );
            if offset == self.offset {
                return;
            }
            if offset >= self.shipped {
                // Everything released is there; the rest is still held back by the
                // replication delay (a backup that took a snapshot may even be past it).
                return;
            }
            if offset >= self.log_start {
                let last = Offset(
                    self.shipped
                        .0
                        .min(offset.0 + u64::from(self.config.resend_batch_max)),
                );
                let commands: Vec<Command> = self
                    .log
                    .range(offset.next()..=last)
                    .map(|(_, command)| command.clone())
                    .collect();
                assert_eq!(commands.len() as u64, last.0 - offset.0, "log has a hole");
                ctx.mark("primary_backup.resent");
                ctx.send(
                    from,
                    Message::Replicate {
                        epoch: self.epoch,
                        first_offset: offset.next(),
                        commands,
                    },
                );
                return;
            }
            // Defensive: the kept log starts after the backup's position.
            ctx.mark("primary_backup.resend_beyond_log");
        }
        if self.durable_in_stream() != Some(self.offset) {
            // The state has commands not yet on disk, which a power loss could take back from
            // under the backup; the next heartbeat asks again.
            return;
        }
        ctx.mark("primary_backup.full_resync");
        ctx.send(
            from,
            Message::Snapshot {
                epoch: self.epoch,
                offset: self.offset,
                state: self.state.clone(),
            },
        );
    }

    /// A backup applies commands of its primary's stream, in order.
    fn on_replicate(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        first_offset: Offset,
        commands: Vec<Command>,
    ) {
        let mut applied_any = false;
        for (position, command) in commands.into_iter().enumerate() {
            let offset = Offset(first_offset.0 + position as u64);
            if offset <= self.offset {
                // A duplicate or a resend of what we have: ignore it on purpose.
                continue;
            }
            if offset > self.offset.next() {
                // A gap: an earlier command was lost or is still in flight. Applying this one
                // would break stream order; our next heartbeat makes the primary resend.
                ctx.mark("primary_backup.stream_gap");
                break;
            }
            ctx.append(Record::Entry {
                offset,
                command: command.clone(),
            });
            self.apply_entry(offset, command);
            applied_any = true;
        }
        if applied_any {
            self.sync(ctx);
            ctx.crash_point("primary_backup.after_backup_apply");
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.config.heartbeat, Timer::Tick);
        ctx.broadcast(self.heartbeat());
        let sync = self.config.replication == Replication::Sync;
        let acks = self.sends_acks();
        if self.is_primary() {
            if sync {
                // A backup silent for `failover_timeout` no longer holds answers back.
                self.release_held(ctx);
            }
            return;
        }
        assert_ne!(
            self.epoch.primary, self.id,
            "a node's own epoch makes it primary"
        );
        if acks {
            // Repeats the acknowledgement in case the last one was lost (and, for the
            // primary's `min_replicas_to_write`, says this backup is still there).
            self.send_ack(ctx);
        }
        let turn = if sync {
            is_sync_failover_turn(
                self.id,
                (self.synced_epoch, self.offset),
                self.epoch.primary,
                &self.last_heard,
                &self.peer_positions,
                ctx.now(),
                self.config.failover_timeout,
            )
        } else {
            is_failover_turn(
                self.id,
                self.epoch.primary,
                &self.last_heard,
                ctx.now(),
                self.config.failover_timeout,
            )
        };
        if turn {
            self.on_tick_promote(ctx);
        }
    }

    /// With `replication: Sync`, a backup tells its primary how much of the primary's stream
    /// is on its disk.
    fn send_ack(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(offset) = self.durable_in_stream() {
            if self.synced_epoch == self.epoch {
                ctx.send(
                    self.epoch.primary,
                    Message::Ack {
                        epoch: self.epoch,
                        offset,
                    },
                );
            }
        }
    }

    /// The replication delay is over: stream every write held back since the timer was armed.
    fn on_ship(&mut self, ctx: &mut Ctx<'_, Self>, epoch: Epoch) {
        if self.ship_armed == Some(epoch) {
            self.ship_armed = None;
        }
        // A primary that stepped down since keeps its writes to itself: no backup of a newer
        // epoch would apply them, and a later snapshot replaces them anyway.
        if !self.is_primary() || epoch != self.epoch {
            return;
        }
        let Some(durable) = self.durable_in_stream() else {
            return;
        };
        if durable <= self.shipped {
            return;
        }
        // Commands still on their way to disk arm the next batch when they arrive there.
        self.ship_up_to(ctx, durable);
    }

    /// Broadcasts the stream from the last shipped offset through `durable`, in one message.
    fn ship_up_to(&mut self, ctx: &mut Ctx<'_, Self>, durable: Offset) {
        let commands: Vec<Command> = self
            .log
            .range(self.shipped.next()..=durable)
            .map(|(_, command)| command.clone())
            .collect();
        assert_eq!(
            commands.len() as u64,
            durable.0 - self.shipped.0,
            "log has a hole"
        );
        ctx.broadcast(Message::Replicate {
            epoch: self.epoch,
            first_offset: self.shipped.next(),
            commands,
        });
        self.shipped = durable;
    }

    fn on_tick_promote(&mut self, ctx: &mut Ctx<'_, Self>) {
        let epoch = self.epoch.successor(self.id);
        // Persist the epoch before acting as its primary: the pair (number, node) must never be
        // reused, even across a crash, or two streams would share one epoch.
        ctx.append(Record::Epoch { epoch });
        let token = ctx.sync();
        ctx.crash_point("primary_backup.after_promote");
        self.become_primary_of(epoch);
        // Nothing of the new stream is answered before this sync: the epoch is on disk first.
        self.syncs
            .push_back((token, self.synced_epoch, self.offset));
        ctx.mark("primary_backup.promoted");
        ctx.observe(Observation::Promoted {
            epoch,
            offset: self.offset,
        });
        ctx.broadcast(self.heartbeat());
    }
}

impl<A: Application> Node for PrimaryBackup<A> {
    type Config = Config<A>;
    type Msg = Message<A>;
    type Timer = Timer;
    type Record = Record<A>;
    type Observation = Observation;

    /// Lanes: `Promoted` starts a primary in its epoch, `SteppedDown` a backup in the newer
    /// epoch it heard of; an installed snapshot shows its epoch.
    fn lane(observation: &Observation, _node: NodeId) -> sim_core::observed::Lane {
        use sim_core::observed::Lane;
        match observation {
            Observation::Promoted { epoch, .. } => Lane::Role {
                role: "primary",
                number: Some(epoch.number),
            },
            Observation::SteppedDown { new_epoch, .. } => Lane::Role {
                role: "backup",
                number: Some(new_epoch.number),
            },
            Observation::SnapshotInstalled { epoch, .. } => Lane::Number(epoch.number),
        }
    }

    fn recover(config: &Config<A>, id: NodeId, durable: &[Record<A>]) -> Self {
        if let Err(message) = config.validate() {
            panic!("invalid primary-backup config: {message}");
        }
        let mut node = PrimaryBackup {
            id,
            config: config.clone(),
            epoch: Epoch::INITIAL,
            synced_epoch: Epoch::INITIAL,
            state: Sessions::new(config.app.clone()),
            offset: Offset(0),
            log: BTreeMap::new(),
            log_start: Offset(0),
            last_heard: BTreeMap::new(),
            primary_offset: Offset(0),
            shipped: Offset(0),
            ship_armed: None,
            syncs: VecDeque::new(),
            durable: (Epoch::INITIAL, Offset(0)),
            held: VecDeque::new(),
            acked: BTreeMap::new(),
            ack_heard: BTreeMap::new(),
            peer_positions: BTreeMap::new(),
        };
        for record in durable {
            match record {
                Record::Epoch { epoch } => {
                    assert!(*epoch > node.epoch, "epoch records must increase");
                    if epoch.primary == id {
                        node.become_primary_of(*epoch);
                    } else {
                        node.epoch = *epoch;
                    }
                }
                Record::Snapshot {
                    epoch,
                    offset,
                    state,
                } => {
                    node.install_snapshot(*epoch, *offset, state.clone());
                }
                Record::Entry { offset, command } => {
                    node.apply_entry(*offset, command.clone());
                }
            }
        }
        // Whatever survived on disk is released at once: the held-back batch was volatile,
        // and its writes reach the backups through resends like any other lagging suffix.
        node.shipped = node.offset;
        // Everything replayed was on disk.
        node.durable = (node.synced_epoch, node.offset);
        node
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Every peer gets a full `failover_timeout` of grace after a boot or restart.
        let now = ctx.now();
        self.last_heard = ctx.peers().map(|peer| (peer, now)).collect();
        if self.offset > Offset(0) || self.epoch != Epoch::INITIAL {
            ctx.mark("primary_backup.recovered_from_disk");
        }
        ctx.set_timer(self.config.heartbeat, Timer::Tick);
        ctx.broadcast(self.heartbeat());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message<A>) {
        self.last_heard.insert(from, ctx.now());
        let epoch = msg.epoch();
        if epoch > self.epoch {
            self.adopt_epoch(ctx, epoch);
        }
        match msg {
            Message::Heartbeat {
                epoch,
                role,
                synced_epoch,
                offset,
            } => {
                if role == Role::Backup {
                    self.peer_positions.insert(from, (synced_epoch, offset));
                }
                if self.is_primary() {
                    if role == Role::Primary {
                        // An old primary of a lower epoch that has not heard of ours (epochs
                        // are unique, so it cannot be ours). Tell it now; it steps down.
                        assert!(epoch < self.epoch, "two primaries of {epoch}");
                        ctx.mark("primary_backup.stale_primary_heard");
                        ctx.send(from, self.heartbeat());
                    } else {
                        self.on_heartbeat_from_backup(ctx, from, synced_epoch, offset);
                    }
                } else if role == Role::Primary && epoch == self.epoch && from == epoch.primary {
                    self.primary_offset = offset;
                }
            }
            Message::Replicate {
                epoch,
                first_offset,
                commands,
            } => {
                if epoch < self.epoch {
                    // The stream of a deposed primary: never apply it. Our heartbeat tells the
                    // sender about the newer epoch.
                    ctx.mark("primary_backup.stale_stream_ignored");
                    ctx.send(from, self.heartbeat());
                    return;
                }
                assert_eq!(epoch, self.epoch);
                assert_eq!(from, epoch.primary, "only an epoch's primary streams it");
                assert!(!self.is_primary(), "{} received its own stream", self.id);
                if self.synced_epoch != epoch {
                    // Our state belongs to an older stream; the snapshot we asked for comes
                    // first, and its offset covers these commands or the next resend does.
                    ctx.mark("primary_backup.stream_before_snapshot");
                    return;
                }
                self.on_replicate(ctx, first_offset, commands);
            }
            Message::Ack { epoch, offset } => {
                if self.is_primary() && epoch == self.epoch {
                    let acked = self.acked.entry(from).or_insert(Offset(0));
                    *acked = (*acked).max(offset);
                    self.ack_heard.insert(from, ctx.now());
                    self.release_held(ctx);
                }
            }
            Message::Snapshot {
                epoch,
                offset,
                state,
            } => {
                if epoch < self.epoch {
                    ctx.mark("primary_backup.stale_snapshot_ignored");
                    return;
                }
                assert_eq!(epoch, self.epoch);
                assert!(!self.is_primary(), "{} received its own snapshot", self.id);
                if self.synced_epoch == epoch && offset <= self.offset {
                    // A duplicate, or older than what we already have of this stream.
                    return;
                }
                ctx.append(Record::Snapshot {
                    epoch,
                    offset,
                    state: state.clone(),
                });
                let token = ctx.sync();
                self.install_snapshot(epoch, offset, state);
                self.syncs
                    .push_back((token, self.synced_epoch, self.offset));
                ctx.mark("primary_backup.snapshot_installed");
                ctx.observe(Observation::SnapshotInstalled { epoch, offset });
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Tick => self.on_tick(ctx),
            Timer::Ship { epoch } => self.on_ship(ctx, epoch),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if !self.is_primary() {
            if self.config.read_from_backups {
                if let Some(outcome) = self.state.query(&request.operation) {
                    let is_behind =
                        self.synced_epoch != self.epoch || self.offset < self.primary_offset;
                    if is_behind {
                        // Known to be behind the primary: this read may well be stale.
                        ctx.mark("primary_backup.stale_read_served");
                    }
                    ctx.reply(request.client, request.id, outcome);
                    return;
                }
            }
            let leader = Some(self.epoch.primary);
            ctx.reply(request.client, request.id, Outcome::Redirect { leader });
            return;
        }
        if let Some(outcome) = self.state.query(&request.operation) {
            // A read may see any command applied so far: it waits for their commit.
            self.reply_when_committed(ctx, self.offset, &request, outcome);
            return;
        }
        let command = Command::from_request(&request, Stamp::now(self.epoch.stamp_epoch(), ctx));
        // Deduplicate before anything else: only fresh commands enter the stream, so that
        // every replica applies exactly the same commands.
        match self.state.cached(&command) {
            Some(Applied::Duplicate(outcome)) => {
                ctx.mark("primary_backup.duplicate_request");
                // Applied at some offset up to ours, perhaps not committed yet.
                self.reply_when_committed(ctx, self.offset, &request, outcome);
                return;
            }
            Some(Applied::Stale) => {
                ctx.mark("primary_backup.stale_request");
                ctx.reply(request.client, request.id, Outcome::Unknown);
                return;
            }
            Some(Applied::Fresh(_)) => unreachable!("a cached answer is never fresh"),
            None => {}
        }
        if !self.has_min_replicas(ctx.now()) {
            // Redis's NOREPLICAS: too few backups acknowledged lately, so the write is refused
            // before it enters the stream (it definitely did not take effect).
            ctx.mark("primary_backup.write_refused_min_replicas");
            ctx.reply(request.client, request.id, Outcome::Fail);
            return;
        }
        let offset = self.offset.next();
        ctx.append(Record::Entry {
            offset,
            command: command.clone(),
        });
        let token = ctx.sync();
        let outcome = self.apply_entry(offset, command);
        self.syncs
            .push_back((token, self.synced_epoch, self.offset));
        // Answered from `on_synced` once the command is on disk. With asynchronous replication
        // that is before any backup has it: what a failover can lose. The command is streamed
        // at the same moment (`ship_durable`).
        self.held.push_back(HeldReply {
            offset,
            client: request.client,
            id: request.id,
            outcome,
        });
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        while let Some(&(asked, epoch, offset)) = self.syncs.front() {
            if asked > token {
                break;
            }
            self.syncs.pop_front();
            self.durable = (epoch, offset);
        }
        if self.is_primary() {
            // Answers first, then the stream: the order of an answer given in the handler.
            self.release_held(ctx);
            // Answered, not yet streamed to any backup: what a failover can lose.
            ctx.crash_point("primary_backup.after_ack");
            self.ship_durable(ctx);
        } else if self.sends_acks() {
            if self.config.buggify && ctx.buggify(4) {
                // BUGGIFY: the acknowledgement waits for the next tick's repeat, a heartbeat
                // late; the primary holds its answers that much longer.
                ctx.mark("primary_backup.buggify_late_ack");
            } else {
                self.send_ack(ctx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(entries: &[(u32, u64)]) -> BTreeMap<NodeId, Instant> {
        entries
            .iter()
            .map(|&(node, at)| (NodeId(node), Instant(at)))
            .collect()
    }

    #[test]
    fn lowest_live_backup_takes_the_turn() {
        let timeout = Duration(100);
        // Primary n0 silent since 0; n1 and n2 heard recently; now = 150.
        let last = heard(&[(0, 0), (1, 120), (2, 130)]);
        assert!(is_failover_turn(
            NodeId(1),
            NodeId(0),
            &last,
            Instant(150),
            timeout
        ));
        assert!(!is_failover_turn(
            NodeId(2),
            NodeId(0),
            &last,
            Instant(150),
            timeout
        ));
        // n1 silent too: n2 is now the lowest live backup.
        let last = heard(&[(0, 0), (1, 10), (3, 140)]);
        assert!(is_failover_turn(
            NodeId(2),
            NodeId(0),
            &last,
            Instant(150),
            timeout
        ));
        let seen_by_3 = heard(&[(0, 0), (1, 10), (2, 140)]);
        assert!(!is_failover_turn(
            NodeId(3),
            NodeId(0),
            &seen_by_3,
            Instant(150),
            timeout
        ));
    }

    #[test]
    fn no_turn_while_the_primary_is_heard() {
        let last = heard(&[(0, 60), (2, 0)]);
        assert!(!is_failover_turn(
            NodeId(1),
            NodeId(0),
            &last,
            Instant(150),
            Duration(100)
        ));
        // A clock stepped backwards makes every peer look freshly heard, never dead.
        assert!(!is_failover_turn(
            NodeId(1),
            NodeId(0),
            &last,
            Instant(10),
            Duration(100)
        ));
    }
}
