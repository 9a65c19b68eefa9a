//! Validation: a scenario file as written (`crate::file`) becomes a checked [`Scenario`], every
//! error located by its field path; and the few conversions back (a scenario written out as a
//! file: `Scenario::to_ron_resolved`, `--export-script`). Kept apart from the scenario's types so
//! that `mod.rs` reads as the scenario itself.

use super::*;
/// Stage two: defaults and cross-field rules.
pub(super) fn validate(file: ScenarioFile, default_name: &str) -> Result<Scenario, Invalid> {
    let name = match file.name {
        Some(name) if name.trim().is_empty() => {
            return Err(invalid("name", "the name is empty"));
        }
        Some(name) => name,
        None => default_name.to_string(),
    };
    let random_faults = matches!(file.faults, Some(FaultsFile::Random { .. }));
    let protocol = validate_protocol(file.protocol, random_faults)?;

    let rule = protocol.protocol.nodes_for(&protocol.params);
    let node_count = file.nodes.unwrap_or(rule.default);
    if node_count == 0 || node_count > MAX_NODES {
        return Err(invalid(
            "nodes",
            format!("{node_count} nodes: expected 1 to {MAX_NODES}"),
        ));
    }
    if !rule.allows(node_count) {
        let expected = if rule.min == rule.max {
            format!("exactly {}", rule.min)
        } else {
            format!("{} to {}", rule.min, rule.max.min(MAX_NODES))
        };
        return Err(invalid(
            "nodes",
            format!(
                "{} runs {expected} node{}, not {node_count}",
                protocol.name(),
                if rule.max == 1 { "" } else { "s" }
            ),
        ));
    }

    let app = validate_app(file.app.unwrap_or_else(|| {
        Chosen::new(
            &protocols::apps::kv::KV as &dyn App,
            Params::empty(protocols::apps::kv::KV.params()),
        )
    }))?;
    let needs = app.app.requires();
    if !app.app.runs_on(protocol.protocol.capabilities()) {
        let runs_on: Vec<&str> = registry::PROTOCOLS
            .iter()
            .filter(|other| app.app.runs_on(other.capabilities()))
            .map(|other| other.name())
            .collect();
        return Err(invalid(
            "app",
            format!(
                "the {} application runs on {}, not on {}: it needs a protocol with {needs}",
                app.name(),
                runs_on.join(", "),
                protocol.name()
            ),
        ));
    }
    let clients = validate_clients(file.clients.unwrap_or_default())?;
    let workload = validate_workload(file.workload.unwrap_or_default(), &app, clients.count)?;
    let network = validate_network(file.network.unwrap_or_default())?;
    let clock_offset_max = file.clock_offset_max.map_or(Duration::ZERO, |text| text.0);
    let disk = validate_disk(file.disk.unwrap_or_default())?;

    let duration = file.duration.map_or(Duration::from_secs(10), |text| text.0);
    if duration == Duration::ZERO {
        return Err(invalid(
            "duration",
            "the duration is 0s: expected a positive duration",
        ));
    }
    let recovery = file.recovery.map_or(Duration::from_secs(5), |text| text.0);
    let end = duration
        .as_nanos()
        .checked_add(recovery.as_nanos())
        .ok_or_else(|| {
            invalid(
                "recovery",
                "duration + recovery does not fit in 64-bit nanoseconds",
            )
        })?;

    // Operations are invoked until the middle of recovery (then the run quiesces).
    let last_invoke = duration.as_nanos() + recovery.as_nanos() / 2;
    if let Some(index) = workload
        .script
        .iter()
        .position(|(at, _, _)| at.as_nanos() >= last_invoke)
    {
        return Err(invalid(
            format!("workload.script[{index}].at"),
            format!(
                "{} is too late: clients invoke before {} (duration + half the recovery)",
                workload.script[index].0,
                Duration(last_invoke)
            ),
        ));
    }

    let faults = match file.faults {
        None => FaultSpec::None,
        Some(FaultsFile::Random {
            every,
            kinds,
            swarm,
            crash_points,
        }) => {
            for (index, kind) in kinds.iter().flatten().enumerate() {
                let variant = match kind {
                    FaultKindFile::AddShard => "AddShard",
                    FaultKindFile::RemoveShard => "RemoveShard",
                    _ => continue,
                };
                membership_applies(&protocol, None).map_err(|message| {
                    invalid(format!("faults.Random.kinds[{index}].{variant}"), message)
                })?;
            }
            let mut random = validate_random(every, kinds, swarm, node_count)?;
            random.crash_points = crash_points
                .map(|file| validate_crash_points(file, protocol.protocol.crash_points()))
                .transpose()?;
            FaultSpec::Random(random)
        }
        Some(FaultsFile::Script(steps)) => FaultSpec::Script({
            for (index, step) in steps.iter().enumerate() {
                let (variant, client, field) = match &step.action {
                    ActionFile::DropMessage(from, to, kind, _)
                    | ActionFile::DuplicateMessage(from, to, kind, _)
                    | ActionFile::DelayMessage(from, to, kind, _, _) => {
                        let variant = match &step.action {
                            ActionFile::DropMessage(..) => "DropMessage",
                            ActionFile::DuplicateMessage(..) => "DuplicateMessage",
                            _ => "DelayMessage",
                        };
                        match kind.as_str() {
                            sim_core::faults::CLIENT_REQUEST => (variant, *from, "from"),
                            sim_core::faults::CLIENT_REPLY => (variant, *to, "to"),
                            _ => continue,
                        }
                    }
                    _ => continue,
                };
                if client >= clients.count {
                    return Err(invalid(
                        format!("faults.Script[{index}].do.{variant}.{field}"),
                        format!(
                            "client {client} does not exist: expected 0 to {} (`clients.count` is {})",
                            clients.count.saturating_sub(1),
                            clients.count
                        ),
                    ));
                }
            }
            for (index, step) in steps.iter().enumerate() {
                let (variant, member) = match step.action {
                    ActionFile::AddShard(member) => ("AddShard", member),
                    ActionFile::RemoveShard(member) => ("RemoveShard", member),
                    _ => continue,
                };
                membership_applies(&protocol, member).map_err(|message| {
                    invalid(format!("faults.Script[{index}].do.{variant}"), message)
                })?;
            }
            validate_script(
                &steps,
                node_count,
                Duration(end),
                protocol.protocol.crash_points(),
            )?
        }),
    };

    let mut bugs = BugSet::NONE;
    for (index, BugName(bug)) in file.bugs.unwrap_or_default().into_iter().enumerate() {
        let path = format!("bugs[{index}]");
        bug_applies(bug, &protocol, &app).map_err(|message| invalid(path.clone(), message))?;
        if bugs.contains(bug) {
            return Err(invalid(path, format!("bug \"{bug}\" is listed twice")));
        }
        bugs.insert(bug);
    }

    let limits = validate_limits(file.limits.unwrap_or_default())?;
    let expect = file.expect.map(|expect| match expect {
        ExpectFile::Pass => Expectation::Pass,
        ExpectFile::Violation => Expectation::Violation,
        ExpectFile::LivenessFailure => Expectation::LivenessFailure,
    });

    Ok(Scenario {
        name,
        protocol,
        app,
        node_count,
        clients,
        workload,
        network,
        clock_offset_max,
        disk,
        faults,
        duration,
        recovery,
        bugs,
        limits,
        expect,
        swarm: file.swarm.unwrap_or(false),
        source: None,
    })
}

/// The protocols (by name) whose capabilities cover `needs`.
pub fn protocols_with(needs: registry::Capabilities) -> Vec<&'static str> {
    registry::PROTOCOLS
        .iter()
        .filter(|protocol| protocol.capabilities().covers(needs))
        .map(|protocol| protocol.name())
        .collect()
}

/// The bugs that can be switched on in a scenario of `protocol` running `app`: the protocol's
/// own, and the application's whose requirements the protocol covers.
pub fn applicable_bugs(protocol: &ProtocolSpec, app: &AppSpec) -> Vec<Bug> {
    let capabilities = protocol.protocol.capabilities();
    let mut bugs: Vec<Bug> = protocol.protocol.bugs().to_vec();
    bugs.extend(
        app.app
            .bugs()
            .iter()
            .copied()
            .filter(|bug| capabilities.covers(bug.requires())),
    );
    bugs
}

/// Checks that `bug` can be switched on in a scenario of `protocol` running `app`: a protocol's
/// bug needs that protocol, an application's bug needs that application on a protocol with the
/// capabilities the bug requires.
///
/// # Errors
/// A message naming the bug's owner and the bugs that do apply.
pub fn bug_applies(bug: Bug, protocol: &ProtocolSpec, app: &AppSpec) -> Result<(), String> {
    let applicable = applicable_bugs(protocol, app);
    if applicable.contains(&bug) {
        return Ok(());
    }
    let own = if applicable.is_empty() {
        format!(
            "{} with the {} application has no switchable bugs",
            protocol.name(),
            app.name()
        )
    } else {
        let names: Vec<String> = applicable.iter().map(|bug| format!("\"{bug}\"")).collect();
        format!(
            "the bugs of {} with the {} application are {}",
            protocol.name(),
            app.name(),
            names.join(", ")
        )
    };
    let owner = registry::bug_by_name(bug.name()).map_or("?", |(_, owner)| owner);
    let why = if app.app.bugs().contains(&bug) {
        format!(
            "bug \"{bug}\" of the {} application is implemented by the protocols with {} ({}), not by {}",
            app.name(),
            bug.requires(),
            protocols_with(bug.requires()).join(", "),
            protocol.name()
        )
    } else {
        format!(
            "bug \"{bug}\" belongs to {owner}, but this scenario runs the {} application on {}",
            app.name(),
            protocol.name()
        )
    };
    Err(format!("{why} ({own})"))
}

/// Checks `min <= max` for a `(min, max)` pair and returns it.
pub(super) fn range(
    path: &str,
    pair: Option<(DurationText, DurationText)>,
    default: (Duration, Duration),
) -> Result<(Duration, Duration), Invalid> {
    let (min, max) = pair.map_or(default, |(min, max)| (min.0, max.0));
    if min > max {
        return Err(invalid(path, format!("min {min} is above max {max}")));
    }
    Ok((min, max))
}

pub(super) fn positive(path: &str, value: Duration) -> Result<Duration, Invalid> {
    if value == Duration::ZERO {
        return Err(invalid(path, "0s: expected a positive duration"));
    }
    Ok(value)
}

/// Stage two of an entry's parameters: defaults, the shared rules of every list, then the
/// entry's own `validate`; errors located at `{section}.{variant}.{param}`. Afterwards every
/// parameter has a value.
pub(super) fn resolve_params(
    section: &str,
    variant: &str,
    mut params: Params,
    validate: impl FnOnce(&mut Params) -> Result<(), ParamError>,
) -> Result<Params, Invalid> {
    let located = |error: ParamError| {
        invalid(
            format!("{section}.{variant}.{}", error.param),
            error.message,
        )
    };
    params.fill_defaults();
    check_kinds(&params).map_err(located)?;
    validate(&mut params).map_err(located)?;
    let unset: Vec<&str> = params.unset().collect();
    assert!(
        unset.is_empty(),
        "{variant}'s validate left {unset:?} without a value"
    );
    Ok(params)
}

/// `random_faults`: the scenario's faults are generated (Raft's BUGGIFY defaults on then).
pub(super) fn validate_protocol(
    protocol: ProtocolFile,
    random_faults: bool,
) -> Result<ProtocolSpec, Invalid> {
    let Chosen { entry, params } = protocol;
    let params = resolve_params("protocol", Entry::variant(entry), params, |params| {
        entry.validate(params, &ScenarioContext { random_faults })
    })?;
    Ok(ProtocolSpec {
        protocol: entry,
        params,
    })
}

pub(super) fn validate_app(app: AppFile) -> Result<AppSpec, Invalid> {
    let Chosen { entry, params } = app;
    let params = resolve_params("app", Entry::variant(entry), params, |params| {
        entry.validate(params)
    })?;
    Ok(AppSpec { app: entry, params })
}

pub(super) fn validate_clients(clients: ClientsFile) -> Result<ClientSpec, Invalid> {
    let count = clients.count.unwrap_or(4);
    if count == 0 || count > MAX_CLIENTS {
        return Err(invalid(
            "clients.count",
            format!("{count} clients: expected 1 to {MAX_CLIENTS}"),
        ));
    }
    let (think_min, think_max) = range(
        "clients.think",
        clients.think,
        (Duration::ZERO, Duration::from_millis(10)),
    )?;
    let timeout = positive(
        "clients.timeout",
        clients
            .timeout
            .map_or(Duration::from_secs(1), |text| text.0),
    )?;
    let retry_after = positive(
        "clients.retry_after",
        clients
            .retry_after
            .map_or(Duration::from_millis(250), |text| text.0),
    )?;
    let redirect_backoff = clients
        .redirect_backoff
        .map_or(Duration::from_millis(10), |text| text.0);
    Ok(ClientSpec {
        count,
        think_min,
        think_max,
        timeout,
        retry_after,
        redirect_backoff,
    })
}

pub(super) fn function_of(kind: OpKindFile) -> Function {
    match kind {
        OpKindFile::Read => Function::Read,
        OpKindFile::Write => Function::Write,
        OpKindFile::Cas => Function::Cas,
        OpKindFile::Add => Function::Add,
        OpKindFile::Acquire => Function::Acquire,
        OpKindFile::Release => Function::Release,
    }
}

pub(super) fn op_kind_file(function: Function) -> OpKindFile {
    match function {
        Function::Read => OpKindFile::Read,
        Function::Write => OpKindFile::Write,
        Function::Cas => OpKindFile::Cas,
        Function::Add => OpKindFile::Add,
        Function::Acquire => OpKindFile::Acquire,
        Function::Release => OpKindFile::Release,
        // Transactions, appends and transfers are not workload kinds yet; validation never
        // produces one.
        Function::Txn | Function::Append | Function::Transfer => OpKindFile::Read,
    }
}

pub(super) fn function_name(function: Function) -> &'static str {
    match function {
        Function::Read => "Read",
        Function::Write => "Write",
        Function::Cas => "Cas",
        Function::Add => "Add",
        Function::Acquire => "Acquire",
        Function::Release => "Release",
        Function::Txn => "Txn",
        Function::Append => "Append",
        Function::Transfer => "Transfer",
    }
}

pub(super) fn validate_workload(
    workload: WorkloadFile,
    app: &AppSpec,
    client_count: u32,
) -> Result<WorkloadSpec, Invalid> {
    if let Some(script) = workload.script {
        if workload.mix.is_some() {
            return Err(invalid(
                "workload.script",
                "a workload is a mix or a script, not both: leave `mix` out",
            ));
        }
        return Ok(WorkloadSpec {
            mix: app.default_mix(),
            script: validate_scripted_ops(script, app, client_count)?,
        });
    }
    let Some(entries) = workload.mix else {
        return Ok(WorkloadSpec {
            mix: app.default_mix(),
            script: Vec::new(),
        });
    };
    if !app.app.takes_mix() {
        // A lock client follows a protocol (acquire, write with the token while the lease
        // lasts, release), not a random mix; a mix here would be silently ignored.
        return Err(invalid(
            "workload.mix",
            format!(
                "the {} application's workload is fixed ({}): leave `workload` out",
                app.name(),
                app.app.identity().summary
            ),
        ));
    }
    if entries.is_empty() {
        return Err(invalid(
            "workload.mix",
            "the mix is empty: expected at least one operation",
        ));
    }
    let mut mix: Vec<WeightedOp> = Vec::with_capacity(entries.len());
    for (index, (kind, weight)) in entries.into_iter().enumerate() {
        let function = function_of(kind);
        let path = format!("workload.mix[{index}]");
        served_by(function, app, &path)?;
        if mix.iter().any(|op| op.function == function) {
            return Err(invalid(
                path,
                format!("{} appears twice in the mix", function_name(function)),
            ));
        }
        if weight == 0 {
            return Err(invalid(
                path,
                format!(
                    "{} has weight 0: leave it out instead",
                    function_name(function)
                ),
            ));
        }
        mix.push(WeightedOp {
            function,
            weight: u64::from(weight),
        });
    }
    Ok(WorkloadSpec {
        mix,
        script: Vec::new(),
    })
}

/// `function` is an operation of `app`, or the error at `path` lists the ones that are.
pub(super) fn served_by(function: Function, app: &AppSpec, path: &str) -> Result<(), Invalid> {
    if app.functions().contains(&function) {
        return Ok(());
    }
    let served: Vec<&str> = app.functions().iter().map(|&f| function_name(f)).collect();
    Err(invalid(
        path,
        format!(
            "{} is not an operation of the {} application: expected one of {}",
            function_name(function),
            app.name(),
            quoted_list(&served)
        ),
    ))
}

/// Scripted operations: each client in range, each function served by the application, and
/// exactly the arguments its function takes.
pub(super) fn validate_scripted_ops(
    script: Vec<ScriptedOpFile>,
    app: &AppSpec,
    client_count: u32,
) -> Result<Vec<(Duration, u32, Operation)>, Invalid> {
    if script.is_empty() {
        return Err(invalid(
            "workload.script",
            "the script is empty: expected at least one operation",
        ));
    }
    let mut ops = Vec::with_capacity(script.len());
    for (index, op) in script.into_iter().enumerate() {
        let path = format!("workload.script[{index}]");
        let function = function_of(op.op);
        served_by(function, app, &format!("{path}.op"))?;
        if op.client >= client_count {
            return Err(invalid(
                format!("{path}.client"),
                format!(
                    "client {} does not exist: expected 0 to {} (`clients.count` is {client_count})",
                    op.client,
                    client_count.saturating_sub(1)
                ),
            ));
        }
        // Which arguments each function takes: (value, from and to).
        let (wants_value, wants_pair) = match function {
            Function::Write | Function::Add | Function::Release => (true, false),
            Function::Cas => (false, true),
            _ => (false, false),
        };
        let name = function_name(function);
        if op.token.is_some() && function != Function::Write {
            return Err(invalid(
                format!("{path}.token"),
                format!("{name} takes no `token` (only a lock's Write carries one)"),
            ));
        }
        let value = match (wants_value, wants_pair, op.value, op.from, op.to) {
            (true, _, Some(value), None, None) => match op.token {
                Some(token) => Value::pair(token, value),
                None => Value::Int(value),
            },
            (_, true, None, Some(from), Some(to)) => {
                Value::List(vec![Value::Int(from), Value::Int(to)])
            }
            (false, false, None, None, None) => Value::Null,
            (true, _, _, _, _) => {
                return Err(invalid(
                    path,
                    format!("{name} takes `value` (and no `from`/`to`)"),
                ))
            }
            (_, true, _, _, _) => {
                return Err(invalid(
                    path,
                    format!("{name} takes `from` and `to` (and no `value`)"),
                ))
            }
            _ => {
                return Err(invalid(
                    path,
                    format!("{name} takes no `value`, `from` or `to`"),
                ))
            }
        };
        ops.push((
            op.at.0,
            op.client,
            Operation {
                f: function,
                key: op.key,
                value,
            },
        ));
    }
    Ok(ops)
}

pub(super) fn validate_network(network: NetworkFile) -> Result<NetworkSpec, Invalid> {
    let (latency_min, latency_max) = range(
        "network.latency",
        network.latency,
        (Duration::from_millis(1), Duration::from_millis(10)),
    )?;
    Ok(NetworkSpec {
        latency_min,
        latency_max,
        loss: network.loss.map_or(Ratio::ZERO, |text| text.0),
        duplicate: network.duplicate.map_or(Ratio::ZERO, |text| text.0),
        reorder: network.reorder.map_or(Ratio::ZERO, |text| text.0),
    })
}

pub(super) fn validate_disk(disk: DiskFile) -> Result<DiskConfig, Invalid> {
    let latency = |path: &str, pair| -> Result<(Duration, Duration), Invalid> {
        let (min, max) = range(path, pair, (Duration::ZERO, Duration::ZERO))?;
        if max > DISK_LATENCY_MAX {
            return Err(invalid(
                path,
                format!("max {max} is above the limit of {DISK_LATENCY_MAX}"),
            ));
        }
        Ok((min, max))
    };
    let (write_latency_min, write_latency_max) = latency("disk.write_latency", disk.write_latency)?;
    let (sync_latency_min, sync_latency_max) = latency("disk.sync_latency", disk.sync_latency)?;
    Ok(DiskConfig {
        write_latency_min,
        write_latency_max,
        sync_latency_min,
        sync_latency_max,
    })
}

pub(super) fn node(path: &str, number: u32, node_count: u32) -> Result<NodeId, Invalid> {
    if number >= node_count {
        return Err(invalid(
            path,
            format!(
                "node {number} does not exist in a {node_count}-node cluster (nodes are 0 to {})",
                node_count - 1
            ),
        ));
    }
    Ok(NodeId(number))
}

pub(super) fn validate_shape(
    path: &str,
    shape: &ShapeFile,
    node_count: u32,
) -> Result<PartitionShape, Invalid> {
    Ok(match shape {
        ShapeFile::Halves => PartitionShape::Halves,
        ShapeFile::MajoritiesRing => PartitionShape::MajoritiesRing,
        ShapeFile::Bridge => PartitionShape::Bridge,
        ShapeFile::IsolateOne => PartitionShape::IsolateOne,
        ShapeFile::OneWay => PartitionShape::OneWay,
        ShapeFile::Groups(groups) => {
            let mut seen = vec![false; node_count as usize];
            let mut resolved = Vec::with_capacity(groups.len());
            for (group_index, group) in groups.iter().enumerate() {
                let group_path = format!("{path}.Groups[{group_index}]");
                if group.is_empty() {
                    return Err(invalid(group_path, "the group is empty"));
                }
                let mut members = Vec::with_capacity(group.len());
                for (member_index, &number) in group.iter().enumerate() {
                    let id = node(&format!("{group_path}[{member_index}]"), number, node_count)?;
                    if std::mem::replace(&mut seen[id.index()], true) {
                        return Err(invalid(
                            format!("{group_path}[{member_index}]"),
                            format!(
                                "node {number} is in more than one group (groups must be disjoint)"
                            ),
                        ));
                    }
                    members.push(id);
                }
                resolved.push(members);
            }
            PartitionShape::Groups(resolved)
        }
        ShapeFile::Cuts(cuts) => {
            let mut resolved = Vec::with_capacity(cuts.len());
            for (index, &(from, to)) in cuts.iter().enumerate() {
                let cut_path = format!("{path}.Cuts[{index}]");
                let from_id = node(&format!("{cut_path}.from"), from, node_count)?;
                let to_id = node(&format!("{cut_path}.to"), to, node_count)?;
                if from == to {
                    return Err(invalid(
                        cut_path,
                        format!("a cut from node {from} to itself"),
                    ));
                }
                resolved.push((from_id, to_id));
            }
            PartitionShape::Cuts(resolved)
        }
    })
}

/// Does the scenario's protocol take a membership change (naming `member`, if it does)?
fn membership_applies(protocol: &ProtocolSpec, member: Option<u32>) -> Result<(), String> {
    let Some(members) = protocol.protocol.members(&protocol.params) else {
        let takers: Vec<&str> = registry::PROTOCOLS
            .iter()
            .filter(|other| other.members(&Params::defaults(other.params())).is_some())
            .map(|other| other.name())
            .collect();
        return Err(format!(
            "{} has no members to add or remove: membership changes run on {} only",
            protocol.name(),
            takers.join(", ")
        ));
    };
    match member {
        Some(member) if member >= members => Err(format!(
            "shard {member} does not exist: expected 0 to {} (shards_max {members}), or None for the protocol's choice",
            members - 1
        )),
        _ => Ok(()),
    }
}

pub(super) fn validate_random(
    every: Option<(DurationText, DurationText)>,
    kinds: Option<Vec<FaultKindFile>>,
    swarm: Option<bool>,
    node_count: u32,
) -> Result<RandomFaults, Invalid> {
    let (every_min, every_max) = range(
        "faults.Random.every",
        every,
        (Duration::from_millis(500), Duration::from_secs(2)),
    )?;
    positive("faults.Random.every", every_min)?;
    let kinds = kinds.unwrap_or_else(|| {
        vec![
            FaultKindFile::Partition(ShapeFile::Halves),
            FaultKindFile::Partition(ShapeFile::MajoritiesRing),
            FaultKindFile::Crash,
            FaultKindFile::Pause(DurationText(Duration::from_millis(300))),
        ]
    });
    if kinds.is_empty() {
        return Err(invalid(
            "faults.Random.kinds",
            "no fault kinds: list at least one, or leave `faults` out for a fault-free run",
        ));
    }
    let mut resolved = Vec::with_capacity(kinds.len());
    for (index, kind) in kinds.iter().enumerate() {
        let path = format!("faults.Random.kinds[{index}]");
        // A partition or a clogged link needs two nodes to come between; the generator is not
        // asked to do the impossible.
        if node_count < 2 && matches!(kind, FaultKindFile::Partition(_) | FaultKindFile::Clog) {
            return Err(invalid(
                path,
                "partitions and clogged links need at least 2 nodes; this cluster has 1",
            ));
        }
        resolved.push(match kind {
            FaultKindFile::Partition(shape) => FaultKind::Partition(validate_shape(
                &format!("{path}.Partition"),
                shape,
                node_count,
            )?),
            FaultKindFile::Crash => FaultKind::Crash,
            FaultKindFile::LoseUnsynced => FaultKind::LoseUnsynced,
            FaultKindFile::Pause(max) => {
                FaultKind::Pause(positive(&format!("{path}.Pause"), max.0)?)
            }
            FaultKindFile::ClockSkew(max) => {
                FaultKind::ClockSkew(positive(&format!("{path}.ClockSkew"), max.0)?)
            }
            FaultKindFile::ClockDrift(ppm) => {
                if *ppm == 0 || *ppm > MAX_DRIFT_PPM {
                    return Err(invalid(
                        format!("{path}.ClockDrift"),
                        format!("{ppm} ppm: expected 1 to {MAX_DRIFT_PPM}"),
                    ));
                }
                FaultKind::ClockDrift(*ppm)
            }
            FaultKindFile::Clog => FaultKind::Clog,
            FaultKindFile::LossBurst(ratio) => {
                if ratio.0 == Ratio::ZERO {
                    return Err(invalid(
                        format!("{path}.LossBurst"),
                        "a loss burst of 0%: expected a positive ratio",
                    ));
                }
                FaultKind::LossBurst(ratio.0)
            }
            FaultKindFile::AddShard => FaultKind::AddMember,
            FaultKindFile::RemoveShard => FaultKind::RemoveMember,
        });
    }
    Ok(RandomFaults {
        every_min,
        every_max,
        kinds: resolved,
        swarm: swarm.unwrap_or(false),
        crash_points: None,
    })
}

/// A crash point's name, checked against the protocol's declared ones.
pub(super) fn crash_point_name(
    path: &str,
    name: &str,
    declared: &[&str],
) -> Result<String, Invalid> {
    if declared.contains(&name) {
        return Ok(name.to_string());
    }
    let expected = if declared.is_empty() {
        "this protocol declares no crash points".to_string()
    } else {
        format!("expected one of {}", quoted_list(declared))
    };
    Err(invalid(
        path,
        format!("unknown crash point \"{name}\": {expected}"),
    ))
}

pub(super) fn validate_crash_points(
    file: CrashPointsFile,
    declared: &[&str],
) -> Result<CrashPoints, Invalid> {
    let base = "faults.Random.crash_points";
    let chance = file.chance.map_or(Ratio::from_percent(1), |ratio| ratio.0);
    if chance == Ratio::ZERO {
        return Err(invalid(
            format!("{base}.chance"),
            "a chance of 0%: expected a positive ratio, or leave `crash_points` out",
        ));
    }
    if declared.is_empty() {
        return Err(invalid(base, "this protocol declares no crash points"));
    }
    let (restart_after_min, restart_after_max) = range(
        &format!("{base}.restart_after"),
        file.restart_after,
        (Duration::from_millis(1), Duration::from_millis(100)),
    )?;
    let mut only = Vec::new();
    for (index, name) in file.only.unwrap_or_default().iter().enumerate() {
        let name = crash_point_name(&format!("{base}.only[{index}]"), name, declared)?;
        if only.contains(&name) {
            return Err(invalid(
                format!("{base}.only[{index}]"),
                format!("crash point \"{name}\" is listed twice"),
            ));
        }
        only.push(name);
    }
    Ok(CrashPoints {
        chance,
        power_loss: file
            .power_loss
            .map_or(Ratio::from_percent(50), |ratio| ratio.0),
        restart_after_min,
        restart_after_max,
        only,
    })
}

pub(super) fn crash_points_file(points: &CrashPoints) -> CrashPointsFile {
    CrashPointsFile {
        chance: Some(RatioText(points.chance)),
        power_loss: Some(RatioText(points.power_loss)),
        restart_after: Some((
            DurationText(points.restart_after_min),
            DurationText(points.restart_after_max),
        )),
        only: (!points.only.is_empty()).then(|| points.only.clone()),
    }
}

pub(super) fn validate_script(
    steps: &[TimedActionFile],
    node_count: u32,
    end: Duration,
    crash_points: &[&str],
) -> Result<FaultPlan, Invalid> {
    let mut faults = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let base = format!("faults.Script[{index}]");
        if step.at.0 > end {
            return Err(invalid(
                format!("{base}.at"),
                format!(
                    "{} is after the end of the run ({end}, duration + recovery)",
                    step.at.0
                ),
            ));
        }
        let path = |variant: &str, field: &str| format!("{base}.do.{variant}.{field}");
        let action = match &step.action {
            ActionFile::Partition(shape) => FaultAction::Partition(validate_shape(
                &format!("{base}.do.Partition"),
                shape,
                node_count,
            )?),
            ActionFile::Heal => FaultAction::Heal,
            ActionFile::Crash(n) => FaultAction::Crash {
                node: node(&path("Crash", "node"), *n, node_count)?,
                lose_unsynced: false,
            },
            ActionFile::LoseUnsynced(n) => FaultAction::Crash {
                node: node(&path("LoseUnsynced", "node"), *n, node_count)?,
                lose_unsynced: true,
            },
            ActionFile::Restart(n) => FaultAction::Restart {
                node: node(&path("Restart", "node"), *n, node_count)?,
            },
            ActionFile::Pause(n) => FaultAction::Pause {
                node: node(&path("Pause", "node"), *n, node_count)?,
            },
            ActionFile::Resume(n) => FaultAction::Resume {
                node: node(&path("Resume", "node"), *n, node_count)?,
            },
            ActionFile::ClockStep(n, delta) => FaultAction::ClockStep {
                node: node(&path("ClockStep", "node"), *n, node_count)?,
                delta_nanos: delta.0,
            },
            ActionFile::ClockDrift(n, ppm) => {
                let node = node(&path("ClockDrift", "node"), *n, node_count)?;
                if ppm.unsigned_abs() > MAX_DRIFT_PPM {
                    return Err(invalid(
                        path("ClockDrift", "ppm"),
                        format!("{ppm} ppm: expected -{MAX_DRIFT_PPM} to {MAX_DRIFT_PPM}"),
                    ));
                }
                FaultAction::ClockDrift {
                    node,
                    drift_ppm: *ppm,
                }
            }
            ActionFile::Clog(from, to) | ActionFile::Unclog(from, to) => {
                let variant = if matches!(step.action, ActionFile::Clog(..)) {
                    "Clog"
                } else {
                    "Unclog"
                };
                let from_id = node(&path(variant, "from"), *from, node_count)?;
                let to_id = node(&path(variant, "to"), *to, node_count)?;
                if from == to {
                    return Err(invalid(
                        format!("{base}.do.{variant}"),
                        format!("a link from node {from} to itself"),
                    ));
                }
                if variant == "Clog" {
                    FaultAction::Clog {
                        from: from_id,
                        to: to_id,
                    }
                } else {
                    FaultAction::Unclog {
                        from: from_id,
                        to: to_id,
                    }
                }
            }
            ActionFile::SetLoss(ratio) => FaultAction::SetLoss {
                loss: Some(ratio.0),
            },
            ActionFile::ResetLoss => FaultAction::SetLoss { loss: None },
            ActionFile::CrashAt(n, point, nth) | ActionFile::PowerLossAt(n, point, nth) => {
                let lose_unsynced = matches!(step.action, ActionFile::PowerLossAt(..));
                let variant = if lose_unsynced {
                    "PowerLossAt"
                } else {
                    "CrashAt"
                };
                let node = node(&path(variant, "node"), *n, node_count)?;
                let point = crash_point_name(&path(variant, "point"), point, crash_points)?;
                if *nth == 0 {
                    return Err(invalid(
                        path(variant, "nth"),
                        "passage 0: passages count from 1 (the next one)",
                    ));
                }
                FaultAction::CrashAt {
                    node,
                    point,
                    nth: *nth,
                    lose_unsynced,
                }
            }
            ActionFile::AddShard(member) => FaultAction::Membership(Membership::Add(*member)),
            ActionFile::RemoveShard(member) => FaultAction::Membership(Membership::Remove(*member)),
            ActionFile::DropMessage(from, to, kind, nth)
            | ActionFile::DuplicateMessage(from, to, kind, nth)
            | ActionFile::DelayMessage(from, to, kind, nth, _) => {
                let (variant, fate) = match &step.action {
                    ActionFile::DropMessage(..) => ("DropMessage", MessageFate::Drop),
                    ActionFile::DuplicateMessage(..) => {
                        ("DuplicateMessage", MessageFate::Duplicate)
                    }
                    ActionFile::DelayMessage(.., delay) => {
                        ("DelayMessage", MessageFate::Delay(delay.0))
                    }
                    _ => unreachable!("matched above"),
                };
                // A client's request names the client, a reply to a client the client; the
                // kernel counts no client beyond `clients.count` (checked with the clients).
                let from = if kind == sim_core::faults::CLIENT_REQUEST {
                    NodeId(*from)
                } else {
                    node(&path(variant, "from"), *from, node_count)?
                };
                let to = if kind == sim_core::faults::CLIENT_REPLY {
                    NodeId(*to)
                } else {
                    node(&path(variant, "to"), *to, node_count)?
                };
                let named = kind.starts_with(|c: char| c.is_ascii_alphabetic())
                    && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !named {
                    return Err(invalid(
                        path(variant, "kind"),
                        format!(
                            "{kind:?}: expected a message kind as the protocol prints it (\"AppendEntries\", \"Promise\")"
                        ),
                    ));
                }
                if *nth == 0 {
                    return Err(invalid(
                        path(variant, "nth"),
                        "message 0: messages count from 1 (the first one sent)",
                    ));
                }
                FaultAction::Pin {
                    message: MessageRef {
                        from,
                        to,
                        kind: kind.clone(),
                        nth: *nth,
                    },
                    fate,
                }
            }
        };
        faults.push(TimedFault {
            at: Instant(step.at.0.as_nanos()),
            action,
        });
    }
    // Stable: actions at the same instant keep the order the file gives them.
    faults.sort_by_key(|fault| fault.at);
    Ok(FaultPlan { faults })
}

pub(super) fn validate_limits(limits: LimitsFile) -> Result<Limits, Invalid> {
    let defaults = Limits::default();
    let check = |field: &str, value: Option<u64>, default: u64| -> Result<u64, Invalid> {
        match value {
            Some(0) => Err(invalid(
                format!("limits.{field}"),
                "0: expected a positive limit",
            )),
            Some(value) => Ok(value),
            None => Ok(default),
        }
    };
    Ok(Limits {
        max_events: check("max_events", limits.max_events, defaults.max_events)?,
        max_in_flight_messages: check(
            "max_in_flight_messages",
            limits.max_in_flight_messages,
            defaults.max_in_flight_messages,
        )?,
        max_history_events: check(
            "max_history_events",
            limits.max_history_events,
            defaults.max_history_events,
        )?,
        max_memory_mib: check(
            "max_memory_mib",
            limits.max_memory_mib,
            defaults.max_memory_mib,
        )?,
    })
}

pub(super) fn scripted_op_file(at: Duration, client: u32, operation: &Operation) -> ScriptedOpFile {
    let int = |value: Option<&Value>| value.and_then(Value::as_int);
    let (value, from, to, token) = match (&operation.value, operation.f) {
        // The lock service's write: (fencing token, payload).
        (Value::List(pair), Function::Write) => (int(pair.get(1)), None, None, int(pair.first())),
        (Value::List(pair), _) => (None, int(pair.first()), int(pair.get(1)), None),
        (other, _) => (other.as_int(), None, None, None),
    };
    ScriptedOpFile {
        at: DurationText(at),
        client,
        op: op_kind_file(operation.f),
        key: operation.key,
        value,
        from,
        to,
        token,
    }
}

pub(super) fn shape_file(shape: &PartitionShape) -> ShapeFile {
    match shape {
        PartitionShape::Halves => ShapeFile::Halves,
        PartitionShape::MajoritiesRing => ShapeFile::MajoritiesRing,
        PartitionShape::Bridge => ShapeFile::Bridge,
        PartitionShape::IsolateOne => ShapeFile::IsolateOne,
        PartitionShape::OneWay => ShapeFile::OneWay,
        PartitionShape::Groups(groups) => ShapeFile::Groups(
            groups
                .iter()
                .map(|group| group.iter().map(|id| id.0).collect())
                .collect(),
        ),
        PartitionShape::Cuts(cuts) => {
            ShapeFile::Cuts(cuts.iter().map(|(from, to)| (from.0, to.0)).collect())
        }
    }
}

pub(super) fn fault_kind_file(kind: &FaultKind) -> FaultKindFile {
    match kind {
        FaultKind::Partition(shape) => FaultKindFile::Partition(shape_file(shape)),
        FaultKind::Crash => FaultKindFile::Crash,
        FaultKind::LoseUnsynced => FaultKindFile::LoseUnsynced,
        FaultKind::Pause(max) => FaultKindFile::Pause(DurationText(*max)),
        FaultKind::ClockSkew(max) => FaultKindFile::ClockSkew(DurationText(*max)),
        FaultKind::ClockDrift(ppm) => FaultKindFile::ClockDrift(*ppm),
        FaultKind::Clog => FaultKindFile::Clog,
        FaultKind::LossBurst(ratio) => FaultKindFile::LossBurst(RatioText(*ratio)),
        FaultKind::AddMember => FaultKindFile::AddShard,
        FaultKind::RemoveMember => FaultKindFile::RemoveShard,
    }
}

pub(super) fn timed_fault_file(fault: &TimedFault) -> TimedActionFile {
    let action = match &fault.action {
        FaultAction::Partition(shape) => ActionFile::Partition(shape_file(shape)),
        FaultAction::Heal => ActionFile::Heal,
        FaultAction::Crash {
            node,
            lose_unsynced: false,
        } => ActionFile::Crash(node.0),
        FaultAction::Crash {
            node,
            lose_unsynced: true,
        } => ActionFile::LoseUnsynced(node.0),
        FaultAction::Restart { node } => ActionFile::Restart(node.0),
        FaultAction::Pause { node } => ActionFile::Pause(node.0),
        FaultAction::Resume { node } => ActionFile::Resume(node.0),
        FaultAction::ClockStep { node, delta_nanos } => {
            ActionFile::ClockStep(node.0, SignedDurationText(*delta_nanos))
        }
        FaultAction::ClockDrift { node, drift_ppm } => ActionFile::ClockDrift(node.0, *drift_ppm),
        FaultAction::Clog { from, to } => ActionFile::Clog(from.0, to.0),
        FaultAction::Unclog { from, to } => ActionFile::Unclog(from.0, to.0),
        FaultAction::SetLoss { loss: Some(loss) } => ActionFile::SetLoss(RatioText(*loss)),
        FaultAction::SetLoss { loss: None } => ActionFile::ResetLoss,
        FaultAction::CrashAt {
            node,
            point,
            nth,
            lose_unsynced: false,
        } => ActionFile::CrashAt(node.0, point.clone(), *nth),
        FaultAction::CrashAt {
            node,
            point,
            nth,
            lose_unsynced: true,
        } => ActionFile::PowerLossAt(node.0, point.clone(), *nth),
        FaultAction::Membership(Membership::Add(member)) => ActionFile::AddShard(*member),
        FaultAction::Membership(Membership::Remove(member)) => ActionFile::RemoveShard(*member),
        FaultAction::Pin { message, fate } => {
            let MessageRef {
                from,
                to,
                kind,
                nth,
            } = message;
            match fate {
                MessageFate::Drop => ActionFile::DropMessage(from.0, to.0, kind.clone(), *nth),
                MessageFate::Duplicate => {
                    ActionFile::DuplicateMessage(from.0, to.0, kind.clone(), *nth)
                }
                MessageFate::Delay(delay) => {
                    ActionFile::DelayMessage(from.0, to.0, kind.clone(), *nth, DurationText(*delay))
                }
            }
        }
    };
    TimedActionFile {
        at: DurationText(Duration(fault.at.as_nanos())),
        action,
    }
}
