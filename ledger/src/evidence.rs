//! Assembling the evidence bundle of an item (SPEC §7) at one checkpoint.
//!
//! What goes in, so that the offline verifier (`provenance_custody::verify`) can check
//! everything with nothing but the log key:
//!
//! - every event of the item's trace (its own, and its containers' while it was inside);
//! - every packing and unpacking entry between the item and each container on its path, so
//!   the verifier can work out the container windows itself;
//! - for each of those events, its signer's nearest earlier event (`chain_link`), so the
//!   verifier can check `prev` or see a gap and whether `dropped` explains it;
//! - the registry entries (registered, key rotated, revoked) of every signer, from the
//!   `device_keys` and `devices` rows that record their log indexes;
//! - for each, its inclusion proof to the one checkpoint, as a C2SP tlog proof.
//!
//! [`trace_events`] turns a trace into what the custody rules read, for views that judge a
//! trace without a bundle (the JSON trace, the trace page).

use std::collections::{BTreeMap, BTreeSet};

use provenance_custody::bundle::{Bundle, BundleEntry, LogInfo, Purpose, Scope, TlogProof};

use crate::store::on_pool;
use crate::{Ledger, LedgerError, now_ms, to_i64};

impl Ledger {
    /// The evidence bundle of `item` (a canonical EPC URI) at the newest checkpoint.
    pub async fn evidence(&self, item: &str) -> Result<Bundle, LedgerError> {
        self.evidence_at(item, self.published_checkpoint().await)
            .await
    }

    /// The evidence bundle of `item` at `checkpoint` (one this log signed, e.g. from
    /// [`Ledger::latest_checkpoint`]). Apart from its `created_ms`, the bundle depends on
    /// nothing but the item and the checkpoint's size, which lets callers cache it by them.
    pub async fn evidence_at(
        &self,
        item: &str,
        checkpoint: crate::SignedCheckpoint,
    ) -> Result<Bundle, LedgerError> {
        let size = checkpoint.checkpoint.size;
        // The trace reads the index, which trails the log by milliseconds.
        self.wait_indexed(size).await?;
        let trace = self.trace(item).await?;

        // The trace holds the bytes of most entries already.
        let known: std::collections::HashMap<u64, Vec<u8>> = trace
            .entries
            .iter()
            .map(|e| (e.index, e.bytes.clone()))
            .collect();
        let mut chosen: BTreeMap<u64, Purpose> = BTreeMap::new();
        let mut signers: BTreeSet<String> = BTreeSet::new();
        let mut links: Vec<(String, u64)> = Vec::new();
        for e in trace.entries.iter().filter(|e| e.index < size) {
            let purpose = match (e.kind, &e.inherited) {
                (provenance_event::Kind::Packed | provenance_event::Kind::Unpacked, _) => {
                    Purpose::Aggregation
                }
                (_, None) => Purpose::Event,
                (_, Some(_)) => Purpose::ContainerEvent,
            };
            chosen.insert(e.index, purpose);
            signers.insert(e.device.clone());
            if e.seq > 1 {
                links.push((e.device.clone(), e.seq));
            }
        }

        // The packings that make each window, child by child along each path.
        for w in &trace.containers {
            let child = match w.via.len() {
                0 | 1 => item.to_string(),
                n => w.via[n - 2].clone(),
            };
            for (idx, device, seq) in self.aggregation_entries(&child, &w.container).await? {
                if idx < size && !chosen.contains_key(&idx) {
                    chosen.insert(idx, Purpose::Aggregation);
                    signers.insert(device.clone());
                    if seq > 1 {
                        links.push((device, seq));
                    }
                }
            }
        }

        // Each event's nearest earlier event of its signer.
        for (device, seq) in links {
            if let Some(idx) = self.predecessor(&device, seq).await? {
                if idx < size {
                    chosen.entry(idx).or_insert(Purpose::ChainLink);
                }
            }
        }

        self.assemble(item, checkpoint, chosen, &signers, known, Scope::Whole)
            .await
    }

    /// The public evidence of `item` at `checkpoint`: `reveal`, the entries of its trace a
    /// public reader may see whole (as `provenance-access` decides), and their signers'
    /// registry entries, nothing else; `scope: public`, so a verifier checks signatures and
    /// proofs and leaves chains and custody to a whole bundle.
    pub async fn public_evidence_at(
        &self,
        item: &str,
        checkpoint: crate::SignedCheckpoint,
        reveal: Vec<crate::trace::TraceEntry>,
    ) -> Result<Bundle, LedgerError> {
        let size = checkpoint.checkpoint.size;
        let mut known = std::collections::HashMap::new();
        let mut chosen = BTreeMap::new();
        let mut signers = BTreeSet::new();
        for e in reveal.into_iter().filter(|e| e.index < size) {
            chosen.insert(e.index, Purpose::Event);
            signers.insert(e.device);
            known.insert(e.index, e.bytes);
        }
        self.assemble(item, checkpoint, chosen, &signers, known, Scope::Public)
            .await
    }

    /// A bundle of the `chosen` entries and the registry history of every one of `signers`,
    /// each with its inclusion proof to `checkpoint`; `known` holds bytes already read.
    async fn assemble(
        &self,
        item: &str,
        checkpoint: crate::SignedCheckpoint,
        mut chosen: BTreeMap<u64, Purpose>,
        signers: &BTreeSet<String>,
        mut known: std::collections::HashMap<u64, Vec<u8>>,
        scope: Scope,
    ) -> Result<Bundle, LedgerError> {
        let size = checkpoint.checkpoint.size;
        // The registry history of every signer.
        for device in signers {
            let Some(info) = self.device(device).await? else {
                continue;
            };
            let keys = self.device_keys(device).await?;
            for idx in keys
                .iter()
                .map(|(i, _)| *i)
                .chain([info.registered_idx])
                .chain(info.revoked_idx)
            {
                if idx < size {
                    chosen.insert(idx, Purpose::Registry);
                }
            }
        }

        let mut entries = Vec::with_capacity(chosen.len());
        for (index, purpose) in chosen {
            let bytes = match known.remove(&index) {
                Some(b) => b,
                None => self.entry(index).await?.ok_or_else(|| {
                    LedgerError::Corrupt(format!("entry {index} below size {size} is missing"))
                })?,
            };
            let hashes = self.inclusion_proof(index, size).await?;
            entries.push(BundleEntry {
                index,
                purpose,
                bytes,
                proof: TlogProof {
                    extra: None,
                    index,
                    hashes,
                    checkpoint: checkpoint.note.clone(),
                },
            });
        }
        Ok(Bundle {
            subject: item.to_string(),
            log: LogInfo {
                origin: self.origin.clone(),
                key: self.verifier().to_string(),
            },
            checkpoint: checkpoint.note,
            created_ms: Some(now_ms()),
            scope,
            entries,
        })
    }

    /// The packing and unpacking entries of `child` into `parent`: (index, signer, seq).
    async fn aggregation_entries(
        &self,
        child: &str,
        parent: &str,
    ) -> Result<Vec<(u64, String, u64)>, LedgerError> {
        let rows: Vec<(i64, String, i64)> = on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT a.idx, e.device, e.seq FROM aggregations a JOIN events e ON e.idx = a.idx \
                 WHERE a.child = $1 AND a.parent = $2 ORDER BY a.idx",
            )
            .bind(child)
            .bind(parent)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(i, d, s)| (i as u64, d, s as u64))
            .collect())
    }

    /// The log index of `device`'s anchored event with the highest seq below `seq`.
    async fn predecessor(&self, device: &str, seq: u64) -> Result<Option<u64>, LedgerError> {
        let idx: Option<i64> = on_pool!(&self.index_read, p => {
            sqlx::query_scalar(
                "SELECT idx FROM events WHERE device = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1",
            )
            .bind(device)
            .bind(to_i64(seq)?)
            .fetch_optional(p)
            .await?
        });
        Ok(idx.map(|i| i as u64))
    }
}

/// The custody rules' view of a trace: each entry decoded, with its signer as the registry
/// knows it (`registry`: every key holder, as [`Ledger::devices`] lists them). Entries that do
/// not decode are left out (the log only holds validated events).
pub fn trace_events(
    trace: &crate::trace::Trace,
    registry: &[crate::registry::DeviceInfo],
) -> Vec<provenance_custody::TraceEvent> {
    use provenance_custody::rules::{Signer, TraceEvent, Window};
    use provenance_event::{Event, SignedEvent};

    let holders: std::collections::HashMap<&str, &crate::registry::DeviceInfo> =
        registry.iter().map(|d| (d.id.as_str(), d)).collect();
    trace
        .entries
        .iter()
        .filter_map(|e| {
            let signed = SignedEvent::parse(&e.bytes).ok()?;
            let event = Event::decode(signed.sign1().payload()).ok()?;
            let holder = holders.get(e.device.as_str());
            let signer = Signer {
                id: e.device.clone(),
                role: holder.map(|d| d.role.name().to_string()),
                org: holder.map(|d| d.org.clone()),
                registered_at: holder.map(|d| d.registered_idx),
                revoked_at: holder.and_then(|d| d.revoked_idx),
            };
            let inherited = e.inherited.as_ref().map(|w| Window {
                container: w.container.clone(),
                from_ms: w.from_ms,
                until_ms: w.until_ms,
                via: w.via.clone(),
            });
            let chain = e.chain;
            Some(TraceEvent::from_event(
                e.index, &event, signer, inherited, chain,
            ))
        })
        .collect()
}
