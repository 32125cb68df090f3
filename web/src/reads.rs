//! What keeps repeated reads cheap (issue #12, "cost of reads"): the caps and shared per-item
//! feeds of the live streams (`pages::live`), and the cache of evidence bundles and their
//! offline verdicts by (item, tree size).
//!
//! One [`Reads`] belongs to one site: [`crate::site_with`] makes it and hands it to the
//! handlers as a request extension, so the API router alone ([`crate::router`], which tests
//! serve by itself) answers the same, only uncached. Everything here is derived from the log
//! and can be thrown away at any time: a cache, not state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use provenance_custody::bundle::Bundle;
use provenance_custody::rules::Limits as CustodyLimits;
use provenance_custody::verify::Report;
use provenance_ledger::{Ledger, LedgerError, SignedCheckpoint};
use tokio::sync::OnceCell;

use crate::pages::live::Hub;

/// The bounds of what reads may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Live streams open at once, server-wide.
    pub live_streams: usize,
    /// Live streams open at once from one client IP address.
    pub live_streams_per_ip: usize,
    /// Evidence bundles (with their verdicts) kept.
    pub evidence_entries: usize,
    /// Bytes of evidence kept (bundles as JSON, verdicts counted as large as their bundle).
    pub evidence_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            live_streams: 256,
            live_streams_per_ip: 16,
            evidence_entries: 64,
            evidence_bytes: 32 << 20,
        }
    }
}

/// The read-side caches and caps of one site.
#[derive(Clone)]
pub struct Reads {
    pub(crate) live: Arc<Hub>,
    pub(crate) evidence: Arc<EvidenceCache>,
}

impl Default for Reads {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Reads {
    /// Caches and caps with the given bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            live: Arc::new(Hub::new(limits.live_streams, limits.live_streams_per_ip)),
            evidence: Arc::new(EvidenceCache::new(
                limits.evidence_entries,
                limits.evidence_bytes,
            )),
        }
    }

    /// How many times a live feed recomputed an item's digest (a trace): once per index
    /// advance per watched item, whatever the number of watchers. Also the
    /// `provenance_live_recomputes_total` metric.
    pub fn live_recomputes(&self) -> u64 {
        self.live.recomputes()
    }

    /// Live streams open now (the `provenance_live_streams` gauge).
    pub fn live_streams(&self) -> usize {
        self.live.open()
    }

    /// How many evidence bundles were assembled (`provenance_evidence_builds_total`).
    pub fn evidence_builds(&self) -> u64 {
        self.evidence.builds.load(Ordering::Relaxed)
    }

    /// How many times the offline verifier ran on a bundle
    /// (`provenance_evidence_verifier_runs_total`).
    pub fn verifier_runs(&self) -> u64 {
        self.evidence.verifier_runs.load(Ordering::Relaxed)
    }
}

/// How long a read of an item's history waits for the event index to cover the newest
/// checkpoint: the index trails the log by milliseconds, and what a device was told is
/// anchored must be in the trace it reads next. A backlog longer than this is shown as it is.
pub const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits, at most [`INDEX_WAIT`], for the event index to cover the newest checkpoint.
pub(crate) async fn index_caught_up(ledger: &provenance_ledger::Ledger) {
    let size = ledger.latest_checkpoint().await.checkpoint.size;
    let _ = tokio::time::timeout(INDEX_WAIT, ledger.wait_indexed(size)).await;
}

/// A lock that outlives a panic elsewhere: the guarded maps stay consistent between
/// statements, and a cache must not take the site down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An item's evidence bundle at one tree size, as served.
pub struct Built {
    /// The bundle as JSON (what `GET /api/v1/items/{id}/evidence` sends); shared, so an
    /// answer from the cache copies no bytes.
    pub json: Bytes,
    /// Whether it holds no entry (the log knows nothing about the item).
    pub empty: bool,
}

/// One cache entry: the bundle, and its verdict once someone asked for it. Each is computed
/// once however many requests ask at the same time (the others wait for it).
#[derive(Default)]
struct Slot {
    bundle: OnceCell<Arc<Built>>,
    verdict: OnceCell<Arc<Report>>,
}

/// (item, tree size, the checkpoint note's hash): the note changes at one size as witnesses'
/// cosignatures arrive, and the bundle carries the note.
type Key = (String, u64, u64);

fn key_of(item: &str, checkpoint: &SignedCheckpoint) -> Key {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    checkpoint.note.hash(&mut h);
    (item.to_string(), checkpoint.checkpoint.size, h.finish())
}

struct Lru {
    /// (item, tree size) → the slot, its last use (a tick) and the bytes it holds.
    map: HashMap<Key, (Arc<Slot>, u64, usize)>,
    tick: u64,
    bytes: usize,
}

/// Evidence bundles and their verdicts by (item, tree size), least recently used out first.
/// A bundle depends on nothing else (`Ledger::evidence_at`; its `created_ms` is when it was
/// first assembled) and the verdict only on the bundle and the log key, so a repeated request
/// at the same tree size costs a map lookup. What does change between requests, the storage
/// audit's banner, is rendered per request and not cached.
pub(crate) struct EvidenceCache {
    lru: Mutex<Lru>,
    max_entries: usize,
    max_bytes: usize,
    builds: AtomicU64,
    verifier_runs: AtomicU64,
}

impl EvidenceCache {
    fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            lru: Mutex::new(Lru {
                map: HashMap::new(),
                tick: 0,
                bytes: 0,
            }),
            max_entries,
            max_bytes,
            builds: AtomicU64::new(0),
            verifier_runs: AtomicU64::new(0),
        }
    }

    /// The entry of `key`, made if missing (evicting the least recently used beyond the
    /// bound on entries).
    fn slot(&self, key: &Key) -> Arc<Slot> {
        let mut lru = lock(&self.lru);
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((slot, used, _)) = lru.map.get_mut(key) {
            *used = tick;
            metrics::counter!("provenance_evidence_cache_hits_total").increment(1);
            return slot.clone();
        }
        let slot = Arc::new(Slot::default());
        lru.map.insert(key.clone(), (slot.clone(), tick, 0));
        evict(&mut lru, self.max_entries, self.max_bytes, key);
        slot
    }

    /// Records what `key`'s entry holds now, and evicts others beyond the bound on bytes; an
    /// entry larger than the whole bound is not kept at all.
    fn account(&self, key: &Key, slot: &Arc<Slot>, bytes: usize) {
        let mut lru = lock(&self.lru);
        let Some((kept, _, held)) = lru.map.get_mut(key) else {
            return;
        };
        // Evicted and made again meanwhile: that other entry accounts for itself.
        if !Arc::ptr_eq(kept, slot) {
            return;
        }
        let before = *held;
        *held = bytes;
        lru.bytes = lru.bytes - before + bytes;
        if bytes > self.max_bytes {
            lru.map.remove(key);
            lru.bytes -= bytes;
            return;
        }
        evict(&mut lru, self.max_entries, self.max_bytes, key);
    }

    /// The bundle of `item` at `checkpoint`, assembled once per (item, tree size).
    pub(crate) async fn bundle(
        &self,
        ledger: &Ledger,
        item: &str,
        checkpoint: &SignedCheckpoint,
    ) -> Result<Arc<Built>, LedgerError> {
        let key = key_of(item, checkpoint);
        let slot = self.slot(&key);
        self.bundle_in(&slot, &key, ledger, checkpoint).await
    }

    async fn bundle_in(
        &self,
        slot: &Arc<Slot>,
        key: &Key,
        ledger: &Ledger,
        checkpoint: &SignedCheckpoint,
    ) -> Result<Arc<Built>, LedgerError> {
        let built = slot
            .bundle
            .get_or_try_init(|| async {
                let b = build(&self.builds, ledger, &key.0, checkpoint).await?;
                Ok::<_, LedgerError>(Arc::new(b))
            })
            .await?
            .clone();
        // Counted as twice the JSON: the verdict, derived from the bundle, is no larger.
        self.account(key, slot, built.json.len().saturating_mul(2));
        Ok(built)
    }

    /// The bundle of `item` at `checkpoint` and the offline verifier's report on it (with
    /// the default custody limits, as the customs view shows it), each computed once per
    /// (item, tree size).
    pub(crate) async fn verdict(
        &self,
        ledger: &Ledger,
        item: &str,
        checkpoint: &SignedCheckpoint,
    ) -> Result<(Arc<Built>, Arc<Report>), LedgerError> {
        let key = key_of(item, checkpoint);
        let slot = self.slot(&key);
        let built = self.bundle_in(&slot, &key, ledger, checkpoint).await?;
        let report = slot
            .verdict
            .get_or_init(|| async {
                self.verifier_runs.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("provenance_evidence_verifier_runs_total").increment(1);
                Arc::new(provenance_custody::verify::verify_bundle(
                    &built.json,
                    ledger.verifier(),
                    &CustodyLimits::default(),
                ))
            })
            .await
            .clone();
        Ok((built, report))
    }
}

/// Drops least recently used entries other than `keep` until both bounds hold.
fn evict(lru: &mut Lru, max_entries: usize, max_bytes: usize, keep: &Key) {
    while lru.map.len() > max_entries.max(1) || lru.bytes > max_bytes {
        let oldest = lru
            .map
            .iter()
            .filter(|(k, _)| *k != keep)
            .min_by_key(|(_, (_, used, _))| *used)
            .map(|(k, _)| k.clone());
        let Some(k) = oldest else { break };
        if let Some((_, _, held)) = lru.map.remove(&k) {
            lru.bytes -= held;
        }
    }
}

async fn build(
    builds: &AtomicU64,
    ledger: &Ledger,
    item: &str,
    checkpoint: &SignedCheckpoint,
) -> Result<Built, LedgerError> {
    builds.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("provenance_evidence_builds_total").increment(1);
    let bundle: Bundle = ledger.evidence_at(item, checkpoint.clone()).await?;
    Ok(Built {
        empty: bundle.entries.is_empty(),
        json: Bytes::from(bundle.to_json()),
    })
}
