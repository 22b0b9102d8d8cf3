//! How a flow record is laid out in the table: the flow item (`item = "flow"`), holding
//! everything but the steps, with the attributes the conditions and indexes need (`version`,
//! `active`, `sweep_at`, `cluster_rank`); and one step item per step (`item = "step#s-…"`,
//! with `rank`: its state's [`StepState::rank`]). Conversions between the record and the items
//! live only here.
//!
//! A step flow's cluster is shared, so its flow item keeps the cluster as `steps_cluster_id`,
//! never as `cluster_id` (the by-cluster-id index finds the one flow a cluster belongs to), and
//! `active_steps_cluster` (the same id) while the flow is active: the sparse index behind
//! [`super::ACTIVE_STEPS_INDEX`] then lists only the unfinished step flows of a cluster, however
//! many ended there before. A job-run flow's item keeps its run's id as `job_run_id` too, for
//! the listing indexes to project.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{
    ACTIVE_ATTRIBUTE, ACTIVE_VALUE, SETTLING_VALUE, SWEEP_AT_ATTRIBUTE, VERSION_ATTRIBUTE, Versioned,
    corrupt, timestamp,
};
use crate::error::Error;
use crate::model::{FlowId, FlowRecord, StepId, StepRecord, StepState, Target};

/// The sort key attribute.
pub const ITEM_ATTRIBUTE: &str = "item";
/// The sort key of a flow item.
pub const FLOW_ITEM: &str = "flow";
/// The sort key prefix of step items.
pub const STEP_PREFIX: &str = "step#";
/// A step item's [`StepState::rank`]; the flow item's `cluster_rank` is its
/// [`crate::model::ClusterState::rank`].
pub const RANK_ATTRIBUTE: &str = "rank";
pub const CLUSTER_RANK_ATTRIBUTE: &str = "cluster_rank";
/// A step flow's (shared) cluster on its flow item.
pub const STEPS_CLUSTER_ATTRIBUTE: &str = "steps_cluster_id";
/// A step flow's cluster while the flow is active (sparse): the key of
/// [`super::ACTIVE_STEPS_INDEX`].
pub const ACTIVE_STEPS_CLUSTER_ATTRIBUTE: &str = "active_steps_cluster";
/// A job-run flow's run id (EMR Serverless' or EMR on EKS'), once known, beside the record's
/// own copy inside its run: the listing indexes project top-level attributes only.
pub const JOB_RUN_ID_ATTRIBUTE: &str = "job_run_id";

/// The flow item of `record` at `version`: the record without its steps.
pub fn flow_item(record: &FlowRecord, version: u64) -> Result<HashMap<String, AttributeValue>, Error> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(record).map_err(|e| Error::Internal(format!("flow record: {e}")))?;
    item.remove("steps");
    if record.target == Target::Steps
        && let Some(cluster) = item.remove("cluster_id")
    {
        if !record.status.is_terminal() {
            item.insert(ACTIVE_STEPS_CLUSTER_ATTRIBUTE.into(), cluster.clone());
        }
        item.insert(STEPS_CLUSTER_ATTRIBUTE.into(), cluster);
    }
    if let Some(id) = record.any_job_run_id() {
        item.insert(JOB_RUN_ID_ATTRIBUTE.into(), AttributeValue::S(id.to_owned()));
    }
    item.insert(ITEM_ATTRIBUTE.into(), AttributeValue::S(FLOW_ITEM.into()));
    item.insert(VERSION_ATTRIBUTE.into(), AttributeValue::N(version.to_string()));
    if let Some(state) = &record.cluster_state {
        item.insert(
            CLUSTER_RANK_ATTRIBUTE.into(),
            AttributeValue::N(state.rank().to_string()),
        );
    }
    let sweep_at = record.next_sweep_at();
    if !record.status.is_terminal() {
        item.insert(ACTIVE_ATTRIBUTE.into(), AttributeValue::S(ACTIVE_VALUE.into()));
    } else if sweep_at.is_some() {
        item.insert(ACTIVE_ATTRIBUTE.into(), AttributeValue::S(SETTLING_VALUE.into()));
    }
    if let Some(at) = sweep_at {
        item.insert(SWEEP_AT_ATTRIBUTE.into(), AttributeValue::S(timestamp(at)));
    }
    Ok(item)
}

/// The item of step `id` of flow `flow_id`.
pub fn step_item(flow_id: FlowId, id: &StepId, step: &StepRecord) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("flow_id".to_owned(), AttributeValue::S(flow_id.to_string())),
        (ITEM_ATTRIBUTE.to_owned(), AttributeValue::S(step_key(id))),
        ("index".to_owned(), AttributeValue::N(step.index.to_string())),
        ("name".to_owned(), AttributeValue::S(step.name.clone())),
        (
            "state".to_owned(),
            AttributeValue::S(step.state.as_str().to_owned()),
        ),
        (
            RANK_ATTRIBUTE.to_owned(),
            AttributeValue::N(step.state.rank().to_string()),
        ),
        (
            "updated_at".to_owned(),
            AttributeValue::S(timestamp(step.updated_at)),
        ),
    ])
}

/// The sort key of step `id`.
pub fn step_key(id: &StepId) -> String {
    format!("{STEP_PREFIX}{id}")
}

/// The record from its flow item and step items.
pub fn versioned(
    mut flow: HashMap<String, AttributeValue>,
    steps: Vec<HashMap<String, AttributeValue>>,
) -> Result<Versioned, Error> {
    let version = match flow.get(VERSION_ATTRIBUTE) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::Internal("flow record has no version".into()))?;
    let sweep_at = flow
        .get(SWEEP_AT_ATTRIBUTE)
        .and_then(|v| v.as_s().ok())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    if let Some(cluster) = flow.remove(STEPS_CLUSTER_ATTRIBUTE) {
        flow.insert("cluster_id".into(), cluster);
    }
    flow.remove(JOB_RUN_ID_ATTRIBUTE);
    let mut record: FlowRecord = serde_dynamo::from_item(flow).map_err(corrupt)?;
    for item in steps {
        let (id, step) = step_record(&item)?;
        record.steps.insert(id, step);
    }
    Ok(Versioned {
        record,
        version,
        sweep_at,
    })
}

fn step_record(item: &HashMap<String, AttributeValue>) -> Result<(StepId, StepRecord), Error> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let bad = || Error::Internal(format!("a step item does not match the model: {item:?}"));
    let id = text(ITEM_ATTRIBUTE)
        .and_then(|k| k.strip_prefix(STEP_PREFIX))
        .and_then(|id| StepId::parse(id).ok())
        .ok_or_else(bad)?;
    let index = item
        .get("index")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    let updated_at = text("updated_at")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)?;
    let step = StepRecord {
        index,
        name: text("name").cloned().unwrap_or_default(),
        state: StepState::from(text("state").cloned().unwrap_or_default()),
        updated_at,
    };
    Ok((id, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_item_reads_back_as_the_step() {
        let flow_id = FlowId::generate();
        let id = StepId::parse("s-ABC").unwrap();
        let step = StepRecord {
            index: 3,
            name: "SparkPi".into(),
            state: StepState::Completed,
            updated_at: "2026-11-29T12:00:00.123Z".parse().unwrap(),
        };
        let item = step_item(flow_id, &id, &step);
        assert_eq!(item[ITEM_ATTRIBUTE].as_s().unwrap(), "step#s-ABC");
        assert_eq!(
            item[RANK_ATTRIBUTE].as_n().unwrap(),
            &StepState::Completed.rank().to_string()
        );
        assert_eq!(step_record(&item).unwrap(), (id, step));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::model::{
        AttemptOutcome, CallbackTarget, ClusterFacts, ClusterId, HttpTarget, ListedStep,
        MAX_DELIVERY_ATTEMPTS, MAX_EXTRA_CLUSTERS, MAX_MESSAGE_BYTES, MAX_PROBABLE_CAUSE_BYTES,
        TerminationKind,
    };
    use crate::store::{MAX_ITEM_BYTES, item_size};

    fn record(params_bytes: usize, callbacks: usize) -> FlowRecord {
        let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        let url = format!("https://hooks.example.com/{}", "u".repeat(2000));
        let headers = (0..20)
            .map(|i| (format!("x-h{i}"), "v".repeat(2048).into()))
            .collect();
        FlowRecord {
            request_digest: format!("sha256:{}", "0".repeat(64)),
            params: serde_json::json!({"blob": "p".repeat(params_bytes)}),
            callbacks: (0..callbacks)
                .map(|_| {
                    CallbackTarget::Http(HttpTarget {
                        url: url.clone(),
                        headers: Default::default(),
                    })
                })
                .chain((callbacks > 0).then(|| {
                    CallbackTarget::Http(HttpTarget {
                        url: url.clone(),
                        headers,
                    })
                }))
                .collect(),
            idempotency_key: Some("k".repeat(255)),
            ..FlowRecord::pending(FlowId::generate(), "spark-pi", "1", &"c".repeat(256), now)
        }
    }

    fn size(record: &FlowRecord) -> usize {
        item_size(&flow_item(record, 1).unwrap())
    }

    #[test]
    fn the_flow_item_does_not_grow_with_steps() {
        let steps = |n: usize| -> Vec<ListedStep> {
            (0..n)
                .map(|i| ListedStep {
                    id: StepId::parse(&format!("s-{i:013}")).unwrap(),
                    name: format!("step {i}"),
                    state: StepState::Running,
                })
                .collect()
        };
        let cluster = ClusterId::parse("j-ABCDEFGHIJKLM").unwrap();
        let sized = |n| {
            let mut r = record(0, 1);
            r.started(&cluster, &steps(n), r.submitted_at);
            size(&r)
        };
        assert_eq!(sized(1), sized(256), "steps live in their own items");
        let step = StepRecord {
            index: 255,
            name: "n".repeat(256),
            state: StepState::CancelPending,
            updated_at: "2026-11-29T12:00:00Z".parse().unwrap(),
        };
        assert!(
            item_size(&step_item(
                FlowId::generate(),
                &StepId::parse("s-ABCDEFGHIJKLM").unwrap(),
                &step
            )) < 1024
        );
    }

    #[test]
    fn no_write_can_make_a_record_too_large_to_write() {
        // GIVEN the largest record submit accepts, with the most callbacks and headers
        let mut r = record(0, crate::callback::MAX_CALLBACKS - 1);
        let room = crate::ops::submit::MAX_RECORD_BYTES - size(&r);
        r = record(room - 64, crate::callback::MAX_CALLBACKS - 1);
        assert!(size(&r) <= crate::ops::submit::MAX_RECORD_BYTES);
        // WHEN everything that can grow grows to its bound
        let now = r.submitted_at;
        let long = "e".repeat(100_000);
        let cluster = ClusterId::parse("j-ABCDEFGHIJKLM").unwrap();
        r.launch_uncertain(&long, now);
        r.started(&cluster, &[], now);
        for i in 0..MAX_EXTRA_CLUSTERS {
            let extra = ClusterId::parse(&format!("j-EXTRA{i:08}")).unwrap();
            r.note_extra_cluster(&extra, now);
            r.extra_cluster_terminated(&extra, Err(long.clone()), now);
        }
        r.request_termination(TerminationKind::Cancel, Some("r".repeat(1024)), now);
        r.termination_attempted(Err(long.clone()), now);
        let mut facts = ClusterFacts::new(
            "TERMINATED_WITH_ERRORS".into(),
            Some("STEP_FAILURE".into()),
            Some(long.clone()),
        );
        facts.steps = Some(vec![ListedStep {
            id: StepId::parse("s-ABCDEFGHIJKLM").unwrap(),
            name: "n".repeat(256),
            state: StepState::Failed,
        }]);
        r.apply_cluster(&facts, now);
        let details = crate::model::StepFailureDetails {
            reason: Some("x".repeat(MAX_MESSAGE_BYTES)),
            message: Some("x".repeat(MAX_MESSAGE_BYTES)),
            log_file: Some("x".repeat(MAX_MESSAGE_BYTES)),
        };
        r.add_cause(
            &StepId::parse("s-ABCDEFGHIJKLM").unwrap(),
            Some(details),
            Some("l".repeat(10 * MAX_PROBABLE_CAUSE_BYTES)),
            now,
        );
        let mut at = now;
        for _ in 0..MAX_DELIVERY_ATTEMPTS {
            for (key, attempt) in r.claim_deliveries(at) {
                let outcome = AttemptOutcome::Failed {
                    http_status: Some(503),
                    error: long.clone(),
                };
                r.record_delivery(&key, attempt, &outcome, at);
            }
            at += chrono::Duration::days(1);
        }
        // THEN the flow item still fits a DynamoDB item
        assert!(r.deliveries.values().all(|d| d.attempts == MAX_DELIVERY_ATTEMPTS));
        let grown = size(&r);
        assert!(grown < MAX_ITEM_BYTES, "{grown} bytes");
    }
}
