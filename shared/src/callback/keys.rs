//! The deployment's signing material: `v1` secrets and `v1a` signing keys, given once or read
//! from Secrets Manager, and the `webhook-signature` header they make (see
//! [`crate::callback::signature`] for the signatures themselves).

use std::sync::Arc;

use crate::aws::secrets::CachedSecret;
use crate::callback::signature::SigningKey;
use crate::error::Error;

/// Where a list of secrets or keys comes from.
pub(super) enum Source<T> {
    /// Given once (`CALLBACK_SIGNING_SECRET`, `CALLBACK_SIGNING_KEY`: local use), parsed at
    /// start-up.
    Fixed(Arc<T>),
    /// A Secrets Manager secret, read again when its cached value is older than its bound, and
    /// parsed when used.
    Managed(CachedSecret),
}

impl<T> Clone for Source<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(parsed) => Self::Fixed(parsed.clone()),
            Self::Managed(secret) => Self::Managed(secret.clone()),
        }
    }
}

/// The deployment's signing material: Standard Webhooks secrets (`v1`, HMAC-SHA256; every
/// receiver holds the secret) and ed25519 signing keys (`v1a`; receivers hold only the public
/// key, so none can sign what another receiver would accept). Each callback carries one
/// signature per secret and per key (see [`crate::callback::signature::signature_header`]); either list
/// may be absent, not both (see [`Dispatcher::with_signing`]). Cheap to clone.
#[derive(Clone, Default)]
pub struct SigningKeys {
    secrets: Option<Source<Vec<standardwebhooks::Webhook>>>,
    keys: Option<Source<Vec<SigningKey>>>,
}

impl SigningKeys {
    /// Signs `v1` with `secrets`: one or more `whsec_` secrets (the prefix may be left out),
    /// separated by commas or spaces (`CALLBACK_SIGNING_SECRET`'s form).
    ///
    /// Errors: [`Error::Internal`] when there is none or one is not base64 (named by its
    /// position, never shown).
    pub fn with_secrets(mut self, secrets: &str) -> Result<Self, Error> {
        let parsed = crate::callback::signature::parse_secrets(secrets, "CALLBACK_SIGNING_SECRET")?;
        self.secrets = Some(Source::Fixed(Arc::new(parsed)));
        Ok(self)
    }

    /// Signs `v1` with the secrets `secret` holds (same form), read when a callback is signed.
    pub fn with_managed_secrets(mut self, secret: CachedSecret) -> Self {
        self.secrets = Some(Source::Managed(secret));
        self
    }

    /// Signs `v1a` with `keys`: one or more `whsk_` ed25519 signing keys (see
    /// [`SigningKey::parse`]), separated by commas or spaces (`CALLBACK_SIGNING_KEY`'s form).
    ///
    /// Errors: [`Error::Internal`] when there is none or one does not parse (named by its
    /// position, never shown).
    pub fn with_keys(mut self, keys: &str) -> Result<Self, Error> {
        let parsed = crate::callback::signature::parse_keys(keys, "CALLBACK_SIGNING_KEY")?;
        self.keys = Some(Source::Fixed(Arc::new(parsed)));
        Ok(self)
    }

    /// Signs `v1a` with the keys `secret` holds (same form), read when a callback is signed.
    pub fn with_managed_keys(mut self, secret: CachedSecret) -> Self {
        self.keys = Some(Source::Managed(secret));
        self
    }

    /// The signature schemes every callback carries: `v1`, `v1a`, or both (in that order).
    pub fn schemes(&self) -> Vec<&'static str> {
        let mut schemes = Vec::new();
        if self.secrets.is_some() {
            schemes.push(crate::callback::signature::SYMMETRIC);
        }
        if self.keys.is_some() {
            schemes.push(crate::callback::signature::ASYMMETRIC);
        }
        schemes
    }

    /// The signing secrets to use now (none when `v1` is not configured).
    ///
    /// Errors: [`Error::Upstream`] or [`Error::Internal`] from a managed secret that cannot be
    /// read or parsed.
    async fn secrets(&self) -> Result<Arc<Vec<standardwebhooks::Webhook>>, Error> {
        match &self.secrets {
            None => Ok(Arc::default()),
            Some(Source::Fixed(secrets)) => Ok(secrets.clone()),
            Some(Source::Managed(secret)) => {
                let text = secret.get().await?;
                let origin = format!("secret {}", secret.secret_id());
                Ok(Arc::new(crate::callback::signature::parse_secrets(
                    &text, &origin,
                )?))
            }
        }
    }

    /// The signing keys to use now (none when `v1a` is not configured).
    ///
    /// Errors: as [`SigningKeys::secrets`].
    async fn keys(&self) -> Result<Arc<Vec<SigningKey>>, Error> {
        match &self.keys {
            None => Ok(Arc::default()),
            Some(Source::Fixed(keys)) => Ok(keys.clone()),
            Some(Source::Managed(secret)) => {
                let text = secret.get().await?;
                let origin = format!("secret {}", secret.secret_id());
                Ok(Arc::new(crate::callback::signature::parse_keys(&text, &origin)?))
            }
        }
    }

    /// The public keys receivers verify `v1a` with (`whpk_` + base64), one per signing key, in
    /// the order they sign; empty when `v1a` is not configured.
    ///
    /// Errors: as [`SigningKeys::secrets`].
    pub async fn public_keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.keys().await?.iter().map(SigningKey::public_key).collect())
    }

    /// The `webhook-signature` value for one callback (see
    /// [`crate::callback::signature::signature_header`]).
    ///
    /// Errors: as [`SigningKeys::secrets`]; [`Error::Internal`] when nothing is configured.
    pub async fn signature(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, Error> {
        let (secrets, keys) = (self.secrets().await?, self.keys().await?);
        crate::callback::signature::signature_header(&secrets, &keys, msg_id, timestamp, body)
    }
}
