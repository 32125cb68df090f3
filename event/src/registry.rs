//! Registry entries: the log's own signed records that a device (or operator key) was
//! registered, had its key rotated, or was revoked (SPEC §6).
//!
//! They are COSE_Sign1 messages like events, with content type
//! `application/vnd.provenance.registry+cbor`, signed by the log's key, and the kid is the
//! log key's name, so an offline verifier holding only the log's public key can prove that a
//! key was registered before it signed and not revoked.
//!
//! Payload (deterministic CBOR, integer keys): 1 v (1), 2 time (Unix ms), 3 action (1
//! registered, 2 key rotated, 3 revoked), 4 device ID, ? 5 public key (32 bytes; registered and
//! key rotated), ? 6 role (registered), ? 7 organisation (registered), ? 8 reason (revoked).

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::cbor::{CborError, Reader, encoder};
use crate::cose::{self, ContentType, CoseError, Sign1, SignatureInvalid};
use crate::device::{DeviceId, DeviceIdError};

/// Content type of registry entries.
pub const REGISTRY_CONTENT_TYPE: &str = "application/vnd.provenance.registry+cbor";
/// Longest organisation name or revocation reason.
pub const TEXT_MAX: usize = 128;

/// What a registered key may sign for (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A plant station: commissions, packs and measures.
    Station = 1,
    /// A shipment tracker.
    Tracker = 2,
    /// A carrier (logistics operator).
    Carrier = 3,
    /// A third-party inspector.
    Inspector = 4,
    /// Customs.
    Customs = 5,
    /// The system's operator.
    Operator = 6,
}

impl Role {
    /// Every role.
    pub const ALL: &'static [Role] = &[
        Role::Station,
        Role::Tracker,
        Role::Carrier,
        Role::Inspector,
        Role::Customs,
        Role::Operator,
    ];

    /// The role's name.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Station => "station",
            Role::Tracker => "tracker",
            Role::Carrier => "carrier",
            Role::Inspector => "inspector",
            Role::Customs => "customs",
            Role::Operator => "operator",
        }
    }

    /// The role with this name.
    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.name() == s)
    }

    fn from_code(c: u64) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| *r as u64 == c)
    }

    /// Whether this role is a machine on the network (publishes over MQTT) rather than a
    /// person's key.
    pub fn is_device(self) -> bool {
        matches!(self, Role::Station | Role::Tracker)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A change to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// A new key holder.
    Registered {
        /// Its Ed25519 public key.
        key: [u8; 32],
        /// What it may sign for.
        role: Role,
        /// The organisation it belongs to.
        org: &'a str,
    },
    /// A new key replaces the old one from this entry on.
    KeyRotated {
        /// The new key.
        key: [u8; 32],
    },
    /// No event signed by this holder is accepted after this entry.
    Revoked {
        /// Why, if given.
        reason: Option<&'a str>,
    },
}

/// A registry record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// When the log made the change, Unix ms.
    pub time: i64,
    /// The key holder.
    pub device: DeviceId,
    /// The change.
    pub action: Action<'a>,
}

/// What is wrong with a registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Not a COSE_Sign1.
    #[error(transparent)]
    Cose(#[from] CoseError),
    /// Not deterministic CBOR.
    #[error("registry payload: {0}")]
    Cbor(#[from] CborError),
    /// Not a registry entry (another content type).
    #[error("not a registry entry")]
    NotRegistry,
    /// A field is missing, unknown or out of range.
    #[error("registry payload: {0}")]
    Field(&'static str),
    /// The device ID is invalid.
    #[error("registry payload: {0}")]
    Device(#[from] DeviceIdError),
    /// The buffer is too small.
    #[error("buffer too small for the registry entry")]
    BufferTooSmall,
}

fn text_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= TEXT_MAX && !s.chars().any(char::is_control)
}

impl<'a> Record<'a> {
    /// Decodes a registry payload.
    pub fn decode(payload: &'a [u8]) -> Result<Self, RegistryError> {
        let mut r = Reader::new(payload);
        let n = r.map()?;
        let (mut v, mut time, mut action, mut device, mut key, mut role, mut org, mut reason) =
            (None, None, None, None, None, None, None, None);
        let mut last = None;
        for _ in 0..n {
            let k = r.key_after(last)?;
            last = Some(k);
            match k {
                1 => v = Some(r.u64()?),
                2 => time = Some(r.i64()?),
                3 => action = Some(r.u64()?),
                4 => device = Some(DeviceId::new(r.str()?)?),
                5 => {
                    let b: [u8; 32] = r
                        .bytes()?
                        .try_into()
                        .map_err(|_| RegistryError::Field("public key must be 32 bytes"))?;
                    key = Some(b);
                }
                6 => {
                    role = Some(
                        Role::from_code(r.u64()?).ok_or(RegistryError::Field("unknown role"))?,
                    )
                }
                7 => org = Some(r.str()?),
                8 => reason = Some(r.str()?),
                _ => return Err(RegistryError::Field("unknown key")),
            }
        }
        r.finish()?;
        if v != Some(1) {
            return Err(RegistryError::Field("version must be 1"));
        }
        let time = time.ok_or(RegistryError::Field("time missing"))?;
        let device = device.ok_or(RegistryError::Field("device missing"))?;
        let action = match (action, key, role, org, reason) {
            (Some(1), Some(key), Some(role), Some(org), None) if text_ok(org) => {
                Action::Registered { key, role, org }
            }
            (Some(2), Some(key), None, None, None) => Action::KeyRotated { key },
            (Some(3), None, None, None, reason) if reason.is_none_or(text_ok) => {
                Action::Revoked { reason }
            }
            _ => return Err(RegistryError::Field("fields do not match the action")),
        };
        Ok(Record {
            time,
            device,
            action,
        })
    }

    /// Encodes the payload into `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, RegistryError> {
        let len = {
            let mut e = encoder(out);
            let fields = 4 + match self.action {
                Action::Registered { .. } => 3,
                Action::KeyRotated { .. } => 1,
                Action::Revoked { reason } => u64::from(reason.is_some()),
            };
            let res: Result<(), minicbor::encode::Error<_>> = (|| {
                e.map(fields)?;
                e.u8(1)?.u8(1)?;
                e.u8(2)?.i64(self.time)?;
                let code = match self.action {
                    Action::Registered { .. } => 1,
                    Action::KeyRotated { .. } => 2,
                    Action::Revoked { .. } => 3,
                };
                e.u8(3)?.u8(code)?;
                e.u8(4)?.str(self.device.as_str())?;
                match &self.action {
                    Action::Registered { key, role, org } => {
                        e.u8(5)?.bytes(key)?;
                        e.u8(6)?.u8(*role as u8)?;
                        e.u8(7)?.str(org)?;
                    }
                    Action::KeyRotated { key } => {
                        e.u8(5)?.bytes(key)?;
                    }
                    Action::Revoked { reason } => {
                        if let Some(r) = reason {
                            e.u8(8)?.str(r)?;
                        }
                    }
                }
                Ok(())
            })();
            res.map_err(|_| RegistryError::BufferTooSmall)?;
            e.writer().position()
        };
        // Decoding our own output applies every rule (text lengths, action shape).
        Record::decode(&out[..len])?;
        Ok(len)
    }

    /// Signs the record with the log's key, named `log_name` in the kid, into `out`.
    pub fn sign(
        &self,
        log_key: &SigningKey,
        log_name: &str,
        out: &mut [u8],
    ) -> Result<usize, RegistryError> {
        let mut protected = [0u8; cose::PROTECTED_MAX];
        let p = cose::protected_header(REGISTRY_CONTENT_TYPE, log_name.as_bytes(), &mut protected)
            .ok_or(RegistryError::BufferTooSmall)?;
        cose::sign1(log_key, &protected[..p], out, |buf| self.encode(buf)).map_err(|e| match e {
            cose::SignError::BufferTooSmall => RegistryError::BufferTooSmall,
            cose::SignError::Payload(e) => e,
        })
    }
}

/// Whether `sign1` is a registry entry (by its content type).
pub fn is_registry(sign1: &Sign1<'_>) -> bool {
    sign1.protected().content_type == Some(ContentType::Text(REGISTRY_CONTENT_TYPE))
}

/// Parses a registry entry and checks its signature with the log's key.
pub fn verify<'a>(bytes: &'a [u8], log_key: &VerifyingKey) -> Result<Record<'a>, VerifyError> {
    let m = Sign1::parse(bytes).map_err(|e| VerifyError::Entry(e.into()))?;
    if !is_registry(&m) {
        return Err(VerifyError::Entry(RegistryError::NotRegistry));
    }
    m.verify_ed25519(log_key).map_err(VerifyError::Signature)?;
    Record::decode(m.payload()).map_err(VerifyError::Entry)
}

/// Decodes a registry entry without checking its signature (for rebuilding indexes from a log
/// whose entries were checked when they were appended).
pub fn decode_unverified(bytes: &[u8]) -> Result<Record<'_>, RegistryError> {
    let m = Sign1::parse(bytes)?;
    if !is_registry(&m) {
        return Err(RegistryError::NotRegistry);
    }
    Record::decode(m.payload())
}

/// A registry entry is malformed or its signature fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Malformed.
    #[error(transparent)]
    Entry(RegistryError),
    /// Not signed by the log's key.
    #[error("registry entry not signed by the log's key")]
    Signature(SignatureInvalid),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_actions() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let device = DeviceId::new("tracker-9").unwrap();
        for action in [
            Action::Registered {
                key: [1; 32],
                role: Role::Tracker,
                org: "Maersk Line",
            },
            Action::KeyRotated { key: [2; 32] },
            Action::Revoked { reason: None },
            Action::Revoked {
                reason: Some("lost in transit"),
            },
        ] {
            let rec = Record {
                time: 1_763_719_200_000,
                device: device.clone(),
                action,
            };
            let mut buf = [0u8; 512];
            let n = rec.sign(&key, "provenance.local/log", &mut buf).unwrap();
            assert_eq!(verify(&buf[..n], &key.verifying_key()).unwrap(), rec);
            let other = SigningKey::from_bytes(&[6; 32]);
            assert!(verify(&buf[..n], &other.verifying_key()).is_err());
        }
    }
}
