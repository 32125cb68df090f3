//! The HTTP side of SPEC §9: the JSON API (checkpoint, log key, entries, proofs, traces,
//! rejections), event submission, registry administration behind the admin token, Prometheus
//! metrics, the log as C2SP tlog-tiles (`tiles`), the exports (EPCIS, evidence bundles), and the
//! pages people read: search, the
//! trace page of an item (also under its GS1 Digital Link), and the customs view; the GS1
//! resolver (`resolver`: Digital Link paths, linksets, `/.well-known/gs1resolver`); and the
//! storage audit (`audit`) that runs behind them and marks what tampering affects.
//!
//! It must never hold state of its own beyond caches (the audit's latest result is one, derived
//! from the log on every run): the ledger is the source of truth.

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod epcis;
pub mod evidence;
pub mod format;
pub mod lookup;
pub mod pages;
pub mod passport;
pub mod reads;
pub mod resolver;
pub mod site;
pub mod svg;
pub mod tiles;

pub use api::{AppState, router};
pub use reads::Reads;
pub use site::{site, site_with, site_with_reads};

/// The server's public URL (`serve --public-url`), e.g. `https://trace.example.com`: the base
/// of every link the pages print for others to follow (the Digital Link in a label's QR code).
/// Given to the site as an `axum::Extension`; the request's `Host` header never replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

/// A `--public-url` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicUrlError {
    /// Not `http://host[:port]` or `https://host[:port]`.
    #[error(
        "{0:?} is not a public URL: give the scheme and host (and port) only, e.g. \
         https://trace.example.com or http://192.0.2.10:8080"
    )]
    Shape(String),
}

impl PublicUrl {
    /// Checks `url` is `http(s)://host[:port]` (a trailing `/` is dropped) with a host of
    /// letters, digits, `.`, `-`, `:` and brackets only, so it can be printed into pages and
    /// QR codes as it is.
    pub fn new(url: &str) -> Result<Self, PublicUrlError> {
        let url = url.trim().trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| PublicUrlError::Shape(url.to_string()))?;
        let plausible = !host.is_empty()
            && host.len() < 256
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !plausible {
            return Err(PublicUrlError::Shape(url.to_string()));
        }
        Ok(Self(url.to_string()))
    }

    /// The URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
