//! Secrets, as the HTTP side uses them; they live in [`provenance_ingest::secrets`] so that
//! the gRPC admin surface and the broker's authentication hook share one definition.

pub use provenance_ingest::secrets::*;
