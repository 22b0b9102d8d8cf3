//! Callbacks: who is told when a flow ends, what they are sent, and how it is signed and
//! delivered. Targets are checked against a [`CallbackPolicy`] when a flow is submitted, so a
//! target that could never be called is refused up front, not discovered at the end.
//!
//! HTTP targets get a `POST` signed per the Standard Webhooks spec
//! (<https://www.standardwebhooks.com/>, headers `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`): `v1` (HMAC-SHA256, with the deployment's `whsec_` secrets) and `v1a`
//! (ed25519, with its `whsk_` signing keys), whichever are configured (see [`SigningKeys`] and
//! [`crate::callback::signature`]). Lambda targets get an asynchronous `Invoke` (`InvocationType=Event`)
//! with the same document as payload.
//!
//! A header value may name a Secrets Manager secret instead of holding the value
//! (`{"secret": "<ARN>"}`), read at delivery. So that a caller cannot have emr-flows send
//! someone else's secret to the caller's own endpoint (a confused deputy), such a secret must
//! (1) match one of the deployment's patterns (`CALLBACK_HEADER_SECRETS`, the same resources
//! its IAM policy allows; checked at submit and again at delivery), and (2) carry the tag
//! [`HOST_TAG`] naming the callback URL's host (checked at delivery, on the secret's tags as
//! read with its value): the secret's owner, not the caller, decides where its value may go.

mod address;
mod dispatch;
mod document;
mod keys;
mod mask;
mod policy;
pub mod signature;

pub use crate::model::{CallbackTarget, HeaderValue, HttpTarget, SecretRef};
pub use address::is_local;
pub use dispatch::{Dispatcher, HTTP_CONNECT_TIMEOUT, HTTP_TIMEOUT};
pub use document::{CallbackDocument, FLOW_EVENT_KIND, StepSummary};
pub use keys::SigningKeys;
pub use mask::{MASK, Shown, mask_url, masked};
pub use policy::{
    CallbackPolicy, HOST_TAG, MAX_CALLBACKS, MAX_HEADERS, MAX_TARGET_LENGTH, callback_host, check_secret_ref,
    tag_allows,
};

#[cfg(test)]
mod tests;
