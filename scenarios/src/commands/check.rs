//! `faultline check HISTORY`: checks a history file for linearizability.
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 2 bad input (unreadable file, malformed
//! line, history the model cannot interpret), 3 unknown (the step budget or the cache limit
//! was reached first).

use super::output::{errln, out, outln};
use super::{EXIT_INCONCLUSIVE, EXIT_INPUT_ERROR, EXIT_PASS, EXIT_VIOLATION};
use anyhow::Context;
use serde_json::json;
use sim_core::check::formats::{self, Format, ParsedHistory};
use sim_core::check::{
    check_source, describe_op, CheckOptions, CheckResult, CompactEvents, EventSource, Model,
    Verdict,
};
use sim_core::history::Value;
use std::io::{BufRead, Read};
use std::path::PathBuf;

/// Arguments of `faultline check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The history file.
    pub history: PathBuf,
    /// The model (default: inferred from the format and the operations).
    // The possible values come from the checker's model plug-ins, never a hand-written list.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Model::ALL.map(Model::name)))]
    pub model: Option<String>,
    /// The file format: native, porcupine-etcd, porcupine-kv, edn (default: guessed from the
    /// file name and contents).
    #[arg(long)]
    pub format: Option<String>,
    /// Model steps allowed before answering "unknown".
    #[arg(long)]
    pub budget: Option<u64>,
    /// Cache entries allowed (over the objects searched at once) before answering "unknown".
    #[arg(long)]
    pub cache_entries_max: Option<u64>,
    /// MiB the searches may hold in their caches and interned states before answering
    /// "unknown" (default 512).
    #[arg(long)]
    pub memory_mib_max: Option<u64>,
    /// Every object's initial value: an integer, `null`, a list (a bank's balances,
    /// `[100,100]`) or a string (default: the format's
    /// convention: null, or 0 for Knossos EDN).
    #[arg(long)]
    pub initial: Option<String>,
    /// Check the whole history as ONE object (no per-key partitioning).
    #[arg(long)]
    pub no_partition: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let path = args.history.display().to_string();
    let format = match &args.format {
        Some(name) => match Format::from_name(name) {
            Some(format) => Some(format),
            None => {
                anyhow::bail!("unknown format {name:?} (native, porcupine-etcd, porcupine-kv, edn)")
            }
        },
        None => None,
    };
    let model_arg = match &args.model {
        Some(name) => match Model::from_name(name) {
            Some(model) => Some(model),
            None => anyhow::bail!(
                "unknown model {name:?} ({})",
                Model::ALL
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None => None,
    };
    match read_history(&args.history, &path, format) {
        Ok(History::Compact(history)) => finish(&args, &path, Format::Native, model_arg, &history),
        Ok(History::Whole(format, history)) => finish(&args, &path, format, model_arg, &history),
        Err(Unreadable::Io(error)) => Err(error),
        Err(Unreadable::Input(message)) => {
            errln!("error: {message}");
            Ok(EXIT_INPUT_ERROR)
        }
    }
}

/// Checks a history that was read, prints the verdict and gives the exit code.
fn finish<E: EventSource>(
    args: &Args,
    path: &str,
    format: Format,
    model_arg: Option<Model>,
    history: &ParsedHistory<E>,
) -> anyhow::Result<u8> {
    for (line, warning) in formats::warnings(history) {
        match line {
            Some(line) => errln!("warning: {path}:{line}: {warning}"),
            None => errln!("warning: {path}: {warning}"),
        }
    }
    let model = model_arg.unwrap_or(history.default_model);
    let mut options = CheckOptions {
        dialect: history.dialect,
        initial: history.initial.clone(),
        partition: !args.no_partition,
        ..CheckOptions::default()
    };
    if let Some(budget) = args.budget {
        options.budget_steps = budget;
    }
    if let Some(entries) = args.cache_entries_max {
        options.cache_entries_max = entries;
    }
    if let Some(mib) = args.memory_mib_max {
        options.memory_bytes_max = mib.saturating_mul(1 << 20);
    }
    if let Some(initial) = &args.initial {
        options.initial = parse_initial(initial);
    }
    let result = match check_source(&history.events, model, &options) {
        Ok(result) => result,
        Err(error) => {
            let line = history
                .positions
                .get(error.event)
                .map(|p| p.line)
                .unwrap_or(0);
            errln!("error: {path}:{line}: {}", error.message);
            return Ok(EXIT_INPUT_ERROR);
        }
    };
    if args.json {
        outln!("{}", to_json(path, format, model, history, &result));
    } else {
        out!("{}", to_text(path, format, model, history, &result));
    }
    Ok(match result.verdict {
        Verdict::Linearizable => EXIT_PASS,
        Verdict::NotLinearizable => EXIT_VIOLATION,
        Verdict::Unknown => EXIT_INCONCLUSIVE,
    })
}

/// Why a history could not be read: the file (an error of the command), or its contents (bad
/// input, exit code 2).
enum Unreadable {
    Io(anyhow::Error),
    Input(String),
}

/// A history read: native ones compactly, the others (small corpora) as they are.
enum History {
    Compact(ParsedHistory<CompactEvents>),
    Whole(Format, ParsedHistory),
}

/// Reads the history at `file` in `format` (guessed from the name and the first lines when
/// None). A native history is parsed line by line as it is read, so its text is never held
/// whole, and kept as [`CompactEvents`]; the other formats are small corpora read at once.
fn read_history(
    file: &std::path::Path,
    path: &str,
    format: Option<Format>,
) -> Result<History, Unreadable> {
    let opened = std::fs::File::open(file)
        .with_context(|| format!("cannot read {path}"))
        .map_err(Unreadable::Io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, opened);
    let format = match format {
        Some(format) => format,
        None => {
            let head = reader
                .fill_buf()
                .with_context(|| format!("cannot read {path}"))
                .map_err(Unreadable::Io)?;
            // The guess looks at the first lines only; a character cut at the buffer's end
            // does not matter to it.
            Format::guess(path, &String::from_utf8_lossy(head))
        }
    };
    let located = |error: formats::ParseError| {
        Unreadable::Input(format!("{path}:{}: {}", error.line, error.message))
    };
    if format == Format::Native {
        // One pass to count the lines, so that the events are stored without slack.
        let lines = count_lines(file)
            .with_context(|| format!("cannot read {path}"))
            .map_err(Unreadable::Io)?;
        return formats::native::read_compact_from(reader, lines)
            .map(History::Compact)
            .map_err(located);
    }
    let parsed = {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {path}"))
            .map_err(Unreadable::Io)?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(Unreadable::Input(format!("{path}: not UTF-8 text")));
        };
        formats::read(format, &text)
    };
    parsed
        .map(|history| History::Whole(format, history))
        .map_err(located)
}

/// Reads and checks a native history file as `faultline check FILE --model MODEL` does (the
/// same streaming parse into compact events, the default options), for `bench checker`'s
/// memory figure.
///
/// # Errors
/// An unreadable file, a malformed line, or a history the model cannot interpret.
pub(super) fn check_native_file(
    file: &std::path::Path,
    model: Model,
) -> anyhow::Result<(usize, CheckResult)> {
    let path = file.display().to_string();
    let history = match read_history(file, &path, Some(Format::Native)) {
        Ok(History::Compact(history)) => history,
        Ok(History::Whole(..)) => unreachable!("native histories are read compactly"),
        Err(Unreadable::Io(error)) => return Err(error),
        Err(Unreadable::Input(message)) => anyhow::bail!("{message}"),
    };
    let options = CheckOptions {
        dialect: history.dialect,
        initial: history.initial.clone(),
        ..CheckOptions::default()
    };
    let result = check_source(&history.events, model, &options)
        .map_err(|error| anyhow::anyhow!("{path}: event {}: {}", error.event, error.message))?;
    Ok((history.positions.len(), result))
}

/// The number of lines of `file` (a last line without a newline counts).
fn count_lines(file: &std::path::Path) -> std::io::Result<usize> {
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(file)?);
    let (mut lines, mut last) = (0usize, b'\n');
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        last = chunk[chunk.len() - 1];
        let used = chunk.len();
        reader.consume(used);
    }
    Ok(lines + usize::from(last != b'\n'))
}

fn parse_initial(text: &str) -> Value {
    if text == "null" || text == "nil" {
        Value::Null
    } else if let Ok(v) = text.parse::<i64>() {
        Value::Int(v)
    } else if let Ok(list @ Value::List(_)) = serde_json::from_str::<Value>(text) {
        list // a list of integers: the bank's initial balances
    } else {
        Value::Str(text.to_string())
    }
}

fn line_of<E>(history: &ParsedHistory<E>, event: usize) -> usize {
    history.positions.get(event).map(|p| p.line).unwrap_or(0)
}

fn to_text<E: EventSource>(
    path: &str,
    format: Format,
    model: Model,
    history: &ParsedHistory<E>,
    result: &CheckResult,
) -> String {
    let verdict = match result.verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "NOT linearizable",
        Verdict::Unknown => "UNKNOWN (no verdict)",
    };
    let mut out = format!(
        "{path}: {verdict}\n  model {}, format {}, {} operations in {} partition(s), {} model steps, {} cache entries at most\n",
        model.name(),
        format.name(),
        result.operations,
        result.partitions,
        result.steps,
        result.cache_entries_max
    );
    if let Some(reason) = &result.unknown_reason {
        let raise = if reason.starts_with("memory") {
            "--memory-mib-max"
        } else if reason.starts_with("cache") {
            "--cache-entries-max"
        } else {
            "--budget"
        };
        out.push_str(&format!("  gave up: {reason}; raise {raise} to decide\n"));
    }
    if let Some(explanation) = &result.explanation {
        let position = |event: usize| format!("line {}", line_of(history, event));
        for line in explanation.render(&history.events, &position).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

fn to_json<E: EventSource>(
    path: &str,
    format: Format,
    model: Model,
    history: &ParsedHistory<E>,
    result: &CheckResult,
) -> serde_json::Value {
    let explanation = result.explanation.as_ref().map(|explanation| {
        let operation = |event: usize| json!({"line": line_of(history, event), "op": describe_op(&history.events, event)});
        json!({
            "failing_line": line_of(history, explanation.failing_event),
            "failing_ordinal": history.positions.get(explanation.failing_event).map(|p| p.ordinal),
            "object": explanation.object,
            "linearized": explanation.linearized.iter().map(|&e| operation(e)).collect::<Vec<_>>(),
            "state": explanation.state,
            "blocking": explanation.blocking_invoke_event.map(operation),
            "rejected": explanation.rejected.iter().map(|r| {
                json!({
                    "line": line_of(history, r.invoke_event),
                    "completion_line": r.complete_event.map(|e| line_of(history, e)),
                    "op": describe_op(&history.events, r.invoke_event),
                    "reason": r.reason,
                })
            }).collect::<Vec<_>>(),
        })
    });
    json!({
        "file": path,
        "verdict": result.verdict.name(),
        "model": model.name(),
        "format": format.name(),
        "operations": result.operations,
        "partitions": result.partitions,
        "steps": result.steps,
        "cache_entries_max": result.cache_entries_max,
        "unknown_reason": result.unknown_reason,
        "explanation": explanation,
    })
}
