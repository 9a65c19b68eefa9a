//! Sagas are not isolated: an audit may see money in flight. `saga-bank-calm` measures it
//! (`isolation_anomalies` among the run's figures, the history not judged by the bank's
//! serializability model); the same file with `isolation_anomalies: Fatal` fails on it.

use scenarios::runner::{run, Outcome, RunOptions};
use scenarios::scenario::Scenario;
use std::path::Path;

fn calm(fatal: bool) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/saga-bank-calm.ron");
    let mut text = std::fs::read_to_string(&path).expect("the catalogue file");
    if fatal {
        let measured = "balance_max: 200)";
        assert!(text.contains(measured), "the file's protocol line changed");
        text = text.replace(measured, "balance_max: 200, isolation_anomalies: Fatal)");
    }
    Scenario::from_str(&text, "saga-bank-calm.ron").unwrap_or_else(|e| panic!("{}", e.message()))
}

#[test]
fn saga_audits_see_money_in_flight_measured_by_default_and_fatal_on_request() {
    let measured = run(&calm(false), 0, &RunOptions::default()).expect("supported");
    assert_eq!(measured.outcome, Outcome::Pass);
    assert!(
        measured.check.is_none(),
        "a measured saga history is not judged"
    );
    let anomalies = measured.figures["isolation_anomalies"];
    let audits = measured.figures["audits"];
    assert!(
        anomalies > 0 && anomalies <= audits,
        "{anomalies} anomalies in {audits} audits"
    );
    assert!(measured.figures["compensations"] > 0);

    let fatal = run(&calm(true), 0, &RunOptions::default()).expect("supported");
    match &fatal.outcome {
        Outcome::SafetyViolation { source, message } => {
            assert_eq!(source, "invariant:isolation", "{message}");
            assert!(message.contains("money in flight"), "{message}");
        }
        other => panic!("an anomaly must be fatal: {other:?}"),
    }
}
