//! A POST to a user-given URL under the guard (webhook deliveries): the name resolved by the
//! guarded resolver, the connection made to the address it checked, no redirect followed, no
//! environment proxy, a time limit on the whole exchange, and at most a few KiB of the answer read.

use super::fetch::{check_literal_host, guarded_client, sent, FetchError, Lookup};
use super::AddressPolicy;
use std::sync::Arc;
use std::time::Duration;

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub status: u16,
    /// Its `Retry-After`, in seconds or as an HTTP date.
    pub retry_after: Option<Duration>,
    /// The start of its body (lossy UTF-8), at most the poster's limit.
    pub body: String,
}

/// Sends POSTs under an [`AddressPolicy`].
#[derive(Clone)]
pub struct Poster {
    client: Option<reqwest::Client>,
    policy: AddressPolicy,
    /// The most bytes of an answer read.
    max_body: usize,
}

impl Poster {
    /// A poster under `policy`; it fails closed (sends nothing) if its client cannot be built.
    pub fn new(policy: AddressPolicy, lookup: Arc<dyn Lookup>, max_body: usize) -> Self {
        let client = guarded_client(
            &policy,
            lookup,
            concat!("dialplane-webhooks/", env!("CARGO_PKG_VERSION")),
            "no webhook will be delivered",
        );
        Self {
            client,
            policy,
            max_body,
        }
    }

    /// Whether the guard lets `url` through as far as can be told without resolving it.
    pub fn check(&self, url: &url::Url) -> Result<(), FetchError> {
        if matches!(self.policy, AddressPolicy::Nothing) {
            return Err(FetchError::refused(
                "this server delivers no webhooks (--webhook-deliver false)".into(),
            ));
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError(format!(
                "{} URLs are not delivered to: only http and https",
                url.scheme()
            )));
        }
        check_literal_host(&self.policy, url)
    }

    /// POSTs `body` with `headers` to `url` within `timeout`, reading at most the limit of the
    /// answer.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Posted, FetchError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let late = || FetchError(format!("no answer within {} ms", timeout.as_millis()));
        let url = url::Url::parse(url).map_err(|e| FetchError(format!("not a URL: {e}")))?;
        self.check(&url)?;
        let Some(client) = &self.client else {
            return Err(FetchError::refused("this server delivers to no URL".into()));
        };
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = tokio::time::timeout_at(deadline, request.send())
            .await
            .map_err(|_| late())?
            .map_err(sent)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        // The answer's start only, within what is left of the time: an endless, huge or stalled
        // body is cut off, and the status stands.
        let mut bytes = Vec::new();
        while bytes.len() < self.max_body {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
                _ => break,
            }
        }
        bytes.truncate(self.max_body);
        Ok(Posted {
            status,
            retry_after,
            // As text a database can keep: invalid UTF-8 and NUL (which PostgreSQL's text refuses)
            // become U+FFFD.
            body: String::from_utf8_lossy(&bytes).replace('\0', "\u{FFFD}"),
        })
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (as a delay from now).
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delay = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delay.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let delay = retry_after(&later).unwrap();
        assert!(delay > Duration::from_secs(80) && delay <= Duration::from_secs(90));
        assert_eq!(retry_after("soon"), None);
    }

    /// Classified only: nothing here connects anywhere.
    #[test]
    fn literal_private_addresses_are_refused_before_connecting() {
        let poster = Poster::new(
            AddressPolicy::GlobalOnly,
            Arc::new(super::super::fetch::SystemLookup),
            4096,
        );
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]:9/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.0.1/hook",
            "https://169.254.169.254/latest",
            "https://[fc00::1]/hook",
            "https://[fe80::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
        ] {
            let refused = poster.check(&url::Url::parse(url).unwrap()).unwrap_err();
            assert!(refused.is_refused(), "{url}: {refused}");
        }
        assert!(poster
            .check(&url::Url::parse("https://8.8.8.8/hook").unwrap())
            .is_ok());
        assert!(poster
            .check(&url::Url::parse("ftp://8.8.8.8/hook").unwrap())
            .is_err());
        let silent = Poster::new(
            AddressPolicy::Nothing,
            Arc::new(super::super::fetch::SystemLookup),
            4096,
        );
        let refused = silent
            .check(&url::Url::parse("https://8.8.8.8/hook").unwrap())
            .unwrap_err();
        assert!(refused.to_string().contains("--webhook-deliver false"));
    }
}
