//! `faultline validate`: `ok <path>` per valid file on stdout, located errors on stderr, exit 0
//! when everything is valid and 2 otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("validate")
        .args(args)
        .output()
        .expect("run faultline")
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn broken(name: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures/broken").join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_whole_catalogue_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("catalog"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ron"))
        .collect();
    files.sort();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = faultline(&paths);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
    let expected: String = files
        .iter()
        .map(|path| format!("ok {}\n", path.display()))
        .collect();
    assert_eq!(text(&output.stdout), expected);
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn a_broken_file_exits_2_with_its_location() {
    let path = broken("unknown-field.ron");
    let output = faultline(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        format!("{}\n", text(&output.stderr).lines().next().unwrap_or_default()),
        format!(
            "{}:4:25: unknown field `thnk` in `Clients`: expected one of `count`, `think`, `timeout`, `retry_after`, `redirect_backoff`\n",
            path.display()
        )
    );
}

#[test]
fn every_file_is_checked_and_the_worst_result_wins() {
    let good = manifest_dir().join("tests/fixtures/valid-minimal.ron");
    let files = [
        good.clone(),
        broken("node-out-of-range.ron"),
        broken("not-utf8.ron"),
        broken("empty.ron"),
        broken("misspelt-variant.ron"),
        broken("bad-duration.ron"),
        broken("does-not-exist.ron"),
        good.clone(),
    ];
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = faultline(&paths);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stdout),
        format!("ok {}\nok {}\n", good.display(), good.display())
    );
    let stderr = text(&output.stderr);
    // Each error's first line; the source snippets under them start with a space or a digit.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with(' ') && !line.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    let expected_starts = [
        format!(
            "{}:7:24: faults.Script[2].do.Crash.node: node 7 does not exist in a 5-node cluster",
            files[1].display()
        ),
        format!("{}:3:15: the file is not valid UTF-8", files[2].display()),
        format!("{}:1:1: the file is empty", files[3].display()),
        format!(
            "{}:3:38: unknown variant `Halfs` in `Shape`: expected one of",
            files[4].display()
        ),
        format!(
            "{}:3:16: duration `10 parsecs` has unknown unit",
            files[5].display()
        ),
        format!("{}: cannot read the file", files[6].display()),
    ];
    for (line, expected) in lines.iter().zip(&expected_starts) {
        assert!(
            line.starts_with(expected.as_str()),
            "{line}\n  should start with\n{expected}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn no_arguments_is_a_usage_error() {
    let output = faultline(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("SCENARIO"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_unterminated_string_is_reported_on_its_own_line() {
    let path = broken("unterminated-string.ron");
    let output = faultline(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next().unwrap_or_default(),
        format!(
            "{}:4:11: unterminated string: the string opened here has no closing `\"` on its line",
            path.display()
        )
    );
    assert!(
        stderr.contains(
            "4 |     name: \"raft-kv-typo,\n  |           ^^^^^^^^^^^^^^ this string is not closed"
        ),
        "{stderr}"
    );
}
