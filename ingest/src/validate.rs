//! SPEC §4 steps 1–4 for a batch of received messages: size and envelope, signer and topic,
//! signature (verified as a batch), payload. Pure: the registry is a lookup the caller passes
//! in, the clock a number. Step 5 (duplicates, equivocation) needs the ledger and happens in
//! the service.

use provenance_event::batch::verify_batch;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_event::{Event, SignedEvent, cose::Sign1};

/// Why a message was not anchored: SPEC §4's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// More than 4 KiB.
    TooLarge,
    /// Not a well-formed COSE_Sign1 event with alg EdDSA.
    Malformed,
    /// The kid names no registered device.
    UnknownDevice,
    /// The topic's device ID is not the kid.
    TopicMismatch,
    /// The signer is revoked.
    Revoked,
    /// The signature does not verify with the registered key.
    BadSignature,
    /// The payload breaks SPEC §3.
    InvalidEvent,
    /// Another message with the same (device, seq) was anchored.
    Equivocation,
    /// Not a SPEC §4 reason but what the server keeps instead of a rejection once its sender
    /// passed the hour's quota (see [`crate::quota`]): the sender still hears the real reason.
    RateLimited,
}

impl Reason {
    /// Every reason, for metrics.
    pub const ALL: &'static [Reason] = &[
        Reason::TooLarge,
        Reason::Malformed,
        Reason::UnknownDevice,
        Reason::TopicMismatch,
        Reason::Revoked,
        Reason::BadSignature,
        Reason::InvalidEvent,
        Reason::Equivocation,
        Reason::RateLimited,
    ];

    /// The word of SPEC §4 (`too_large`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::Malformed => "malformed",
            Reason::UnknownDevice => "unknown_device",
            Reason::TopicMismatch => "topic_mismatch",
            Reason::Revoked => "revoked",
            Reason::BadSignature => "bad_signature",
            Reason::InvalidEvent => "invalid_event",
            Reason::Equivocation => "equivocation",
            Reason::RateLimited => "rate_limited",
        }
    }

    /// The reason with this word.
    pub fn from_word(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message as it arrived.
#[derive(Debug, Clone)]
pub struct Message {
    /// The MQTT topic, or `None` for the HTTP and gRPC submission APIs.
    pub topic: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Arrival time, Unix ms.
    pub received_ms: i64,
}

/// What the registry says of a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The key in force.
    pub key: VerifyingKey,
    /// Revoked: nothing of it is accepted any more.
    pub revoked: bool,
}

/// The registry as validation sees it.
pub trait Registry {
    /// The holder with this ID, if registered.
    fn holder(&self, id: &str) -> Option<Holder>;
}

impl<F: Fn(&str) -> Option<Holder>> Registry for F {
    fn holder(&self, id: &str) -> Option<Holder> {
        self(id)
    }
}

/// A message that passed steps 1–4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    /// Signer.
    pub device: String,
    /// Its seq.
    pub seq: u64,
    /// SHA-256 of the message.
    pub hash: [u8; 32],
    /// Events the device says it discarded unacknowledged (SPEC §3 key 12).
    pub dropped: Option<u64>,
}

/// A message that failed, with the first reason in SPEC §4's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason word.
    pub reason: Reason,
    /// What exactly, for the operator.
    pub detail: String,
    /// The signer the message claims, if it could be read.
    pub device: Option<String>,
    /// The seq the message claims, if it could be read (for the `rej` topic).
    pub seq: Option<u64>,
}

/// The device ID in `prov/v1/dev/{device}/ev`, if the topic has that shape.
pub fn topic_device(topic: &str) -> Option<&str> {
    topic.strip_prefix("prov/v1/dev/")?.strip_suffix("/ev")
}

/// The seq a payload claims, read without trusting it (for telling the device which one
/// was refused).
fn claimed_seq(bytes: &[u8]) -> Option<u64> {
    let m = Sign1::parse(bytes).ok()?;
    Event::decode(m.payload()).ok().map(|e| e.seq)
}

fn reject(
    reason: Reason,
    detail: impl Into<String>,
    device: Option<&str>,
    bytes: &[u8],
) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
        device: device.map(str::to_string),
        seq: claimed_seq(bytes),
    }
}

/// Runs SPEC §4 steps 1–4 on a batch; the results are in input order. Signatures are
/// verified together, one batch equation for all that reach step 3.
pub fn check_batch<M: std::borrow::Borrow<Message>>(
    messages: &[M],
    registry: &impl Registry,
    now_ms: i64,
) -> Vec<Result<Valid, Rejection>> {
    let mut out: Vec<Option<Result<Valid, Rejection>>> = vec![None; messages.len()];
    let mut to_verify = Vec::new();
    let mut positions = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let m = m.borrow();
        let signed = match SignedEvent::parse(&m.bytes) {
            Ok(s) => s,
            Err(e) => {
                let reason = if e.reason() == "too_large" {
                    Reason::TooLarge
                } else {
                    Reason::Malformed
                };
                out[i] = Some(Err(reject(reason, e.to_string(), None, &m.bytes)));
                continue;
            }
        };
        let device = signed.device().as_str().to_string();
        let Some(holder) = registry.holder(&device) else {
            out[i] = Some(Err(reject(
                Reason::UnknownDevice,
                format!("{device} is not registered"),
                Some(&device),
                &m.bytes,
            )));
            continue;
        };
        if let Some(topic) = &m.topic {
            if topic_device(topic) != Some(device.as_str()) {
                out[i] = Some(Err(reject(
                    Reason::TopicMismatch,
                    format!("signed by {device} but published on {topic}"),
                    Some(&device),
                    &m.bytes,
                )));
                continue;
            }
        }
        if holder.revoked {
            out[i] = Some(Err(reject(
                Reason::Revoked,
                format!("{device} is revoked"),
                Some(&device),
                &m.bytes,
            )));
            continue;
        }
        to_verify.push((signed, holder.key));
        positions.push(i);
    }
    // The batch's coefficients must be unknown to the signers (`verify_batch`'s proof rests on
    // it), so each batch gets a fresh seed from the operating system; without one, every
    // signature is checked on its own, which is the rule itself.
    let mut seed = [0u8; 32];
    let verdicts = match getrandom::fill(&mut seed) {
        Ok(()) => verify_batch(to_verify, seed),
        Err(_) => to_verify
            .into_iter()
            .map(|(signed, key)| signed.verify(&key))
            .collect(),
    };
    for (i, verdict) in positions.into_iter().zip(verdicts) {
        let m = messages[i].borrow();
        out[i] = Some(match verdict {
            Err(_) => {
                let device = SignedEvent::parse(&m.bytes)
                    .ok()
                    .map(|s| s.device().as_str().to_string());
                Err(reject(
                    Reason::BadSignature,
                    "the signature does not verify with the registered key",
                    device.as_deref(),
                    &m.bytes,
                ))
            }
            Ok(auth) => {
                let device = auth.device().as_str().to_string();
                match auth.decode() {
                    Err(e) => Err(reject(
                        Reason::InvalidEvent,
                        e.to_string(),
                        Some(&device),
                        &m.bytes,
                    )),
                    Ok(v) => match v.check_time(now_ms) {
                        Err(e) => Err(reject(
                            Reason::InvalidEvent,
                            e.to_string(),
                            Some(&device),
                            &m.bytes,
                        )),
                        Ok(()) => Ok(Valid {
                            device,
                            seq: v.event().seq,
                            hash: v.hash(),
                            dropped: v.event().dropped,
                        }),
                    },
                }
            }
        });
    }
    out.into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Rejection {
                    reason: Reason::Malformed,
                    detail: "not examined".into(),
                    device: None,
                    seq: None,
                })
            })
        })
        .collect()
}
