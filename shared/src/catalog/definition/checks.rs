//! Checking a definition file, every problem at once, in phases: the format (the generated
//! JSON Schema), the name, the parameters, the templates, `max_runtime`, the overridable paths
//! and the examples (rendered as submit would render them). Each phase returns its problems;
//! [`check_source`] runs them and places each problem in the file.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::catalog::template::{self, Context, pointer_to_path};
use crate::catalog::{eks_job_run, job_flow, serverless_job_run};
use crate::error::{Error, Problem, did_you_mean};
use crate::model::{FlowId, Target};

use super::spec::{
    BUILTINS, Definition, DefinitionProblem, FlowDefinition, Overridable, empty_object_schema,
    parse_grace_period, parse_runtime,
};
use super::yaml::{Source, SyntaxError};

/// The generated JSON Schema of the definition file format (source: EMR's service model and the
/// step short forms; see `shared/schemas/generate.py`). Editors use it through the modeline
/// `# yaml-language-server: $schema=../schemas/flow-definition.schema.json`.
pub const FORMAT_SCHEMA: &str = include_str!("../../../schemas/flow-definition.schema.json");

struct Format {
    document: Value,
    validator: jsonschema::Validator,
}

static FORMAT: LazyLock<Format> = LazyLock::new(|| {
    let document: Value =
        serde_json::from_str(FORMAT_SCHEMA).expect("the embedded definition schema is JSON");
    let validator = jsonschema::validator_for(&document).expect("the embedded definition schema compiles");
    Format { document, validator }
});

/// A readable path for a JSON Pointer into a definition (`/steps/0/spark/conf` →
/// `steps[0].spark.conf`).
fn path_of(pointer: &str) -> String {
    let path = pointer_to_path("", pointer);
    path.strip_prefix('.').unwrap_or(&path).to_owned()
}

/// The JSON Pointer a readable path most likely came from (best effort: a key holding `.` or
/// `[` is split; [`Source::place`] then falls back to the nearest node written).
fn pointer_of(path: &str) -> String {
    let mut pointer = String::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            pointer.push('/');
            pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        }
        for index in pieces {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    pointer
}

/// Parses an `overridable` key as a JSON Pointer. Errors: why it is not one.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        let suggestion = format!(
            "/{}",
            pointer.replace('~', "~0").replace('/', "~1").replace('.', "/")
        );
        return Err(format!(
            "is not a JSON Pointer (RFC 6901): it must start with `/`, as in `{suggestion}` \
             (a `.` inside a key, as in `/Configurations/0/Properties/spark.executor.memory`, is part of the key)"
        ));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::new();
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, false) => out.push(c),
                    (_, true) => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "`{token}`: `~` must be written `~0` (and `/` inside a key `~1`)"
                            ));
                        }
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// How problems of an overridable path name the run section and the model it is checked
/// against (`job_flow`, `EMR`; `eks_job_run`, `EMR on EKS`).
#[derive(Clone, Copy)]
struct Words {
    section: &'static str,
    service: &'static str,
}

/// Why `tokens` can never name a value an override reaches in the run section's request
/// (`job_flow` with its steps, as rendered, or a job run's), checked against its service's
/// model (`root`); `None` when it can. An override adds at most the last member of a path, and
/// never a list element.
fn never_matches(
    words: Words,
    root: &Value,
    node: &Value,
    value: Option<&Value>,
    tokens: &[String],
    at: &str,
) -> Option<String> {
    // An empty remainder names the node reached: it matches.
    let (token, rest) = tokens.split_first()?;
    let node = job_flow::resolve(root, node);
    let here = if at.is_empty() { "the request" } else { at };
    let next = format!("{at}/{}", token.replace('~', "~0").replace('/', "~1"));
    if value.is_none() && !at.is_empty() {
        return Some(format!(
            "`{at}` is not in the definition's {}, and an override adds only the last member of a path",
            words.section
        ));
    }
    match node.get("type").and_then(Value::as_str) {
        Some("object") => {
            let members = value.and_then(Value::as_object);
            if token == "*" {
                let mut names: Vec<&String> = node
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().collect())
                    .unwrap_or_default();
                if let (Some(extra), Some(members)) = (
                    node.get("additionalProperties").filter(|a| a.is_object()),
                    members,
                ) {
                    return if members.is_empty() && rest.is_empty() {
                        None
                    } else {
                        members
                            .iter()
                            .map(|(k, v)| {
                                never_matches(words, root, extra, Some(v), rest, &format!("{at}/{k}"))
                            })
                            .collect::<Option<Vec<_>>>()
                            .and_then(|mut why| why.pop())
                    };
                }
                names.retain(|n| members.is_some_and(|m| m.contains_key(*n)) || rest.is_empty());
                return names
                    .iter()
                    .map(|n| {
                        never_matches(
                            words,
                            root,
                            &node["properties"][n.as_str()],
                            members.and_then(|m| m.get(*n)),
                            rest,
                            &format!("{at}/{n}"),
                        )
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(|mut why| {
                        why.pop()
                            .unwrap_or_else(|| format!("`*` matches no member of {here}"))
                    });
            }
            let child = (node.get("properties").and_then(|p| p.get(token)))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
            let Some(child) = child else {
                let known = job_flow::member_names(root, Some(node));
                let hint = did_you_mean(token, known.iter().map(String::as_str));
                return Some(format!(
                    "`{token}` is not a member of {here} in {}'s model{hint}",
                    words.service
                ));
            };
            never_matches(
                words,
                root,
                child,
                members.and_then(|m| m.get(token)),
                rest,
                &next,
            )
        }
        Some("array") => {
            let items = value.and_then(Value::as_array);
            let item = node.get("items").unwrap_or(&Value::Null);
            let len = items.map_or(0, Vec::len);
            if token == "*" {
                if len == 0 {
                    return Some(format!(
                        "{here} has no elements in the definition, and overrides change elements, never add them"
                    ));
                }
                return items
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, v)| never_matches(words, root, item, Some(v), rest, &format!("{at}/{i}")))
                    .collect::<Option<Vec<_>>>()
                    .and_then(|mut why| why.pop());
            }
            match token.parse::<usize>() {
                Ok(i) if i < len && *token == i.to_string() => {
                    never_matches(words, root, item, items.and_then(|v| v.get(i)), rest, &next)
                }
                Ok(_) if *token == token.trim_start_matches('0') || token == "0" => Some(format!(
                    "{here} has {len} elements in the definition, so `{token}` never exists: overrides change elements, never add them"
                )),
                _ => Some(format!(
                    "{here} is a list: name an element by its index (`0`, `1`, …) or `*`"
                )),
            }
        }
        Some(kind) => Some(format!("{here} is a single {kind} value; nothing lies below it")),
        None => None,
    }
}

/// Why `value` fits neither a value of `node`'s kind nor a template: `"clutser" is not one of
/// `cluster`, `client`; did you mean `cluster`? (or write a {{ template }})`.
fn value_or_template(root: &Value, node: Option<&Value>, value: &Value) -> String {
    let branches: Vec<&Value> = (node.and_then(|n| n.get("anyOf")).and_then(Value::as_array))
        .map(|b| b.iter().map(|b| job_flow::resolve(root, b)).collect())
        .unwrap_or_default();
    let tail = "(or write a {{ template }} that renders to one)";
    if let Some(allowed) = branches
        .iter()
        .find_map(|b| b.get("enum").and_then(Value::as_array))
    {
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        let hint = value
            .as_str()
            .map(|v| did_you_mean(v, names.iter().copied()))
            .unwrap_or_default();
        let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        return format!("{value} is not one of {}{hint} {tail}", listed.join(", "));
    }
    match branches
        .iter()
        .find_map(|b| b.get("type").and_then(Value::as_str))
        .filter(|t| *t != "string")
    {
        Some(kind) => format!(
            "{value} is not a{} {kind} {tail}",
            if kind == "integer" { "n" } else { "" }
        ),
        None => {
            // A string with a pattern or lengths (an id, a run's name): say which.
            let string = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) == Some("string"));
            let rule = |key: &str| string.and_then(|s| s.get(key));
            let mut must = Vec::new();
            if let Some(pattern) = rule("pattern").and_then(Value::as_str) {
                must.push(format!("match `{pattern}`"));
            }
            match (
                rule("minLength").and_then(Value::as_u64),
                rule("maxLength").and_then(Value::as_u64),
            ) {
                (Some(min), Some(max)) => must.push(format!("be {min} to {max} characters")),
                (Some(min), None) => must.push(format!("be at least {min} characters")),
                (None, Some(max)) => must.push(format!("be at most {max} characters")),
                (None, None) => {}
            }
            if must.is_empty() {
                format!("{value} matches none of the forms allowed here")
            } else {
                format!("{value} must {} {tail}", must.join(" and "))
            }
        }
    }
}

/// Converts numbers and booleans to strings where `schema` wants a string: to the text the
/// author wrote (`60000`, `0.50`, `true`), known from `source`.
fn strings_where_wanted(root: &Value, node: &Value, value: &mut Value, pointer: &str, source: &Source) {
    let node = job_flow::branch(root, node, value);
    match value {
        Value::Number(_) | Value::Bool(_) if node.get("type").and_then(Value::as_str) == Some("string") => {
            *value = Value::String(
                source
                    .raw(pointer)
                    .map_or_else(|| value.to_string(), str::to_owned),
            );
        }
        Value::Array(items) => {
            if let Some(item) = node.get("items") {
                for (i, v) in items.iter_mut().enumerate() {
                    strings_where_wanted(root, item, v, &format!("{pointer}/{i}"), source);
                }
            }
        }
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                let child = (node.get("properties").and_then(|p| p.get(key)))
                    .or_else(|| node.get("additionalProperties"))
                    .filter(|s| s.is_object());
                if let Some(child) = child {
                    let pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    strings_where_wanted(root, child, member, &pointer, source);
                }
            }
        }
        _ => {}
    }
}

/// Every string of `value` with its JSON Pointer.
fn strings<'a>(pointer: String, value: &'a Value, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((pointer, s)),
        Value::Array(items) => {
            (items.iter().enumerate()).for_each(|(i, v)| strings(format!("{pointer}/{i}"), v, out))
        }
        Value::Object(members) => members.iter().for_each(|(k, v)| {
            strings(
                format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                v,
                out,
            )
        }),
        _ => {}
    }
}

/// A fixed rendering context for examples: the checks do not depend on the clock.
fn example_context() -> Context {
    Context {
        flow_id: FlowId::parse("01JDQ3V4X8M6Z0B1C2D3E4F5G6").expect("a canonical ULID"),
        submitted_at: chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default(),
        region: "us-east-1".into(),
        stack: crate::catalog::job_flow::LOCAL_STACK.into(),
    }
}

/// [`Definition::check`] of a file already parsed: every phase's problems, each placed in the
/// file, sorted by place. The examples and the overridable paths' reach are checked only once
/// the earlier phases left a definition to render.
pub(super) fn check_source(
    file_name: &str,
    parsed: Result<Source, SyntaxError>,
) -> Result<Definition, Vec<DefinitionProblem>> {
    let source = match parsed {
        Ok(source) => source,
        Err(e) => {
            return Err(vec![DefinitionProblem {
                at: e.at,
                problem: Problem::new("", format!("YAML syntax: {}", e.message)),
            }]);
        }
    };
    let mut document = source.value.clone();
    strings_where_wanted(&FORMAT.document, &FORMAT.document, &mut document, "", &source);

    let mut problems = format(&document);
    let spec = match spec(&document) {
        Ok(spec) => Some(spec),
        Err(problem) => {
            if !problems.iter().any(|p| p.path == problem.path) {
                problems.push(problem);
            }
            None
        }
    };
    let target = spec.as_ref().and_then(|spec| match run_section(spec) {
        Ok(target) => Some(target),
        Err(problem) => {
            problems.push(problem);
            None
        }
    });
    problems.extend(name(&document, file_name));
    let (parameters, schema) = parameters(&document, &mut problems);
    problems.extend(templates(&document, &parameters));
    problems.extend(max_runtime(&document));
    problems.extend(shutdown_grace_period(&document, target));
    problems.extend(callbacks(&document));
    let overridable = overridable(&document, &mut problems);

    let mut found = Vec::new();
    locate(problems, &source, &mut found);
    let (Some(spec), Some(schema), Some(target)) = (spec, schema, target) else {
        found.sort_by_key(|p| p.at);
        return Err(found);
    };
    let definition = Definition {
        spec,
        target,
        schema,
        overridable,
    };
    let (rendered, mut later) = examples(&definition);
    let request = rendered.unwrap_or_else(|| definition.section().clone());
    let schema = match target {
        Target::Cluster => Some(job_flow::schema_document()),
        Target::ServerlessJobRun => Some(serverless_job_run::schema_document()),
        Target::EksJobRun => Some(eks_job_run::schema_document()),
        // Overrides of a step flow reach AddJobFlowSteps' request (`/Steps/0/…`); each is
        // checked against EMR's model when rendered.
        Target::Steps => None,
    };
    if let Some(schema) = schema {
        later.extend(overridable_reach(&definition, schema, &request));
    }
    locate(later, &source, &mut found);
    if found.is_empty() {
        Ok(definition)
    } else {
        found.sort_by_key(|p| p.at);
        Err(found)
    }
}

/// The format: a mapping that the generated JSON Schema ([`FORMAT_SCHEMA`]) accepts. Unknown
/// keys get a "did you mean"; a value where a template is also allowed says what value would do.
fn format(document: &Value) -> Vec<Problem> {
    let format = &*FORMAT;
    let mut problems = Vec::new();
    if !document.is_object() {
        problems.push(Problem::new(
            "",
            "a definition is a mapping of `name`, `version`, `job_flow`, …",
        ));
    }
    for e in format.validator.iter_errors(document) {
        let pointer = e.instance_path().as_str().to_owned();
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let node = job_flow::node_at(&format.document, document, &pointer);
                let known = job_flow::member_names(&format.document, node);
                // Inside a run section written in its service's API shape: that service's shape.
                let shape = (Target::ALL.into_iter())
                    .filter(|t| *t != Target::Steps)
                    .find(|t| {
                        pointer
                            .strip_prefix('/')
                            .is_some_and(|p| p.split('/').next() == Some(t.section()))
                    })
                    .map_or_else(
                        || "this mapping".to_owned(),
                        |t| format!("this {} shape", t.service()),
                    );
                let run_section = [Target::ServerlessJobRun, Target::EksJobRun]
                    .iter()
                    .any(|t| pointer == format!("/{}", t.section()));
                for key in unexpected {
                    let message = if run_section && key == "clientToken" {
                        "is set by emr-flows itself (one token per flow, from its id); remove it".to_owned()
                    } else {
                        let hint = did_you_mean(key, known.iter().map(String::as_str));
                        format!("is not a member of {shape}{hint}")
                    };
                    problems.push(Problem::new(
                        path_of(&format!(
                            "{pointer}/{}",
                            key.replace('~', "~0").replace('/', "~1")
                        )),
                        message,
                    ));
                }
            }
            // `overridable` keys are checked by [`overridable`], with a suggestion.
            ValidationErrorKind::PropertyNames { .. } if pointer == "/overridable" => {}
            // A value or a template: say what value would do.
            ValidationErrorKind::AnyOf { .. } => {
                let node = job_flow::node_at(&format.document, document, &pointer);
                let value = document.pointer(&pointer).unwrap_or(&Value::Null);
                problems.push(Problem::new(
                    path_of(&pointer),
                    value_or_template(&format.document, node, value),
                ));
            }
            // A union written with two members (two job drivers): name them.
            ValidationErrorKind::MaxProperties { limit: 1 } => problems.push(Problem::new(
                path_of(&pointer),
                job_flow::one_member(&format.document, document, &pointer),
            )),
            _ => problems.push(Problem::new(path_of(&pointer), e.to_string())),
        }
    }
    problems
}

/// The definition's known keys as [`FlowDefinition`] (unknown top-level keys are the format's
/// problem; the rest is still checked).
fn spec(document: &Value) -> Result<FlowDefinition, Problem> {
    let mut known = document.clone();
    if let (Some(members), Some(allowed)) = (known.as_object_mut(), FORMAT.document.get("properties")) {
        members.retain(|k, _| allowed.get(k).is_some());
    }
    serde_path_to_error::deserialize::<_, FlowDefinition>(known).map_err(|e| Problem::from_serde("", e))
}

/// The run section: exactly one of `job_flow`, … (one per [`Target`]), naming what was found.
fn run_section(spec: &FlowDefinition) -> Result<Target, Problem> {
    let sections = || Target::ALL.map(|t| format!("`{}`", t.section())).join(", ");
    match spec.targets()[..] {
        [target] => Ok(target),
        [] => Err(Problem::new(
            "",
            format!("a definition needs a run section: one of {}", sections()),
        )),
        ref several => Err(Problem::new(
            "",
            format!(
                "a definition has exactly one run section, not {} ({})",
                several.len(),
                several
                    .iter()
                    .map(|t| format!("`{}`", t.section()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )),
    }
}

/// The name: equal to the file name without `.yaml`.
fn name(document: &Value, file_name: &str) -> Vec<Problem> {
    let stem = file_name.strip_suffix(".yaml").unwrap_or(file_name);
    match document.get("name").and_then(Value::as_str) {
        Some(name) if name != stem => vec![Problem::new(
            "name",
            format!("`{name}` differs from the file name `{file_name}`; they must be equal"),
        )],
        _ => Vec::new(),
    }
}

/// The parameters: a JSON Schema of an object, no built-in names. Returns the schema as
/// written (an empty object's when absent) and, when it compiles, its validator.
fn parameters(document: &Value, problems: &mut Vec<Problem>) -> (Value, Option<jsonschema::Validator>) {
    let parameters = document
        .get("parameters")
        .cloned()
        .unwrap_or_else(empty_object_schema);
    if parameters.get("type").and_then(Value::as_str) != Some("object") {
        problems.push(Problem::new(
            "parameters",
            "must be a JSON Schema with `type: object`",
        ));
    }
    let properties = parameters.get("properties").and_then(Value::as_object);
    for builtin in BUILTINS
        .into_iter()
        .filter(|b| properties.is_some_and(|p| p.contains_key(*b)))
    {
        problems.push(Problem::new(
            format!("parameters.properties.{builtin}"),
            "is a built-in variable and cannot be a parameter",
        ));
    }
    // A default is filled in before the parameters are validated: one its own property refuses
    // would be blamed on every caller who left it out.
    for (name, property) in properties.into_iter().flatten() {
        let (Some(default), Ok(check)) = (property.get("default"), jsonschema::validator_for(property))
        else {
            continue;
        };
        for e in check.iter_errors(default) {
            problems.push(Problem::new(
                format!("parameters.properties.{name}.default"),
                format!("is refused by its own schema: {e}"),
            ));
        }
    }
    let schema = jsonschema::validator_for(&parameters)
        .map_err(|e| {
            problems.push(Problem::new(
                "parameters",
                format!("is not a valid JSON Schema: {e}"),
            ))
        })
        .ok();
    (parameters, schema)
}

/// The templates in the run section, `steps` and `artifacts`: parsed now, never first at submit;
/// each variable a built-in or a parameter that always has a value (`required`, or with a
/// `default`); no NUL character anywhere.
fn templates(document: &Value, parameters: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let properties = parameters
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = (parameters.get("required").and_then(Value::as_array))
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let env = template::environment();
    let mut texts = Vec::new();
    let sections = Target::ALL.map(Target::section);
    for key in sections.iter().chain(&["steps", "artifacts"]) {
        if let Some(value) = document.get(key) {
            strings(format!("/{key}"), value, &mut texts);
        }
    }
    for (pointer, text) in texts {
        if text.contains('\0') {
            problems.push(Problem::new(
                path_of(&pointer),
                "holds a NUL character, which EMR does not take",
            ));
            continue;
        }
        if !template::is_template(text) {
            continue;
        }
        let template = match env.template_from_str(text) {
            Ok(template) => template,
            Err(e) => {
                let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
                problems.push(Problem::new(
                    path_of(&pointer),
                    format!("template `{text}` does not parse: {}{detail}", e.kind()),
                ));
                continue;
            }
        };
        let mut used: Vec<String> = template.undeclared_variables(false).into_iter().collect();
        used.sort();
        for variable in used {
            let known = properties.keys().map(String::as_str).chain(BUILTINS);
            if BUILTINS.contains(&variable.as_str()) {
                continue;
            }
            let Some(property) = properties.get(&variable) else {
                problems.push(Problem::new(
                    path_of(&pointer),
                    format!(
                        "template `{text}`: `{variable}` is neither a parameter nor a built-in{}",
                        did_you_mean(&variable, known)
                    ),
                ));
                continue;
            };
            if !required.contains(&variable.as_str()) && property.get("default").is_none() {
                problems.push(Problem::new(
                    path_of(&pointer),
                    format!(
                        "template `{text}`: parameter `{variable}` may be left out (it is not \
                         `required` and has no `default`), and then has no value"
                    ),
                ));
            }
        }
    }
    problems
}

/// `max_runtime`: a duration from 1 minute to 30 days.
fn max_runtime(document: &Value) -> Vec<Problem> {
    match (document.get("max_runtime").and_then(Value::as_str)).map(parse_runtime) {
        Some(Err(message)) => vec![Problem::new("max_runtime", message)],
        _ => Vec::new(),
    }
}

/// `shutdown_grace_period`: 15 seconds to 30 minutes, and only for an EMR Serverless job run
/// (CancelJobRun's `shutdownGracePeriodInSeconds`; no other target's cancel takes one).
fn shutdown_grace_period(document: &Value, target: Option<Target>) -> Vec<Problem> {
    let Some(text) = document.get("shutdown_grace_period").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if let Err(message) = parse_grace_period(text) {
        problems.push(Problem::new("shutdown_grace_period", message));
    }
    if let Some(target) = target.filter(|t| *t != Target::ServerlessJobRun) {
        problems.push(Problem::new(
            "shutdown_grace_period",
            format!(
                "only a `serverless_job_run` is cancelled with a grace period (CancelJobRun's \
                 shutdownGracePeriodInSeconds); a `{}` is not",
                target.section()
            ),
        ));
    }
    problems
}

/// The default callbacks' Lambda functions: names Lambda can invoke (the allow-list is the
/// stack's, checked at submit).
fn callbacks(document: &Value) -> Vec<Problem> {
    let callbacks = document.get("callbacks").and_then(Value::as_array);
    (callbacks.into_iter().flatten().enumerate())
        .filter_map(|(i, target)| {
            let function = target.get("lambda").and_then(Value::as_str)?;
            let message = crate::model::lambda_function::FunctionRef::parse(function).err()?;
            Some(Problem::new(format!("callbacks[{i}].lambda"), message))
        })
        .collect()
}

/// `overridable`: JSON Pointers (RFC 6901) with JSON Schemas, compiled. Whether each can match
/// is checked later, against a rendered request ([`overridable_reach`]).
fn overridable(document: &Value, problems: &mut Vec<Problem>) -> Vec<Overridable> {
    let mut overridable = Vec::new();
    let Some(entries) = document.get("overridable").and_then(Value::as_object) else {
        return overridable;
    };
    for (pointer, value_schema) in entries {
        let path = format!("overridable.{pointer}");
        let tokens = parse_pointer(pointer).map_err(|why| problems.push(Problem::new(&path, why)));
        let validator = jsonschema::validator_for(value_schema)
            .map_err(|e| problems.push(Problem::new(&path, format!("is not a valid JSON Schema: {e}"))));
        if let (Ok(tokens), Ok(schema)) = (tokens, validator) {
            overridable.push(Overridable {
                pointer: pointer.clone(),
                tokens,
                schema,
            });
        }
    }
    overridable
}

/// Every example, rendered as submit would render it. Returns the first example's rendered
/// request (the overridable paths are checked against it) and the problems, named by example.
fn examples(definition: &Definition) -> (Option<Value>, Vec<Problem>) {
    let mut rendered_request = None;
    let mut problems = Vec::new();
    for (i, example) in definition.spec.examples.iter().enumerate() {
        match definition.render(example.clone(), &Value::Null, &example_context()) {
            Ok(rendered) => {
                rendered_request.get_or_insert(Value::Object(rendered.request.as_json().clone()));
            }
            Err(Error::Validation(found) | Error::Definition { problems: found, .. }) => {
                for p in found {
                    let problem = match p.path.strip_prefix("params") {
                        Some(rest) => Problem::new(format!("examples[{i}]{rest}"), p.message),
                        None => Problem::new(p.path, format!("with examples[{i}]: {}", p.message)),
                    };
                    problems.push(problem);
                }
            }
            Err(e) => problems.push(Problem::new(format!("examples[{i}]"), e.to_string())),
        }
    }
    (rendered_request, problems)
}

/// Each overridable path names something an override can reach in `job_flow` (the rendered
/// request, or the definition's as written when no example rendered).
fn overridable_reach(definition: &Definition, root: &Value, job_flow: &Value) -> Vec<Problem> {
    let words = Words {
        section: definition.target.section(),
        service: definition.target.service(),
    };
    (definition.overridable.iter())
        .filter_map(|entry| {
            never_matches(words, root, root, Some(job_flow), &entry.tokens, "").map(|why| {
                Problem::new(
                    format!("overridable.{}", entry.pointer),
                    format!("can never match: {why}"),
                )
            })
        })
        .collect()
}

/// Places each problem in the file (`overridable` keys are JSON Pointers: escaped as one key)
/// and adds it to `found` unless a problem with its path is there.
fn locate(problems: Vec<Problem>, source: &Source, found: &mut Vec<DefinitionProblem>) {
    for problem in problems {
        let pointer = match problem.path.strip_prefix("overridable.") {
            Some(key) => format!("/overridable/{}", key.replace('~', "~0").replace('/', "~1")),
            None => pointer_of(&problem.path),
        };
        if !found.iter().any(|f| f.problem.path == problem.path) {
            found.push(DefinitionProblem {
                at: source.place(&pointer),
                problem,
            });
        }
    }
}
