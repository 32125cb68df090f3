//! C2SP `signed-note` with Ed25519 (signature type 0x01), as Go's
//! `golang.org/x/mod/sumdb/note` writes and reads it.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
//! `— <key name> <base64(key ID ‖ signature)>`. A key is written `<name>+<hex key ID>+<base64(0x01
//! ‖ public key)>`; its ID is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 keys.
const ALG_ED25519: u8 = 0x01;
/// Go's limit on signature lines; more is refused rather than searched.
const MAX_SIGNATURES: usize = 100;
/// The signature line prefix: an em dash and a space.
const DASH: &str = "\u{2014} ";

/// What is wrong with a key or a note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key string that is not `name+id+key` (or `PRIVATE+KEY+name+id+key`).
    #[error("malformed key: {0}")]
    Key(&'static str),
    /// Not a well-formed note.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// No signature by a known key.
    #[error("note has no signature by a known key")]
    NoKnownSignature,
    /// A known key's signature does not verify.
    #[error("invalid signature for key {0}")]
    BadSignature(String),
    /// Text given for signing is not note text.
    #[error("note text must be UTF-8 without control characters and end in a newline")]
    BadText,
}

/// Whether `name` can name a key: non-empty, without spaces or '+'.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    key_id_of(name, ALG_ED25519, public)
}

/// A key's ID: the first four bytes of SHA-256(name ‖ "\n" ‖ signature type ‖ public key),
/// big-endian.
pub(crate) fn key_id_of(name: &str, alg: u8, public: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Splits a vkey `name+hexid+base64(type ‖ key)` into its name, key ID, signature type and key
/// bytes, checking the name and the ID's spelling (not that the ID matches the key).
pub(crate) fn split_vkey(vkey: &str) -> Result<(&str, u32, u8, Vec<u8>), NoteError> {
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key("expected name+id+key"));
    };
    if !valid_name(name) {
        return Err(NoteError::Key("bad key name"));
    }
    if id.len() != 8
        || !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(NoteError::Key("key ID must be 8 lower-case hex digits"));
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| NoteError::Key("bad key ID"))?;
    let raw = B64
        .decode(key)
        .map_err(|_| NoteError::Key("key is not base64"))?;
    let (&alg, public) = raw.split_first().ok_or(NoteError::Key("empty key"))?;
    Ok((name, id, alg, public.to_vec()))
}

/// Whether `text` can be signed as note text: ends in a newline, no control characters but
/// newlines.
pub(crate) fn valid_text(text: &str) -> bool {
    text.ends_with('\n') && !text.chars().any(|c| c.is_ascii_control() && c != '\n')
}

/// A note verifier key: `name+id+key`.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// Parses `name+hexid+base64(0x01 ‖ key)`, checking that the ID matches the key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, id, alg, public) = split_vkey(vkey)?;
        if alg != ALG_ED25519 {
            return Err(NoteError::Key("unknown signature algorithm"));
        }
        let public: [u8; 32] = public
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 key is 32 bytes"))?;
        if key_id(name, &public) != id {
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

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `signature` is this key's signature on `text`.
    pub fn verify(&self, text: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify_strict(text, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({self})")
    }
}

/// A note signer key: `PRIVATE+KEY+name+id+base64(0x01 ‖ seed)`.
pub struct Signer {
    verifier: Verifier,
    key: SigningKey,
}

impl Signer {
    /// A signer for `name` with the given 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(
                "a key name is non-empty, without spaces or '+'",
            ));
        }
        let key = SigningKey::from_bytes(seed);
        let public = key.verifying_key();
        Ok(Self {
            verifier: Verifier {
                name: name.to_string(),
                id: key_id(name, public.as_bytes()),
                key: public,
            },
            key,
        })
    }

    /// Parses a signer key string.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("a signer key starts with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::Key("expected PRIVATE+KEY+name+id+key"));
        };
        let raw = B64
            .decode(key.trim_end())
            .map_err(|_| NoteError::Key("key is not base64"))?;
        let (&alg, seed) = raw.split_first().ok_or(NoteError::Key("empty key"))?;
        if alg != ALG_ED25519 {
            return Err(NoteError::Key("unknown signature algorithm"));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 seed is 32 bytes"))?;
        let s = Self::new(name, &seed)?;
        let id = u32::from_str_radix(id, 16).map_err(|_| NoteError::Key("bad key ID"))?;
        if id != s.verifier.id {
            return Err(NoteError::Key("key ID does not match the key"));
        }
        Ok(s)
    }

    /// The signer key string. A secret: write it only to a file of mode 0600.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.id,
            B64.encode(raw)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// The Ed25519 key itself, for the log's other signed records (registry entries).
    pub fn ed25519(&self) -> &SigningKey {
        &self.key
    }

    /// Signs `text` and returns the whole note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !valid_text(text) {
            return Err(NoteError::BadText);
        }
        let sig = self.key.sign(text.as_bytes()).to_bytes();
        Ok(format!(
            "{text}\n{}",
            signature_line(&self.verifier.name, self.verifier.id, &sig)
        ))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.verifier)
    }
}

/// A signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, `— <name> <base64(key ID ‖ signature)>` and its newline.
    pub fn to_line(&self) -> String {
        signature_line(&self.name, self.key_id, &self.signature)
    }
}

/// A note whose signature by at least one known key verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote<'a> {
    /// The signed text, ending in a newline.
    pub text: &'a str,
    /// Signatures by known keys, verified, in note order.
    pub verified: Vec<NoteSignature>,
    /// Signatures by keys not given, not checked (witness cosignatures, for example).
    pub unverified: Vec<NoteSignature>,
}

/// Splits a note into its text and signature lines without checking any signature.
pub fn parse(note: &[u8]) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    let note = std::str::from_utf8(note).map_err(|_| NoteError::Malformed("not UTF-8"))?;
    if note.chars().any(|c| c.is_ascii_control() && c != '\n') {
        return Err(NoteError::Malformed("control character"));
    }
    // The text ends at the last blank line.
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    let block = &note[split + 2..];
    if block.is_empty() || !block.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block must end in a newline",
        ));
    }
    let mut sigs = Vec::new();
    for line in block[..block.len() - 1].split('\n') {
        if sigs.len() == MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        sigs.push(parse_signature_line(line)?);
    }
    Ok((text, sigs))
}

/// Parses one signature line, `— <key name> <base64(key ID ‖ signature)>`, without its final
/// newline.
pub fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line.strip_prefix(DASH).ok_or(NoteError::Malformed(
        "signature line must start with an em dash",
    ))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(NoteError::Malformed("signature line is name and signature"))?;
    if !valid_name(name) {
        return Err(NoteError::Malformed("bad key name in signature line"));
    }
    let raw = B64
        .decode(b64)
        .map_err(|_| NoteError::Malformed("signature is not base64"))?;
    if raw.len() < 5 {
        return Err(NoteError::Malformed("signature too short"));
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

/// A signature line, `— <name> <base64(key ID ‖ signature)>` and its newline.
pub(crate) fn signature_line(name: &str, key_id: u32, signature: &[u8]) -> String {
    let mut raw = key_id.to_be_bytes().to_vec();
    raw.extend_from_slice(signature);
    format!("{DASH}{name} {}\n", B64.encode(raw))
}

/// Opens a note: parses it and checks every signature by a key in `known`. At least one must
/// verify, and none by a known key may fail.
pub fn open<'a>(note: &'a [u8], known: &[Verifier]) -> Result<OpenedNote<'a>, NoteError> {
    let (text, sigs) = parse(note)?;
    let mut verified = Vec::new();
    let mut unverified = Vec::new();
    for s in sigs {
        match known.iter().find(|v| v.name == s.name && v.id == s.key_id) {
            Some(v) => {
                let ok = <&[u8; 64]>::try_from(s.signature.as_slice())
                    .is_ok_and(|sig| v.verify(text.as_bytes(), sig));
                if !ok {
                    return Err(NoteError::BadSignature(format!("{}+{:08x}", v.name, v.id)));
                }
                if !verified.contains(&s) {
                    verified.push(s);
                }
            }
            None => unverified.push(s),
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text,
        verified,
        unverified,
    })
}
