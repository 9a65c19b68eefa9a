//! A fault script written as RON by hand, in exactly the text the `ron` serializer writes for it
//! (the tests compare the two for every action). `run --out` writes every run's resolved
//! scenario with its script, and a fault-heavy script holds hundreds of actions: through serde
//! and ron's pretty printer they cost about a tenth of the run itself.

use crate::file::{format_signed_duration, ActionFile, ShapeFile, TimedActionFile};
use reports::svg::{push_i64, push_u64};

/// What `to_ron` writes for an empty script, replaced by the script's lines.
pub(super) const EMPTY_SCRIPT: &str = "    faults: Script([]),\n";

fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn shape(out: &mut String, shape: &ShapeFile) {
    match shape {
        ShapeFile::Halves => out.push_str("Halves"),
        ShapeFile::MajoritiesRing => out.push_str("MajoritiesRing"),
        ShapeFile::Bridge => out.push_str("Bridge"),
        ShapeFile::IsolateOne => out.push_str("IsolateOne"),
        ShapeFile::OneWay => out.push_str("OneWay"),
        ShapeFile::Groups(groups) => {
            out.push_str("Groups([");
            for (i, group) in groups.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('[');
                for (j, node) in group.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    push_u64(out, u64::from(*node));
                }
                out.push(']');
            }
            out.push_str("])");
        }
        ShapeFile::Cuts(cuts) => {
            out.push_str("Cuts([");
            for (i, (from, to)) in cuts.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('(');
                push_u64(out, u64::from(*from));
                out.push_str(", ");
                push_u64(out, u64::from(*to));
                out.push(')');
            }
            out.push_str("])");
        }
    }
}

/// `Name(a)` or `Name(a, b)` for node numbers and counts.
fn call(out: &mut String, name: &str, first: u64, second: Option<i64>) {
    out.push_str(name);
    out.push('(');
    push_u64(out, first);
    if let Some(second) = second {
        out.push_str(", ");
        push_i64(out, second);
    }
    out.push(')');
}

fn action(out: &mut String, action: &ActionFile) {
    match action {
        ActionFile::Partition(s) => {
            out.push_str("Partition(");
            shape(out, s);
            out.push(')');
        }
        ActionFile::Heal => out.push_str("Heal"),
        ActionFile::Crash(n) => call(out, "Crash", u64::from(*n), None),
        ActionFile::LoseUnsynced(n) => call(out, "LoseUnsynced", u64::from(*n), None),
        ActionFile::Restart(n) => call(out, "Restart", u64::from(*n), None),
        ActionFile::Pause(n) => call(out, "Pause", u64::from(*n), None),
        ActionFile::Resume(n) => call(out, "Resume", u64::from(*n), None),
        ActionFile::ClockStep(n, delta) => {
            out.push_str("ClockStep(");
            push_u64(out, u64::from(*n));
            out.push_str(", ");
            string(out, &format_signed_duration(delta.0));
            out.push(')');
        }
        ActionFile::ClockDrift(n, ppm) => {
            call(out, "ClockDrift", u64::from(*n), Some(i64::from(*ppm)));
        }
        ActionFile::Clog(a, b) => call(out, "Clog", u64::from(*a), Some(i64::from(*b))),
        ActionFile::Unclog(a, b) => call(out, "Unclog", u64::from(*a), Some(i64::from(*b))),
        ActionFile::SetLoss(ratio) => {
            out.push_str("SetLoss(");
            string(out, &ratio.0.to_string());
            out.push(')');
        }
        ActionFile::ResetLoss => out.push_str("ResetLoss"),
        ActionFile::CrashAt(n, point, nth) | ActionFile::PowerLossAt(n, point, nth) => {
            out.push_str(match action {
                ActionFile::CrashAt(..) => "CrashAt(",
                _ => "PowerLossAt(",
            });
            push_u64(out, u64::from(*n));
            out.push_str(", ");
            string(out, point);
            out.push_str(", ");
            push_u64(out, u64::from(*nth));
            out.push(')');
        }
        ActionFile::AddShard(member) | ActionFile::RemoveShard(member) => {
            out.push_str(match action {
                ActionFile::AddShard(..) => "AddShard(",
                _ => "RemoveShard(",
            });
            // `implicit_some`: a chosen shard is written bare, no choice as `None`.
            match member {
                Some(member) => push_u64(out, u64::from(*member)),
                None => out.push_str("None"),
            }
            out.push(')');
        }
        ActionFile::DropMessage(from, to, kind, nth)
        | ActionFile::DuplicateMessage(from, to, kind, nth)
        | ActionFile::DelayMessage(from, to, kind, nth, _) => {
            out.push_str(match action {
                ActionFile::DropMessage(..) => "DropMessage(",
                ActionFile::DuplicateMessage(..) => "DuplicateMessage(",
                _ => "DelayMessage(",
            });
            push_u64(out, u64::from(*from));
            out.push_str(", ");
            push_u64(out, u64::from(*to));
            out.push_str(", ");
            string(out, kind);
            out.push_str(", ");
            push_u64(out, u64::from(*nth));
            if let ActionFile::DelayMessage(.., delay) = action {
                out.push_str(", \"");
                duration(out, delay.0.as_nanos());
                out.push('"');
            }
            out.push(')');
        }
    }
}

/// A duration as its `Display` text: the largest unit that divides it (`150ms`, `2s`,
/// `1500us`, `7ns`).
fn duration(out: &mut String, nanos: u64) {
    if nanos == 0 {
        out.push_str("0s");
        return;
    }
    for (unit, size) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
        if nanos % size == 0 {
            push_u64(out, nanos / size);
            out.push_str(unit);
            return;
        }
    }
    push_u64(out, nanos);
    out.push_str("ns");
}

/// The script's part of the scenario text: `    faults: Script([` and a line per action.
pub(super) fn script(faults: &[TimedActionFile]) -> String {
    if faults.is_empty() {
        return EMPTY_SCRIPT.to_string();
    }
    let mut out = String::with_capacity(32 + faults.len() * 64);
    out.push_str("    faults: Script([\n");
    for fault in faults {
        out.push_str("        (at: \"");
        duration(&mut out, fault.at.0 .0);
        out.push_str("\", do: ");
        action(&mut out, &fault.action);
        out.push_str("),\n");
    }
    out.push_str("    ]),\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::validate::timed_fault_file;
    use super::super::Scenario;
    use crate::file::FaultsFile;
    use sim_core::faults::{FaultAction, FaultPlan, PartitionShape, TimedFault};
    use sim_core::id::NodeId;
    use sim_core::prng::Ratio;
    use sim_core::time::{Duration, Instant};

    #[test]
    fn the_hand_written_script_is_what_ron_writes_for_every_action() {
        let scenario = Scenario::from_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/catalog/raft-kv-everything.ron"
        )))
        .expect("catalogue scenario");
        let n = NodeId;
        let shapes = [
            PartitionShape::Halves,
            PartitionShape::MajoritiesRing,
            PartitionShape::Bridge,
            PartitionShape::IsolateOne,
            PartitionShape::OneWay,
            PartitionShape::Groups(vec![vec![n(0), n(1)], vec![n(2)]]),
            PartitionShape::Cuts(vec![(n(0), n(1)), (n(2), n(0))]),
        ];
        let mut actions: Vec<FaultAction> =
            shapes.into_iter().map(FaultAction::Partition).collect();
        actions.extend([
            FaultAction::Heal,
            FaultAction::Crash {
                node: n(1),
                lose_unsynced: false,
            },
            FaultAction::Crash {
                node: n(2),
                lose_unsynced: true,
            },
            FaultAction::Restart { node: n(1) },
            FaultAction::Pause { node: n(3) },
            FaultAction::Resume { node: n(3) },
            FaultAction::ClockStep {
                node: n(0),
                delta_nanos: -200_000_000,
            },
            FaultAction::ClockStep {
                node: n(0),
                delta_nanos: 1_500,
            },
            FaultAction::ClockDrift {
                node: n(4),
                drift_ppm: -120,
            },
            FaultAction::Clog {
                from: n(0),
                to: n(4),
            },
            FaultAction::Unclog {
                from: n(0),
                to: n(4),
            },
            FaultAction::SetLoss {
                loss: Some(Ratio::from_ppm(12_500)),
            },
            FaultAction::SetLoss { loss: None },
            FaultAction::CrashAt {
                node: n(2),
                point: "raft.after_vote".into(),
                nth: 3,
                lose_unsynced: false,
            },
            FaultAction::Membership(sim_core::faults::Membership::Add(Some(3))),
            FaultAction::Membership(sim_core::faults::Membership::Add(None)),
            FaultAction::Membership(sim_core::faults::Membership::Remove(Some(0))),
            FaultAction::Membership(sim_core::faults::Membership::Remove(None)),
            FaultAction::CrashAt {
                node: n(2),
                point: "raft.before_sync".into(),
                nth: 1,
                lose_unsynced: true,
            },
        ]);
        let message = |nth| sim_core::faults::MessageRef {
            from: n(0),
            to: n(2),
            kind: "AppendEntries".into(),
            nth,
        };
        actions.extend([
            FaultAction::Pin {
                message: message(3),
                fate: sim_core::faults::MessageFate::Drop,
            },
            FaultAction::Pin {
                message: message(4),
                fate: sim_core::faults::MessageFate::Duplicate,
            },
            FaultAction::Pin {
                message: message(5),
                fate: sim_core::faults::MessageFate::Delay(Duration::from_millis(40)),
            },
        ]);
        let plan = FaultPlan {
            faults: actions
                .into_iter()
                .enumerate()
                .map(|(i, action)| TimedFault {
                    // Every unit of a duration's text: ns, us, ms, s.
                    at: Instant::ZERO
                        + Duration([7, 3_000, 2_000_000, 1_000_000_000][i % 4] * (i as u64 + 1)),
                    action,
                })
                .collect(),
        };
        let by_ron = scenario.to_ron(Some(FaultsFile::Script(
            plan.faults.iter().map(timed_fault_file).collect(),
        )));
        assert_eq!(scenario.to_ron_with_script(&plan), by_ron);
        let empty = FaultPlan::default();
        assert_eq!(
            scenario.to_ron_with_script(&empty),
            scenario.to_ron(Some(FaultsFile::Script(Vec::new())))
        );
    }
}
