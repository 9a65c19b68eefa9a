//! Per-node disks: an append-only log of typed records with an explicit `sync`.
//!
//! `append` puts a record in the (volatile) page cache; `sync` makes everything appended so far
//! durable. A process crash keeps every appended record (the OS has them). A power-loss crash
//! (`lose_unsynced`) keeps the synced prefix and a random prefix of the unsynced suffix — any
//! suffix of unsynced writes may be lost, which also models a torn last record (dropped whole).
//! After a crash every surviving record is durable.
//!
//! Writes and syncs take time ([`DiskConfig`]): the simulator calls [`Disk::sync_to`] when a
//! sync completes, so until then a power loss may drop the records it covers. Sync state (the
//! sync in flight, group commit) lives in the simulator; the disk only knows which prefix is
//! durable.

use crate::prng::Prng;
use crate::time::Duration;

/// How long a node's disk takes. Each latency is drawn uniformly from `[min, max]` per append
/// (write) and per physical sync, from the run's own disk-latency stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskConfig {
    /// Shortest time for an appended record to reach the disk's cache.
    pub write_latency_min: Duration,
    /// Longest time for an appended record to reach the disk's cache.
    pub write_latency_max: Duration,
    /// Shortest time a sync takes once started.
    pub sync_latency_min: Duration,
    /// Longest time a sync takes once started.
    pub sync_latency_max: Duration,
}

impl DiskConfig {
    /// Writes and syncs complete at once (the default): a sync is durable as soon as the
    /// handler that asked for it returns.
    pub fn is_instant(&self) -> bool {
        self.write_latency_max == Duration::ZERO && self.sync_latency_max == Duration::ZERO
    }
}

/// One node's disk.
#[derive(Clone, Debug)]
pub struct Disk<R> {
    records: Vec<R>,
    synced_count: usize,
}

impl<R> Default for Disk<R> {
    fn default() -> Self {
        Disk {
            records: Vec::new(),
            synced_count: 0,
        }
    }
}

/// What a crash did to a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashLoss {
    /// Records that survived.
    pub kept_count: usize,
    /// Unsynced records that were lost.
    pub lost_count: usize,
}

impl<R> Disk<R> {
    /// Appends a record (not yet durable).
    pub fn append(&mut self, record: R) {
        self.records.push(record);
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) {
        self.synced_count = self.records.len();
    }

    /// Makes the first `count` records durable (a completed sync that covered them); a count
    /// at or below the durable prefix changes nothing.
    ///
    /// # Panics
    /// If `count` exceeds the records appended.
    pub fn sync_to(&mut self, count: usize) {
        assert!(
            count <= self.records.len(),
            "sync of {count} records on a disk of {}",
            self.records.len()
        );
        self.synced_count = self.synced_count.max(count);
    }

    /// How many records were appended (durable or not).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No record was appended.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every record, durable or not.
    pub fn records(&self) -> &[R] {
        &self.records
    }

    /// How many records are durable.
    pub fn synced_count(&self) -> usize {
        self.synced_count
    }

    /// How many records are appended but not synced.
    pub fn unsynced_count(&self) -> usize {
        self.records.len() - self.synced_count
    }

    /// Applies a crash. With `lose_unsynced`, a random suffix of the unsynced records (drawn
    /// from `rng`, possibly empty, possibly all) is lost.
    pub fn crash(&mut self, lose_unsynced: bool, rng: &mut Prng) -> CrashLoss {
        let unsynced = self.unsynced_count();
        let mut lost_count = 0;
        if lose_unsynced && unsynced > 0 {
            // Bias toward losing everything half the time: the textbook power failure.
            let kept_unsynced = if rng.below(2) == 0 {
                0
            } else {
                rng.below(unsynced as u64 + 1) as usize
            };
            lost_count = unsynced - kept_unsynced;
            self.records.truncate(self.synced_count + kept_unsynced);
        }
        self.synced_count = self.records.len();
        assert_eq!(self.unsynced_count(), 0);
        CrashLoss {
            kept_count: self.records.len(),
            lost_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Stream;

    #[test]
    fn process_crash_keeps_everything_power_loss_keeps_synced() {
        let mut rng = Prng::new(1, Stream::Disk);
        let mut disk = Disk::default();
        disk.append(1);
        disk.append(2);
        disk.sync();
        disk.append(3);
        let loss = disk.crash(false, &mut rng);
        assert_eq!(
            loss,
            CrashLoss {
                kept_count: 3,
                lost_count: 0
            }
        );
        assert_eq!(disk.records(), &[1, 2, 3]);

        let mut lost_all = false;
        let mut kept_some = false;
        for seed in 0..64 {
            let mut rng = Prng::new(seed, Stream::Disk);
            let mut disk = Disk::default();
            disk.append(1);
            disk.sync();
            disk.append(2);
            disk.append(3);
            let loss = disk.crash(true, &mut rng);
            assert!(
                disk.records().starts_with(&[1]),
                "synced records always survive"
            );
            assert_eq!(loss.kept_count + loss.lost_count, 3);
            assert_eq!(disk.records().len(), loss.kept_count);
            lost_all |= disk.records() == [1];
            kept_some |= disk.records().len() > 1;
        }
        assert!(lost_all && kept_some, "power loss drops a random suffix");
    }
}
