//! What the pages show, derived from what a run already keeps: operations paired from the
//! history, fault intervals from the applied faults, node roles from the protocol's
//! observations. Everything here is integers (nanoseconds, counts); floats appear only when a
//! chart places a point.

use sim_core::faults::{FaultAction, Membership};
use sim_core::history::{EventType, Function, HistoryEvent, Value};
use sim_core::id::NodeId;
use sim_core::simulation::{AppliedFault, FaultEvent, ObservationRecord};
use std::collections::BTreeMap;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpOutcome {
    /// Took effect.
    Ok,
    /// Did not take effect.
    Fail,
    /// Indeterminate.
    Info,
    /// Never completed (indeterminate too).
    Open,
}

impl OpOutcome {
    /// `ok`, `fail`, `info`, `open`: also the CSS class of its bars.
    pub fn name(self) -> &'static str {
        match self {
            OpOutcome::Ok => "ok",
            OpOutcome::Fail => "fail",
            OpOutcome::Info => "info",
            OpOutcome::Open => "open",
        }
    }
}

/// One operation: an invoke and its completion (if any). It borrows its key and values from
/// the history it was paired from (pairing is part of every report: cloning each key and
/// value cost more than the rest of the pairing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op<'h> {
    /// The client process.
    pub process: u64,
    /// The function.
    pub f: Function,
    /// The object.
    pub key: Option<&'h str>,
    /// Index of the invoke event in the history.
    pub invoke_index: usize,
    /// Index of the completion event.
    pub complete_index: Option<usize>,
    /// Invoke time.
    pub start_nanos: u64,
    /// Completion time.
    pub end_nanos: Option<u64>,
    /// How it ended.
    pub outcome: OpOutcome,
    /// The argument.
    pub argument: &'h Value,
    /// The result (of an `ok`; `null` otherwise).
    pub result: &'h Value,
}

/// The result of an operation that has none.
static NO_RESULT: Value = Value::Null;

impl Op<'_> {
    /// Completion time minus invoke time, for completed operations.
    pub fn latency_nanos(&self) -> Option<u64> {
        self.end_nanos.map(|end| end - self.start_nanos)
    }

    /// `write key=3 5 -> ok`: one line for tooltips and the explanation.
    pub fn describe(&self) -> String {
        let key = self
            .key
            .as_ref()
            .map(|k| format!(" key={k}"))
            .unwrap_or_default();
        // Only an ok read-like result says something beyond the argument.
        let result = match (self.outcome, &self.result) {
            (OpOutcome::Ok, value) if *value != self.argument => format!(" = {value}"),
            _ => String::new(),
        };
        format!(
            "p{} {}{key} {}{result} -> {}",
            self.process,
            self.f.as_str(),
            self.argument,
            self.outcome.name()
        )
    }
}

/// Appends `value` as its `Display` text, escaped for HTML (integers without formatting).
fn push_value_escaped(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int(v) => crate::svg::push_i64(out, *v),
        // A list is written as `Display` does (`[1,2]`); its brackets and commas need no
        // escaping, so only a string inside goes through the text.
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value_escaped(out, item);
            }
            out.push(']');
        }
        Value::Str(_) => crate::svg::push_escaped(out, &value.to_string()),
    }
}

impl Op<'_> {
    /// [`Op::describe`], escaped for HTML and appended to `out` (a tooltip per operation).
    pub fn describe_into(&self, out: &mut String) {
        out.push('p');
        crate::svg::push_u64(out, self.process);
        out.push(' ');
        out.push_str(self.f.as_str());
        if let Some(key) = self.key {
            out.push_str(" key=");
            crate::svg::push_escaped(out, key);
        }
        out.push(' ');
        push_value_escaped(out, self.argument);
        if self.outcome == OpOutcome::Ok && self.result != self.argument {
            out.push_str(" = ");
            push_value_escaped(out, self.result);
        }
        out.push_str(" -&gt; ");
        out.push_str(self.outcome.name());
    }
}

/// Pairs invokes with their completions, in invoke order. A completion without an invoke is
/// skipped (the checker reports such histories as malformed before a report is written).
pub fn pair_operations(history: &[HistoryEvent]) -> Vec<Op<'_>> {
    let mut ops: Vec<Op<'_>> = Vec::with_capacity(history.len() / 2 + 1);
    // The open operation of each process, by process number (processes are numbered densely
    // from 0, a retired one's successor next): a vector, not a map, on this per-event path.
    let processes = history
        .iter()
        .map(|e| e.process)
        .max()
        .map_or(0, |p| p as usize + 1);
    let mut open: Vec<usize> = if processes <= 4 * history.len() + 64 {
        vec![usize::MAX; processes]
    } else {
        Vec::new()
    };
    let mut open_sparse: BTreeMap<u64, usize> = BTreeMap::new();
    for (index, event) in history.iter().enumerate() {
        let slot = open.get_mut(event.process as usize);
        match event.kind {
            EventType::Invoke => {
                match slot {
                    Some(slot) => *slot = ops.len(),
                    None => {
                        open_sparse.insert(event.process, ops.len());
                    }
                }
                ops.push(Op {
                    process: event.process,
                    f: event.f,
                    key: event.key.as_deref(),
                    invoke_index: index,
                    complete_index: None,
                    start_nanos: event.time,
                    end_nanos: None,
                    outcome: OpOutcome::Open,
                    argument: &event.value,
                    result: &NO_RESULT,
                });
            }
            kind => {
                let position = match slot {
                    Some(slot) => std::mem::replace(slot, usize::MAX),
                    None => open_sparse.remove(&event.process).unwrap_or(usize::MAX),
                };
                let Some(op) = ops.get_mut(position) else {
                    continue;
                };
                op.complete_index = Some(index);
                op.end_nanos = Some(event.time);
                op.outcome = match kind {
                    EventType::Ok => OpOutcome::Ok,
                    EventType::Fail => OpOutcome::Fail,
                    _ => OpOutcome::Info,
                };
                if kind == EventType::Ok {
                    op.result = &event.value;
                }
            }
        }
    }
    ops
}

/// What kind of fault an interval is (its colour and its row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// A network partition.
    Partition,
    /// A crash (or a power loss).
    Crash,
    /// A paused process.
    Pause,
    /// A clogged link.
    Clog,
    /// A loss burst.
    Loss,
    /// A clock step or drift (an instant: drawn as a tick).
    Clock,
    /// A membership change asked of the protocol (an instant: drawn as a tick).
    Membership,
}

impl FaultKind {
    /// CSS class and legend word.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Clog => "clog",
            FaultKind::Loss => "loss",
            FaultKind::Clock => "clock",
            FaultKind::Membership => "membership",
        }
    }
}

/// A fault from when it was applied to when it was undone (or the recovery phase began).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpan {
    /// Its kind.
    pub kind: FaultKind,
    /// The node it concerns, if one.
    pub node: Option<NodeId>,
    /// Start.
    pub start_nanos: u64,
    /// End (equal to the start for instants).
    pub end_nanos: u64,
    /// A short label: `partition {n0 n1} {n2 n3 n4}`.
    pub label: String,
}

/// The groups a set of directed cuts leaves: nodes joined when neither direction between
/// them is cut; `(one-way)` when some cut has no reverse.
fn partition_label(cuts: &[(NodeId, NodeId)], node_count: u32) -> String {
    let n = node_count as usize;
    // cut[a * n + b]: the link a -> b is cut (a fault plan has a handful of nodes).
    let mut cut = vec![false; n * n];
    for &(a, b) in cuts {
        if (a.0 as usize) < n && (b.0 as usize) < n {
            cut[a.0 as usize * n + b.0 as usize] = true;
        }
    }
    // Each node's group: the smallest node it is joined to, transitively.
    let mut group: Vec<usize> = (0..n).collect();
    for a in 0..n {
        for b in (a + 1)..n {
            if !cut[a * n + b] && !cut[b * n + a] {
                let (keep, drop) = (group[a].min(group[b]), group[a].max(group[b]));
                group
                    .iter_mut()
                    .filter(|g| **g == drop)
                    .for_each(|g| *g = keep);
            }
        }
    }
    let mut label = String::with_capacity(16 + 4 * n);
    label.push_str("partition");
    for leader in 0..n {
        if group[leader] != leader {
            continue;
        }
        label.push_str(" {");
        for (node, _) in group.iter().enumerate().filter(|(_, g)| **g == leader) {
            if node != leader {
                label.push(' ');
            }
            label.push('n');
            crate::svg::push_u64(&mut label, node as u64);
        }
        label.push('}');
    }
    let one_way = (0..n).any(|a| (0..n).any(|b| cut[a * n + b] && !cut[b * n + a]));
    if one_way {
        label.push_str(" (one-way)");
    }
    label
}

/// `before` + `n<node>` + `after`, without `format!` (a fault lane labels every fault).
fn labelled(before: &[&str], node: NodeId, after: &[&str]) -> String {
    let length = before
        .iter()
        .chain(after)
        .map(|part| part.len())
        .sum::<usize>()
        + 11;
    let mut label = String::with_capacity(length);
    before.iter().for_each(|part| label.push_str(part));
    label.push('n');
    crate::svg::push_u64(&mut label, u64::from(node.0));
    after.iter().for_each(|part| label.push_str(part));
    label
}

/// The applied faults as intervals, in start order. Whatever is still open when the recovery
/// phase begins (or the run ends, at `end_nanos`) closes there.
pub fn fault_spans(faults: &[AppliedFault], node_count: u32, end_nanos: u64) -> Vec<FaultSpan> {
    let mut spans: Vec<FaultSpan> = Vec::with_capacity(faults.len());
    let mut loss_labels: Vec<(u32, String)> = Vec::new();
    // Open intervals: (kind, node or link key) -> index in `spans`.
    let mut open: BTreeMap<(FaultKind, u64), usize> = BTreeMap::new();
    let link = |a: NodeId, b: NodeId| (u64::from(a.0) << 32) | u64::from(b.0);
    let start = |spans: &mut Vec<FaultSpan>,
                 open: &mut BTreeMap<(FaultKind, u64), usize>,
                 key: (FaultKind, u64),
                 node: Option<NodeId>,
                 at: u64,
                 label: String| {
        if let Some(index) = open.remove(&key) {
            spans[index].end_nanos = at;
        }
        open.insert(key, spans.len());
        spans.push(FaultSpan {
            kind: key.0,
            node,
            start_nanos: at,
            end_nanos: end_nanos.max(at),
            label,
        });
    };
    let stop = |spans: &mut Vec<FaultSpan>,
                open: &mut BTreeMap<(FaultKind, u64), usize>,
                key: (FaultKind, u64),
                at: u64| {
        if let Some(index) = open.remove(&key) {
            spans[index].end_nanos = at;
        }
    };
    for fault in faults {
        let at = fault.at.as_nanos();
        match &fault.what {
            FaultEvent::Partition { cuts, .. } => {
                let label = partition_label(cuts, node_count);
                start(
                    &mut spans,
                    &mut open,
                    (FaultKind::Partition, 0),
                    None,
                    at,
                    label,
                );
            }
            FaultEvent::Crash {
                node,
                lose_unsynced,
                lost,
                ..
            } => {
                let label = if *lose_unsynced {
                    labelled(
                        &["power loss "],
                        *node,
                        &[" (", &lost.to_string(), " unsynced lost)"],
                    )
                } else {
                    labelled(&["crash "], *node, &[])
                };
                let key = (FaultKind::Crash, u64::from(node.0));
                start(&mut spans, &mut open, key, Some(*node), at, label);
            }
            FaultEvent::CrashAtPoint {
                node,
                point,
                lose_unsynced,
                lost,
                ..
            } => {
                let label = if *lose_unsynced {
                    labelled(
                        &["power loss "],
                        *node,
                        &[" at ", *point, " (", &lost.to_string(), " unsynced lost)"],
                    )
                } else {
                    labelled(&["crash "], *node, &[" at ", *point])
                };
                let key = (FaultKind::Crash, u64::from(node.0));
                start(&mut spans, &mut open, key, Some(*node), at, label);
            }
            FaultEvent::Resume { node, .. } => {
                stop(
                    &mut spans,
                    &mut open,
                    (FaultKind::Pause, u64::from(node.0)),
                    at,
                );
            }
            FaultEvent::RecoveryBegins => {
                for (_, index) in std::mem::take(&mut open) {
                    spans[index].end_nanos = at;
                }
            }
            FaultEvent::Action(action) => match *action {
                FaultAction::Heal => stop(&mut spans, &mut open, (FaultKind::Partition, 0), at),
                FaultAction::Restart { node } => {
                    stop(
                        &mut spans,
                        &mut open,
                        (FaultKind::Crash, u64::from(node.0)),
                        at,
                    );
                }
                FaultAction::Pause { node } => {
                    let key = (FaultKind::Pause, u64::from(node.0));
                    start(
                        &mut spans,
                        &mut open,
                        key,
                        Some(node),
                        at,
                        labelled(&["pause "], node, &[]),
                    );
                }
                FaultAction::ClockStep { node, delta_nanos } => spans.push(FaultSpan {
                    kind: FaultKind::Clock,
                    node: Some(node),
                    start_nanos: at,
                    end_nanos: at,
                    label: {
                        let mut label = labelled(&["clock step "], node, &[" "]);
                        crate::svg::push_i64(&mut label, delta_nanos / 1_000_000);
                        label.push_str("ms");
                        label
                    },
                }),
                FaultAction::ClockDrift { node, drift_ppm } => spans.push(FaultSpan {
                    kind: FaultKind::Clock,
                    node: Some(node),
                    start_nanos: at,
                    end_nanos: at,
                    label: {
                        let mut label = labelled(&["clock drift "], node, &[" "]);
                        crate::svg::push_i64(&mut label, i64::from(drift_ppm));
                        label.push_str("ppm");
                        label
                    },
                }),
                FaultAction::Clog { from, to } => {
                    let key = (FaultKind::Clog, link(from, to));
                    start(
                        &mut spans,
                        &mut open,
                        key,
                        None,
                        at,
                        labelled(&["clog "], from, &["->n", &to.0.to_string()]),
                    );
                }
                FaultAction::Unclog { from, to } => {
                    stop(&mut spans, &mut open, (FaultKind::Clog, link(from, to)), at);
                }
                FaultAction::SetLoss { loss: Some(ratio) } => {
                    let key = (FaultKind::Loss, 0);
                    // A plan draws its bursts from a few ratios: each formatted once.
                    let label = match loss_labels.iter().find(|(ppm, _)| *ppm == ratio.ppm) {
                        Some((_, label)) => label.clone(),
                        None => {
                            let label = format!("loss burst {ratio}");
                            loss_labels.push((ratio.ppm, label.clone()));
                            label
                        }
                    };
                    start(&mut spans, &mut open, key, None, at, label);
                }
                FaultAction::SetLoss { loss: None } => {
                    stop(&mut spans, &mut open, (FaultKind::Loss, 0), at);
                }
                FaultAction::Membership(change) => spans.push(FaultSpan {
                    kind: FaultKind::Membership,
                    node: None,
                    start_nanos: at,
                    end_nanos: at,
                    label: match change {
                        Membership::Add(Some(member)) => format!("add shard {member}"),
                        Membership::Add(None) => "add a shard".to_string(),
                        Membership::Remove(Some(member)) => format!("remove shard {member}"),
                        Membership::Remove(None) => "remove a shard".to_string(),
                    },
                }),
                // Only armed here; the crash itself is a `CrashAtPoint` when it happens.
                FaultAction::CrashAt { .. } => {}
                // One message's fate, not a span of time.
                FaultAction::Pin { .. } => {}
                FaultAction::Partition(_)
                | FaultAction::Crash { .. }
                | FaultAction::Resume { .. } => {}
            },
        }
    }
    spans.sort_by_key(|span| (span.start_nanos, span.kind));
    spans
}

/// The union of the fault intervals (instants left out), sorted and merged: where the plots
/// are shaded and what "during faults" means.
pub fn fault_union(spans: &[FaultSpan]) -> Vec<(u64, u64)> {
    let mut intervals: Vec<(u64, u64)> = spans
        .iter()
        .filter(|s| s.end_nanos > s.start_nanos)
        .map(|s| (s.start_nanos, s.end_nanos))
        .collect();
    intervals.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// A stretch of a node's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpan {
    /// From.
    pub start_nanos: u64,
    /// To.
    pub end_nanos: u64,
    /// `leader`, `candidate`, `follower`, `primary`, `crashed`, `paused`, ...
    pub role: String,
    /// Term, ballot or epoch, when the protocol's observations name one.
    pub number: Option<u64>,
    /// A leader (or primary) from the moment some node showed a larger term/ballot/epoch than
    /// the one it leads in, though it has not heard of it: deposed without knowing it.
    pub deposed: bool,
}

/// After each crash of a node that was leading (a `leader` or `primary` lane until the crash),
/// how long until some node's lane starts leading again: the time without a leader after a
/// crash. A crash with no new leader before `end_nanos` counts up to `end_nanos` (censored:
/// the figure is then a lower bound). From the lanes, so a leader that was deposed without
/// observing it still counts as leading until its crash.
pub fn leaderless_after_crashes(
    lanes: &[Vec<RoleSpan>],
    spans: &[FaultSpan],
    end_nanos: u64,
) -> Vec<u64> {
    let leads = |role: &str| matches!(role, "leader" | "primary");
    let mut gaps = Vec::new();
    for crash in spans.iter().filter(|s| s.kind == FaultKind::Crash) {
        let Some(node) = crash.node else { continue };
        let at = crash.start_nanos;
        if at >= end_nanos {
            continue;
        }
        let was_leading = lanes.get(node.0 as usize).is_some_and(|lane| {
            lane.iter()
                .any(|s| leads(&s.role) && s.start_nanos < at && s.end_nanos >= at)
        });
        if !was_leading {
            continue;
        }
        let next = lanes
            .iter()
            .flatten()
            .filter(|s| leads(&s.role) && s.start_nanos >= at)
            .map(|s| s.start_nanos)
            .min()
            .unwrap_or(end_nanos)
            .min(end_nanos);
        gaps.push(next - at);
    }
    gaps
}

/// Is `role` one that ends when the node learns of a larger term/ballot/epoch? (A sharded
/// store's `group leader` too, though no other group's term deposes it.)
fn is_leading(role: &str) -> bool {
    matches!(
        role,
        "leader" | "primary" | "candidate" | "coordinator" | "group leader"
    )
}

/// Each node's lane: its roles over time from the protocol's observations, with crashes and
/// pauses from the fault spans laid over them. A leader stays one until the node crashes or
/// observes a larger term/ballot/epoch than the one it led (protocols do not observe stepping
/// down; the lane says what the node could know).
pub fn node_lanes(
    node_count: u32,
    observations: &[ObservationRecord],
    spans: &[FaultSpan],
    end_nanos: u64,
) -> Vec<Vec<RoleSpan>> {
    // Per node: the events that change its lane, in time order.
    enum Change<'r> {
        Role(&'r str, Option<u64>),
        Number(u64),
        Down(&'static str),
        Up,
    }
    let mut changes: Vec<Vec<(u64, u8, Change)>> = (0..node_count).map(|_| Vec::new()).collect();
    for record in observations {
        let Some(lane) = changes.get_mut(record.node.0 as usize) else {
            continue;
        };
        let at = record.at.as_nanos();
        match (&record.role, record.number) {
            (Some(role), number) => lane.push((at, 1, Change::Role(role.as_str(), number))),
            (None, Some(number)) => lane.push((at, 1, Change::Number(number))),
            (None, None) => {}
        }
    }
    for span in spans {
        let Some(node) = span.node else { continue };
        let Some(lane) = changes.get_mut(node.0 as usize) else {
            continue;
        };
        let word = match span.kind {
            FaultKind::Crash => "crashed",
            FaultKind::Pause => "paused",
            _ => continue,
        };
        lane.push((span.start_nanos, 0, Change::Down(word)));
        lane.push((span.end_nanos, 2, Change::Up));
    }
    let mut lanes = Vec::new();
    for mut lane in changes {
        lane.sort_by_key(|(at, order, _)| (*at, *order));
        let mut spans: Vec<RoleSpan> = Vec::new();
        // Borrowed from the observations: a lane changes thousands of times in a long run.
        let mut role: &str = "up";
        let mut number: Option<u64> = None;
        let mut down: Option<&'static str> = None;
        let mut since = 0u64;
        let close = |spans: &mut Vec<RoleSpan>, role: &str, number, since: u64, at: u64| {
            if at > since {
                // Merge with an equal neighbour: Appended in the same term changes nothing.
                if let Some(last) = spans.last_mut() {
                    if last.role == role && last.number == number && last.end_nanos == since {
                        last.end_nanos = at;
                        return;
                    }
                }
                spans.push(RoleSpan {
                    start_nanos: since,
                    end_nanos: at,
                    role: role.to_string(),
                    number,
                    deposed: false,
                });
            }
        };
        for (at, _, change) in lane {
            let shown = down.unwrap_or(role);
            let (next_role, next_number, next_down) = match change {
                Change::Role(new_role, new_number) => (new_role, new_number.or(number), down),
                Change::Number(n) => {
                    let larger = number.is_none_or(|current| n > current);
                    if larger && (is_leading(role) || role == "up") {
                        ("follower", Some(n), down)
                    } else if larger {
                        (role, Some(n), down)
                    } else {
                        (role, number, down)
                    }
                }
                // Volatile roles do not survive a crash; a pause keeps them.
                Change::Down("crashed") => ("up", number, Some("crashed")),
                Change::Down(word) => (role, number, Some(word)),
                Change::Up => (role, number, None),
            };
            let next_shown = next_down.unwrap_or(next_role);
            if next_shown != shown || next_number != number {
                close(&mut spans, shown, number, since, at);
                since = at;
            }
            role = next_role;
            number = next_number;
            down = next_down;
        }
        let shown = down.unwrap_or(role);
        close(&mut spans, shown, number, since, end_nanos.max(since));
        lanes.push(spans);
    }
    mark_deposed(&mut lanes, observations);
    lanes
}

/// Splits each leader or primary stretch in term/ballot/epoch `n` at the first moment some
/// node showed a number larger than `n`: from there on it is deposed without knowing it.
fn mark_deposed(lanes: &mut [Vec<RoleSpan>], observations: &[ObservationRecord]) {
    // (time, largest number shown by any node up to then), the maxima strictly growing.
    let mut shown: Vec<(u64, u64)> = observations
        .iter()
        .filter_map(|r| r.number.map(|n| (r.at.as_nanos(), n)))
        .collect();
    shown.sort_unstable();
    let mut largest: Vec<(u64, u64)> = Vec::new();
    for (at, n) in shown {
        if largest.last().is_none_or(|&(_, max)| n > max) {
            largest.push((at, n));
        }
    }
    for lane in lanes.iter_mut() {
        let mut split: Vec<RoleSpan> = Vec::with_capacity(lane.len());
        for span in lane.drain(..) {
            let leads = matches!(span.role.as_str(), "leader" | "primary");
            let deposed_at = span.number.filter(|_| leads).and_then(|n| {
                // The first time the maximum exceeds n (the maxima grow, so a search).
                let first = largest.partition_point(|&(_, max)| max <= n);
                largest.get(first).map(|&(at, _)| at.max(span.start_nanos))
            });
            match deposed_at {
                Some(at) if at < span.end_nanos => {
                    if at > span.start_nanos {
                        split.push(RoleSpan {
                            end_nanos: at,
                            ..span.clone()
                        });
                    }
                    split.push(RoleSpan {
                        start_nanos: at,
                        deposed: true,
                        ..span
                    });
                }
                _ => split.push(span),
            }
        }
        *lane = split;
    }
}

/// The `q`-quantile (0..=1000 per mille) of sorted values, nearest rank.
pub fn quantile_per_mille(sorted: &[u64], per_mille: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (per_mille * sorted.len() as u64).div_ceil(1000).max(1);
    Some(sorted[(rank as usize - 1).min(sorted.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::time::Instant;

    fn event(index: u64, time: u64, process: u64, kind: EventType, value: Value) -> HistoryEvent {
        HistoryEvent {
            index,
            time,
            process,
            kind,
            f: Function::Write,
            key: Some("a".into()),
            value,
            token: None,
        }
    }

    #[test]
    fn operations_pair_by_process_and_open_ones_stay_open() {
        let history = vec![
            event(0, 10, 1, EventType::Invoke, Value::Int(1)),
            event(1, 11, 2, EventType::Invoke, Value::Int(2)),
            event(2, 30, 1, EventType::Ok, Value::Int(1)),
            event(3, 40, 3, EventType::Invoke, Value::Int(3)),
            event(4, 50, 3, EventType::Info, Value::Int(3)),
        ];
        let ops = pair_operations(&history);
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].outcome, OpOutcome::Ok);
        assert_eq!(ops[0].latency_nanos(), Some(20));
        assert_eq!(ops[1].outcome, OpOutcome::Open);
        assert_eq!(ops[1].latency_nanos(), None);
        assert_eq!(ops[2].outcome, OpOutcome::Info);
        assert_eq!(ops[2].complete_index, Some(4));
    }

    #[test]
    fn the_escaped_description_is_the_description_escaped() {
        let mut history = vec![
            event(0, 10, 1, EventType::Invoke, Value::Int(1)),
            event(1, 30, 1, EventType::Ok, Value::Int(2)),
            event(2, 40, 3, EventType::Invoke, Value::Str("<x>".into())),
        ];
        history[2].key = Some("a&b".into());
        for op in pair_operations(&history) {
            let mut out = String::new();
            op.describe_into(&mut out);
            assert_eq!(out, crate::escape::escape(&op.describe()));
        }
    }

    #[test]
    fn partition_labels_name_the_groups() {
        let cuts = vec![
            (NodeId(0), NodeId(2)),
            (NodeId(2), NodeId(0)),
            (NodeId(1), NodeId(2)),
            (NodeId(2), NodeId(1)),
        ];
        assert_eq!(partition_label(&cuts, 3), "partition {n0 n1} {n2}");
        assert_eq!(
            partition_label(&[(NodeId(0), NodeId(1))], 2),
            "partition {n0} {n1} (one-way)"
        );
    }

    #[test]
    fn faults_become_intervals_closed_by_their_undo_or_recovery() {
        let at = |ms: u64| Instant::ZERO + sim_core::time::Duration::from_millis(ms);
        let faults = vec![
            AppliedFault {
                at: at(100),
                what: FaultEvent::Crash {
                    node: NodeId(1),
                    lose_unsynced: false,
                    kept: 3,
                    lost: 0,
                },
            },
            AppliedFault {
                at: at(200),
                what: FaultEvent::Action(FaultAction::Pause { node: NodeId(2) }),
            },
            AppliedFault {
                at: at(300),
                what: FaultEvent::Action(FaultAction::Restart { node: NodeId(1) }),
            },
            AppliedFault {
                at: at(500),
                what: FaultEvent::RecoveryBegins,
            },
        ];
        let spans = fault_spans(&faults, 3, 900_000_000);
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].start_nanos, spans[0].end_nanos),
            (100_000_000, 300_000_000)
        );
        assert_eq!(spans[0].kind, FaultKind::Crash);
        assert_eq!(
            (spans[1].start_nanos, spans[1].end_nanos),
            (200_000_000, 500_000_000)
        );
        assert_eq!(fault_union(&spans), vec![(100_000_000, 500_000_000)]);
    }

    #[test]
    fn the_time_without_a_leader_runs_from_a_leader_crash_to_the_next_leader() {
        let span = |start_nanos, end_nanos, role: &str| RoleSpan {
            start_nanos,
            end_nanos,
            role: role.into(),
            number: None,
            deposed: false,
        };
        let crash = |node, start_nanos| FaultSpan {
            kind: FaultKind::Crash,
            node: Some(NodeId(node)),
            start_nanos,
            end_nanos: start_nanos + 50,
            label: "crash".into(),
        };
        let lanes = vec![
            vec![span(0, 100, "leader"), span(100, 150, "crashed")],
            vec![span(0, 130, "follower"), span(130, 400, "leader")],
            vec![span(0, 400, "follower")],
        ];
        // n0 led until its crash at 100; n1 leads from 130: 30 without a leader. The crash of
        // follower n2 at 200 does not count; nobody leads after n1's crash at 300 (censored at
        // the end, 400).
        let mut lanes_with_n1_crash = lanes.clone();
        lanes_with_n1_crash[1] = vec![
            span(0, 130, "follower"),
            span(130, 300, "leader"),
            span(300, 400, "crashed"),
        ];
        let spans = vec![crash(0, 100), crash(2, 200)];
        assert_eq!(leaderless_after_crashes(&lanes, &spans, 400), vec![30]);
        let spans = vec![crash(0, 100), crash(2, 200), crash(1, 300)];
        assert_eq!(
            leaderless_after_crashes(&lanes_with_n1_crash, &spans, 400),
            vec![30, 100]
        );
        assert!(leaderless_after_crashes(&lanes, &[], 400).is_empty());
    }

    fn record(ms: u64, node: u32, role: Option<&str>, number: Option<u64>) -> ObservationRecord {
        ObservationRecord {
            at: Instant::ZERO + sim_core::time::Duration::from_millis(ms),
            node: NodeId(node),
            role: role.map(str::to_string),
            number,
        }
    }

    #[test]
    fn a_leader_is_deposed_from_when_a_larger_term_exists_elsewhere() {
        // n0 leads term 1 from 20 ms; n1 becomes a candidate in term 2 at 50 ms and leads
        // from 70 ms; n0 hears of term 2 only at 90 ms.
        let observations = vec![
            record(20, 0, Some("leader"), Some(1)),
            record(50, 1, Some("candidate"), Some(2)),
            record(70, 1, Some("leader"), Some(2)),
            record(90, 0, None, Some(2)),
        ];
        let lanes = node_lanes(2, &observations, &[], 100_000_000);
        let n0: Vec<(u64, &str, bool)> = lanes[0]
            .iter()
            .map(|s| (s.start_nanos / 1_000_000, s.role.as_str(), s.deposed))
            .collect();
        assert_eq!(
            n0,
            vec![
                (0, "up", false),
                (20, "leader", false),
                (50, "leader", true),
                (90, "follower", false)
            ]
        );
        // n1's own leadership in term 2 is never deposed: nobody shows term 3.
        assert!(lanes[1].iter().all(|s| !s.deposed));
        // Without the candidacy elsewhere, n0 leads undeposed until it hears of term 2.
        let lanes = node_lanes(2, &observations[..1], &[], 100_000_000);
        assert!(lanes[0].iter().all(|s| !s.deposed));
    }

    #[test]
    fn a_leader_lane_ends_at_a_larger_term_or_a_crash() {
        let observations = vec![
            record(10, 0, Some("candidate"), Some(1)),
            record(20, 0, Some("leader"), Some(1)),
            record(30, 0, None, Some(1)),
            record(60, 0, None, Some(2)),
        ];
        let lanes = node_lanes(1, &observations, &[], 100_000_000);
        let roles: Vec<(&str, Option<u64>)> = lanes[0]
            .iter()
            .map(|s| (s.role.as_str(), s.number))
            .collect();
        assert_eq!(
            roles,
            vec![
                ("up", None),
                ("candidate", Some(1)),
                ("leader", Some(1)),
                ("follower", Some(2))
            ]
        );
        let crash = FaultSpan {
            kind: FaultKind::Crash,
            node: Some(NodeId(0)),
            start_nanos: 40_000_000,
            end_nanos: 50_000_000,
            label: "crash n0".into(),
        };
        let lanes = node_lanes(1, &observations, &[crash], 100_000_000);
        let roles: Vec<&str> = lanes[0].iter().map(|s| s.role.as_str()).collect();
        assert_eq!(
            roles,
            vec!["up", "candidate", "leader", "crashed", "up", "follower"]
        );
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(quantile_per_mille(&values, 500), Some(5));
        assert_eq!(quantile_per_mille(&values, 990), Some(10));
        assert_eq!(quantile_per_mille(&values, 0), Some(1));
        assert_eq!(quantile_per_mille(&[], 500), None);
    }
}
