//! The callback signing secrets in Secrets Manager (moto): read once, cached with a bounded
//! age, a rotated value used once the cached one is older than that, and a secret that cannot
//! be read failing the delivery attempt without showing anything secret.

use std::time::Duration;

use e2e::{Moto, Receiver};
use serde_json::json;
use shared::callback::{CallbackDocument, CallbackTarget, Dispatcher, HttpTarget};
use shared::model::AttemptOutcome;
use shared::secrets::CachedSecret;

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
        CachedSecret::new(client.clone(), &arn, shared::secrets::MAX_AGE),
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
        CachedSecret::new(client, "emr-flows/no-such-secret", shared::secrets::MAX_AGE),
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
