//! The SAM template and the code agree: the table's keys and indexes are the ones the store
//! queries, and the functions are the workspace's binaries.

use emr_flows::store::items::ITEM_ATTRIBUTE;
use emr_flows::store::{
    ACTIVE_ATTRIBUTE, ACTIVE_INDEX, ACTIVE_STEPS_INDEX, CLUSTER_INDEX, DEFINITION_INDEX, SUMMARY_ATTRIBUTES,
    SWEEP_AT_ATTRIBUTE,
};
use integration_tests::{root, table_properties};
use serde_json::Value;

fn keys(schema: &Value) -> Vec<(String, String)> {
    (schema.as_array().unwrap().iter())
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> (String, String) {
    (name.to_owned(), kind.to_owned())
}

#[test]
fn the_table_has_the_keys_and_indexes_the_store_uses() {
    let table = table_properties();
    assert_eq!(
        keys(&table["KeySchema"]),
        [pair("flow_id", "HASH"), pair(ITEM_ATTRIBUTE, "RANGE")]
    );
    let index = |name: &str| {
        (table["GlobalSecondaryIndexes"].as_array().unwrap().iter())
            .find(|i| i["IndexName"] == name)
            .unwrap_or_else(|| panic!("template.yaml has no index {name}"))
            .clone()
    };
    assert_eq!(
        keys(&index(CLUSTER_INDEX)["KeySchema"]),
        [pair("cluster_id", "HASH")]
    );
    assert_eq!(
        keys(&index(ACTIVE_INDEX)["KeySchema"]),
        [pair(ACTIVE_ATTRIBUTE, "HASH"), pair("flow_id", "RANGE")]
    );
    assert_eq!(
        keys(&index(DEFINITION_INDEX)["KeySchema"]),
        [pair("flow", "HASH"), pair("flow_id", "RANGE")]
    );
    assert_eq!(
        keys(&index(ACTIVE_STEPS_INDEX)["KeySchema"]),
        [
            pair(emr_flows::store::items::ACTIVE_STEPS_CLUSTER_ATTRIBUTE, "HASH"),
            pair("flow_id", "RANGE")
        ]
    );
    assert_eq!(
        index(ACTIVE_STEPS_INDEX)["Projection"]["ProjectionType"],
        "KEYS_ONLY"
    );
    // Listing returns summaries straight from the indexes (and the sweep reads its due time from
    // the active one): they project those attributes, and no more.
    let projected = |name: &str| {
        let index = index(name);
        assert_eq!(index["Projection"]["ProjectionType"], "INCLUDE", "{name}");
        let mut names: Vec<String> = (index["Projection"]["NonKeyAttributes"].as_array().unwrap().iter())
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        names.extend(keys(&index["KeySchema"]).into_iter().map(|(k, _)| k));
        names.sort();
        names
    };
    let mut active: Vec<String> = SUMMARY_ATTRIBUTES.iter().map(|s| s.to_string()).collect();
    active.extend([
        SWEEP_AT_ATTRIBUTE.to_owned(),
        ACTIVE_ATTRIBUTE.to_owned(),
        "flow_id".to_owned(),
    ]);
    active.sort();
    assert_eq!(projected(ACTIVE_INDEX), active);
    let mut history: Vec<String> = SUMMARY_ATTRIBUTES.iter().map(|s| s.to_string()).collect();
    history.push("flow_id".to_owned());
    history.sort();
    assert_eq!(projected(DEFINITION_INDEX), history);
}

#[test]
fn every_function_builds_a_workspace_binary() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_saphyr::from_str(&text).unwrap();
    let mut binaries: Vec<_> = (template["Resources"].as_object().unwrap().values())
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .map(|r| {
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    binaries.sort();
    let mut folders: Vec<_> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    folders.sort();
    assert_eq!(binaries, folders);
}

#[test]
fn the_http_api_routes_are_the_ones_the_functions_serve() {
    // GIVEN the template's HttpApi events, as (binary, "METHOD /path") pairs
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_saphyr::from_str(&text).unwrap();
    let mut declared: Vec<(String, String)> = Vec::new();
    for resource in template["Resources"].as_object().unwrap().values() {
        let Some(events) = resource["Properties"]["Events"].as_object() else {
            continue;
        };
        for event in events.values().filter(|e| e["Type"] == "HttpApi") {
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap();
            let p = &event["Properties"];
            declared.push((
                binary.to_owned(),
                format!(
                    "{} {}",
                    p["Method"].as_str().unwrap(),
                    p["Path"].as_str().unwrap()
                ),
            ));
        }
    }
    declared.sort();
    // THEN they are exactly the routes emr_flows::api maps, each to the same function
    let mut served: Vec<(String, String)> = (emr_flows::api::ROUTES.iter())
        .map(|(function, route)| (function.binary().to_owned(), (*route).to_owned()))
        .collect();
    served.sort();
    assert_eq!(declared, served);
    // AND every route is signed (AWS_IAM is the API's default authorizer)
    let api = &template["Resources"]["FlowsApi"]["Properties"]["Auth"];
    assert_eq!(api["DefaultAuthorizer"], "AWS_IAM");
}

#[test]
fn on_state_change_gets_the_job_run_events_it_parses_and_submit_passes_roles_only_to_emr_serverless() {
    use emr_flows::targets::serverless::events::{
        JOB_RUN_RETRY, JOB_RUN_STATE_CHANGE, RESOURCE_UTILIZATION_UPDATE, SOURCE,
    };
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_saphyr::from_str(&text).unwrap();
    // GIVEN on-state-change's EventBridge rules
    let events = template["Resources"]["OnStateChangeFunction"]["Properties"]["Events"]
        .as_object()
        .unwrap();
    let rule = (events.values())
        .find(|e| e["Properties"]["Pattern"]["source"][0] == SOURCE)
        .expect("a rule for aws.emr-serverless");
    // THEN the EMR Serverless one sends exactly the detail types the code follows
    let mut types: Vec<&str> = (rule["Properties"]["Pattern"]["detail-type"]
        .as_array()
        .unwrap()
        .iter())
    .map(|t| t.as_str().unwrap())
    .collect();
    types.sort();
    let mut parsed = vec![JOB_RUN_STATE_CHANGE, JOB_RUN_RETRY, RESOURCE_UTILIZATION_UPDATE];
    parsed.sort();
    assert_eq!(types, parsed);
    assert!(
        rule["Properties"]["DeadLetterConfig"].is_object(),
        "undeliverable events are kept"
    );
    // AND submit passes execution roles to EMR Serverless only
    let text =
        serde_json::to_string(&template["Resources"]["SubmitFunction"]["Properties"]["Policies"]).unwrap();
    assert!(
        text.contains("\"iam:PassedToService\":\"emr-serverless.amazonaws.com\""),
        "{text:.400}"
    );
    assert!(text.contains("emr-serverless:StartJobRun"));
}

#[test]
fn on_state_change_gets_the_eks_job_run_events_it_parses_and_submit_starts_runs_only_with_the_eks_roles() {
    use emr_flows::targets::eks::events::{
        CONTAINERS_JOB_RUN_STATE_CHANGE, JOB_RUN_STATE_CHANGE, NEW_DRIVER_ATTEMPT, SOURCE,
    };
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_saphyr::from_str(&text).unwrap();
    // GIVEN on-state-change's EventBridge rules
    let events = template["Resources"]["OnStateChangeFunction"]["Properties"]["Events"]
        .as_object()
        .unwrap();
    let rule = (events.values())
        .find(|e| e["Properties"]["Pattern"]["source"][0] == SOURCE)
        .expect("a rule for aws.emr-containers");
    // THEN the EMR on EKS one sends exactly the detail types the code follows
    let mut types: Vec<&str> = (rule["Properties"]["Pattern"]["detail-type"]
        .as_array()
        .unwrap()
        .iter())
    .map(|t| t.as_str().unwrap())
    .collect();
    types.sort();
    let mut parsed = vec![
        JOB_RUN_STATE_CHANGE,
        CONTAINERS_JOB_RUN_STATE_CHANGE,
        NEW_DRIVER_ATTEMPT,
    ];
    parsed.sort();
    assert_eq!(types, parsed);
    assert!(
        rule["Properties"]["DeadLetterConfig"].is_object(),
        "undeliverable events are kept"
    );
    // AND submit starts job runs only with the execution roles EksExecutionRoleArns names (the
    // condition key EMR on EKS checks), and passes no role to EMR on EKS
    let text =
        serde_json::to_string(&template["Resources"]["SubmitFunction"]["Properties"]["Policies"]).unwrap();
    assert!(
        text.contains("\"emr-containers:ExecutionRoleArn\":\"EksExecutionRoleArns\""),
        "{text:.400}"
    );
    assert!(text.contains("emr-containers:StartJobRun"));
    assert!(!text.contains("emr-containers.amazonaws.com"));
}
