//! `emr-flows`, the command line: submit, follow, inspect and terminate flows without writing
//! JSON. It speaks only the functions' documented JSON (README, "Calling it"), by direct invoke
//! or through the HTTP API, never the `shared` library.
//!
//! # Layout
//! - `args`: the grammar (clap) and the exit statuses' table;
//! - `target`: where the functions are and how a call reaches them (`lambda`: direct invoke of
//!   a stack's or `make up`'s functions; `api`: the HTTP API, SigV4-signed);
//! - `request`: submit's request from `-p`, `--params-file`, `--override`, `--callback`, typed
//!   by the definition's schemas;
//! - `follow`: `--wait` and `watch` (reads, changes, progress, outcome);
//! - `view`: the text a person reads (tables, the record, the catalog);
//! - `time`: record timestamps and short durations;
//! - `error`: failures and their exit statuses.

mod args;
mod error;
mod follow;
mod request;
mod target;
mod time;
mod view;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;
use console::style;
use serde_json::Value;

use crate::args::{Cli, Command, Ls, Submit};
use crate::error::{Failure, exit};
use crate::follow::Show;
use crate::target::{Call, Functions};

/// Prints a line on stdout. A reader that went away (`emr-flows show X | head -2`) ends the
/// program quietly, as the coreutils do, rather than with a panic.
pub(crate) fn print_line(text: impl std::fmt::Display) {
    use std::io::Write as _;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{text}")
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colours only on a terminal, and never with NO_COLOR set (https://no-color.org/).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    console::set_colors_enabled(!no_color && std::io::stdout().is_terminal());
    console::set_colors_enabled_stderr(!no_color && std::io::stderr().is_terminal());
    let json = cli.global.json;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if json {
                print_line(failure.to_document());
            }
            eprintln!("{} {failure}", style("error:").for_stderr().red().bold());
            ExitCode::from(failure.exit_code())
        }
    }
}

/// How this run prints.
struct Out {
    json: bool,
    /// The terminal's width, when standard output is one (tables fit it).
    width: Option<u16>,
    follow: Show,
}

impl Out {
    fn new(json: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let follow = if json {
            Show::Quiet
        } else if terminal && std::io::stderr().is_terminal() {
            Show::Bar
        } else {
            Show::Lines
        };
        let width = terminal
            .then(|| console::Term::stdout().size_checked().map(|(_, w)| w))
            .flatten();
        Self { json, width, follow }
    }

    /// Prints `answer` as JSON with `--json`, else `text` of it.
    fn print(&self, answer: &Value, text: impl FnOnce(&Value) -> String) {
        if self.json {
            print_line(serde_json::to_string_pretty(answer).expect("a JSON value serializes"));
        } else {
            print_line(text(answer));
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let out = Out::new(cli.global.json);
    if let Command::Submit(submit) = &cli.command {
        // The words first (`-p`, `--override`, the params file): a usage error calls nothing.
        let params_file = submit.params_file.as_deref().map(read_params).transpose()?;
        let idempotency_key = (submit.idempotency_key.clone()).or_else(|| (!submit.dry_run).then(fresh_key));
        let asked = request::Asked {
            flow: &submit.flow,
            params_file,
            params: &submit.params,
            overrides: &submit.overrides,
            callbacks: &submit.callbacks,
            idempotency_key,
            max_runtime: submit.max_runtime.as_deref(),
            dry_run: submit.dry_run,
        };
        request::submit_request(&asked, None)?;
        let functions = Functions::connect(&cli.global).await?;
        return submit_flow(&functions, submit, &asked, &out).await;
    }
    let functions = Functions::connect(&cli.global).await?;
    let now = SystemTime::now();
    match cli.command {
        Command::Submit(_) => unreachable!("submit is answered above"),
        Command::Watch { flow_id, follow } => watch(&functions, &flow_id, follow.interval, &out).await,
        Command::Ls(ls) => {
            let (call, next) = list_call(&ls);
            let page = functions.call(&call).await?;
            out.print(&page, |p| view::flows_page(p, now, out.width, &next));
            Ok(exit::OK)
        }
        Command::Show { flow_id } => {
            let record = functions.call(&Call::Flow(flow_id)).await?;
            out.print(&record, |r| view::flow(r, now, out.width));
            Ok(exit::OK)
        }
        Command::Terminate {
            flow_id,
            reason,
            wait,
            follow,
        } => {
            let call = Call::Terminate {
                flow_id: flow_id.clone(),
                reason,
            };
            let answer = functions.call(&call).await?;
            if !wait {
                out.print(&answer, view::terminated);
                return Ok(exit::OK);
            }
            if !out.json {
                print_line(view::terminated(&answer));
            }
            watch(&functions, &flow_id, follow.interval, &out).await
        }
        Command::Definitions { name } => {
            let catalog = functions.call(&Call::Definitions).await?;
            match name {
                None => out.print(&catalog, |c| view::definitions(c, out.width)),
                Some(name) => {
                    let definition =
                        find_definition(&catalog, &name).ok_or_else(|| unknown(&catalog, &name))?;
                    out.print(definition, |d| view::definition(d, out.width));
                }
            }
            Ok(exit::OK)
        }
        Command::SigningKeys => {
            let answer = functions.call(&Call::SigningKeys).await?;
            out.print(&answer, view::signing_keys);
            Ok(exit::OK)
        }
    }
}

/// `ls`'s call, and the command that asks for the next page.
fn list_call(ls: &Ls) -> (Call, String) {
    let next_token = ls.next_token.clone();
    match &ls.flow {
        Some(flow) => (
            Call::History {
                flow: flow.clone(),
                limit: ls.limit,
                next_token,
            },
            format!("emr-flows ls --flow {flow} --limit {}", ls.limit),
        ),
        None => (
            Call::Active {
                limit: ls.limit,
                next_token,
            },
            format!("emr-flows ls --active --limit {}", ls.limit),
        ),
    }
}

fn find_definition<'c>(catalog: &'c Value, name: &str) -> Option<&'c Value> {
    (catalog["definitions"].as_array().into_iter().flatten()).find(|d| d["name"] == name)
}

/// A name the catalog does not know, with the names it does.
fn unknown(catalog: &Value, name: &str) -> Failure {
    let names: Vec<&str> = (catalog["definitions"].as_array().into_iter().flatten())
        .filter_map(|d| d["name"].as_str())
        .collect();
    Failure::Product {
        code: "UnknownFlowDefinition".into(),
        message: format!(
            "no flow definition `{name}`; the catalog has: {}",
            names.join(", ")
        ),
        details: None,
    }
}

async fn submit_flow(
    functions: &Functions,
    submit: &Submit,
    asked: &request::Asked<'_>,
    out: &Out,
) -> Result<u8, Failure> {
    // Typing needs the definition's schemas: one list call, only when there is something to type.
    let catalog = if submit.params.is_empty() && submit.overrides.is_empty() {
        None
    } else {
        Some(functions.call(&Call::Definitions).await?)
    };
    let definition = catalog.as_ref().and_then(|c| find_definition(c, &submit.flow));
    let request = request::submit_request(asked, definition)?;
    let answer = functions.call(&Call::Submit(request)).await?;
    if submit.dry_run {
        out.print(&answer, view::dry_run);
        return Ok(exit::OK);
    }
    if !submit.wait {
        out.print(&answer, |a| view::submitted(a, &submit.flow, true));
        return Ok(exit::OK);
    }
    if !out.json {
        print_line(view::submitted(&answer, &submit.flow, false));
    }
    let flow_id = answer["flow_id"]
        .as_str()
        .ok_or_else(|| Failure::NoAnswer(format!("submit answered no flow_id: {answer}")))?;
    watch(functions, flow_id, submit.follow.interval, out).await
}

/// Follows `flow_id` to its end; prints its outcome (or record, with `--json`) and answers the
/// exit status its status maps to.
async fn watch(
    functions: &Functions,
    flow_id: &str,
    interval: std::time::Duration,
    out: &Out,
) -> Result<u8, Failure> {
    let record = follow::follow(functions, flow_id, interval, out.follow).await?;
    out.print(&record, follow::outcome);
    Ok(follow::exit_code(&record))
}

/// The params file: a JSON object (`-`: standard input).
fn read_params(path: &std::path::Path) -> Result<Value, Failure> {
    let shown = path.display();
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Usage(format!("--params-file -: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("--params-file {shown}: {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("--params-file {shown}: not JSON: {e}")))
}

/// An idempotency key of this run's own, so that a retried submit (the SDK's, after a lost
/// answer) answers the same flow instead of launching a second cluster.
fn fresh_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    // RandomState is seeded from the OS's randomness: two hashers, 128 random bits.
    let half = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("emr-flows-cli-{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_keys_differ_and_fit_the_products_limits() {
        let (a, b) = (fresh_key(), fresh_key());
        assert_ne!(a, b);
        assert!(a.len() <= 255 && a.bytes().all(|c| c.is_ascii_graphic()), "{a}");
    }
}
