//! The text a person reads: the functions' answers (as `serde_json::Value`, shapes from the
//! README's request and answer tables) laid out as tables and short lines. Colour comes from
//! `console`, which the command line turns off unless standard output is a terminal and
//! `NO_COLOR` is unset; tables (comfy-table) are never coloured, so they line up in any pager.

use std::fmt::Write;
use std::time::SystemTime;

use comfy_table::{Table, presets};
use console::style;
use serde_json::Value;

use crate::time::{between, parse, short, when};

/// The statuses in which a flow has ended.
pub const TERMINAL: [&str; 4] = ["SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"];

/// How many of the probable cause's last lines an outcome shows.
pub const CAUSE_LINES: usize = 12;

/// A flow or step status, coloured by what it means.
pub fn status(text: &str) -> String {
    let styled = style(text);
    match text {
        "SUCCEEDED" | "COMPLETED" | "DELIVERED" => styled.green().bold(),
        "FAILED" | "INTERRUPTED" => styled.red().bold(),
        "CANCELLED" | "TIMED_OUT" | "CANCEL_PENDING" => styled.yellow().bold(),
        "RUNNING" | "STARTING" => styled.cyan(),
        _ => styled.dim(),
    }
    .to_string()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

/// A table without borders, as `kubectl` and `docker` print them.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>, width: Option<u16>) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(headers.to_vec());
    for row in rows {
        table.add_row(row);
    }
    if let Some(width) = width {
        table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
        table.set_width(width);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let rendered = table.to_string();
    rendered.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

/// The flow's run time: to `ended_at` (or, for a summary, its last update once it ended),
/// else to `now`.
fn took(flow: &Value, now: SystemTime) -> Option<String> {
    let submitted = parse(&flow["submitted_at"])?;
    let ended = TERMINAL.contains(&text(&flow["status"]));
    let end = if ended {
        parse(&flow["ended_at"]).or_else(|| parse(&flow["updated_at"]))?
    } else {
        now
    };
    Some(short(between(submitted, end)))
}

/// `ls`: a page of summaries as a table, and the next page's command when there is one.
pub fn flows_page(page: &Value, now: SystemTime, width: Option<u16>, next: &str) -> String {
    let flows = page["flows"].as_array().map(Vec::as_slice).unwrap_or_default();
    if flows.is_empty() {
        return "no flows".into();
    }
    let rows = flows
        .iter()
        .map(|f| {
            let age = parse(&f["submitted_at"]).map(|t| format!("{} ago", short(between(t, now))));
            vec![
                text(&f["flow_id"]).to_owned(),
                text(&f["flow"]).to_owned(),
                text(&f["status"]).to_owned(),
                run(f),
                age.unwrap_or_else(|| "-".into()),
                took(f, now).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = table(
        &["FLOW ID", "DEFINITION", "STATUS", "TARGET", "AGE", "DURATION"],
        rows,
        width,
    );
    if let Some(token) = page["next_token"].as_str() {
        let _ = write!(out, "\n\nmore: {next} --next-token {token}");
    }
    out
}

/// What a flow runs on and its run's id, as a summary or record names them (`cluster
/// j-2AXXXXXXGAPLF`, `eks_job_run 00000002vhh0p0q9jbl`; summaries from before targets existed
/// name no target: a cluster).
fn run(flow: &Value) -> String {
    let target = flow["target"].as_str().unwrap_or("cluster");
    match flow["cluster_id"].as_str().or(flow["job_run_id"].as_str()) {
        Some(id) => format!("{target} {id}"),
        None => target.to_owned(),
    }
}

/// A callback target as the record keeps it (masked by list): its URL or function.
fn target(callback: &Value) -> String {
    if let Some(url) = callback["http"]["url"].as_str() {
        return url.to_owned();
    }
    match &callback["lambda"] {
        Value::String(function) => format!("lambda {function}"),
        other => other.to_string(),
    }
}

/// `show`: the whole record.
pub fn flow(record: &Value, now: SystemTime, width: Option<u16>) -> String {
    let mut out = String::new();
    let status_text = text(&record["status"]);
    let _ = writeln!(
        out,
        "{} {} · {} v{}",
        style("flow").bold(),
        text(&record["flow_id"]),
        text(&record["flow"]),
        text(&record["definition_version"])
    );
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {}{value}", style(format!("{name:<16}")).dim());
    };
    // A job run (EMR Serverless' on an application, EMR on EKS' on a virtual cluster).
    let (run, host) = match &record["eks_job_run"] {
        eks if eks.is_object() => (
            eks,
            format!("virtual cluster {}", text(&eks["virtual_cluster_id"])),
        ),
        _ => (
            &record["job_run"],
            text(&record["job_run"]["application_id"]).to_owned(),
        ),
    };
    let cluster = match (record["cluster_id"].as_str(), record["cluster_state"].as_str()) {
        (Some(id), Some(state)) => format!(" (cluster {id} {state})"),
        (Some(id), None) => format!(" (cluster {id})"),
        // A job run: its id on its application or virtual cluster, its state and attempt.
        _ => match (run["job_run_id"].as_str(), run["state"].as_str()) {
            (Some(id), state) => format!(
                " (job run {id} on {host}{}{})",
                state.map(|s| format!(" {s}")).unwrap_or_default(),
                match run["attempt"].as_u64() {
                    Some(n) if n > 1 => format!(", attempt {n}"),
                    _ => String::new(),
                }
            ),
            (None, _) => String::new(),
        },
    };
    field("status", format!("{}{cluster}", status(status_text)));
    let submitted = parse(&record["submitted_at"]);
    let ago = submitted.map(|t| format!(" ({} ago)", short(between(t, now))));
    field(
        "submitted",
        format!("{}{}", when(&record["submitted_at"]), ago.unwrap_or_default()),
    );
    if record["ended_at"].is_string() {
        let took = took(record, now).map(|d| format!(", after {d}"));
        field(
            "ended",
            format!("{}{}", when(&record["ended_at"]), took.unwrap_or_default()),
        );
    } else if let Some(took) = took(record, now) {
        field("running for", took);
    }
    if record["deadline_at"].is_string() && !TERMINAL.contains(&status_text) {
        field("deadline", when(&record["deadline_at"]));
    }
    if let Some(last) = record["last_contact_at"].as_str() {
        field("EMR last said", when(&Value::from(last)));
    }
    field("params", record["params"].to_string());
    if let Some(artifacts) = record["artifacts"].as_object().filter(|a| !a.is_empty()) {
        let list: Vec<String> = artifacts
            .iter()
            .map(|(k, v)| format!("{k} = {}", text(v)))
            .collect();
        field("artifacts", list.join("\n                  "));
    }
    if let Some(hours) = record["normalized_instance_hours"].as_i64() {
        field("cost", format!("{hours} normalized instance hours"));
    }
    let billed = &run["billed"];
    if billed.is_object() {
        let figure = |name: &str| billed[name].as_f64().unwrap_or_default();
        field(
            "cost",
            format!(
                "{} vCPU-hours, {} memory GB-hours, {} storage GB-hours billed{}",
                figure("vCPUHour"),
                figure("memoryGBHour"),
                figure("storageGBHour"),
                if run["billed_final"] == true {
                    ""
                } else {
                    " so far"
                }
            ),
        );
    }
    if let Some(seconds) = run["duration_seconds"].as_u64() {
        // EMR on EKS gives no cost figure: the run's duration stands for it.
        field(
            "cost",
            format!("ran {seconds} s (EMR on EKS reports no cost figure)"),
        );
    }
    if let Some(steps) = record["step_seconds"].as_object().filter(|s| !s.is_empty()) {
        // A step flow's cost: its steps' run time (the shared cluster's hours are not its own).
        let seconds: u64 = steps.values().filter_map(Value::as_u64).sum();
        field(
            "cost",
            format!(
                "{seconds} s of step run time ({} step(s); the cluster is shared)",
                steps.len()
            ),
        );
    }
    if let Some(key) = record["idempotency_key"].as_str() {
        field("idempotency key", key.to_owned());
    }
    if let Some(error) = record["launch_error"].as_str() {
        field("launch error", error.to_owned());
    }
    for extra in record["extra_clusters"].as_array().into_iter().flatten() {
        let fate = match extra["terminated_at"].as_str() {
            Some(_) => format!("terminated {}", when(&extra["terminated_at"])),
            None => format!("not terminated yet: {}", text(&extra["last_error"])),
        };
        field(
            "extra cluster",
            format!("{} ({fate})", text(&extra["cluster_id"])),
        );
    }

    let steps = ordered_steps(record);
    if !steps.is_empty() {
        let _ = writeln!(out, "\n{}", style("steps").bold());
        let rows = steps
            .iter()
            .map(|(id, step)| {
                let at = match (submitted, parse(&step["updated_at"])) {
                    (Some(s), Some(u)) => format!("+{}", short(between(s, u))),
                    _ => "-".into(),
                };
                vec![
                    (step["index"].as_u64().unwrap_or_default() + 1).to_string(),
                    text(&step["name"]).to_owned(),
                    (*id).to_owned(),
                    text(&step["state"]).to_owned(),
                    format!("{} ({at})", when(&step["updated_at"])),
                ]
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            indent(&table(&["#", "STEP", "ID", "STATE", "LAST CHANGE"], rows, width))
        );
    }
    if record["failure"].is_object() {
        let _ = writeln!(out, "\n{}", style("failure").bold());
        let _ = writeln!(out, "{}", indent(&failure(&record["failure"], usize::MAX)));
    }
    if let Some(termination) = record["termination"].as_object() {
        let _ = writeln!(out, "\n{}", style("termination").bold());
        let mut line = format!(
            "  requested {} ({})",
            when(&termination["requested_at"]),
            text(&termination["kind"])
        );
        if let Some(reason) = termination.get("reason").and_then(Value::as_str) {
            let _ = write!(line, ": {reason}");
        }
        let _ = writeln!(out, "{line}");
        let attempts = termination.get("attempts").and_then(Value::as_u64).unwrap_or(0);
        // A step flow's termination cancels its steps (the shared cluster is never ended); a
        // job run's cancels the run.
        let Runs {
            service,
            cancel: call,
            ..
        } = runs(&record["target"]);
        let accepted = match termination.get("accepted_at").and_then(Value::as_str) {
            Some(at) => format!("accepted by {service} {}", when(&Value::from(at))),
            None => format!("not accepted by {service} yet"),
        };
        let _ = writeln!(out, "  {accepted}; {attempts} {call} call(s)");
        if let Some(answer) = termination.get("answer").and_then(Value::as_str) {
            let _ = writeln!(out, "  EMR answered: {answer}");
        }
        if let Some(error) = termination.get("last_error").and_then(Value::as_str) {
            let _ = writeln!(out, "  last error: {error}");
        }
    }
    let callbacks = record["callbacks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !callbacks.is_empty() {
        let _ = writeln!(out, "\n{}", style("callbacks").bold());
        for (index, callback) in callbacks.iter().enumerate() {
            let delivery = &record["deliveries"][index.to_string()];
            let state = if delivery.is_object() {
                let attempts = delivery["attempts"].as_u64().unwrap_or(0);
                let mut state = format!(
                    "{} of {}, {attempts} attempt(s)",
                    status(text(&delivery["status"])),
                    text(&delivery["outcome"])
                );
                if let Some(at) = delivery["delivered_at"].as_str() {
                    let _ = write!(state, ", delivered {}", when(&Value::from(at)));
                } else if let Some(next) = delivery["next_attempt_at"].as_str() {
                    let _ = write!(state, ", next attempt {}", when(&Value::from(next)));
                }
                state
            } else {
                "nothing to deliver yet".into()
            };
            let _ = writeln!(out, "  {index}  {}  {state}", target(callback));
            for attempt in delivery["history"].as_array().into_iter().flatten() {
                let result = match (attempt["http_status"].as_u64(), attempt["error"].as_str()) {
                    (Some(code), Some(error)) => format!("HTTP {code}: {error}"),
                    (Some(code), None) => format!("HTTP {code}"),
                    (None, Some(error)) => error.to_owned(),
                    (None, None) => "queued".into(),
                };
                let _ = writeln!(
                    out,
                    "       #{} {}  {result}",
                    attempt["attempt"].as_u64().unwrap_or(0),
                    when(&attempt["at"])
                );
            }
        }
    }
    if let Some(events) = record["flow_events"].as_object().filter(|e| !e.is_empty()) {
        let bus = record["event_bus"].as_str().unwrap_or("-");
        let _ = writeln!(out, "\n{} (EventBridge bus {bus})", style("flow events").bold());
        // In the order the flow reached them.
        let mut events: Vec<(&String, &Value)> = events.iter().collect();
        events.sort_by_key(|(_, e)| e["history"][0]["at"].as_str().map(str::to_owned));
        for (status, event) in events {
            let attempts = event["attempts"].as_u64().unwrap_or(0);
            let mut line = format!("  {status:<10} {}, {attempts} attempt(s)", text(&event["status"]));
            if let Some(error) = event["last_error"].as_str() {
                let _ = write!(line, ", last error: {error}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out.trim_end().to_owned()
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The record's steps in job-flow order: `(id, step)`.
pub fn ordered_steps(record: &Value) -> Vec<(&str, &Value)> {
    let mut steps: Vec<(&str, &Value)> = (record["steps"].as_object().into_iter().flatten())
        .map(|(id, step)| (id.as_str(), step))
        .collect();
    steps.sort_by_key(|(_, step)| step["index"].as_u64().unwrap_or(u64::MAX));
    steps
}

/// A failure cause: code and message, the failed step with EMR's details, and the probable
/// cause's last `lines` lines.
pub fn failure(failure: &Value, lines: usize) -> String {
    let mut out = String::new();
    let code = failure["code"].as_str().unwrap_or("no code");
    match failure["message"].as_str() {
        Some(message) => {
            let _ = writeln!(out, "{}: {message}", style(code).red().bold());
        }
        None => {
            let _ = writeln!(out, "{}", style(code).red().bold());
        }
    }
    let step = &failure["failed_step"];
    if step.is_object() {
        let _ = writeln!(
            out,
            "step {} ({}) {}",
            text(&step["name"]),
            text(&step["id"]),
            text(&step["state"])
        );
        let details = &step["failure_details"];
        for (name, key) in [("reason", "reason"), ("message", "message"), ("log", "log_file")] {
            if let Some(value) = details[key].as_str() {
                let _ = writeln!(out, "  {name}: {value}");
            }
        }
        match step["probable_cause"].as_str() {
            Some(cause) => {
                let all: Vec<&str> = cause.trim_end().lines().collect();
                let shown = &all[all.len().saturating_sub(lines)..];
                let what = if shown.len() < all.len() {
                    format!("last {} lines", shown.len())
                } else {
                    "the end".into()
                };
                let _ = writeln!(out, "probable cause ({what} of the step's stderr):");
                for line in shown {
                    let _ = writeln!(out, "  {} {line}", style("|").dim());
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "{}",
                    style(
                        "no step log yet: EMR pushes it within minutes; `emr-flows show` shows it once read"
                    )
                    .dim()
                );
            }
        }
    }
    // A job run's probable cause: the end of its driver's stderr, or why there is none.
    if let Some(cause) = failure["probable_cause"].as_str() {
        let all: Vec<&str> = cause.trim_end().lines().collect();
        let shown = &all[all.len().saturating_sub(lines)..];
        let _ = writeln!(
            out,
            "probable cause (last {} lines of the driver's stderr, {}):",
            shown.len(),
            text(&failure["log_location"])
        );
        for line in shown {
            let _ = writeln!(out, "  {} {line}", style("|").dim());
        }
    } else if let Some(location) = failure["log_location"].as_str() {
        let _ = writeln!(out, "{}", style(format!("driver log: {location}")).dim());
    }
    out.trim_end().to_owned()
}

/// `definitions`: the catalog as a table.
pub fn definitions(catalog: &Value, width: Option<u16>) -> String {
    let rows = (catalog["definitions"].as_array().into_iter().flatten())
        .map(|d| {
            let parameters: Vec<&str> = (d["parameters"]["properties"].as_object().into_iter().flatten())
                .map(|(name, _)| name.as_str())
                .collect();
            vec![
                text(&d["name"]).to_owned(),
                text(&d["version"]).to_owned(),
                d["target"].as_str().unwrap_or("cluster").to_owned(),
                parameters.join(", "),
                d["max_runtime"].as_str().unwrap_or("-").to_owned(),
                text(&d["description"]).to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "VERSION",
            "TARGET",
            "PARAMETERS",
            "MAX RUNTIME",
            "DESCRIPTION",
        ],
        rows,
        width,
    )
}

/// `definitions NAME`: its parameters with types, defaults and constraints, and its
/// overridable paths with their schemas.
pub fn definition(definition: &Value, width: Option<u16>) -> String {
    let mut out = format!(
        "{} (version {})\n",
        style(text(&definition["name"])).bold(),
        text(&definition["version"])
    );
    if let Some(description) = definition["description"].as_str() {
        let _ = writeln!(out, "  {description}");
    }
    let _ = writeln!(
        out,
        "  runs on: {}; max runtime: {}",
        definition["target"].as_str().unwrap_or("cluster"),
        definition["max_runtime"].as_str().unwrap_or("none")
    );
    let parameters = &definition["parameters"];
    let required: Vec<&str> = (parameters["required"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let properties = parameters["properties"].as_object();
    let _ = writeln!(out, "\n{} (-p NAME=VALUE)", style("parameters").bold());
    match properties.filter(|p| !p.is_empty()) {
        None => {
            let _ = writeln!(out, "  none");
        }
        Some(properties) => {
            let rows = properties
                .iter()
                .map(|(name, schema)| {
                    let (kind, constraints) = describe(schema);
                    vec![
                        name.clone(),
                        kind,
                        schema.get("default").map_or_else(|| "-".into(), Value::to_string),
                        if required.contains(&name.as_str()) {
                            "yes"
                        } else {
                            "no"
                        }
                        .into(),
                        constraints,
                        schema["description"].as_str().unwrap_or_default().to_owned(),
                    ]
                })
                .collect();
            let headers = ["NAME", "TYPE", "DEFAULT", "REQUIRED", "ALLOWED", "DESCRIPTION"];
            let _ = writeln!(out, "{}", indent(&table(&headers, rows, width)));
        }
    }
    let _ = writeln!(out, "\n{} (--override PATH=VALUE)", style("overridable").bold());
    match definition["overridable"].as_object().filter(|o| !o.is_empty()) {
        None => {
            let _ = writeln!(out, "  none");
        }
        Some(paths) => {
            let rows = paths
                .iter()
                .map(|(path, schema)| {
                    let (kind, constraints) = describe(schema);
                    vec![path.clone(), kind, constraints]
                })
                .collect();
            let _ = writeln!(
                out,
                "{}",
                indent(&table(&["PATH", "TYPE", "ALLOWED"], rows, width))
            );
        }
    }
    out.trim_end().to_owned()
}

/// A JSON Schema in a few words: its type, and what it allows (range, length, pattern, enum).
pub fn describe(schema: &Value) -> (String, String) {
    let kind = match &schema["type"] {
        Value::String(kind) if kind == "array" => match schema["items"]["type"].as_str() {
            Some(item) => format!("array of {item}"),
            None => "array".into(),
        },
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds.iter().map(text).collect::<Vec<_>>().join(" | "),
        _ if schema["enum"].is_array() => "enum".into(),
        _ => "any".into(),
    };
    let mut allowed = Vec::new();
    let bound = |key: &str| schema.get(key).filter(|v| v.is_number()).map(Value::to_string);
    match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) => allowed.push(format!("{min} to {max}")),
        (Some(min), None) => allowed.push(format!(">= {min}")),
        (None, Some(max)) => allowed.push(format!("<= {max}")),
        (None, None) => {}
    }
    if let Some(min) = bound("exclusiveMinimum") {
        allowed.push(format!("> {min}"));
    }
    if let Some(max) = bound("exclusiveMaximum") {
        allowed.push(format!("< {max}"));
    }
    match (bound("minLength"), bound("maxLength")) {
        (Some(min), Some(max)) => allowed.push(format!("{min} to {max} characters")),
        (Some(min), None) => allowed.push(format!("at least {min} characters")),
        (None, Some(max)) => allowed.push(format!("at most {max} characters")),
        (None, None) => {}
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        allowed.push(format!("matching {pattern}"));
    }
    if let Some(format) = schema["format"].as_str() {
        allowed.push(format!("format {format}"));
    }
    if let Some(options) = schema["enum"].as_array() {
        let options: Vec<String> = options
            .iter()
            .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))
            .collect();
        allowed.push(format!("one of {}", options.join(", ")));
    }
    let allowed = if allowed.is_empty() {
        "-".into()
    } else {
        allowed.join("; ")
    };
    (kind, allowed)
}

/// `signing-keys`.
pub fn signing_keys(answer: &Value) -> String {
    let schemes: Vec<&str> = (answer["signatures"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let mut out = format!("signatures   {}\n", schemes.join(", "));
    let keys: Vec<&str> = (answer["public_keys"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    if keys.is_empty() {
        out.push_str("public keys  none (callbacks are not signed v1a)");
    } else {
        let _ = write!(out, "public keys  {}", keys.join("\n             "));
        out.push_str("\n             (newest first; receivers verify v1a with any of them)");
    }
    out
}

/// `submit`'s answer for a launch.
pub fn submitted(answer: &Value, flow: &str, hint: bool) -> String {
    let cluster = match (answer["cluster_id"].as_str(), answer["job_run_id"].as_str()) {
        (Some(id), _) => format!("cluster {id}"),
        (None, Some(run)) if answer["virtual_cluster_id"].is_string() => {
            format!(
                "job run {run} on virtual cluster {}",
                text(&answer["virtual_cluster_id"])
            )
        }
        (None, Some(run)) => format!("job run {run} on {}", text(&answer["application_id"])),
        (None, None) if answer["application_id"].is_string() || answer["virtual_cluster_id"].is_string() => {
            "no job run yet".into()
        }
        (None, None) => "no cluster yet".into(),
    };
    let id = text(&answer["flow_id"]);
    let mut out = format!(
        "submitted {flow}: flow {id} {} ({cluster})",
        status(text(&answer["status"]))
    );
    if hint {
        let _ = write!(out, "\nfollow it: emr-flows watch {id}");
    }
    out
}

/// `submit --dry-run`'s answer: what would be launched, and the request its service would receive.
pub fn dry_run(answer: &Value) -> String {
    let mut out = format!(
        "dry run of {} v{}: nothing launched\n  flow id would be  {}\n  params            {}\n  request digest    {}\n",
        text(&answer["flow"]),
        text(&answer["definition_version"]),
        text(&answer["flow_id"]),
        answer["params"],
        text(&answer["request_digest"]),
    );
    if let Some(artifacts) = answer["artifacts"].as_object().filter(|a| !a.is_empty()) {
        for (name, uri) in artifacts {
            let _ = writeln!(out, "  artifact {name:<9}{}", text(uri));
        }
    }
    let request = serde_json::to_string_pretty(&answer["request"]).unwrap_or_default();
    let Runs { service, launch, .. } = runs(&answer["target"]);
    let _ = write!(out, "\nthe {launch} request {service} would receive:\n{request}");
    out
}

/// What a target (`target` as an answer names it; none: a cluster) runs on, as the command line
/// tells it: the service, its launch and cancel calls, and what its run is called.
struct Runs {
    service: &'static str,
    launch: &'static str,
    cancel: &'static str,
    run: &'static str,
}

fn runs(target: &Value) -> Runs {
    match target.as_str() {
        Some("steps") => Runs {
            service: "EMR",
            launch: "AddJobFlowSteps",
            cancel: "CancelSteps",
            run: "cluster",
        },
        Some("serverless_job_run") => Runs {
            service: "EMR Serverless",
            launch: "StartJobRun",
            cancel: "CancelJobRun",
            run: "job run",
        },
        Some("eks_job_run") => Runs {
            service: "EMR on EKS",
            launch: "StartJobRun",
            cancel: "CancelJobRun",
            run: "job run",
        },
        _ => Runs {
            service: "EMR",
            launch: "RunJobFlow",
            cancel: "TerminateJobFlows",
            run: "cluster",
        },
    }
}

/// `terminate`'s answer.
pub fn terminated(answer: &Value) -> String {
    if answer["termination_requested_at"].is_null() && TERMINAL.contains(&text(&answer["status"])) {
        return format!(
            "nothing to terminate: flow {} had already ended {}",
            text(&answer["flow_id"]),
            status(text(&answer["status"]))
        );
    }
    let Runs { service, run, .. } = runs(&answer["target"]);
    let id = match run {
        "job run" => text(&answer["job_run_id"]),
        _ => text(&answer["cluster_id"]),
    };
    let accepted = match answer["termination_accepted_at"].as_str() {
        Some(at) => format!("{service} accepted it {}", when(&Value::from(at))),
        None => format!("{service} has not accepted it yet (the {run} is stopped as soon as it is known)"),
    };
    let mut line = format!(
        "termination requested for flow {} ({run} {id}, {}): {accepted}",
        text(&answer["flow_id"]),
        status(text(&answer["status"]))
    );
    // A step flow: CancelSteps' answer per step (SUBMITTED is not yet CANCELLED).
    if let Some(said) = answer["emr_answer"].as_str() {
        line.push_str(&format!("; EMR answered {said}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> SystemTime {
        parse(&json!(text)).unwrap()
    }

    #[test]
    fn terminating_an_ended_flow_says_nothing_was_asked() {
        console::set_colors_enabled(false);
        let answer = json!({"flow_id": "01JA", "cluster_id": "j-1", "status": "SUCCEEDED",
                            "termination_requested_at": null, "termination_accepted_at": null});
        assert_eq!(
            terminated(&answer),
            "nothing to terminate: flow 01JA had already ended SUCCEEDED"
        );
        let asked = json!({"flow_id": "01JA", "cluster_id": "j-1", "status": "RUNNING",
                           "termination_requested_at": "2026-11-29T10:08:00Z", "termination_accepted_at": null});
        assert!(
            terminated(&asked).starts_with("termination requested for flow 01JA"),
            "{}",
            terminated(&asked)
        );
    }

    #[test]
    fn ls_is_a_table_with_age_duration_and_the_next_page() {
        console::set_colors_enabled(false);
        let page = json!({"flows": [
            {"flow_id": "01JA", "flow": "spark-pi", "status": "RUNNING", "target": "cluster", "cluster_id": "j-1",
             "submitted_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:01:00Z"},
            {"flow_id": "01JB", "flow": "spark-pi", "status": "FAILED",
             "submitted_at": "2026-11-29T09:00:00Z", "updated_at": "2026-11-29T09:12:03Z"},
            {"flow_id": "01JC", "flow": "spark-pi-eks", "status": "RUNNING", "target": "eks_job_run",
             "job_run_id": "00000002vhh0p0q9jbl", "submitted_at": "2026-11-29T10:00:00Z",
             "updated_at": "2026-11-29T10:01:00Z"}
        ], "next_token": "01JB"});
        let text = flows_page(&page, at("2026-11-29T10:05:00Z"), None, "emr-flows ls --active");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["FLOW", "ID", "DEFINITION", "STATUS", "TARGET", "AGE", "DURATION"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["01JA", "spark-pi", "RUNNING", "cluster", "j-1", "5m", "ago", "5m"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            [
                "01JB", "spark-pi", "FAILED", "cluster", "1h", "5m", "ago", "12m", "3s"
            ]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            [
                "01JC",
                "spark-pi-eks",
                "RUNNING",
                "eks_job_run",
                "00000002vhh0p0q9jbl",
                "5m",
                "ago",
                "5m"
            ]
        );
        assert!(
            text.ends_with("more: emr-flows ls --active --next-token 01JB"),
            "{text}"
        );
        assert_eq!(
            flows_page(&json!({"flows": []}), SystemTime::now(), None, ""),
            "no flows"
        );
    }

    #[test]
    fn schemas_read_in_a_few_words() {
        assert_eq!(
            describe(&json!({"type": "integer", "minimum": 1, "maximum": 20})),
            ("integer".into(), "1 to 20".into())
        );
        assert_eq!(
            describe(&json!({"enum": ["m5.xlarge", "m5.2xlarge"]})),
            ("enum".into(), "one of m5.xlarge, m5.2xlarge".into())
        );
        assert_eq!(
            describe(&json!({"type": "string", "pattern": "^[0-9]+g$", "maxLength": 8})),
            ("string".into(), "at most 8 characters; matching ^[0-9]+g$".into())
        );
        assert_eq!(
            describe(&json!({"type": ["integer", "null"]})),
            ("integer | null".into(), "-".into())
        );
        assert_eq!(
            describe(&json!({"type": "array", "items": {"type": "string"}})),
            ("array of string".into(), "-".into())
        );
    }

    #[test]
    fn a_failure_shows_the_step_and_the_probable_causes_last_lines() {
        console::set_colors_enabled(false);
        let cause: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let text = failure(
            &json!({"code": "STEP_FAILURE", "message": "Shut down as step failed",
                    "failed_step": {"id": "s-1", "name": "SparkPi", "state": "FAILED",
                                    "failure_details": {"reason": "Unknown error", "log_file": "s3://l/stderr.gz"},
                                    "probable_cause": cause}}),
            3,
        );
        assert_eq!(
            text,
            "STEP_FAILURE: Shut down as step failed\nstep SparkPi (s-1) FAILED\n  reason: Unknown error\n  \
             log: s3://l/stderr.gz\nprobable cause (last 3 lines of the step's stderr):\n  | line 18\n  | line 19\n  | line 20"
        );
    }

    #[test]
    fn show_has_a_job_runs_ids_state_cost_and_probable_cause() {
        console::set_colors_enabled(false);
        let record = json!({
            "flow_id": "01JB", "flow": "spark-pi-serverless", "definition_version": "1", "status": "FAILED",
            "target": "serverless_job_run", "params": {}, "submitted_at": "2026-11-29T10:00:00Z",
            "updated_at": "2026-11-29T10:09:00Z", "ended_at": "2026-11-29T10:09:00Z",
            "job_run": {"application_id": "00f1982r1uukb925", "job_run_id": "00f1cbn5g4bb0c01", "name": "pi",
                        "state": "FAILED", "attempt": 2, "billed": {"vCPUHour": 0.106, "memoryGBHour": 0.531, "storageGBHour": 0.0},
                        "billed_final": true},
            "failure": {"code": "JOB_RUN_FAILED", "message": "ExitCode: 1", "probable_cause": "a\nb\nIOException\n",
                        "log_location": "s3://l/applications/00f1982r1uukb925/jobs/00f1cbn5g4bb0c01/attempts/2/SPARK_DRIVER/stderr.gz"}
        });
        let text = flow(&record, at("2026-11-29T11:00:00Z"), None);
        for expected in [
            "FAILED (job run 00f1cbn5g4bb0c01 on 00f1982r1uukb925 FAILED, attempt 2)",
            "0.106 vCPU-hours, 0.531 memory GB-hours, 0 storage GB-hours billed",
            "JOB_RUN_FAILED: ExitCode: 1",
            "probable cause (last 3 lines of the driver's stderr, s3://l/applications/",
            "| IOException",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
        let answer = json!({"flow_id": "01JB", "status": "STARTING", "cluster_id": null,
                            "application_id": "00f1982r1uukb925", "job_run_id": "00f1cbn5g4bb0c01"});
        assert!(
            submitted(&answer, "spark-pi-serverless", false)
                .contains("(job run 00f1cbn5g4bb0c01 on 00f1982r1uukb925)")
        );
    }

    #[test]
    fn show_has_an_eks_job_runs_virtual_cluster_state_and_duration() {
        console::set_colors_enabled(false);
        let record = json!({
            "flow_id": "01JC", "flow": "spark-pi-eks", "definition_version": "1", "status": "SUCCEEDED",
            "target": "eks_job_run", "params": {}, "submitted_at": "2026-11-29T10:00:00Z",
            "updated_at": "2026-11-29T10:09:00Z", "ended_at": "2026-11-29T10:09:00Z",
            "eks_job_run": {"virtual_cluster_id": "kfo3ayx4dkhpbo3bd5rd3a8mq", "job_run_id": "00000002vhh0p0q9jbl",
                            "name": "pi", "state": "COMPLETED", "attempt": 1,
                            "created_at": "2026-11-29T10:00:05Z", "finished_at": "2026-11-29T10:08:05Z",
                            "duration_seconds": 480}
        });
        let text = flow(&record, at("2026-11-29T11:00:00Z"), None);
        for expected in [
            "SUCCEEDED (job run 00000002vhh0p0q9jbl on virtual cluster kfo3ayx4dkhpbo3bd5rd3a8mq COMPLETED)",
            "ran 480 s (EMR on EKS reports no cost figure)",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
        let answer = json!({"flow_id": "01JC", "status": "STARTING", "cluster_id": null,
                            "virtual_cluster_id": "kfo3ayx4dkhpbo3bd5rd3a8mq", "job_run_id": "00000002vhh0p0q9jbl"});
        assert!(
            submitted(&answer, "spark-pi-eks", false)
                .contains("(job run 00000002vhh0p0q9jbl on virtual cluster kfo3ayx4dkhpbo3bd5rd3a8mq)")
        );
        let pending = json!({"flow_id": "01JC", "status": "PENDING", "virtual_cluster_id": "kfo3ayx4dkhpbo3bd5rd3a8mq"});
        assert!(submitted(&pending, "spark-pi-eks", false).contains("(no job run yet)"));
    }

    #[test]
    fn a_job_runs_termination_names_the_run_and_its_service() {
        console::set_colors_enabled(false);
        let answer = json!({"flow_id": "01JC", "target": "eks_job_run", "cluster_id": null,
                            "job_run_id": "00000002vhh0p0q9jbl", "status": "RUNNING",
                            "termination_requested_at": "2026-11-29T10:08:00Z",
                            "termination_accepted_at": null});
        let text = terminated(&answer);
        assert!(
            text.starts_with("termination requested for flow 01JC (job run 00000002vhh0p0q9jbl, RUNNING): EMR on EKS has not accepted it yet"),
            "{text}"
        );
        let dry = json!({"flow": "spark-pi-serverless", "target": "serverless_job_run", "request": {}});
        assert!(dry_run(&dry).contains("the StartJobRun request EMR Serverless would receive:"));
        let record = json!({"flow_id": "01JC", "flow": "spark-pi-eks", "definition_version": "1", "status": "RUNNING",
                            "target": "eks_job_run", "params": {}, "submitted_at": "2026-11-29T10:00:00Z",
                            "termination": {"requested_at": "2026-11-29T10:08:00Z", "attempts": 1,
                                            "accepted_at": "2026-11-29T10:08:01Z", "kind": "cancel"}});
        let shown = flow(&record, at("2026-11-29T11:00:00Z"), None);
        assert!(
            shown.contains("1 CancelJobRun call(s)") && shown.contains("accepted by EMR on EKS"),
            "{shown}"
        );
    }

    #[test]
    fn a_step_flows_termination_says_what_emr_answered() {
        console::set_colors_enabled(false);
        let answer = json!({"flow_id": "01JA", "cluster_id": "j-1", "status": "RUNNING",
                            "termination_accepted_at": "2026-11-29T10:08:01Z",
                            "emr_answer": "CancelSteps: s-2 SUBMITTED"});
        let text = terminated(&answer);
        assert!(
            text.ends_with("; EMR answered CancelSteps: s-2 SUBMITTED"),
            "{text}"
        );
        assert!(
            text.starts_with("termination requested for flow 01JA (cluster j-1, "),
            "{text}"
        );
    }

    #[test]
    fn show_has_steps_failure_termination_and_deliveries() {
        console::set_colors_enabled(false);
        let record = json!({
            "flow_id": "01JA", "flow": "spark-pi", "definition_version": "1", "status": "CANCELLED",
            "params": {"partitions": 100}, "cluster_id": "j-1", "cluster_state": "TERMINATED",
            "submitted_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:09:00Z",
            "ended_at": "2026-11-29T10:09:00Z", "normalized_instance_hours": 24,
            "steps": {"s-2": {"index": 1, "name": "Two", "state": "CANCELLED", "updated_at": "2026-11-29T10:09:00Z"},
                      "s-1": {"index": 0, "name": "One", "state": "COMPLETED", "updated_at": "2026-11-29T10:04:00Z"}},
            "termination": {"requested_at": "2026-11-29T10:08:00Z", "reason": "not needed", "kind": "CANCEL",
                            "attempts": 1, "accepted_at": "2026-11-29T10:08:01Z"},
            "callbacks": [{"http": {"url": "https://hooks.example.com/emr?***"}}],
            "deliveries": {"0": {"outcome": "CANCELLED", "status": "DELIVERED", "attempts": 2,
                                  "delivered_at": "2026-11-29T10:10:00Z",
                                  "history": [{"attempt": 1, "at": "2026-11-29T10:09:01Z", "http_status": 503, "error": "HTTP 503"},
                                              {"attempt": 2, "at": "2026-11-29T10:10:00Z", "http_status": 200}]}},
            "event_bus": "default",
            "flow_events": {
                "STARTING": {"outcome": "STARTING", "status": "DELIVERED", "attempts": 1,
                             "history": [{"attempt": 1, "at": "2026-11-29T10:00:01Z", "result": "DELIVERED"}]},
                "CANCELLED": {"outcome": "CANCELLED", "status": "PENDING", "attempts": 1,
                              "last_error": "PutEvents failed: throttled",
                              "history": [{"attempt": 1, "at": "2026-11-29T10:09:01Z", "result": "FAILED"}]}}
        });
        let text = flow(&record, at("2026-11-29T11:00:00Z"), None);
        for expected in [
            "CANCELLED (cluster j-1 TERMINATED)",
            "2026-11-29T10:09:00Z, after 9m",
            "24 normalized instance hours",
            "requested 2026-11-29T10:08:00Z (CANCEL): not needed",
            "accepted by EMR 2026-11-29T10:08:01Z; 1 TerminateJobFlows call(s)",
            "0  https://hooks.example.com/emr?***  DELIVERED of CANCELLED, 2 attempt(s), delivered 2026-11-29T10:10:00Z",
            "#1 2026-11-29T10:09:01Z  HTTP 503: HTTP 503",
            "#2 2026-11-29T10:10:00Z  HTTP 200",
            "flow events (EventBridge bus default)",
            "STARTING   DELIVERED, 1 attempt(s)",
            "CANCELLED  PENDING, 1 attempt(s), last error: PutEvents failed: throttled",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
        // A step flow: its steps' run time, and CancelSteps with what EMR answered.
        let mut steps = record.clone();
        steps["target"] = "steps".into();
        steps.as_object_mut().unwrap().remove("normalized_instance_hours");
        steps["step_seconds"] = json!({"s-1": 240, "s-2": 60});
        steps["termination"]["answer"] = "CancelSteps: s-2 SUBMITTED".into();
        let shown = flow(&steps, at("2026-11-29T11:00:00Z"), None);
        for expected in [
            "300 s of step run time (2 step(s); the cluster is shared)",
            "1 CancelSteps call(s)",
            "EMR answered: CancelSteps: s-2 SUBMITTED",
        ] {
            assert!(shown.contains(expected), "{expected:?} not in\n{shown}");
        }
        let one = text.find("One").unwrap();
        let two = text.find("Two").unwrap();
        assert!(one < two, "steps in job-flow order:\n{text}");
        assert!(text.contains("(+4m)"), "{text}");
        assert!(
            text.find("STARTING   ").unwrap() < text.find("CANCELLED  PENDING").unwrap(),
            "flow events in the order reached:\n{text}"
        );
    }
}
