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
/// transaction `$tx`, and evaluates to the log indexes of the events whose (signer, seq) was
/// already indexed under another entry: those are left out. A macro so that it expands for
/// both backends inside `on_pool!`.
///
/// Every insert is `ON CONFLICT DO NOTHING`: what an entry says must never be able to fail the
/// index transaction (a failed transaction is retried, and a retried failure wedges the
/// indexer and start-up).
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
        let mut inserted: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for chunk in events.chunks(2000) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO events (idx, device, seq, hash, prev, time_ms, kind, dropped) ",
            );
            q.push_values(chunk.iter(), |mut b, (idx, e)| {
                b.push_bind(*idx)
                    .push_bind(e.device.as_str())
                    // Decoding bounds seq below 2^53 and dropped below seq (SPEC §3).
                    .push_bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
                    .push_bind(e.hash.as_slice())
                    .push_bind(e.prev.as_slice())
                    .push_bind(e.time_ms)
                    .push_bind(i64::from(e.kind.code()))
                    .push_bind(e.dropped.map(|d| i64::try_from(d).unwrap_or(i64::MAX)));
            });
            q.push(" ON CONFLICT DO NOTHING RETURNING idx");
            let done: Vec<i64> = q.build_query_scalar().fetch_all(&mut *$tx).await?;
            inserted.extend(done);
        }
        let repeats: Vec<i64> = events
            .iter()
            .map(|(idx, _)| *idx)
            .filter(|idx| !inserted.contains(idx))
            .collect();
        let kept = |idx: &i64| inserted.contains(idx);
        // A repeat keeps its item rows, so that the views of its items can show its finding.
        let mut items: Vec<(&str, i64)> = events
            .iter()
            .flat_map(|(idx, e)| e.items.iter().map(move |it| (it.as_str(), *idx)))
            .collect();
        // Key order: B-tree inserts that follow each other down the same pages.
        items.sort_unstable();
        items.dedup();
        for chunk in items.chunks(4000) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO item_events (item, idx) ");
            q.push_values(chunk.iter(), |mut b, (item, idx)| {
                b.push_bind(*item).push_bind(*idx);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *$tx).await?;
        }
        let mut aggs: Vec<(&str, &str, i64, i64, i64)> = events
            .iter()
            .filter(|(idx, _)| kept(idx))
            .flat_map(|(idx, e)| {
                e.aggregation
                    .iter()
                    .map(move |(c, p, d)| (c.as_str(), p.as_str(), *idx, e.time_ms, *d))
            })
            .collect();
        aggs.sort_unstable_by_key(|a| (a.0, a.2));
        aggs.dedup_by_key(|a| (a.0, a.2));
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
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *$tx).await?;
        }
        repeats
    }};
}

/// Records `$findings` (log index, problem) in `index_findings` using transaction `$tx`.
macro_rules! insert_findings {
    ($tx:expr, $findings:expr) => {{
        let findings: &[(i64, String)] = $findings;
        for chunk in findings.chunks(1000) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO index_findings (idx, problem) ");
            q.push_values(chunk.iter(), |mut b, (idx, problem)| {
                b.push_bind(*idx).push_bind(problem.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING");
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

/// Problems with entries, by log index.
type Findings = Vec<(i64, String)>;

/// Derives the index rows of `jobs`' entries. An entry that cannot be indexed (it breaks
/// SPEC §3, so an appender skipped validation or it was anchored under older rules) becomes a
/// finding on its log index instead: pure, so a hostile entry costs one row, never a retry.
fn derive_jobs(jobs: &[Job]) -> (Vec<(i64, Derived)>, Findings) {
    let mut rows: Vec<(i64, Derived)> = Vec::new();
    let mut findings = Vec::new();
    for job in jobs {
        for (i, e) in job.entries.iter().enumerate() {
            let Ok(index) = i64::try_from(job.first + i as u64) else {
                continue;
            };
            match crate::derive::derive(e) {
                Ok(d) => rows.push((index, d)),
                Err(error) => {
                    tracing::warn!(index, %error, "entry cannot be indexed; recorded as a finding");
                    findings.push((index, format!("cannot be indexed: {error}")));
                }
            }
        }
    }
    (rows, findings)
}

/// Whether a database error comes from what was written (a constraint or a value the
/// database refuses) rather than from the database being unreachable: only the first kind is
/// worth isolating entry by entry, the second is retried.
fn refused_by_database(e: &LedgerError) -> bool {
    matches!(e, LedgerError::Database(sqlx::Error::Database(_)))
}

/// Writes one transaction of event rows and findings, and moves the watermark to `upto`.
async fn write_rows(
    store: &Store,
    rows: &[(i64, Derived)],
    findings: &[(i64, String)],
    upto: Option<u64>,
) -> Result<(), LedgerError> {
    on_pool!(store, p => {
        let mut tx = p.begin().await?;
        let repeats = insert_events!(tx, rows);
        let mut findings = findings.to_vec();
        for idx in repeats {
            let Some((_, Derived::Event(e))) = rows.iter().find(|(i, _)| *i == idx) else {
                continue;
            };
            let first: Option<i64> = sqlx::query_scalar(
                "SELECT idx FROM events WHERE device = $1 AND seq = $2",
            )
            .bind(e.device.as_str())
            .bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
            .fetch_optional(&mut *tx)
            .await?;
            match first {
                // Indexed before (a rebuild over rows already there): nothing to report.
                Some(f) if f == idx => {}
                first => findings.push((
                    idx,
                    format!(
                        "repeats seq {} of signer {}, already indexed at entry {}; left out of \
                         the index (two different events anchored under one seq)",
                        e.seq,
                        e.device,
                        first.map_or_else(|| "?".to_string(), |f| f.to_string())
                    ),
                )),
            }
        }
        insert_findings!(tx, &findings);
        if let Some(upto) = upto {
            sqlx::query("UPDATE index_meta SET value = $1 WHERE key = 'indexed_size'")
                .bind(upto.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Writes the index rows of `jobs` and moves the watermark to `upto`. Whatever the entries
/// hold, this ends: an entry whose rows the database refuses is written alone, and if it is
/// refused alone it becomes a finding. Only an unreachable database makes it fail (and the
/// caller retry).
pub(crate) async fn write_events(
    store: &Store,
    jobs: &[Job],
    upto: u64,
) -> Result<(), LedgerError> {
    let (rows, findings) = derive_jobs(jobs);
    match write_rows(store, &rows, &findings, Some(upto)).await {
        Err(e) if refused_by_database(&e) => {
            tracing::warn!(error = %e, "the index refused a batch; indexing its entries one by one");
        }
        other => return other,
    }
    let mut findings = findings;
    for row in rows {
        let idx = row.0;
        // Each entry alone, so that a failure is pinned to one entry. The watermark moves only
        // at the end: after a crash half-way the batch is derived again, and rows already
        // written are skipped by `ON CONFLICT DO NOTHING`.
        let one = [row];
        match write_rows(store, &one, &[], None).await {
            Ok(()) => {}
            Err(e) if refused_by_database(&e) => {
                tracing::warn!(index = idx, error = %e, "the index refuses this entry; recorded as a finding");
                findings.push((idx, format!("the index refused it: {e}")));
            }
            Err(e) => return Err(e),
        }
    }
    write_rows(store, &[], &findings, Some(upto)).await
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
