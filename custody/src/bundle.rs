//! The evidence bundle (SPEC §7): one JSON file that lets anyone holding the log's public key
//! check an item's history offline.
//!
//! ```json
//! {
//!   "format": "provenance-evidence/v1",
//!   "subject": "urn:epc:id:sscc:4012345.0000000017",
//!   "log": { "origin": "provenance.local/log", "key": "provenance.local/log+1a2b3c4d+AbC…" },
//!   "checkpoint": "provenance.local/log\n42\nq0U…=\n\n— provenance.local/log Gx…=\n",
//!   "created_ms": 1763719200000,
//!   "entries": [
//!     { "index": 3, "purpose": "registry", "entry": "0oRY…", "proof": "c2sp.org/tlog-proof@v1\nindex 3\n…\n\nprovenance.local/log\n42\n…" },
//!     { "index": 17, "purpose": "event", "entry": "0oRY…", "proof": "…" }
//!   ]
//! }
//! ```
//!
//! - `checkpoint` is the log's signed note (C2SP `tlog-checkpoint` in a `signed-note`),
//!   verbatim. Every proof is against it.
//! - Each entry holds its log index, the entry bytes exactly as logged (base64 of the
//!   COSE_Sign1) and its inclusion proof in the C2SP `tlog-proof@v1` text form, which repeats
//!   the checkpoint so that each proof also stands alone (`.tlog-proof` tools accept it).
//! - `purpose` says why the entry is there: `event` (names the subject), `aggregation` (puts
//!   it, or a container it is in, into a container), `container_event` (an event of a
//!   container while the subject was inside), `chain_link` (the signer's previous event, so
//!   the verifier can check the hash chain), `registry` (registration, key rotation or
//!   revocation of a signer). It is a hint for people: the verifier works out every role
//!   from the entries themselves and trusts nothing in the bundle but what the log key signs.
//! - `log.key` is informational: a verifier must be given the key from elsewhere.
//!
//! A bundle proves that its entries are in the log; it cannot prove that the log holds no
//! other entries about the subject (for example a revocation left out). What it can prove is
//! that no entry between two of a device's events was left out: each event's `prev` commits
//! to the one before, and the bundle carries that one.
//!
//! [`Bundle::parse`] is a decoder of untrusted bytes: bounded, and never panics.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_tlog::Hash;
use serde::{Deserialize, Serialize};

/// The `format` field of bundles this crate writes and reads.
pub const FORMAT: &str = "provenance-evidence/v1";
/// The first line of a C2SP tlog proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The largest bundle accepted, bytes.
pub const MAX_BUNDLE_BYTES: usize = 64 << 20;
/// The most entries a bundle may hold.
pub const MAX_ENTRIES: usize = 200_000;
/// The largest entry accepted (events are at most 4 KiB, registry entries less).
pub const MAX_ENTRY_BYTES: usize = 8192;
/// The most hashes in an inclusion proof (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF_HASHES: usize = 64;

/// Why bytes are not a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("the bundle is {0} bytes; at most 64 MiB are accepted")]
    TooLarge(usize),
    /// Not JSON of the bundle's shape.
    #[error("not an evidence bundle: {0}")]
    Json(String),
    /// Another format or version.
    #[error("format {0:?} is not supported (this verifier reads {FORMAT})")]
    Format(String),
    /// Too many entries.
    #[error("the bundle has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    /// An entry's bytes are not base64 or too long.
    #[error("entry {index}: {problem}")]
    Entry {
        /// The entry's index.
        index: u64,
        /// What is wrong.
        problem: String,
    },
    /// An entry's proof is not a C2SP tlog proof.
    #[error("entry {index}: proof: {problem}")]
    Proof {
        /// The entry's index.
        index: u64,
        /// What is wrong.
        problem: String,
    },
    /// Two entries with one index.
    #[error("log index {0} appears twice")]
    Duplicate(u64),
}

/// Why an entry is in the bundle (a hint for people; the verifier decides for itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// An event naming the subject.
    Event,
    /// An aggregation (packed, unpacked) on the way from the subject to its containers.
    Aggregation,
    /// An event of a container while the subject was inside.
    ContainerEvent,
    /// The signer's previous event, for the hash chain.
    ChainLink,
    /// A registry entry of a signer.
    Registry,
    /// A purpose this version does not know.
    #[serde(other)]
    Other,
}

/// An inclusion proof in the C2SP `tlog-proof@v1` text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data (unauthenticated; this project writes none).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The proof hashes, from the leaf's sibling up (RFC 6962 §2.1.1).
    pub hashes: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(64 + 45 * self.hashes.len() + self.checkpoint.len());
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        if let Some(extra) = &self.extra {
            s.push_str("extra ");
            s.push_str(&B64.encode(extra));
            s.push('\n');
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rest = text;
        let mut line = || -> Result<&str, String> {
            let (l, r) = rest
                .split_once('\n')
                .ok_or_else(|| "ends before the checkpoint".to_string())?;
            rest = r;
            Ok(l)
        };
        if line()? != TLOG_PROOF_HEADER {
            return Err(format!("the first line must be {TLOG_PROOF_HEADER}"));
        }
        let mut l = line()?;
        let mut extra = None;
        if let Some(b) = l.strip_prefix("extra ") {
            extra = Some(
                B64.decode(b)
                    .map_err(|_| "extra is not base64".to_string())?,
            );
            l = line()?;
        }
        let index = l
            .strip_prefix("index ")
            .filter(|n| {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && (n.len() == 1 || !n.starts_with('0'))
            })
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| "expected `index N` (decimal, no leading zeros)".to_string())?;
        let mut hashes = Vec::new();
        loop {
            let l = line()?;
            if l.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(format!("more than {MAX_PROOF_HASHES} proof hashes"));
            }
            let h: Hash = B64
                .decode(l)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("proof hash {} is not base64 of 32 bytes", hashes.len()))?;
            hashes.push(h);
        }
        if rest.is_empty() {
            return Err("no checkpoint after the proof".into());
        }
        Ok(Self {
            extra,
            index,
            hashes,
            checkpoint: rest.to_string(),
        })
    }
}

/// One logged entry with its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEntry {
    /// Log index.
    pub index: u64,
    /// Why it is here.
    pub purpose: Purpose,
    /// The entry (COSE_Sign1) exactly as logged.
    pub bytes: Vec<u8>,
    /// Its inclusion proof to the bundle's checkpoint.
    pub proof: TlogProof,
}

/// How much of the subject's history a bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything SPEC §7 lists: the verifier checks every chain and the custody rules.
    #[default]
    Whole,
    /// Only entries a public reader may see whole (issue #14: the entries stating a battery
    /// passport's public fields, and their signers' registry entries). Written as `"scope":
    /// "public"`; the verifier checks checkpoint, proofs, registry and signatures, and says
    /// that chains and custody need the whole history instead of failing them.
    Public,
}

/// The log a bundle comes from, as the bundle says (not trusted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    /// The checkpoint origin line.
    pub origin: String,
    /// The log's verifier key, `name+id+key` (informational).
    pub key: String,
}

/// An evidence bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The item or consignment (EPC URI).
    pub subject: String,
    /// The log.
    pub log: LogInfo,
    /// The signed checkpoint (note text).
    pub checkpoint: String,
    /// When the bundle was made, Unix ms.
    pub created_ms: Option<i64>,
    /// Whole (SPEC §7), or the public entries only.
    pub scope: Scope,
    /// The entries, ascending by index.
    pub entries: Vec<BundleEntry>,
}

#[derive(Serialize, Deserialize)]
struct RawEntry {
    index: u64,
    purpose: Purpose,
    entry: String,
    proof: String,
}

#[derive(Serialize, Deserialize)]
struct RawBundle {
    format: String,
    subject: String,
    log: LogInfo,
    checkpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "is_whole")]
    scope: Scope,
    entries: Vec<RawEntry>,
}

fn is_whole(s: &Scope) -> bool {
    *s == Scope::Whole
}

/// Only the format field, read first so that a newer format gets a clear message.
#[derive(Deserialize)]
struct FormatOnly {
    format: String,
}

impl Bundle {
    /// Parses and checks the shape of a bundle: base64, proof syntax, sizes, unique indexes.
    /// Signatures and proofs are [`crate::verify`]'s business.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        if let Ok(f) = serde_json::from_slice::<FormatOnly>(bytes) {
            if f.format != FORMAT {
                return Err(BundleError::Format(f.format));
            }
        }
        let raw: RawBundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        if raw.format != FORMAT {
            return Err(BundleError::Format(raw.format));
        }
        if raw.entries.len() > MAX_ENTRIES {
            return Err(BundleError::TooManyEntries);
        }
        let mut entries = Vec::with_capacity(raw.entries.len());
        for e in raw.entries {
            let index = e.index;
            if e.entry.len() > MAX_ENTRY_BYTES * 4 / 3 + 4 {
                return Err(BundleError::Entry {
                    index,
                    problem: format!("longer than {MAX_ENTRY_BYTES} bytes"),
                });
            }
            let bytes = B64.decode(&e.entry).map_err(|_| BundleError::Entry {
                index,
                problem: "entry is not base64".into(),
            })?;
            let proof = TlogProof::parse(&e.proof)
                .map_err(|problem| BundleError::Proof { index, problem })?;
            entries.push(BundleEntry {
                index,
                purpose: e.purpose,
                bytes,
                proof,
            });
        }
        entries.sort_by_key(|e| e.index);
        if let Some(w) = entries.windows(2).find(|w| w[0].index == w[1].index) {
            return Err(BundleError::Duplicate(w[0].index));
        }
        Ok(Self {
            subject: raw.subject,
            log: raw.log,
            checkpoint: raw.checkpoint,
            created_ms: raw.created_ms,
            scope: raw.scope,
            entries,
        })
    }

    /// The bundle as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        let raw = RawBundle {
            format: FORMAT.into(),
            subject: self.subject.clone(),
            log: self.log.clone(),
            checkpoint: self.checkpoint.clone(),
            created_ms: self.created_ms,
            scope: self.scope,
            entries: self
                .entries
                .iter()
                .map(|e| RawEntry {
                    index: e.index,
                    purpose: e.purpose,
                    entry: B64.encode(&e.bytes),
                    proof: e.proof.to_text(),
                })
                .collect(),
        };
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string_pretty(&raw).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CP: &str = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/log abcd\n";

    fn proof() -> TlogProof {
        TlogProof {
            extra: None,
            index: 3,
            hashes: vec![[1; 32], [2; 32]],
            checkpoint: CP.into(),
        }
    }

    #[test]
    fn tlog_proof_text_matches_c2sp() {
        let text = proof().to_text();
        assert_eq!(
            text,
            format!(
                "c2sp.org/tlog-proof@v1\nindex 3\n{}\n{}\n\n{CP}",
                B64.encode([1; 32]),
                B64.encode([2; 32])
            )
        );
        assert_eq!(TlogProof::parse(&text), Ok(proof()));
        let with_extra = TlogProof {
            extra: Some(b"x".to_vec()),
            hashes: vec![],
            index: 0,
            ..proof()
        };
        let text = with_extra.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra eA==\nindex 0\n\n"));
        assert_eq!(TlogProof::parse(&text), Ok(with_extra));
    }

    #[test]
    fn tlog_proof_refuses_bad_text() {
        for bad in [
            "",
            "c2sp.org/tlog-proof@v2\nindex 0\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex -1\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\n\n",
            "c2sp.org/tlog-proof@v1\nindex 1\n",
            "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\ncp\n",
        ] {
            assert!(TlogProof::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bundle_round_trip_and_errors() {
        let b = Bundle {
            subject: "urn:epc:id:sscc:4012345.0000000017".into(),
            log: LogInfo {
                origin: "example.com/log".into(),
                key: "k".into(),
            },
            checkpoint: CP.into(),
            created_ms: Some(5),
            scope: Default::default(),
            entries: vec![BundleEntry {
                index: 3,
                purpose: Purpose::Event,
                bytes: vec![0xd2, 0x84],
                proof: proof(),
            }],
        };
        let json = b.to_json();
        assert_eq!(Bundle::parse(json.as_bytes()), Ok(b.clone()));

        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        let mut twice = v.clone();
        let e = twice["entries"][0].clone();
        twice["entries"].as_array_mut().expect("array").push(e);
        assert_eq!(
            Bundle::parse(twice.to_string().as_bytes()),
            Err(BundleError::Duplicate(3))
        );
        let mut newer = v.clone();
        newer["format"] = "provenance-evidence/v9".into();
        assert!(matches!(
            Bundle::parse(newer.to_string().as_bytes()),
            Err(BundleError::Format(_))
        ));
        let mut purpose = v;
        purpose["entries"][0]["purpose"] = "something-new".into();
        assert_eq!(
            Bundle::parse(purpose.to_string().as_bytes()).map(|b| b.entries[0].purpose),
            Ok(Purpose::Other)
        );
        for bad in [&b"{"[..], b"[]", b"null", b"{\"format\": 1}", &[0xff; 10]] {
            assert!(Bundle::parse(bad).is_err());
        }
    }
}
