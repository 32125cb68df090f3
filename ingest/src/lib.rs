//! The ingest service (SPEC §4): subscribes to device topics, runs the validation pipeline,
//! anchors accepted events in the ledger in batches, acknowledges after the covering checkpoint
//! is durable, and keeps every rejected message with its reason.
//!
//! It must never acknowledge an event before it is anchored, nor drop a message silently.
//!
//! - [`validate`]: SPEC §4 steps 1–4, pure.
//! - [`service`]: the batching loop: duplicates, anchoring, rejections, acknowledgements.
//! - [`mqtt`]: the rumqttc client: shared subscription, PUBACK only once settled, ack/rej.
//! - [`broker`]: the embedded rumqttd broker with per-device passwords.
//! - [`limits`]: connection caps, in all and per address, for the HTTP and gRPC listeners.
//! - [`gate`]: the per-device topic rules in front of the embedded broker.
//! - [`quota`]: how many rejected messages are kept per sender and hour.
//! - [`admin`]: registry changes shared by the HTTP and gRPC surfaces.
//! - [`secrets`]: the admin token and device passwords (only hashes are kept).

pub mod admin;
pub mod broker;
pub mod gate;
pub mod limits;
pub mod mqtt;
pub mod quota;
pub mod secrets;
pub mod service;
pub mod validate;
