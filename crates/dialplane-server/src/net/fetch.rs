//! A GET of a user-given URL under the guard: each hop's URL checked, each name resolved by
//! [`GuardedResolver`] (only allowed addresses come back, and the connection goes to one of them),
//! redirects followed by hand, a time limit on the whole fetch and a size limit on the body.

use super::AddressPolicy;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How names become addresses: the system's resolver, or one a test controls.
pub trait Lookup: Send + Sync {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system's resolver.
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// The whole fetch, redirects included.
    pub timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_bytes: 5 << 20,
            max_redirects: 5,
        }
    }
}

/// What a fetch got.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The `Content-Type` the server sent, lowercased, without parameters.
    pub content_type: Option<String>,
    /// Its `charset` parameter, if any.
    pub charset: Option<String>,
}

/// Why a fetch gave nothing, in words for a document's `statusMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

impl FetchError {
    /// The guard refused an address (not a failure of the page).
    pub(super) fn refused(why: String) -> Self {
        Self(format!("{REFUSED}{why}"))
    }

    /// Whether the SSRF guard refused the fetch.
    pub fn is_refused(&self) -> bool {
        self.0.starts_with(REFUSED)
    }
}

/// How a refusal of the guard starts.
const REFUSED: &str = "refused: ";

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

/// Resolves through a [`Lookup`] and keeps only the addresses the policy allows.
struct GuardedResolver {
    policy: AddressPolicy,
    lookup: Arc<dyn Lookup>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let addresses = lookup
                .lookup(&host)
                .await
                .map_err(|e| FetchError(format!("the host {host} could not be resolved: {e}")))?;
            let allowed: Vec<SocketAddr> = addresses
                .iter()
                .filter(|ip| policy.allows(**ip))
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
                return Err(Box::new(FetchError::refused(format!(
                    "the host {host} resolves to no public address ({})",
                    if shown.is_empty() {
                        "none".to_owned()
                    } else {
                        shown.join(", ")
                    }
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client under the guard: names resolved by [`GuardedResolver`], no redirects followed, no
/// environment proxy. `None` (logged, naming `what` fails) if it cannot be built: callers then
/// reach nothing, rather than reach with a client without the guard.
pub(super) fn guarded_client(
    policy: &AddressPolicy,
    lookup: Arc<dyn Lookup>,
    user_agent: &str,
    what: &str,
) -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
            lookup,
        }))
        .user_agent(user_agent)
        .build()
        .inspect_err(|e| tracing::error!(error = %e, "the HTTP client could not be built: {what}"))
        .ok()
}

/// A URL's host, refused if it is a literal address `policy` does not allow (a name is checked
/// when it is resolved).
pub(super) fn check_literal_host(policy: &AddressPolicy, url: &url::Url) -> Result<(), FetchError> {
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(FetchError("the URL has no host".into())),
    };
    if policy.allows(literal) {
        Ok(())
    } else {
        Err(FetchError::refused(format!(
            "{literal} is not a public address (--allow-private-urls allows it)"
        )))
    }
}

/// Fetches user-given URLs under an [`AddressPolicy`].
#[derive(Clone)]
pub struct Fetcher {
    /// `None` when it could not be built: then the policy is `Nothing`.
    client: Option<reqwest::Client>,
    policy: AddressPolicy,
    limits: FetchLimits,
}

impl Fetcher {
    /// A fetcher under `policy`. If the guarded client cannot be built (its TLS backend fails to
    /// start), it fails closed: it fetches nothing, rather than fetch with a client without the guard.
    pub fn new(policy: AddressPolicy, lookup: Arc<dyn Lookup>, limits: FetchLimits) -> Self {
        let client = guarded_client(
            &policy,
            lookup,
            concat!("dialplane/", env!("CARGO_PKG_VERSION")),
            "no URL document will be fetched",
        );
        let policy = if client.is_some() {
            policy
        } else {
            AddressPolicy::Nothing
        };
        Self {
            client,
            policy,
            limits,
        }
    }

    /// Whether `url` may be fetched as far as it can be told without resolving it: http or https,
    /// no user-info, and a literal address only if the policy allows it.
    pub fn check(&self, url: &url::Url) -> Result<(), FetchError> {
        if matches!(self.policy, AddressPolicy::Nothing) {
            return Err(FetchError::refused(
                "this server fetches no URLs (--kb-url-fetch false)".into(),
            ));
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError(format!(
                "{} URLs are not fetched: only http and https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError(
                "a URL with a user name or password is not fetched".into(),
            ));
        }
        check_literal_host(&self.policy, url)
    }

    /// GETs `url`, following at most the limit's redirects, each hop checked.
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let limits = self.limits;
        tokio::time::timeout(limits.timeout, self.get_within(url))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError(format!(
                    "the fetch took longer than {} s",
                    limits.timeout.as_secs_f64()
                )))
            })
    }

    async fn get_within(&self, url: &str) -> Result<Fetched, FetchError> {
        let mut url = url::Url::parse(url).map_err(|e| FetchError(format!("not a URL: {e}")))?;
        for _ in 0..=self.limits.max_redirects {
            self.check(&url)?;
            let Some(client) = &self.client else {
                return Err(FetchError::refused("this server fetches no URLs".into()));
            };
            let response = client.get(url.clone()).send().await.map_err(sent)?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        FetchError(format!("the server answered {status} without a Location"))
                    })?;
                url = url.join(location).map_err(|e| {
                    FetchError(format!("the redirect to {location:?} is not a URL: {e}"))
                })?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError(format!("the server answered {status}")));
            }
            return self.body(response).await;
        }
        Err(FetchError(format!(
            "more than {} redirects",
            self.limits.max_redirects
        )))
    }

    async fn body(&self, mut response: reqwest::Response) -> Result<Fetched, FetchError> {
        let max = self.limits.max_bytes;
        let too_large = || {
            FetchError(if max >= 1 << 20 && max.is_multiple_of(1 << 20) {
                format!("the content is over {} MB", max >> 20)
            } else {
                format!("the content is over {max} bytes")
            })
        };
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let header = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut params = header.split(';');
        let content_type = params
            .next()
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty());
        let charset = params.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().to_owned())
        });
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(sent)? {
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes,
            content_type,
            charset,
        })
    }
}

/// A reqwest error in words: the guard's refusal if that is what it was.
pub(super) fn sent(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<FetchError>() {
            return refused.clone();
        }
        source = cause.source();
    }
    if e.is_connect() {
        return FetchError("could not connect to the server".into());
    }
    FetchError(format!("the fetch failed: {e}"))
}
