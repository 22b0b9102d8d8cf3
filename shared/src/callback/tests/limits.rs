//! Callback limits at their boundaries, what each answer of a receiver comes to, how a target is
//! masked, and which addresses a deployed dispatcher refuses to resolve to.

use super::*;
use crate::model::{AttemptOutcome, FlowRecord, FlowStatus};
use chrono::Utc;

fn http(url: &str) -> CallbackTarget {
    CallbackTarget::Http(HttpTarget {
        url: url.into(),
        headers: BTreeMap::new(),
    })
}

fn with_headers(count: usize, value_len: usize) -> CallbackTarget {
    CallbackTarget::Http(HttpTarget {
        url: "https://hooks.example.com/emr".into(),
        headers: (0..count)
            .map(|i| (format!("x-h{i}"), "v".repeat(value_len).into()))
            .collect(),
    })
}

#[test]
fn ten_callbacks_are_accepted_and_eleven_refused_counting_the_definitions() {
    let policy = CallbackPolicy::default();
    let ten = vec![http("https://hooks.example.com/emr"); 10];
    assert!(policy.check("callbacks", &ten, 0).is_empty());
    assert_eq!(policy.check("callbacks", &ten[..9], 1), vec![]);
    let eleven = vec![http("https://hooks.example.com/emr"); 11];
    let problems = policy.check("callbacks", &eleven, 0);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "callbacks");
    assert!(
        problems[0].message.contains("at most 10"),
        "{}",
        problems[0].message
    );
    assert_eq!(
        policy.check("callbacks", &ten, 1).len(),
        1,
        "10 plus the definition's one"
    );
}

#[test]
fn headers_are_bounded_in_number_and_length() {
    let policy = CallbackPolicy::default();
    assert!(policy.check("c", &[with_headers(MAX_HEADERS, 10)], 0).is_empty());
    let too_many = policy.check("c", &[with_headers(MAX_HEADERS + 1, 10)], 0);
    assert_eq!(too_many.len(), 1);
    assert_eq!(too_many[0].path, "c[0].http.headers");
    assert!(
        policy
            .check("c", &[with_headers(1, MAX_TARGET_LENGTH)], 0)
            .is_empty()
    );
    let too_long = policy.check("c", &[with_headers(1, MAX_TARGET_LENGTH + 1)], 0);
    assert_eq!(too_long[0].path, "c[0].http.headers.x-h0");
}

#[test]
fn header_values_are_ascii_and_a_name_is_given_once_whatever_its_case() {
    // GIVEN a callback with a non-ASCII value, and one naming a header twice in two cases
    let header = |pairs: &[(&str, &str)]| {
        CallbackTarget::Http(HttpTarget {
            url: "https://hooks.example.com/emr".into(),
            headers: pairs.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect(),
        })
    };
    let policy = CallbackPolicy::default();
    // WHEN each is checked
    let non_ascii = policy.check("c", &[header(&[("x-api-key", "clé")])], 0);
    let twice = policy.check("c", &[header(&[("X-Api-Key", "a"), ("x-api-key", "b")])], 0);
    // THEN each is refused at the header's path; plain ASCII with spaces and tabs is not
    assert_eq!(non_ascii.len(), 1);
    assert_eq!(non_ascii[0].path, "c[0].http.headers.x-api-key");
    assert!(
        non_ascii[0].message.contains("visible ASCII"),
        "{}",
        non_ascii[0].message
    );
    assert_eq!(twice.len(), 1);
    assert_eq!(twice[0].path, "c[0].http.headers.x-api-key");
    assert!(twice[0].message.contains("given twice"), "{}", twice[0].message);
    assert!(
        policy
            .check("c", &[header(&[("x-api-key", "a b\tc~")])], 0)
            .is_empty()
    );
}

#[test]
fn urls_and_function_names_are_bounded_at_2048_bytes() {
    let policy = CallbackPolicy {
        allow_local: false,
        lambda_allow: vec!["*".into()],
        header_secrets: vec![],
    };
    let base = "https://hooks.example.com/";
    let url = |len: usize| format!("{base}{}", "a".repeat(len - base.len()));
    assert!(policy.check("c", &[http(&url(MAX_TARGET_LENGTH))], 0).is_empty());
    assert_eq!(
        policy.check("c", &[http(&url(MAX_TARGET_LENGTH + 1))], 0).len(),
        1
    );
    let name = |len: usize| CallbackTarget::Lambda("f".repeat(len));
    // A function name is at most 64 characters (Lambda's grammar); the byte bound comes first.
    assert!(policy.check("c", &[name(64)], 0).is_empty());
    assert!(
        policy.check("c", &[name(65)], 0)[0]
            .message
            .contains("longer than 64")
    );
    assert_eq!(
        policy.check("c", &[name(MAX_TARGET_LENGTH + 1)], 0)[0].path,
        "c[0].lambda"
    );
    assert_eq!(
        policy.check("c", &[CallbackTarget::Lambda("  ".into())], 0).len(),
        1
    );
}

#[test]
fn credentials_in_a_url_are_refused() {
    let policy = CallbackPolicy::default();
    for url in [
        "https://user@hooks.example.com/",
        "https://user:secret@hooks.example.com/",
    ] {
        let problems = policy.check("c", &[http(url)], 0);
        assert_eq!(problems.len(), 1, "{url}");
        assert!(
            problems[0].message.contains("credentials"),
            "{}",
            problems[0].message
        );
    }
}

fn document(status: FlowStatus) -> CallbackDocument {
    let now = Utc::now();
    let record = FlowRecord {
        status,
        params: serde_json::json!({"partitions": 3}),
        normalized_instance_hours: Some(12),
        ended_at: Some(now),
        ..FlowRecord::pending(
            crate::model::FlowId::parse("01JDQ3V4X8M6Z0B1C2D3E4F5G6").unwrap(),
            "spark-pi",
            "1",
            "c",
            now,
        )
    };
    CallbackDocument::for_record(&record)
}

#[test]
fn the_webhook_id_is_stable_per_flow_and_outcome() {
    let doc = document(FlowStatus::TimedOut);
    assert_eq!(doc.webhook_id(), "flow_01JDQ3V4X8M6Z0B1C2D3E4F5G6_timed_out");
    assert_eq!(
        document(FlowStatus::Succeeded).webhook_id(),
        "flow_01JDQ3V4X8M6Z0B1C2D3E4F5G6_succeeded"
    );
    assert_eq!(doc.kind, "flow.ended");
    assert_eq!(doc.normalized_instance_hours, Some(12));
    assert_eq!(doc.params, serde_json::json!({"partitions": 3}));
}

/// A one-shot local HTTP server answering `status`; returns its URL.
async fn answering(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0; 64 * 1024];
            let _ = socket.read(&mut buffer).await;
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://127.0.0.1:{port}/hook")
}

/// A dispatcher for local development (loopback allowed), its Lambda client on a closed port.
fn dispatcher() -> Dispatcher {
    dispatcher_for(true)
}

#[tokio::test]
async fn only_2xx_is_delivered_410_stops_and_everything_else_is_a_failed_attempt() {
    let d = dispatcher();
    let doc = document(FlowStatus::Failed);
    let deliver = |url: String| {
        let d = &d;
        let doc = &doc;
        async move { d.deliver(&http(&url), doc).await }
    };
    assert_eq!(
        deliver(answering(204).await).await,
        AttemptOutcome::Delivered {
            http_status: Some(204)
        }
    );
    assert_eq!(
        deliver(answering(200).await).await,
        AttemptOutcome::Delivered {
            http_status: Some(200)
        }
    );
    assert_eq!(deliver(answering(410).await).await, AttemptOutcome::Gone);
    for status in [500, 503, 404, 301] {
        let outcome = deliver(answering(status).await).await;
        assert!(
            matches!(&outcome, AttemptOutcome::Failed { http_status: Some(s), .. } if *s == status),
            "{status}: {outcome:?}"
        );
    }
    // A closed port: a failed attempt with the cause, no status.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let outcome = deliver(format!("http://127.0.0.1:{closed}/hook")).await;
    let AttemptOutcome::Failed {
        http_status: None,
        error,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(error.contains("onnect"), "{error}");
    // A Lambda that cannot be invoked is a failed attempt too, never delivered.
    let outcome = d.deliver(&CallbackTarget::Lambda("processor".into()), &doc).await;
    assert!(
        matches!(
            outcome,
            AttemptOutcome::Failed {
                http_status: None,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn lambda_patterns_match_within_arn_segments_only() {
    let policy = CallbackPolicy {
        allow_local: false,
        lambda_allow: vec!["arn:aws:lambda:*:123456789012:function:processor-*".into()],
        header_secrets: vec![],
    };
    // An allowed function, and a version or alias of it.
    for ok in [
        "arn:aws:lambda:eu-west-1:123456789012:function:processor-a",
        "arn:aws:lambda:eu-west-1:123456789012:function:processor-a:prod",
    ] {
        assert!(
            policy
                .check("c", &[CallbackTarget::Lambda(ok.into())], 0)
                .is_empty(),
            "{ok}"
        );
    }
    for refused in [
        // The region's `*` taking in another account.
        "arn:aws:lambda:eu-west-1:999999999999:x:123456789012:function:processor-a",
        // A qualifier of a function the pattern does not allow.
        "arn:aws:lambda:eu-west-1:999999999999:function:processor-a:prod",
        "arn:aws:lambda:eu-west-1:999999999999:function:processor-a",
    ] {
        assert_eq!(
            policy
                .check("c", &[CallbackTarget::Lambda(refused.into())], 0)
                .len(),
            1,
            "{refused}"
        );
    }
}

#[test]
fn a_user_name_alone_is_masked_too() {
    // GIVEN a URL whose only credential is a user name (a token passed as one)
    let url = "https://tok3n@hooks.example.com/emr";
    // WHEN it is shown THEN the name is masked
    assert_eq!(mask_url(url), "https://***@hooks.example.com/emr");
    // AND a password alone is masked likewise
    assert_eq!(
        mask_url("https://:pw@hooks.example.com/emr"),
        "https://***@hooks.example.com/emr"
    );
}

#[test]
fn text_that_is_no_url_with_a_host_is_cut_at_its_credentials_and_query() {
    // GIVEN a URL without a host (a scheme without `//`) carrying credentials and a query
    let url = "webhook:user:s3cret@hooks.example.com/emr?token=t0ken";
    // WHEN it is shown THEN neither the password nor the token is
    assert_eq!(mask_url(url), "***@hooks.example.com/emr?***");
    // AND it is refused at submit with a message that names neither
    let problems = CallbackPolicy::default().check("c", &[http(url)], 0);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        !problems[0].message.contains("s3cret") && !problems[0].message.contains("t0ken"),
        "{}",
        problems[0].message
    );
    // AND text with neither a query nor a fragment is shown whole, without a mask
    assert_eq!(mask_url("not a url"), "not a url");
    assert_eq!(mask_url("not a url#frag"), "not a url?***");
}

fn dispatcher_for(allow_local: bool) -> Dispatcher {
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    Dispatcher::new(
        lambda,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=",
        allow_local,
    )
    .unwrap()
}

#[tokio::test]
async fn a_host_name_resolving_to_a_local_address_is_refused_at_delivery_unless_local_is_allowed() {
    // GIVEN a receiver reached by a name that resolves to loopback
    let url = answering(204).await.replace("127.0.0.1", "localhost");
    let doc = document(FlowStatus::Succeeded);
    // WHEN a deployed stack's dispatcher delivers to it THEN the name is refused, never called
    let outcome = dispatcher_for(false).deliver(&http(&url), &doc).await;
    let AttemptOutcome::Failed {
        http_status: None,
        error,
    } = outcome
    else {
        panic!("a name resolving to loopback was called: {outcome:?}")
    };
    assert!(error.contains("no public address"), "{error}");
    // AND local development's dispatcher delivers to it
    assert_eq!(
        dispatcher_for(true).deliver(&http(&url), &doc).await,
        AttemptOutcome::Delivered {
            http_status: Some(204)
        }
    );
}
