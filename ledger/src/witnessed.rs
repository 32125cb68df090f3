//! What witnesses said about the log's checkpoints: their cosignatures (C2SP
//! `tlog-cosignature`), kept beside the checkpoints they cosign.
//!
//! The ledger stores cosignatures; it never checks them (it does not know which witnesses to
//! trust) and never waits for them: the log's side of tlog-witness
//! (`provenance_witness::client`) checks each line against the witness's key before it
//! records it, and anchoring goes on at its own pace meanwhile.
//!
//! From them come:
//! - the checkpoint the log publishes when it is witnessed ([`Ledger::published_checkpoint`]):
//!   the newest one that carries cosignatures, with every cosignature it has, as one signed
//!   note;
//! - each entry's anchoring window ([`Ledger::anchoring`]): after the newest cosigned
//!   checkpoint that lacks it, before the first that holds it, with the witnesses' times;
//! - the witnessing lag (checkpoint signed → cosigned), for the benchmark.

use crate::store::on_pool;
use crate::{Ledger, LedgerError, SignedCheckpoint, now_ms, to_i64};

/// The ledger's witnessing state: whether witnesses are configured, the quorum the log waits
/// for before it publishes a checkpoint, and the checkpoint it publishes.
#[derive(Debug, Default)]
pub(crate) struct Witnessing {
    /// The quorum, once witnesses are configured (0: none are).
    quorum: std::sync::atomic::AtomicUsize,
    /// The published checkpoint and how many cosignatures it carries.
    published: std::sync::Mutex<Option<(SignedCheckpoint, usize)>>,
    /// One cosignature recorded at a time, so that the published note is always made from
    /// every cosignature stored for its size (two witnesses answering at once would otherwise
    /// each publish the set it read).
    recording: tokio::sync::Mutex<()>,
}

/// Which of two cosigned checkpoints to publish: one that meets the quorum over one that
/// does not, then the larger, then the one with more cosignatures.
fn rank(size: u64, count: usize, quorum: usize) -> (bool, u64, usize) {
    (count >= quorum, size, count)
}

/// One witness's cosignature on one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCosignature {
    /// The witness's vkey (`name+id+key`), as configured.
    pub witness: String,
    /// When the witness cosigned, seconds since the Epoch (the time it vouches for).
    pub timestamp: u64,
    /// The signature line as the witness returned it (`— name base64`, no newline).
    pub line: String,
}

impl StoredCosignature {
    /// The witness's name: its vkey's name.
    pub fn name(&self) -> &str {
        self.witness.split('+').next().unwrap_or(&self.witness)
    }
}

/// A checkpoint with the cosignatures witnesses gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    /// Its tree size.
    pub size: u64,
    /// Its cosignatures, by witness vkey.
    pub cosignatures: Vec<StoredCosignature>,
    /// When the log signed it, by the log's own clock (Unix ms): a claim, not a witness's.
    pub signed_ms: Option<i64>,
}

impl WitnessedCheckpoint {
    /// The earliest time a witness vouches the checkpoint existed by (one witness's word).
    pub fn earliest(&self) -> Option<u64> {
        self.cosignatures.iter().map(|c| c.timestamp).min()
    }

    /// The time `quorum` witnesses vouch the checkpoint existed by: the `quorum`-th earliest
    /// of their times (`None` with fewer cosignatures), so no single witness's clock sets it.
    pub fn vouched_by(&self, quorum: usize) -> Option<u64> {
        let mut times: Vec<u64> = self.cosignatures.iter().map(|c| c.timestamp).collect();
        times.sort_unstable();
        times.get(quorum.max(1) - 1).copied()
    }
}

/// Where an entry's anchoring lies in witnessed time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchoring {
    /// The newest cosigned checkpoint that does not hold the entry: the entry came after it
    /// in the log. Its witnesses' times say nothing of when the entry came (the log may have
    /// held it before they cosigned); its `signed_ms`, the log's own clock, does say when the
    /// log claims the entry was not yet in it.
    pub after: Option<WitnessedCheckpoint>,
    /// The first cosigned checkpoint that holds it: it was anchored by the witnesses' times.
    pub by: Option<WitnessedCheckpoint>,
}

impl Ledger {
    /// Keeps a witness's cosignature on the checkpoint of `size`, which the caller has checked
    /// against the witness's key. A newer cosignature by the same witness on the same size
    /// replaces the older one.
    pub async fn record_cosignature(
        &self,
        size: u64,
        cosignature: &StoredCosignature,
    ) -> Result<(), LedgerError> {
        if cosignature.line.contains('\n') || !cosignature.line.starts_with('\u{2014}') {
            return Err(LedgerError::Proof(
                "a cosignature is one signature line starting with U+2014".into(),
            ));
        }
        // The checkpoint must be one this log signed; its note is what the line extends.
        let signed = self.checkpoint(size).await?;
        let at = to_i64(size)?;
        let timestamp = to_i64(cosignature.timestamp)?;
        let _one_at_a_time = self.witnessing.recording.lock().await;
        // Written and read back on the sequencer's pool: the read pool may not see the write
        // yet.
        let rows: Vec<(String, i64, String)> = on_pool!(&self.store, p => {
            sqlx::query(
                "INSERT INTO cosignatures (size, witness, timestamp, line, received_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size, witness) DO UPDATE SET \
                 timestamp = excluded.timestamp, line = excluded.line, \
                 received_ms = excluded.received_ms",
            )
            .bind(at)
            .bind(&cosignature.witness)
            .bind(timestamp)
            .bind(&cosignature.line)
            .bind(now_ms())
            .execute(p)
            .await?;
            sqlx::query_as(
                "SELECT witness, timestamp, line FROM cosignatures WHERE size = $1 \
                 ORDER BY witness",
            )
            .bind(at)
            .fetch_all(p)
            .await?
        });
        let all: Vec<StoredCosignature> = rows.into_iter().map(stored).collect();
        let quorum = self.witness_quorum().max(1);
        if let Ok(mut published) = self.witnessing.published.lock() {
            let better = published.as_ref().is_none_or(|(p, n)| {
                rank(size, all.len(), quorum) >= rank(p.checkpoint.size, *n, quorum)
            });
            if better {
                let note = with_cosignatures(&signed.note, &all);
                *published = Some((
                    SignedCheckpoint {
                        checkpoint: signed.checkpoint,
                        note,
                    },
                    all.len(),
                ));
            }
        }
        Ok(())
    }

    /// Says that witnesses are configured and that `quorum` of them must cosign a checkpoint
    /// before the log publishes it ([`Ledger::published_checkpoint`]).
    pub async fn publish_witnessed(&self, quorum: usize) -> Result<(), LedgerError> {
        let quorum = quorum.max(1);
        // The newest checkpoint with the quorum, else the newest with any cosignature.
        let best: Option<(i64, i64)> = on_pool!(&self.store_read, p => {
            sqlx::query_as(
                "SELECT size, COUNT(*) FROM cosignatures GROUP BY size \
                 ORDER BY COUNT(*) >= $1 DESC, size DESC LIMIT 1",
            )
            .bind(to_i64(quorum as u64)?)
            .fetch_optional(p)
            .await?
        });
        let published = match best {
            Some((size, n)) => {
                let size = u64::try_from(size).unwrap_or(0);
                Some((
                    self.cosigned_checkpoint(size).await?,
                    usize::try_from(n).unwrap_or(0),
                ))
            }
            None => None,
        };
        self.witnessing
            .quorum
            .store(quorum, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut p) = self.witnessing.published.lock() {
            if p.is_none() {
                *p = published;
            }
        }
        Ok(())
    }

    /// How many witnesses' cosignatures the log waits for before it publishes a checkpoint
    /// (0: no witnesses are configured).
    pub fn witness_quorum(&self) -> usize {
        self.witnessing
            .quorum
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The checkpoint the log shows the world (`/checkpoint`, `/api/v1/checkpoint`, evidence
    /// bundles). With witnesses configured: the newest checkpoint cosigned by the quorum, with
    /// every cosignature the log holds for it, so that what a reader takes home is something
    /// others vouch for (until one has the quorum, the newest with any cosignature; before any
    /// witness answered, the newest checkpoint). Without witnesses: the newest checkpoint.
    pub async fn published_checkpoint(&self) -> SignedCheckpoint {
        if self.witness_quorum() > 0 {
            if let Some((c, _)) = self
                .witnessing
                .published
                .lock()
                .ok()
                .and_then(|c| c.clone())
            {
                return c;
            }
        }
        self.latest_checkpoint().await
    }

    /// The checkpoint of `size` with every cosignature the log holds for it.
    pub async fn cosigned_checkpoint(&self, size: u64) -> Result<SignedCheckpoint, LedgerError> {
        let signed = self.checkpoint(size).await?;
        let all = self.cosignatures_of(size).await?;
        Ok(SignedCheckpoint {
            note: with_cosignatures(&signed.note, &all),
            checkpoint: signed.checkpoint,
        })
    }

    /// The cosignatures of the checkpoint of `size`, by witness.
    pub async fn cosignatures_of(&self, size: u64) -> Result<Vec<StoredCosignature>, LedgerError> {
        let rows: Vec<(String, i64, String)> = on_pool!(&self.store_read, p => {
            sqlx::query_as(
                "SELECT witness, timestamp, line FROM cosignatures WHERE size = $1 \
                 ORDER BY witness",
            )
            .bind(to_i64(size)?)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(stored).collect())
    }

    async fn witnessed_checkpoint(&self, size: u64) -> Result<WitnessedCheckpoint, LedgerError> {
        let signed_ms: Option<i64> = on_pool!(&self.store_read, p => {
            sqlx::query_scalar("SELECT created_ms FROM checkpoints WHERE size = $1")
                .bind(to_i64(size)?)
                .fetch_optional(p)
                .await?
        });
        Ok(WitnessedCheckpoint {
            size,
            cosignatures: self.cosignatures_of(size).await?,
            signed_ms,
        })
    }

    /// Where the entry at `index` was anchored in witnessed time: the nearest cosigned
    /// checkpoints on either side of it. Two indexed lookups, whatever the log's size.
    pub async fn anchoring(&self, index: u64) -> Result<Anchoring, LedgerError> {
        Ok(self
            .anchorings(&[index])
            .await?
            .remove(&index)
            .unwrap_or_default())
    }

    /// [`Ledger::anchoring`] of each of `indexes`, reading each cosigned checkpoint's
    /// cosignatures once however many entries share it. Empty when no witness ever cosigned.
    pub async fn anchorings(
        &self,
        indexes: &[u64],
    ) -> Result<std::collections::BTreeMap<u64, Anchoring>, LedgerError> {
        use std::collections::BTreeMap;
        let mut out = BTreeMap::new();
        let any: Option<i64> = on_pool!(&self.store_read, p => {
            sqlx::query_scalar("SELECT MAX(size) FROM cosignatures")
                .fetch_one(p)
                .await?
        });
        if any.is_none() {
            return Ok(out);
        }
        let mut known: BTreeMap<u64, WitnessedCheckpoint> = BTreeMap::new();
        for &index in indexes {
            let at = to_i64(index)?;
            let (before, after): (Option<i64>, Option<i64>) = on_pool!(&self.store_read, p => {
                let before: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(size) FROM cosignatures WHERE size <= $1")
                        .bind(at)
                        .fetch_one(p)
                        .await?;
                let after: Option<i64> =
                    sqlx::query_scalar("SELECT MIN(size) FROM cosignatures WHERE size > $1")
                        .bind(at)
                        .fetch_one(p)
                        .await?;
                (before, after)
            });
            let mut anchoring = Anchoring::default();
            for (size, slot) in [(before, &mut anchoring.after), (after, &mut anchoring.by)] {
                let Some(size) = size.and_then(|s| u64::try_from(s).ok()) else {
                    continue;
                };
                let w = match known.get(&size) {
                    Some(w) => w.clone(),
                    None => {
                        let w = self.witnessed_checkpoint(size).await?;
                        known.insert(size, w.clone());
                        w
                    }
                };
                *slot = Some(w);
            }
            out.insert(index, anchoring);
        }
        Ok(out)
    }

    /// For each checkpoint cosigned by at least `quorum` witnesses, how long after it was
    /// signed the `quorum`-th cosignature arrived, in ms, ascending by size (the benchmark's
    /// witnessing lag).
    pub async fn witnessing_lags(&self, quorum: usize) -> Result<Vec<u64>, LedgerError> {
        let rows: Vec<(i64, i64, i64)> = on_pool!(&self.store_read, p => {
            sqlx::query_as(
                "SELECT c.size, k.created_ms, c.received_ms FROM cosignatures c \
                 JOIN checkpoints k ON k.size = c.size ORDER BY c.size, c.received_ms",
            )
            .fetch_all(p)
            .await?
        });
        let quorum = quorum.max(1);
        let mut lags = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let size = rows[i].0;
            let group: Vec<&(i64, i64, i64)> =
                rows[i..].iter().take_while(|r| r.0 == size).collect();
            if let Some(r) = group.get(quorum - 1) {
                lags.push(u64::try_from(r.2 - r.1).unwrap_or(0));
            }
            i += group.len();
        }
        Ok(lags)
    }
}

fn stored((witness, timestamp, line): (String, i64, String)) -> StoredCosignature {
    StoredCosignature {
        witness,
        timestamp: u64::try_from(timestamp).unwrap_or(0),
        line,
    }
}

/// The note with the cosignature lines appended after the log's own signature (signed-note
/// allows any number of signature lines; verifiers skip the keys they do not know).
fn with_cosignatures(note: &str, cosignatures: &[StoredCosignature]) -> String {
    let mut out = note.to_string();
    for c in cosignatures {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&c.line);
        out.push('\n');
    }
    out
}
