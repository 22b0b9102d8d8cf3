//! The binary's own words, with nothing to talk to: help, version, usage errors (exit 2) and
//! functions that cannot be reached (exit 6, `--json` error document). The commands against
//! the functions are tested end to end in `tests/tests/cli.rs` (the e2e package), which runs
//! this same binary: having an integration test here makes `cargo test --workspace` build it.

use std::process::{Command, Output};

fn emr_flows(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emr-flows"))
        .args(args)
        .env_remove("NO_COLOR")
        .env("EMR_FLOWS_LAMBDA_URL", "http://127.0.0.1:1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_command_and_the_exit_statuses() {
    let output = emr_flows(&["--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for word in [
        "submit",
        "watch",
        "ls",
        "show",
        "terminate",
        "definitions",
        "signing-keys",
        "--json",
        "--stack",
        "--api",
        "--local",
        "--region",
        "--profile",
        "Exit status:",
        "4  the flow TIMED_OUT",
    ] {
        assert!(help.contains(word), "{word} not in\n{help}");
    }
    assert!(!help.contains('\u{1b}'), "no colour off a terminal");
    let version = emr_flows(&["--version"]);
    assert_eq!(
        text(&version.stdout).trim(),
        concat!("emr-flows ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_before_anything_is_called() {
    for args in [
        &[][..],
        &["submit"],
        &["submit", "spark-pi", "--dry-run", "--wait"],
        &["--local", "submit", "spark-pi", "-p", "partitions"],
        &["--local", "submit", "spark-pi", "--override", "Instances/0=1"],
        // An index past any list: refused, never a list of a hundred billion elements built.
        &[
            "--local",
            "submit",
            "spark-pi",
            "--override",
            "/Instances/InstanceGroups/99999999999/InstanceType=m5.xlarge",
        ],
        &["--local", "--api", "https://x.example", "ls"],
        &["ls", "--limit", "101"],
        &["watch", "01J", "--interval", "fast"],
    ] {
        let output = emr_flows(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn functions_out_of_reach_exit_6_with_an_error_document() {
    let output = emr_flows(&["--json", "--local", "show", "01JDQ3V4X8M6Z0B1C2D3E4F5G6"]);
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["error"]["code"], "NoAnswer", "{document}");
    assert!(
        text(&output.stderr).starts_with("error: invoking list: "),
        "{}",
        text(&output.stderr)
    );
}
