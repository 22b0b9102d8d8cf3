//! Templates, the lowest floor of rendering: the one marker (`{{ … }}`), the MiniJinja
//! environment every definition string is parsed and rendered with, the built-in context, and
//! JSON Pointer paths as callers read them. Used by `job_flow`, `definition` and `render`; it
//! imports none of them.

use chrono::{DateTime, Utc};
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};

use crate::model::FlowId;

/// What rendering needs besides the definition and the caller's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub flow_id: FlowId,
    pub submitted_at: DateTime<Utc>,
    /// The AWS region the cluster runs in (`script` steps use its `script-runner.jar`).
    pub region: String,
    /// The stack's name, tagged on the cluster as `emr-flows:stack`
    /// ([`crate::catalog::job_flow::STACK_TAG`]).
    pub stack: String,
}

/// `("params", "/a/0/b")` → `params.a[0].b` (JSON Pointer, RFC 6901, to a readable path).
pub fn pointer_to_path(root: &str, pointer: &str) -> String {
    let mut path = root.to_owned();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.parse::<usize>().is_ok() {
            path.push_str(&format!("[{token}]"));
        } else {
            path.push('.');
            path.push_str(&token);
        }
    }
    path
}

/// The one template marker: `{{ expression }}` (a MiniJinja expression, so filters work:
/// `{{ domain_id }}`, `{{ day | replace("-", "/") }}`). A string without `{{` is not a template
/// and is used byte for byte; to write a literal `{{` inside a template, write `{{ "{{" }}`.
pub const TEMPLATE_MARKER: &str = "{{";

/// Whether `text` is a template (holds [`TEMPLATE_MARKER`]).
pub fn is_template(text: &str) -> bool {
    text.contains(TEMPLATE_MARKER)
}

/// MiniJinja's block and comment delimiters (`{% %}`, `{# #}`) collide with what authors paste
/// (shell's `${#N}`, `${#PEERS[@]}`), so they are moved to markers no definition holds: a
/// string holding NUL is refused when the catalog is built. Only `{{ }}` remains; whitespace
/// (also a trailing newline) is kept as written.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = SyntaxConfig::builder()
        .variable_delimiters("{{", "}}")
        .block_delimiters("\0{%", "%}")
        .comment_delimiters("\0{#", "#}")
        .keep_trailing_newline(true)
        .build()
        .expect("distinct, non-empty delimiters");
    env.set_syntax(syntax);
    env
}
