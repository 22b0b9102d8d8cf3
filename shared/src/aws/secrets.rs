//! Secrets in AWS Secrets Manager, read once per container and kept for at most [`MAX_AGE`], so
//! a rotated secret takes effect within that time, without a redeploy:
//!
//! - [`CachedSecret`]: one secret's value, read with GetSecretValue: the callback signing
//!   secrets (`CALLBACK_SIGNING_SECRET_ARN`) and signing keys (`CALLBACK_SIGNING_KEY_ARN`). The
//!   `SecretString` has the form of `CALLBACK_SIGNING_SECRET` (Standard Webhooks `whsec_`
//!   secrets; the prefix may be left out, as in the secret the template generates) or of
//!   `CALLBACK_SIGNING_KEY` (`whsk_` ed25519 keys), several separated by commas or spaces.
//!   Parsing them is [`crate::callback::signature`]'s.
//! - [`TaggedSecrets`]: callback header values named by reference, each read with its tags
//!   (DescribeSecret and GetSecretValue, cached together), so the caller can check where the
//!   secret's owner allows it to be sent before using it ([`crate::callback`]'s rule).
//!
//! This module only fetches and caches. It must not log or return a secret's value but to its
//! caller, only its ARN or name.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::aws::upstream;
use crate::error::Error;

/// The service as errors and the `AwsApiErrors` metric name it.
const SECRETS_MANAGER: &str = "SecretsManager";

/// How long a value read from Secrets Manager is used before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// A value and when it was read.
type Cached = Option<(Instant, Arc<str>)>;

/// A Secrets Manager secret's current value, cached (cheap to clone: clones share the cache).
#[derive(Clone)]
pub struct CachedSecret {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    max_age: Duration,
    cached: Arc<Mutex<Cached>>,
}

impl std::fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecret")
            .field("secret_id", &self.secret_id)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl CachedSecret {
    /// The secret `secret_id` (its ARN or name), its value used for at most `max_age` (see
    /// [`MAX_AGE`]). Reads nothing yet.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        max_age: Duration,
    ) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            max_age,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// The secret's ARN or name, as given.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The secret's current `SecretString` (its `AWSCURRENT` version): from the cache when it
    /// was read less than `max_age` ago, else read again. When reading fails and a value was
    /// read before, that value is kept for another `max_age` (logged): a Secrets Manager outage
    /// does not stop deliveries.
    ///
    /// Errors: [`Error::Upstream`] (service `SecretsManager`) when the secret cannot be read and
    /// none was read before; [`Error::Internal`] when the secret has no string value (a binary
    /// secret) or an empty one.
    pub async fn get(&self) -> Result<Arc<str>, Error> {
        let previous = self.lock().clone();
        if let Some((read_at, value)) = &previous
            && read_at.elapsed() < self.max_age
        {
            return Ok(value.clone());
        }
        match self.read().await {
            Ok(value) => {
                *self.lock() = Some((Instant::now(), value.clone()));
                Ok(value)
            }
            Err(error) => match previous {
                Some((_, value)) => {
                    tracing::warn!(secret = %self.secret_id, %error, "secret not read again; the last value is kept");
                    *self.lock() = Some((Instant::now(), value.clone()));
                    Ok(value)
                }
                None => Err(error),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn read(&self) -> Result<Arc<str>, Error> {
        secret_string(&self.client, &self.secret_id).await
    }
}

/// The `SecretString` of `secret_id`'s `AWSCURRENT` version, white space trimmed (GetSecretValue).
///
/// Errors: [`Error::Upstream`] when the call fails; [`Error::Internal`] when the secret has no
/// string value (a binary secret) or an empty one.
async fn secret_string(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<Arc<str>, Error> {
    let output = (client.get_secret_value().secret_id(secret_id).send().await)
        .map_err(upstream(SECRETS_MANAGER, "GetSecretValue"))?;
    match output.secret_string() {
        Some(value) if !value.trim().is_empty() => Ok(Arc::from(value.trim())),
        _ => Err(Error::Internal(format!(
            "secret {secret_id} has no string value (SecretString)"
        ))),
    }
}

/// A secret's tags and current value, read together.
#[derive(Clone)]
pub struct TaggedSecret {
    /// Tag key → value, as DescribeSecret answers them.
    pub tags: BTreeMap<String, String>,
    /// The `SecretString` of the `AWSCURRENT` version, white space trimmed at both ends.
    pub value: Arc<str>,
}

impl std::fmt::Debug for TaggedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaggedSecret")
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// Secrets read by ARN with their tags, each cached for at most `max_age` (cheap to clone:
/// clones share the cache). Unlike [`CachedSecret`], a secret that cannot be read again is not
/// kept: its tags may have changed, and the caller's attempt fails and is retried later.
#[derive(Clone)]
pub struct TaggedSecrets {
    client: aws_sdk_secretsmanager::Client,
    max_age: Duration,
    cached: Arc<Mutex<HashMap<String, (Instant, TaggedSecret)>>>,
}

impl std::fmt::Debug for TaggedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaggedSecrets")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// At most this many secrets are cached per container; beyond, the oldest reads are dropped.
const MAX_CACHED: usize = 256;

impl TaggedSecrets {
    /// Secrets read through `client`, each used for at most `max_age` (see [`MAX_AGE`]).
    /// Reads nothing yet.
    pub fn new(client: aws_sdk_secretsmanager::Client, max_age: Duration) -> Self {
        Self {
            client,
            max_age,
            cached: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The secret `secret_id` (its ARN) with its tags: from the cache when read less than
    /// `max_age` ago, else with DescribeSecret (the tags) and GetSecretValue (the value).
    ///
    /// Errors: [`Error::Upstream`] (service `SecretsManager`) when either call fails (a missing
    /// secret, no permission); [`Error::Internal`] when the secret has no string value.
    pub async fn read(&self, secret_id: &str) -> Result<TaggedSecret, Error> {
        if let Some((read_at, secret)) = self.lock().get(secret_id)
            && read_at.elapsed() < self.max_age
        {
            return Ok(secret.clone());
        }
        let described = (self.client.describe_secret().secret_id(secret_id).send().await)
            .map_err(upstream(SECRETS_MANAGER, "DescribeSecret"))?;
        let tags = (described.tags())
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect();
        let value = secret_string(&self.client, secret_id).await?;
        let secret = TaggedSecret { tags, value };
        let mut cached = self.lock();
        if cached.len() >= MAX_CACHED {
            let oldest = cached
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(id, _)| id.clone());
            cached.remove(&oldest.unwrap_or_default());
        }
        cached.insert(secret_id.to_owned(), (Instant::now(), secret.clone()));
        Ok(secret)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, TaggedSecret)>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
