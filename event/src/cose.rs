//! COSE_Sign1 (RFC 9052 §4.2) with EdDSA over Ed25519 (RFC 8032, COSE alg -8).
//!
//! Parsing is structural and strict: tag 18, four elements, a protected header that is a byte
//! string holding a map, no repeated header labels (within or across the two headers), a
//! payload that is present, deterministic CBOR heads throughout. The signature is checked over
//! `Sig_structure = ["Signature1", protected, h'', payload]`, built from the protected header
//! bytes exactly as received, streamed into the verifier without a copy.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use minicbor::data::Type;

use crate::cbor::{CborError, MAJOR_ARRAY, MAJOR_BYTES, MAJOR_TEXT, Reader, head_len, write_head};

/// CBOR tag of a COSE_Sign1 message.
pub const TAG_COSE_SIGN1: u64 = 18;
/// COSE algorithm identifier of EdDSA.
pub const ALG_EDDSA: i64 = -8;
/// Header label: algorithm.
pub const LABEL_ALG: i64 = 1;
/// Header label: critical headers.
pub const LABEL_CRIT: i64 = 2;
/// Header label: content type.
pub const LABEL_CONTENT_TYPE: i64 = 3;
/// Header label: key identifier.
pub const LABEL_KID: i64 = 4;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// At most this many labels per header map; more is refused, not searched.
const MAX_LABELS: usize = 16;

/// Why bytes are not a COSE_Sign1 message this crate accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoseError {
    /// Broken CBOR.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// Not tagged 18.
    #[error("not a COSE_Sign1: the message must start with CBOR tag 18, found {found:?}")]
    Tag {
        /// The tag found, if any.
        found: Option<u64>,
    },
    /// Not an array of four.
    #[error("a COSE_Sign1 is an array of 4 elements, this one has {0}")]
    ArrayLength(u64),
    /// Protected header not a byte string.
    #[error("the protected header must be a byte string (bstr) wrapping a map")]
    ProtectedNotBstr,
    /// Protected header bytes not a map.
    #[error("the protected header's bytes must hold a CBOR map: {0}")]
    ProtectedNotMap(CborError),
    /// A label appears twice.
    #[error("header label {0} appears more than once")]
    DuplicateLabel(Label),
    /// Too many header labels.
    #[error("more than 16 header parameters")]
    TooManyLabels,
    /// A header parameter of the wrong type.
    #[error("header parameter {0} has the wrong type")]
    HeaderType(Label),
    /// A critical header this crate does not understand.
    #[error("critical header parameter {0} is not understood")]
    UnknownCritical(Label),
    /// `payload` is nil: detached content is not used here.
    #[error("the payload is detached (nil); events carry their payload")]
    DetachedPayload,
    /// The algorithm is missing or not EdDSA.
    #[error("algorithm must be EdDSA (-8) in the protected header, found {found:?}")]
    Algorithm {
        /// The integer algorithm found, if any.
        found: Option<i64>,
    },
    /// The signature is not 64 bytes.
    #[error("an Ed25519 signature is 64 bytes, this one is {0}")]
    SignatureLength(usize),
}

/// A COSE header label: an integer or a text string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Integer label.
    Int(i64),
    /// Text label, kept as a 64-bit hash of its text: enough to tell repeats apart.
    Text(u64),
}

impl core::fmt::Display for Label {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Label::Int(i) => write!(f, "{i}"),
            Label::Text(_) => f.write_str("(text label)"),
        }
    }
}

/// A content type header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType<'a> {
    /// A media type string.
    Text(&'a str),
    /// A CoAP content format number.
    CoapFormat(u64),
}

/// The header parameters this crate reads; others are skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header<'a> {
    /// `alg`, if an integer.
    pub alg: Option<i64>,
    /// `alg` was present as text (never EdDSA).
    pub alg_text: bool,
    /// `kid`.
    pub kid: Option<&'a [u8]>,
    /// `content type`.
    pub content_type: Option<ContentType<'a>>,
}

/// A COSE_Sign1 message split into its parts; the signature is not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct Sign1<'a> {
    bytes: &'a [u8],
    tagged: bool,
    protected_bytes: &'a [u8],
    protected: Header<'a>,
    unprotected: Header<'a>,
    payload: &'a [u8],
    signature: &'a [u8],
}

/// A hash of a text label, for duplicate detection without storing the text.
fn text_label_id(s: &str) -> u64 {
    // FNV-1a: labels are compared among themselves only; collisions merely reject a message.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn read_header<'a>(
    r: &mut Reader<'a>,
    seen: &mut heapless::Vec<Label, { 2 * MAX_LABELS }>,
) -> Result<(Header<'a>, Option<(usize, usize)>), CoseError> {
    let n = r.map()?;
    if n > MAX_LABELS as u64 {
        return Err(CoseError::TooManyLabels);
    }
    let mut h = Header::default();
    let mut crit = None;
    for _ in 0..n {
        let label = match r.peek()? {
            Type::String => Label::Text(text_label_id(r.str()?)),
            _ => Label::Int(r.i64()?),
        };
        if seen.contains(&label) {
            return Err(CoseError::DuplicateLabel(label));
        }
        seen.push(label).map_err(|_| CoseError::TooManyLabels)?;
        match label {
            Label::Int(LABEL_ALG) => match r.peek()? {
                Type::String => {
                    r.str()?;
                    h.alg_text = true;
                }
                _ => h.alg = Some(r.i64().map_err(|_| CoseError::HeaderType(label))?),
            },
            Label::Int(LABEL_CRIT) => {
                let start = r.position();
                let len = r.array().map_err(|_| CoseError::HeaderType(label))?;
                for _ in 0..len {
                    r.skip()?;
                }
                crit = Some((start, r.position()));
            }
            Label::Int(LABEL_CONTENT_TYPE) => {
                h.content_type = Some(match r.peek()? {
                    Type::String => ContentType::Text(r.str()?),
                    _ => {
                        ContentType::CoapFormat(r.u64().map_err(|_| CoseError::HeaderType(label))?)
                    }
                })
            }
            Label::Int(LABEL_KID) => {
                h.kid = Some(r.bytes().map_err(|_| CoseError::HeaderType(label))?)
            }
            _ => r.skip()?,
        }
    }
    Ok((h, crit))
}

/// Checks that every label listed in `crit` is one this crate understands.
fn check_crit(bytes: &[u8], span: (usize, usize)) -> Result<(), CoseError> {
    let mut r = Reader::new(&bytes[span.0..span.1]);
    let n = r.array()?;
    for _ in 0..n {
        let label = match r.peek()? {
            Type::String => Label::Text(text_label_id(r.str()?)),
            _ => Label::Int(r.i64()?),
        };
        if !matches!(
            label,
            Label::Int(LABEL_ALG | LABEL_CONTENT_TYPE | LABEL_KID)
        ) {
            return Err(CoseError::UnknownCritical(label));
        }
    }
    Ok(())
}

impl<'a> Sign1<'a> {
    /// Splits a tagged COSE_Sign1 message into its parts, checking its structure.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CoseError> {
        let mut r = Reader::new(bytes);
        // RFC 9052 §2 lets an application that knows the type leave the tag off; SPEC §3 events
        // always carry it, which `SignedEvent::parse` insists on.
        let tagged = r.peek()? == Type::Tag;
        if tagged {
            let tag = r.tag()?;
            if tag != TAG_COSE_SIGN1 {
                return Err(CoseError::Tag { found: Some(tag) });
            }
        }
        let n = r.array()?;
        if n != 4 {
            return Err(CoseError::ArrayLength(n));
        }
        if r.peek()? != Type::Bytes {
            return Err(CoseError::ProtectedNotBstr);
        }
        let protected_bytes = r.bytes()?;
        let mut seen = heapless::Vec::new();
        // RFC 9052 §3: an empty protected header may be encoded as a zero-length bstr.
        let protected = if protected_bytes.is_empty() {
            Header::default()
        } else {
            let mut pr = Reader::new(protected_bytes);
            if pr.peek().map_err(CoseError::ProtectedNotMap)? != Type::Map {
                return Err(CoseError::ProtectedNotMap(CborError::UnexpectedType {
                    expected: "a map",
                    at: 0,
                }));
            }
            let (h, crit) = read_header(&mut pr, &mut seen).map_err(|e| match e {
                CoseError::Cbor(c) => CoseError::ProtectedNotMap(c),
                other => other,
            })?;
            pr.finish().map_err(CoseError::ProtectedNotMap)?;
            if let Some(span) = crit {
                check_crit(protected_bytes, span)?;
            }
            h
        };
        let (unprotected, crit) = read_header(&mut r, &mut seen)?;
        if crit.is_some() {
            // RFC 9052 §3.1: crit is only ever in the protected bucket.
            return Err(CoseError::HeaderType(Label::Int(LABEL_CRIT)));
        }
        let payload = match r.peek()? {
            Type::Null => {
                r.null()?;
                return Err(CoseError::DetachedPayload);
            }
            _ => r.bytes()?,
        };
        let signature = r.bytes()?;
        r.finish()?;
        Ok(Self {
            bytes,
            tagged,
            protected_bytes,
            protected,
            unprotected,
            payload,
            signature,
        })
    }

    /// The whole message as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the message carries CBOR tag 18.
    pub fn is_tagged(&self) -> bool {
        self.tagged
    }

    /// The protected header's bytes as received (the bstr's content).
    pub fn protected_bytes(&self) -> &'a [u8] {
        self.protected_bytes
    }

    /// The protected header parameters this crate reads.
    pub fn protected(&self) -> &Header<'a> {
        &self.protected
    }

    /// The unprotected header parameters this crate reads.
    pub fn unprotected(&self) -> &Header<'a> {
        &self.unprotected
    }

    /// The payload bytes, not yet authenticated.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The signature bytes.
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }

    /// Feeds the `Sig_structure` to `sink` piece by piece.
    pub fn to_be_signed(&self, sink: impl FnMut(&[u8])) {
        sig_structure(self.protected_bytes, self.payload, sink);
    }

    /// Checks that the algorithm is EdDSA and the signature is 64 bytes, before any crypto.
    pub fn ed25519_signature(&self) -> Result<Signature, CoseError> {
        if self.protected.alg != Some(ALG_EDDSA) {
            return Err(CoseError::Algorithm {
                found: self.protected.alg,
            });
        }
        let sig: &[u8; SIGNATURE_LEN] = self
            .signature
            .try_into()
            .map_err(|_| CoseError::SignatureLength(self.signature.len()))?;
        Ok(Signature::from_bytes(sig))
    }

    /// Verifies the Ed25519 signature with `key` (RFC 8032 §5.1.7; S must be canonical, R is
    /// compared in encoded form, non-canonically encoded and small-order keys are refused).
    pub fn verify_ed25519(&self, key: &VerifyingKey) -> Result<(), SignatureInvalid> {
        let sig = self.ed25519_signature().map_err(|_| SignatureInvalid)?;
        verify_streamed(key, &sig, |sink| self.to_be_signed(sink))
    }
}

/// The one Ed25519 verification policy of the project, shared by COSE messages and raw checks
/// (and the rule `batch` may only ever agree with): RFC 8032 §5.1.7 without the cofactor, S
/// must be below the group order, R is compared in its encoded form (so a non-canonical R
/// fails), the public key must be canonically encoded and not of small order.
pub(crate) fn verify_streamed(
    key: &VerifyingKey,
    sig: &Signature,
    feed: impl FnOnce(&mut dyn FnMut(&[u8])),
) -> Result<(), SignatureInvalid> {
    // ed25519-dalek's `VerifyingKey::from_bytes` decompresses leniently (a y at or above p is
    // reduced, x = 0 with the sign bit set is taken as x = 0) and keeps the bytes as given, so
    // the canonical encoding SPEC §3 asks of A is checked here.
    if !is_canonical_point_encoding(key.as_bytes()) || key.is_weak() {
        return Err(SignatureInvalid);
    }
    let mut v = key.verify_stream(sig).map_err(|_| SignatureInvalid)?;
    feed(&mut |chunk| v.update(chunk));
    v.finalize_and_verify().map_err(|_| SignatureInvalid)
}

/// p − 1 = 2^255 − 20, little-endian: with the sign bit set, the "negative zero" encoding of the
/// point (0, −1).
const P_MINUS_ONE: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xec;
    b[31] = 0x7f;
    b
};

/// 1, little-endian: with the sign bit set, the "negative zero" encoding of the identity.
const ONE: [u8; 32] = {
    let mut b = [0; 32];
    b[0] = 1;
    b
};

/// Whether `bytes` is the encoding RFC 8032 §5.1.2 gives its point, judged on the bytes alone:
/// y (the low 255 bits) below p = 2^255 − 19, and the sign bit clear where x is 0, which happens
/// exactly for y = 1 and y = p − 1 (x² = (y² − 1)/(d·y² + 1)). Every other y that decodes has
/// two x, one per sign bit, so either sign is canonical. Whether y is on the curve at all is
/// left to decompression.
pub fn is_canonical_point_encoding(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    let sign = bytes[31] & 0x80 != 0;
    // y >= p means y = p + d with d in 0..19: bytes 1..=30 all 0xff, the top byte 0x7f and
    // the low byte at least 0xed.
    let at_least_p = y[0] >= 0xed && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    !at_least_p && !(sign && (y == ONE || y == P_MINUS_ONE))
}

/// Verifies a plain Ed25519 signature over `message` with the same policy as COSE messages.
pub fn verify_ed25519(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), SignatureInvalid> {
    verify_streamed(key, &Signature::from_bytes(signature), |sink| sink(message))
}

/// The signature does not verify with the given key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify with the registered key")]
pub struct SignatureInvalid;

/// Streams `["Signature1", protected, h'', payload]` (RFC 9052 §4.4) into `sink`.
pub fn sig_structure(protected: &[u8], payload: &[u8], mut sink: impl FnMut(&[u8])) {
    let mut h = [0u8; 9];
    let n = write_head(MAJOR_ARRAY, 4, &mut h);
    sink(&h[..n]);
    let n = write_head(MAJOR_TEXT, 10, &mut h);
    sink(&h[..n]);
    sink(b"Signature1");
    let n = write_head(MAJOR_BYTES, protected.len() as u64, &mut h);
    sink(&h[..n]);
    sink(protected);
    sink(&[0x40]); // external_aad: the empty byte string
    let n = write_head(MAJOR_BYTES, payload.len() as u64, &mut h);
    sink(&h[..n]);
    sink(payload);
}

/// Signing failed: the output buffer is too small, or the payload encoder failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError<E> {
    /// `out` cannot hold the message.
    #[error("output buffer too small for the signed message")]
    BufferTooSmall,
    /// The payload could not be written.
    #[error("payload: {0}")]
    Payload(E),
}

/// Room for a protected header of alg, content type and a kid of up to 128 bytes.
pub const PROTECTED_MAX: usize = 256;

/// Writes the deterministic protected header `{1: -8, 3: content_type, 4: kid}` into `out` and
/// returns its length, or `None` if it does not fit.
pub fn protected_header(content_type: &str, kid: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut e = crate::cbor::encoder(out);
    e.map(3)
        .and_then(|e| e.u8(1))
        .and_then(|e| e.i8(-8))
        .and_then(|e| e.u8(3))
        .and_then(|e| e.str(content_type))
        .and_then(|e| e.u8(4))
        .and_then(|e| e.bytes(kid))
        .ok()?;
    Some(e.writer().position())
}

/// The longest payload head `sign1` reserves room for (lengths up to 65,535).
const PAYLOAD_HEAD_MAX: usize = 3;

/// Writes a signed COSE_Sign1 message into `out` without any other buffer and returns its
/// length. `write_payload` encodes the payload into the slice it is given and returns how many
/// bytes it wrote.
///
/// The Sig_structure is laid out in `out` first, signed, then rearranged in place into the
/// message: both share the protected header and payload bytes, only the framing differs.
pub fn sign1<E>(
    key: &SigningKey,
    protected: &[u8],
    out: &mut [u8],
    write_payload: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<usize, SignError<E>> {
    let p_head = head_len(protected.len() as u64);
    let pb = p_head + protected.len();
    // Sig_structure: 84 6a "Signature1" | bstr(protected) | 40 | bstr(payload)
    let reserve = 12 + pb + 1 + PAYLOAD_HEAD_MAX;
    if out.len() < reserve + SIGNATURE_LEN + 2 {
        return Err(SignError::BufferTooSmall);
    }
    // Room is left for the message's framing, which is 56 bytes longer than the
    // Sig_structure's (tag, empty unprotected map and the signature).
    let limit = out.len() - (SIGNATURE_LEN + 2 + 3);
    let l = write_payload(&mut out[reserve..limit]).map_err(SignError::Payload)?;
    if l > usize::from(u16::MAX) {
        return Err(SignError::BufferTooSmall);
    }
    let l_head = head_len(l as u64);
    let payload_at = 12 + pb + 1 + l_head;
    out.copy_within(reserve..reserve + l, payload_at);
    let mut at = 0;
    sig_structure(protected, &[], |chunk| {
        // Everything except the payload itself, whose head is fixed up below.
        out[at..at + chunk.len()].copy_from_slice(chunk);
        at += chunk.len();
    });
    // sig_structure wrote a zero-length payload head; replace it with the real one.
    let head_at = 12 + pb + 1;
    write_head(MAJOR_BYTES, l as u64, &mut out[head_at..head_at + l_head]);
    let tbs_len = payload_at + l;
    let signature = key.sign(&out[..tbs_len]).to_bytes();

    let lb = l_head + l;
    let final_len = 2 + pb + 1 + lb + 2 + SIGNATURE_LEN;
    out[0] = 0xd2; // tag 18
    out[1] = 0x84; // array of 4
    out.copy_within(12..12 + pb, 2);
    out[2 + pb] = 0xa0; // unprotected: empty map
    out.copy_within(13 + pb..13 + pb + lb, 3 + pb);
    out[3 + pb + lb] = 0x58; // bstr, one-byte length
    out[4 + pb + lb] = SIGNATURE_LEN as u8;
    out[5 + pb + lb..final_len].copy_from_slice(&signature);
    Ok(final_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_parse_and_verify() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let protected = [0xa1, 0x01, 0x27]; // {1: -8}
        let payload = b"This is the content.";
        let mut out = [0u8; 256];
        let n = sign1::<()>(&key, &protected, &mut out, |buf| {
            buf[..payload.len()].copy_from_slice(payload);
            Ok(payload.len())
        })
        .unwrap();
        let m = Sign1::parse(&out[..n]).unwrap();
        assert_eq!(m.payload(), payload);
        assert_eq!(m.protected_bytes(), &protected);
        m.verify_ed25519(&key.verifying_key()).unwrap();
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(m.verify_ed25519(&other.verifying_key()).is_err());
    }

    /// The byte rule agrees with "decompress (leniently), compress, compare" on every string
    /// that decompresses: the edge cases around p and x = 0, and pseudo-random ones.
    #[test]
    fn canonical_encoding_is_decompress_then_compress() {
        let mut checked = 0;
        let mut check = |b: [u8; 32]| {
            if let Ok(k) = VerifyingKey::from_bytes(&b) {
                let canonical = k.to_edwards().compress().to_bytes() == b;
                assert_eq!(is_canonical_point_encoding(&b), canonical, "{b:02x?}");
                checked += 1;
            }
        };
        for sign in [0u8, 0x80] {
            // y = p + d (d < 19, every y at or above p), y = p − 1 − d, y = d.
            for d in 0..19u8 {
                let mut b = [0xff; 32];
                b[0] = 0xed + d;
                b[31] = 0x7f | sign;
                check(b);
                let mut b = [0xff; 32];
                b[0] = 0xec - d;
                b[31] = 0x7f | sign;
                check(b);
                let mut b = [0; 32];
                b[0] = d;
                b[31] = sign;
                check(b);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut b = [0u8; 32];
            for chunk in b.chunks_mut(8) {
                // xorshift64
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            check(b);
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn non_canonical_key_is_refused() {
        // y = 3 + p with the sign bit clear decodes to the same point as y = 3, if on the curve;
        // find a small y whose point is not of small order and encode it above p.
        let found = (2..19u8).find_map(|d| {
            let mut b = [0xff; 32];
            b[0] = 0xed + d;
            b[31] = 0x7f;
            VerifyingKey::from_bytes(&b).ok().filter(|k| !k.is_weak())
        });
        let key = found.expect("a y below 19 on the curve, not of small order");
        assert!(!is_canonical_point_encoding(key.as_bytes()));
        // ed25519-dalek takes the key; the rule refuses it before looking at the signature.
        assert_eq!(
            verify_ed25519(&key, b"message", &[0; SIGNATURE_LEN]),
            Err(SignatureInvalid)
        );
    }

    #[test]
    fn buffer_too_small_is_an_error() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let mut out = [0u8; 40];
        assert_eq!(
            sign1::<()>(&key, &[0xa1, 0x01, 0x27], &mut out, |_| Ok(0)),
            Err(SignError::BufferTooSmall)
        );
    }
}
