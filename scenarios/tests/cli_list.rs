//! `faultline list`: names every bug and every checker model, as text and as one JSON object.

use sim_core::check::Model;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

#[test]
fn text_listing_names_every_bug_and_model() {
    let output = faultline(&["list"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (bug, _) in protocols::registry::all_bugs() {
        assert!(stdout.contains(bug.name()), "bug {bug} missing:\n{stdout}");
    }
    for model in Model::ALL {
        assert!(
            stdout.contains(model.name()),
            "model {} missing:\n{stdout}",
            model.name()
        );
    }
    for protocol in ["single-server", "primary-backup", "raft", "paxos"] {
        assert!(stdout.contains(protocol), "protocol {protocol} missing");
    }
    assert!(stdout.contains("single-server-kv-calm.ron"));
}

#[test]
fn json_listing_is_one_object_naming_every_bug_and_model() {
    let output = faultline(&["list", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim_end().lines().count(), 1, "one line:\n{stdout}");
    let listing: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let names = |key: &str| -> Vec<String> {
        listing[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is an array"))
            .iter()
            .map(|entry| entry["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let bugs = names("bugs");
    for (bug, _) in protocols::registry::all_bugs() {
        assert!(
            bugs.iter().any(|name| name == bug.name()),
            "bug {bug} missing"
        );
    }
    let models = names("models");
    for model in Model::ALL {
        assert!(
            models.iter().any(|name| name == model.name()),
            "model {} missing",
            model.name()
        );
    }
    for key in [
        "protocols",
        "apps",
        "fault_kinds",
        "script_actions",
        "partition_shapes",
    ] {
        assert!(listing[key].is_array(), "{key} missing");
    }
}
