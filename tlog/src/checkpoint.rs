//! C2SP `tlog-checkpoint` bodies: `<origin>\n<tree size>\n<base64 root hash>\n` and optional
//! extension lines. Parsing is strict: a SHA-256 root is exactly 32 bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::merkle::Hash;
use crate::note::{self, NoteError, OpenedNote, Signer, Verifier};

/// A checkpoint: what a log commits to at one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, unique to the log.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Root hash of the tree of those entries.
    pub root: Hash,
    /// Extension lines, each ending in a newline (usually none).
    pub extensions: Vec<String>,
}

/// What is wrong with a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body is not origin, size, root.
    #[error("malformed checkpoint body: {0}")]
    Body(&'static str),
    /// The note around it is bad, or not signed by the log's key.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint is for another log.
    #[error("checkpoint origin is {found:?}, expected {expected:?}")]
    Origin {
        /// The origin in the checkpoint.
        found: String,
        /// The origin expected.
        expected: String,
    },
}

impl Checkpoint {
    /// The body text, which the log signs.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
        }
        s
    }

    /// Parses a body.
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        if !body.ends_with('\n') {
            return Err(CheckpointError::Body("must end in a newline"));
        }
        let mut lines = body.split_inclusive('\n');
        let origin = lines
            .next()
            .ok_or(CheckpointError::Body("no origin line"))?
            .trim_end_matches('\n');
        if origin.is_empty() {
            return Err(CheckpointError::Body("empty origin"));
        }
        let size = lines
            .next()
            .ok_or(CheckpointError::Body("no size line"))?
            .trim_end_matches('\n');
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Body(
                "size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| CheckpointError::Body("size out of range"))?;
        let root = lines
            .next()
            .ok_or(CheckpointError::Body("no root hash line"))?
            .trim_end_matches('\n');
        let root = B64
            .decode(root)
            .map_err(|_| CheckpointError::Body("root hash is not base64"))?;
        let root: Hash = root
            .try_into()
            .map_err(|_| CheckpointError::Body("root hash must be 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(|e| e == "\n") {
            return Err(CheckpointError::Body("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint into a note.
    pub fn sign(&self, signer: &Signer) -> Result<String, NoteError> {
        signer.sign(&self.body())
    }

    /// Opens a signed checkpoint with the log's key, checking that its origin is `origin`
    /// (when given) and returning it.
    pub fn open(
        note: &[u8],
        log_key: &Verifier,
        origin: Option<&str>,
    ) -> Result<(Self, Vec<note::NoteSignature>), CheckpointError> {
        let OpenedNote {
            text, unverified, ..
        } = note::open(note, std::slice::from_ref(log_key))?;
        let cp = Self::parse_body(text)?;
        if let Some(expected) = origin {
            if cp.origin != expected {
                return Err(CheckpointError::Origin {
                    found: cp.origin,
                    expected: expected.to_string(),
                });
            }
        }
        Ok((cp, unverified))
    }
}
