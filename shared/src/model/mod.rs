//! The domain model: ids, flow, cluster and step states, callback targets, the flow record,
//! its deliveries and how an outcome is decided. Pure: no AWS types, no I/O, no clock (every
//! change takes `now`). The adapters (`store`, `emr`, `callback`) convert between these types
//! and the SDKs'; nothing here imports from them.
//!
//! - [`record`]: the flow record and every change a fact can make to it.
//! - [`outcome`]: what EMR's facts (cluster state, reason, steps, our own accepted
//!   termination) mean for a flow: the one outcome rule.
//! - [`job_run`]: EMR Serverless job runs: ids, states, resource figures, the facts about one.
//! - [`eks_job_run`]: EMR on EKS job runs: ids, states, the facts about one.
//! - [`delivery`]: one callback's delivery: claims, attempts and the retry schedule.
//! - [`retry_after`]: a receiver's `Retry-After` (RFC 9110 §10.2.3), parsed and bounded.
//! - [`lambda_function`]: Lambda function names and ARNs as Invoke takes them, checked.
//! - [`target`]: what a flow runs on (an EMR cluster of its own, …), by name.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a validated string id, serialized as its text: `$valid` decides whether a text is
/// one, `$form` says the form in the error and the docs (`` `j-…` ``).
macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $form:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses ", $what, " (", $form, "); anything else is an error naming it.")]
            pub fn parse(s: &str) -> Result<Self, String> {
                let valid: fn(&str) -> bool = $valid;
                if valid(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!(concat!("`{}` is not ", $what, " (", $form, ")"), s))
                }
            }

            /// The id as the service writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

/// EMR's ids: `prefix` and 1 to 64 upper-case letters or digits.
fn emr_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

pub mod delivery;
pub mod eks_job_run;
pub mod job_run;
pub mod lambda_function;
pub mod outcome;
pub mod record;
pub mod retry_after;
pub mod target;

pub use delivery::{AttemptOutcome, Delivery, DeliveryStatus, MAX_DELIVERY_ATTEMPTS};
pub use eks_job_run::{EksJobRunFacts, EksJobRunId, EksJobRunState, VirtualClusterId};
pub use job_run::{ApplicationId, JobRunFacts, JobRunId, JobRunState, ResourceUtilization};
pub use outcome::{
    ClusterFacts, TerminationKind, decide_eks_job_run_outcome, decide_job_run_outcome, decide_outcome,
    decide_steps_outcome,
};
pub use record::*;
pub use target::Target;

/// A flow's id: a ULID (26 Crockford base32 characters), so ids sort by submission time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlowId(ulid::Ulid);

impl FlowId {
    /// A new id for a flow submitted now.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate())
    }

    /// Parses a ULID such as `01JDQ3V4X8M6Z0B1C2D3E4F5G6` in its canonical form (upper case,
    /// at most `7ZZZ…`); anything else is an error naming it, so two spellings never name one
    /// flow.
    pub fn parse(s: &str) -> Result<Self, String> {
        ulid::Ulid::from_string(s)
            .ok()
            .filter(|id| id.to_string() == s)
            .map(Self)
            .ok_or_else(|| {
                format!("`{s}` is not a flow id (a 26-character ULID in upper case, as submit answered it)")
            })
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for FlowId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<FlowId> for String {
    fn from(id: FlowId) -> Self {
        id.to_string()
    }
}

checked_id!(
    /// An EMR cluster id, `j-…` (the same value as the job flow id).
    ClusterId,
    "an EMR cluster id",
    "`j-…`",
    |s| emr_id(s, "j-")
);
checked_id!(
    /// An EMR step id, `s-…`.
    StepId,
    "an EMR step id",
    "`s-…`",
    |s| emr_id(s, "s-")
);

/// Where a flow is in its lifecycle: `PENDING` → `STARTING` → `RUNNING` → one terminal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowStatus {
    /// The record is written; RunJobFlow has not answered yet.
    Pending,
    /// EMR accepted the job flow; the cluster is starting or bootstrapping.
    Starting,
    /// The cluster runs steps.
    Running,
    /// Every step completed and the cluster ended (or waits) without error.
    Succeeded,
    /// A step or the cluster failed, or the cluster never ran.
    Failed,
    /// Terminated on request.
    Cancelled,
    /// Terminated because it outlived the definition's `max_runtime`.
    TimedOut,
}

impl FlowStatus {
    /// All statuses, in lifecycle order.
    pub const ALL: [FlowStatus; 7] = [
        Self::Pending,
        Self::Starting,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::TimedOut,
    ];

    /// The statuses a flow is active in (its cluster may still cost money).
    pub const ACTIVE: [FlowStatus; 3] = [Self::Pending, Self::Starting, Self::Running];

    /// The status as stored and sent (`"RUNNING"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::TimedOut => "TIMED_OUT",
        }
    }

    /// A terminal status is final: nothing moves a flow out of it.
    pub fn is_terminal(self) -> bool {
        !Self::ACTIVE.contains(&self)
    }

    fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Starting => 1,
            Self::Running => 2,
            _ => 3,
        }
    }

    /// The statuses a flow may move to `self` from: strictly earlier, never terminal. A status
    /// never moves backwards, and a duplicate event (the same status again) changes nothing.
    pub fn predecessors(self) -> Vec<FlowStatus> {
        Self::ACTIVE
            .into_iter()
            .filter(|s| s.rank() < self.rank())
            .collect()
    }
}

impl fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An EMR step state, as EMR names it (`StepState` in the EMR API reference). A state EMR adds
/// later is kept as `Other` and never counts as completion.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StepState {
    Pending,
    CancelPending,
    Running,
    Completed,
    Cancelled,
    Failed,
    Interrupted,
    Other(String),
}

impl StepState {
    /// EMR's name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "PENDING",
            Self::CancelPending => "CANCEL_PENDING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
            Self::Interrupted => "INTERRUPTED",
            Self::Other(s) => s,
        }
    }

    /// How far along a step is; states only move forward. Unknown states rank lowest.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Other(_) => 0,
            Self::Pending => 1,
            Self::Running => 2,
            Self::CancelPending => 3,
            Self::Completed | Self::Cancelled | Self::Failed | Self::Interrupted => 4,
        }
    }

    /// `FAILED`, `CANCELLED` or `INTERRUPTED`: the flow cannot succeed.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Interrupted)
    }

    /// Every known state that ranks below `self`: the states a step may move to `self` from.
    pub fn predecessors(&self) -> Vec<StepState> {
        [
            Self::Pending,
            Self::Running,
            Self::CancelPending,
            Self::Completed,
            Self::Cancelled,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .filter(|s| s.rank() < self.rank())
        .collect()
    }
}

impl From<String> for StepState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "PENDING" => Self::Pending,
            "CANCEL_PENDING" => Self::CancelPending,
            "RUNNING" => Self::Running,
            "COMPLETED" => Self::Completed,
            "CANCELLED" => Self::Cancelled,
            "FAILED" => Self::Failed,
            "INTERRUPTED" => Self::Interrupted,
            _ => Self::Other(s),
        }
    }
}

impl From<StepState> for String {
    fn from(s: StepState) -> Self {
        s.as_str().to_owned()
    }
}

/// An EMR cluster state (`ClusterState` in the EMR API reference). A state EMR adds later (or
/// one the product does not follow, such as `CREATING`) is kept as `Other`: it ranks below
/// every known state, so it never outranks one, and never ends a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ClusterState {
    Starting,
    Bootstrapping,
    Running,
    Waiting,
    Terminating,
    Terminated,
    TerminatedWithErrors,
    Other(String),
}

impl ClusterState {
    /// EMR's name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Starting => "STARTING",
            Self::Bootstrapping => "BOOTSTRAPPING",
            Self::Running => "RUNNING",
            Self::Waiting => "WAITING",
            Self::Terminating => "TERMINATING",
            Self::Terminated => "TERMINATED",
            Self::TerminatedWithErrors => "TERMINATED_WITH_ERRORS",
            Self::Other(s) => s,
        }
    }

    /// How far along a cluster is. `RUNNING` and `WAITING` alternate, so they rank alike;
    /// unknown states rank lowest.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Other(_) => 0,
            Self::Starting => 1,
            Self::Bootstrapping => 2,
            Self::Running | Self::Waiting => 3,
            Self::Terminating => 4,
            Self::Terminated | Self::TerminatedWithErrors => 5,
        }
    }

    /// `TERMINATED` or `TERMINATED_WITH_ERRORS`: the cluster is gone and costs nothing more.
    pub fn is_ended(&self) -> bool {
        matches!(self, Self::Terminated | Self::TerminatedWithErrors)
    }
}

impl From<String> for ClusterState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "STARTING" => Self::Starting,
            "BOOTSTRAPPING" => Self::Bootstrapping,
            "RUNNING" => Self::Running,
            "WAITING" => Self::Waiting,
            "TERMINATING" => Self::Terminating,
            "TERMINATED" => Self::Terminated,
            "TERMINATED_WITH_ERRORS" => Self::TerminatedWithErrors,
            _ => Self::Other(s),
        }
    }
}

impl From<&str> for ClusterState {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl From<ClusterState> for String {
    fn from(s: ClusterState) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A callback target, as callers and definitions write it:
/// `{"lambda": "<function ARN or name>"}` or `{"http": {"url": "https://…", "headers": {…}}}`.
/// Checked by [`crate::callback::CallbackPolicy`]; kept here because the flow record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum CallbackTarget {
    Lambda(String),
    Http(HttpTarget),
}

/// An HTTPS endpoint and extra headers to send it (for example an API key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTarget {
    pub url: String,
    /// Header name → its value, given as is or as a Secrets Manager reference.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderValue>,
}

/// A callback header's value, as callers and definitions write it: a string sent as it is
/// (`"x-api-key": "k"`), or a reference to a Secrets Manager secret whose current
/// `SecretString` is sent (`"x-api-key": {"secret": "arn:aws:secretsmanager:…:secret:NAME-AbCdEf"}`),
/// read at delivery. The record keeps the reference, never the value; which secrets may be
/// named, and where their values may be sent, is `crate::callback`'s policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HeaderValue {
    Literal(String),
    Secret(SecretRef),
}

/// `{"secret": "<Secrets Manager secret ARN>"}`: a header value read from Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
}

impl From<&str> for HeaderValue {
    fn from(value: &str) -> Self {
        Self::Literal(value.to_owned())
    }
}

impl From<String> for HeaderValue {
    fn from(value: String) -> Self {
        Self::Literal(value)
    }
}

impl<'de> Deserialize<'de> for HeaderValue {
    /// A string, or an object read as [`SecretRef`] (its problems named under the header's
    /// path: `headers.x-api-key.secret`), never "matches none of the allowed forms".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = HeaderValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a string, or {"secret": "<Secrets Manager secret ARN>"}"#)
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<HeaderValue, E> {
                Ok(HeaderValue::Literal(value.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, value: String) -> Result<HeaderValue, E> {
                Ok(HeaderValue::Literal(value))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<HeaderValue, A::Error> {
                SecretRef::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(HeaderValue::Secret)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), with `…` when cut: keeps
/// strings from outside (EMR's messages, HTTP errors, callers' reasons) from growing a record
/// without bound.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_never_moves_backwards_and_terminal_is_final() {
        assert_eq!(FlowStatus::Pending.predecessors(), vec![]);
        assert_eq!(FlowStatus::Starting.predecessors(), vec![FlowStatus::Pending]);
        assert_eq!(
            FlowStatus::Running.predecessors(),
            vec![FlowStatus::Pending, FlowStatus::Starting]
        );
        for terminal in [
            FlowStatus::Succeeded,
            FlowStatus::Failed,
            FlowStatus::Cancelled,
            FlowStatus::TimedOut,
        ] {
            assert_eq!(terminal.predecessors(), FlowStatus::ACTIVE.to_vec(), "{terminal}");
            assert!(terminal.is_terminal());
        }
        for s in FlowStatus::ALL {
            assert!(!s.predecessors().contains(&s), "{s} may not follow itself");
            assert!(s.predecessors().iter().all(|p| !p.is_terminal()));
        }
        assert!(FlowStatus::ACTIVE.iter().all(|s| !s.is_terminal()));
    }

    #[test]
    fn statuses_are_written_as_emr_style_words() {
        // The text feeds the record, the answers and the `webhook-id`.
        let words: Vec<_> = FlowStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            words,
            [
                "PENDING",
                "STARTING",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                "TIMED_OUT"
            ]
        );
        for s in FlowStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(
                serde_json::from_value::<FlowStatus>(s.as_str().into()).unwrap(),
                s
            );
        }
    }

    #[test]
    fn step_states_read_back_as_themselves_and_only_move_forward() {
        let known = [
            (StepState::Pending, "PENDING"),
            (StepState::CancelPending, "CANCEL_PENDING"),
            (StepState::Running, "RUNNING"),
            (StepState::Completed, "COMPLETED"),
            (StepState::Cancelled, "CANCELLED"),
            (StepState::Failed, "FAILED"),
            (StepState::Interrupted, "INTERRUPTED"),
        ];
        for (state, word) in &known {
            assert_eq!(state.as_str(), *word);
            assert_eq!(StepState::from(word.to_string()), *state);
            assert_eq!(String::from(state.clone()), *word);
            assert_eq!(serde_json::to_value(state).unwrap(), *word);
        }
        assert_eq!(
            StepState::from("NEW_STATE".to_owned()),
            StepState::Other("NEW_STATE".into())
        );
        assert_eq!(StepState::Other("NEW_STATE".into()).as_str(), "NEW_STATE");
        // PENDING → RUNNING → CANCEL_PENDING → an ending; unknown states rank lowest.
        let ranks: Vec<_> = known.iter().map(|(s, _)| s.rank()).collect();
        assert_eq!(ranks, [1, 3, 2, 4, 4, 4, 4]);
        assert_eq!(StepState::from("NEW_STATE".to_owned()).rank(), 0);
        assert!(StepState::Completed.predecessors().contains(&StepState::Running));
        assert!(!StepState::Running.predecessors().contains(&StepState::Completed));
        assert_eq!(StepState::Running.predecessors(), [StepState::Pending]);
        assert_eq!(StepState::Pending.predecessors(), []);
        let failures: Vec<_> = known
            .iter()
            .filter(|(s, _)| s.is_failure())
            .map(|(_, w)| *w)
            .collect();
        assert_eq!(failures, ["CANCELLED", "FAILED", "INTERRUPTED"]);
    }

    #[test]
    fn ids_are_validated_and_written_as_given() {
        assert!(ClusterId::parse("j-1Y4W9F10RFJO6").is_ok());
        assert!(ClusterId::parse("s-1Y4W9F10RFJO6").is_err());
        assert!(ClusterId::parse("j-").is_err());
        assert!(ClusterId::parse("j-abc").is_err());
        assert!(ClusterId::parse(&format!("j-{}", "A".repeat(64))).is_ok());
        assert!(ClusterId::parse(&format!("j-{}", "A".repeat(65))).is_err());
        assert!(StepId::parse("s-ZYXWVUTSRQPON").is_ok());
        let step = StepId::parse("s-ZYXWVUTSRQPON").unwrap();
        assert_eq!(step.as_str(), "s-ZYXWVUTSRQPON");
        assert_eq!(step.to_string(), "s-ZYXWVUTSRQPON");
        assert_eq!(serde_json::to_value(&step).unwrap(), "s-ZYXWVUTSRQPON");
        assert!(serde_json::from_value::<StepId>("x-1".into()).is_err());
        assert!(FlowId::parse("not-a-ulid").unwrap_err().contains("not-a-ulid"));
        // Overflowing and lower-case spellings are not other names for a flow.
        assert!(FlowId::parse("81M8KAS44QGDYGCRPAA1S0HDSF").is_err());
        assert!(FlowId::parse("ZZZZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
        assert!(FlowId::parse("01m8kas44qgdygcrpaa1s0hdsf").is_err());
        let id = FlowId::generate();
        assert_eq!(FlowId::parse(&id.to_string()), Ok(id));
        assert_eq!(id.to_string().len(), 26);
        assert_eq!(serde_json::to_value(id).unwrap(), id.to_string());
        assert_eq!(String::from(id), id.to_string());
    }

    #[test]
    fn cluster_states_are_written_as_emr_writes_them() {
        for s in ["STARTING", "WAITING", "TERMINATED_WITH_ERRORS", "CREATING"] {
            assert_eq!(ClusterState::from(s).to_string(), s);
            assert_eq!(String::from(ClusterState::from(s)), s);
        }
    }

    #[test]
    fn outside_strings_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("abcdefghij", 10), "abcdefghij");
        let cut = bounded("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with('…'), "{cut}");
        assert_eq!(bounded("abcdefghijk", 10), "abcdefg…");
    }
}
