use super::*;
use super::{address::*, dispatch::*, document::*, keys::*, policy::*};
use std::collections::BTreeMap;

use crate::model::AttemptOutcome;

fn http(url: &str) -> CallbackTarget {
    CallbackTarget::Http(HttpTarget {
        url: url.into(),
        headers: BTreeMap::new(),
    })
}

#[test]
fn targets_parse_from_the_documented_shapes() {
    let targets: Vec<CallbackTarget> = serde_json::from_str(
        r#"[{"lambda": "processor"}, {"http": {"url": "https://example.com/h", "headers": {"x-api-key": "k"}}}]"#,
    )
    .unwrap();
    assert_eq!(targets[0], CallbackTarget::Lambda("processor".into()));
    assert!(serde_json::from_str::<CallbackTarget>(r#"{"sqs": "q"}"#).is_err());
}

#[test]
fn plain_http_and_private_addresses_are_refused_by_default() {
    let policy = CallbackPolicy::default();
    let targets = [
        http("https://hooks.example.com/emr"),
        http("http://hooks.example.com/emr"),
        http("https://127.0.0.1/x"),
        http("https://10.1.2.3/x"),
        http("https://169.254.169.254/latest"),
        http("https://[::1]/x"),
        http("ftp://example.com/x"),
        http("not a url"),
    ];
    let problems = policy.check("callbacks", &targets, 0);
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        (1..8)
            .map(|i| format!("callbacks[{i}].http.url"))
            .collect::<Vec<_>>()
    );
    assert!(problems[0].message.contains("plain http"));
}

#[test]
fn every_non_public_address_is_refused() {
    let policy = CallbackPolicy::default();
    for url in [
        "https://localhost./x",
        "https://0.1.2.3/",
        "https://198.18.0.1/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[::127.0.0.1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://224.0.0.1/",
        "https://[fe80::1]/",
        "https://[2002:7f00:1::]/",
        "https://[::ffff:0:7f00:1]/",
        "https://[fec0::1]/",
        "https://192.0.2.10/",
        "https://[2001:db8::1]/",
    ] {
        assert_eq!(policy.check("c", &[http(url)], 0).len(), 1, "{url}");
    }
    assert!(policy.check("c", &[http("https://8.8.8.8/x")], 0).is_empty());
    assert!(
        policy
            .check("c", &[http("https://[2606:4700::1111]/x")], 0)
            .is_empty()
    );
}

#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused_at_delivery() {
    use reqwest::dns::Resolve;
    let err = PublicOnly
        .resolve("localhost".parse().unwrap())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no public address"), "{err}");
}

#[test]
fn local_development_allows_loopback_only() {
    let policy = CallbackPolicy {
        allow_local: true,
        ..Default::default()
    };
    assert!(
        policy
            .check("c", &[http("http://127.0.0.1:8080/h")], 0)
            .is_empty()
    );
    assert!(
        policy
            .check("c", &[http("http://localhost:8080/h")], 0)
            .is_empty()
    );
    assert_eq!(policy.check("c", &[http("http://example.com/h")], 0).len(), 1);
}

#[test]
fn lambda_targets_must_match_the_allow_list() {
    let policy = CallbackPolicy {
        lambda_allow: vec!["arn:aws:lambda:*:123456789012:function:processor-*".into()],
        ..Default::default()
    };
    let ok = CallbackTarget::Lambda("arn:aws:lambda:eu-west-1:123456789012:function:processor-a".into());
    let other = CallbackTarget::Lambda("arn:aws:lambda:eu-west-1:999999999999:function:processor-a".into());
    let problems = policy.check("callbacks", &[ok, other], 0);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "callbacks[1].lambda");
    let none_allowed = CallbackPolicy::default().check("c", &[CallbackTarget::Lambda("f".into())], 0);
    assert!(none_allowed[0].message.contains("CALLBACK_LAMBDA_ALLOW"));
}

#[test]
fn header_values_must_be_sendable() {
    let target = CallbackTarget::Http(HttpTarget {
        url: "https://example.com".into(),
        headers: [("x-api-key".to_owned(), HeaderValue::from("a\nb"))].into(),
    });
    let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
    assert_eq!(problems[0].path, "callbacks[0].http.headers.x-api-key");
}

#[test]
fn reserved_headers_cannot_be_overridden() {
    let target = CallbackTarget::Http(HttpTarget {
        url: "https://example.com".into(),
        headers: [("Webhook-Signature".to_owned(), HeaderValue::from("x"))].into(),
    });
    let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
    assert_eq!(problems[0].path, "callbacks[0].http.headers.Webhook-Signature");
}

#[test]
fn every_range_iana_marks_not_globally_reachable_is_refused_and_public_neighbours_are_not() {
    // GIVEN an address in each not-globally-reachable block of both registries (first and
    // last address where it matters), and a public neighbour just outside it
    let refused = [
        "0.0.0.0",
        "0.255.255.255",
        "10.0.0.0",
        "10.255.255.255",
        "100.64.0.0",
        "100.127.255.255",
        "127.0.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.0",
        "192.0.0.8",
        "192.0.0.170",
        "192.0.0.171",
        "192.0.0.255",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.255",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "::ffff:8.8.8.8",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "::ffff:0:7f00:1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::8.8.8.8",
        "100::1",
        "100:0:0:1::1",
        "2001::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:2::1",
        "2001:10::1",
        "2001:db8::1",
        "2001:1ff::1",
        "2002:7f00:1::",
        "2002:a00:1::",
        "2002:c0a8:101::1",
        "3fff::1",
        "5f00::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "ff0e::1",
    ];
    let public = [
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.0.9",
        "192.0.0.10",
        "192.0.1.1",
        "192.31.196.1",
        "192.52.193.1",
        "192.167.255.255",
        "192.169.0.0",
        "192.175.48.1",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2606:4700::1111",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2001:1::1",
        "2001:1::2",
        "2001:1::3",
        "2001:3::1",
        "2001:4:112::1",
        "2001:20::1",
        "2001:30::1",
        "2001:200::1",
        "2001:db9::1",
        "2620:4f:8000::1",
        "2a00:1450::1",
    ];
    // WHEN each is judged THEN only the non-public ones are local
    for ip in refused {
        assert!(is_local(ip.parse().unwrap()), "{ip} must be refused");
    }
    for ip in public {
        assert!(!is_local(ip.parse().unwrap()), "{ip} must be accepted");
    }
    // AND a URL naming one is refused at submit, while its neighbour is accepted
    let policy = CallbackPolicy::default();
    assert_eq!(
        policy.check("c", &[http("https://[64:ff9b::a00:1]/h")], 0).len(),
        1
    );
    assert!(
        policy
            .check("c", &[http("https://[64:ff9b::808:808]/h")], 0)
            .is_empty()
    );
}

#[test]
fn port_zero_is_refused() {
    let problems = CallbackPolicy::default().check("c", &[http("https://example.com:0/h")], 0);
    assert!(problems[0].message.contains("port 0"), "{problems:?}");
    assert!(
        CallbackPolicy::default()
            .check("c", &[http("https://example.com:8443/h")], 0)
            .is_empty()
    );
}

#[test]
fn framing_and_hop_by_hop_headers_are_refused() {
    // GIVEN a target setting each header that changes framing or the connection
    for name in [
        "Transfer-Encoding",
        "connection",
        "TE",
        "Upgrade",
        "Expect",
        "Content-Encoding",
        "Keep-Alive",
        "Proxy-Authorization",
        "proxy-connection",
        "Trailer",
    ] {
        let target = CallbackTarget::Http(HttpTarget {
            url: "https://example.com/h".into(),
            headers: [(name.to_owned(), HeaderValue::from("chunked"))].into(),
        });
        // WHEN it is checked THEN the header is refused with its path
        let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
        assert_eq!(problems.len(), 1, "{name}");
        assert_eq!(problems[0].path, format!("callbacks[0].http.headers.{name}"));
    }
    // AND an ordinary header passes
    let target = CallbackTarget::Http(HttpTarget {
        url: "https://example.com/h".into(),
        headers: [("x-api-key".to_owned(), HeaderValue::from("k"))].into(),
    });
    assert!(
        CallbackPolicy::default()
            .check("callbacks", &[target], 0)
            .is_empty()
    );
}

#[test]
fn masking_hides_header_values_queries_and_credentials() {
    let secret = "s3cr3t-value";
    let target = CallbackTarget::Http(HttpTarget {
        url: format!("https://u:{secret}@hooks.example.com/emr?token={secret}#frag"),
        headers: [("x-api-key".to_owned(), HeaderValue::from(secret))].into(),
    });
    let shown = serde_json::to_string(&masked(&target)).unwrap();
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("https://***@hooks.example.com/emr?***"), "{shown}");
    assert!(shown.contains(r#""x-api-key":"***""#), "{shown}");
    assert_eq!(
        Shown(&target).to_string(),
        "https://***@hooks.example.com/emr?***"
    );
    assert_eq!(mask_url(&format!("not a url?token={secret}")), "not a url?***");
    assert_eq!(mask_url("https://h.example/p"), "https://h.example/p");
    let lambda = CallbackTarget::Lambda("processor".into());
    assert_eq!(masked(&lambda), lambda);
}

#[test]
fn refusal_messages_never_carry_the_query() {
    let secret = "tok-123";
    for url in [
        format!("http://hooks.example.com/emr?token={secret}"),
        format!("https://10.0.0.1/emr?token={secret}"),
        format!("https://example.com:0/?token={secret}"),
        format!("bad url?token={secret}"),
    ] {
        let problems = CallbackPolicy::default().check("c", &[http(&url)], 0);
        assert_eq!(problems.len(), 1, "{url}");
        assert!(!problems[0].message.contains(secret), "{}", problems[0].message);
    }
}

#[tokio::test]
async fn a_failed_delivery_records_no_url_query_and_no_header_value() {
    // GIVEN a target on a closed local port whose URL and header carry secrets
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = CallbackTarget::Http(HttpTarget {
        url: format!("http://127.0.0.1:{port}/h?token=q-secret"),
        headers: [("x-api-key".to_owned(), HeaderValue::from("h-secret"))].into(),
    });
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let dispatcher = Dispatcher::new(
        aws_sdk_lambda::Client::new(&sdk),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=",
        true,
    )
    .unwrap();
    let document: CallbackDocument = serde_json::from_value(serde_json::json!({
        "type": "flow.ended", "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi",
        "definition_version": "1", "status": "FAILED", "params": {}, "cluster_id": null,
        "steps": [], "artifacts": {}, "submitted_at": "2026-11-29T00:00:00Z", "ended_at": null
    }))
    .unwrap();
    // WHEN it is delivered
    let outcome = dispatcher.deliver(&target, &document).await;
    // THEN the attempt failed, and its error names neither secret
    let AttemptOutcome::Failed { error, .. } = outcome else {
        panic!("a closed port cannot accept: {outcome:?}")
    };
    assert!(
        !error.contains("q-secret") && !error.contains("h-secret"),
        "{error}"
    );
    assert!(!error.is_empty());
}

#[tokio::test]
async fn every_secret_of_a_rotation_signs_and_each_receiver_verifies_its_own() {
    // GIVEN a dispatcher with the new and the old secret, and a receiver of each
    let (new, old) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    );
    let (port, server) = secrets::one_request().await;
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let dispatcher =
        Dispatcher::new(aws_sdk_lambda::Client::new(&sdk), &format!("{new}, {old}"), true).unwrap();
    let document: CallbackDocument = serde_json::from_value(serde_json::json!({
        "type": "flow.ended", "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi",
        "definition_version": "1", "status": "SUCCEEDED", "params": {}, "cluster_id": null,
        "steps": [], "artifacts": {}, "submitted_at": "2026-11-29T00:00:00Z", "ended_at": null
    }))
    .unwrap();
    // WHEN a callback is delivered
    let target = http(&format!("http://127.0.0.1:{port}/h"));
    let outcome = dispatcher.deliver(&target, &document).await;
    assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{outcome:?}");
    // THEN it carries two signatures, and a receiver holding either secret verifies it
    let request = server.await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let headers = secrets::header_map(head);
    assert_eq!(
        headers["webhook-signature"].to_str().unwrap().split(' ').count(),
        2
    );
    for secret in [new, old] {
        let receiver = standardwebhooks::Webhook::new(secret).unwrap();
        receiver.verify(body.as_bytes(), &headers).unwrap();
    }
    let stranger = standardwebhooks::Webhook::new("whsec_dGhpcyBpcyBhbm90aGVyIGtleSBhdCBhbGw=").unwrap();
    assert!(stranger.verify(body.as_bytes(), &headers).is_err());
    // AND a list with a broken secret is refused without showing it
    let error = Dispatcher::new(
        aws_sdk_lambda::Client::new(&sdk),
        &format!("{new},whsec_!!not-base64!!"),
        true,
    )
    .err()
    .unwrap();
    assert!(
        error.to_string().contains("secret 2") && !error.to_string().contains("not-base64"),
        "{error}"
    );
}

mod limits;
mod secrets;
