//! `faultline replay SCENARIO --seed N [--trace] [--out DIR]`: the same run, bit for bit, with
//! its full event trace on request.

use super::output::outln;
use crate::runner::{replay_line, run, RunOptions};
use std::path::PathBuf;

/// Arguments of `faultline replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed to replay.
    #[arg(long, env = "FAULTLINE_SEED")]
    pub seed: u64,
    /// Print every event in a readable form (and write `trace.log` with `--out`).
    #[arg(long)]
    pub trace: bool,
    /// With `--trace`: print only the events that happen before the failure (through
    /// messages, and timers and disk records on the same node), and every fault before it.
    #[arg(long, requires = "trace")]
    pub focus: bool,
    /// Write a run directory here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a non-empty `--out` directory (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
    /// Switch on a classic bug; repeatable.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenario = super::load_scenario(&args.scenario, &args.bugs)?;
    if let Some(out) = &args.out {
        super::check_out_directory(out, args.force)?;
    }
    // Observations are kept only when a run directory (with its report) is written.
    let options = match &args.out {
        Some(_) => super::run::report_options(args.trace),
        None => RunOptions {
            trace: args.trace,
            ..RunOptions::default()
        },
    };
    let label = format!("{} seed {}", scenario.name, args.seed);
    let report = super::progress::while_running(label, || run(&scenario, args.seed, &options))?;
    let replay = replay_line(&args.scenario.display().to_string(), args.seed, &args.bugs);
    if args.trace && args.focus {
        match focus(&report) {
            Ok(focused) => {
                outln!("{}", focused.header(report.trace.len()));
                for (index, mark) in &focused.lines {
                    outln!("{}{mark}", report.trace[*index]);
                }
            }
            Err(why) => {
                outln!("-- focus: {why}; the whole trace follows");
                for line in &report.trace {
                    outln!("{line}");
                }
            }
        }
    } else if args.trace {
        for line in &report.trace {
            outln!("{line}");
        }
    }
    if let Some(out) = &args.out {
        let trace = args.trace.then_some(report.trace.as_slice());
        super::run::write_run_directory(out, &scenario, &report, &replay, trace)?;
        outln!("run directory: {}", out.display());
    }
    super::run::print_summary(&report, &replay);
    let expect = crate::expectation::in_force(&scenario, &args.bugs);
    let (code, unmet) = crate::expectation::for_run(expect, &report.outcome);
    if let Some(line) = unmet {
        outln!("{line}");
    }
    Ok(code)
}

/// The trace lines `--focus` keeps, in trace order, each with a mark to print after it.
#[derive(Debug)]
pub struct Focused {
    /// `(trace line, mark)`; the mark is empty except on the lines the focus starts from.
    pub lines: Vec<(usize, &'static str)>,
    /// What the focus starts from.
    pub from: String,
}

impl Focused {
    /// The line printed before the focused trace.
    pub fn header(&self, total: usize) -> String {
        format!(
            "-- focus: {} of {total} trace lines: what happens before {} (and every fault before it)",
            self.lines.len(),
            self.from
        )
    }
}

/// Marks the operation where every linearization fails.
const LINEARIZATION_MARK: &str = "   <-- every linearization fails here";

/// The causal past of the failure of a traced run: back from the `!! VIOLATION` line of an
/// invariant that fired, or, for a history that is not linearizable, from the event at which
/// every linearization fails, the operation that blocked the search and the last operation
/// linearized; faults are on no node and all of them before the failure are kept.
///
/// # Errors
/// The run did not fail with an event to start from (it passed, or an audit of the whole
/// history or a liveness check failed), or was not traced.
pub fn focus(report: &crate::runner::RunReport) -> Result<Focused, String> {
    use crate::runner::Outcome;
    let causality = &report.causality;
    if report.trace.is_empty() || causality.causes.len() != report.trace.len() {
        return Err("the run was not traced".into());
    }
    let mut starts: Vec<(u32, &'static str)> = Vec::new();
    let from = match &report.outcome {
        Outcome::SafetyViolation { source, .. } if source.starts_with("invariant:") => {
            let line = report
                .trace
                .iter()
                .rposition(|line| line.contains("!! VIOLATION"))
                .ok_or_else(|| {
                    format!("{source} judged the whole history, not one event on a node")
                })?;
            starts.push((line as u32, ""));
            format!("the violation of {}", &source["invariant:".len()..])
        }
        Outcome::SafetyViolation { source, .. } if source == "linearizability" => {
            let explanation = report
                .check
                .as_ref()
                .and_then(|check| check.explanation.as_ref())
                .ok_or("the checker gave no explanation")?;
            let line_of = |event: usize| causality.history_lines.get(event).copied();
            let failing = line_of(explanation.failing_event)
                .ok_or("the failing history event has no trace line")?;
            starts.push((failing, LINEARIZATION_MARK));
            let mut others: Vec<usize> = explanation.blocking_invoke_event.into_iter().collect();
            others.extend(explanation.linearized.last().copied());
            for event in others {
                // An operation's invoke, and its completion if it came before the failure.
                starts.extend(line_of(event).map(|line| (line, "")));
                if let Some(done) = completion_of(report, event) {
                    starts.extend(
                        line_of(done)
                            .filter(|&line| line < failing)
                            .map(|line| (line, "")),
                    );
                }
            }
            format!(
                "history event {} (where linearization fails)",
                explanation.failing_event
            )
        }
        other => return Err(format!("a {} names no event to start from", other.name())),
    };
    let last = starts.iter().map(|&(line, _)| line).max().unwrap_or(0) as usize;
    let roots: Vec<u32> = starts.iter().map(|&(line, _)| line).collect();
    let past = causality.past(&roots);
    // A message of the story that never arrived (lost, cut, to a node that was down) is kept
    // with the event that sent it: a retry or a timeout that follows may be its doing.
    let lost_in_story = |index: usize| {
        report.trace[index].contains(" ⇸ ")
            && causality.causes[index]
                .iter()
                .any(|&cause| past.get(cause as usize).copied().unwrap_or(false))
    };
    let lines = (0..=last)
        .filter(|&index| {
            past[index] || report.trace[index].contains("!! FAULT") || lost_in_story(index)
        })
        .map(|index| {
            let mark = starts
                .iter()
                .find(|&&(line, mark)| line as usize == index && !mark.is_empty())
                .map_or("", |&(_, mark)| mark);
            (index, mark)
        })
        .collect();
    Ok(Focused { lines, from })
}

/// The history index of the completion of the operation invoked at `invoke`, if it completed.
fn completion_of(report: &crate::runner::RunReport, invoke: usize) -> Option<usize> {
    let process = report.history.get(invoke)?.process;
    report
        .history
        .iter()
        .enumerate()
        .skip(invoke + 1)
        .find(|(_, event)| event.process == process)
        .map(|(index, _)| index)
}
