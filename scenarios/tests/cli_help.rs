//! The help texts advertise what is built: `faultline --help` lists commands that run (each
//! answers its own `--help`, and the README's command table names it), and `check --help`
//! lists every model of the checker's plug-in list.

// Not every shared scenario constant is used here.
#[allow(dead_code)]
mod support;

use sim_core::check::Model;
use support::faultline;

/// The command names of a help text's `Commands:` section.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_advertised_command_is_built_and_documented() {
    let (code, help, _) = faultline(&["--help"]);
    assert_eq!(code, 0);
    let names = commands(&help);
    assert!(names.len() >= 10, "{help}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for name in &names {
        let (code, sub_help, stderr) = faultline(&[name, "--help"]);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(
            !sub_help.to_lowercase().contains("not implemented")
                && !sub_help.to_lowercase().contains("not built"),
            "{name}: {sub_help}"
        );
        assert!(
            readme.contains(&format!("| `faultline {name} ")),
            "the README's command table lacks `faultline {name}`"
        );
        // Nested commands (`bench kernel`, `report merge`) too.
        for inner in commands(&sub_help) {
            let (code, _, stderr) = faultline(&[name, &inner, "--help"]);
            assert_eq!(code, 0, "{name} {inner}: {stderr}");
            assert!(
                readme.contains(&format!("`faultline {name} {inner}")),
                "the README lacks `faultline {name} {inner}`"
            );
        }
    }
}

#[test]
fn check_help_lists_every_model_plug_in() {
    let (code, help, _) = faultline(&["check", "--help"]);
    assert_eq!(code, 0);
    let values = help
        .split("[possible values: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no possible values in {help}"));
    let listed: Vec<&str> = values.split(", ").collect();
    let models: Vec<&str> = Model::ALL.iter().map(|model| model.name()).collect();
    assert_eq!(listed, models);
    // An unknown model is a usage error naming the choices.
    let (code, _, stderr) = faultline(&["check", "history.jsonl", "--model", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("lease-lock"), "{stderr}");
}
