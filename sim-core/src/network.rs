//! The virtual network: per-message latency, loss, duplication, reordering, directed
//! partitions and link clogging.
//!
//! Every message samples its own latency uniformly from `[latency_min, latency_max]`, so
//! messages on one link reorder whenever their latencies cross; `reorder` additionally gives a
//! fraction of messages a long extra delay (up to ten times `latency_max`), which reorders
//! across heartbeats and retries. A cut link (a partition) drops messages in its direction
//! only, checked both when a message is sent and when it would arrive; a clogged link holds
//! messages until it is unclogged. Clients sit on the network next to a *home* node (client `c`
//! next to node `c mod n`): a client's messages cross exactly the cuts its home node's would.

use crate::faults::PartitionShape;
use crate::id::NodeId;
use crate::prng::{Prng, Ratio};
use crate::time::Duration;

/// The network's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Smallest one-way latency.
    pub latency_min: Duration,
    /// Largest one-way latency (inclusive).
    pub latency_max: Duration,
    /// Probability that a message is lost.
    pub loss: Ratio,
    /// Probability that a delivered message is delivered a second time.
    pub duplicate: Ratio,
    /// Probability that a message gets a long extra delay (up to 10 × `latency_max`).
    pub reorder: Ratio,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            reorder: Ratio::ZERO,
        }
    }
}

/// What happens to one sent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost.
    Lost,
    /// Delivered once after this delay.
    Deliver(Duration),
    /// Delivered twice, after each delay.
    Twice(Duration, Duration),
}

/// The link state between nodes.
#[derive(Clone, Debug)]
pub struct Network {
    config: NetworkConfig,
    node_count: usize,
    /// `cut[from * n + to]`: messages from `from` to `to` are dropped.
    cut: Vec<bool>,
    /// `clogged[from * n + to]`: messages from `from` to `to` are held.
    clogged: Vec<bool>,
    loss_override: Option<Ratio>,
}

impl Network {
    /// A fully connected network of `node_count` nodes.
    ///
    /// # Panics
    /// If `latency_min > latency_max`.
    pub fn new(config: NetworkConfig, node_count: u32) -> Network {
        assert!(
            config.latency_min <= config.latency_max,
            "latency_min above latency_max"
        );
        let n = node_count as usize;
        Network {
            config,
            node_count: n,
            cut: vec![false; n * n],
            clogged: vec![false; n * n],
            loss_override: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    #[inline]
    fn slot(&self, from: NodeId, to: NodeId) -> usize {
        from.index() * self.node_count + to.index()
    }

    /// Are messages from `from` to `to` dropped?
    #[inline]
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut[self.slot(from, to)]
    }

    /// Are messages from `from` to `to` held?
    #[inline]
    pub fn is_clogged(&self, from: NodeId, to: NodeId) -> bool {
        self.clogged[self.slot(from, to)]
    }

    /// Replaces the current partition with these directed cuts.
    pub fn set_partition(&mut self, cuts: &[(NodeId, NodeId)]) {
        self.cut.iter_mut().for_each(|c| *c = false);
        for &(from, to) in cuts {
            assert!(from != to, "a node cannot be cut from itself");
            let slot = self.slot(from, to);
            self.cut[slot] = true;
        }
    }

    /// The current directed cuts, in order.
    pub fn cuts(&self) -> Vec<(NodeId, NodeId)> {
        let n = self.node_count;
        (0..n * n)
            .filter(|&i| self.cut[i])
            .map(|i| (NodeId((i / n) as u32), NodeId((i % n) as u32)))
            .collect()
    }

    /// Clogs or unclogs one directed link.
    pub fn set_clogged(&mut self, from: NodeId, to: NodeId, clogged: bool) {
        let slot = self.slot(from, to);
        self.clogged[slot] = clogged;
    }

    /// Overrides the loss ratio (a loss burst); `None` restores the configured one.
    pub fn set_loss_override(&mut self, loss: Option<Ratio>) {
        self.loss_override = loss;
    }

    /// Removes every cut, clog and loss override.
    pub fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
        self.clogged.iter_mut().for_each(|c| *c = false);
        self.loss_override = None;
    }

    /// Samples the fate of one message. Draws from `rng` only for the features that are on, so
    /// a calm network costs one draw per message.
    #[inline]
    pub fn sample(&self, rng: &mut Prng) -> Fate {
        let loss = self.loss_override.unwrap_or(self.config.loss);
        if loss.ppm > 0 && rng.chance(loss) {
            return Fate::Lost;
        }
        let first = self.latency(rng);
        if self.config.duplicate.ppm > 0 && rng.chance(self.config.duplicate) {
            return Fate::Twice(first, self.latency(rng));
        }
        Fate::Deliver(first)
    }

    #[inline]
    fn latency(&self, rng: &mut Prng) -> Duration {
        let NetworkConfig {
            latency_min,
            latency_max,
            reorder,
            ..
        } = self.config;
        let mut latency = if latency_min == latency_max {
            latency_min
        } else {
            Duration(rng.range_inclusive(latency_min.0, latency_max.0))
        };
        if reorder.ppm > 0 && rng.chance(reorder) {
            latency = latency + Duration(rng.range_inclusive(0, latency_max.0.saturating_mul(10)));
        }
        latency
    }
}

/// Resolves a partition shape to directed cuts among `node_count` nodes, drawing membership
/// from `rng` (the fault stream).
pub fn resolve_partition(
    shape: &PartitionShape,
    node_count: u32,
    rng: &mut Prng,
) -> Vec<(NodeId, NodeId)> {
    let n = node_count;
    let mut order: Vec<NodeId> = (0..n).map(NodeId).collect();
    let mut cuts = Vec::new();
    let cut_between = |a: &[NodeId], b: &[NodeId], cuts: &mut Vec<(NodeId, NodeId)>| {
        for &x in a {
            for &y in b {
                if x != y {
                    cuts.push((x, y));
                    cuts.push((y, x));
                }
            }
        }
    };
    match shape {
        PartitionShape::Halves => {
            rng.shuffle(&mut order);
            let (small, large) = order.split_at((n / 2) as usize);
            cut_between(small, large, &mut cuts);
        }
        PartitionShape::Bridge => {
            rng.shuffle(&mut order);
            let half = (n / 2) as usize;
            if n >= 3 {
                let left = &order[..half];
                let right = &order[half + 1..];
                cut_between(left, right, &mut cuts);
            }
        }
        PartitionShape::MajoritiesRing => {
            rng.shuffle(&mut order);
            let majority = n / 2 + 1;
            // Each node sees the `reach` nearest nodes on each side of the ring: itself plus
            // 2 × reach ≥ majority, while no two nodes see the same set.
            let reach = majority / 2;
            for i in 0..n {
                for j in 0..n {
                    let distance = (i + n - j) % n;
                    let ring_distance = distance.min(n - distance);
                    if i != j && ring_distance > reach {
                        cuts.push((order[i as usize], order[j as usize]));
                    }
                }
            }
        }
        PartitionShape::IsolateOne => {
            let lone = NodeId(rng.below(u64::from(n)) as u32);
            let others: Vec<NodeId> = order.iter().copied().filter(|&x| x != lone).collect();
            cut_between(&[lone], &others, &mut cuts);
        }
        PartitionShape::OneWay => {
            let lone = NodeId(rng.below(u64::from(n)) as u32);
            let inbound = rng.below(2) == 0;
            for other in (0..n).map(NodeId).filter(|&x| x != lone) {
                cuts.push(if inbound {
                    (other, lone)
                } else {
                    (lone, other)
                });
            }
        }
        PartitionShape::Groups(groups) => {
            let mut group_of = vec![usize::MAX; n as usize];
            for (g, members) in groups.iter().enumerate() {
                for member in members {
                    group_of[member.index()] = g;
                }
            }
            for from in 0..n as usize {
                for to in 0..n as usize {
                    if from != to && group_of[from] != group_of[to] {
                        cuts.push((NodeId(from as u32), NodeId(to as u32)));
                    }
                }
            }
        }
        PartitionShape::Cuts(explicit) => cuts.extend(explicit.iter().copied()),
    }
    cuts.sort();
    cuts.dedup();
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Stream;

    fn can_talk(cuts: &[(NodeId, NodeId)], a: u32, b: u32) -> bool {
        !cuts.contains(&(NodeId(a), NodeId(b)))
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        let mut rng = Prng::new(5, Stream::Faults);
        let cuts = resolve_partition(&PartitionShape::MajoritiesRing, 5, &mut rng);
        let mut views = Vec::new();
        for a in 0..5 {
            let view: Vec<u32> = (0..5)
                .filter(|&b| a == b || can_talk(&cuts, a, b))
                .collect();
            assert_eq!(view.len(), 3, "node {a} sees {view:?}");
            views.push(view);
        }
        views.sort();
        views.dedup();
        assert_eq!(views.len(), 5, "no two nodes see the same majority");
    }

    #[test]
    fn halves_bridge_isolate_and_one_way_have_their_shapes() {
        let mut rng = Prng::new(6, Stream::Faults);
        let halves = resolve_partition(&PartitionShape::Halves, 5, &mut rng);
        assert_eq!(halves.len(), 2 * 2 * 3);
        let bridge = resolve_partition(&PartitionShape::Bridge, 5, &mut rng);
        let bridge_nodes: Vec<u32> = (0..5)
            .filter(|&a| (0..5).all(|b| can_talk(&bridge, a, b) && can_talk(&bridge, b, a)))
            .collect();
        assert_eq!(bridge_nodes.len(), 1, "exactly one node sees everyone");
        let isolated = resolve_partition(&PartitionShape::IsolateOne, 5, &mut rng);
        assert_eq!(isolated.len(), 8);
        let one_way = resolve_partition(&PartitionShape::OneWay, 3, &mut rng);
        assert_eq!(one_way.len(), 2);
        for &(a, b) in &one_way {
            assert!(!one_way.contains(&(b, a)), "one-way cuts are not symmetric");
        }
        let groups = resolve_partition(
            &PartitionShape::Groups(vec![vec![NodeId(0), NodeId(1)], vec![NodeId(2)]]),
            4,
            &mut rng,
        );
        assert!(can_talk(&groups, 0, 1) && !can_talk(&groups, 0, 2) && !can_talk(&groups, 3, 2));
    }

    #[test]
    fn sampling_respects_loss_and_duplication() {
        let config = NetworkConfig {
            latency_min: Duration(10),
            latency_max: Duration(20),
            loss: Ratio::from_percent(50),
            duplicate: Ratio::from_percent(50),
            reorder: Ratio::ZERO,
        };
        let network = Network::new(config, 2);
        let mut rng = Prng::new(1, Stream::Network);
        let (mut lost, mut twice, mut once) = (0, 0, 0);
        for _ in 0..10_000 {
            match network.sample(&mut rng) {
                Fate::Lost => lost += 1,
                Fate::Twice(a, b) => {
                    assert!((10..=20).contains(&a.0) && (10..=20).contains(&b.0));
                    twice += 1
                }
                Fate::Deliver(a) => {
                    assert!((10..=20).contains(&a.0));
                    once += 1
                }
            }
        }
        assert!((4_500..5_500).contains(&lost), "{lost}");
        assert!(
            (2_000..3_000).contains(&twice) && (2_000..3_000).contains(&once),
            "{twice} {once}"
        );
    }
}
