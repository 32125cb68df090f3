//! The MQTT side of SPEC §5: topic names and the `ack` and `rej` payloads, shared by the
//! firmware (which decodes them) and the ingest (which encodes them). No heap.

use core::fmt::Write as _;

use crate::cbor::{CborError, Reader, encoder};

/// The longest topic: `prov/v1/dev/` + a 64-character device ID + `/ack`.
pub const TOPIC_MAX: usize = 12 + 64 + 4;

/// The shared subscription the ingest processes of one deployment share.
pub const INGEST_SUBSCRIPTION: &str = "$share/ingest/prov/v1/dev/+/ev";

/// The three topics of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Device → ingest: events.
    Events,
    /// Ingest → device: acknowledgements.
    Ack,
    /// Ingest → device: rejections.
    Rej,
}

/// The topic of `device`'s `channel`: `prov/v1/dev/{device}/ev|ack|rej`.
pub fn topic(device: &str, channel: Channel) -> heapless::String<TOPIC_MAX> {
    let mut t = heapless::String::new();
    let suffix = match channel {
        Channel::Events => "ev",
        Channel::Ack => "ack",
        Channel::Rej => "rej",
    };
    // Device IDs are at most 64 characters, so the topic fits.
    let _ = write!(t, "prov/v1/dev/{device}/{suffix}");
    t
}

/// What is wrong with an `ack` or `rej` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not the CBOR map SPEC §5 describes.
    #[error("ack/rej payload: {0}")]
    Cbor(#[from] CborError),
    /// A field is missing or unknown.
    #[error("ack/rej payload: missing or unknown field")]
    Field,
    /// The buffer is too small.
    #[error("buffer too small")]
    BufferTooSmall,
}

/// `{1: seq, 2: tree size}`: everything up to `seq` is anchored or finally rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckPayload {
    /// Highest settled seq.
    pub seq: u64,
    /// Tree size of the checkpoint that covers them.
    pub tree_size: u64,
}

impl AckPayload {
    /// Encodes into `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut e = encoder(out);
        e.map(2)
            .and_then(|e| e.u8(1))
            .and_then(|e| e.u64(self.seq))
            .and_then(|e| e.u8(2))
            .and_then(|e| e.u64(self.tree_size))
            .map_err(|_| WireError::BufferTooSmall)?;
        Ok(e.writer().position())
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        if r.map()? != 2 || r.key_after(None)? != 1 {
            return Err(WireError::Field);
        }
        let seq = r.u64()?;
        if r.key_after(Some(1))? != 2 {
            return Err(WireError::Field);
        }
        let tree_size = r.u64()?;
        r.finish()?;
        Ok(Self { seq, tree_size })
    }
}

/// `{1: seq or null, 2: reason}`: a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejPayload<'a> {
    /// The refused message's seq, if it could be read.
    pub seq: Option<u64>,
    /// SPEC §4's reason word.
    pub reason: &'a str,
}

impl<'a> RejPayload<'a> {
    /// Encodes into `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut e = encoder(out);
        let r = e.map(2).and_then(|e| e.u8(1));
        let r = match self.seq {
            Some(s) => r.and_then(|e| e.u64(s)),
            None => r.and_then(|e| e.null()),
        };
        r.and_then(|e| e.u8(2))
            .and_then(|e| e.str(self.reason))
            .map_err(|_| WireError::BufferTooSmall)?;
        Ok(e.writer().position())
    }

    /// Decodes.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        if r.map()? != 2 || r.key_after(None)? != 1 {
            return Err(WireError::Field);
        }
        let seq = match r.peek()? {
            minicbor::data::Type::Null => {
                r.null()?;
                None
            }
            _ => Some(r.u64()?),
        };
        if r.key_after(Some(1))? != 2 {
            return Err(WireError::Field);
        }
        let reason = r.str()?;
        r.finish()?;
        Ok(Self { seq, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_payloads_round_trip() {
        assert_eq!(
            topic("tracker-7", Channel::Ack).as_str(),
            "prov/v1/dev/tracker-7/ack"
        );
        assert_eq!(topic(&"a".repeat(64), Channel::Events).len(), 12 + 64 + 3);
        let mut b = [0u8; 64];
        let n = AckPayload {
            seq: 300,
            tree_size: 1_000_000,
        }
        .encode(&mut b)
        .unwrap();
        assert_eq!(
            AckPayload::decode(&b[..n]).unwrap(),
            AckPayload {
                seq: 300,
                tree_size: 1_000_000
            }
        );
        for seq in [None, Some(7)] {
            let rej = RejPayload {
                seq,
                reason: "bad_signature",
            };
            let n = rej.encode(&mut b).unwrap();
            assert_eq!(RejPayload::decode(&b[..n]).unwrap(), rej);
        }
        assert!(AckPayload::decode(&[0xa1, 0x01, 0x01]).is_err());
    }
}
