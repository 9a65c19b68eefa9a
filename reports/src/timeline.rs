//! The lanes of a run page, drawn as plain SVG: the fault timeline and the node lanes (on the
//! plots' time axis, [`crate::charts::layout`]) and the history timeline (one lane per client
//! process, Jepsen's timeline.html and Porcupine's visualizer are the models).

use crate::charts::layout::{LEFT, PLOT_WIDTH, WIDTH};
use crate::data::{FaultSpan, Op, RoleSpan};
use crate::escape::escape;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

const ROW_HEIGHT: u32 = 18;
const AXIS_HEIGHT: u32 = 22;

/// Maps nanoseconds in `[start, end]` to the shared plotting area.
#[derive(Clone, Copy)]
struct Axis {
    start: u64,
    end: u64,
}

impl Axis {
    fn x(self, nanos: u64) -> f64 {
        let span = (self.end - self.start).max(1) as f64;
        LEFT as f64
            + (nanos.clamp(self.start, self.end) - self.start) as f64 * PLOT_WIDTH as f64 / span
    }

    /// Ticks at round seconds (or milliseconds for short windows), with their labels.
    fn ticks(self) -> Vec<(u64, String)> {
        let span = (self.end - self.start).max(1);
        let steps = [
            1_000_000u64,
            2_000_000,
            5_000_000,
            10_000_000,
            20_000_000,
            50_000_000,
            100_000_000,
            200_000_000,
            500_000_000,
            1_000_000_000,
            2_000_000_000,
            5_000_000_000,
            10_000_000_000,
            20_000_000_000,
            60_000_000_000,
        ];
        let step = steps
            .iter()
            .copied()
            .find(|step| span / step <= 12)
            .unwrap_or(120_000_000_000);
        let first = self.start.div_ceil(step) * step;
        (0..)
            .map(|i| first + i * step)
            .take_while(|&t| t <= self.end)
            .map(|t| {
                let label = if step >= 1_000_000_000 {
                    format!("{}s", t / 1_000_000_000)
                } else {
                    format!("{:.3}s", t as f64 / 1e9)
                };
                (t, label)
            })
            .collect()
    }

    fn draw(self, out: &mut String, y: u32, height: u32) {
        for (t, label) in self.ticks() {
            let x = self.x(t);
            let _ = write!(
                out,
                r#"<line class="tick" x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"#,
                y + height,
                y + height + 14
            );
        }
    }
}

fn open_svg(out: &mut String, class: &str, height: u32) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
}

/// The fault timeline: each fault a bar from when it was applied to when it was undone (clock
/// steps and drifts a tick), packed into as few rows as overlap allows.
pub fn fault_lane(spans: &[FaultSpan], end_nanos: u64) -> String {
    let axis = Axis {
        start: 0,
        end: end_nanos.max(1),
    };
    // Greedy packing: each span goes to the first row whose last span ended before it began.
    let mut row_ends: Vec<f64> = Vec::new();
    let mut placed: Vec<(usize, &FaultSpan)> = Vec::new();
    for span in spans {
        let x0 = axis.x(span.start_nanos);
        let row = match row_ends.iter().position(|&end| end + 1.0 <= x0) {
            Some(row) => row,
            None => {
                row_ends.push(f64::MIN);
                row_ends.len() - 1
            }
        };
        row_ends[row] = axis.x(span.end_nanos).max(x0 + 3.0);
        placed.push((row, span));
    }
    let rows = row_ends.len().max(1) as u32;
    let height = rows * ROW_HEIGHT + AXIS_HEIGHT;
    let mut out = String::new();
    open_svg(&mut out, "lane faults", height);
    if spans.is_empty() {
        let _ = write!(out, r#"<text x="{LEFT}" y="13">no faults</text>"#);
    }
    axis.draw(&mut out, 0, rows * ROW_HEIGHT);
    for (row, span) in placed {
        let y = row as u32 * ROW_HEIGHT + 2;
        let x0 = axis.x(span.start_nanos);
        let width = (axis.x(span.end_nanos) - x0).max(3.0);
        let label = escape(&span.label);
        let _ = write!(
            out,
            r#"<g class="fault {kind}"><rect x="{x0:.1}" y="{y}" width="{width:.1}" height="{h}"/><title>{label} ({start:.3}s to {end:.3}s)</title>"#,
            kind = span.kind.name(),
            h = ROW_HEIGHT - 4,
            start = span.start_nanos as f64 / 1e9,
            end = span.end_nanos as f64 / 1e9,
        );
        // A label only where it fits (about 6 px per character).
        if width > 6.0 * span.label.len() as f64 + 6.0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}">{label}</text>"#,
                x0 + 3.0,
                y + 11
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// One lane per node: its role (and term/ballot/epoch) over time, crashed and paused
/// stretches marked.
pub fn node_lanes(lanes: &[Vec<RoleSpan>], end_nanos: u64) -> String {
    let axis = Axis {
        start: 0,
        end: end_nanos.max(1),
    };
    let rows = lanes.len().max(1) as u32;
    let height = rows * ROW_HEIGHT + AXIS_HEIGHT;
    let mut out = String::new();
    open_svg(&mut out, "lane nodes", height);
    axis.draw(&mut out, 0, rows * ROW_HEIGHT);
    for (node, lane) in lanes.iter().enumerate() {
        let y = node as u32 * ROW_HEIGHT + 2;
        let _ = write!(
            out,
            r#"<text class="lane-name" x="{}" y="{}" text-anchor="end">n{node}</text>"#,
            LEFT - 6,
            y + 11
        );
        for span in lane {
            let x0 = axis.x(span.start_nanos);
            let width = (axis.x(span.end_nanos) - x0).max(1.0);
            let number = span.number.map(|n| format!(" {n}")).unwrap_or_default();
            let class: String = span
                .role
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let _ = write!(
                out,
                r#"<g class="role {class}"><rect x="{x0:.1}" y="{y}" width="{width:.1}" height="{h}"/><title>n{node} {role}{number} ({start:.3}s to {end:.3}s)</title>"#,
                h = ROW_HEIGHT - 4,
                role = escape(&span.role),
                start = span.start_nanos as f64 / 1e9,
                end = span.end_nanos as f64 / 1e9,
            );
            let text = format!("{}{number}", span.role);
            if span.role != "up" && width > 6.0 * text.len() as f64 + 6.0 {
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{}">{}</text>"#,
                    x0 + 3.0,
                    y + 11,
                    escape(&text)
                );
            }
            out.push_str("</g>");
        }
    }
    out.push_str("</svg>");
    out
}

/// Operations the history timeline draws at most: about as many as stay readable on one
/// screen width. Longer histories show a window (around the violation when there is one) and
/// say so; `history.jsonl` has them all.
pub const OPS_SHOWN_MAX: usize = 400;

/// What to highlight on a violation.
#[derive(Clone, Debug, Default)]
pub struct Highlight {
    /// Index (into the operations) of the operation at which every linearization fails.
    pub failing_op: Option<usize>,
    /// Its object.
    pub key: Option<String>,
    /// Operations (indices) in the longest linearizable prefix.
    pub linearized: BTreeSet<usize>,
    /// Where that prefix ends (the failing event's time).
    pub cut_nanos: Option<u64>,
}

/// The window of operations shown: all when few, else [`OPS_SHOWN_MAX`] around the failing
/// operation (mostly before it: the prefix is what explains it), else the first ones.
pub fn history_window(op_count: usize, failing_op: Option<usize>) -> std::ops::Range<usize> {
    if op_count <= OPS_SHOWN_MAX {
        return 0..op_count;
    }
    match failing_op {
        Some(failing) => {
            let start = failing.saturating_sub(OPS_SHOWN_MAX * 3 / 4);
            let end = (start + OPS_SHOWN_MAX).min(op_count);
            end.saturating_sub(OPS_SHOWN_MAX)..end
        }
        None => 0..OPS_SHOWN_MAX,
    }
}

/// The history timeline of `ops[window]`: a lane per client process, a bar per operation
/// from invoke to completion coloured by outcome (open ones run to the window's end).
pub fn history(ops: &[Op], window: std::ops::Range<usize>, highlight: &Highlight) -> String {
    let shown = &ops[window.clone()];
    let start = shown.iter().map(|op| op.start_nanos).min().unwrap_or(0);
    let end = shown
        .iter()
        .map(|op| op.end_nanos.unwrap_or(op.start_nanos))
        .max()
        .unwrap_or(0)
        .max(start + 1);
    let axis = Axis { start, end };
    // A process that got `info` is retired and a fresh one takes its client's place, so one
    // lane per process would leave most lanes nearly empty. Processes share a lane instead
    // when their lifetimes do not overlap (a lane is then one client's seat, as in Jepsen's
    // timeline where process p and p + concurrency are the same worker).
    let mut lifetimes: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for op in shown {
        let entry = lifetimes
            .entry(op.process)
            .or_insert((op.start_nanos, op.start_nanos));
        entry.0 = entry.0.min(op.start_nanos);
        entry.1 = entry.1.max(op.end_nanos.unwrap_or(end));
    }
    let mut by_start: Vec<(u64, u64, u64)> = lifetimes
        .iter()
        .map(|(&process, &(first, last))| (first, last, process))
        .collect();
    by_start.sort_unstable();
    let mut lane_ends: Vec<u64> = Vec::new();
    let mut lane_names: Vec<Vec<u64>> = Vec::new();
    let mut lane_of: BTreeMap<u64, u32> = BTreeMap::new();
    for (first, last, process) in by_start {
        let lane = match lane_ends.iter().position(|&lane_end| lane_end < first) {
            Some(lane) => lane,
            None => {
                lane_ends.push(0);
                lane_names.push(Vec::new());
                lane_ends.len() - 1
            }
        };
        lane_ends[lane] = last;
        lane_names[lane].push(process);
        lane_of.insert(process, lane as u32);
    }
    let rows = lane_ends.len().max(1) as u32;
    let height = rows * ROW_HEIGHT + AXIS_HEIGHT;
    let mut out = String::with_capacity(shown.len() * 160);
    open_svg(&mut out, "lane history", height);
    axis.draw(&mut out, 0, rows * ROW_HEIGHT);
    for (lane, processes) in lane_names.iter().enumerate() {
        let names: Vec<String> = processes.iter().map(|p| format!("p{p}")).collect();
        let more = if processes.len() > 1 { "+" } else { "" };
        let _ = write!(
            out,
            r#"<text class="lane-name" x="{}" y="{}" text-anchor="end">p{}{more}<title>processes {}</title></text>"#,
            LEFT - 6,
            lane as u32 * ROW_HEIGHT + 13,
            processes[0],
            names.join(" ")
        );
    }
    if let Some(cut) = highlight.cut_nanos.filter(|t| (start..=end).contains(t)) {
        let x = axis.x(cut);
        let _ = write!(
            out,
            r#"<line class="prefix-end" x1="{x:.1}" y1="0" x2="{x:.1}" y2="{}"><title>the longest linearizable prefix ends here</title></line>"#,
            rows * ROW_HEIGHT
        );
    }
    for (offset, op) in shown.iter().enumerate() {
        let index = window.start + offset;
        let lane = lane_of[&op.process];
        let x0 = axis.x(op.start_nanos);
        let x1 = axis.x(op.end_nanos.unwrap_or(end));
        let mut class = format!("op {}", op.outcome.name());
        let mut id = String::new();
        if highlight.failing_op == Some(index) {
            class.push_str(" violation");
            id = r#" id="violation""#.into();
        } else if highlight.key.is_some() && op.key == highlight.key {
            class.push_str(" same-key");
        }
        if highlight.linearized.contains(&index) {
            class.push_str(" linearized");
        }
        let _ = write!(
            out,
            r#"<rect class="{class}"{id} x="{x0:.1}" y="{}" width="{:.1}" height="{}"><title>#{} {}</title></rect>"#,
            lane * ROW_HEIGHT + 2,
            (x1 - x0).max(1.5),
            ROW_HEIGHT - 4,
            op.invoke_index,
            escape(&op.describe())
        );
    }
    out.push_str("</svg>");
    out
}
