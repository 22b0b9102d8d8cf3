//! Secrets Manager (moto) behind the callbacks: the signing secrets (`v1`) and signing keys
//! (`v1a`) read once, cached with a bounded age, a rotated value used once the cached one is
//! older than that, and a secret that cannot be read failing the delivery attempt without
//! showing anything secret; header values named by reference, sent only to the host their
//! secret's tag names.

use std::time::Duration;

use emr_flows::aws::secrets::{CachedSecret, TaggedSecrets};
use emr_flows::callback::{CallbackDocument, CallbackTarget, Dispatcher, HOST_TAG, HttpTarget, SigningKeys};
use emr_flows::model::{AttemptOutcome, DeliveryStatus};
use integration_tests::world::{HEADER_SECRETS, world};
use integration_tests::{Moto, OTHER_PUBLIC_KEY, Receiver, TEST_PUBLIC_KEY, TEST_SECRET, TEST_SIGNING_KEY};
use serde_json::json;

/// Key bytes as the template generates them: 44 alphanumerics (base64 of 33 bytes, no prefix).
const GENERATED: &str = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2";
const ROTATED: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=";

async fn secret(moto: &Moto, name: &str, value: &str) -> (aws_sdk_secretsmanager::Client, String) {
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto serves Secrets Manager");
    (client, created.arn().expect("an ARN").to_owned())
}

fn document() -> CallbackDocument {
    serde_json::from_value(json!({
        "type": "flow.ended", "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi",
        "definition_version": "1", "status": "SUCCEEDED", "params": {}, "cluster_id": null,
        "steps": [], "artifacts": {}, "submitted_at": "2026-11-29T00:00:00Z", "ended_at": null
    }))
    .unwrap()
}

fn target(url: &str) -> CallbackTarget {
    CallbackTarget::Http(HttpTarget {
        url: url.to_owned(),
        headers: Default::default(),
    })
}

#[tokio::test]
async fn a_rotated_secret_is_read_again_once_the_cached_value_is_older_than_its_bound() {
    // GIVEN a secret on moto, read through a cache whose values last 1 s
    let moto = Moto::start();
    let (client, arn) = secret(&moto, "emr-flows/signing-rotated", GENERATED).await;
    let cached = CachedSecret::new(client.clone(), &arn, Duration::from_secs(1));
    assert_eq!(&*cached.get().await.unwrap(), GENERATED);

    // WHEN the secret is rotated to `new,old`
    let rotated = format!("{ROTATED},whsec_{GENERATED}");
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(&rotated)
        .send()
        .await
        .unwrap();

    // THEN the cached value is used until it is 1 s old, the rotated one after
    assert_eq!(&*cached.get().await.unwrap(), GENERATED, "within its age: cached");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(&*cached.get().await.unwrap(), rotated.as_str());

    // AND WHEN the secret can no longer be read, the last value is kept
    client
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(&*cached.get().await.unwrap(), rotated.as_str());
}

#[tokio::test]
async fn callbacks_are_signed_with_the_managed_secret_and_a_missing_one_fails_the_attempt() {
    // GIVEN the template's kind of secret (no whsec_ prefix) and a receiver holding it
    let moto = Moto::start();
    let (client, arn) = secret(&moto, "emr-flows/signing", GENERATED).await;
    let receiver = Receiver::start(&format!("whsec_{GENERATED}"));
    let sdk = moto.sdk().await;
    let dispatcher = Dispatcher::with_managed_secret(
        aws_sdk_lambda::Client::new(&sdk),
        CachedSecret::new(client.clone(), &arn, emr_flows::aws::secrets::MAX_AGE),
        true,
    )
    .unwrap();

    // WHEN a callback is delivered
    let outcome = dispatcher.deliver(&target(&receiver.url), &document()).await;

    // THEN it is delivered, and the receiver verified its signature
    assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{outcome:?}");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["verified"], true, "{received:?}");

    // AND GIVEN a dispatcher naming a secret that does not exist
    let missing = Dispatcher::with_managed_secret(
        aws_sdk_lambda::Client::new(&sdk),
        CachedSecret::new(
            client,
            "emr-flows/no-such-secret",
            emr_flows::aws::secrets::MAX_AGE,
        ),
        true,
    )
    .unwrap();
    // WHEN it delivers THEN the attempt fails (to be retried), naming the secret and the error
    let outcome = missing.deliver(&target(&receiver.url), &document()).await;
    let AttemptOutcome::Failed { error, .. } = outcome else {
        panic!("no secret, no signature: {outcome:?}")
    };
    assert!(error.contains("SecretsManager GetSecretValue failed"), "{error}");
    assert!(error.contains("ResourceNotFoundException"), "{error}");
    assert_eq!(receiver.received().len(), 1, "nothing unsigned was sent");
}

/// A signing key as the template generates it: 43 letters and digits (base64 of a 32-byte
/// seed without padding), and its public key as `python dev/admin/signing_key.py public` derives it.
const GENERATED_KEY: &str = "Zq3LmN8pR2vT6xW9yB4cD7fH1jK5nP0sU3wA8eG2iLp";
const GENERATED_PUBLIC: &str = "whpk_PEFHP9PIB0XN0/al9MZNEccAxq2ckH9Nv/vyA9qnjrA=";

#[tokio::test]
async fn callbacks_are_signed_v1a_with_the_managed_key_and_only_its_public_key_verifies_them() {
    // GIVEN the template's kind of signing key in Secrets Manager, signing v1a only
    let moto = Moto::start();
    let (client, arn) = secret(&moto, "emr-flows/signing-key", GENERATED_KEY).await;
    let sdk = moto.sdk().await;
    let signing = SigningKeys::default().with_managed_keys(CachedSecret::new(
        client.clone(),
        &arn,
        Duration::from_secs(1),
    ));
    assert_eq!(signing.public_keys().await.unwrap(), [GENERATED_PUBLIC]);
    let dispatcher =
        Dispatcher::with_signing(aws_sdk_lambda::Client::new(&sdk), signing.clone(), true).unwrap();
    // AND a receiver trusting its public key, and one trusting another deployment's
    let trusting = Receiver::start_public(GENERATED_PUBLIC);
    let stranger = Receiver::start_public(OTHER_PUBLIC_KEY);

    // WHEN a callback is delivered to each
    let delivered = dispatcher.deliver(&target(&trusting.url), &document()).await;
    let refused = dispatcher.deliver(&target(&stranger.url), &document()).await;

    // THEN the first verified it with the public key alone (PyPI `cryptography`)
    assert!(
        matches!(delivered, AttemptOutcome::Delivered { .. }),
        "{delivered:?}"
    );
    let received = trusting.received();
    assert_eq!(received[0]["verified"], true, "{received:?}");
    assert_eq!(received[0]["schemes"], json!(["v1a"]));
    let signature = received[0]["headers"]["webhook-signature"].as_str().unwrap();
    assert!(
        signature.starts_with("v1a,") && !signature.contains(' '),
        "{signature}"
    );
    // AND the second refused it (401): another key's signature is no signature
    assert!(
        matches!(
            refused,
            AttemptOutcome::Failed {
                http_status: Some(401),
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(stranger.received()[0]["verified"], false);

    // AND WHEN the key is rotated to `new,old`, once the cached value is 1 s old
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(format!("{TEST_SIGNING_KEY},{GENERATED_KEY}"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // THEN both public keys are answered, the new one first, and each verifies
    assert_eq!(
        signing.public_keys().await.unwrap(),
        [TEST_PUBLIC_KEY, GENERATED_PUBLIC]
    );
    let both = Receiver::start_public(TEST_PUBLIC_KEY);
    let outcome = dispatcher.deliver(&target(&both.url), &document()).await;
    assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{outcome:?}");
    let signature = both.received()[0]["headers"]["webhook-signature"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        signature.split(' ').filter(|s| s.starts_with("v1a,")).count(),
        2,
        "{signature}"
    );
    let outcome = dispatcher.deliver(&target(&trusting.url), &document()).await;
    assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{outcome:?}");
}

/// Creates the secret `name` with `value`, tagged [`HOST_TAG`] = `hosts` when given; its ARN.
async fn header_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
    hosts: Option<&str>,
) -> String {
    let mut request = client.create_secret().name(name).secret_string(value);
    if let Some(hosts) = hosts {
        request = request.tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(HOST_TAG)
                .value(hosts)
                .build(),
        );
    }
    request
        .send()
        .await
        .expect("moto serves Secrets Manager")
        .arn()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_header_naming_a_secret_tagged_for_the_receivers_host_delivers_its_value() {
    // GIVEN a team's API key in Secrets Manager, tagged for the receiver's host (and another)
    let w = world().await;
    let sm = aws_sdk_secretsmanager::Client::new(&integration_tests::world::MOTO.get().unwrap().sdk().await);
    let suffix = ulid::Ulid::generate().to_string().to_lowercase();
    let value = format!("team-a-key-{suffix}");
    let arn = header_secret(
        &sm,
        &format!("emr-flows/callbacks/team-a-{suffix}"),
        &value,
        Some("hooks.team-a.example 127.0.0.1"),
    )
    .await;
    // AND a receiver verifying both signatures a default deployment sends
    let receiver = Receiver::trusting(
        integration_tests::free_port(),
        Some(TEST_SECRET),
        Some(TEST_PUBLIC_KEY),
    );

    // WHEN a flow whose callback names the secret ends
    let request = json!({"flow": "spark-pi", "callbacks": [{"http": {
        "url": receiver.url, "headers": {"x-api-key": {"secret": arn}, "x-team": "a"}}}]});
    let (flow_id, _, end) = w.run_to_end(request).await;
    end.unwrap();

    // THEN the receiver got the secret's value, signed v1 and v1a and verified both ways
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["headers"]["x-api-key"], value);
    assert_eq!(received[0]["headers"]["x-team"], "a");
    assert_eq!(received[0]["schemes"], json!(["v1", "v1a"]));
    // AND the record keeps the reference, never the value; list answers the reference
    let record = w.record(flow_id).await;
    assert_eq!(record.deliveries["0"].status, DeliveryStatus::Delivered);
    let answer = emr_flows::ops::list(&w.submitter.catalog, &w.svc().store, json!({"flow_id": flow_id}))
        .await
        .unwrap();
    assert_eq!(
        answer["callbacks"][0]["http"]["headers"]["x-api-key"],
        json!({"secret": arn})
    );
    assert_eq!(answer["callbacks"][0]["http"]["headers"]["x-team"], "***");
    assert!(!answer.to_string().contains(&value), "{answer}");
    assert!(!serde_json::to_string(&record).unwrap().contains(&value));
}

#[tokio::test]
async fn a_secret_not_tagged_for_the_callbacks_host_or_not_a_header_value_is_refused_at_delivery_without_its_value()
 {
    // GIVEN team B's key, tagged for team B's host, and one with no tag at all
    let w = world().await;
    let sm = aws_sdk_secretsmanager::Client::new(&integration_tests::world::MOTO.get().unwrap().sdk().await);
    let suffix = ulid::Ulid::generate().to_string().to_lowercase();
    let value = format!("team-b-key-{suffix}");
    let team_b = header_secret(
        &sm,
        &format!("emr-flows/callbacks/team-b-{suffix}"),
        &value,
        Some("hooks.team-b.example"),
    )
    .await;
    let untagged = header_secret(
        &sm,
        &format!("emr-flows/callbacks/untagged-{suffix}"),
        &value,
        None,
    )
    .await;
    // AND one tagged for the caller's host whose value cannot be a header (a line break)
    let multiline = format!("{value}\nsecond-line");
    let unsendable = header_secret(
        &sm,
        &format!("emr-flows/callbacks/multiline-{suffix}"),
        &multiline,
        Some("127.0.0.1"),
    )
    .await;
    // AND a caller's own endpoint (a receiver that would record whatever it gets)
    let receiver = Receiver::start(TEST_SECRET);

    // WHEN a caller names each secret in a callback to their own endpoint
    let request = json!({"flow": "spark-pi", "callbacks": [
        {"http": {"url": receiver.url, "headers": {"x-api-key": {"secret": team_b}}}},
        {"http": {"url": receiver.url, "headers": {"x-api-key": {"secret": untagged}}}},
        {"http": {"url": receiver.url, "headers": {"x-api-key": {"secret": unsendable}}}}
    ]});
    let (flow_id, _, end) = w.run_to_end(request).await;
    end.unwrap();

    // THEN nothing was sent, and each delivery's error names the header, the secret's ARN
    // and the tag, never the value
    assert!(receiver.received().is_empty(), "{:?}", receiver.received());
    let record = w.record(flow_id).await;
    for (key, arn) in [("0", &team_b), ("1", &untagged)] {
        let delivery = &record.deliveries[key];
        assert_eq!(delivery.attempts, 1);
        assert_eq!(
            delivery.status,
            DeliveryStatus::Pending,
            "retried later: the tag may be fixed"
        );
        let error = delivery.last_error.as_deref().unwrap();
        assert!(error.contains("header `x-api-key`"), "{error}");
        assert!(
            error.contains(arn.as_str()) && error.contains(HOST_TAG),
            "{error}"
        );
        assert!(error.contains("127.0.0.1"), "{error}");
        assert!(!error.contains(&value), "{error}");
    }
    let error = record.deliveries["2"].last_error.as_deref().unwrap();
    assert!(
        error.contains(&unsendable) && error.contains("holds no valid header value"),
        "{error}"
    );
    assert!(
        !error.contains(&value) && !error.contains("second-line"),
        "{error}"
    );

    // AND a secret outside the deployment's pattern is refused at submit, at its path
    let outside = header_secret(&sm, &format!("prod/db-{suffix}"), &value, Some("127.0.0.1")).await;
    let error = w
        .submit(json!({"flow": "spark-pi", "callbacks": [
            {"http": {"url": receiver.url, "headers": {"x-api-key": {"secret": outside}}}}]}))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("callbacks[0].http.headers.x-api-key.secret"),
        "{text}"
    );
    assert!(text.contains(HEADER_SECRETS), "{text}");
    assert!(!text.contains(&value), "{text}");
}

#[tokio::test]
async fn a_header_secret_and_its_tag_are_read_together_and_again_once_older_than_their_bound() {
    // GIVEN a secret tagged for another host, read through a cache whose entries last 1 s
    let moto = Moto::start();
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    let arn = header_secret(
        &client,
        "emr-flows/callbacks/cached",
        "v-1",
        Some("elsewhere.example"),
    )
    .await;
    let cache = TaggedSecrets::new(client.clone(), Duration::from_secs(1));
    let read = cache.read(&arn).await.unwrap();
    assert_eq!(read.tags[HOST_TAG], "elsewhere.example");
    assert_eq!(&*read.value, "v-1");
    assert!(
        !format!("{read:?}").contains("v-1"),
        "Debug never shows the value"
    );

    // WHEN its value and its tag change
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("v-2")
        .send()
        .await
        .unwrap();
    client
        .tag_resource()
        .secret_id(&arn)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(HOST_TAG)
                .value("127.0.0.1")
                .build(),
        )
        .send()
        .await
        .unwrap();

    // THEN both are the cached ones until 1 s old, then both the new ones
    let cached = cache.read(&arn).await.unwrap();
    assert_eq!(
        (cached.tags[HOST_TAG].as_str(), &*cached.value),
        ("elsewhere.example", "v-1")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = cache.read(&arn).await.unwrap();
    assert_eq!(
        (fresh.tags[HOST_TAG].as_str(), &*fresh.value),
        ("127.0.0.1", "v-2")
    );

    // AND a secret that does not exist is an upstream error naming the call
    let error = cache
        .read("arn:aws:secretsmanager:us-east-1:123456789012:secret:emr-flows/callbacks/none-AbCdEf")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("SecretsManager DescribeSecret failed"),
        "{error}"
    );
}
