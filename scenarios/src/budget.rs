//! A scenario's expected size against its limits: `validate`, `run`, `sweep` and the other
//! commands warn (they do not refuse) when a scenario's clients will record far more history
//! than `limits.max_history_events` allows, so a `duration: "1000h"` says up front that its
//! runs will end early with `limit-hit` rather than after minutes of silence.

use crate::scenario::Scenario;

/// How far beyond the limit the expected history must be before a warning: below it the
/// estimate is too rough to say (clients wait for consensus, retries and timeouts).
const WARN_FACTOR: u64 = 4;

/// The most history events the scenario's clients can record: every client invokes one
/// operation per think time (mean) plus a round trip at the smallest latency, through both
/// phases, and each operation is two events. An upper bound on the rate, so a warning based on
/// it may be too eager, never too late, by the bound's own margin.
pub fn history_events_max(scenario: &Scenario) -> u128 {
    let clients = &scenario.clients;
    let think_mean =
        (u128::from(clients.think_min.as_nanos()) + u128::from(clients.think_max.as_nanos())) / 2;
    let round_trip = 2 * u128::from(scenario.network.latency_min.as_nanos());
    // At least a microsecond per operation: a zero-latency, zero-think scenario still takes
    // a few kernel events per operation.
    let per_operation = (think_mean + round_trip).max(1_000);
    let span = u128::from((scenario.duration + scenario.recovery).as_nanos());
    2 * u128::from(clients.count) * span / per_operation
}

/// Warnings about the scenario's size (empty when it fits its limits).
pub fn size_warnings(scenario: &Scenario) -> Vec<String> {
    let expected = history_events_max(scenario);
    let limit = u128::from(scenario.limits.max_history_events);
    if expected <= limit * u128::from(WARN_FACTOR) {
        return Vec::new();
    }
    let span = scenario.duration + scenario.recovery;
    vec![format!(
        "up to {expected} history events expected ({count} clients for {span}), {times}x \
         limits.max_history_events = {limit}: runs will stop early with limit-hit (exit 3); \
         shorten `duration` or raise the limit",
        count = scenario.clients.count,
        times = expected / limit,
    )]
}
