//! Crash points and swarm testing end to end: validation, the off switch that changes nothing,
//! determinism, and a random crash replayed as a script.

use scenarios::runner::{run, swarm_draw, RunOptions, RunReport};
use scenarios::scenario::{FaultSpec, Scenario};
use sim_core::faults::FaultAction;

fn parse(text: &str) -> Result<Scenario, String> {
    Scenario::from_str(text, "test.ron").map_err(|error| error.to_string())
}

fn crash_point_scenario(crash_points: &str) -> String {
    format!(
        r#"Scenario(
    protocol: TwoPhaseCommit(participants: 3),
    app: Bank(accounts: 12, initial_balance: 100, audit_ratio: "10%"),
    clients: (count: 6, think: ("0ms", "10ms"), timeout: "2s", retry_after: "100ms"),
    faults: Random(every: ("20ms", "300ms"), kinds: [Crash, LoseUnsynced], {crash_points}),
    duration: "3s",
    recovery: "3s",
)"#
    )
}

fn crashes(report: &RunReport) -> u64 {
    report
        .marks
        .iter()
        .filter(|(mark, _)| mark.starts_with("crashed:"))
        .map(|(_, count)| count)
        .sum()
}

#[test]
fn unknown_crash_points_and_passage_zero_are_located_errors() {
    let error = parse(
        r#"Scenario(protocol: Raft(), faults: Script([(at: "1s", do: CrashAt(1, "raft.nope", 1))]))"#,
    )
    .unwrap_err();
    assert!(
        error.contains("faults.Script[0].do.CrashAt.point"),
        "{error}"
    );
    assert!(
        error.contains("unknown crash point \"raft.nope\""),
        "{error}"
    );
    assert!(
        error.contains("raft.after_vote"),
        "lists the declared ones: {error}"
    );
    let error = parse(
        r#"Scenario(protocol: Raft(), faults: Script([(at: "1s", do: PowerLossAt(1, "raft.after_vote", 0))]))"#,
    )
    .unwrap_err();
    assert!(error.contains("PowerLossAt.nth"), "{error}");
    let error = parse(&crash_point_scenario(
        r#"crash_points: (only: ["paxos.after_promise"])"#,
    ))
    .unwrap_err();
    assert!(
        error.contains("faults.Random.crash_points.only[0]"),
        "{error}"
    );
    let error = parse(&crash_point_scenario(r#"crash_points: (chance: "0")"#)).unwrap_err();
    assert!(error.contains("crash_points.chance"), "{error}");
    // And the good ones parse, with their defaults.
    let scenario = parse(&crash_point_scenario("crash_points: ()")).unwrap();
    let FaultSpec::Random(random) = &scenario.faults else {
        panic!("random faults")
    };
    let points = random.crash_points.as_ref().expect("crash points on");
    assert_eq!(points.chance.ppm, 10_000);
    assert_eq!(points.power_loss.ppm, 500_000);
    assert!(points.only.is_empty());
}

#[test]
fn crash_points_that_never_fire_change_nothing() {
    // On, but aimed at a point no seed passes in 3s without a coordinator crash first: the
    // nodes record their passages, the kernel draws nothing, the digest is the one without.
    let off = parse(&crash_point_scenario("swarm: false")).unwrap();
    let on = parse(&crash_point_scenario(
        r#"crash_points: (chance: "1/1000000", only: ["2pc.mid_commit_broadcast"])"#,
    ))
    .unwrap();
    for seed in 0..3 {
        let a = run(&off, seed, &RunOptions::default()).unwrap();
        let b = run(&on, seed, &RunOptions::default()).unwrap();
        assert_eq!(
            crashes(&b),
            0,
            "seed {seed}: the 1-in-a-million chance fired"
        );
        assert!(
            b.marks.contains_key("passed:2pc.mid_commit_broadcast"),
            "seed {seed}: passages are counted when on"
        );
        assert!(
            !a.marks.keys().any(|mark| mark.starts_with("passed:")),
            "seed {seed}: nothing is counted when off"
        );
        assert_eq!(a.digest, b.digest, "seed {seed}");
    }
}

#[test]
fn random_crash_points_fire_deterministically_and_replay_as_a_script() {
    let scenario = parse(&crash_point_scenario(
        r#"crash_points: (chance: "5%", restart_after: ("5ms", "50ms"))"#,
    ))
    .unwrap();
    let first = run(&scenario, 7, &RunOptions::default()).unwrap();
    let again = run(&scenario, 7, &RunOptions::default()).unwrap();
    assert_eq!(first.digest, again.digest);
    let fired = crashes(&first);
    assert!(fired > 0, "a 5% chance over thousands of passages fires");
    assert!(first.outcome.name() == "pass", "{:?}", first.outcome);
    // The plan that ran names each crash as a CrashAt armed at 0s, and its restarts.
    let armed = first
        .plan
        .faults
        .iter()
        .filter(|fault| matches!(fault.action, FaultAction::CrashAt { .. }))
        .count() as u64;
    assert_eq!(armed, fired);
    let script = Scenario::from_str(&scenario.to_ron_with_script(&first.plan), "script.ron")
        .unwrap_or_else(|error| panic!("{error}"));
    let replayed = run(&script, 7, &RunOptions::default()).unwrap();
    assert_eq!(
        crashes(&replayed),
        fired,
        "the script crashes at the same passages"
    );
    assert_eq!(replayed.outcome.name(), first.outcome.name());
}

#[test]
fn a_scripted_crash_at_fires_at_its_passage_only() {
    let scenario = parse(
        r#"Scenario(
    protocol: TwoPhaseCommit(participants: 3),
    app: Bank(accounts: 12, initial_balance: 100, audit_ratio: "10%"),
    faults: Script([(at: "0s", do: CrashAt(1, "2pc.after_vote_yes", 3)), (at: "2s", do: Restart(1))]),
    duration: "3s",
    recovery: "2s",
)"#,
    )
    .unwrap();
    let report = run(&scenario, 0, &RunOptions::default()).unwrap();
    assert_eq!(crashes(&report), 1);
    let crash = report
        .faults_applied
        .iter()
        .find(|fault| fault.description().contains("at 2pc.after_vote_yes"))
        .expect("the crash is in the fault timeline");
    assert!(
        crash.description().contains("passage 3"),
        "{}",
        crash.description()
    );
    assert_eq!(report.outcome.name(), "pass");
}

#[test]
fn swarm_draws_within_the_files_ranges_and_only_when_asked() {
    let text = r#"Scenario(
    protocol: Raft(election_timeout: ("150ms", "300ms")),
    clients: (count: 6, think: ("0ms", "10ms")),
    network: (latency: ("1ms", "10ms"), loss: "5%", duplicate: "1%"),
    swarm: true,
)"#;
    let scenario = parse(text).unwrap();
    let mut client_counts = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let drawn = swarm_draw(&scenario, seed);
        assert_eq!(drawn, swarm_draw(&scenario, seed), "deterministic");
        let network = &drawn.network;
        assert!(network.latency_min.as_millis() >= 1 && network.latency_max.as_millis() <= 10);
        assert!(network.latency_min <= network.latency_max);
        assert!(network.loss.ppm <= 50_000 && network.duplicate.ppm <= 10_000);
        assert!((1..=6).contains(&drawn.clients.count));
        let (low, high) = drawn.protocol.params.duration_range("election_timeout");
        assert!(low.as_millis() >= 150 && high.as_millis() <= 300 && low < high);
        assert!(
            (high - low).as_millis() >= 75,
            "half the spread kept: {low}..{high}"
        );
        client_counts.insert(drawn.clients.count);
    }
    assert!(client_counts.len() >= 4, "{client_counts:?}");
    // Without `swarm`, the scenario runs as written.
    let plain = parse(&text.replace("swarm: true,", "")).unwrap();
    assert!(!plain.swarm);
}
