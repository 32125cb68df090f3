//! The HTTP side of SPEC §9: the JSON API (checkpoint, log key, entries, proofs, traces,
//! rejections), event submission, registry administration behind the admin token, and
//! Prometheus metrics. The trace pages, search and exports arrive with issue #6.
//!
//! It must never hold state of its own beyond caches: the ledger is the source of truth.

pub mod api;
pub mod auth;
pub mod epcis;
pub mod evidence;
pub mod site;

pub use api::{AppState, router};
pub use site::site;
