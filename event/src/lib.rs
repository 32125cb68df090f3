//! The signed event of Provenance (SPEC §3), shared by the firmware and the ingest.
//!
//! This crate owns the wire format a device speaks: the event payload as deterministic CBOR
//! (RFC 8949 §4.2), its COSE_Sign1 envelope (RFC 9052) signed with Ed25519 (RFC 8032), the
//! GS1 identifiers inside it (EPC URIs, GS1 keys, Digital Link paths), the kinds and the
//! readings with their physical ranges.
//!
//! It must never do I/O, allocate, or panic on input: it is `#![no_std]` without `alloc`, runs
//! on a microcontroller as it is, and every decoder of untrusted bytes returns a typed error
//! naming what is wrong. Whether a device is registered, revoked or has sent an event before
//! is not its business; the ingest and the ledger decide that.
//!
//! # Receiving an event
//!
//! ```
//! # use provenance_event::*;
//! # use ed25519_dalek::SigningKey;
//! # let key = SigningKey::from_bytes(&[1; 32]);
//! # let device = DeviceId::new("station-1").unwrap();
//! # let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").unwrap()];
//! # let draft = Draft::new(1, [0; 32], 1_700_000_000_000, Kind::Commissioned, &items);
//! # let mut buf = [0u8; MAX_MESSAGE];
//! # let n = sign_event(&key, &device, &draft, &mut buf).unwrap();
//! # let bytes = &buf[..n];
//! let signed = SignedEvent::parse(bytes)?;            // too_large, malformed
//! let registered_key = key.verifying_key();           // looked up by signed.device()
//! let authenticated = signed.verify(&registered_key)?; // bad_signature
//! let event = authenticated.decode()?;                 // invalid_event
//! assert_eq!(event.event().kind, Kind::Commissioned);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "batch")]
pub mod batch;
mod cbor;
pub mod cose;
mod device;
pub mod epc;
mod event;
mod kind;
pub mod master;
mod reading;
pub mod registry;
pub mod wire;

pub use cbor::CborError;
pub use device::{DEVICE_ID_MAX, DeviceId, DeviceIdError, check_device_id};
pub use epc::{DigitalLink, Epc, EpcError, Scheme};
pub use event::{
    Authenticated, CONTENT_TYPE, DOC_MAX, Draft, EPC_URI_MAX, EncodeError, EnvelopeError, Event,
    EventError, Field, ITEMS_MAX, Items, ItemsIter, Location, MAX_CLOCK_AHEAD_MS, MAX_MESSAGE,
    SEQ_LIMIT, SignedEvent, TIME_END_MS, TIME_MIN_MS, VERSION, VerifiedEvent, message_hash,
    peek_seq, sign_event, sign_payload,
};
pub use kind::Kind;
pub use master::{Category, Master, MasterError};
pub use reading::{OutOfRange, Quantity, Readings};

/// Re-exported so users name the same key types as this crate.
pub use ed25519_dalek;
