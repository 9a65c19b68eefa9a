//! Histories that break the format, in both of the formats people write by hand (native JSON
//! lines and Knossos/Jepsen EDN): refused with the line and a plain-language reason (exit 2),
//! or, where Jepsen accepts them, checked with a warning on stderr. The README's table in
//! "Histories and `faultline check`" says which, case by case.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use support::faultline;

/// Writes `text` to a file of this test's own named `name` and returns its path.
fn history(name: &str, text: &str) -> String {
    let directory = std::env::temp_dir().join(format!("faultline-history-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path: PathBuf = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A native event line.
fn native(index: u64, time: u64, process: u64, kind: &str, f: &str, value: &str) -> String {
    format!(
        "{{\"index\":{index},\"time\":{time},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{value}}}\n"
    )
}

/// An EDN operation map (with `:index` unless `index` is None), one a line.
fn edn(index: Option<u64>, time: u64, process: u64, kind: &str, f: &str, value: &str) -> String {
    let index = index.map_or(String::new(), |i| format!(", :index {i}"));
    format!("{{:process {process}, :type :{kind}, :f :{f}, :value {value}, :time {time}{index}}}\n")
}

/// A write of 1 then a read of 1 by process 0, in EDN, between `[` and `]` lines.
fn edn_file(lines: &[String]) -> String {
    format!("[\n{}]\n", lines.concat())
}

/// `faultline check PATH`: exit code, stdout, stderr.
fn check(path: &str) -> (i32, String, String) {
    faultline(&["check", path])
}

/// Refused: exit 2, and stderr names `path:line` and says `reason`.
fn assert_refused(path: &str, line: usize, reason: &str) {
    let (code, out, err) = check(path);
    assert_eq!(code, 2, "{path} is refused: {out}{err}");
    assert!(
        err.contains(&format!("{path}:{line}: ")) && err.contains(reason),
        "{path}: expected line {line} and {reason:?} in: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Accepted: exit `code`, and stderr holds `warning` (or nothing, for "").
fn assert_accepted(path: &str, code: i32, warning: &str) {
    let (got, out, err) = check(path);
    assert_eq!(got, code, "{path}: {out}{err}");
    if warning.is_empty() {
        assert!(err.is_empty(), "{path}: no warning expected: {err}");
    } else {
        assert!(
            err.starts_with(&format!("warning: {path}")) && err.contains(warning),
            "{path}: expected the warning {warning:?} in: {err}"
        );
    }
}

#[test]
fn a_well_formed_history_checks_without_warnings_in_both_formats() {
    let jsonl = [
        native(0, 1, 0, "invoke", "write", "1"),
        native(1, 2, 0, "ok", "write", "1"),
        native(2, 3, 0, "invoke", "read", "null"),
        native(3, 4, 0, "ok", "read", "1"),
    ]
    .concat();
    assert_accepted(&history("good.jsonl", &jsonl), 0, "");
    let stale = jsonl.replace(
        "\"ok\",\"f\":\"read\",\"value\":1",
        "\"ok\",\"f\":\"read\",\"value\":7",
    );
    assert_accepted(&history("stale.jsonl", &stale), 1, "");
    let text = edn_file(&[
        edn(Some(0), 1, 0, "invoke", "write", "1"),
        edn(Some(1), 2, 0, "ok", "write", "1"),
        edn(Some(2), 3, 0, "invoke", "read", "nil"),
        edn(Some(3), 4, 0, "ok", "read", "1"),
    ]);
    assert_accepted(&history("good.edn", &text), 0, "");
    // Gaps in the indices (a filtered history) are fine.
    let gaps = [
        native(0, 1, 0, "invoke", "write", "1"),
        native(5, 2, 0, "ok", "write", "1"),
    ]
    .concat();
    assert_accepted(&history("gaps.jsonl", &gaps), 0, "");
}

#[test]
fn a_duplicate_or_decreasing_index_is_refused_at_its_line() {
    let twice = [
        native(0, 1, 0, "invoke", "write", "1"),
        native(0, 2, 0, "ok", "write", "1"),
    ]
    .concat();
    assert_refused(
        &history("twice.jsonl", &twice),
        2,
        "index 0 again (line 1 has it too)",
    );
    let back = [
        native(4, 1, 0, "invoke", "write", "1"),
        native(3, 2, 0, "ok", "write", "1"),
    ]
    .concat();
    assert_refused(
        &history("back.jsonl", &back),
        2,
        "index 3 after index 4 (line 1)",
    );
    let twice = edn_file(&[
        edn(Some(0), 1, 0, "invoke", "write", "1"),
        edn(Some(0), 2, 0, "ok", "write", "1"),
    ]);
    assert_refused(
        &history("twice.edn", &twice),
        3,
        ":index 0 again (line 2 has it too)",
    );
    let back = edn_file(&[
        edn(Some(4), 1, 0, "invoke", "write", "1"),
        edn(Some(3), 2, 0, "ok", "write", "1"),
    ]);
    assert_refused(&history("back.edn", &back), 3, ":index 3 after :index 4");
}

#[test]
fn a_missing_index_is_refused_in_native_histories_and_numbered_in_edn() {
    let text = format!(
        "{}{}",
        "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n",
        native(1, 2, 0, "ok", "write", "1")
    );
    assert_refused(&history("no-index.jsonl", &text), 1, "no `index`");
    // Knossos's histories carry no :index: operations are numbered by position.
    let text = edn_file(&[
        edn(None, 1, 0, "invoke", "write", "1"),
        edn(None, 2, 0, "ok", "write", "1"),
        edn(None, 3, 1, "invoke", "read", "nil"),
        edn(None, 4, 1, "ok", "read", "2"),
    ]);
    let (code, out, err) = check(&history("no-index.edn", &text));
    assert_eq!(code, 1, "checked, and the stale read found: {out}{err}");
    // Other missing fields say which.
    let text = "{\"index\":0,\"time\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n";
    assert_refused(&history("no-process.jsonl", text), 1, "no `process`");
}

#[test]
fn time_that_goes_back_is_accepted_with_a_warning_as_jepsen_orders_by_position() {
    let text = [
        native(0, 50, 0, "invoke", "write", "1"),
        native(1, 20, 0, "ok", "write", "1"),
        native(2, 30, 0, "invoke", "read", "null"),
        native(3, 10, 0, "ok", "read", "1"),
    ]
    .concat();
    let warning = "time 20 is earlier than the event before it (50)";
    assert_accepted(&history("time.jsonl", &text), 0, warning);
    let (_, _, err) = check(&history("time.jsonl", &text));
    assert!(
        err.contains("time.jsonl:2: ") && err.contains("2 event(s) in all"),
        "{err}"
    );
    let text = edn_file(&[
        edn(Some(0), 50, 0, "invoke", "write", "1"),
        edn(Some(1), 20, 0, "ok", "write", "1"),
    ]);
    assert_accepted(&history("time.edn", &text), 0, warning);
}

#[test]
fn two_open_operations_on_one_process_are_refused_at_the_second_invoke() {
    let text = [
        native(0, 1, 0, "invoke", "write", "1"),
        native(1, 2, 0, "invoke", "write", "2"),
        native(2, 3, 0, "ok", "write", "2"),
    ]
    .concat();
    let reason = "process 0 invokes write while its write (event 0) is still open";
    assert_refused(&history("open.jsonl", &text), 2, reason);
    let text = edn_file(&[
        edn(None, 1, 0, "invoke", "write", "1"),
        edn(None, 2, 0, "invoke", "write", "2"),
        edn(None, 3, 0, "ok", "write", "2"),
    ]);
    assert_refused(&history("open.edn", &text), 3, reason);
}

#[test]
fn an_empty_history_is_accepted_with_a_warning() {
    let warning = "no operations: an empty history is linearizable, trivially";
    assert_accepted(&history("empty.jsonl", ""), 0, warning);
    assert_accepted(&history("blank.jsonl", "\n\n"), 0, warning);
    assert_accepted(&history("empty.edn", ""), 0, warning);
    assert_accepted(&history("empty-vector.edn", "[]\n"), 0, warning);
    // Only the nemesis: no client operations either.
    let nemesis = "[{:process :nemesis, :type :info, :f :start, :value nil}]\n";
    assert_accepted(&history("nemesis.edn", nemesis), 0, warning);
}

#[test]
fn a_json_array_is_refused_in_plain_words() {
    let array = format!(
        "[{},\n {}]\n",
        native(0, 1, 0, "invoke", "write", "1").trim(),
        native(1, 2, 0, "ok", "write", "1").trim()
    );
    assert_refused(
        &history("array.jsonl", &array),
        1,
        "a JSON array: a native history is one JSON object per line",
    );
    // Named .json, it is still read as native.
    assert_refused(&history("array.json", &array), 1, "a JSON array");
    // Given as EDN, JSON's quoted keys are named.
    let path = history("array-as.edn", &array);
    let (code, _, err) = faultline(&["check", &path, "--format", "edn"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{path}:1: ")) && err.contains("is JSON, not EDN"),
        "{err}"
    );
    // A pretty-printed object.
    let pretty = "{\n  \"index\": 0,\n  \"time\": 1\n}\n";
    assert_refused(
        &history("pretty.jsonl", pretty),
        1,
        "the line ends inside its JSON object",
    );
}

#[test]
fn integers_beyond_64_bits_are_refused_in_plain_words() {
    let big = "99999999999999999999999";
    let text = [
        native(0, 1, 0, "invoke", "write", "1"),
        native(1, 2, 0, "ok", "write", big),
    ]
    .concat();
    assert_refused(
        &history("big-value.jsonl", &text),
        2,
        "an integer outside the signed 64-bit range",
    );
    let text =
        native(0, 1, 0, "invoke", "write", "1").replace("\"index\":0", &format!("\"index\":{big}"));
    assert_refused(
        &history("big-index.jsonl", &text),
        1,
        "`index` is 1e+23, an integer wider than 64 bits",
    );
    let text = native(0, 1, 0, "invoke", "write", "1").replace("\"time\":1", "\"time\":-1");
    assert_refused(
        &history("negative-time.jsonl", &text),
        1,
        "`time` is negative (-1)",
    );
    let text = native(0, 1, 0, "invoke", "write", "1.5");
    assert_refused(
        &history("fraction.jsonl", &text),
        1,
        "`value` holds 1.5, expected an integer",
    );

    let text = edn_file(&[
        edn(None, 1, 0, "invoke", "write", "1"),
        edn(None, 2, 0, "ok", "write", big),
    ]);
    assert_refused(
        &history("big.edn", &text),
        3,
        &format!("integer {big} is outside the signed 64-bit range"),
    );
    let text = edn_file(&[
        edn(None, 1, 0, "invoke", "write", "1"),
        edn(None, 2, 0, "ok", "write", &format!("{big}N")),
    ]);
    assert_refused(
        &history("bigN.edn", &text),
        3,
        "is outside the signed 64-bit range",
    );
    // Clojure's `N` suffix on an integer that fits is read as that integer.
    let text = edn_file(&[
        edn(None, 1, 0, "invoke", "write", "5N"),
        edn(None, 2, 0, "ok", "write", "5N"),
        edn(None, 3, 0, "invoke", "read", "nil"),
        edn(None, 4, 0, "ok", "read", "5"),
    ]);
    assert_accepted(&history("five-n.edn", &text), 0, "");
}
