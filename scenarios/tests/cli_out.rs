//! `--out` never mixes two reports: a non-empty directory is refused (exit 2, before any work)
//! unless `--force`.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use support::{faultline, CALM};

#[test]
fn a_non_empty_out_directory_is_refused_without_force() {
    let dir = std::env::temp_dir().join(format!("faultline-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    // A missing directory is created; the second write into it is refused.
    let (code, _, stderr) = faultline(&["run", CALM, "--out", out]);
    assert_eq!(code, 0, "{stderr}");
    let refusal = format!(
        "error: --out {out}: the directory is not empty; give a new directory, or --force to write into it"
    );
    for command in [
        vec!["run", CALM, "--out", out],
        vec!["replay", CALM, "--seed", "1", "--out", out],
        vec!["sweep", CALM, "--count", "2", "--out", out],
        vec!["compare", CALM, CALM, "--seeds", "0..2", "--out", out],
        vec!["report", "merge", out, "--out", out],
    ] {
        let (code, stdout, stderr) = faultline(&command);
        assert_eq!(code, 2, "{command:?}: {stdout}{stderr}");
        assert!(stderr.starts_with(&refusal), "{command:?}: {stderr}");
        assert_eq!(stdout, "", "{command:?}: nothing ran");
    }
    let (code, stdout, stderr) =
        faultline(&["replay", CALM, "--seed", "1", "--out", out, "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("run directory: {out}")),
        "{stdout}"
    );
    let results = std::fs::read_to_string(dir.join("results.json")).unwrap();
    assert!(
        results.contains("\"seed\": 1") || results.contains("\"seed\":1"),
        "{results}"
    );

    // A file is not a directory.
    let file = dir.join("results.json");
    let (code, _, stderr) = faultline(&["run", CALM, "--out", file.to_str().unwrap(), "--force"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is a file; expected a directory"),
        "{stderr}"
    );
}
