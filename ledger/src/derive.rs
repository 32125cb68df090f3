//! What the indexes learn from one entry: a pure function of its bytes, shared by appending and
//! by rebuilding or verifying a stored log. Signatures are not checked here; entries reach the
//! ledger verified, and `verify` checks them again against the registry.

use provenance_event::cose::{ContentType, Sign1};
use provenance_event::registry::{self, Action, Role};
use provenance_event::{CONTENT_TYPE, DeviceId, Event, Kind, message_hash};

/// One entry, as the indexes see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derived {
    /// A device or operator event.
    Event(EventRow),
    /// A registry change.
    Registry(RegistryRow),
}

/// The index row of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Signer.
    pub device: String,
    /// Signer's sequence number.
    pub seq: u64,
    /// SHA-256 of the entry.
    pub hash: [u8; 32],
    /// The `prev` the signer wrote.
    pub prev: [u8; 32],
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// Kind.
    pub kind: Kind,
    /// Items named (and the parent, which the event also concerns).
    pub items: Vec<String>,
    /// Aggregation change: (child, parent, +1 packed / -1 unpacked).
    pub aggregation: Vec<(String, String, i64)>,
    /// Events the device reports having dropped.
    pub dropped: Option<u64>,
}

/// The index row of a registry change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRow {
    /// The key holder.
    pub device: String,
    /// Time of the change.
    pub time_ms: i64,
    /// The change.
    pub change: Change,
}

/// A registry change, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Registered with key, role and organisation.
    Registered {
        /// Key.
        key: [u8; 32],
        /// Role.
        role: Role,
        /// Organisation.
        org: String,
    },
    /// Key replaced.
    KeyRotated {
        /// New key.
        key: [u8; 32],
    },
    /// Revoked.
    Revoked {
        /// Reason.
        reason: Option<String>,
    },
}

/// Why an entry cannot be indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// Not a COSE_Sign1.
    #[error("not a COSE_Sign1: {0}")]
    Cose(#[from] provenance_event::cose::CoseError),
    /// An event whose payload or kid is invalid.
    #[error("event: {0}")]
    Event(String),
    /// A registry entry that is invalid.
    #[error("registry entry: {0}")]
    Registry(#[from] registry::RegistryError),
    /// Neither an event nor a registry entry.
    #[error("unknown content type")]
    Unknown,
}

/// What the sequencer needs of an entry before anchoring it: the signer's chain position of an
/// event (for duplicate checks), or a registry change in full (written with the entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    /// An event.
    Event {
        /// Signer.
        device: String,
        /// Signer's seq.
        seq: u64,
        /// SHA-256 of the entry.
        hash: [u8; 32],
    },
    /// A registry change.
    Registry(RegistryRow),
}

/// Summarises an entry: the envelope is checked and the seq read; the payload's other rules are
/// the caller's (ingest checks them before anchoring) and the indexer's.
pub fn summarize(bytes: &[u8]) -> Result<Summary, DeriveError> {
    let m = Sign1::parse(bytes)?;
    match m.protected().content_type {
        Some(ContentType::Text(CONTENT_TYPE)) => {
            let kid = m
                .protected()
                .kid
                .ok_or_else(|| DeriveError::Event("no kid".into()))?;
            let device =
                DeviceId::from_bytes(kid).map_err(|e| DeriveError::Event(e.to_string()))?;
            let seq = provenance_event::peek_seq(m.payload())
                .ok_or_else(|| DeriveError::Event("no seq".into()))?;
            Ok(Summary::Event {
                device: device.as_str().to_string(),
                seq,
                hash: message_hash(bytes),
            })
        }
        _ => match derive(bytes)? {
            Derived::Registry(r) => Ok(Summary::Registry(r)),
            Derived::Event(_) => Err(DeriveError::Unknown),
        },
    }
}

/// Derives the index rows of one entry.
pub fn derive(bytes: &[u8]) -> Result<Derived, DeriveError> {
    let m = Sign1::parse(bytes)?;
    match m.protected().content_type {
        Some(ContentType::Text(CONTENT_TYPE)) => {
            let kid = m
                .protected()
                .kid
                .ok_or_else(|| DeriveError::Event("no kid".into()))?;
            let device =
                DeviceId::from_bytes(kid).map_err(|e| DeriveError::Event(e.to_string()))?;
            let e = Event::decode(m.payload()).map_err(|e| DeriveError::Event(e.to_string()))?;
            let mut items: Vec<String> = e.items.iter().map(str::to_string).collect();
            let mut aggregation = Vec::new();
            if let Some(parent) = &e.parent {
                let parent = parent.to_string();
                let delta = match e.kind {
                    Kind::Packed => Some(1),
                    Kind::Unpacked => Some(-1),
                    _ => None,
                };
                if let Some(d) = delta {
                    for child in &items {
                        aggregation.push((child.clone(), parent.clone(), d));
                    }
                }
                if !items.contains(&parent) {
                    items.push(parent);
                }
            }
            Ok(Derived::Event(EventRow {
                device: device.as_str().to_string(),
                seq: e.seq,
                hash: message_hash(bytes),
                prev: e.prev,
                time_ms: e.time,
                kind: e.kind,
                items,
                aggregation,
                dropped: e.dropped,
            }))
        }
        Some(ContentType::Text(registry::REGISTRY_CONTENT_TYPE)) => {
            let r = registry::Record::decode(m.payload())?;
            let change = match r.action {
                Action::Registered { key, role, org } => Change::Registered {
                    key,
                    role,
                    org: org.to_string(),
                },
                Action::KeyRotated { key } => Change::KeyRotated { key },
                Action::Revoked { reason } => Change::Revoked {
                    reason: reason.map(str::to_string),
                },
            };
            Ok(Derived::Registry(RegistryRow {
                device: r.device.as_str().to_string(),
                time_ms: r.time,
                change,
            }))
        }
        _ => Err(DeriveError::Unknown),
    }
}
