//! The HTTP side (SPEC §9): trace pages, search, GS1 Digital Link resolution, the customs
//! verification view, JSON, EPCIS 2.0 and evidence-bundle exports.
//!
//! It must never hold state of its own beyond caches: the ledger is the source of truth.
//!
//! Status: the crate is laid out; its contents are issues #5 and #6.
