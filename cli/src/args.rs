//! The command line's grammar (clap, derive): global options saying where the functions are and
//! how to print, and one subcommand per thing a person does with flows. Parsing only: nothing
//! here calls anything.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Submit, follow, inspect and terminate emr-flows flows without writing JSON.
///
/// Where the functions are: `--api URL` (the stack's HTTP API, SigV4-signed), `--stack NAME`
/// (direct invoke, function names from the stack's outputs) or `--local` (`make up`'s stack);
/// without one, `EMR_FLOWS_API`, `EMR_FLOWS_STACK`, then `EMR_FLOWS_LAMBDA_URL` (exported by
/// `.local/env`) are looked at, else the stack `emr-flows`.
#[derive(Debug, Parser)]
#[command(name = "emr-flows", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The exit statuses, also in `--help` (see the README's "Command line").
pub const EXIT_CODES: &str = "\
Exit status:
  0  done; with --wait or watch: the flow SUCCEEDED
  1  the flow FAILED
  2  usage: a bad option or argument, a parameter or override that cannot be read
  3  the flow was CANCELLED
  4  the flow TIMED_OUT
  5  refused: the functions answered a caller's error (ValidationError, UnknownFlowDefinition,
     FlowNotFound, Conflict, PayloadTooLarge)
  6  no answer: the functions or AWS could not be reached or failed (credentials, a stack
     without the outputs, UpstreamError, InternalError, DefinitionError, HTTP errors)
  130  interrupted (Ctrl-C) while following a flow; the flow goes on";

#[derive(Debug, Args)]
pub struct Global {
    /// Print the functions' JSON answers (one document on stdout) instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Invoke the functions of this CloudFormation stack directly (their names from its outputs).
    #[arg(long, global = true, value_name = "NAME", conflicts_with_all = ["api", "local"])]
    pub stack: Option<String>,

    /// Call the stack's HTTP API at this base URL (its output `ApiEndpoint`), signed with SigV4.
    #[arg(long, global = true, value_name = "URL", conflicts_with = "local")]
    pub api: Option<String>,

    /// The local stack of `make up` (`EMR_FLOWS_LAMBDA_URL`, else 127.0.0.1:9050).
    #[arg(long, global = true)]
    pub local: bool,

    /// The AWS region (else as the AWS CLI finds it: AWS_REGION, the profile, …).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// The AWS profile to take credentials and region from (else AWS_PROFILE, `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a flow: `submit spark-pi -p partitions=100 --wait`.
    Submit(Submit),
    /// Follow a flow until it ends (exit status by its outcome).
    Watch {
        /// The flow's id (a ULID, as submit answered it).
        flow_id: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// List active flows, or one definition's history: newest first.
    Ls(Ls),
    /// One flow in full: steps, failure and probable cause, termination, deliveries, cost.
    Show {
        /// The flow's id.
        flow_id: String,
    },
    /// Stop a flow's run: its cluster, its steps on a shared cluster, or its job run (the flow
    /// ends CANCELLED once the service reports it stopped).
    Terminate {
        /// The flow's id.
        flow_id: String,
        /// Why, kept on the flow record (at most 1 KiB).
        #[arg(long)]
        reason: Option<String>,
        /// Then follow the flow until it ends.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        follow: Follow,
    },
    /// The flow definitions; with a NAME, its parameters (types, defaults) and overridable paths.
    Definitions {
        /// One definition's name.
        name: Option<String>,
    },
    /// The signature schemes callbacks carry and the public keys that verify `v1a`.
    SigningKeys,
}

#[derive(Debug, Args)]
pub struct Submit {
    /// The flow definition's name (`emr-flows definitions` lists them).
    pub flow: String,

    /// A parameter, typed by the definition's schema (`partitions=100` is the integer 100);
    /// repeat for more. Wins over --params-file.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    /// Parameters from a JSON object in a file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,

    /// Override a path the definition lists as overridable (a JSON Pointer), the value typed by
    /// its schema: `--override /Instances/InstanceGroups/1/InstanceCount=4`. Repeatable.
    #[arg(long = "override", value_name = "POINTER=VALUE")]
    pub overrides: Vec<String>,

    /// Call back when the flow ends: an https:// URL (a signed POST) or a Lambda function's
    /// name or ARN. Repeatable.
    #[arg(long = "callback", value_name = "URL|FUNCTION")]
    pub callbacks: Vec<String>,

    /// The idempotency key (1 to 255 printable ASCII characters): the same key and request
    /// within 24 hours answer the same flow. Without one, a fresh key is sent, so the command
    /// line's own retries never launch twice.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,

    /// Lower the definition's max_runtime for this flow (`90m`, `2h`, `1h 30m`).
    #[arg(long, value_name = "DURATION")]
    pub max_runtime: Option<String>,

    /// Check everything and show the request the service would receive (RunJobFlow,
    /// AddJobFlowSteps, StartJobRun); launch nothing.
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,

    /// Follow the flow until it ends; the exit status tells its outcome.
    #[arg(long)]
    pub wait: bool,

    #[command(flatten)]
    pub follow: Follow,
}

#[derive(Debug, Args)]
pub struct Follow {
    /// While following: the first wait between two reads of the flow; it grows by half each
    /// read that sees no change, up to 30 s, and starts over at a change.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    pub interval: Duration,
}

#[derive(Debug, Args)]
pub struct Ls {
    /// Active flows (PENDING, STARTING, RUNNING): the default.
    #[arg(long, conflicts_with = "flow")]
    pub active: bool,

    /// One definition's history instead.
    #[arg(long, value_name = "NAME")]
    pub flow: Option<String>,

    /// At most this many flows (1 to 100).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,

    /// The next page, as the last page's hint gave it.
    #[arg(long, value_name = "TOKEN")]
    pub next_token: Option<String>,
}

/// A humantime duration (`2s`, `500ms`, `1m 30s`), at least 10 ms.
fn duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(10) {
        return Err("is shorter than 10ms".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn submit_takes_repeated_params_and_overrides() {
        let cli = Cli::try_parse_from([
            "emr-flows",
            "--local",
            "submit",
            "spark-pi",
            "-p",
            "partitions=100",
            "-p",
            "x=y",
            "--override",
            "/A/0=1",
            "--wait",
            "--interval",
            "200ms",
        ])
        .unwrap();
        let Command::Submit(submit) = cli.command else {
            panic!("not submit")
        };
        assert_eq!(submit.params, ["partitions=100", "x=y"]);
        assert_eq!(submit.overrides, ["/A/0=1"]);
        assert!(submit.wait);
        assert_eq!(submit.follow.interval, Duration::from_millis(200));
    }

    #[test]
    fn one_target_at_a_time_and_no_dry_run_with_wait() {
        for bad in [
            &["emr-flows", "--stack", "s", "--api", "https://x", "ls"][..],
            &["emr-flows", "--local", "--api", "https://x", "ls"],
            &["emr-flows", "submit", "f", "--dry-run", "--wait"],
            &["emr-flows", "ls", "--active", "--flow", "f"],
            &["emr-flows", "ls", "--limit", "101"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
