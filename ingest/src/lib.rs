//! The ingest service (SPEC §4): subscribes to device topics, runs the validation pipeline,
//! anchors accepted events in the ledger in batches, acknowledges after the covering checkpoint
//! is durable, and keeps every rejected message with its reason.
//!
//! It must never acknowledge an event before it is anchored, nor drop a message silently.

pub mod validate;
