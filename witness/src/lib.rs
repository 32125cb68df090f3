//! A C2SP **tlog-witness**: `provenance witness`. For each log it follows (an origin and the
//! log's signed-note key) it keeps the latest checkpoint it cosigned; a log (or anyone) posts
//! a newer checkpoint with a consistency proof to `POST /add-checkpoint`, and gets back a
//! C2SP **tlog-cosignature** `cosignature/v1` line: the witness's timestamped statement that
//! this is the largest consistent tree it has seen of that log. Verifiers who trust a quorum
//! of witnesses then know the log showed them the same history it showed everyone else.
//!
//! It owns:
//! - [`core`]: the judgement, pure: the request body, the checks in the order tlog-witness
//!   gives them (404, 403, 400, 409, 422), the cosignature and the new state, the fork
//!   evidence;
//! - [`store`]: one state per log origin and the fork evidence, in SQLite;
//! - [`http`]: the HTTP interface: `add-checkpoint`, the witness's key, its status, the fork
//!   evidence for anyone to fetch, the latest cosigned checkpoint per log (monitoring);
//! - [`key`]: its signing key file;
//! - [`Witness`]: the three put together, with the clock;
//! - [`client`]: the log's side of the protocol (`serve --witness URL=VKEY`): sending each new
//!   checkpoint to its witnesses and keeping their cosignatures in the ledger.
//!
//! It must never: cosign a checkpoint whose new state is not committed to disk first; let a
//! log's state go back (a size below, or another root at the same size, than it cosigned);
//! let two requests decided from the same state both be stored; issue a cosignature
//! timestamp lower than the last one for the log, or 0; cosign for a log it was not
//! configured with, or on a checkpoint without a valid signature by that log's key; sign
//! anything but `cosignature/v1` messages with its key; keep fork evidence from anyone hidden.

pub mod client;
pub mod core;
pub mod http;
pub mod key;
pub mod store;

use std::sync::Arc;

use provenance_tlog::Checkpoint;
use provenance_tlog::cosignature::{CosignatureSigner, CosignatureVerifier};
use provenance_tlog::note;

pub use crate::core::{
    AddCheckpoint, Cosigned, Decision, ForkEvidence, ForkKind, LogState, Logs, LogsError, Refusal,
    decide,
};
pub use crate::store::{Fork, ForkSummary, Store, StoreError};

/// How often one request is decided again when another moved its log's state first.
const MAX_TRIES: usize = 8;

/// Why `add-checkpoint` gave no cosignature.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The request is refused, as tlog-witness says ([`Refusal::status`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The database failed; nothing was cosigned.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other requests kept moving the log's state; nothing was cosigned, try again.
    #[error("the state of {0} kept changing under this request; try again")]
    Busy(String),
}

/// Seconds since the Epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock in seconds since the Epoch (0 before 1970: the stored time wins then).
pub fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A witness: the logs it follows, its key, its database and its clock.
pub struct Witness {
    logs: Logs,
    signer: CosignatureSigner,
    store: Store,
    clock: Clock,
}

impl Witness {
    /// A witness on the system clock.
    pub fn new(logs: Logs, signer: CosignatureSigner, store: Store) -> Self {
        Self {
            logs,
            signer,
            store,
            clock: Arc::new(system_clock),
        }
    }

    /// The same witness on another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The logs it follows.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// Its public key; `Display` gives the vkey verifiers configure.
    pub fn verifier(&self) -> &CosignatureVerifier {
        self.signer.verifier()
    }

    /// Its database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The time now, in seconds since the Epoch.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Handles one `add-checkpoint` request: decides it against the stored state of its log,
    /// keeps any fork evidence, and stores the new state by compare-and-swap before returning
    /// the cosignature. A request that lost the swap to another is decided again on the state
    /// that won (usually a 409 then).
    pub async fn add_checkpoint(&self, req: &AddCheckpoint) -> Result<Cosigned, WitnessError> {
        let origin = origin_of(&req.note).filter(|o| self.logs.keys(o).is_some());
        for _ in 0..MAX_TRIES {
            let stored = match &origin {
                Some(o) => self.store.state(o).await?,
                None => None,
            };
            let now = self.now();
            let d = decide(&self.logs, &self.signer, stored.as_ref(), req, now);
            if let Some(fork) = &d.fork {
                let id = self.store.record_fork(fork, now).await?;
                match (fork.kind.conclusive(), id) {
                    (true, Some(id)) => tracing::warn!(
                        origin = %fork.origin,
                        fork = id,
                        "the log signed two checkpoints of one size with different roots: a \
                         fork; evidence kept at /forks/{id}"
                    ),
                    (false, Some(id)) => tracing::warn!(
                        origin = %fork.origin,
                        fork = id,
                        "a checkpoint the log signed came with a consistency proof that fails \
                         from the one this witness cosigned: a fork if the log cannot prove \
                         consistency between them; kept at /forks/{id}"
                    ),
                    (_, None) => tracing::debug!(
                        origin = %fork.origin,
                        "another failed consistency proof (past the records kept per log)"
                    ),
                }
            }
            let cosigned = d.outcome?;
            if self.store.advance(stored.as_ref(), &cosigned.state).await? {
                return Ok(cosigned);
            }
        }
        Err(WitnessError::Busy(origin.unwrap_or_default()))
    }
}

/// The origin line of a checkpoint note, if it has one.
fn origin_of(note: &str) -> Option<String> {
    let (text, _) = note::parse(note.as_bytes()).ok()?;
    Checkpoint::parse_body(text).ok().map(|cp| cp.origin)
}
