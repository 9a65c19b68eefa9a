//! Fault plans as readable scripts: the scenario written back as RON with one comment per
//! scripted event, and the plan cut into fault *units* (an action and the action that undoes it),
//! which is what the shrinker removes first.
//!
//! The RON text itself comes from [`Scenario::to_ron_with_script`], so what is written is exactly
//! what is read back; this module only adds comments, which the parser ignores.

use crate::scenario::Scenario;
use sim_core::faults::{
    FaultAction, FaultPlan, Membership, MessageFate, PartitionShape, TimedFault,
};
use sim_core::id::NodeId;
use sim_core::time::{Duration, Instant};
use std::collections::BTreeSet;

/// The plan's actions that can ever run in `scenario`: those before the end of phase one. The
/// kernel never queues a fault at or after the start of recovery (recovery heals everything), so
/// dropping them changes nothing in the run, and the written script stays within the run.
pub fn applied_part(plan: &FaultPlan, duration: Duration) -> FaultPlan {
    let recovery_at = Instant(duration.as_nanos());
    FaultPlan {
        faults: plan
            .faults
            .iter()
            .filter(|fault| fault.at < recovery_at)
            .cloned()
            .collect(),
    }
}

/// `scenario` as RON with `plan` as its `Script`, `header` lines as `//` comments on top, and a
/// comment after every scripted event saying when it happens and what it does.
pub fn commented_ron(scenario: &Scenario, plan: &FaultPlan, header: &[String]) -> String {
    let text = scenario.to_ron_with_script(plan);
    let mut out = String::with_capacity(text.len() + plan.faults.len() * 64 + 256);
    for line in header {
        if line.is_empty() {
            out.push_str("//\n");
        } else {
            out.push_str("// ");
            out.push_str(line);
            out.push('\n');
        }
    }
    let mut in_script = false;
    let mut index = 0;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if in_script && trimmed.starts_with("]") {
            in_script = false;
        }
        out.push_str(line);
        if in_script && trimmed.starts_with("(at:") {
            if let Some(fault) = plan.faults.get(index) {
                out.push_str("  // ");
                out.push_str(&describe_timed(fault, scenario.node_count));
            }
            index += 1;
        }
        if trimmed.starts_with("faults: Script([") && !trimmed.ends_with("]),") {
            in_script = true;
        }
        out.push('\n');
    }
    debug_assert!(
        index == plan.faults.len(),
        "commented {index} of {} events",
        plan.faults.len()
    );
    out
}

/// The text of `faultline run --export-script`: seed `seed` of `scenario` with the concrete
/// fault plan that ran as a commented `Script`. Run with the same seed, it gives the same trace
/// digest (the kernel draws nothing for the plan itself: a generated plan comes from a stream of
/// its own, and partitions are already resolved to cuts). `expect` is left out: the file states
/// what ran, not what should happen.
pub fn exported(
    scenario: &Scenario,
    plan: &FaultPlan,
    seed: u64,
    source: &str,
    outcome: &str,
    path: &str,
) -> String {
    let mut scripted = scenario.clone();
    scripted.expect = None;
    let plan = applied_part(plan, scenario.duration);
    let header = vec![
        format!(
            "Seed {seed} of {source} with every fault explicit ({} events).",
            plan.faults.len()
        ),
        format!("This seed's outcome: {outcome}."),
        format!("The same run again: faultline run {path} --seed {seed}"),
        "Edit it (delete a crash, move a partition) and run it again.".to_string(),
    ];
    commented_ron(&scripted, &plan, &header)
}

/// Seconds with the trailing zeros of the nanoseconds removed: `0.0295s`, `2s`.
pub fn seconds(at: Instant) -> String {
    let whole = at.as_nanos() / 1_000_000_000;
    let fraction = at.as_nanos() % 1_000_000_000;
    if fraction == 0 {
        format!("{whole}s")
    } else {
        let digits = format!("{fraction:09}");
        format!("{whole}.{}s", digits.trim_end_matches('0'))
    }
}

fn signed_seconds(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "+" };
    format!("{sign}{}", seconds(Instant(nanos.unsigned_abs())))
}

/// One event in words: `at 0.0295s: partition {n0 n1} | {n2}`.
pub fn describe_timed(fault: &TimedFault, node_count: u32) -> String {
    format!(
        "at {}: {}",
        seconds(fault.at),
        describe(&fault.action, node_count)
    )
}

/// A fault action in words.
pub fn describe(action: &FaultAction, node_count: u32) -> String {
    match action {
        FaultAction::Partition(PartitionShape::Cuts(cuts)) => describe_cuts(cuts, node_count),
        FaultAction::Partition(shape) => format!("partition {shape:?}"),
        FaultAction::Heal => "heal: partitions, clogs and loss bursts end".into(),
        FaultAction::Crash {
            node,
            lose_unsynced: false,
        } => format!("crash {node} (the OS keeps its unsynced writes)"),
        FaultAction::Crash {
            node,
            lose_unsynced: true,
        } => format!("power loss on {node}: unsynced writes may be lost"),
        FaultAction::CrashAt {
            node,
            point,
            nth,
            lose_unsynced,
        } => format!(
            "{} {node} the {} time it passes crash point {point}",
            if *lose_unsynced {
                "power loss on"
            } else {
                "crash"
            },
            ordinal(*nth)
        ),
        FaultAction::Restart { node } => format!("restart {node} from its durable records"),
        FaultAction::Pause { node } => format!("pause {node} (its inputs queue up)"),
        FaultAction::Resume { node } => format!("resume {node}"),
        FaultAction::ClockStep { node, delta_nanos } => {
            format!("{node}'s clock jumps {}", signed_seconds(*delta_nanos))
        }
        FaultAction::ClockDrift { node, drift_ppm: 0 } => {
            format!("{node}'s clock rate back to normal")
        }
        FaultAction::ClockDrift { node, drift_ppm } => {
            let pace = if *drift_ppm > 0 { "fast" } else { "slow" };
            format!(
                "{node}'s clock runs {} ppm {pace}",
                drift_ppm.unsigned_abs()
            )
        }
        FaultAction::Clog { from, to } => format!("clog {from} -> {to} (messages held)"),
        FaultAction::Unclog { from, to } => {
            format!("unclog {from} -> {to} (held messages travel)")
        }
        FaultAction::SetLoss { loss: Some(loss) } => format!("loss burst: {loss} of messages lost"),
        FaultAction::SetLoss { loss: None } => "loss back to the scenario's ratio".into(),
        FaultAction::Membership(change) => match change {
            Membership::Add(Some(member)) => format!("add shard {member} to the ring"),
            Membership::Add(None) => "add a spare shard to the ring".into(),
            Membership::Remove(Some(member)) => format!("remove shard {member} from the ring"),
            Membership::Remove(None) => "remove a shard from the ring".into(),
        },
        FaultAction::Pin { message, fate } => match fate {
            MessageFate::Drop => format!("the {message} is lost"),
            MessageFate::Duplicate => format!("the {message} arrives twice"),
            MessageFate::Delay(delay) => format!("the {message} takes {delay}"),
        },
    }
}

/// Cuts in words: a clean partition as its groups, a node that cannot receive or send, else the
/// list of cut links.
fn describe_cuts(cuts: &[(NodeId, NodeId)], node_count: u32) -> String {
    let cut: BTreeSet<(u32, u32)> = cuts.iter().map(|(a, b)| (a.0, b.0)).collect();
    if cut.is_empty() {
        return "partition with no cuts".into();
    }
    // Groups: nodes joined when neither direction between them is cut.
    let mut group_of: Vec<usize> = (0..node_count as usize).collect();
    for a in 0..node_count {
        for b in 0..node_count {
            if a != b && !cut.contains(&(a, b)) && !cut.contains(&(b, a)) {
                let (ga, gb) = (group_of[a as usize], group_of[b as usize]);
                if ga != gb {
                    for g in group_of.iter_mut() {
                        if *g == gb {
                            *g = ga;
                        }
                    }
                }
            }
        }
    }
    let clean = (0..node_count).all(|a| {
        (0..node_count).all(|b| {
            a == b || (group_of[a as usize] != group_of[b as usize]) == cut.contains(&(a, b))
        })
    });
    if clean {
        let mut groups: Vec<Vec<u32>> = Vec::new();
        let mut seen = BTreeSet::new();
        for a in 0..node_count {
            if seen.insert(group_of[a as usize]) {
                groups.push(
                    (0..node_count)
                        .filter(|b| group_of[*b as usize] == group_of[a as usize])
                        .collect(),
                );
            }
        }
        let words: Vec<String> = groups
            .iter()
            .map(|group| {
                let names: Vec<String> = group.iter().map(|n| format!("n{n}")).collect();
                format!("{{{}}}", names.join(" "))
            })
            .collect();
        return format!("partition {}", words.join(" | "));
    }
    for n in 0..node_count {
        let inbound: BTreeSet<(u32, u32)> = (0..node_count)
            .filter(|&x| x != n)
            .map(|x| (x, n))
            .collect();
        if cut == inbound {
            return format!("n{n} cannot receive (one way: it still sends)");
        }
        let outbound: BTreeSet<(u32, u32)> = (0..node_count)
            .filter(|&x| x != n)
            .map(|x| (n, x))
            .collect();
        if cut == outbound {
            return format!("n{n} cannot send (one way: it still receives)");
        }
    }
    let links: Vec<String> = cut.iter().map(|(a, b)| format!("n{a} -> n{b}")).collect();
    format!("cut links {}", links.join(", "))
}

/// The plan cut into fault units, each a list of event indices in time order: a crash and its
/// restart, a pause and its resume, a partition and the heal that ends it, a clock step and the
/// step back, a drift and its reset, a clog and its unclog, a loss burst and its end. An event
/// with no partner is a unit of its own. Units are ordered by their first event.
pub fn units(plan: &FaultPlan) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Open {
        Down(u32),
        Paused(u32),
        Step(u32, i64),
        Drift(u32),
        Clog(u32, u32),
        Loss,
        Partition,
    }
    let mut units: Vec<Vec<usize>> = Vec::new();
    // Open fault -> its unit's index.
    let mut open: Vec<(Open, usize)> = Vec::new();
    let close = |open: &mut Vec<(Open, usize)>, key: Open| -> Option<usize> {
        let position = open.iter().position(|(k, _)| *k == key)?;
        Some(open.remove(position).1)
    };
    for (index, fault) in plan.faults.iter().enumerate() {
        let (opens, closes) = match fault.action {
            // An armed crash at a crash point opens the node's downtime like a crash.
            FaultAction::Crash { node, .. } | FaultAction::CrashAt { node, .. } => {
                (Some(Open::Down(node.0)), None)
            }
            FaultAction::Restart { node } => (None, Some(Open::Down(node.0))),
            FaultAction::Pause { node } => (Some(Open::Paused(node.0)), None),
            FaultAction::Resume { node } => (None, Some(Open::Paused(node.0))),
            FaultAction::ClockStep { node, delta_nanos } => {
                let back = Open::Step(node.0, delta_nanos.wrapping_neg());
                if open.iter().any(|(k, _)| *k == back) {
                    (None, Some(back))
                } else {
                    (Some(Open::Step(node.0, delta_nanos)), None)
                }
            }
            FaultAction::ClockDrift { node, drift_ppm: 0 } => (None, Some(Open::Drift(node.0))),
            FaultAction::ClockDrift { node, .. } => (Some(Open::Drift(node.0)), None),
            FaultAction::Clog { from, to } => (Some(Open::Clog(from.0, to.0)), None),
            FaultAction::Unclog { from, to } => (None, Some(Open::Clog(from.0, to.0))),
            FaultAction::SetLoss { loss: Some(_) } => (Some(Open::Loss), None),
            FaultAction::SetLoss { loss: None } => (None, Some(Open::Loss)),
            FaultAction::Partition(_) => {
                // A new partition replaces the current one: that unit ends without a heal.
                close(&mut open, Open::Partition);
                (Some(Open::Partition), None)
            }
            FaultAction::Heal => (None, Some(Open::Partition)),
            FaultAction::Membership(_) | FaultAction::Pin { .. } => (None, None),
        };
        if let Some(key) = closes {
            if let Some(unit) = close(&mut open, key) {
                units[unit].push(index);
                continue;
            }
        }
        if let Some(key) = opens {
            // The same fault opened twice (a second crash of a crashed node): the first stays
            // open-ended.
            close(&mut open, key);
            open.push((key, units.len()));
        }
        units.push(vec![index]);
    }
    units
}

/// `plan` without the events at `indices` (sorted or not).
pub fn without(plan: &FaultPlan, indices: &[usize]) -> FaultPlan {
    let drop: BTreeSet<usize> = indices.iter().copied().collect();
    FaultPlan {
        faults: plan
            .faults
            .iter()
            .enumerate()
            .filter(|(index, _)| !drop.contains(index))
            .map(|(_, fault)| fault.clone())
            .collect(),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, ..., `11th`, `21st`.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, action: FaultAction) -> TimedFault {
        TimedFault {
            at: Instant(ms * 1_000_000),
            action,
        }
    }

    #[test]
    fn units_pair_each_fault_with_its_undo() {
        let n = NodeId;
        let plan = FaultPlan {
            faults: vec![
                at(
                    1,
                    FaultAction::Crash {
                        node: n(1),
                        lose_unsynced: false,
                    },
                ),
                at(
                    2,
                    FaultAction::Partition(PartitionShape::Cuts(vec![(n(0), n(2))])),
                ),
                at(
                    3,
                    FaultAction::ClockStep {
                        node: n(0),
                        delta_nanos: 5,
                    },
                ),
                at(4, FaultAction::Heal),
                at(5, FaultAction::Restart { node: n(1) }),
                at(
                    6,
                    FaultAction::ClockStep {
                        node: n(0),
                        delta_nanos: -5,
                    },
                ),
                at(7, FaultAction::Restart { node: n(2) }),
            ],
        };
        assert_eq!(
            units(&plan),
            vec![vec![0, 4], vec![1, 3], vec![2, 5], vec![6]]
        );
        assert_eq!(without(&plan, &[0, 4]).faults.len(), 5);
    }

    #[test]
    fn cuts_read_as_groups_or_one_way_links() {
        let n = NodeId;
        assert_eq!(
            describe_cuts(&[(n(0), n(2)), (n(2), n(0)), (n(1), n(2)), (n(2), n(1))], 3),
            "partition {n0 n1} | {n2}"
        );
        assert_eq!(
            describe_cuts(&[(n(0), n(1)), (n(2), n(1))], 3),
            "n1 cannot receive (one way: it still sends)"
        );
        assert_eq!(describe_cuts(&[(n(0), n(1))], 3), "cut links n0 -> n1");
        assert_eq!(seconds(Instant(29_500_000)), "0.0295s");
        assert_eq!(seconds(Instant(2_000_000_000)), "2s");
    }
}
