//! Plots drawn with plotters' SVG backend: latency over time and throughput (Jepsen's
//! latency-raw and rate graphs), a latency CDF and grouped bars for comparisons.
//!
//! Text is laid out by plotters' built-in estimate (no font files are read) and rendered by the
//! browser with its generic `sans-serif`: the binary needs no system fonts and the SVG no
//! network. Every chart shares [`layout`]'s horizontal geometry, so the hand-drawn lanes of a
//! run page line up with the plots' time axes.

use crate::data::{Op, OpOutcome};
use plotters::prelude::*;
use sim_core::history::Function;
use std::collections::BTreeMap;

/// The horizontal geometry every run-page figure shares.
pub mod layout {
    /// Figure width in pixels.
    pub const WIDTH: u32 = 1100;
    /// Outer margin.
    pub const MARGIN: u32 = 10;
    /// Room for the y axis labels.
    pub const Y_LABELS: u32 = 60;
    /// Left edge of the plotting area.
    pub const LEFT: u32 = MARGIN + Y_LABELS;
    /// Right edge of the plotting area.
    pub const RIGHT: u32 = WIDTH - MARGIN;
    /// Width of the plotting area.
    pub const PLOT_WIDTH: u32 = RIGHT - LEFT;
}

/// Points a latency plot keeps per series: the minimum and maximum of each pixel column, so
/// a 60-second, 20-client run stays a few hundred kilobytes and no outlier disappears.
const COLUMNS: u64 = layout::PLOT_WIDTH as u64;

const SHADE: RGBColor = RGBColor(255, 170, 60);

fn function_color(f: Function) -> RGBColor {
    match f {
        Function::Read => RGBColor(31, 119, 180),
        Function::Write => RGBColor(44, 160, 44),
        Function::Cas => RGBColor(148, 103, 189),
        Function::Add => RGBColor(23, 190, 207),
        Function::Acquire => RGBColor(140, 86, 75),
        Function::Release => RGBColor(227, 119, 194),
        Function::Txn => RGBColor(127, 127, 127),
        Function::Append => RGBColor(188, 189, 34),
        Function::Transfer => RGBColor(255, 127, 14),
    }
}

fn outcome_color(outcome: OpOutcome) -> RGBColor {
    match outcome {
        OpOutcome::Ok => RGBColor(44, 160, 44),
        OpOutcome::Fail => RGBColor(214, 39, 40),
        OpOutcome::Info => RGBColor(255, 127, 14),
        OpOutcome::Open => RGBColor(127, 127, 127),
    }
}

/// Colours for comparison series, in order.
pub const SERIES_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

fn render(
    height: u32,
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> ChartResult,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (layout::WIDTH, height)).into_drawing_area();
        if let Err(error) = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(root))
        {
            return format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"40\"><text x=\"10\" y=\"25\">chart failed: {}</text></svg>",
                layout::WIDTH,
                crate::escape::escape(&error.to_string())
            );
        }
    }
    svg
}

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// Client latency over time: one colour per operation type, one marker per outcome (ok dot,
/// fail cross, info triangle), log-scaled, with the fault intervals shaded.
pub fn latency_over_time(ops: &[Op], shaded: &[(u64, u64)], end_nanos: u64) -> String {
    let end_nanos = end_nanos.max(1);
    // (function, outcome) -> column -> (min, max) latency.
    let mut series: BTreeMap<(Function, OpOutcome), BTreeMap<u64, (u64, u64)>> = BTreeMap::new();
    let mut latency_max = 1u64;
    let mut latency_min = u64::MAX;
    for op in ops {
        let Some(latency) = op.latency_nanos() else {
            continue;
        };
        let latency = latency.max(1_000);
        latency_max = latency_max.max(latency);
        latency_min = latency_min.min(latency);
        let column = (op.start_nanos.min(end_nanos) * (COLUMNS - 1)) / end_nanos;
        let cell = series
            .entry((op.f, op.outcome))
            .or_default()
            .entry(column)
            .or_insert((latency, latency));
        cell.0 = cell.0.min(latency);
        cell.1 = cell.1.max(latency);
    }
    if latency_min == u64::MAX {
        latency_min = 1_000;
    }
    let y_min = latency_min as f64 / 1e6 / 1.5;
    let y_max = latency_max as f64 / 1e6 * 1.5;
    let x_max = seconds(end_nanos);
    render(360, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(layout::MARGIN)
            .x_label_area_size(35)
            .y_label_area_size(layout::Y_LABELS)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("latency (ms)")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.draw_series(shaded.iter().map(|&(a, b)| {
            Rectangle::new(
                [(seconds(a), y_min), (seconds(b), y_max)],
                SHADE.mix(0.18).filled(),
            )
        }))?;
        for (&(f, outcome), columns) in &series {
            let color = function_color(f);
            let to_point = |column: u64, latency: u64| {
                (
                    column as f64 * x_max / (COLUMNS - 1) as f64,
                    latency as f64 / 1e6,
                )
            };
            let mut points = Vec::with_capacity(columns.len() * 2);
            for (&column, &(low, high)) in columns {
                points.push(to_point(column, low));
                if high != low {
                    points.push(to_point(column, high));
                }
            }
            let label = format!("{} {}", f.as_str(), outcome.name());
            match outcome {
                OpOutcome::Ok => chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| Circle::new(p, 2, color.mix(0.7).filled())),
                    )?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x, y), 3, color.filled())),
                OpOutcome::Fail => chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| Cross::new(p, 3, color.stroke_width(1))),
                    )?
                    .label(label)
                    .legend(move |(x, y)| Cross::new((x, y), 3, color.stroke_width(1))),
                _ => chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| TriangleMarker::new(p, 4, color.filled())),
                    )?
                    .label(label)
                    .legend(move |(x, y)| TriangleMarker::new((x, y), 4, color.filled())),
            };
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Completions per second by outcome (ok, fail, info), with the fault intervals shaded.
pub fn throughput(ops: &[Op], shaded: &[(u64, u64)], end_nanos: u64) -> String {
    let seconds_total = end_nanos.div_ceil(1_000_000_000).max(1);
    let mut counts: BTreeMap<OpOutcome, Vec<u64>> = BTreeMap::new();
    for outcome in [OpOutcome::Ok, OpOutcome::Fail, OpOutcome::Info] {
        counts.insert(outcome, vec![0; seconds_total as usize]);
    }
    for op in ops {
        let Some(end) = op.end_nanos else { continue };
        let second = ((end / 1_000_000_000).min(seconds_total - 1)) as usize;
        if let Some(row) = counts.get_mut(&op.outcome) {
            row[second] += 1;
        }
    }
    let y_max = counts
        .values()
        .flat_map(|row| row.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.15;
    let x_max = seconds(end_nanos.max(1));
    render(300, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(layout::MARGIN)
            .x_label_area_size(35)
            .y_label_area_size(layout::Y_LABELS)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("operations / s")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.draw_series(shaded.iter().map(|&(a, b)| {
            Rectangle::new(
                [(seconds(a), 0.0), (seconds(b), y_max)],
                SHADE.mix(0.18).filled(),
            )
        }))?;
        for (outcome, row) in &counts {
            let color = outcome_color(*outcome);
            // A step per second, plotted at each second's middle.
            let points = row
                .iter()
                .enumerate()
                .map(|(second, &count)| ((second as f64 + 0.5).min(x_max), count as f64));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(outcome.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Latency CDFs, one line per named series of sorted latencies (nanoseconds), log-scaled x.
pub fn latency_cdf(series: &[(String, Vec<u64>)]) -> String {
    let all = series.iter().flat_map(|(_, values)| values.iter().copied());
    let (low, high) = all.fold((u64::MAX, 1u64), |(low, high), v| {
        (low.min(v.max(1_000)), high.max(v))
    });
    let low = if low == u64::MAX { 1_000 } else { low };
    let x_min = low as f64 / 1e6 / 1.2;
    let x_max = high.max(low + 1) as f64 / 1e6 * 1.2;
    render(360, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(layout::MARGIN)
            .x_label_area_size(35)
            .y_label_area_size(layout::Y_LABELS)
            .build_cartesian_2d((x_min..x_max).log_scale(), 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("fraction of ok operations")
            .draw()?;
        for (i, (name, values)) in series.iter().enumerate() {
            let color = SERIES_COLORS[i % SERIES_COLORS.len()];
            let n = values.len().max(1);
            // At most ~2 points per pixel column: every k-th value plus the last.
            let step = (values.len() / (2 * COLUMNS as usize)).max(1);
            let mut points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter(|(rank, _)| rank % step == 0 || rank + 1 == values.len())
                .map(|(rank, &v)| ((v.max(1_000)) as f64 / 1e6, (rank + 1) as f64 / n as f64))
                .collect();
            if points.is_empty() {
                points.push((x_min, 0.0));
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Grouped bars: for each group (an x category) one bar per series. `values[s][g]` is series
/// `s` in group `g`.
pub fn grouped_bars(
    groups: &[String],
    series: &[String],
    values: &[Vec<f64>],
    y_desc: &str,
) -> String {
    let y_max = values
        .iter()
        .flat_map(|row| row.iter().copied())
        .fold(0f64, f64::max)
        .max(1e-9)
        * 1.15;
    let group_count = groups.len().max(1);
    let series_count = series.len().max(1);
    render(320, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(layout::MARGIN)
            .x_label_area_size(35)
            .y_label_area_size(layout::Y_LABELS)
            .build_cartesian_2d(0f64..group_count as f64, 0f64..y_max)?;
        let names = groups.to_vec();
        chart
            .configure_mesh()
            .y_desc(y_desc)
            .x_labels(group_count * 2 + 1)
            .x_label_formatter(&move |x| {
                let index = (*x - 0.5).round();
                if (*x - 0.5 - index).abs() < 1e-6 && index >= 0.0 {
                    names.get(index as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .disable_x_mesh()
            .draw()?;
        let width = 0.8 / series_count as f64;
        for (s, name) in series.iter().enumerate() {
            let color = SERIES_COLORS[s % SERIES_COLORS.len()];
            let row = values.get(s).cloned().unwrap_or_default();
            chart
                .draw_series(row.iter().enumerate().map(|(g, &v)| {
                    let x0 = g as f64 + 0.1 + s as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width * 0.9, v)], color.filled())
                }))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}
