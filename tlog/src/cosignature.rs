//! C2SP `tlog-cosignature`, the Ed25519 `cosignature/v1` type (signature type 0x04): a
//! witness's timestamped statement that a checkpoint is the largest consistent tree head it has
//! seen of the log named by the checkpoint's origin.
//!
//! A cosignature is a note signature line on the checkpoint,
//! `— <witness name> base64(key ID ‖ timestamp ‖ signature)`, where
//!
//! - the key ID is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key) (so it
//!   differs from the same key's ID as a plain Ed25519 note key, type 0x01);
//! - the timestamp is 8 bytes, big-endian, seconds since the Epoch, at most 2^63 − 1;
//! - the Ed25519 signature (64 bytes) is over
//!   `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint body (its final
//!   newline included, no signature lines).
//!
//! A witness key is written as a vkey `name+hex(key ID)+base64(0x04 ‖ public key)`; its secret
//! as `PRIVATE+KEY+name+hex(key ID)+base64(0x04 ‖ seed)` (the signed-note skey layout with the
//! cosignature type byte; the C2SP specs define no skey for it).
//!
//! Pure: no clock (the caller gives the timestamp), no I/O.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::note::{
    self, NoteError, NoteSignature, key_id_of, parse_signature_line, signature_line, split_vkey,
    valid_name, valid_text,
};

/// The signature type byte of Ed25519 `cosignature/v1` keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;
/// The bytes after the key ID: an 8-byte timestamp and a 64-byte Ed25519 signature.
const BLOB_LEN: usize = 8 + 64;

/// What is wrong with a cosignature or what it was asked to sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A malformed key or signature line.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The line is by another key (name or key ID differ): not this verifier's to judge.
    #[error("the signature is by {name}+{key_id:08x}, not by this witness key")]
    OtherKey {
        /// The key name on the line.
        name: String,
        /// The key ID on the line.
        key_id: u32,
    },
    /// The signature is not 8 + 64 bytes after the key ID.
    #[error("a cosignature/v1 signature is 72 bytes after the key ID, not {0}")]
    Length(usize),
    /// A timestamp above 2^63 − 1.
    #[error("cosignature timestamp {0} is above 2^63 - 1")]
    Timestamp(u64),
    /// The key's signature does not verify over this checkpoint body and timestamp.
    #[error("the cosignature by {0} does not verify")]
    BadSignature(String),
    /// What was given to sign is not a checkpoint body (note text ending in a newline).
    #[error("a cosigned checkpoint body is UTF-8 without control characters, ending in a newline")]
    BadBody,
}

/// The message a `cosignature/v1` signs: `cosignature/v1\ntime <timestamp>\n` and the body.
pub fn message(checkpoint_body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_body}")
}

/// A witness's public key for `cosignature/v1`: name, key ID and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a witness vkey `name+hexid+base64(0x04 ‖ key)`, checking that the ID matches the
    /// key. A plain Ed25519 note key (type 0x01) is refused: it is not a cosigning key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, id, alg, public) = split_vkey(vkey.trim())?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::Key(
                "not a cosignature/v1 key (signature type 0x04)",
            ));
        }
        let public: [u8; 32] = public
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 key is 32 bytes"))?;
        if key_id_of(name, ALG_COSIGNATURE_V1, &public) != id {
            return Err(NoteError::Key("key ID does not match the key"));
        }
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::Key("not an Ed25519 point"))?;
        Ok(Self {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID (with the cosignature type byte).
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether a note signature is by this key (name and key ID match), so that it must verify.
    pub fn is_signer_of(&self, signature: &NoteSignature) -> bool {
        signature.name == self.name && signature.key_id == self.id
    }

    /// Checks this key's cosignature (already split off its line) on `checkpoint_body` and
    /// returns its timestamp.
    pub fn verify(
        &self,
        checkpoint_body: &str,
        signature: &NoteSignature,
    ) -> Result<u64, CosignatureError> {
        if !self.is_signer_of(signature) {
            return Err(CosignatureError::OtherKey {
                name: signature.name.clone(),
                key_id: signature.key_id,
            });
        }
        let blob: &[u8; BLOB_LEN] = signature
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| CosignatureError::Length(signature.signature.len()))?;
        let (time, sig) = blob.split_at(8);
        let mut t = [0u8; 8];
        t.copy_from_slice(time);
        let timestamp = u64::from_be_bytes(t);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::Timestamp(timestamp));
        }
        let sig = Signature::from_slice(sig).map_err(|_| CosignatureError::Length(sig.len()))?;
        self.key
            .verify_strict(message(checkpoint_body, timestamp).as_bytes(), &sig)
            .map_err(|_| CosignatureError::BadSignature(self.to_string()))?;
        Ok(timestamp)
    }

    /// Checks one signature line (`— name base64…`, its final newline optional), as a witness
    /// returns it from `add-checkpoint`, against `checkpoint_body`; returns the timestamp.
    pub fn verify_line(&self, checkpoint_body: &str, line: &str) -> Result<u64, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        self.verify(checkpoint_body, &parse_signature_line(line)?)
    }
}

impl fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureVerifier({self})")
    }
}

/// A witness's signing key for `cosignature/v1`.
pub struct CosignatureSigner {
    verifier: CosignatureVerifier,
    key: SigningKey,
}

impl CosignatureSigner {
    /// A signer named `name` with the given 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(
                "a key name is non-empty, without spaces or '+'",
            ));
        }
        let key = SigningKey::from_bytes(seed);
        let public = key.verifying_key();
        Ok(Self {
            verifier: CosignatureVerifier {
                name: name.to_string(),
                id: key_id_of(name, ALG_COSIGNATURE_V1, public.as_bytes()),
                key: public,
            },
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(0x04 ‖ seed)`, checking the ID.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("a signer key starts with PRIVATE+KEY+"))?;
        let (name, id, alg, seed) = split_vkey(rest)?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::Key(
                "not a cosignature/v1 key (signature type 0x04)",
            ));
        }
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 seed is 32 bytes"))?;
        let s = Self::new(name, &seed)?;
        if s.verifier.id != id {
            return Err(NoteError::Key("key ID does not match the key"));
        }
        Ok(s)
    }

    /// The signer key string. A secret: write it only to a file of mode 0600.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.id,
            B64.encode(raw)
        )
    }

    /// The matching verifier; its `Display` is the witness's vkey.
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// The witness's vkey, `name+hexid+base64(0x04 ‖ public key)`.
    pub fn vkey(&self) -> String {
        self.verifier.to_string()
    }

    /// Cosigns a checkpoint body at `timestamp` (seconds since the Epoch) and returns the note
    /// signature line, `— <name> <base64(key ID ‖ timestamp ‖ signature)>\n`, to append to the
    /// checkpoint's signatures.
    pub fn sign(&self, checkpoint_body: &str, timestamp: u64) -> Result<String, CosignatureError> {
        if !valid_text(checkpoint_body) || checkpoint_body.contains("\n\n") {
            return Err(CosignatureError::BadBody);
        }
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::Timestamp(timestamp));
        }
        let sig = self
            .key
            .sign(message(checkpoint_body, timestamp).as_bytes())
            .to_bytes();
        let mut blob = Vec::with_capacity(BLOB_LEN);
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig);
        Ok(signature_line(&self.verifier.name, self.verifier.id, &blob))
    }
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureSigner({})", self.verifier)
    }
}

/// A verified cosignature found in a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's name.
    pub name: String,
    /// The witness's key ID.
    pub key_id: u32,
    /// When it cosigned, in seconds since the Epoch.
    pub timestamp: u64,
}

/// The cosignatures in a signed note (a cosigned checkpoint) by the `witnesses` given, each
/// verified, in note order. Lines by other keys are ignored; a line by a given witness that
/// does not verify fails the whole note, as signed-note asks of known keys. Says nothing of
/// the log's own signature: open the note with the log's key for that.
pub fn cosignatures(
    note: &[u8],
    witnesses: &[CosignatureVerifier],
) -> Result<Vec<Cosignature>, CosignatureError> {
    let (text, sigs) = note::parse(note)?;
    let mut found: Vec<Cosignature> = Vec::new();
    for s in &sigs {
        if let Some(w) = witnesses.iter().find(|w| w.is_signer_of(s)) {
            let timestamp = w.verify(text, s)?;
            if !found
                .iter()
                .any(|c| c.name == s.name && c.key_id == s.key_id && c.timestamp == timestamp)
            {
                found.push(Cosignature {
                    name: s.name.clone(),
                    key_id: s.key_id,
                    timestamp,
                });
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::note::Verifier;

    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    /// An independent vector, computed with Python's `cryptography` 48 (OpenSSL's Ed25519) and
    /// `hashlib`, not with this code: seed = 32 × 0x07, name `witness.example/w1`, the C2SP
    /// checkpoint example body above, timestamp 1679315147 (the spec's example time).
    const VECTOR_VKEY: &str =
        "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
    const VECTOR_LINE: &str = "\u{2014} witness.example/w1 \
        qkoJ0QAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw==\n";

    fn signer() -> CosignatureSigner {
        CosignatureSigner::new("witness.example/w1", &[7; 32]).expect("signer")
    }

    #[test]
    fn the_signed_message_is_header_time_and_body() {
        assert_eq!(
            message(BODY, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn matches_an_independent_implementation_byte_for_byte() {
        let s = signer();
        assert_eq!(s.vkey(), VECTOR_VKEY);
        assert_eq!(s.sign(BODY, 1679315147).expect("sign"), VECTOR_LINE);
        let v = CosignatureVerifier::parse(VECTOR_VKEY).expect("vkey");
        assert_eq!(v.verify_line(BODY, VECTOR_LINE), Ok(1679315147));
    }

    #[test]
    fn the_line_is_key_id_then_big_endian_time_then_an_ed25519_signature_over_the_message() {
        let s = signer();
        let line = s.sign(BODY, 0x0102_0304_0506_0708).expect("sign");
        let b64 = line
            .strip_prefix("\u{2014} witness.example/w1 ")
            .and_then(|l| l.strip_suffix('\n'))
            .expect("line shape");
        let raw = B64.decode(b64).expect("base64");
        assert_eq!(raw.len(), 4 + 8 + 64);
        // The key ID commits to the type byte 0x04, not the note type 0x01.
        let public = s.verifier().public_key().to_bytes();
        use sha2::Digest as _;
        let d = sha2::Sha256::new()
            .chain_update(b"witness.example/w1\n\x04")
            .chain_update(public)
            .finalize();
        assert_eq!(raw[..4], d[..4]);
        assert_ne!(
            u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            Verifier::parse(&format!(
                "witness.example/w1+{:08x}+{}",
                key_id_of("witness.example/w1", 0x01, &public),
                B64.encode([&[0x01][..], &public].concat())
            ))
            .expect("0x01 vkey")
            .key_id()
        );
        assert_eq!(raw[4..12], [1, 2, 3, 4, 5, 6, 7, 8]);
        let sig = Signature::from_slice(&raw[12..]).expect("sig");
        s.verifier()
            .public_key()
            .verify_strict(
                format!("cosignature/v1\ntime {}\n{BODY}", 0x0102_0304_0506_0708u64).as_bytes(),
                &sig,
            )
            .expect("an Ed25519 signature over the cosignature/v1 message");
    }

    #[test]
    fn vkeys_round_trip_and_refuse_other_types_and_wrong_ids() {
        let s = signer();
        let vkey = s.vkey();
        let v = CosignatureVerifier::parse(&vkey).expect("parse");
        assert_eq!(v.to_string(), vkey);
        assert_eq!(v.name(), "witness.example/w1");
        assert_eq!(v.key_id(), s.verifier().key_id());
        // A plain note key is not a witness key, and a witness key is not a note key.
        let note_key = crate::note::Signer::new("witness.example/w1", &[7; 32]).expect("signer");
        assert!(CosignatureVerifier::parse(&note_key.verifier().to_string()).is_err());
        assert!(Verifier::parse(&vkey).is_err());
        // The ID must be the one of this name, type and key.
        let (name, _, key) = {
            let mut p = vkey.splitn(3, '+');
            (
                p.next().expect("n"),
                p.next().expect("i"),
                p.next().expect("k"),
            )
        };
        assert!(CosignatureVerifier::parse(&format!("{name}+00000000+{key}")).is_err());
        assert!(
            CosignatureVerifier::parse(&format!("other.example+{:08x}+{key}", v.key_id())).is_err()
        );
        assert!(CosignatureVerifier::parse("witness.example/w1").is_err());
        // The secret key round-trips and keeps its name.
        let again = CosignatureSigner::parse(&s.to_skey()).expect("skey");
        assert_eq!(again.vkey(), vkey);
        assert!(CosignatureSigner::parse(&note_key.to_skey()).is_err());
    }

    #[test]
    fn a_cosignature_fails_on_another_body_time_or_key() {
        let s = signer();
        let line = s.sign(BODY, 1_700_000_000).expect("sign");
        let v = s.verifier();
        assert_eq!(v.verify_line(BODY, &line), Ok(1_700_000_000));
        let other_body = BODY.replace("20852163", "20852164");
        assert!(matches!(
            v.verify_line(&other_body, &line),
            Err(CosignatureError::BadSignature(_))
        ));
        // Another timestamp under the same signature.
        let mut raw = B64
            .decode(line.trim_end().rsplit(' ').next().expect("b64"))
            .expect("b64");
        raw[11] ^= 1;
        let forged = format!("\u{2014} witness.example/w1 {}\n", B64.encode(&raw));
        assert!(matches!(
            v.verify_line(BODY, &forged),
            Err(CosignatureError::BadSignature(_))
        ));
        // A timestamp above 2^63 - 1 is refused before any signature check.
        raw[4] = 0x80;
        let huge = format!("\u{2014} witness.example/w1 {}\n", B64.encode(&raw));
        assert!(matches!(
            v.verify_line(BODY, &huge),
            Err(CosignatureError::Timestamp(_))
        ));
        assert_eq!(
            s.sign(BODY, MAX_TIMESTAMP + 1),
            Err(CosignatureError::Timestamp(MAX_TIMESTAMP + 1))
        );
        // Another witness's line is not this key's to judge.
        let other = CosignatureSigner::new("witness.example/w2", &[8; 32]).expect("signer");
        let theirs = other.sign(BODY, 1).expect("sign");
        assert!(matches!(
            v.verify_line(BODY, &theirs),
            Err(CosignatureError::OtherKey { .. })
        ));
        // A short signature.
        let short = format!("\u{2014} witness.example/w1 {}\n", B64.encode(&raw[..40]));
        assert!(matches!(
            v.verify_line(BODY, &short),
            Err(CosignatureError::Length(36))
        ));
    }

    #[test]
    fn only_checkpoint_bodies_are_signed() {
        let s = signer();
        assert_eq!(s.sign("no newline", 1), Err(CosignatureError::BadBody));
        assert_eq!(s.sign("a\n\nb\n", 1), Err(CosignatureError::BadBody));
        assert_eq!(s.sign("a\tb\n", 1), Err(CosignatureError::BadBody));
    }

    #[test]
    fn a_cosigned_checkpoint_opens_with_the_log_key_and_yields_its_cosignatures() {
        let log = crate::note::Signer::new("example.com/log", &[1; 32]).expect("log");
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 3,
            root: [9; 32],
            extensions: vec![],
        };
        let w1 = signer();
        let w2 = CosignatureSigner::new("witness.example/w2", &[8; 32]).expect("signer");
        let mut note = cp.sign(&log).expect("sign");
        note.push_str(&w1.sign(&cp.body(), 100).expect("w1"));
        note.push_str(&w2.sign(&cp.body(), 200).expect("w2"));
        // The log's key ignores the cosignatures ...
        let (opened, unverified) =
            Checkpoint::open(note.as_bytes(), log.verifier(), Some("example.com/log"))
                .expect("open");
        assert_eq!(opened, cp);
        assert_eq!(unverified.len(), 2);
        // ... and each witness key finds its own.
        let found = cosignatures(note.as_bytes(), &[w2.verifier().clone()]).expect("w2");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].timestamp, 200);
        let both = cosignatures(
            note.as_bytes(),
            &[w1.verifier().clone(), w2.verifier().clone()],
        )
        .expect("both");
        assert_eq!(
            both.iter().map(|c| c.timestamp).collect::<Vec<_>>(),
            [100, 200]
        );
        // A known witness whose line does not verify fails the note.
        let line = w1.sign(&cp.body(), 100).expect("w1");
        let mut raw = B64
            .decode(line.trim_end().rsplit(' ').next().expect("b64"))
            .expect("b64");
        raw[40] ^= 1;
        let bad = note.replace(
            &line,
            &format!("\u{2014} witness.example/w1 {}\n", B64.encode(&raw)),
        );
        assert!(matches!(
            cosignatures(bad.as_bytes(), &[w1.verifier().clone()]),
            Err(CosignatureError::BadSignature(_))
        ));
    }

    /// The C2SP tlog-cosignature example line, as in `../shared/testdata`: no key was
    /// published, so only its layout is checked (key ID, then the spec's example time).
    #[test]
    fn the_spec_example_cosignature_has_the_layout() {
        let path = std::env::var_os("PROVENANCE_TESTDATA")
            .map_or_else(
                || {
                    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("../../shared/testdata")
                },
                std::path::PathBuf::from,
            )
            .join("checkpoint/c2sp-spec-examples.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!("{} is missing", path.display());
        };
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let case = v["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .find(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("tlog-cosignature"))
            })
            .expect("the cosignature example");
        let note = case["note"].as_str().expect("note");
        let (text, sigs) = note::parse(note.as_bytes()).expect("parses");
        assert_eq!(text, BODY);
        let w = sigs
            .iter()
            .find(|s| s.name == "witness.example.com/w1")
            .expect("witness line");
        assert_eq!(w.key_id, 0x8d66_cf3f);
        assert_eq!(w.signature.len(), BLOB_LEN);
        let mut t = [0u8; 8];
        t.copy_from_slice(&w.signature[..8]);
        assert_eq!(u64::from_be_bytes(t), 1679315147);
        // Unknown to us, so ignored: no cosignature found, no error.
        let stranger = signer();
        assert_eq!(
            cosignatures(note.as_bytes(), &[stranger.verifier().clone()]),
            Ok(vec![])
        );
    }
}
