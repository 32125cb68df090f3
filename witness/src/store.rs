//! The witness's state on SQLite: one row per log origin (the latest cosigned checkpoint) and
//! the fork evidence. WAL with `synchronous = FULL`, so a commit is on disk when it returns; a
//! state only moves by compare-and-swap on the row it was decided from ([`Store::advance`]),
//! so of two requests decided from the same state only one is stored.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_tlog::merkle::Hash;
use sqlx::Row as _;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::core::{ForkEvidence, ForkKind, LogState};

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The fork evidence listed at most by one [`Store::forks`] call.
pub const MAX_FORKS_LISTED: i64 = 50;
/// Records of failed consistency proofs kept per log. They prove nothing on their own (anyone
/// holding a newer checkpoint of the log can post it with a wrong proof), so past this many
/// a new one is only logged: a stranger cannot fill the disk with them.
pub const MAX_UNPROVEN_PER_LOG: i64 = 256;

/// Storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("witness database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("witness database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that this code never writes.
    #[error("witness database holds a bad row: {0}")]
    Corrupt(&'static str),
}

/// A stored fork: its evidence and when it was detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    /// Its number, for `GET /forks/{id}`.
    pub id: i64,
    /// The evidence.
    pub evidence: ForkEvidence,
    /// When the witness first saw it (seconds since the Epoch).
    pub detected: u64,
}

/// The witness's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating it, mode 0600, if needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::Database(sqlx::Error::Io(e))),
            }
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The state of one log, if the witness ever cosigned it.
    pub async fn state(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        sqlx::query(
            "SELECT origin, size, root, note, cosigned_at FROM witness_logs WHERE origin = ?",
        )
        .bind(origin)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| state_of(&r))
        .transpose()
    }

    /// Every log's state, by origin.
    pub async fn states(&self) -> Result<Vec<LogState>, StoreError> {
        sqlx::query(
            "SELECT origin, size, root, note, cosigned_at FROM witness_logs ORDER BY origin",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(state_of)
        .collect()
    }

    /// Stores `new` in place of `old` (`None`: the log has no state yet), in one transaction,
    /// only if the row still is `old` (same size and cosignature time). Returns whether it was
    /// stored; `false` means another request moved the state first, and this one must be
    /// decided again. When it returns `true` the state is committed to disk.
    pub async fn advance(
        &self,
        old: Option<&LogState>,
        new: &LogState,
    ) -> Result<bool, StoreError> {
        let size = i64_of(new.size)?;
        let at = i64_of(new.cosigned_at)?;
        let mut tx = self.pool.begin().await?;
        let done = match old {
            None => {
                sqlx::query(
                    "INSERT INTO witness_logs (origin, size, root, note, cosigned_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING",
                )
                .bind(&new.origin)
                .bind(size)
                .bind(&new.root[..])
                .bind(&new.note)
                .bind(at)
                .execute(&mut *tx)
                .await?
            }
            Some(old) => {
                sqlx::query(
                    "UPDATE witness_logs SET size = ?, root = ?, note = ?, cosigned_at = ? \
                 WHERE origin = ? AND size = ? AND root = ? AND cosigned_at = ?",
                )
                .bind(size)
                .bind(&new.root[..])
                .bind(&new.note)
                .bind(at)
                .bind(&old.origin)
                .bind(i64_of(old.size)?)
                .bind(&old.root[..])
                .bind(i64_of(old.cosigned_at)?)
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() == 1 {
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }

    /// Keeps fork evidence and returns its number: a conclusive one (two roots for one size,
    /// which only the log's key can sign) once per pair of checkpoints; an unproven one (a
    /// failed consistency proof) once per conflicting checkpoint and at most
    /// [`MAX_UNPROVEN_PER_LOG`] per log (`None` past that).
    pub async fn record_fork(
        &self,
        fork: &ForkEvidence,
        detected: u64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !fork.kind.conclusive() {
            let seen: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM forks WHERE origin = ? AND kind = ? AND conflicting = ?",
            )
            .bind(&fork.origin)
            .bind(fork.kind.as_str())
            .bind(&fork.conflicting)
            .fetch_optional(&mut *tx)
            .await?;
            if seen.is_some() {
                return Ok(seen);
            }
            let kept: i64 =
                sqlx::query_scalar("SELECT count(*) FROM forks WHERE origin = ? AND kind = ?")
                    .bind(&fork.origin)
                    .bind(fork.kind.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            if kept >= MAX_UNPROVEN_PER_LOG {
                return Ok(None);
            }
        }
        let proof: Vec<String> = fork.proof.iter().map(|h| B64.encode(h)).collect();
        sqlx::query(
            "INSERT INTO forks (origin, kind, cosigned, conflicting, old_size, proof, detected) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (origin, cosigned, conflicting) DO NOTHING",
        )
        .bind(&fork.origin)
        .bind(fork.kind.as_str())
        .bind(&fork.cosigned)
        .bind(&fork.conflicting)
        .bind(i64_of(fork.old_size)?)
        .bind(proof.join("\n"))
        .bind(i64_of(detected)?)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "SELECT id FROM forks WHERE origin = ? AND cosigned = ? AND conflicting = ?",
        )
        .bind(&fork.origin)
        .bind(&fork.cosigned)
        .bind(&fork.conflicting)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// The fork records kept, newest first, [`MAX_FORKS_LISTED`] at a time: those numbered
    /// below `before` when given. Without the checkpoints (see [`Store::fork`]), so a page
    /// costs a few hundred bytes per record whatever the records hold.
    pub async fn forks(&self, before: Option<i64>) -> Result<Vec<ForkSummary>, StoreError> {
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, origin, kind, detected FROM forks WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(MAX_FORKS_LISTED)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, origin, kind, detected)| {
                Ok(ForkSummary {
                    id,
                    origin,
                    kind: ForkKind::parse(&kind)
                        .ok_or(StoreError::Corrupt("an unknown fork kind"))?,
                    detected: u64_of(detected)?,
                })
            })
            .collect()
    }

    /// How many forks are on record.
    pub async fn fork_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM forks")
            .fetch_one(&self.pool)
            .await?;
        u64_of(n)
    }

    /// One fork's evidence.
    pub async fn fork(&self, id: i64) -> Result<Option<Fork>, StoreError> {
        sqlx::query(
            "SELECT id, origin, kind, cosigned, conflicting, old_size, proof, detected \
             FROM forks WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| fork_of(&r))
        .transpose()
    }

    /// Closes the database (waiting for connections in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One fork record, without its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkSummary {
    /// Its number: the evidence is at `/forks/{id}`.
    pub id: i64,
    /// The log.
    pub origin: String,
    /// What kind of evidence.
    pub kind: ForkKind,
    /// When it was recorded, seconds since the Epoch.
    pub detected: u64,
}

fn i64_of(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt("a number above 2^63 - 1"))
}

fn u64_of(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt("a negative size or time"))
}

fn state_of(r: &SqliteRow) -> Result<LogState, StoreError> {
    let root: Vec<u8> = r.try_get("root")?;
    Ok(LogState {
        origin: r.try_get("origin")?,
        size: u64_of(r.try_get("size")?)?,
        root: Hash::try_from(root)
            .map_err(|_| StoreError::Corrupt("a root of other than 32 bytes"))?,
        note: r.try_get("note")?,
        cosigned_at: u64_of(r.try_get("cosigned_at")?)?,
    })
}

fn fork_of(r: &SqliteRow) -> Result<Fork, StoreError> {
    let kind: String = r.try_get("kind")?;
    let proof: String = r.try_get("proof")?;
    let proof = proof
        .lines()
        .map(|l| {
            B64.decode(l)
                .ok()
                .and_then(|h| Hash::try_from(h).ok())
                .ok_or(StoreError::Corrupt("a proof line"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let old_size: Option<i64> = r.try_get("old_size")?;
    Ok(Fork {
        id: r.try_get("id")?,
        evidence: ForkEvidence {
            origin: r.try_get("origin")?,
            kind: ForkKind::parse(&kind).ok_or(StoreError::Corrupt("an unknown fork kind"))?,
            cosigned: r.try_get("cosigned")?,
            conflicting: r.try_get("conflicting")?,
            old_size: u64_of(old_size.unwrap_or(0))?,
            proof,
        },
        detected: u64_of(r.try_get("detected")?)?,
    })
}
