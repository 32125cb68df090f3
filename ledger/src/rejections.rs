//! The rejected messages ingest keeps (SPEC §4): whole, with topic, arrival time and reason.
//! They live beside the log, never in it.

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
);

impl Ledger {
    /// Stores rejections durably (before the sender is told).
    pub async fn record_rejections(&self, rejected: &[Rejected]) -> Result<(), LedgerError> {
        for chunk in rejected.chunks(1000) {
            on_pool!(&self.store, p => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO rejections (received_ms, topic, reason, detail, device, seq, data) ",
                );
                q.push_values(chunk.iter(), |mut b, r| {
                    b.push_bind(r.received_ms)
                        .push_bind(r.topic.as_deref())
                        .push_bind(r.reason.as_str())
                        .push_bind(r.detail.as_str())
                        .push_bind(r.device.as_deref())
                        .push_bind(r.seq.map(|s| s as i64))
                        .push_bind(r.data.as_slice());
                });
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
        let rows: Vec<Row> = on_pool!(&self.store, p => {
            let mut q = QueryBuilder::new(
                "SELECT id, received_ms, topic, reason, detail, device, seq, data FROM rejections WHERE 1 = 1",
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
                |(id, received_ms, topic, reason, detail, device, seq, data)| {
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
                        },
                    )
                },
            )
            .collect())
    }

    /// How many rejections are kept, by reason.
    pub async fn rejection_counts(&self) -> Result<Vec<(String, u64)>, LedgerError> {
        let rows: Vec<(String, i64)> = on_pool!(&self.store, p => {
            sqlx::query_as("SELECT reason, COUNT(*) FROM rejections GROUP BY reason ORDER BY reason")
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(r, n)| (r, n as u64)).collect())
    }
}
