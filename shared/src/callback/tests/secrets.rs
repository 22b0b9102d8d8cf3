//! Header values named by reference (shapes, refusals at submit and at delivery, masking, the
//! host tag) and callbacks signed `v1` and `v1a` at once, each verified as its receiver would.
//! Secrets read from Secrets Manager are tested against moto (`tests/tests/secrets.rs`).

use super::*;
use crate::error::Problem;
use crate::model::AttemptOutcome;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=";
/// The key pair of the crate's tests (see `signing.rs`).
const KEY: &str = "whsk_P34xRjNXQLwUFWPPY90eiMzRhTVxnDKC//LxqETxqMI=";
const PUBLIC: &str = "whpk_e2QvF+i9cqHd0zod4493MzUBZPMvpJRusft3/vmEP5U=";
const OTHER_PUBLIC: &str = "whpk_iEhFzScufO7R/rqIwd1uoZdmmwRyDC7/ADow+HLMhZ8=";
const TEAM_A: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:emr-flows/callbacks/team-a-AbCdEf";
const PATTERN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:emr-flows/callbacks/*";

fn with_header(url: &str, value: HeaderValue) -> CallbackTarget {
    CallbackTarget::Http(HttpTarget {
        url: url.into(),
        headers: [("x-api-key".to_owned(), value)].into(),
    })
}

fn reference(arn: &str) -> HeaderValue {
    HeaderValue::Secret(SecretRef { secret: arn.into() })
}

/// Parses `json` as a list of callbacks the way requests are parsed: the first problem with
/// its path.
fn parse(json: serde_json::Value) -> Result<Vec<CallbackTarget>, Problem> {
    let request = serde_json::json!({ "callbacks": json });
    let mut parsed: BTreeMap<String, Vec<CallbackTarget>> =
        serde_path_to_error::deserialize(request).map_err(|e| Problem::from_serde("", e))?;
    Ok(parsed.remove("callbacks").unwrap())
}

fn lambda_client() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    )
}

fn document() -> CallbackDocument {
    serde_json::from_value(serde_json::json!({
        "type": "flow.ended", "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi",
        "definition_version": "1", "status": "SUCCEEDED", "params": {}, "cluster_id": null,
        "steps": [], "artifacts": {}, "submitted_at": "2026-11-29T00:00:00Z", "ended_at": null
    }))
    .unwrap()
}

/// A one-shot HTTP server on a local port: answers 204 to the first request and hands it back
/// as text (head and body).
pub(super) async fn one_request() -> (u16, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = (text.lines())
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        socket
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8(request).unwrap()
    });
    (port, server)
}

/// The headers of a request as [`one_request`] hands it back, names in lower case.
pub(super) fn header_map(head: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    for line in head.lines().skip(1) {
        let (name, value) = line.split_once(": ").unwrap();
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    headers
}

#[test]
fn a_header_is_a_string_or_a_secret_reference_and_other_shapes_are_named_with_their_path() {
    // GIVEN the documented shapes
    let targets = parse(
        serde_json::json!([{"http": {"url": "https://h.example/x", "headers": {
        "x-api-key": {"secret": TEAM_A}, "x-team": "a"}}}]),
    )
    .unwrap();
    // THEN a reference and a literal are told apart, and both write back as they were given
    let CallbackTarget::Http(http) = &targets[0] else {
        panic!()
    };
    assert_eq!(http.headers["x-api-key"], reference(TEAM_A));
    assert_eq!(http.headers["x-team"], HeaderValue::from("a"));
    assert_eq!(
        serde_json::to_value(&targets[0]).unwrap()["http"]["headers"],
        serde_json::json!({"x-api-key": {"secret": TEAM_A}, "x-team": "a"})
    );
    // AND each other shape is refused at its path, in JSON's words
    for (headers, path, words) in [
        (
            serde_json::json!({"x-api-key": {"secrets": TEAM_A}}),
            "callbacks[0].http.headers.x-api-key.secrets",
            "unknown field `secrets`, expected `secret`",
        ),
        (
            serde_json::json!({"x-api-key": {"secret": 5}}),
            "callbacks[0].http.headers.x-api-key.secret",
            "expected a string",
        ),
        (
            serde_json::json!({"x-api-key": {}}),
            "callbacks[0].http.headers.x-api-key",
            "missing field `secret`",
        ),
        (
            serde_json::json!({"x-api-key": 7}),
            "callbacks[0].http.headers.x-api-key",
            r#"expected a string, or {"secret": "<Secrets Manager secret ARN>"}"#,
        ),
    ] {
        let problem =
            parse(serde_json::json!([{"http": {"url": "https://h.example/x", "headers": headers}}]))
                .unwrap_err();
        assert_eq!(problem.path, path, "{problem}");
        assert!(problem.message.contains(words), "{problem}");
    }
}

#[test]
fn references_are_refused_at_submit_unless_a_pattern_allows_their_arn() {
    let policy = CallbackPolicy {
        header_secrets: vec![PATTERN.into()],
        ..Default::default()
    };
    // GIVEN an allowed reference, one outside the pattern, one not an ARN, and a literal
    let targets = [
        with_header("https://hooks.team-a.example/emr", reference(TEAM_A)),
        with_header(
            "https://hooks.team-a.example/emr",
            reference("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-password-XyZ123"),
        ),
        with_header(
            "https://hooks.team-a.example/emr",
            reference("emr-flows/callbacks/team-a"),
        ),
        with_header("https://hooks.team-a.example/emr", HeaderValue::from("k")),
    ];
    // WHEN they are checked
    let problems = policy.check("callbacks", &targets, 0);
    // THEN the two bad references are refused, each at its path
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "callbacks[1].http.headers.x-api-key.secret",
            "callbacks[2].http.headers.x-api-key.secret"
        ]
    );
    assert!(
        problems[0].message.contains("matches none of the secrets"),
        "{}",
        problems[0]
    );
    assert!(problems[0].message.contains(PATTERN), "{}", problems[0]);
    assert!(
        problems[1]
            .message
            .contains("is not a Secrets Manager secret ARN"),
        "{}",
        problems[1]
    );
    // AND a pattern's wildcard never reaches into another account or region
    for arn in [
        "arn:aws:secretsmanager:eu-west-1:999999999999:secret:emr-flows/callbacks/x",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:emr-flows/callbacks/x",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:emr-flows/other/x",
    ] {
        assert!(check_secret_ref(&policy.header_secrets, arn).is_err(), "{arn}");
    }
    // AND without patterns no reference is allowed, saying which setting decides
    let none = CallbackPolicy::default().check("callbacks", &targets[..1], 0);
    assert_eq!(none[0].path, "callbacks[0].http.headers.x-api-key.secret");
    assert!(
        none[0].message.contains("CALLBACK_HEADER_SECRETS is empty"),
        "{}",
        none[0]
    );
    // AND a reserved name is refused whatever its value
    let reserved = CallbackTarget::Http(HttpTarget {
        url: "https://hooks.team-a.example/emr".into(),
        headers: [("webhook-signature".to_owned(), reference(TEAM_A))].into(),
    });
    let problems = policy.check("callbacks", &[reserved], 0);
    assert_eq!(problems[0].path, "callbacks[0].http.headers.webhook-signature");
}

#[test]
fn masking_shows_the_reference_and_hides_literals() {
    let target = CallbackTarget::Http(HttpTarget {
        url: "https://hooks.team-a.example/emr?token=t0k".into(),
        headers: [
            ("x-api-key".to_owned(), reference(TEAM_A)),
            ("x-other".to_owned(), HeaderValue::from("l1teral")),
        ]
        .into(),
    });
    let shown = serde_json::to_value(masked(&target)).unwrap();
    assert_eq!(
        shown["http"]["headers"],
        serde_json::json!({"x-api-key": {"secret": TEAM_A}, "x-other": MASK})
    );
    assert!(!shown.to_string().contains("t0k") && !shown.to_string().contains("l1teral"));
}

#[test]
fn the_host_a_secret_is_tagged_for_is_the_urls_host_as_tags_can_write_it() {
    assert_eq!(
        callback_host("https://Hooks.Team-A.example./x?q=1").as_deref(),
        Some("hooks.team-a.example")
    );
    assert_eq!(
        callback_host("http://127.0.0.1:8080/h").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        callback_host("https://[2606:4700::1111]/h").as_deref(),
        Some("2606:4700::1111")
    );
    assert_eq!(callback_host("not a url"), None);
}

#[tokio::test]
async fn a_reference_fails_its_delivery_unless_the_dispatcher_may_read_it_and_nothing_is_sent() {
    // GIVEN a receiver, and a dispatcher without header secrets
    let (port, server) = one_request().await;
    let url = format!("http://127.0.0.1:{port}/h");
    let dispatcher = Dispatcher::new(lambda_client(), SECRET, true).unwrap();
    // WHEN a callback naming a secret is delivered
    let outcome = dispatcher
        .deliver(&with_header(&url, reference(TEAM_A)), &document())
        .await;
    // THEN the attempt fails, naming the header and the setting
    let AttemptOutcome::Failed {
        error,
        http_status: None,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(
        error.contains("header `x-api-key`") && error.contains("CALLBACK_HEADER_SECRETS"),
        "{error}"
    );
    // AND GIVEN a dispatcher whose patterns do not allow that secret (the record predates them)
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let secrets = crate::aws::secrets::TaggedSecrets::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        crate::aws::secrets::MAX_AGE,
    );
    let narrow = dispatcher.with_header_secrets(
        vec!["arn:aws:secretsmanager:eu-west-1:123456789012:secret:other/*".into()],
        secrets,
    );
    // WHEN it delivers THEN it refuses before any AWS call, and the receiver got nothing
    let outcome = narrow
        .deliver(&with_header(&url, reference(TEAM_A)), &document())
        .await;
    let AttemptOutcome::Failed { error, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(error.contains("matches none of the secrets"), "{error}");
    server.abort();
}

#[tokio::test]
async fn a_callback_signed_v1_and_v1a_verifies_with_the_secret_and_with_the_public_key_only() {
    // GIVEN a dispatcher signing with a v1 secret and a v1a key, and a receiver
    let signing = SigningKeys::default()
        .with_secrets(SECRET)
        .unwrap()
        .with_keys(KEY)
        .unwrap();
    assert_eq!(signing.schemes(), ["v1", "v1a"]);
    assert_eq!(signing.public_keys().await.unwrap(), [PUBLIC]);
    let dispatcher = Dispatcher::with_signing(lambda_client(), signing, true).unwrap();
    let (port, server) = one_request().await;
    // WHEN a callback is delivered
    let target = with_header(&format!("http://127.0.0.1:{port}/h"), HeaderValue::from("k"));
    let outcome = dispatcher.deliver(&target, &document()).await;
    assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{outcome:?}");
    // THEN its header holds `v1,… v1a,…`
    let request = server.await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let headers = header_map(head);
    let signature = headers["webhook-signature"].to_str().unwrap();
    let schemes: Vec<_> = signature
        .split(' ')
        .map(|s| s.split(',').next().unwrap())
        .collect();
    assert_eq!(schemes, ["v1", "v1a"]);
    // AND a receiver holding the secret verifies it with the reference library
    standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .verify(body.as_bytes(), &headers)
        .unwrap();
    // AND a receiver holding only the public key verifies it, one holding another's does not
    let id = headers["webhook-id"].to_str().unwrap();
    let ts: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let verify = |public| crate::callback::signature::verify(public, id, ts, body.as_bytes(), signature);
    assert_eq!(verify(PUBLIC), Ok(true));
    assert_eq!(verify(OTHER_PUBLIC), Ok(false));
    assert_eq!(headers["x-api-key"], "k");
}

#[test]
fn a_dispatcher_needs_a_secret_or_a_key() {
    let error = Dispatcher::with_signing(lambda_client(), SigningKeys::default(), true)
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .contains("CALLBACK_SIGNING_SECRET_ARN or CALLBACK_SIGNING_KEY_ARN"),
        "{error}"
    );
    let only_key = SigningKeys::default().with_keys(KEY).unwrap();
    assert_eq!(only_key.schemes(), ["v1a"]);
    assert!(Dispatcher::with_signing(lambda_client(), only_key, true).is_ok());
    let error = SigningKeys::default().with_keys("whsk_!!").err().unwrap();
    assert!(
        error.to_string().contains("CALLBACK_SIGNING_KEY: key 1"),
        "{error}"
    );
}

#[test]
fn a_tag_allows_its_hosts_and_under_a_path_prefix_only_that_path() {
    let tag = "hooks.team-a.example 10.1.2.3 2606:4700::1111 shared.example.net/team-a/";
    for allowed in [
        "https://hooks.team-a.example/emr",
        "https://HOOKS.team-a.example.:8443/any/path?q=1",
        "http://10.1.2.3:8080/h",
        "https://[2606:4700::1111]/h",
        "https://shared.example.net/team-a",
        "https://shared.example.net/team-a/emr",
        "https://shared.example.net/team-a/emr%20hooks/v1.2",
        "https://shared.example.net/team-a/a..b",
    ] {
        assert!(tag_allows(tag, allowed), "{allowed}");
    }
    for refused in [
        "https://evil.example/emr",
        "https://hooks.team-a.example.evil.example/emr",
        "https://team-a.example/emr",
        "https://shared.example.net/team-ab",
        "https://shared.example.net/team-b/emr",
        "https://shared.example.net/",
        "https://shared.example.net/team-a/../team-b/emr",
        // encodings a server or proxy may decode before routing, out of the prefix
        "https://shared.example.net/team-a/..%2Fteam-b",
        "https://shared.example.net/team-a/..%2fteam-b",
        "https://shared.example.net/team-a/%2e%2e/team-b",
        "https://shared.example.net/team-a/..%5Cteam-b",
        "https://shared.example.net/team-a/..;/team-b",
        "https://shared.example.net/team-a/.;x/../../team-b",
        "not a url",
    ] {
        assert!(!tag_allows(tag, refused), "{refused}");
    }
    assert!(!tag_allows("", "https://hooks.team-a.example/emr"));
}

#[test]
fn a_reference_is_at_most_2048_bytes_and_names_a_secret_by_a_valid_name() {
    // GIVEN a pattern allowing every secret of one account and region
    let patterns = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:*".to_owned()];
    let prefix = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:";
    let arn = |len: usize| format!("{prefix}{}", "a".repeat(len - prefix.len()));
    // WHEN ARNs at the bound are checked THEN 2,048 bytes pass and 2,049 are refused as too long
    assert_eq!(check_secret_ref(&patterns, &arn(MAX_TARGET_LENGTH)), Ok(()));
    let too_long = check_secret_ref(&patterns, &arn(MAX_TARGET_LENGTH + 1)).unwrap_err();
    assert_eq!(too_long, "is longer than 2048 bytes");
    // AND a name that is empty or holds a character secret names cannot hold is no ARN
    for name in ["", "team a", "team$a", "team*"] {
        let error = check_secret_ref(&patterns, &format!("{prefix}{name}")).unwrap_err();
        assert!(
            error.contains("is not a Secrets Manager secret ARN"),
            "{name}: {error}"
        );
    }
    // AND every character a secret name may hold is accepted
    assert_eq!(
        check_secret_ref(&patterns, &format!("{prefix}a-Z_0/+=.@x")),
        Ok(())
    );
}
