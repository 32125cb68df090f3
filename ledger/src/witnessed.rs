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
}

impl WitnessedCheckpoint {
    /// The earliest time a witness vouches the checkpoint existed by.
    pub fn earliest(&self) -> Option<u64> {
        self.cosignatures.iter().map(|c| c.timestamp).min()
    }
}

/// Where an entry's anchoring lies in witnessed time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchoring {
    /// The newest cosigned checkpoint that does not hold the entry: it was anchored after
    /// that checkpoint existed (the log cannot add an entry below a size it already signed).
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
        on_pool!(&self.store, p => {
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
        });
        let all = self.cosignatures_of(size).await?;
        let note = with_cosignatures(&signed.note, &all);
        if let Ok(mut published) = self.cosigned.lock() {
            if published.as_ref().is_none_or(|p| p.checkpoint.size <= size) {
                *published = Some(SignedCheckpoint {
                    checkpoint: signed.checkpoint,
                    note,
                });
            }
        }
        Ok(())
    }

    /// Says that witnesses are configured: from now on the log publishes its newest cosigned
    /// checkpoint ([`Ledger::published_checkpoint`]).
    pub async fn publish_witnessed(&self) -> Result<(), LedgerError> {
        let newest: Option<i64> = on_pool!(&self.store_read, p => {
            sqlx::query_scalar("SELECT MAX(size) FROM cosignatures")
                .fetch_one(p)
                .await?
        });
        let cosigned = match newest.and_then(|s| u64::try_from(s).ok()) {
            Some(size) => Some(self.cosigned_checkpoint(size).await?),
            None => None,
        };
        if let Ok(mut published) = self.cosigned.lock() {
            if published.is_none() {
                *published = cosigned;
            }
        }
        self.witnessed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// The checkpoint the log shows the world (`/checkpoint`, `/api/v1/checkpoint`, evidence
    /// bundles): with witnesses configured, the newest checkpoint that carries cosignatures,
    /// with all of them, so that what a reader takes home is something others vouch for;
    /// otherwise (or before any witness answered) the newest checkpoint.
    pub async fn published_checkpoint(&self) -> SignedCheckpoint {
        if self.witnessed.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(c) = self.cosigned.lock().ok().and_then(|c| c.clone()) {
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

    /// Where the entry at `index` was anchored in witnessed time: the nearest cosigned
    /// checkpoints on either side of it. Two indexed lookups, whatever the log's size.
    pub async fn anchoring(&self, index: u64) -> Result<Anchoring, LedgerError> {
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
        if let Some(size) = before.and_then(|s| u64::try_from(s).ok()) {
            anchoring.after = Some(WitnessedCheckpoint {
                size,
                cosignatures: self.cosignatures_of(size).await?,
            });
        }
        if let Some(size) = after.and_then(|s| u64::try_from(s).ok()) {
            anchoring.by = Some(WitnessedCheckpoint {
                size,
                cosignatures: self.cosignatures_of(size).await?,
            });
        }
        Ok(anchoring)
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
        let mut known: BTreeMap<u64, Vec<StoredCosignature>> = BTreeMap::new();
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
                let cosignatures = match known.get(&size) {
                    Some(c) => c.clone(),
                    None => {
                        let c = self.cosignatures_of(size).await?;
                        known.insert(size, c.clone());
                        c
                    }
                };
                *slot = Some(WitnessedCheckpoint { size, cosignatures });
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
