//! BUGGIFY and crash points of primary-backup, Redlock, CRDT and sagas, through the real
//! binary: each catalogue file that switches them on passes with every bug off while its
//! BUGGIFY marks and crashes at its crash points fire, and the crash points find the saga's
//! classic bug within the seeds the README's table says.

#[allow(dead_code)]
mod support;

use support::sweep_summary as summary;

fn hits(summary: &serde_json::Value, mark: &str) -> u64 {
    summary["marks"][mark].as_u64().unwrap_or(0)
}

#[test]
fn every_buggify_file_passes_while_its_marks_and_crash_points_fire() {
    let files: &[(&str, &[&str])] = &[
        (
            "catalog/primary-backup-counter-crash-points.ron",
            &[
                "primary_backup.buggify_late_ack",
                "crashed:primary_backup.after_ack",
                "crashed:primary_backup.after_backup_apply",
            ],
        ),
        (
            "catalog/redlock-lock-crash-points.ron",
            &[
                "redlock.buggify_del_resent",
                "crashed:redlock.after_set",
                "crashed:redlock.after_majority_acquired",
            ],
        ),
        (
            "catalog/crdt-pncounter-crash-points.ron",
            &[
                "crdt.buggify_gossip_skipped",
                "crdt.buggify_gossip_repeated",
                "crashed:crdt.after_add_acknowledged",
                "crashed:crdt.after_gossip",
            ],
        ),
        (
            "catalog/saga-bank-crash-points.ron",
            &[
                "crashed:saga.after_step_sent",
                "crashed:saga.after_step_answered",
            ],
        ),
    ];
    for (file, marks) in files {
        let (code, summary) = summary(file, "0..6", None);
        assert_eq!(code, 0, "{file}: {summary}");
        assert_eq!(summary["outcomes"]["pass"], 6, "{file}: {summary}");
        for mark in *marks {
            assert!(
                hits(&summary, mark) > 0,
                "{file}: {mark} never fired: {summary}"
            );
        }
    }
}

#[test]
fn buggify_and_crash_points_are_opt_in_so_the_plain_files_never_take_those_paths() {
    for file in [
        "catalog/primary-backup-counter-failover-sync.ron",
        "catalog/redlock-lock-restart-fsync.ron",
        "catalog/crdt-pncounter-everything.ron",
        "catalog/saga-bank-crashes.ron",
    ] {
        let (code, summary) = summary(file, "0..3", None);
        assert_eq!(code, 0, "{file}: {summary}");
        let marks = summary["marks"].as_object().expect("marks");
        let unusual: Vec<&String> = marks
            .keys()
            .filter(|mark| mark.contains("buggify") || mark.starts_with("passed:"))
            .collect();
        assert!(unusual.is_empty(), "{file}: {unusual:?}");
    }
}

#[test]
fn the_sagas_crash_points_find_a_refund_sent_before_its_record_is_durable() {
    // README, "20 campaigns per mutant": campaign 0 finds S1 at seed 2 (3 seeds) since the
    // saga's steps became order-tolerant (it was seed 10 before).
    let (code, summary) = summary(
        "catalog/saga-bank-crash-points.ron",
        "0..40",
        Some("saga-compensation-not-durable"),
    );
    assert_eq!(code, 1, "{summary}");
    assert_eq!(summary["first_failing_seed"], 2, "{summary}");
}
