//! Flow events: every status change of a flow published to EventBridge (moto's) and carried by
//! a rule to an SQS queue, once per change, through the real binaries; a publication that
//! fails is recorded and the sweep publishes it later, never holding the flow up.

use std::time::Duration;

use emr_flows::aws::eventbridge::{DETAIL_TYPE, EventBridge, SOURCE};
use emr_flows::callback::FLOW_EVENT_KIND;
use emr_flows::model::{DeliveryStatus, FlowStatus};
use emr_flows::ops;
use integration_tests::functions::Functions;
use integration_tests::world::{MOTO, world};
use integration_tests::{Moto, create_table, unique_table};
use serde_json::{Value, json};

/// A rule on `bus` (created unless it is `default`) matching every flow event, delivering to a
/// new SQS queue: the queue's URL.
async fn rule_to_queue(sdk: &aws_config::SdkConfig, bus: &str) -> String {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let name = unique_table("flow-events");
    if bus != "default" {
        events.create_event_bus().name(bus).send().await.unwrap();
    }
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}");
    events
        .put_rule()
        .name(&name)
        .event_bus_name(bus)
        .event_pattern(json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&name)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    queue_url
}

/// Every event the queue holds now, oldest first.
async fn drain(sdk: &aws_config::SdkConfig, queue_url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut events = Vec::new();
    loop {
        let output = (sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10))
        .send()
        .await
        .unwrap();
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return events;
        }
        for message in messages {
            events.push(serde_json::from_str(message.body().unwrap()).unwrap());
            let handle = message.receipt_handle().unwrap();
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
}

fn statuses(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["detail"]["status"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_status_change_reaches_a_rule_once_through_the_real_binaries() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("flow-events");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let queue = rule_to_queue(&sdk, "default").await;
    let functions = Functions::start(&moto.endpoint, &table, &[("FLOW_EVENT_BUS", "default")]).await;

    let submitted = functions
        .invoke("submit", &json!({"flow": "spark-pi"}))
        .await
        .unwrap();
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let cluster_id = submitted["cluster_id"].as_str().unwrap().to_owned();
    let step_id = functions.step_id(&flow_id).await;
    assert_eq!(
        statuses(&drain(&sdk, &queue).await),
        ["STARTING"],
        "published by submit"
    );

    // EMR's events, twice over: a duplicate changes nothing, so publishes nothing.
    functions.drive("lifecycle-success", &cluster_id, &step_id).await;
    functions.drive("lifecycle-success", &cluster_id, &step_id).await;
    let events = drain(&sdk, &queue).await;
    assert_eq!(statuses(&events), ["RUNNING", "SUCCEEDED"]);
    for event in &events {
        assert_eq!(
            (event["source"].as_str(), event["detail-type"].as_str()),
            (Some(SOURCE), Some(DETAIL_TYPE))
        );
        assert_eq!(event["detail"]["type"], FLOW_EVENT_KIND);
        assert_eq!(event["detail"]["flow_id"], flow_id.as_str());
        assert_eq!(event["detail"]["target"], "cluster");
    }
    let ended = &events[1]["detail"];
    assert_eq!(ended["cluster_id"], cluster_id.as_str());
    assert_eq!(ended["steps"][0]["state"], "COMPLETED", "{ended}");
    assert!(ended["ended_at"].is_string(), "{ended}");

    // The record says what was published, once each.
    let record = functions.record(&flow_id).await;
    let published = record["flow_events"].as_object().unwrap();
    assert_eq!(
        published.keys().collect::<Vec<_>>(),
        ["RUNNING", "STARTING", "SUCCEEDED"]
    );
    for (status, event) in published {
        assert_eq!(
            (event["status"].as_str(), event["attempts"].as_u64()),
            (Some("DELIVERED"), Some(1)),
            "{status}"
        );
    }
    assert!(drain(&sdk, &queue).await.is_empty());
}

#[tokio::test]
async fn a_failed_publication_is_recorded_and_the_sweep_publishes_it_later() {
    let mut w = world().await;
    let sdk = MOTO.get().unwrap().sdk().await;
    // GIVEN a stack whose bus does not exist (yet)
    let bus = unique_table("flows-bus");
    w.submitter.services.events = EventBridge::new(aws_sdk_eventbridge::Client::new(&sdk), Some(bus.clone()));

    // WHEN a flow is submitted: it launches all the same, its STARTING event recorded as failed
    let submitted = ops::submit(&w.submitter, json!({"flow": "spark-pi"}))
        .await
        .unwrap();
    let ops::SubmitAnswer::Launched(launched) = submitted else {
        panic!("a launch answered a dry run")
    };
    assert_eq!(launched.status, FlowStatus::Starting);
    let record = w.svc().store.read(launched.flow_id).await.unwrap().record;
    let starting = &record.flow_events["STARTING"];
    assert_eq!((starting.status, starting.attempts), (DeliveryStatus::Pending, 1));
    assert!(
        starting
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("PutEvents failed"),
        "{starting:?}"
    );
    assert_eq!(record.event_bus.as_deref(), Some(bus.as_str()));

    // THEN once the bus exists, the sweep publishes it when its retry is due, and not before
    let queue = rule_to_queue(&sdk, &bus).await;
    ops::sweep(w.svc(), Duration::from_secs(20)).await.unwrap();
    assert!(drain(&sdk, &queue).await.is_empty(), "not due yet");
    w.clock.advance(chrono::Duration::seconds(61));
    ops::sweep(w.svc(), Duration::from_secs(20)).await.unwrap();
    let events = drain(&sdk, &queue).await;
    assert_eq!(statuses(&events), ["STARTING"]);
    assert_eq!(events[0]["detail"]["flow_id"], launched.flow_id.to_string());
    let record = w.svc().store.read(launched.flow_id).await.unwrap().record;
    let starting = &record.flow_events["STARTING"];
    assert_eq!(
        (starting.status, starting.attempts),
        (DeliveryStatus::Delivered, 2)
    );
    assert_eq!(starting.history.len(), 2);
}
