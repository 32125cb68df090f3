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
            Store::Postgres(pg_pool(url, 8).await?)
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

    /// A second pool on the same database for reads (traces, entries, proofs, tiles, evidence,
    /// listings), so that however many reads are waiting, the sequencer's appends and the
    /// indexer's writes never queue behind them for a connection (issue #12). `url` is the
    /// URL this store was opened with (for the event index: [`index_url`] of the log's).
    /// SQLite: read-only connections on the same file (WAL lets them read while the writer
    /// commits). PostgreSQL: a second `PgPool` on the same server.
    pub async fn connect_read(&self, url: &str) -> Result<Self, LedgerError> {
        match self {
            Store::Postgres(_) => Ok(Store::Postgres(pg_pool(url, READ_CONNECTIONS_PG).await?)),
            Store::Sqlite(writer) => Ok(Store::Sqlite(sqlite_read_pool(url, writer).await?)),
        }
    }

    /// The entries the indexer recorded as findings (they break SPEC §3 or repeat a signer's
    /// seq), by log index: what `verify --data` reports beside the storage audit. `self` is
    /// the index store ([`Store::connect_index`]).
    pub async fn index_findings(&self) -> Result<Vec<crate::trace::IndexFinding>, LedgerError> {
        let rows: Vec<(i64, String)> = on_pool!(self, p => {
            sqlx::query_as("SELECT idx, problem FROM index_findings ORDER BY idx")
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(index, problem)| crate::trace::IndexFinding {
                index: u64::try_from(index).unwrap_or(0),
                problem,
            })
            .collect())
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

/// Connections of a PostgreSQL read pool: as many as the writers' pool, so a flood of reads
/// waits among itself.
const READ_CONNECTIONS_PG: u32 = 8;
/// Connections of each SQLite read pool (log and index).
const READ_CONNECTIONS_SQLITE: u32 = 4;

async fn pg_pool(url: &str, connections: u32) -> Result<PgPool, LedgerError> {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| LedgerError::Connect {
            url: redact(url),
            source: e,
        })
}

/// Read-only connections to the SQLite database at `url`, which the writers' pool `writer`
/// has already created and migrated. An in-memory database exists only inside its own
/// connections, so there the writers' pool is shared instead.
async fn sqlite_read_pool(url: &str, writer: &SqlitePool) -> Result<SqlitePool, LedgerError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|e| LedgerError::Connect {
        url: redact(url),
        source: e,
    })?;
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" || url.contains("mode=memory")
    {
        return Ok(writer.clone());
    }
    // No journal mode is set: WAL is a property of the file, which the writers set, and a
    // read-only connection could not change it anyway. Half the writers' page cache: the read
    // pools add at most 4 × 16 MiB per file to the memory ceiling.
    let options = options
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
        .pragma("cache_size", "-16384")
        .pragma("temp_store", "memory");
    SqlitePoolOptions::new()
        .max_connections(READ_CONNECTIONS_SQLITE)
        .connect_with(options)
        .await
        .map_err(|e| LedgerError::Connect {
            url: redact(url),
            source: e,
        })
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
    create_private(options.get_filename())?;
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| LedgerError::Connect {
            url: redact(url),
            source: e,
        })
}

/// Creates the SQLite database file with mode 0600 before SQLite opens it, so the log, the
/// rejected messages (raw bytes from anyone) and the MQTT password hashes are the server
/// user's alone. SQLite's unix VFS gives the `-wal` and `-shm` files it creates the mode of the
/// database file (whatever the umask), so this one file decides all three. Done here rather
/// than by setting the process umask in `serve`: this covers every program that opens a
/// ledger (serve, bench, verify, tests), and the umask is process-wide state that Rust's
/// standard library cannot set without `unsafe`. An existing file keeps its mode (an operator
/// may have widened it on purpose, e.g. for a backup group); it is only reported.
fn create_private(path: &std::path::Path) -> Result<(), LedgerError> {
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                if let Ok(meta) = std::fs::metadata(path) {
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        tracing::warn!(
                            file = %path.display(),
                            mode = format_args!("{mode:o}"),
                            "the database can be read by other users; `chmod 600` it and its \
                             -wal and -shm files unless that is intended"
                        );
                    }
                }
            }
            Ok(())
        }
        Err(source) => Err(LedgerError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[tokio::test]
    async fn sqlite_files_are_created_private_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
        let store = Store::connect(&url).await.expect("connect");
        let index = store.connect_index(&url).await.expect("index");
        // Something written, so that the WAL and shared-memory files exist.
        on_pool!(&store, p => {
            sqlx::query("CREATE TABLE t (x INTEGER)").execute(p).await.expect("write");
        });
        let mut seen = Vec::new();
        for name in [
            "ledger.db",
            "ledger.db-wal",
            "ledger.db-shm",
            "ledger-index.db",
            "ledger-index.db-wal",
            "ledger-index.db-shm",
        ] {
            let path = dir.path().join(name);
            if let Ok(meta) = std::fs::metadata(&path) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
                seen.push(name);
            }
        }
        assert!(seen.contains(&"ledger.db-wal"), "{seen:?}");
        store.close().await;
        index.close().await;
    }
}
