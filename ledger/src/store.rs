//! The two storage backends behind one set of queries. SQL is written once with `$N`
//! placeholders, which both SQLite and PostgreSQL accept; [`on_pool!`] expands each operation
//! for both pool types, so there is no dynamic dispatch and no `Any` driver.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::LedgerError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static SQLITE_INDEX_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite-index");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// A connection pool to one of the backends.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite in WAL mode with `synchronous = FULL`: a commit is on disk when it returns.
    Sqlite(SqlitePool),
    /// PostgreSQL (commits are durable with the server's default `synchronous_commit = on`).
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$store` holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| LedgerError::Connect {
                    url: redact(url),
                    source: e,
                })?;
            Store::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            Store::Sqlite(sqlite_pool(url, SqliteSynchronous::Full).await?)
        } else {
            return Err(LedgerError::UnknownDatabase(redact(url)));
        };
        match &store {
            Store::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Store::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(store)
    }

    /// The store of the event index for the log at `url`. SQLite: a second database file beside
    /// the log's (`ledger-index.db` for `ledger.db`), so indexing never holds the log's write
    /// lock, without fsync on every commit since it is rebuilt from the log after a crash.
    /// PostgreSQL: the log's own pool, whose server handles concurrent writers.
    pub async fn connect_index(&self, url: &str) -> Result<Self, LedgerError> {
        match self {
            Store::Postgres(_) => Ok(self.clone()),
            Store::Sqlite(_) => {
                let index_url = index_url(url);
                let pool = sqlite_pool(&index_url, SqliteSynchronous::Normal).await?;
                SQLITE_INDEX_MIGRATIONS.run(&pool).await?;
                Ok(Store::Sqlite(pool))
            }
        }
    }

    /// "SQLite" or "PostgreSQL", for logs and reports.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "SQLite",
            Store::Postgres(_) => "PostgreSQL",
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// The stored bytes of the given tiles, as (level, index, bytes) rows; absent tiles have no
/// row. The one query both the ledger and the audit read tiles with.
pub(crate) async fn tile_rows(
    store: &Store,
    ids: &[provenance_tlog::tile::TileId],
) -> Result<Vec<(i64, i64, Vec<u8>)>, LedgerError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    Ok(on_pool!(store, p => {
        let mut q = sqlx::QueryBuilder::new("SELECT level, idx, hashes FROM tiles WHERE ");
        for (i, id) in unique.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(level = ").push_bind(i64::from(id.level)).push(" AND idx = ").push_bind(id.index as i64).push(")");
        }
        q.build_query_as().fetch_all(p).await?
    }))
}

/// The index database beside a SQLite log: `…/ledger.db` → `…/ledger-index.db`.
pub fn index_url(url: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base
        .strip_suffix(".db")
        .map_or_else(|| format!("{base}-index"), |b| format!("{b}-index.db"));
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

async fn sqlite_pool(url: &str, sync: SqliteSynchronous) -> Result<SqlitePool, LedgerError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| LedgerError::Connect {
            url: redact(url),
            source: e,
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync)
        .busy_timeout(Duration::from_secs(10))
        // 32 MiB of page cache per connection (two pools of four): enough for the hot tiles
        // and index pages, and a ceiling on memory however large the database grows (each
        // connection fills its own cache; at 128 MiB a long flood grew the server past 1 GiB).
        .pragma("cache_size", "-32768")
        .pragma("temp_store", "memory");
    if let Some(dir) = options.get_filename().parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| LedgerError::Connect {
            url: redact(url),
            source: e,
        })
}

/// The URL without a password, for messages.
pub fn redact(url: &str) -> String {
    // The last '@' ends the credentials: a password may contain '@' itself.
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
