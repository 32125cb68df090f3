//! Writing the derived index rows of entries.
//!
//! Registry rows are written inside the appending transaction: a registration must be visible
//! to ingest the moment its entry is anchored. Event rows (chains, items, aggregations) are
//! written by the [`Indexer`] task behind the sequencer, several batches per transaction, so
//! that appending to the log is not slowed by index maintenance; the log is the truth and the
//! index is rebuilt from it after a crash (`indexed_size` in `index_meta` says how far it got).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::LedgerError;
use crate::derive::Derived;
use crate::store::{Store, on_pool};

/// Inserts the event index rows of `$rows` (derived entries with their log indexes) using
/// transaction `$tx`. A macro so that it expands for both backends inside `on_pool!`.
macro_rules! insert_events {
    ($tx:expr, $rows:expr) => {{
        use $crate::derive::Derived;
        let rows: &[(i64, Derived)] = $rows;
        let events: Vec<(i64, &$crate::derive::EventRow)> = rows
            .iter()
            .filter_map(|(idx, d)| match d {
                Derived::Event(e) => Some((*idx, e)),
                Derived::Registry(_) => None,
            })
            .collect();
        for chunk in events.chunks(2000) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO events (idx, device, seq, hash, prev, time_ms, kind, dropped) ",
            );
            q.push_values(chunk.iter(), |mut b, (idx, e)| {
                b.push_bind(*idx)
                    .push_bind(e.device.as_str())
                    .push_bind(e.seq as i64)
                    .push_bind(e.hash.as_slice())
                    .push_bind(e.prev.as_slice())
                    .push_bind(e.time_ms)
                    .push_bind(i64::from(e.kind.code()))
                    .push_bind(e.dropped.map(|d| d as i64));
            });
            q.build().execute(&mut *$tx).await?;
        }
        let mut items: Vec<(&str, i64)> = events
            .iter()
            .flat_map(|(idx, e)| e.items.iter().map(move |it| (it.as_str(), *idx)))
            .collect();
        // Key order: B-tree inserts that follow each other down the same pages.
        items.sort_unstable();
        for chunk in items.chunks(4000) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO item_events (item, idx) ");
            q.push_values(chunk.iter(), |mut b, (item, idx)| {
                b.push_bind(*item).push_bind(*idx);
            });
            q.build().execute(&mut *$tx).await?;
        }
        let aggs: Vec<(&str, &str, i64, i64, i64)> = events
            .iter()
            .flat_map(|(idx, e)| {
                e.aggregation
                    .iter()
                    .map(move |(c, p, d)| (c.as_str(), p.as_str(), *idx, e.time_ms, *d))
            })
            .collect();
        for chunk in aggs.chunks(2000) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO aggregations (child, parent, idx, time_ms, delta) ",
            );
            q.push_values(chunk.iter(), |mut b, (c, p, idx, t, d)| {
                b.push_bind(*c)
                    .push_bind(*p)
                    .push_bind(*idx)
                    .push_bind(*t)
                    .push_bind(*d);
            });
            q.build().execute(&mut *$tx).await?;
        }
    }};
}

/// Inserts `$rows`, registry rows with their log indexes, using transaction `$tx`.
macro_rules! insert_registry {
    ($tx:expr, $rows:expr) => {{
        use $crate::derive::Change;
        let rows: &[(i64, &$crate::derive::RegistryRow)] = $rows;
        for &(idx, r) in rows {
            match &r.change {
                Change::Registered { key, role, org } => {
                    sqlx::query(
                        "INSERT INTO devices (id, role, org, public_key, registered_idx, key_idx) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(r.device.as_str())
                    .bind(role.name())
                    .bind(org.as_str())
                    .bind(key.as_slice())
                    .bind(idx)
                    .execute(&mut *$tx)
                    .await?;
                }
                Change::KeyRotated { key } => {
                    sqlx::query("UPDATE devices SET public_key = $2, key_idx = $3 WHERE id = $1")
                        .bind(r.device.as_str())
                        .bind(key.as_slice())
                        .bind(idx)
                        .execute(&mut *$tx)
                        .await?;
                }
                Change::Revoked { .. } => {
                    sqlx::query("UPDATE devices SET revoked_idx = $2 WHERE id = $1")
                        .bind(r.device.as_str())
                        .bind(idx)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            if let Change::Registered { key, .. } | Change::KeyRotated { key } = &r.change {
                sqlx::query(
                    "INSERT INTO device_keys (device, idx, public_key) VALUES ($1, $2, $3)",
                )
                .bind(r.device.as_str())
                .bind(idx)
                .bind(key.as_slice())
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}
pub(crate) use insert_registry;

/// A batch the sequencer hands to the indexer.
pub(crate) struct Job {
    pub first: u64,
    pub entries: Vec<Vec<u8>>,
}

/// Event rows appended but not yet indexed, so that duplicate checks see them at once.
pub(crate) type Pending = Arc<Mutex<HashMap<(String, u64), (u64, [u8; 32])>>>;

/// Most entries the indexer writes in one transaction.
const MAX_ENTRIES_PER_TXN: usize = 20_000;

/// The indexer task's handle.
pub(crate) struct Indexer {
    pub jobs: mpsc::Sender<Job>,
    pub indexed: watch::Receiver<u64>,
    pub pending: Pending,
    pub task: tokio::task::JoinHandle<()>,
}

/// Writes one transaction of event rows and moves the watermark to `upto`.
pub(crate) async fn write_events(
    store: &Store,
    jobs: &[Job],
    upto: u64,
) -> Result<(), LedgerError> {
    // The full decode happens here, off the sequencer's path. An entry the log holds but that
    // does not decode (its appender skipped validation) is logged and left out of the index;
    // `verify --data` reports it.
    let mut rows: Vec<(i64, Derived)> = Vec::new();
    for job in jobs {
        for (i, e) in job.entries.iter().enumerate() {
            let index = job.first + i as u64;
            match crate::derive::derive(e) {
                Ok(d) => rows.push((index as i64, d)),
                Err(error) => tracing::error!(index, %error, "entry cannot be indexed"),
            }
        }
    }
    on_pool!(store, p => {
        let mut tx = p.begin().await?;
        insert_events!(tx, &rows);
        sqlx::query("UPDATE index_meta SET value = $1 WHERE key = 'indexed_size'")
            .bind(upto.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Starts the indexer with the index complete up to `indexed`.
pub(crate) fn start(store: Store, indexed: u64) -> Indexer {
    // Bounded: when the index falls this far behind, appending waits (backpressure).
    let (jobs, mut rx) = mpsc::channel::<Job>(64);
    let (tx_indexed, indexed_rx) = watch::channel(indexed);
    let pending: Pending = Arc::default();
    let pending2 = pending.clone();
    let task = tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let mut batch = vec![job];
            let mut n = batch[0].entries.len();
            while n < MAX_ENTRIES_PER_TXN {
                match rx.try_recv() {
                    Ok(j) => {
                        n += j.entries.len();
                        batch.push(j);
                    }
                    Err(_) => break,
                }
            }
            let upto = batch.last().map_or(0, |j| j.first + j.entries.len() as u64);
            let mut delay = Duration::from_millis(50);
            loop {
                match write_events(&store, &batch, upto).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "indexing failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if let Ok(mut p) = pending2.lock() {
                p.retain(|_, (index, _)| *index >= upto);
            }
            tx_indexed.send_replace(upto);
        }
    });
    Indexer {
        jobs,
        indexed: indexed_rx,
        pending,
        task,
    }
}
