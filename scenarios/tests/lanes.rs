//! Node lanes from the typed hooks (`Node::lane`, `Node::starting_lane`) of the protocols
//! without leaders, through the real binary: each run page draws the roles in the protocol's
//! own words. Read from `Debug` text (the fallback), none of these roles would appear: the
//! lanes would say `up`.

#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use support::faultline;

/// The run page of `scenario` at `seed`.
fn page(scenario: &str, seed: &str) -> String {
    let name = scenario.rsplit('/').next().unwrap_or(scenario);
    let directory: PathBuf =
        std::env::temp_dir().join(format!("faultline-lanes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let out = directory.display().to_string();
    let (code, stdout, stderr) = faultline(&["run", scenario, "--seed", seed, "--out", &out]);
    assert!(
        code == 0 || code == 1,
        "{scenario}: exit {code}: {stdout}{stderr}"
    );
    let page = std::fs::read_to_string(directory.join("index.html")).expect("index.html");
    let _ = std::fs::remove_dir_all(&directory);
    page
}

/// Asserts the node lanes draw each of `roles` (a lane's class is its role, spaces as dashes)
/// and nothing of the `Debug` fallback's default.
fn assert_lanes(page: &str, roles: &[&str]) {
    let nodes = page
        .split("class=\"lane nodes\"")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("a node lane figure");
    for role in roles {
        let class = format!("<g class=\"role {}\">", role.replace(' ', "-"));
        assert!(nodes.contains(&class), "no {role} lane in:\n{nodes}");
    }
    // Every node has a part from its start: no stretch says only `up` before a crash.
    let starts_up = nodes.contains("<g class=\"role up\"><rect x=\"70\"");
    assert!(!starts_up, "a lane starts as `up`:\n{nodes}");
}

#[test]
fn two_phase_commit_lanes_show_the_coordinator_and_prepared_participants() {
    let page = page("catalog/2pc-bank-crashes.ron", "1");
    assert_lanes(&page, &["coordinator", "participant", "prepared"]);
    assert!(page.contains("prepared (in doubt"), "the legend names it");
}

#[test]
fn saga_lanes_show_the_orchestrator_and_participants() {
    assert_lanes(
        &page("catalog/saga-bank-crashes.ron", "1"),
        &["orchestrator", "participant"],
    );
}

#[test]
fn crdt_lanes_show_replicas() {
    assert_lanes(
        &page("catalog/crdt-pncounter-everything.ron", "1"),
        &["replica"],
    );
}

#[test]
fn redlock_lanes_show_instances_and_the_token_storage() {
    assert_lanes(
        &page("catalog/redlock-lock-lossy.ron", "1"),
        &["instance", "storage"],
    );
}

#[test]
fn sharded_lanes_show_groups_and_their_leaders() {
    let page = page("catalog/shard-kv-membership.ron", "1");
    assert_lanes(&page, &["config", "shard", "group leader"]);
    // Its membership changes are ticks on the fault lane, styled and named in the legend.
    assert!(page.contains("<g class=\"fault membership\">"));
    assert!(page.contains(".fault.membership rect { fill:"));
    assert!(page.contains(">membership change</span>"));
}
