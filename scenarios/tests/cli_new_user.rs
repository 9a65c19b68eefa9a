//! What a new user trips over, through the real binary: the checker's half of a run's memory
//! budget stops its search with a reason (exit 3), `run` without `--out` says exactly where it
//! wrote, and durations that are not plain numbers say what is wrong with them.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{faultline, CALM};

fn scratch(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("faultline-new-user-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

/// A catalogue file with `old` replaced by `new`, written under `directory`.
fn variant(directory: &Path, file: &str, old: &str, new: &str) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    assert!(text.contains(old), "{file} changed: no {old:?}");
    let path = directory.join(Path::new(file).file_name().unwrap());
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
    path.display().to_string()
}

/// The `digest ...` of a run's verdict line.
fn digest(stdout: &str) -> &str {
    let start = stdout.find("(digest ").expect("a verdict line") + "(digest ".len();
    &stdout[start..start + 16]
}

#[test]
fn the_checker_stops_at_half_the_runs_memory_budget_with_its_reason() {
    let work = scratch("checker-memory");
    // Seed 5 of the counter on Multi-Paxos: a history of about 4,000 events, whose check
    // needs more than the 512 KiB a 1 MiB budget leaves the checker, but whose run fits.
    let tight = variant(
        &work,
        "catalog/paxos-counter-faults.ron",
        "expect: Pass,",
        "limits: (max_memory_mib: 1),\n    expect: Pass,",
    );
    let (code, stdout, stderr) = faultline(&["replay", &tight, "--seed", "5"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("seed 5: inconclusive ("), "{stdout}");
    assert!(
        stdout.contains("linearizability check: memory limit of 512 KiB reached")
            && stdout.contains("half of limits.max_memory_mib = 1: raise it to decide"),
        "{stdout}"
    );
    // The same run under the default budget: the checker decides, and the run itself (its
    // trace digest) is the same, so only the checker's allowance stopped it.
    let (code, roomy, stderr) =
        faultline(&["replay", "catalog/paxos-counter-faults.ron", "--seed", "5"]);
    assert_eq!(code, 0, "{roomy}{stderr}");
    assert_eq!(digest(&stdout), digest(&roomy));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn run_without_out_writes_under_store_and_prints_the_full_path() {
    let work = scratch("no-out");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join(CALM);
    let faultline_in = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .current_dir(&work)
            .env_remove("FAULTLINE_SEED")
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    // `replay` without --out writes nothing.
    let (code, _) = faultline_in(&["replay", scenario.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "replay wrote files"
    );

    let (code, stdout) = faultline_in(&["run", scenario.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 0, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("run directory: "))
        .unwrap_or_else(|| panic!("no run directory line: {stdout}"));
    assert!(
        line.ends_with(" (no --out given: under store/ in the working directory)"),
        "{line}"
    );
    let printed = line
        .trim_start_matches("run directory: ")
        .split(" (no --out")
        .next()
        .unwrap();
    let printed = Path::new(printed);
    let store = work
        .canonicalize()
        .unwrap()
        .join("store/single-server-kv-calm");
    assert!(printed.is_absolute(), "{line}");
    assert!(
        printed.starts_with(&store),
        "{line} is not under {}",
        store.display()
    );
    assert!(printed.join("results.json").is_file() && printed.join("index.html").is_file());
    assert!(
        store.join("latest/results.json").is_file(),
        "the `latest` link"
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn durations_that_are_not_plain_numbers_say_what_is_wrong() {
    let work = scratch("durations");
    for (bad, reason) in [
        ("-5s", "is negative"),
        ("1e99s", "uses an exponent"),
        ("NaNs", "is not a number"),
    ] {
        let path = variant(
            &work,
            CALM,
            "duration: \"10s\"",
            &format!("duration: \"{bad}\""),
        );
        let (code, out, err) = faultline(&["validate", &path]);
        assert_eq!(code, 2, "{bad}: {out}{err}");
        assert!(
            err.contains(&format!("duration `{bad}` {reason}")) && err.contains(&path),
            "{bad}: {err}"
        );
        assert!(!err.contains("unknown unit"), "{bad}: {err}");
    }
    let _ = std::fs::remove_dir_all(&work);
}
