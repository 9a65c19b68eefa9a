//! A scenario's `expect:` enforced. A file states what its runs should find (`Pass`,
//! `Violation`, `LivenessFailure`); when a run or a sweep ends otherwise the command says so
//! and exits non-zero: with the outcome's own code when that is not 0 (a violation where a
//! pass was expected is still exit 1, a limit hit 3), or with [`EXIT_EXPECTATION`] when it
//! passed where a failure was expected.
//!
//! For `run` and `replay` the expectation is the run's. For a sweep, `Pass` asks every seed to
//! pass and `Violation` / `LivenessFailure` ask at least one seed to end so: the catalogue's
//! stale-read and split-brain files find their violation on some seeds, not on all.
//! `--bug` flags change the scenario, so a file's expectation is not in force under them.

use crate::exit::EXIT_EXPECTATION;
use crate::runner::Outcome;
use crate::scenario::{Expectation, Scenario};

/// The expectation that applies: the file's, unless `--bug` flags switched bugs on.
pub fn in_force(scenario: &Scenario, cli_bugs: &[String]) -> Option<Expectation> {
    if cli_bugs.is_empty() {
        scenario.expect
    } else {
        None
    }
}

/// The file's spelling of an expectation.
pub fn name(expect: Expectation) -> &'static str {
    match expect {
        Expectation::Pass => "Pass",
        Expectation::Violation => "Violation",
        Expectation::LivenessFailure => "LivenessFailure",
    }
}

/// Does one run's outcome meet `expect`? A protocol panic counts as a violation (both exit 1).
pub fn is_met_by(expect: Expectation, outcome: &Outcome) -> bool {
    match expect {
        Expectation::Pass => matches!(outcome, Outcome::Pass),
        Expectation::Violation => {
            matches!(
                outcome,
                Outcome::SafetyViolation { .. } | Outcome::Panic { .. }
            )
        }
        Expectation::LivenessFailure => matches!(outcome, Outcome::LivenessFailure { .. }),
    }
}

/// Does a sweep meet `expect`: every seed passes (`Pass`), or some seed ends as expected.
pub fn is_met_by_sweep<'a>(
    expect: Expectation,
    mut outcomes: impl Iterator<Item = &'a Outcome>,
) -> bool {
    match expect {
        Expectation::Pass => outcomes.all(|outcome| is_met_by(expect, outcome)),
        _ => outcomes.any(|outcome| is_met_by(expect, outcome)),
    }
}

/// The exit code once the expectation is checked: `code` when it is met or already non-zero
/// (a violation, a liveness failure, a limit hit say so themselves), [`EXIT_EXPECTATION`] when
/// a pass replaced the failure the file expects.
pub fn exit_code(met: bool, code: u8) -> u8 {
    if met || code != crate::exit::EXIT_PASS {
        code
    } else {
        EXIT_EXPECTATION
    }
}

/// One run's exit code under the expectation in force, and the line to print when it is not
/// met.
pub fn for_run(expect: Option<Expectation>, outcome: &Outcome) -> (u8, Option<String>) {
    let code = outcome.exit_code();
    match expect {
        Some(expect) if !is_met_by(expect, outcome) => (
            exit_code(false, code),
            Some(unmet_line(expect, outcome.name())),
        ),
        _ => (code, None),
    }
}

/// The line a command prints when the expectation is not met.
pub fn unmet_line(expect: Expectation, got: &str) -> String {
    format!(
        "expectation not met: the scenario says `expect: {}`, got {got}",
        name(expect)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation() -> Outcome {
        Outcome::SafetyViolation {
            source: "linearizability".into(),
            message: "stale read".into(),
        }
    }

    #[test]
    fn a_run_meets_only_its_own_kind() {
        assert!(is_met_by(Expectation::Pass, &Outcome::Pass));
        assert!(!is_met_by(Expectation::Pass, &violation()));
        assert!(is_met_by(Expectation::Violation, &violation()));
        assert!(is_met_by(
            Expectation::Violation,
            &Outcome::Panic {
                message: "x".into()
            }
        ));
        assert!(!is_met_by(Expectation::Violation, &Outcome::Pass));
        let limit = Outcome::LimitHit {
            message: "x".into(),
        };
        assert!(!is_met_by(Expectation::Violation, &limit));
        assert!(!is_met_by(Expectation::LivenessFailure, &violation()));
    }

    #[test]
    fn a_sweep_expecting_a_violation_needs_one_seed() {
        let some = [Outcome::Pass, violation(), Outcome::Pass];
        assert!(is_met_by_sweep(Expectation::Violation, some.iter()));
        assert!(!is_met_by_sweep(Expectation::Pass, some.iter()));
        let none = [Outcome::Pass, Outcome::Pass];
        assert!(!is_met_by_sweep(Expectation::Violation, none.iter()));
        assert!(is_met_by_sweep(Expectation::Pass, none.iter()));
    }

    #[test]
    fn a_pass_where_a_violation_was_expected_exits_6() {
        assert_eq!(exit_code(false, 0), EXIT_EXPECTATION);
        assert_eq!(exit_code(false, 3), 3);
        assert_eq!(exit_code(false, 1), 1);
        assert_eq!(exit_code(false, 4), 4);
        assert_eq!(exit_code(true, 1), 1);
        assert_eq!(exit_code(true, 0), 0);
    }
}
