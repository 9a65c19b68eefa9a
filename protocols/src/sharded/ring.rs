//! The consistent-hash ring (Karger et al., *Consistent Hashing and Random Trees*, STOC'97;
//! virtual nodes as in Dynamo, SOSP'07 §4.2): every shard places `vnodes` points on a circle
//! of 2^64 positions, and a key belongs to the shard of the first point at or after the key's
//! own position, going round. Adding a shard moves only the keys that now fall just before its
//! new points; removing one hands each of its arcs to the next point's shard. Virtual nodes
//! split each shard's share into many small arcs, so the shares even out.
//!
//! ## The hash, written down so placements are the same on every machine
//!
//! Positions come from [`mix64`], the finalizer of SplitMix64 (Steele, Lea and Flood, *Fast
//! Splittable Pseudorandom Number Generators*, OOPSLA'14; the constants are those of
//! `java.util.SplittableRandom`): a bijection on u64 whose every output bit depends on every
//! input bit. Inputs are tagged by purpose so keys and points never share an input:
//!
//! - the position of key `k` is `mix64(KEY_TAG ^ k)`;
//! - the position of virtual node `v` of shard `s` is
//!   `mix64(mix64(POINT_TAG ^ s) ^ v)` (two rounds, so that (s, v) pairs do not collide by
//!   xor).
//!
//! Ties between points (two equal positions) are broken by shard id, so the ring is a total
//! order. Rust's `std::hash::Hasher` is deliberately not used: its algorithm is not promised to
//! stay the same across releases.

use std::collections::BTreeSet;

/// The tag of key positions.
pub const KEY_TAG: u64 = 0x6b65_795f_7269_6e67; // "key_ring"
/// The tag of virtual-node positions.
pub const POINT_TAG: u64 = 0x706f_696e_745f_7273; // "point_rs"

/// The most virtual nodes per shard (a ring is rebuilt at every configuration change).
pub const VNODES_MAX: u32 = 4096;

/// SplitMix64's finalizer: a stable, well-mixing bijection on u64.
pub const fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where key `key` sits on the ring.
pub const fn key_position(key: u32) -> u64 {
    mix64(KEY_TAG ^ key as u64)
}

/// Where virtual node `vnode` of shard `shard` sits on the ring.
pub const fn point_position(shard: u32, vnode: u32) -> u64 {
    mix64(mix64(POINT_TAG ^ shard as u64) ^ vnode as u64)
}

/// A ring of shards, each with the same number of virtual nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    /// (position, shard), sorted: the ring read clockwise from position 0.
    points: Vec<(u64, u32)>,
    vnodes: u32,
}

impl Ring {
    /// The ring of `shards` with `vnodes` points each.
    ///
    /// # Panics
    /// If `shards` is empty or `vnodes` is 0 or above [`VNODES_MAX`].
    pub fn new(shards: &BTreeSet<u32>, vnodes: u32) -> Ring {
        assert!(!shards.is_empty(), "a ring needs a shard");
        assert!(
            (1..=VNODES_MAX).contains(&vnodes),
            "vnodes={vnodes} outside 1..={VNODES_MAX}"
        );
        let mut points: Vec<(u64, u32)> = shards
            .iter()
            .flat_map(|&shard| (0..vnodes).map(move |v| (point_position(shard, v), shard)))
            .collect();
        points.sort_unstable(); // (position, shard) pairs are distinct: a total order.
        assert_eq!(points.len(), shards.len() * vnodes as usize);
        Ring { points, vnodes }
    }

    /// The shard that owns `key`: the first point at or after the key's position, wrapping.
    pub fn owner(&self, key: u32) -> u32 {
        self.owner_at(key_position(key))
    }

    /// The shard that owns `position`.
    pub fn owner_at(&self, position: u64) -> u32 {
        let at = self.points.partition_point(|&(p, _)| p < position);
        self.points[at % self.points.len()].1
    }

    /// The shards on the ring, in id order.
    pub fn shards(&self) -> BTreeSet<u32> {
        self.points.iter().map(|&(_, shard)| shard).collect()
    }

    /// Virtual nodes per shard.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }
}

/// Which shards hand part of the circle to which between two rings: every (from, to), from
/// != to, such that some position is owned by `from` on `before` and by `to` on `after`. Both
/// sides of a handoff compute it from the two configurations alone, so the old owner knows whom
/// it owes a snapshot (possibly empty) and the new owner whom it waits for.
///
/// The union of both rings' points cuts the circle into arcs `(u, w]` with no point strictly
/// inside; on each arc each ring's owner is the owner of `w`, so the union's points are the
/// only positions to look at.
pub fn handoffs(before: &Ring, after: &Ring) -> BTreeSet<(u32, u32)> {
    before
        .points
        .iter()
        .chain(after.points.iter())
        .map(|&(position, _)| (before.owner_at(position), after.owner_at(position)))
        .filter(|(from, to)| from != to)
        .collect()
}

/// Keys per shard over keys `0..keys`: (mean, max / mean as thousandths), integers only.
pub fn balance(ring: &Ring, keys: u32) -> (u64, u64) {
    let shards = ring.shards();
    let mut counts = std::collections::BTreeMap::new();
    for key in 0..keys {
        *counts.entry(ring.owner(key)).or_insert(0u64) += 1;
    }
    let mean = u64::from(keys) / shards.len() as u64;
    let max = counts.values().copied().max().unwrap_or(0);
    (mean, max * 1000 / mean.max(1))
}

/// How many of keys `0..keys` change owner between two rings.
pub fn moved(before: &Ring, after: &Ring, keys: u32) -> u32 {
    (0..keys)
        .filter(|&key| before.owner(key) != after.owner(key))
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(range: std::ops::Range<u32>) -> BTreeSet<u32> {
        range.collect()
    }

    #[test]
    fn the_hash_is_pinned() {
        // Known answers: a change of the hash moves every key of every saved scenario.
        assert_eq!(mix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(1), 0x910a_2dec_8902_5cc1);
        assert_eq!(key_position(0), mix64(KEY_TAG));
        let ring = Ring::new(&shards(0..3), 16);
        let owners: Vec<u32> = (0..12).map(|k| ring.owner(k)).collect();
        assert_eq!(owners, PINNED_OWNERS);
    }

    const PINNED_OWNERS: [u32; 12] = [2, 1, 1, 2, 2, 0, 0, 2, 1, 1, 0, 2];

    #[test]
    fn every_key_has_one_owner_on_the_ring() {
        let ring = Ring::new(&shards(0..5), 8);
        for key in 0..1000 {
            assert!(ring.shards().contains(&ring.owner(key)));
        }
        let single = Ring::new(&shards(7..8), 3);
        assert!((0..100).all(|key| single.owner(key) == 7));
    }

    #[test]
    fn adding_a_shard_moves_keys_only_to_it_and_removing_only_from_it() {
        let before = Ring::new(&shards(0..4), 32);
        let after = Ring::new(&shards(0..5), 32);
        for key in 0..10_000 {
            if before.owner(key) != after.owner(key) {
                assert_eq!(after.owner(key), 4, "key {key} moved between old shards");
            }
        }
        assert_eq!(
            handoffs(&before, &after),
            (0..4).map(|from| (from, 4)).collect::<BTreeSet<_>>()
        );
        assert_eq!(
            handoffs(&after, &before),
            (0..4).map(|to| (4, to)).collect::<BTreeSet<_>>()
        );
        for key in 0..10_000 {
            let (from, to) = (before.owner(key), after.owner(key));
            if from != to {
                assert!(handoffs(&before, &after).contains(&(from, to)));
            }
        }
        // Removing shard 4 is the same change backwards: only its keys move.
        for key in 0..10_000 {
            if after.owner(key) != 4 {
                assert_eq!(after.owner(key), before.owner(key));
            }
        }
    }

    /// The measurement the README quotes: keys per shard and keys moved per change, for 1, 10,
    /// 100 and 1,000 virtual nodes per shard (`cargo test --release -p protocols --lib
    /// sharded::ring -- --nocapture`).
    #[test]
    fn balance_and_movement_by_vnodes() {
        const KEYS: u32 = 100_000;
        const SHARDS: u32 = 10;
        println!("vnodes  mean  max/mean  moved(add 11th)  ideal 1/11  moved(remove 1 of 10)  ideal 1/10");
        let mut ratios = Vec::new();
        for vnodes in [1, 10, 100, 1000] {
            let ten = Ring::new(&shards(0..SHARDS), vnodes);
            let eleven = Ring::new(&shards(0..SHARDS + 1), vnodes);
            let nine = Ring::new(&shards(1..SHARDS), vnodes);
            let (mean, max_per_mille) = balance(&ten, KEYS);
            let added = moved(&ten, &eleven, KEYS);
            let removed = moved(&ten, &nine, KEYS);
            println!(
                "{vnodes:>6}  {mean:>4}  {:>4}.{:03}  {:>14.4}  {:>10.4}  {:>20.4}  {:>10.4}",
                max_per_mille / 1000,
                max_per_mille % 1000,
                f64::from(added) / f64::from(KEYS),
                1.0 / f64::from(SHARDS + 1),
                f64::from(removed) / f64::from(KEYS),
                1.0 / f64::from(SHARDS),
            );
            // Only the arcs of the shard that came or went change hands.
            assert!(added > 0 && removed > 0);
            ratios.push((vnodes, max_per_mille, added, removed));
        }
        // More virtual nodes, fairer shares: 1,000 per shard keep every shard within 15% of
        // the mean, and each change moves within 30% of the ideal share.
        let &(_, fair, added, removed) = ratios.last().expect("four rows");
        assert!(fair < 1150, "max/mean {fair}/1000 with 1000 vnodes");
        let ideal_add = KEYS / (SHARDS + 1);
        let ideal_remove = KEYS / SHARDS;
        assert!(added.abs_diff(ideal_add) < ideal_add * 3 / 10);
        assert!(removed.abs_diff(ideal_remove) < ideal_remove * 3 / 10);
        assert!(ratios[0].1 > ratios[3].1, "1 vnode should be less even");
    }
}
