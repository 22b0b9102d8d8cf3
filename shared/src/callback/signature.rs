//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, spec section "Signature
//! scheme"): what `webhook-signature` carries for one callback, from the deployment's keys.
//!
//! Both schemes of the spec sign the same content, `{webhook-id}.{webhook-timestamp}.{body}`:
//! - symmetric, `v1,<base64 HMAC-SHA256>`, with `whsec_` secrets (base64 of 24 to 64 random
//!   bytes), computed by the spec authors' `standardwebhooks` crate. Every receiver holding the
//!   secret can also sign: receivers that share one can forge each other's callbacks.
//! - asymmetric, `v1a,<base64 ed25519 signature>` (64 bytes, RFC 8032), with `whsk_` signing
//!   keys (base64 of the 32-byte ed25519 seed, as the spec's reference libraries take it; the
//!   64-byte seed-and-public-key form of NaCl and libsodium is accepted too) and `whpk_` public
//!   keys (base64 of the 32-byte public key). Receivers hold only the public key, so they can
//!   verify but never sign. ring's ed25519 (already linked for rustls) computes it.
//!
//! One signature per secret and per key, space-separated, `v1` ones first (the spec's
//! "webhook-signature" header is a space-delimited list, for rotation). A verifier takes the
//! entries of its own scheme and ignores the others, so a `v1a` verifier is never fooled by a
//! `v1` entry made with a secret another receiver holds.
//!
//! Pure: no AWS types, no I/O, no clock (the timestamp is given). Never logs or returns a
//! secret or signing key; errors name one by its position in its list.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::error::Error;

/// The symmetric scheme's signature identifier (HMAC-SHA256).
pub const SYMMETRIC: &str = "v1";
/// The asymmetric scheme's signature identifier (ed25519).
pub const ASYMMETRIC: &str = "v1a";
/// The prefix of a serialized signing (secret) key.
pub const SIGNING_KEY_PREFIX: &str = "whsk_";
/// The prefix of a serialized public key.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// Base64 as keys are written by people and tools: the standard alphabet, padding optional,
/// unused trailing bits ignored. CloudFormation's generated secrets are 43 letters and digits
/// (32 bytes, no padding, arbitrary trailing bits); the spec's libraries write padded base64.
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// An ed25519 signing key (the private half). Its `Debug` shows the public key only.
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// Parses `whsk_` + base64 of the 32-byte seed (the prefix may be left out; padding is
    /// optional), or of 64 bytes: the seed followed by its public key, which must match.
    ///
    /// Errors: a message that never contains the key (not base64, wrong length, a public half
    /// that does not belong to the seed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text.strip_prefix(SIGNING_KEY_PREFIX).unwrap_or(text);
        let bytes = LENIENT
            .decode(encoded)
            .map_err(|_| "is not whsk_ + base64".to_owned())?;
        let pair = match bytes.len() {
            32 => Ed25519KeyPair::from_seed_unchecked(&bytes),
            64 => Ed25519KeyPair::from_seed_and_public_key(&bytes[..32], &bytes[32..]),
            n => {
                return Err(format!(
                    "is {n} bytes; an ed25519 signing key is a 32-byte seed (or 64 bytes: seed and public key)"
                ));
            }
        };
        pair.map(Self)
            .map_err(|e| format!("is not an ed25519 key pair ({e})"))
    }

    /// The public key, `whpk_` + base64 of its 32 bytes: what receivers verify with.
    pub fn public_key(&self) -> String {
        format!(
            "{PUBLIC_KEY_PREFIX}{}",
            STANDARD.encode(self.0.public_key().as_ref())
        )
    }

    /// `v1a,<base64 signature>` of `{msg_id}.{timestamp}.{body}`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let signature = self.0.sign(&signed_content(msg_id, timestamp, body));
        format!("{ASYMMETRIC},{}", STANDARD.encode(signature.as_ref()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SigningKey").field(&self.public_key()).finish()
    }
}

/// What both schemes sign: `{msg_id}.{timestamp}.{body}`.
fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// Whether one of the `v1a` entries of `signatures` (a `webhook-signature` header value) is
/// a valid ed25519 signature of `{msg_id}.{timestamp}.{body}` by `public_key` (`whpk_` +
/// base64; the prefix may be left out). Entries of other schemes are ignored. As a receiver
/// verifies; the timestamp's tolerance is the receiver's to check.
///
/// Errors: a message when `public_key` is not a 32-byte key in base64.
pub fn verify(
    public_key: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    signatures: &str,
) -> Result<bool, String> {
    let encoded = public_key.strip_prefix(PUBLIC_KEY_PREFIX).unwrap_or(public_key);
    let key = LENIENT
        .decode(encoded)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or("the public key is not whpk_ + base64 of 32 bytes")?;
    let key = UnparsedPublicKey::new(&ED25519, key);
    let content = signed_content(msg_id, timestamp, body);
    Ok(signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1a,"))
        .filter_map(|signature| STANDARD.decode(signature).ok())
        .any(|signature| key.verify(&content, &signature).is_ok()))
}

/// The entries of a list of keys or secrets: separated by commas or white space.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ' ', '\n', '\t', '\r']).filter(|s| !s.is_empty())
}

/// Parses a list of Standard Webhooks secrets (`whsec_` + base64; the prefix may be left
/// out), separated by commas or white space; `origin` names where they came from in errors.
///
/// Errors: [`Error::Internal`] when there is no secret or one is not base64 (named by its
/// position, never shown).
pub fn parse_secrets(text: &str, origin: &str) -> Result<Vec<standardwebhooks::Webhook>, Error> {
    let secrets = entries(text)
        .enumerate()
        .map(|(i, secret)| {
            standardwebhooks::Webhook::new(secret).map_err(|e| {
                Error::Internal(format!(
                    "{origin}: secret {} of the list is not whsec_ + base64 ({e:?})",
                    i + 1
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if secrets.is_empty() {
        return Err(Error::Internal(format!("{origin} holds no secret")));
    }
    Ok(secrets)
}

/// Parses a list of ed25519 signing keys (see [`SigningKey::parse`]), separated by commas or
/// white space; `origin` names where they came from in errors.
///
/// Errors: [`Error::Internal`] when there is no key or one does not parse (named by its
/// position, never shown).
pub fn parse_keys(text: &str, origin: &str) -> Result<Vec<SigningKey>, Error> {
    let keys = entries(text)
        .enumerate()
        .map(|(i, key)| {
            SigningKey::parse(key)
                .map_err(|e| Error::Internal(format!("{origin}: key {} of the list {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(Error::Internal(format!("{origin} holds no signing key")));
    }
    Ok(keys)
}

/// The `webhook-signature` value for one message: one `v1` signature per secret, then one
/// `v1a` signature per key, space-separated.
///
/// Errors: [`Error::Internal`] when there is nothing to sign with, or the body is not UTF-8
/// (the `standardwebhooks` crate signs text; callback documents are JSON).
pub fn signature_header(
    secrets: &[standardwebhooks::Webhook],
    keys: &[SigningKey],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, Error> {
    if secrets.is_empty() && keys.is_empty() {
        return Err(Error::Internal("no signing secret or key".into()));
    }
    let mut signatures = Vec::with_capacity(secrets.len() + keys.len());
    for secret in secrets {
        signatures.push(
            secret
                .sign(msg_id, timestamp, body)
                .map_err(|e| Error::Internal(format!("signing: {e}")))?,
        );
    }
    signatures.extend(keys.iter().map(|key| key.sign(msg_id, timestamp, body)));
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key pair of this crate's tests (never used anywhere else).
    const KEY: &str = "whsk_P34xRjNXQLwUFWPPY90eiMzRhTVxnDKC//LxqETxqMI=";
    const PUBLIC: &str = "whpk_e2QvF+i9cqHd0zod4493MzUBZPMvpJRusft3/vmEP5U=";
    const OTHER_KEY: &str = "whsk_URdm8TwQrs0o5NdVZywaAclCjkqaPspoKXEtkgjxULQ=";
    const OTHER_PUBLIC: &str = "whpk_iEhFzScufO7R/rqIwd1uoZdmmwRyDC7/ADow+HLMhZ8=";
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=";

    #[test]
    fn the_reference_librarys_test_vector_is_signed_byte_for_byte() {
        // GIVEN the signing test of the spec's Go library (libraries/go/webhook_asymmetric_test.go):
        // the seed "TESTSIGNINGKEYDONOTUSETHISFORANY" in base64, without the whsk_ prefix
        let key = SigningKey::parse("VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=").unwrap();
        // WHEN its message is signed
        let signature = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        // THEN the signature is the library's expected one (ed25519 is deterministic), and
        // the public key is the one Python's `cryptography` derives from the same seed
        assert_eq!(
            signature,
            "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
        );
        assert_eq!(
            key.public_key(),
            "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
        );
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_and_with_no_other() {
        // GIVEN a signing key, and a message signed with it
        let key = SigningKey::parse(KEY).unwrap();
        assert_eq!(key.public_key(), PUBLIC);
        let (id, ts, body) = (
            "flow_01JDQ3V4X8M6Z0B1C2D3E4F5G6_succeeded",
            1_795_000_000,
            br#"{"a":1}"#,
        );
        let header = key.sign(id, ts, body);
        assert!(header.starts_with("v1a,"), "{header}");
        // THEN its public key verifies it
        assert_eq!(verify(PUBLIC, id, ts, body, &header), Ok(true));
        // AND another key's public key does not
        assert_eq!(verify(OTHER_PUBLIC, id, ts, body, &header), Ok(false));
        // AND neither does a changed body, id or timestamp
        assert_eq!(verify(PUBLIC, id, ts, br#"{"a":2}"#, &header), Ok(false));
        assert_eq!(verify(PUBLIC, "flow_x_failed", ts, body, &header), Ok(false));
        assert_eq!(verify(PUBLIC, id, ts + 1, body, &header), Ok(false));
        // AND a signature made with another key fails with this public key
        let forged = SigningKey::parse(OTHER_KEY).unwrap().sign(id, ts, body);
        assert_eq!(verify(PUBLIC, id, ts, body, &forged), Ok(false));
        assert_eq!(verify(OTHER_PUBLIC, id, ts, body, &forged), Ok(true));
        // AND a v1 entry, whatever it holds, is never taken for a v1a one
        let v1_body = header.strip_prefix("v1a,").unwrap();
        assert_eq!(verify(PUBLIC, id, ts, body, &format!("v1,{v1_body}")), Ok(false));
        assert!(verify("whpk_c2hvcnQ=", id, ts, body, &header).is_err());
    }

    #[test]
    fn the_header_holds_one_signature_per_secret_then_per_key_and_each_verifies() {
        // GIVEN a v1 secret and two v1a keys (a rotation: new, old)
        let secrets = parse_secrets(SECRET, "test").unwrap();
        let keys = parse_keys(&format!("{KEY}, {OTHER_KEY}"), "test").unwrap();
        let (id, ts, body) = ("msg_1", 1_795_000_000_i64, br#"{"type":"flow.ended"}"#);
        // WHEN a message is signed
        let header = signature_header(&secrets, &keys, id, ts, body).unwrap();
        // THEN the header is `v1,… v1a,… v1a,…`
        let schemes: Vec<_> = header.split(' ').map(|s| s.split(',').next().unwrap()).collect();
        assert_eq!(schemes, ["v1", "v1a", "v1a"]);
        // AND each public key verifies it, and the v1 entry is the reference crate's HMAC
        assert_eq!(verify(PUBLIC, id, ts, body, &header), Ok(true));
        assert_eq!(verify(OTHER_PUBLIC, id, ts, body, &header), Ok(true));
        let v1 = standardwebhooks::Webhook::new(SECRET).unwrap();
        let expected_v1 = v1.sign(id, ts, body).unwrap();
        assert!(header.split(' ').any(|s| s == expected_v1));
        // AND with only keys there is no v1 entry; with nothing, no header
        let only_keys = signature_header(&[], &keys[..1], id, ts, body).unwrap();
        assert_eq!(only_keys.split(' ').count(), 1);
        assert!(only_keys.starts_with("v1a,"));
        assert!(signature_header(&[], &[], id, ts, body).is_err());
    }

    #[test]
    fn keys_parse_with_or_without_prefix_padding_or_public_half() {
        // GIVEN the same seed written four ways
        let padded = SigningKey::parse(KEY).unwrap();
        let bare = SigningKey::parse(KEY.strip_prefix("whsk_").unwrap()).unwrap();
        let unpadded = SigningKey::parse(KEY.trim_end_matches('=')).unwrap();
        let seed = LENIENT.decode(KEY.strip_prefix("whsk_").unwrap()).unwrap();
        let public = LENIENT.decode(PUBLIC.strip_prefix("whpk_").unwrap()).unwrap();
        let with_public = format!("whsk_{}", STANDARD.encode([seed.clone(), public].concat()));
        let nacl = SigningKey::parse(&with_public).unwrap();
        // THEN each is the same key pair
        for key in [bare, unpadded, nacl] {
            assert_eq!(key.public_key(), padded.public_key());
        }
        // AND what the template generates, 43 letters and digits (base64 of 32 bytes without
        // padding, trailing bits arbitrary), is a key: the public key Python derives from it
        let generated = SigningKey::parse("Zq3LmN8pR2vT6xW9yB4cD7fH1jK5nP0sU3wA8eG2iLp").unwrap();
        assert_eq!(
            generated.public_key(),
            "whpk_PEFHP9PIB0XN0/al9MZNEccAxq2ckH9Nv/vyA9qnjrA="
        );
        // AND a seed with another key's public half is refused
        let other_public = LENIENT
            .decode(OTHER_PUBLIC.strip_prefix("whpk_").unwrap())
            .unwrap();
        let mismatched = STANDARD.encode([seed, other_public].concat());
        assert!(SigningKey::parse(&mismatched).is_err());
        // AND Debug shows the public key only
        assert_eq!(format!("{padded:?}"), format!("SigningKey(\"{PUBLIC}\")"));
    }

    #[test]
    fn broken_keys_are_named_by_position_never_shown() {
        for (list, expected) in [
            (
                format!("{KEY},whsk_!!not-base64!!"),
                "key 2 of the list is not whsk_ + base64",
            ),
            (format!("{KEY} whsk_c2hvcnQ="), "key 2 of the list is 5 bytes"),
            (",  ,".to_owned(), "holds no signing key"),
        ] {
            let error = parse_keys(&list, "CALLBACK_SIGNING_KEY").unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(error.contains("CALLBACK_SIGNING_KEY"), "{error}");
            assert!(
                !error.contains("not-base64") && !error.contains("c2hvcnQ"),
                "{error}"
            );
            assert!(!error.contains(KEY.strip_prefix("whsk_").unwrap()), "{error}");
        }
        let error = parse_secrets(&format!("{SECRET},whsec_!!x!!"), "s")
            .err()
            .unwrap();
        assert!(error.to_string().contains("secret 2"), "{error}");
    }
}
