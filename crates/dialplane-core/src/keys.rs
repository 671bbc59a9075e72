//! API keys: generated with 256 bits of entropy, shown once, stored only as a SHA-256 hash.
//!
//! A fast hash is the right tool here: the key is random, not a password, so there is nothing to
//! brute-force, and lookups by hash compare no secret bytes in variable time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

const PREFIX: &str = "dp_";
const SECRET_BYTES: usize = 32;
const ENCODED_LEN: usize = 43; // base64url of 32 bytes, unpadded

/// A plain API key. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A new random key: `dp_` and 43 base64url characters.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Parses what a client sent; `None` when it cannot be a key of ours.
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(PREFIX)?;
        let ok = body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    /// The value stored in place of the key.
    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The key itself, for showing once at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(dp_…)")
    }
}

/// `text` with anything that looks like an API key (`dp_` and 8 or more key characters) cut to
/// `dp_…`: for messages and logs that echo what a client sent, where a key pasted by mistake (as an
/// id in a path, say) must not be quoted.
pub fn redact_keys(text: &str) -> std::borrow::Cow<'_, str> {
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let looks_like_key = |rest: &str| rest.bytes().take_while(|b| is_key_byte(*b)).count() >= 8;
    if !text
        .match_indices(PREFIX)
        .any(|(at, _)| looks_like_key(&text[at + PREFIX.len()..]))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        out.push_str(&rest[..at]);
        if looks_like_key(after) {
            out.push_str("dp_…");
            let len = after.bytes().take_while(|b| is_key_byte(*b)).count();
            rest = &after[len..];
        } else {
            out.push_str(PREFIX);
            rest = after;
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// SHA-256 of a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(…)")
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GET only.
    Read,
    /// Everything.
    Write,
    /// A voice runtime's: what a `read` key may, and recording calls (creating and changing
    /// conversations, appending their turns, adding opt-outs).
    Runtime,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Runtime => "runtime",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Scope::Read, Scope::Write, Scope::Runtime]
            .into_iter()
            .find(|scope| scope.as_str() == s)
    }

    /// Whether a key of this scope may record calls (a voice runtime's writes).
    pub fn records_calls(self) -> bool {
        matches!(self, Scope::Write | Scope::Runtime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a, b);
        assert_eq!(ApiKey::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.expose().len(), 3 + 43);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let good = ApiKey::generate();
        for bad in [
            "",
            "dp_",
            "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &good.expose()[1..],
            &format!("{}=", good.expose()),
            "dp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn keys_in_text_are_redacted_and_other_text_is_kept() {
        let key = ApiKey::generate();
        let text = format!("is not an agent id: \"{}\", nor dp_x or dp_", key.expose());
        let redacted = redact_keys(&text);
        assert_eq!(redacted, "is not an agent id: \"dp_…\", nor dp_x or dp_");
        let two = format!("{0}/{0}", key.expose());
        assert_eq!(redact_keys(&two), "dp_…/dp_…");
        assert!(matches!(
            redact_keys("no key here: dp_short"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(redact_keys("ädp_12345678ü"), "ädp_…ü");
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = ApiKey::generate();
        assert!(!format!("{key:?}").contains(&key.expose()[3..]));
    }
}
