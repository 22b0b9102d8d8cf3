use super::*;

fn event(route: &str, path: &[(&str, &str)], query: &str, body: Option<&str>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": "/x",
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "pathParameters": path.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>(),
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r", "routeKey": route, "stage": "$default",
            "time": "29/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_000_000_000_i64,
            "http": {"method": route.split(' ').next().unwrap(), "path": "/x",
                     "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"}
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn parsed(value: Value) -> ApiGatewayV2httpRequest {
    match Invocation::classify(value).unwrap() {
        Invocation::Http(event) => *event,
        Invocation::Direct(_) => panic!("an API event was taken for a direct payload"),
    }
}

#[test]
fn routes_become_the_operations_requests() {
    let id = "01JDQ3V4X8M6Z0B1C2D3E4F5G6";
    let cases = [
        (
            Function::Submit,
            event("POST /flows", &[], "", Some(r#"{"flow":"spark-pi"}"#)),
            json!({"flow": "spark-pi"}),
        ),
        (
            Function::List,
            event("GET /flows", &[], "status=active&limit=5", None),
            json!({"status": "active", "limit": 5}),
        ),
        (
            Function::List,
            event("GET /flows", &[], "flow=spark-pi&next_token=x%2By", None),
            json!({"flow": "spark-pi", "next_token": "x+y"}),
        ),
        (
            Function::List,
            event("GET /flows/{flow_id}", &[("flow_id", id)], "", None),
            json!({"flow_id": id}),
        ),
        (
            Function::List,
            event("GET /definitions", &[], "", None),
            json!({"definitions": true}),
        ),
        (
            Function::List,
            event("GET /signing-keys", &[], "", None),
            json!({"signing_keys": true}),
        ),
        (
            Function::Terminate,
            event("POST /flows/{flow_id}/terminate", &[("flow_id", id)], "", None),
            json!({"flow_id": id}),
        ),
        (
            Function::Terminate,
            event(
                "POST /flows/{flow_id}/terminate",
                &[("flow_id", id)],
                "",
                Some(r#"{"reason":"r"}"#),
            ),
            json!({"flow_id": id, "reason": "r"}),
        ),
    ];
    for (function, event, expected) in cases {
        assert_eq!(request_for(function, &parsed(event)).unwrap(), expected);
    }
}

#[test]
fn bad_http_input_is_a_caller_error_with_its_status() {
    let id = "01JDQ3V4X8M6Z0B1C2D3E4F5G6";
    let big = format!(r#"{{"flow":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let cases = [
        (Function::Submit, event("POST /flows", &[], "", None), 400, "body"),
        (
            Function::Submit,
            event("POST /flows", &[], "", Some("[1]")),
            400,
            "body",
        ),
        (
            Function::Submit,
            event("POST /flows", &[], "", Some("{")),
            400,
            "body",
        ),
        (
            Function::Submit,
            event("POST /flows", &[], "", Some(&big)),
            413,
            "",
        ),
        (
            Function::List,
            event("GET /flows", &[], "limit=ten", None),
            400,
            "limit",
        ),
        (
            Function::List,
            event("GET /flows", &[], "flow=a&flow=b", None),
            400,
            "flow",
        ),
        (Function::Submit, event("GET /flows", &[], "", None), 400, "route"),
        (
            Function::Terminate,
            event(
                "POST /flows/{flow_id}/terminate",
                &[("flow_id", id)],
                "",
                Some(r#"{"flow_id":"01JDQ3V4X8M6Z0B1C2D3E4F5G7"}"#),
            ),
            400,
            "flow_id",
        ),
    ];
    for (function, event, status, path) in cases {
        let error = request_for(function, &parsed(event)).unwrap_err();
        assert_eq!(error.http_status(), status, "{error}");
        if let Error::Validation(problems) = &error {
            assert_eq!(problems[0].path, path);
        }
    }
}

#[test]
fn every_declared_route_is_served_by_its_function_only() {
    let id = "01JDQ3V4X8M6Z0B1C2D3E4F5G6";
    for (function, route) in ROUTES {
        let body = route.starts_with("POST").then_some("{}");
        let e = parsed(event(route, &[("flow_id", id)], "", body));
        assert!(request_for(function, &e).is_ok(), "{route}");
        for other in [
            Function::Submit,
            Function::List,
            Function::Terminate,
            Function::OnStateChange,
        ] {
            if other != function {
                assert!(request_for(other, &e).is_err(), "{route} served by {other:?}");
            }
        }
    }
}

#[test]
fn base64_bodies_are_decoded() {
    let mut value = event("POST /flows", &[], "", None);
    value["body"] = json!(base64::engine::general_purpose::STANDARD.encode(r#"{"flow":"f"}"#));
    value["isBase64Encoded"] = json!(true);
    assert_eq!(
        request_for(Function::Submit, &parsed(value)).unwrap(),
        json!({"flow": "f"})
    );
}

#[test]
fn direct_payloads_are_not_taken_for_api_events() {
    for payload in [
        json!({"flow": "spark-pi"}),
        json!({"version": "0", "detail-type": "x"}),
        json!([1]),
    ] {
        assert!(matches!(Invocation::classify(payload), Ok(Invocation::Direct(_))));
    }
}

#[tokio::test]
async fn answers_and_errors_carry_the_same_documents_either_way() {
    let ok = |_request: Value, _budget: Duration| async { Ok::<_, Error>(json!({"flow_id": "f"})) };
    let refused =
        |_request: Value, _budget: Duration| async { Err::<Value, _>(Error::FlowNotFound("f".into())) };
    let budget = Duration::from_secs(1);
    // GIVEN a direct invoke WHEN it succeeds THEN the answer is the document itself
    assert_eq!(
        handle(Function::List, json!({"flow_id": "f"}), budget, ok)
            .await
            .unwrap(),
        json!({"flow_id": "f"})
    );
    // AND an error is the function error
    let error = handle(Function::List, json!({}), budget, refused)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "FlowNotFound");
    // GIVEN an API event WHEN it succeeds THEN 200 with the same document as JSON text
    let http = handle(
        Function::List,
        event("GET /definitions", &[], "", None),
        budget,
        ok,
    )
    .await
    .unwrap();
    assert_eq!(http["statusCode"], 200);
    assert_eq!(http["headers"]["content-type"], "application/json");
    let body: Value = serde_json::from_str(http["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"flow_id": "f"}));
    // AND an error is its status with the error document
    let http = handle(
        Function::List,
        event("GET /definitions", &[], "", None),
        budget,
        refused,
    )
    .await
    .unwrap();
    assert_eq!(http["statusCode"], 404);
    assert_eq!(http["headers"]["x-amzn-errortype"], "FlowNotFound");
    let body: Value = serde_json::from_str(http["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, Error::FlowNotFound("f".into()).to_document());
}

#[test]
fn destination_records_are_unwrapped_to_their_event() {
    let event =
        json!({"version": "0", "source": "aws.emr", "detail-type": "EMR Step Status Change", "detail": {}});
    let record = json!({
        "version": "1.0", "timestamp": "2026-11-29T10:00:00.000Z",
        "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "UpstreamError", "errorMessage": "x"}
    });
    assert_eq!(redriven(record), event);
    // AND events themselves, replayed or not, are left as they are
    let mut replayed = event.clone();
    replayed["replay-name"] = json!("emr-flows-replay");
    assert_eq!(redriven(replayed.clone()), replayed);
    assert_eq!(
        redriven(json!({"requestPayload": 1})),
        json!({"requestPayload": 1})
    );
}

#[test]
fn start_up_failures_print_their_message() {
    let startup = Startup::from(Error::Internal(
        "environment variable TABLE_NAME is not set".into(),
    ));
    assert_eq!(
        format!("Error: {startup:?}"),
        "Error: internal error: environment variable TABLE_NAME is not set"
    );
}
