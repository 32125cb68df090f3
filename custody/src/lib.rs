//! The customs side of Provenance, as pure functions: what a chain of custody is, how it is
//! proved offline, and how an item's history is exported.
//!
//! - [`rules`]: the chain-of-custody rules over an item's ordered trace: who held the item
//!   when, seal status, gaps in time and place, excursions, device chain breaks, registration
//!   and revocation, each finding with a severity and the log indexes involved, and an overall
//!   [`rules::Verdict`]. The JSON trace, the HTML page and the offline verifier all show these
//!   same findings.
//! - [`summary`]: what a person reads first, from the same trace: one status (in transit,
//!   held by customs, cleared, delivered …), the customs acts in order, the legs of the
//!   journey and excursions merged into episodes.
//! - [`bundle`]: the evidence bundle of SPEC §7 (JSON, `provenance-evidence/v1`), each entry
//!   with a C2SP `tlog-proof`; a parser that never panics on hostile input.
//! - [`verify`]: the offline verification of a bundle with nothing but its bytes and the log's
//!   verifier key: checkpoint, inclusion proofs, registry, signatures, chains, custody.
//! - [`epcis`]: the GS1 EPCIS 2.0 JSON-LD export of SPEC §3's table.
//!
//! Nothing here does I/O, reads a clock or talks to a database: the ledger and the web fetch,
//! this crate decides.

pub mod bundle;
pub mod epcis;
pub mod history;
pub mod passport;
pub mod rules;
pub mod summary;
pub mod verify;

pub use bundle::{Bundle, BundleEntry, BundleError, TlogProof};
pub use rules::{
    ChainStatus, CustodyReport, Finding, Limits, Rule, Severity, Signer, TraceEvent, Verdict,
    Window, assess,
};
pub use verify::{Report, verify_bundle, verify_bundle_with};
