//! The HTTP side of SPEC §9: the JSON API (checkpoint, log key, entries, proofs, traces,
//! rejections), event submission, registry administration behind the admin token, Prometheus
//! metrics, the log as C2SP tlog-tiles (`tiles`), the exports (EPCIS, evidence bundles), and the
//! pages people read: search, the
//! trace page of an item (also under its GS1 Digital Link), and the customs view; and the
//! storage audit (`audit`) that runs behind them and marks what tampering affects.
//!
//! It must never hold state of its own beyond caches (the audit's latest result is one, derived
//! from the log on every run): the ledger is the source of truth.

pub mod api;
pub mod audit;
pub mod auth;
pub mod epcis;
pub mod evidence;
pub mod format;
pub mod lookup;
pub mod pages;
pub mod reads;
pub mod site;
pub mod svg;
pub mod tiles;

pub use api::{AppState, router};
pub use reads::Reads;
pub use site::{site, site_with, site_with_reads};
