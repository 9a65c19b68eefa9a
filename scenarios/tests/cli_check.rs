//! End-to-end tests of `faultline check`: exit codes 0 (linearizable), 1 (not), 2 (bad input,
//! with the line number), 3 (unknown), text and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cli-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn line(index: u64, process: u64, kind: &str, f: &str, value: &str) -> String {
    format!(
        r#"{{"index":{index},"time":{index},"process":{process},"type":"{kind}","f":"{f}","value":{value}}}"#
    )
}

const GOOD: &[(u64, &str, &str, &str)] = &[
    (1, "invoke", "write", "1"),
    (1, "ok", "write", "1"),
    (2, "invoke", "read", "null"),
    (2, "ok", "read", "1"),
];

fn history(ops: &[(u64, &str, &str, &str)]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, (p, k, f, v))| line(i as u64, *p, k, f, v) + "\n")
        .collect()
}

#[test]
fn linearizable_history_exits_0() {
    let path = scratch("good.jsonl", &history(GOOD));
    let output = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("linearizable"));
}

#[test]
fn violation_exits_1_and_explains_with_line_numbers() {
    let bad = [
        (1, "invoke", "write", "1"),
        (1, "ok", "write", "1"),
        (2, "invoke", "read", "null"),
        (2, "ok", "read", "2"),
    ];
    let path = scratch("bad.jsonl", &history(&bad));
    let output = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("NOT linearizable"), "{text}");
    assert!(text.contains("line 4"), "names the failing line: {text}");
    assert!(text.contains("it read 2 but the value is 1"), "{text}");

    let output = faultline(&["check", "--json", path.to_str().unwrap()]);
    assert_eq!(code(&output), 1);
    let json: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(json["verdict"], "not-linearizable");
    assert_eq!(json["explanation"]["failing_line"], 4);
    assert_eq!(json["explanation"]["rejected"][0]["line"], 3);
}

#[test]
fn exhausted_budget_exits_3() {
    let mut ops = Vec::new();
    for p in 0..10u64 {
        ops.push((p, "invoke", "write", p.to_string()));
        ops.push((p, "info", "write", "null".to_string()));
    }
    // Every written value is read (so none of the crashed writes can be dropped as
    // unobserved), in an order the search has to find.
    for p in 10..20u64 {
        ops.push((p, "invoke", "read", "null".to_string()));
        ops.push((p, "ok", "read", ((p * 3) % 10).to_string()));
    }
    let text: String = ops
        .iter()
        .enumerate()
        .map(|(i, (p, k, f, v))| line(i as u64, *p, k, f, v) + "\n")
        .collect();
    let path = scratch("hard.jsonl", &text);
    let output = faultline(&["check", "--budget", "2", path.to_str().unwrap()]);
    assert_eq!(code(&output), 3, "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("UNKNOWN"));
    let output = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "with the default budget it decides");
}

#[test]
fn malformed_native_line_exits_2_with_its_number() {
    let text = history(GOOD) + "{\"index\": oops}\n";
    let path = scratch("malformed.jsonl", &text);
    let output = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("malformed.jsonl:5:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_imports_exit_2_with_their_line_numbers() {
    let etcd =
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t[1\n";
    let path = scratch("bad.log", etcd);
    let output = faultline(&[
        "check",
        "--format",
        "porcupine-etcd",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("bad.log:2:"),
        "{}",
        stderr(&output)
    );

    let edn = "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value 0}\n {:process 0 :type :ok :f}]\n";
    let path = scratch("bad.edn", edn);
    let output = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("bad.edn:3:"),
        "{}",
        stderr(&output)
    );

    let kv = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"1\" :value \"x}\n";
    let path = scratch("bad-kv.txt", kv);
    let output = faultline(&["check", "--format", "porcupine-kv", path.to_str().unwrap()]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("bad-kv.txt:2:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn ill_formed_history_and_usage_errors_exit_2() {
    let orphan = history(GOOD) + &line(4, 7, "ok", "write", "3") + "\n";
    let path = scratch("orphan.jsonl", &orphan);
    let output = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("orphan.jsonl:5:"),
        "{}",
        stderr(&output)
    );

    let path = scratch("good2.jsonl", &history(GOOD));
    assert_eq!(
        code(&faultline(&[
            "check",
            "--model",
            "nonsense",
            path.to_str().unwrap()
        ])),
        2
    );
    assert_eq!(
        code(&faultline(&[
            "check",
            "--format",
            "nonsense",
            path.to_str().unwrap()
        ])),
        2
    );
    assert_eq!(
        code(&faultline(&["check", "/nonexistent/history.jsonl"])),
        2
    );
}

fn corpus() -> Option<PathBuf> {
    let path = match std::env::var("FAULTLINE_CONFORMANCE") {
        Ok(path) => PathBuf::from(path),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    if path.join("porcupine").exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("conformance corpus missing at {}", path.display());
    }
    eprintln!(
        "!!!!! SKIPPING corpus CLI checks: no corpus at {} !!!!!",
        path.display()
    );
    None
}

#[test]
fn corpus_files_through_the_binary() {
    let Some(root) = corpus() else { return };
    let check = |file: &str, extra: &[&str]| {
        let path = root.join(file);
        let mut args = vec!["check"];
        args.extend_from_slice(extra);
        args.push(path.to_str().unwrap());
        faultline(&args)
    };
    assert_eq!(code(&check("porcupine/jepsen/etcd_002.log", &[])), 0);
    let output = check("porcupine/jepsen/etcd_000.log", &["--json"]);
    assert_eq!(code(&output), 1);
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        json["explanation"]["failing_line"], 86,
        "the MANIFEST's first violating line"
    );
    assert_eq!(
        code(&check("porcupine/kv/c10-ok.txt", &["--no-partition"])),
        0
    );
    assert_eq!(code(&check("porcupine/kv/c01-bad.txt", &[])), 1);
    assert_eq!(
        code(&check("knossos/cas-register/good/memstress3-51.edn", &[])),
        0
    );
    assert_eq!(code(&check("knossos/mutex/bad/etcd.edn", &[])), 1);
}

#[test]
fn a_second_open_operation_and_a_string_for_kv_are_bad_input_at_their_line() {
    // Blank lines count: the error names the file's line, not the event's index.
    let mut text = history(&[(1, "invoke", "write", "1"), (2, "invoke", "read", "null")]);
    text.push('\n');
    text.push_str(&line(2, 1, "invoke", "write", "2"));
    text.push('\n');
    let path = scratch("two-open.jsonl", &text);
    let output = faultline(&["check", path.to_str().unwrap(), "--model", "register"]);
    assert_eq!(code(&output), 2, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("two-open.jsonl:4:")
            && stderr(&output).contains("at most one open operation"),
        "{}",
        stderr(&output)
    );
    let path = scratch(
        "kv-string.jsonl",
        &history(&[(1, "invoke", "write", "\"x\""), (1, "ok", "write", "\"x\"")]),
    );
    let output = faultline(&["check", path.to_str().unwrap(), "--model", "kv"]);
    assert_eq!(code(&output), 2, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains("kv-string.jsonl:1:") && stderr(&output).contains("kv-append"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_memory_limit_answers_unknown_and_names_its_flag() {
    // Thirty crashed adds of distinct powers of two and a read of a sum none of them makes.
    let mut ops: Vec<(u64, &str, &str, String)> = (0..30)
        .map(|p| (p, "invoke", "add", (1u64 << p).to_string()))
        .collect();
    ops.push((100, "invoke", "read", "null".into()));
    ops.push((100, "ok", "read", "-1".into()));
    let text: String = ops
        .iter()
        .enumerate()
        .map(|(i, (p, k, f, v))| line(i as u64, *p, k, f, v) + "\n")
        .collect();
    let path = scratch("adds.jsonl", &text);
    let output = faultline(&[
        "check",
        path.to_str().unwrap(),
        "--model",
        "counter",
        "--memory-mib-max",
        "2",
        "--budget",
        "1000000000",
    ]);
    assert_eq!(code(&output), 3, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("memory limit of 2 MiB")
            && stdout(&output).contains("--memory-mib-max"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn bank_histories_are_checked_with_the_bank_model() {
    // An audit sees the debit of a transfer without its credit: money in flight.
    let half = history(&[
        (1, "invoke", "transfer", "[0,1,30]"),
        (2, "invoke", "read", "null"),
        (2, "ok", "read", "[70,100]"),
        (1, "ok", "transfer", "[0,1,30]"),
    ]);
    let path = scratch("bank-half.jsonl", &half);
    let path = path.to_str().unwrap();
    let bad = faultline(&["check", path, "--initial", "[100,100]"]);
    assert_eq!(code(&bad), 1, "{}", stdout(&bad));
    assert!(stdout(&bad).contains("bank"), "{}", stdout(&bad));
    // The same audit seeing the state before the transfer is fine.
    let before = half.replace("[70,100]", "[100,100]");
    let path = scratch("bank-before.jsonl", &before);
    let good = faultline(&["check", path.to_str().unwrap(), "--initial", "[100,100]"]);
    assert_eq!(code(&good), 0, "{}{}", stdout(&good), stderr(&good));
    // A transfer from an account to itself is bad input.
    let path = scratch(
        "bank-self.jsonl",
        &history(&[(1, "invoke", "transfer", "[0,0,5]")]),
    );
    assert_eq!(code(&faultline(&["check", path.to_str().unwrap()])), 2);
}
