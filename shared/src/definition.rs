//! Flow definitions and the catalog: the YAML files in `shared/flows/`, embedded at build time
//! (see `build.rs`), parsed and checked once per process.
//!
//! A definition file has the keys `name` (equal to the file name without `.yaml`), `version`,
//! `description`, `parameters` (a JSON Schema for the submitted `params`), `examples` (parameter
//! sets the tests render), `job_flow` (the RunJobFlow request in EMR's API shape, see
//! [`crate::job_flow`]), `steps` (more steps, appended to `job_flow.Steps`), `overridable`
//! (paths callers may override), `callbacks` (default targets) and `artifacts` (named URI
//! templates). Unknown keys are errors.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Problem, did_you_mean, nearest};
use crate::job_flow;
use crate::model::{CallbackTarget, FlowId};
use crate::template::{self, Context, pointer_to_path};
use yaml::{Source, SyntaxError};

mod yaml;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// Template variables every definition may use; parameters may not take these names.
pub const BUILTINS: [&str; 8] = [
    "flow_id",
    "flow_name",
    "submitted_at",
    "submitted_date",
    "submitted_year",
    "submitted_month",
    "submitted_day",
    "aws_region",
];

/// A flow definition as written in `shared/flows/NAME.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema (draft 2020-12 unless `$schema` says otherwise) for `params`.
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    /// Parameter sets that must validate and render (checked by the catalog tests).
    #[serde(default)]
    pub examples: Vec<Value>,
    /// The templated RunJobFlow request, in EMR's API shape.
    pub job_flow: Value,
    /// Templated steps appended to `job_flow.Steps`: `StepConfig`s or short forms (see
    /// [`crate::steps`]).
    #[serde(default)]
    pub steps: Vec<Value>,
    /// What a caller may override: a JSON Pointer (RFC 6901) into `job_flow`
    /// (`/Instances/InstanceGroups/1/InstanceCount`,
    /// `/Configurations/0/Properties/spark.executor.memory`; `*` as a whole reference token
    /// matches any one list index or member name, `~1` is a `/` inside a key and `~0` a `~`)
    /// and the JSON Schema the new value must satisfy (`{type: integer, minimum: 1, maximum:
    /// 20}`; `{}` for any value).
    #[serde(default)]
    pub overridable: BTreeMap<String, Value>,
    /// Targets told of every flow of this definition, before the caller's own.
    #[serde(default)]
    pub callbacks: Vec<CallbackTarget>,
    /// Named URI templates (e.g. the S3 output prefix), rendered onto the flow record.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    /// How long a flow may stay active (`"6h"`, `"90m"`, `"1h 30m"`: humantime's format):
    /// past it, the reconcile sweep terminates the cluster and the flow ends `TIMED_OUT`.
    /// A submit may ask for less. None: no limit.
    #[serde(default)]
    pub max_runtime: Option<String>,
}

/// The longest `max_runtime` a definition or submit may give: EMR clusters run for days at
/// most in practice, and a flow record is followed that long.
pub const MAX_RUNTIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Parses a `max_runtime` (`"6h"`), 1 minute to [`MAX_RUNTIME_LIMIT`].
fn parse_runtime(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration such as `6h` or `90m`: {e}"))?;
    if duration < std::time::Duration::from_secs(60) || duration > MAX_RUNTIME_LIMIT {
        return Err(format!("`{text}` is not between 1 minute and 30 days"));
    }
    Ok(duration)
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "additionalProperties": false})
}

/// A checked definition with its compiled parameter and override schemas.
#[derive(Debug)]
pub struct Definition {
    pub spec: FlowDefinition,
    pub(crate) schema: jsonschema::Validator,
    /// `overridable`, compiled.
    pub(crate) overridable: Vec<Overridable>,
}

/// One `overridable` entry: a JSON Pointer (RFC 6901) into `job_flow`, its reference tokens and
/// the JSON Schema a new value must satisfy.
#[derive(Debug)]
pub struct Overridable {
    pub pointer: String,
    pub tokens: Vec<String>,
    pub schema: jsonschema::Validator,
}

/// One problem of a definition file and where it was written (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionProblem {
    pub at: Option<(u64, u64)>,
    pub problem: Problem,
}

impl fmt::Display for DefinitionProblem {
    /// `LINE:COLUMN: path: message`, as compilers write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.at {
            write!(f, "{line}:{column}: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

/// The generated JSON Schema of the definition file format (source: EMR's service model and the
/// step short forms; see `dev/emr_schema.py`). Editors use it through the modeline
/// `# yaml-language-server: $schema=../schemas/flow-definition.schema.json`.
pub const FORMAT_SCHEMA: &str = include_str!("../schemas/flow-definition.schema.json");

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

/// Why `tokens` can never name a value an override reaches in `job_flow` (the definition's
/// request with its steps, as rendered), checked against EMR's RunJobFlow model; `None` when
/// it can. An override adds at most the last member of a path, and never a list element.
fn never_matches(
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
            "`{at}` is not in the definition's job_flow, and an override adds only the last member of a path"
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
                            .map(|(k, v)| never_matches(root, extra, Some(v), rest, &format!("{at}/{k}")))
                            .collect::<Option<Vec<_>>>()
                            .and_then(|mut why| why.pop())
                    };
                }
                names.retain(|n| members.is_some_and(|m| m.contains_key(*n)) || rest.is_empty());
                return names
                    .iter()
                    .map(|n| {
                        never_matches(
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
                    "`{token}` is not a member of {here} in EMR's model{hint}"
                ));
            };
            never_matches(root, child, members.and_then(|m| m.get(token)), rest, &next)
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
                    .map(|(i, v)| never_matches(root, item, Some(v), rest, &format!("{at}/{i}")))
                    .collect::<Option<Vec<_>>>()
                    .and_then(|mut why| why.pop());
            }
            match token.parse::<usize>() {
                Ok(i) if i < len && *token == i.to_string() => {
                    never_matches(root, item, items.and_then(|v| v.get(i)), rest, &next)
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
        None => format!("{value} matches none of the forms allowed here"),
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
        stack: crate::job_flow::LOCAL_STACK.into(),
    }
}

impl Definition {
    /// Parses and checks one definition file. `file_name` is e.g. `spark-pi.yaml`.
    ///
    /// Errors: [`Error::Definition`] listing every problem found, each message ending with its
    /// place (`(line 12, column 5)`); see [`Definition::check`].
    pub fn parse(file_name: &str, yaml: &str) -> Result<Self, Error> {
        Self::parse_source(file_name, Source::parse(yaml))
    }

    /// [`Definition::parse`] of a file already parsed (by `build.rs`, for the embedded catalog).
    fn parse_source(file_name: &str, parsed: Result<Source, SyntaxError>) -> Result<Self, Error> {
        Self::check_source(file_name, parsed).map_err(|found| Error::Definition {
            name: file_name.strip_suffix(".yaml").unwrap_or(file_name).to_owned(),
            problems: found
                .into_iter()
                .map(|p| match p.at {
                    Some((line, column)) => Problem::new(
                        p.problem.path,
                        format!("{} (line {line}, column {column})", p.problem.message),
                    ),
                    None => p.problem,
                })
                .collect(),
        })
    }

    /// Parses and checks one definition file, finding every problem at once: YAML syntax; the
    /// definition format (the generated JSON Schema [`FORMAT_SCHEMA`]: unknown keys with "did you
    /// mean", types, EMR's shapes and enums, the step short forms); the name; the parameter
    /// schema; every template (syntax, and each variable a parameter or built-in that always
    /// has a value); `overridable` (JSON Pointers that can match, valid schemas); and every
    /// example, validated and rendered to a request checked against EMR's model and limits.
    /// Numbers and booleans written where EMR's model wants a string are taken as written.
    ///
    /// Errors: every problem, with where it was written.
    pub fn check(file_name: &str, yaml: &str) -> Result<Self, Vec<DefinitionProblem>> {
        Self::check_source(file_name, Source::parse(yaml))
    }

    /// [`Definition::check`] of a file already parsed.
    fn check_source(
        file_name: &str,
        parsed: Result<Source, SyntaxError>,
    ) -> Result<Self, Vec<DefinitionProblem>> {
        let stem = file_name.strip_suffix(".yaml").unwrap_or(file_name);
        let source = match parsed {
            Ok(source) => source,
            Err(e) => {
                return Err(vec![DefinitionProblem {
                    at: e.at,
                    problem: Problem::new("", format!("YAML syntax: {}", e.message)),
                }]);
            }
        };
        let format = &*FORMAT;
        let mut document = source.value.clone();
        strings_where_wanted(&format.document, &format.document, &mut document, "", &source);

        let mut problems: Vec<Problem> = Vec::new();
        if !document.is_object() {
            problems.push(Problem::new(
                "",
                "a definition is a mapping of `name`, `version`, `job_flow`, …",
            ));
        }
        for e in format.validator.iter_errors(&document) {
            let pointer = e.instance_path().as_str().to_owned();
            match e.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let node = job_flow::node_at(&format.document, &document, &pointer);
                    let known = job_flow::member_names(&format.document, node);
                    let shape = if pointer.starts_with("/job_flow") {
                        "this EMR shape"
                    } else {
                        "this mapping"
                    };
                    for key in unexpected {
                        let hint = did_you_mean(key, known.iter().map(String::as_str));
                        problems.push(Problem::new(
                            path_of(&format!(
                                "{pointer}/{}",
                                key.replace('~', "~0").replace('/', "~1")
                            )),
                            format!("is not a member of {shape}{hint}"),
                        ));
                    }
                }
                // `overridable` keys are checked below, with a suggestion.
                ValidationErrorKind::PropertyNames { .. } if pointer == "/overridable" => {}
                // A value or a template: say what value would do.
                ValidationErrorKind::AnyOf { .. } => {
                    let node = job_flow::node_at(&format.document, &document, &pointer);
                    let value = document.pointer(&pointer).unwrap_or(&Value::Null);
                    problems.push(Problem::new(
                        path_of(&pointer),
                        value_or_template(&format.document, node, value),
                    ));
                }
                _ => problems.push(Problem::new(path_of(&pointer), e.to_string())),
            }
        }

        // Unknown top-level keys are reported above; the rest is still checked.
        let mut known = document.clone();
        if let (Some(members), Some(allowed)) = (known.as_object_mut(), format.document.get("properties")) {
            members.retain(|k, _| allowed.get(k).is_some());
        }
        let spec = match serde_path_to_error::deserialize::<_, FlowDefinition>(known) {
            Ok(spec) => Some(spec),
            Err(e) => {
                let problem = Problem::from_serde("", e);
                if !problems.iter().any(|p| p.path == problem.path) {
                    problems.push(problem);
                }
                None
            }
        };
        let name = document.get("name").and_then(Value::as_str).unwrap_or_default();
        if document.get("name").is_some_and(Value::is_string) && name != stem {
            problems.push(Problem::new(
                "name",
                format!("`{name}` differs from the file name `{file_name}`; they must be equal"),
            ));
        }

        // Parameters: a JSON Schema of an object, no built-in names.
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
        let properties = parameters
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for builtin in BUILTINS.into_iter().filter(|b| properties.contains_key(*b)) {
            problems.push(Problem::new(
                format!("parameters.properties.{builtin}"),
                "is a built-in variable and cannot be a parameter",
            ));
        }
        let schema = jsonschema::validator_for(&parameters)
            .map_err(|e| {
                problems.push(Problem::new(
                    "parameters",
                    format!("is not a valid JSON Schema: {e}"),
                ))
            })
            .ok();

        // Templates: parsed now, never first at submit.
        let required: Vec<&str> = (parameters.get("required").and_then(Value::as_array))
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let env = template::environment();
        let mut texts = Vec::new();
        for key in ["job_flow", "steps", "artifacts"] {
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
            match env.template_from_str(text) {
                Err(e) => {
                    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
                    problems.push(Problem::new(
                        path_of(&pointer),
                        format!("template `{text}` does not parse: {}{detail}", e.kind()),
                    ));
                }
                Ok(template) => {
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
            }
        }

        if let Some(Err(message)) = (document.get("max_runtime").and_then(Value::as_str)).map(parse_runtime) {
            problems.push(Problem::new("max_runtime", message));
        }

        // Lambda callbacks name what Lambda can invoke (the allow-list is the stack's: submit's).
        let callbacks = document.get("callbacks").and_then(Value::as_array);
        for (i, target) in callbacks.into_iter().flatten().enumerate() {
            let function = target.get("lambda").and_then(Value::as_str);
            if let Some(Err(message)) = function.map(crate::model::lambda_function::FunctionRef::parse) {
                problems.push(Problem::new(format!("callbacks[{i}].lambda"), message));
            }
        }

        // Overridable: JSON Pointers with JSON Schemas.
        let mut overridable = Vec::new();
        if let Some(entries) = document.get("overridable").and_then(Value::as_object) {
            for (pointer, value_schema) in entries {
                let path = format!("overridable.{pointer}");
                let tokens = parse_pointer(pointer).map_err(|why| problems.push(Problem::new(&path, why)));
                let validator = jsonschema::validator_for(value_schema).map_err(|e| {
                    problems.push(Problem::new(&path, format!("is not a valid JSON Schema: {e}")))
                });
                if let (Ok(tokens), Ok(schema)) = (tokens, validator) {
                    overridable.push(Overridable {
                        pointer: pointer.clone(),
                        tokens,
                        schema,
                    });
                }
            }
        }

        let mut found: Vec<DefinitionProblem> = Vec::new();
        let locate = |problems: Vec<Problem>, found: &mut Vec<DefinitionProblem>| {
            for problem in problems {
                let pointer = if problem.path.starts_with("overridable.") {
                    format!(
                        "/overridable/{}",
                        problem.path["overridable.".len()..]
                            .replace('~', "~0")
                            .replace('/', "~1")
                    )
                } else {
                    pointer_of(&problem.path)
                };
                if !found.iter().any(|f| f.problem.path == problem.path) {
                    found.push(DefinitionProblem {
                        at: source.place(&pointer),
                        problem,
                    });
                }
            }
        };
        locate(problems, &mut found);
        let (Some(spec), Some(schema)) = (spec, schema) else {
            found.sort_by_key(|p| p.at);
            return Err(found);
        };
        let definition = Definition {
            spec,
            schema,
            overridable,
        };

        // Every example, rendered as submit would render it.
        let mut rendered_job_flow = None;
        let mut later = Vec::new();
        for (i, example) in definition.spec.examples.iter().enumerate() {
            match definition.render(example.clone(), &Value::Null, &example_context()) {
                Ok(rendered) => {
                    rendered_job_flow.get_or_insert(Value::Object(rendered.job_flow.as_json().clone()));
                }
                Err(Error::Validation(problems) | Error::Definition { problems, .. }) => {
                    for p in problems {
                        let problem = match p.path.strip_prefix("params") {
                            Some(rest) => Problem::new(format!("examples[{i}]{rest}"), p.message),
                            None => Problem::new(p.path, format!("with examples[{i}]: {}", p.message)),
                        };
                        later.push(problem);
                    }
                }
                Err(e) => later.push(Problem::new(format!("examples[{i}]"), e.to_string())),
            }
        }
        // Each overridable path must name something an override can reach.
        let job_flow = rendered_job_flow.unwrap_or_else(|| definition.spec.job_flow.clone());
        let root = job_flow::schema_document();
        for entry in &definition.overridable {
            if let Some(why) = never_matches(root, root, Some(&job_flow), &entry.tokens, "") {
                later.push(Problem::new(
                    format!("overridable.{}", entry.pointer),
                    format!("can never match: {why}"),
                ));
            }
        }
        locate(later, &mut found);
        if found.is_empty() {
            Ok(definition)
        } else {
            found.sort_by_key(|p| p.at);
            Err(found)
        }
    }
}

impl Definition {
    /// A flow's `max_runtime`: the `requested` one (a submit's, at most the definition's), else
    /// the definition's; `None` for no limit.
    ///
    /// Errors: [`Error::Validation`] (path `max_runtime`) for a malformed or longer request.
    pub fn max_runtime(&self, requested: Option<&str>) -> Result<Option<chrono::Duration>, Error> {
        let own = self
            .spec
            .max_runtime
            .as_deref()
            .and_then(|t| parse_runtime(t).ok());
        let chosen = match requested {
            None => own,
            Some(text) => {
                let asked = parse_runtime(text).map_err(|m| Error::invalid("max_runtime", m))?;
                if let (Some(own), Some(own_text)) = (own, &self.spec.max_runtime)
                    && asked > own
                {
                    return Err(Error::invalid(
                        "max_runtime",
                        format!("`{text}` is longer than the definition's `{own_text}`"),
                    ));
                }
                Some(asked)
            }
        };
        Ok(chosen.map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(30))))
    }
}

/// Every flow definition this deployment can launch, by name.
#[derive(Debug)]
pub struct Catalog {
    definitions: BTreeMap<String, Definition>,
}

impl Catalog {
    /// `(file name, YAML text)` of every definition embedded from `shared/flows/` at build time.
    pub fn embedded_sources() -> &'static [(&'static str, &'static str)] {
        embedded::EMBEDDED
    }

    /// The definitions embedded from `shared/flows/` at build time, as `build.rs` parsed them
    /// (so the functions carry no YAML parser), checked like [`Catalog::from_sources`].
    ///
    /// Errors: [`Error::Definition`] for the first definition that does not parse or check
    /// (`make check` lists every problem of every definition).
    pub fn embedded() -> Result<Self, Error> {
        let definitions = embedded::EMBEDDED
            .iter()
            .zip(embedded::PARSED)
            .map(|((file, _), parsed)| {
                let parsed = match parsed {
                    Ok(json) => Ok(Source::from_json(json).ok_or_else(|| {
                        Error::Internal(format!(
                            "{file}: the catalog embedded by build.rs does not read back"
                        ))
                    })?),
                    Err((message, at)) => Err(SyntaxError {
                        message: (*message).to_owned(),
                        at: *at,
                    }),
                };
                Definition::parse_source(file, parsed).map(|d| (d.spec.name.clone(), d))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { definitions })
    }

    /// A catalog of `(file name, YAML text)` pairs.
    ///
    /// Errors: [`Error::Definition`] for the first definition that does not parse or check.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, Error> {
        let definitions = sources
            .iter()
            .map(|(file, yaml)| Definition::parse(file, yaml).map(|d| (d.spec.name.clone(), d)))
            .collect::<Result<_, _>>()?;
        Ok(Self { definitions })
    }

    /// Checks every `(file name, YAML text)` pair (see [`Definition::check`]).
    ///
    /// Errors: every problem of every definition, by file name, in the order given.
    pub fn check(sources: &[(&str, &str)]) -> Result<Self, Vec<(String, Vec<DefinitionProblem>)>> {
        let mut definitions = BTreeMap::new();
        let mut broken = Vec::new();
        for (file, yaml) in sources {
            match Definition::check(file, yaml) {
                Ok(d) => {
                    definitions.insert(d.spec.name.clone(), d);
                }
                Err(problems) => broken.push(((*file).to_owned(), problems)),
            }
        }
        if broken.is_empty() {
            Ok(Self { definitions })
        } else {
            Err(broken)
        }
    }

    /// The definition named `name`.
    ///
    /// Errors: [`Error::UnknownFlowDefinition`] with up to three similar names.
    pub fn get(&self, name: &str) -> Result<&Definition, Error> {
        self.definitions
            .get(name)
            .ok_or_else(|| Error::UnknownFlowDefinition {
                name: crate::model::bounded(name, 128),
                suggestions: nearest(name, self.definitions.keys().map(String::as_str), 3)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })
    }

    /// The definitions in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A definition written from the README alone: the file, its examples, short-form steps.
    pub(crate) const DAILY_SALES_REPORT: &str = r#"# yaml-language-server: $schema=../schemas/flow-definition.schema.json
name: daily-sales-report
version: "1"
description: Aggregates one day's sales with Hive and writes a report.
parameters:
  type: object
  additionalProperties: false
  required: [day]
  properties:
    day: {type: string, pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    shards: {type: integer, minimum: 1, default: 4}
examples:
  - {day: "2026-11-29"}
job_flow:
  Name: "daily-sales-report {{ day }}"
  ReleaseLabel: emr-7.13.0
  Applications: [{Name: Hive}, {Name: Spark}]
  Instances:
    InstanceGroups:
      - {InstanceRole: MASTER, InstanceType: m5.xlarge, InstanceCount: 1}
      - {InstanceRole: CORE, InstanceType: m5.xlarge, InstanceCount: "{{ shards }}"}
    KeepJobFlowAliveWhenNoSteps: false
  JobFlowRole: EMR_EC2_DefaultRole
  ServiceRole: EMR_DefaultRole
steps:
  - name: report
    hive: {script: s3://sales/report.sql, variables: {DAY: "{{ day }}"}}
  - name: export
    spark: {application: s3://sales/export.py, conf: {spark.executor.cores: 4}, args: [--day, "{{ day }}"]}
overridable:
  /Instances/InstanceGroups/1/InstanceCount: {type: integer, minimum: 1, maximum: 20}
artifacts:
  report: "s3://sales/reports/{{ day }}/"
"#;

    fn problems(file: &str, yaml: &str) -> Vec<DefinitionProblem> {
        match Definition::check(file, yaml) {
            Ok(_) => panic!("{file} passed its checks"),
            Err(problems) => problems,
        }
    }

    fn texts(problems: &[DefinitionProblem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_definition_of_the_catalog_passes_every_check() {
        // GIVEN whatever definitions shared/flows holds WHEN checked THEN none has a problem.
        if let Err(broken) = Catalog::check(Catalog::embedded_sources()) {
            let report: Vec<String> = (broken.iter())
                .flat_map(|(file, problems)| problems.iter().map(move |p| format!("{file}:{p}")))
                .collect();
            panic!("broken definitions:\n{}", report.join("\n"));
        }
    }

    #[test]
    fn the_catalog_parsed_at_build_time_is_the_catalog_parsed_from_its_yaml() {
        // GIVEN the catalog as the functions read it (parsed by build.rs) and as parsed now
        let embedded = Catalog::embedded().expect("the embedded catalog checks");
        let from_yaml = Catalog::from_sources(Catalog::embedded_sources()).unwrap();
        // THEN both hold the same definitions, field for field
        let specs = |c: &Catalog| {
            c.iter()
                .map(|d| serde_json::to_value(&d.spec.job_flow).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(embedded.iter().count(), Catalog::embedded_sources().len());
        assert_eq!(specs(&embedded), specs(&from_yaml));
        let names = |c: &Catalog| c.iter().map(|d| d.spec.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&embedded), names(&from_yaml));
    }

    #[test]
    fn a_definition_added_as_the_readme_says_joins_the_catalog() {
        // GIVEN the embedded definitions, whatever they are, plus a new file written from the
        // README (under a name no catalog file has)
        let added = DAILY_SALES_REPORT.replace("name: daily-sales-report", "name: added-by-a-test");
        let mut sources = Catalog::embedded_sources().to_vec();
        sources.push(("added-by-a-test.yaml", &added));
        // WHEN the catalog is checked THEN every definition, old and new, is in it
        let catalog = Catalog::check(&sources).unwrap_or_else(|broken| panic!("{broken:?}"));
        assert_eq!(catalog.iter().count(), sources.len());
        let added = catalog.get("added-by-a-test").unwrap();
        assert_eq!(added.spec.examples, [json!({"day": "2026-11-29"})]);
    }

    #[test]
    fn the_readmes_example_definition_passes_every_check() {
        // GIVEN the definition the README shows, copied as a new user would
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```yaml\n# yaml-language-server: $schema=../schemas/flow-definition.schema.json\nname: spark-pi")
            .expect("the README shows a whole definition");
        let block = &readme[start + "```yaml\n".len()..];
        let block = &block[..block.find("```").unwrap()];
        // WHEN checked THEN it passes, and its overridable Spark property is a pointer
        let definition = Definition::check("spark-pi.yaml", block).unwrap_or_else(|p| panic!("{p:#?}"));
        assert!(
            definition
                .overridable
                .iter()
                .any(|o| o.pointer == "/Configurations/0/Properties/spark.executor.memory")
        );
        assert_eq!(
            definition.spec.job_flow["Configurations"][0]["Properties"]["spark.executor.cores"],
            "4"
        );
    }

    #[test]
    fn an_unknown_flow_name_suggests_the_nearest_names_and_the_listing() {
        let catalog = Catalog::check(&[("daily-sales-report.yaml", DAILY_SALES_REPORT)]).unwrap();
        let err = catalog.get("daily-sale-report").unwrap_err();
        assert_eq!(err.code(), "UnknownFlowDefinition");
        assert_eq!(
            err.to_string(),
            "no flow definition is named `daily-sale-report`; did you mean `daily-sales-report`?; \
             list with {\"definitions\": true} names every definition"
        );
        let far = catalog.get("x").unwrap_err().to_string();
        assert_eq!(
            far,
            "no flow definition is named `x`; list with {\"definitions\": true} names every definition"
        );
    }

    #[test]
    fn a_broken_definition_gets_every_problem_named_at_once() {
        let yaml = "name: other\nversion: '1'\nparameters:\n  type: object\n  properties:\n    flow_id: {type: string}\njob_flow: []\n";
        let Err(Error::Definition { name, problems }) = Definition::parse("mine.yaml", yaml) else {
            panic!("expected a definition error");
        };
        assert_eq!(name, "mine");
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["", "name", "parameters.properties.flow_id", "job_flow"],
            "{problems:?}"
        );
        assert!(
            problems[0]
                .message
                .contains("\"examples\" is a required property"),
            "{problems:?}"
        );
        assert!(
            problems[1].message.ends_with("(line 1, column 7)"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_fault_of_a_new_definition_is_reported_in_one_run_with_its_place() {
        // GIVEN a definition with a fault of every kind
        let yaml = DAILY_SALES_REPORT
            .replace("ReleaseLabel:", "ReleaseLable:")
            .replace("DAY: \"{{ day }}\"", "DAY: \"{{ dya }}\"")
            .replace(
                "application: s3://sales/export.py",
                "aplication: s3://sales/export.py",
            )
            .replace(
                "/Instances/InstanceGroups/1/InstanceCount",
                "Instances.InstanceGroups.1.InstanceCount",
            )
            .replace("{day: \"2026-11-29\"}", "{day: \"yesterday\"}")
            .replace("description:", "descripton:")
            .replace(
                "Hive}, {Name: Spark}]",
                "Hive}, {Name: Spark}]\n  VisibleToAllUsers: sure\n  StepConcurrencyLevel: \"{{ shards }}\"",
            )
            .replace("InstanceRole: MASTER", "InstanceRole: MASTR");
        // WHEN it is checked THEN every problem comes at once, each with its line and column
        let found = texts(&problems("daily-sales-report.yaml", &yaml));
        let expected = [
            "4:13: descripton: is not a member of this mapping; did you mean `description`?",
            "13:11: examples[0].day: \"yesterday\" does not match \"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"",
            "16:17: job_flow.ReleaseLable: is not a member of this EMR shape; did you mean `ReleaseLabel`?",
            "18:22: job_flow.VisibleToAllUsers: \"sure\" is not a boolean (or write a {{ template }} that renders to one)",
            "22:24: job_flow.Instances.InstanceGroups[0].InstanceRole: \"MASTR\" is not one of `MASTER`, `CORE`, `TASK`; did you mean `MASTER`? (or write a {{ template }} that renders to one)",
            "29:60: steps[0].hive.variables.DAY: template `{{ dya }}`: `dya` is neither a parameter nor a built-in; did you mean `day`?",
            "31:25: steps[1].spark.aplication: is not a member of this mapping; did you mean `application`?",
        ];
        for line in expected {
            assert!(
                found.iter().any(|f| f == line),
                "missing {line:?} in\n{}",
                found.join("\n")
            );
        }
        assert!(
            found.iter().any(|f| f.starts_with("33:")
                && f.contains("overridable.Instances.InstanceGroups.1.InstanceCount: is not a JSON Pointer")
                && f.contains("`/Instances/InstanceGroups/1/InstanceCount`")),
            "{}",
            found.join("\n")
        );
    }

    #[test]
    fn a_yaml_syntax_error_names_its_line_and_column_without_a_debug_dump() {
        let yaml = "name: t\nversion: '1'\njob_flow:\n  Name: [unclosed\n  ReleaseLabel: emr-7.13.0\n";
        let found = problems("t.yaml", yaml);
        assert_eq!(found.len(), 1, "{found:?}");
        let (line, _) = found[0].at.expect("a place");
        assert!((4..=5).contains(&line), "{found:?}");
        let text = found[0].to_string();
        assert!(text.contains("YAML syntax: "), "{text}");
        assert!(!text.contains("Error {") && !text.contains("Message {"), "{text}");
    }

    #[test]
    fn overridable_paths_are_json_pointers_that_must_be_able_to_match() {
        let with = |entries: &str| {
            DAILY_SALES_REPORT.replace(
                "  /Instances/InstanceGroups/1/InstanceCount: {type: integer, minimum: 1, maximum: 20}\n",
                entries,
            )
        };
        // GIVEN pointers that name what an override can reach THEN the definition passes
        let good = with(
            "  /Instances/InstanceGroups/*/InstanceType: {}\n  /Instances/Ec2KeyName: {type: string}\n  /Configurations/0/Properties/spark.executor.memory: {}\n",
        )
        .replace(
            "  JobFlowRole:",
            "  Configurations: [{Classification: spark-defaults, Properties: {spark.executor.memory: 4g}}]\n  JobFlowRole:",
        );
        let definition = Definition::check("daily-sales-report.yaml", &good).unwrap();
        let tokens: Vec<_> = definition.overridable.iter().map(|o| o.tokens.clone()).collect();
        assert!(tokens.contains(&vec![
            "Configurations".into(),
            "0".into(),
            "Properties".into(),
            "spark.executor.memory".into()
        ]));
        // GIVEN pointers that never match THEN each is refused with the reason
        let bad = with(
            "  /Instances/InstanceGroups/5/InstanceCount: {}\n  /Instances/InstanceGroup/0: {}\n  /ReleaseLabel/x: {}\n  /Configurations/0/Properties/a: {}\n  /a~2b: {}\n",
        );
        let found = texts(&problems("daily-sales-report.yaml", &bad));
        let expect = [
            "overridable./Instances/InstanceGroups/5/InstanceCount: can never match: /Instances/InstanceGroups has 2 elements in the definition, so `5` never exists: overrides change elements, never add them",
            "overridable./Instances/InstanceGroup/0: can never match: `InstanceGroup` is not a member of /Instances in EMR's model; did you mean `InstanceGroups`?",
            "overridable./ReleaseLabel/x: can never match: /ReleaseLabel is a single string value; nothing lies below it",
            "overridable./Configurations/0/Properties/a: can never match: `/Configurations` is not in the definition's job_flow, and an override adds only the last member of a path",
            "overridable./a~2b: `a~2b`: `~` must be written `~0` (and `/` inside a key `~1`)",
        ];
        for line in expect {
            assert!(
                found.iter().any(|f| f.ends_with(line)),
                "missing {line:?} in\n{}",
                found.join("\n")
            );
        }
    }

    #[test]
    fn unknown_keys_in_a_definition_are_errors_with_a_suggestion() {
        let yaml = DAILY_SALES_REPORT.replace("artifacts:", "artefacts:");
        let found = texts(&problems("daily-sales-report.yaml", &yaml));
        assert!(
            found.iter().any(|f| f.ends_with("artefacts: is not a member of this mapping; did you mean `artifacts`?")),
            "{found:?}"
        );
    }

    #[test]
    fn templates_are_parsed_when_the_catalog_is_built() {
        // GIVEN a template that cannot parse, and one whose optional parameter has no value
        let yaml = DAILY_SALES_REPORT
            .replace(
                "\"daily-sales-report {{ day }}\"",
                "\"daily-sales-report {{ day \"",
            )
            .replace(
                "shards: {type: integer, minimum: 1, default: 4}",
                "shards: {type: integer, minimum: 1}",
            );
        // WHEN the definition is checked (no submit) THEN both are its problems
        let found = texts(&problems("daily-sales-report.yaml", &yaml));
        assert!(
            found.iter().any(|f| f.starts_with(
                "15:9: job_flow.Name: template `daily-sales-report {{ day ` does not parse: syntax error"
            )),
            "{}",
            found.join("\n")
        );
        assert!(
            found.iter().any(|f| f.contains("job_flow.Instances.InstanceGroups[1].InstanceCount: template `{{ shards }}`: parameter `shards` may be left out")),
            "{}",
            found.join("\n")
        );
    }

    #[test]
    fn scalars_where_emr_wants_strings_are_taken_as_written() {
        // GIVEN numbers and booleans where EMR's model wants strings
        let yaml = DAILY_SALES_REPORT.replace(
            "  JobFlowRole:",
            "  Configurations:\n    - Classification: hadoop-env\n      Configurations:\n        - {Classification: export, Properties: {HADOOP_HEAPSIZE: 60000}}\n    - {Classification: spark, Properties: {maximizeResourceAllocation: true, spark.memory.fraction: 0.50}}\n  JobFlowRole:",
        );
        // WHEN the catalog is built THEN each is the string the author wrote
        let definition = Definition::check("daily-sales-report.yaml", &yaml).unwrap();
        let configurations = &definition.spec.job_flow["Configurations"];
        assert_eq!(
            configurations[0]["Configurations"][0]["Properties"]["HADOOP_HEAPSIZE"],
            "60000"
        );
        assert_eq!(
            configurations[1]["Properties"]["maximizeResourceAllocation"],
            "true"
        );
        assert_eq!(configurations[1]["Properties"]["spark.memory.fraction"], "0.50");
        assert_eq!(
            definition.spec.steps[1]["spark"]["conf"]["spark.executor.cores"],
            "4"
        );
        // and numbers stay numbers where the model wants numbers
        assert_eq!(
            definition.spec.job_flow["Instances"]["InstanceGroups"][0]["InstanceCount"],
            1
        );
    }
}
