//! **Asynchronous primary-backup replication**, in the style of a Redis master with replicas.
//! It is a reference protocol that is *supposed* to fail the linearizability check under
//! faults: it shows what the checker finds when replication is asynchronous.
//!
//! ## The algorithm
//!
//! 1. **Writes.** Node 0 is the primary of the initial [`Epoch`]. The primary applies each
//!    write (any non-read operation) through the client-session table, appends it to its disk
//!    and syncs, answers the client *at once*, and streams the command to every backup
//!    ([`Message::Replicate`], tagged with its [`Offset`] in the stream). It never waits for a
//!    backup. With a `replication_delay`, the primary holds the stream back: the first
//!    unshipped write arms a timer, and when it fires every write acknowledged since then
//!    leaves in one batch (replication lag, as a Redis replica's `master_repl_offset` trails
//!    the master's). Until then no backup sees those writes through the stream or a resend
//!    (only a full resynchronisation's snapshot, taken from the primary's state, carries them).
//! 2. **Backups** apply the stream strictly in offset order, persisting each command. A command
//!    at or below their offset is a duplicate and is skipped; one beyond the next offset
//!    reveals a gap (a message was lost or reordered) and is dropped.
//! 3. **Repair.** Every node broadcasts a [`Message::Heartbeat`] every `heartbeat` of local
//!    time. A backup's heartbeat carries its epoch and offset: the primary answers a lagging
//!    backup with the missing commands (at most `resend_batch_max` per message), or with a
//!    full [`Message::Snapshot`] when the backup's state is not a prefix of the primary's
//!    stream (Redis's partial versus full resynchronisation).
//! 4. **Reads** are served by the primary from its state. With `read_from_backups` a backup
//!    serves reads from its own state, which may be behind: **stale reads are expected** and
//!    the checker must find them. Without it, a backup redirects every request to the primary
//!    of its epoch.
//! 5. **Failover.** A backup that has not heard from the primary for `failover_timeout` of
//!    local time looks at the other backups it *has* heard from within that time; if it is the
//!    lowest-numbered of them, it promotes itself: a new epoch `(number + 1, itself)`, persisted
//!    before it serves anything. A node that hears of a higher epoch adopts it; a primary that
//!    does so **steps down**. A node whose state comes from another epoch's stream asks the new
//!    primary for a snapshot and replaces its state with it.
//!
//! The ordering of steps 1 and 5 is what loses data: a write acknowledged by the old primary
//! but not yet received by the promoted backup is gone after the failover, and the old
//! primary, when it rejoins, replaces its state with the new primary's snapshot.
//! **Lost acknowledged writes are expected** and the checker must find them. A longer
//! `replication_delay` widens both windows: backups serve older values for longer, and more
//! acknowledged writes sit unshipped on the primary when it fails.
//!
//! ## What is checked
//!
//! Only the client history, by the linearizability checker. There is no replica invariant that
//! this protocol promises; the nodes report promotions, step-downs and snapshot installations
//! as [`Observation`]s for the timeline.
//!
//! ## Marks
//!
//! The rare paths a sweep counts (promotion, step-down, snapshots and full resyncs, resends,
//! stream gaps, stale messages ignored, `primary_backup.stale_read_served`: a backup answered a
//! read while known to be behind) are listed in [`MARKS`]; a sweep reports those no seed hit.
//!
//! ## Deliberate simplifications
//!
//! - **No quorum anywhere.** Failover needs no vote (Redis Sentinel would need a majority of
//!   sentinels): a backup on the minority side of a partition can promote itself, and the old
//!   primary keeps accepting writes until it hears of the higher epoch (split brain). Both are
//!   the classic failures of asynchronous replication that the checker is meant to show.
//!   `min_replicas_to_write` (Redis's `min-replicas-to-write`) adds a write quorum of backups
//!   but no vote to failover: with every backup it removes the loss, with fewer the promotion
//!   race remains (README, "Primary-backup: Async and Sync").
//! - **Liveness by heartbeats only.** "Live" means "heard from within `failover_timeout` on
//!   my local clock"; clock skew and one-way partitions shift who promotes.
//! - **Full resynchronisation after every epoch change.** Redis keeps the previous replication
//!   id so that replicas can continue incrementally after a failover (PSYNC with `replid2`); here
//!   a node whose state belongs to an older epoch's stream always takes a snapshot.
//! - **Everything is synced.** Every node syncs each command (like `appendfsync always`), so a
//!   crash and restart of a node alone loses nothing; data is lost only through failover.
//! - **The primary keeps every command since its promotion** for resending; there is no
//!   backlog limit and no log compaction (runs are short).
//! - Gaps are repaired by the next heartbeat, not by buffering out-of-order commands.
//! - Requests at a backup are redirected, never proxied.

mod message;

/// Every crash point its nodes pass (`ctx.crash_point`): after the primary acknowledged a write and before it ships it,
/// after a backup applied and logged shipped entries, and after a promotion logged its epoch.
pub const CRASH_POINTS: &[&str] = &[
    "primary_backup.after_ack",
    "primary_backup.after_backup_apply",
    "primary_backup.after_promote",
];

/// Every mark this protocol's nodes may emit (mutation marks aside), so that a sweep can say
/// which rare paths its seeds never reached (FoundationDB's code-probe coverage). A test keeps
/// it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "primary_backup.buggify_late_ack",
    "primary_backup.buggify_ship_delayed",
    "primary_backup.duplicate_request",
    "primary_backup.epoch_adopted",
    "primary_backup.full_resync",
    "primary_backup.promoted",
    "primary_backup.recovered_from_disk",
    "primary_backup.resend_beyond_log",
    "primary_backup.resent",
    "primary_backup.snapshot_installed",
    "primary_backup.stale_primary_heard",
    "primary_backup.stale_read_served",
    "primary_backup.stale_request",
    "primary_backup.stale_snapshot_ignored",
    "primary_backup.stale_stream_ignored",
    "primary_backup.stepped_down",
    "primary_backup.stream_before_snapshot",
    "primary_backup.stream_gap",
    "primary_backup.write_refused_min_replicas",
];

mod descriptor;
mod node;

pub use descriptor::{PrimaryBackupProtocol, PRIMARY_BACKUP};
pub use message::{Epoch, Message, Offset, Role};
pub use node::{Observation, PrimaryBackup, Record, Timer};

use sim_core::time::Duration;

/// Configuration of primary-backup replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config<A = crate::apps::kv::Kv> {
    /// Backups serve reads from their own (possibly stale) state. Default `false`.
    pub read_from_backups: bool,
    /// How often every node broadcasts a heartbeat, on its local clock. Default 50 ms.
    pub heartbeat: Duration,
    /// How long a backup waits without hearing from the primary before it considers failover;
    /// also the window in which a peer counts as live. Default 500 ms.
    pub failover_timeout: Duration,
    /// The most commands the primary resends to a lagging backup in one message. Default 64.
    pub resend_batch_max: u32,
    /// How long the primary holds an acknowledged write back before shipping it (with every
    /// write acknowledged in the meantime) to the backups, on its local clock. Zero (the
    /// default) ships each write in the step that acknowledges it.
    pub replication_delay: Duration,
    /// When the primary answers a write. Default [`Replication::Async`].
    pub replication: Replication,
    /// Redis's `min-replicas-to-write`: the primary refuses a write (`Fail`) unless at least
    /// this many backups acknowledged within `min_replicas_max_lag`, and with
    /// [`Replication::Sync`] answers only what this many backups acknowledged as durable.
    /// Zero (the default) turns the rule off.
    pub min_replicas_to_write: u32,
    /// Redis's `min-replicas-max-lag`: how recent a backup's acknowledgement must be to count
    /// for `min_replicas_to_write`, on the primary's local clock. Default 500 ms.
    pub min_replicas_max_lag: Duration,
    /// The application's initial state.
    pub app: A,
    /// BUGGIFY: now and then a write shipped a heartbeat late, a backup's acknowledgement
    /// sent a heartbeat late. Default `false`.
    pub buggify: bool,
}

/// When the primary answers a client (the `replication` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replication {
    /// Once the primary's own disk holds the command (and every command before it): Redis's
    /// default. A failover loses what had not reached the promoted backup.
    #[default]
    Async,
    /// Once, in addition, every live backup (heard from within `failover_timeout`) has
    /// acknowledged the command as durable ([`Message::Ack`]), and reads wait the same way:
    /// Redis's `WAIT numreplicas` after every write, or a chain of primary-backup as in the
    /// textbooks. Failover promotes the most up-to-date live backup.
    Sync,
}

impl<A: Default> Default for Config<A> {
    fn default() -> Self {
        Config {
            app: A::default(),
            read_from_backups: false,
            heartbeat: Duration::from_millis(50),
            failover_timeout: Duration::from_millis(500),
            resend_batch_max: 64,
            replication_delay: Duration::ZERO,
            replication: Replication::Async,
            buggify: false,
            min_replicas_to_write: 0,
            min_replicas_max_lag: Duration::from_millis(500),
        }
    }
}

impl<A> Config<A> {
    /// Checks the relations between the parameters.
    ///
    /// # Errors
    /// A message naming the field when `heartbeat` is zero, `failover_timeout` is not at
    /// least twice `heartbeat` (a single lost heartbeat would cause a failover), or
    /// `resend_batch_max` is zero.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat == Duration::ZERO {
            return Err("primary_backup.heartbeat must be positive".to_string());
        }
        if self.failover_timeout.as_nanos() < 2 * self.heartbeat.as_nanos() {
            return Err(format!(
                "primary_backup.failover_timeout ({}) must be at least twice the heartbeat ({})",
                self.failover_timeout, self.heartbeat
            ));
        }
        if self.resend_batch_max == 0 {
            return Err("primary_backup.resend_batch_max must be positive".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_bad_ones_are_named() {
        type Config = super::Config<crate::apps::kv::Kv>;
        assert_eq!(Config::default().validate(), Ok(()));
        let tight = Config {
            failover_timeout: Duration::from_millis(60),
            ..Config::default()
        };
        assert!(tight.validate().unwrap_err().contains("failover_timeout"));
        let zero = Config {
            heartbeat: Duration::ZERO,
            ..Config::default()
        };
        assert!(zero.validate().unwrap_err().contains("heartbeat"));
        let batch = Config {
            resend_batch_max: 0,
            ..Config::default()
        };
        assert!(batch.validate().unwrap_err().contains("resend_batch_max"));
    }
}
