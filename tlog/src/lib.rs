//! Transparency-log maths shared by the ledger, the web and the offline verifier.
//!
//! - [`merkle`]: RFC 9162 §2.1 hashing, tree heads, inclusion and consistency proofs: making
//!   them from stored subtree hashes and checking them.
//! - [`tile`]: where those subtree hashes live, in the C2SP `tlog-tiles` layout, and how a
//!   batch of new leaves changes the rightmost tiles.
//! - [`note`]: C2SP `signed-note` with Ed25519 keys (`name+id+key`), byte-compatible with Go's
//!   `golang.org/x/mod/sumdb/note`.
//! - [`checkpoint`]: C2SP `tlog-checkpoint` bodies.
//! - [`cosignature`]: C2SP `tlog-cosignature` `cosignature/v1` (Ed25519, type 0x04): a
//!   witness's timestamped signature line on a checkpoint, its keys, signing and checking.
//! - [`policy`]: C2SP `tlog-policy` files: the logs and witnesses a verifier trusts and the
//!   quorum of cosignatures a checkpoint needs, parsed strictly and evaluated with a reason.
//!
//! Everything here is a pure function of its arguments: no I/O, no clock, no database. Storage
//! implements [`merkle::HashReader`]; verifiers need nothing but bytes and a public key.

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod tile;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{EMPTY_ROOT, Hash, HashReader, Node, ProofError, leaf_hash, node_hash};
pub use note::{NoteError, Signer, Verifier};
