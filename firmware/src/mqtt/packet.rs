//! The MQTT 3.1.1 packets a device needs (OASIS standard, §3): encoding CONNECT, PUBLISH,
//! PUBACK, SUBSCRIBE, PINGREQ and DISCONNECT into a caller's buffer, and decoding what a
//! broker sends. No heap; decoded packets borrow the input.

/// MQTT control packet types (§2.2.1).
pub(crate) mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
}

/// A packet violates MQTT 3.1.1, or does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Malformed: the broker broke the protocol.
    #[error("malformed MQTT packet: {0}")]
    Malformed(&'static str),
    /// The output buffer is too small.
    #[error("MQTT packet does not fit the buffer")]
    BufferTooSmall,
}

/// Writes into a slice.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, at: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.at
    }

    pub(crate) fn u8(&mut self, b: u8) -> Result<(), PacketError> {
        *self
            .buf
            .get_mut(self.at)
            .ok_or(PacketError::BufferTooSmall)? = b;
        self.at += 1;
        Ok(())
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), PacketError> {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<(), PacketError> {
        let end = self.at + b.len();
        self.buf
            .get_mut(self.at..end)
            .ok_or(PacketError::BufferTooSmall)?
            .copy_from_slice(b);
        self.at = end;
        Ok(())
    }

    /// A UTF-8 string with its two-byte length (§1.5.3).
    pub(crate) fn str(&mut self, s: &str) -> Result<(), PacketError> {
        let len = u16::try_from(s.len()).map_err(|_| PacketError::BufferTooSmall)?;
        self.u16(len)?;
        self.bytes(s.as_bytes())
    }

    /// The fixed header: type and flags, then the remaining length (§2.2.3).
    pub(crate) fn fixed_header(
        &mut self,
        kind: u8,
        flags: u8,
        remaining: usize,
    ) -> Result<(), PacketError> {
        if remaining > MAX_REMAINING {
            return Err(PacketError::BufferTooSmall);
        }
        self.u8(kind << 4 | flags)?;
        let mut n = remaining;
        loop {
            let digit = (n % 128) as u8;
            n /= 128;
            self.u8(if n > 0 { digit | 0x80 } else { digit })?;
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// The rest of the buffer, for a payload written in place.
    pub(crate) fn rest(&mut self) -> &mut [u8] {
        &mut self.buf[self.at..]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.at += n;
    }
}

/// The largest remaining length MQTT can express.
const MAX_REMAINING: usize = 268_435_455;

/// Bytes of the fixed header for a remaining length.
pub(crate) fn fixed_header_len(remaining: usize) -> usize {
    match remaining {
        0..=127 => 2,
        128..=16_383 => 3,
        16_384..=2_097_151 => 4,
        _ => 5,
    }
}

/// CONNECT with clean session, user name and password (§3.1).
pub(crate) fn connect(
    w: &mut Writer<'_>,
    client_id: &str,
    username: &str,
    password: &str,
    keep_alive_s: u16,
) -> Result<(), PacketError> {
    let remaining = 10 + 2 + client_id.len() + 2 + username.len() + 2 + password.len();
    w.fixed_header(kind::CONNECT, 0, remaining)?;
    w.str("MQTT")?;
    w.u8(4)?; // protocol level 3.1.1
    w.u8(0x80 | 0x40 | 0x02)?; // user name, password, clean session
    w.u16(keep_alive_s)?;
    w.str(client_id)?;
    w.str(username)?;
    w.str(password)
}

/// SUBSCRIBE to `topics` at QoS 1 (§3.8).
pub(crate) fn subscribe(
    w: &mut Writer<'_>,
    packet_id: u16,
    topics: &[&str],
) -> Result<(), PacketError> {
    let remaining = 2 + topics.iter().map(|t| 2 + t.len() + 1).sum::<usize>();
    w.fixed_header(kind::SUBSCRIBE, 0b0010, remaining)?;
    w.u16(packet_id)?;
    for t in topics {
        w.str(t)?;
        w.u8(1)?;
    }
    Ok(())
}

/// The header of a QoS 1 PUBLISH whose payload of `payload_len` bytes follows (§3.3).
pub(crate) fn publish_header(
    w: &mut Writer<'_>,
    topic: &str,
    packet_id: u16,
    payload_len: usize,
) -> Result<(), PacketError> {
    w.fixed_header(kind::PUBLISH, 0b0010, 2 + topic.len() + 2 + payload_len)?;
    w.str(topic)?;
    w.u16(packet_id)
}

/// Bytes of a QoS 1 PUBLISH.
pub(crate) fn publish_len(topic: &str, payload_len: usize) -> usize {
    let remaining = 2 + topic.len() + 2 + payload_len;
    fixed_header_len(remaining) + remaining
}

/// PUBACK (§3.4).
pub(crate) fn puback(w: &mut Writer<'_>, packet_id: u16) -> Result<(), PacketError> {
    w.fixed_header(kind::PUBACK, 0, 2)?;
    w.u16(packet_id)
}

/// PINGREQ (§3.12).
pub(crate) fn pingreq(w: &mut Writer<'_>) -> Result<(), PacketError> {
    w.fixed_header(kind::PINGREQ, 0, 0)
}

/// DISCONNECT (§3.14).
pub(crate) fn disconnect(w: &mut Writer<'_>) -> Result<(), PacketError> {
    w.fixed_header(kind::DISCONNECT, 0, 0)
}

/// A packet from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// CONNACK: session present, return code.
    ConnAck { code: u8 },
    /// PUBLISH.
    Publish {
        topic: &'a str,
        qos: u8,
        packet_id: Option<u16>,
        payload: &'a [u8],
    },
    /// PUBACK.
    PubAck { packet_id: u16 },
    /// SUBACK with the granted QoS (0x80: refused) of each topic.
    SubAck { packet_id: u16, granted: &'a [u8] },
    /// PINGRESP.
    PingResp,
    /// A packet a QoS 1 client never expects but may ignore (UNSUBACK).
    Other,
}

/// The remaining length and its header size, if `buf` holds the whole fixed header.
fn remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, PacketError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, 2 + i)));
        }
    }
    Err(PacketError::Malformed(
        "remaining length longer than 4 bytes",
    ))
}

/// The length of the first packet in `buf`, once its fixed header is there.
pub(crate) fn packet_len(buf: &[u8]) -> Result<Option<usize>, PacketError> {
    Ok(remaining_length(buf)?.map(|(remaining, header)| header + remaining))
}

/// Decodes one whole packet (`buf` holds exactly its bytes).
pub(crate) fn decode(buf: &[u8]) -> Result<Incoming<'_>, PacketError> {
    let Some((remaining, header)) = remaining_length(buf)? else {
        return Err(PacketError::Malformed("truncated"));
    };
    let body = buf
        .get(header..header + remaining)
        .ok_or(PacketError::Malformed("truncated"))?;
    let (kind, flags) = (buf[0] >> 4, buf[0] & 0x0F);
    let u16_at = |i: usize| -> Result<u16, PacketError> {
        body.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(PacketError::Malformed("truncated"))
    };
    match kind {
        kind::CONNACK if remaining == 2 => Ok(Incoming::ConnAck { code: body[1] }),
        kind::PUBLISH => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(PacketError::Malformed("PUBLISH with QoS 3"));
            }
            let topic_len = usize::from(u16_at(0)?);
            let topic = body
                .get(2..2 + topic_len)
                .ok_or(PacketError::Malformed("truncated topic"))?;
            let topic = core::str::from_utf8(topic)
                .map_err(|_| PacketError::Malformed("topic is not UTF-8"))?;
            let mut at = 2 + topic_len;
            let packet_id = if qos > 0 {
                at += 2;
                Some(u16_at(at - 2)?)
            } else {
                None
            };
            Ok(Incoming::Publish {
                topic,
                qos,
                packet_id,
                payload: &body[at..],
            })
        }
        kind::PUBACK if remaining == 2 => Ok(Incoming::PubAck {
            packet_id: u16_at(0)?,
        }),
        kind::SUBACK if remaining >= 3 => Ok(Incoming::SubAck {
            packet_id: u16_at(0)?,
            granted: &body[2..],
        }),
        kind::PINGRESP if remaining == 0 => Ok(Incoming::PingResp),
        kind::UNSUBACK => Ok(Incoming::Other),
        kind::PUBREC | kind::PUBREL | kind::PUBCOMP => {
            Err(PacketError::Malformed("QoS 2 flow on a QoS 1 session"))
        }
        _ => Err(PacketError::Malformed("unexpected packet type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_bytes() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        connect(&mut w, "dev", "dev", "pw", 60).unwrap();
        let n = w.len();
        assert_eq!(
            &buf[..n],
            &[
                0x10, 24, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60, 0, 3, b'd', b'e', b'v', 0,
                3, b'd', b'e', b'v', 0, 2, b'p', b'w'
            ]
        );
    }

    #[test]
    fn remaining_length_encodings() {
        // The examples of MQTT 3.1.1 §2.2.3.
        for (n, bytes) in [
            (0usize, &[0x00u8][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        ] {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            w.fixed_header(kind::PINGREQ, 0, n).unwrap();
            assert_eq!(&buf[1..1 + bytes.len()], bytes, "{n}");
            assert_eq!(fixed_header_len(n), 1 + bytes.len());
            assert_eq!(remaining_length(&buf).unwrap(), Some((n, 1 + bytes.len())));
        }
        assert!(remaining_length(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
        assert_eq!(remaining_length(&[0x30, 0x80]).unwrap(), None);
    }

    #[test]
    fn decodes_broker_packets() {
        assert_eq!(
            decode(&[0x20, 2, 0, 5]).unwrap(),
            Incoming::ConnAck { code: 5 }
        );
        assert_eq!(
            decode(&[0x40, 2, 1, 2]).unwrap(),
            Incoming::PubAck { packet_id: 0x0102 }
        );
        assert_eq!(
            decode(&[0x90, 4, 0, 7, 1, 0x80]).unwrap(),
            Incoming::SubAck {
                packet_id: 7,
                granted: &[1, 0x80]
            }
        );
        assert_eq!(decode(&[0xD0, 0]).unwrap(), Incoming::PingResp);
        let p = [0x32, 8, 0, 3, b'a', b'/', b'b', 0, 9, 0xA0];
        assert_eq!(
            decode(&p).unwrap(),
            Incoming::Publish {
                topic: "a/b",
                qos: 1,
                packet_id: Some(9),
                payload: &[0xA0]
            }
        );
        assert!(decode(&[0x36, 0]).is_err());
        assert!(decode(&[0x32, 1, 0]).is_err());
        assert!(decode(&[0x50, 2, 0, 1]).is_err());
    }
}
