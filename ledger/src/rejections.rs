//! The rejected messages ingest keeps (SPEC §4): whole, with topic, arrival time and reason.
//! They live beside the log, never in it.
//!
//! The same bytes on the same topic refused for the same reason are one rejection, counted
//! (`times`): MQTT's QoS 1 delivers at least once, devices re-send what was not acknowledged,
//! and an attacker may replay one message a million times; none of that may multiply rows
//! (distinct messages are each kept: that needs a quota per device, which there is not yet).

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};
use sqlx::QueryBuilder;

use crate::store::on_pool;
use crate::{Ledger, LedgerError};

/// A refused message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Arrival time, Unix ms.
    pub received_ms: i64,
    /// MQTT topic, or `None` for the HTTP and gRPC APIs.
    pub topic: Option<String>,
    /// SPEC §4's reason word.
    pub reason: String,
    /// What exactly was wrong.
    pub detail: String,
    /// The signer the message claims, if readable.
    pub device: Option<String>,
    /// The seq it claims, if readable.
    pub seq: Option<u64>,
    /// The message bytes as received.
    pub data: Vec<u8>,
    /// How often it arrived (1 when recorded; more when the same bytes came again).
    pub times: u64,
    /// When it last arrived, Unix ms (`received_ms` is the first time).
    pub last_received_ms: i64,
}

impl Rejected {
    /// What makes two arrivals one rejection: SHA-256 over the topic, the reason and the
    /// bytes, each prefixed by its length (u64 big-endian) so no two triples collide.
    pub fn digest(&self) -> [u8; 32] {
        let topic = self.topic.as_deref().unwrap_or_default().as_bytes();
        let mut h = Sha256::new();
        for part in [topic, self.reason.as_bytes(), &self.data] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }
}

/// Which rejections to list.
#[derive(Debug, Clone, Default)]
pub struct RejectionQuery {
    /// Only after this id (for paging; newest first otherwise).
    pub before_id: Option<i64>,
    /// Only this reason.
    pub reason: Option<String>,
    /// Only this device.
    pub device: Option<String>,
    /// At most this many (capped at 1000).
    pub limit: u32,
}

type Row = (
    i64,
    i64,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<i64>,
    Vec<u8>,
    i64,
    Option<i64>,
);

impl Ledger {
    /// Stores rejections durably (before the sender is told). One already kept (same topic,
    /// reason and bytes) is counted again instead of stored twice.
    pub async fn record_rejections(&self, rejected: &[Rejected]) -> Result<(), LedgerError> {
        for chunk in rejected.chunks(1000) {
            // One row per digest in a statement: PostgreSQL refuses to update a row twice.
            let mut once: Vec<([u8; 32], Rejected)> = Vec::with_capacity(chunk.len());
            let mut at: HashMap<[u8; 32], usize> = HashMap::with_capacity(chunk.len());
            for r in chunk {
                let d = r.digest();
                match at.get(&d) {
                    Some(&i) => {
                        let kept = &mut once[i].1;
                        kept.times += r.times;
                        kept.last_received_ms = kept.last_received_ms.max(r.last_received_ms);
                    }
                    None => {
                        at.insert(d, once.len());
                        once.push((d, r.clone()));
                    }
                }
            }
            on_pool!(&self.store, p => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO rejections (received_ms, topic, reason, detail, device, seq, data, \
                     digest, times, last_received_ms) ",
                );
                q.push_values(once.iter(), |mut b, (d, r)| {
                    b.push_bind(r.received_ms)
                        .push_bind(r.topic.as_deref())
                        .push_bind(r.reason.as_str())
                        .push_bind(r.detail.as_str())
                        .push_bind(r.device.as_deref())
                        .push_bind(r.seq.and_then(|s| i64::try_from(s).ok()))
                        .push_bind(r.data.as_slice())
                        .push_bind(d.as_slice())
                        .push_bind(i64::try_from(r.times).unwrap_or(i64::MAX))
                        .push_bind(r.last_received_ms);
                });
                q.push(
                    // The later time wins (a late re-delivery must not move it back); CASE
                    // because SQLite's MAX(a, b) is PostgreSQL's GREATEST.
                    " ON CONFLICT (digest) DO UPDATE SET times = rejections.times + excluded.times, \
                     last_received_ms = CASE WHEN excluded.last_received_ms > \
                     rejections.last_received_ms THEN excluded.last_received_ms \
                     ELSE rejections.last_received_ms END",
                );
                q.build().execute(p).await?;
            });
        }
        Ok(())
    }

    /// Lists rejections, newest first.
    pub async fn rejections(
        &self,
        query: &RejectionQuery,
    ) -> Result<Vec<(i64, Rejected)>, LedgerError> {
        let limit = i64::from(query.limit.clamp(1, 1000));
        let rows: Vec<Row> = on_pool!(&self.store_read, p => {
            let mut q = QueryBuilder::new(
                "SELECT id, received_ms, topic, reason, detail, device, seq, data, times, \
                 last_received_ms FROM rejections WHERE 1 = 1",
            );
            if let Some(b) = query.before_id {
                q.push(" AND id < ").push_bind(b);
            }
            if let Some(r) = &query.reason {
                q.push(" AND reason = ").push_bind(r.as_str());
            }
            if let Some(d) = &query.device {
                q.push(" AND device = ").push_bind(d.as_str());
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
            q.build_query_as().fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, received_ms, topic, reason, detail, device, seq, data, times, last)| {
                    (
                        id,
                        Rejected {
                            received_ms,
                            topic,
                            reason,
                            detail,
                            device,
                            seq: seq.map(|s| s as u64),
                            data,
                            times: times.max(1) as u64,
                            last_received_ms: last.unwrap_or(received_ms),
                        },
                    )
                },
            )
            .collect())
    }

    /// How many rejections are kept, by reason (each counted once, however often it came).
    pub async fn rejection_counts(&self) -> Result<Vec<(String, u64)>, LedgerError> {
        let rows: Vec<(String, i64)> = on_pool!(&self.store_read, p => {
            sqlx::query_as("SELECT reason, COUNT(*) FROM rejections GROUP BY reason ORDER BY reason")
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(r, n)| (r, n as u64)).collect())
    }

    /// Deletes the rejections that last arrived before `before_ms` (Unix ms), adding them to
    /// the per-reason counts of expired rejections; returns how many rows went. Junk expires;
    /// how much of it there was does not.
    pub async fn expire_rejections(&self, before_ms: i64) -> Result<u64, LedgerError> {
        let deleted = on_pool!(&self.store, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO rejections_expired (reason, rows_deleted, times) \
                 SELECT reason, COUNT(*), CAST(SUM(times) AS BIGINT) FROM rejections \
                 WHERE COALESCE(last_received_ms, received_ms) < $1 GROUP BY reason \
                 ON CONFLICT (reason) DO UPDATE SET \
                 rows_deleted = rejections_expired.rows_deleted + excluded.rows_deleted, \
                 times = rejections_expired.times + excluded.times",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "DELETE FROM rejections WHERE COALESCE(last_received_ms, received_ms) < $1",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            done
        });
        Ok(deleted)
    }

    /// The expired rejections by reason: (reason, rows deleted, arrivals they had counted).
    pub async fn expired_rejection_counts(&self) -> Result<Vec<(String, u64, u64)>, LedgerError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(&self.store_read, p => {
            sqlx::query_as(
                "SELECT reason, rows_deleted, times FROM rejections_expired ORDER BY reason",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(r, n, t)| {
                (
                    r,
                    u64::try_from(n).unwrap_or(0),
                    u64::try_from(t).unwrap_or(0),
                )
            })
            .collect())
    }
}
