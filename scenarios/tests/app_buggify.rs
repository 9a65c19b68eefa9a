//! BUGGIFY of the lock and counter applications' client workloads, through the real binary:
//! the catalogue files that switch it on pass with every bug off while each workload mark
//! fires; the same files with it off (and the plain files) record none of those marks; and on
//! a quiet lock file BUGGIFY finds the fencing bug that a plain sweep of the same seeds misses.

#[allow(dead_code)]
mod support;

use support::sweep_summary as summary;

/// The workload marks (`lock.*`, `counter.*`) a summary counted.
fn workload_marks(summary: &serde_json::Value) -> Vec<String> {
    summary["marks"]
        .as_object()
        .expect("marks")
        .keys()
        .filter(|mark| mark.starts_with("lock.") || mark.starts_with("counter."))
        .cloned()
        .collect()
}

/// `file` (under the crate directory) with `from` replaced by `to`, written to a temporary
/// file whose path is returned.
fn edited(file: &str, from: &str, to: &str, name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join(file)).expect("the catalogue file");
    assert!(text.contains(from), "{file} has no {from}");
    let path = std::env::temp_dir().join(format!("faultline-app-buggify-{name}.ron"));
    std::fs::write(&path, text.replace(from, to)).expect("a temporary file");
    path.to_string_lossy().into_owned()
}

#[test]
fn the_app_buggify_files_pass_while_every_workload_mark_fires() {
    let files: &[(&str, &[&str])] = &[
        (
            "catalog/raft-lock-buggify.ron",
            protocols::apps::lock::MARKS,
        ),
        (
            "catalog/paxos-counter-buggify.ron",
            protocols::apps::counter::MARKS,
        ),
    ];
    for (file, marks) in files {
        let (code, summary) = summary(file, "0..4", None);
        assert_eq!(code, 0, "{file}: {summary}");
        assert_eq!(summary["outcomes"]["pass"], 4, "{file}: {summary}");
        for mark in *marks {
            assert!(
                summary["marks"][mark].as_u64().unwrap_or(0) > 0,
                "{file}: {mark} never fired: {summary}"
            );
        }
    }
}

#[test]
fn workload_marks_never_appear_with_buggify_off() {
    let off = [
        edited(
            "catalog/raft-lock-buggify.ron",
            "buggify: true",
            "buggify: false",
            "lock-off",
        ),
        edited(
            "catalog/paxos-counter-buggify.ron",
            "buggify: true",
            "buggify: false",
            "counter-off",
        ),
    ];
    let files = [
        off[0].as_str(),
        off[1].as_str(),
        "catalog/raft-lock-contention.ron",
        "catalog/paxos-counter-faults.ron",
        "catalog/raft-lock-calm.ron",
    ];
    for file in files {
        let (code, summary) = summary(file, "0..3", None);
        assert_eq!(code, 0, "{file}: {summary}");
        assert!(workload_marks(&summary).is_empty(), "{file}: {summary}");
    }
}

#[test]
fn on_a_quiet_lock_file_buggify_finds_the_unfenced_resource_a_plain_sweep_misses() {
    // README, "BUGGIFY for the lock and counter applications": campaign 0 of raft-lock-calm
    // with `buggify: true` finds L1 at seed 24; without it, 200 seeds find nothing.
    let bug = Some("lock-resource-skips-fencing-check");
    let (code, plain) = summary("catalog/raft-lock-calm.ron", "0..40", bug);
    assert_eq!(code, 0, "{plain}");
    let on = edited(
        "catalog/raft-lock-calm.ron",
        "app: Lock(",
        "app: Lock(buggify: true, ",
        "lock-calm-on",
    );
    let (code, buggified) = summary(&on, "0..40", bug);
    assert_eq!(code, 1, "{buggified}");
    assert_eq!(buggified["first_failing_seed"], 24, "{buggified}");
}
