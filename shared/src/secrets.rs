//! The callback signing secrets in AWS Secrets Manager: read with GetSecretValue once per
//! container and kept for at most [`MAX_AGE`], so a rotated secret takes effect within that
//! time, without a redeploy.
//!
//! The secret's `SecretString` has the form of `CALLBACK_SIGNING_SECRET`: one or more Standard
//! Webhooks secrets (`whsec_` + base64 of the key bytes; the `whsec_` prefix may be left out,
//! as in the secret the template generates), separated by commas or spaces. Parsing them is
//! [`crate::callback`]'s; this module only fetches and caches the text.
//!
//! This module must not log or return the secret's value, only its ARN or name.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;

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
                    tracing::warn!(secret = %self.secret_id, %error, "signing secret not read again; the last value is kept");
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
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                crate::metrics::aws_api_error("SecretsManager");
                Error::upstream("SecretsManager", "GetSecretValue")(e)
            })?;
        match output.secret_string() {
            Some(value) if !value.trim().is_empty() => Ok(Arc::from(value.trim())),
            _ => Err(Error::Internal(format!(
                "secret {} has no string value (SecretString)",
                self.secret_id
            ))),
        }
    }
}
