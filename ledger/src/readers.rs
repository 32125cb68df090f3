//! Read grants (issue #14): an organisation's read token at a tier, with an optional item
//! prefix the operator shares with it. The token itself is never stored, only its hash
//! (`sha256:<hex>`, as device passwords), and a grant is looked up on every request, so a
//! revocation takes effect at the next one.
//!
//! What a tier may see is not decided here: `provenance-access` decides, the web and gRPC ask
//! it. This module only keeps the grants.

use crate::store::on_pool;
use crate::{Ledger, LedgerError};

/// The most grants kept (revoked ones included): organisations, not visitors.
pub const MAX_GRANTS: i64 = 100_000;

/// One grant as stored (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Its number, for revoking it.
    pub id: i64,
    /// The organisation, as the registry names organisations (its GLN inside).
    pub org: String,
    /// `public`, `partner` or `authority`.
    pub tier: String,
    /// An item prefix shared with the organisation.
    pub items: Option<String>,
    /// When it was made, Unix ms.
    pub created_ms: i64,
    /// When it was revoked, Unix ms.
    pub revoked_ms: Option<i64>,
}

type Row = (i64, String, String, Option<String>, i64, Option<i64>);

fn grant(r: Row) -> Grant {
    Grant {
        id: r.0,
        org: r.1,
        tier: r.2,
        items: r.3,
        created_ms: r.4,
        revoked_ms: r.5,
    }
}

const COLUMNS: &str = "id, org, tier, items, created_ms, revoked_ms";

/// The table is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the table of read grants is full ({MAX_GRANTS}); revoke and remove old grants first")]
pub struct GrantsFull;

impl Ledger {
    /// Keeps a grant whose token hashes to `token_hash`; returns its number. The caller checks
    /// the organisation, tier and prefix (`provenance-access`).
    pub async fn grant_read(
        &self,
        org: &str,
        tier: &str,
        items: Option<&str>,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<i64, LedgerError> {
        let count: i64 = on_pool!(&self.store, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM readers").fetch_one(p).await?
        });
        if count >= MAX_GRANTS {
            return Err(GrantsFull.into());
        }
        let id: i64 = on_pool!(&self.store, p => {
            sqlx::query_scalar(
                "INSERT INTO readers (org, tier, items, token_hash, created_ms) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(org)
            .bind(tier)
            .bind(items)
            .bind(token_hash)
            .bind(now_ms)
            .fetch_one(p)
            .await?
        });
        Ok(id)
    }

    /// Revokes grant `id`; whether it was active.
    pub async fn revoke_read(&self, id: i64, now_ms: i64) -> Result<bool, LedgerError> {
        let n = on_pool!(&self.store, p => {
            sqlx::query("UPDATE readers SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
                .bind(now_ms)
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Revokes every active grant of `org`; how many.
    pub async fn revoke_org_reads(&self, org: &str, now_ms: i64) -> Result<u64, LedgerError> {
        Ok(on_pool!(&self.store, p => {
            sqlx::query("UPDATE readers SET revoked_ms = $1 WHERE org = $2 AND revoked_ms IS NULL")
                .bind(now_ms)
                .bind(org)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }

    /// Every grant, newest first (at most [`MAX_GRANTS`]).
    pub async fn read_grants(&self) -> Result<Vec<Grant>, LedgerError> {
        let rows: Vec<Row> = on_pool!(&self.store, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM readers ORDER BY id DESC LIMIT {MAX_GRANTS}"
            )))
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(grant).collect())
    }

    /// The active grant whose token hashes to `token_hash`, with every item prefix the
    /// organisation's active grants share.
    pub async fn reader_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(Grant, Vec<String>)>, LedgerError> {
        let row: Option<Row> = on_pool!(&self.store, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM readers WHERE token_hash = $1 AND revoked_ms IS NULL"
            )))
            .bind(token_hash)
            .fetch_optional(p)
            .await?
        });
        let Some(g) = row.map(grant) else {
            return Ok(None);
        };
        let shared: Vec<String> = on_pool!(&self.store, p => {
            sqlx::query_scalar(
                "SELECT DISTINCT items FROM readers WHERE org = $1 AND revoked_ms IS NULL \
                 AND items IS NOT NULL ORDER BY items LIMIT 1000",
            )
            .bind(&g.org)
            .fetch_all(p)
            .await?
        });
        Ok(Some((g, shared)))
    }
}
