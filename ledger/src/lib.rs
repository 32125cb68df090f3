//! The ledger (SPEC §6): an append-only transparency log stored through sqlx, on SQLite (the
//! embedded default) or PostgreSQL.
//!
//! It owns storage and sequencing: entries are kept byte for byte, the Merkle tree as C2SP
//! tiles, and every checkpoint it ever signed. One batch is one transaction holding its
//! entries, the tiles they change and the checkpoint that covers them, so a checkpoint exists
//! exactly when its entries are durable. The maths (hashes, proofs, notes) is
//! `provenance-tlog`'s; this crate only fetches what it needs.
//!
//! It must never rewrite or delete an entry, sign with a key other than the log's, or publish
//! a checkpoint before its batch is committed.

pub mod audit;
pub mod derive;
pub mod evidence;
mod index;
mod key;
pub mod lease;
pub mod places;
pub mod readers;
pub mod registry;
pub mod rejections;
pub mod store;
pub mod trace;
pub mod witnessed;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use provenance_tlog::merkle::{self, Plan};
use provenance_tlog::tile::{self, Edge, TileId};
use provenance_tlog::{Checkpoint, Hash, ProofError, Signer, Verifier, leaf_hash};
use sqlx::QueryBuilder;
use tokio::sync::Mutex;

pub use key::{read_private, write_private};
pub use store::Store;
use store::on_pool;

/// How long [`Ledger::close`] lets the indexer finish.
pub const INDEXER_DRAIN: std::time::Duration = std::time::Duration::from_secs(4);

/// What can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A registry entry was appended after the events' signatures were checked against the
    /// registry (generation `expected`): check them again with the registry as it is now.
    #[error("the registry changed since these events were checked (generation {expected})")]
    RegistryChanged {
        /// The registry generation the events were checked against.
        expected: u64,
    },
    /// Another process is the sequencer (issue #19): this one appends nothing until the
    /// lease is free.
    #[error(
        "another process ({holder}) is the log's sequencer until {until_ms} (Unix ms); this \
         one appends nothing while it holds the lease"
    )]
    NotSequencer {
        /// The lease's holder.
        holder: String,
        /// When its lease expires unless renewed, Unix ms.
        until_ms: i64,
    },
    /// No room for another read grant.
    #[error(transparent)]
    GrantsFull(#[from] readers::GrantsFull),
    /// A place name that cannot be set.
    #[error(transparent)]
    Place(#[from] places::PlaceError),
    /// The database URL is neither SQLite nor PostgreSQL.
    #[error("database URL {0:?} is not sqlite://PATH or postgres://…")]
    UnknownDatabase(String),
    /// Could not connect.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, without password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A secret file (the log key, the admin token) can be read or written by users other
    /// than its owner.
    #[error(
        "{} is open to other users (mode {mode:o}) but holds a secret; run `chmod 600 {}` \
         (and consider who may have copied it)",
        path.display(),
        path.display()
    )]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The log key file is unusable.
    #[error("log key {}: {problem}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The database belongs to a log with another key or origin.
    #[error(
        "this database holds the log {stored}, but the key file is for {ours}; point --data at \
         the directory this database was created with"
    )]
    WrongLog {
        /// The log recorded in the database.
        stored: String,
        /// The log of the key file.
        ours: String,
    },
    /// Stored data contradicts itself (a missing tile, a checkpoint that does not parse).
    #[error("stored log is inconsistent: {0}; run `provenance verify --data DIR`")]
    Corrupt(String),
    /// A proof was asked for sizes or indexes the log does not have.
    #[error("{0}")]
    Proof(String),
    /// No such checkpoint.
    #[error("no checkpoint of size {0} was ever signed by this log")]
    NoCheckpoint(u64),
    /// An entry of a batch cannot be indexed; nothing of the batch was written.
    #[error("entry {position} of the batch: {error}")]
    Entry {
        /// Position in the batch.
        position: usize,
        /// What is wrong.
        error: derive::DeriveError,
    },
    /// A registry change that does not fit the registry's state.
    #[error("{0}")]
    Registry(String),
}

/// Where the ledger keeps things.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// The log's signing key file (created with mode 0600 if missing).
    pub key_file: PathBuf,
    /// The origin line of new checkpoints, and the name of a newly created key.
    pub origin: String,
}

/// A checkpoint and the note that signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The signed note, as served at `/api/v1/checkpoint`.
    pub note: String,
}

/// The result of appending a batch.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Index of the batch's first entry.
    pub first_index: u64,
    /// The checkpoint covering the batch, durable when this is returned.
    pub checkpoint: SignedCheckpoint,
}

/// The sequencer's state: only the task holding the lock appends, and only while this
/// process holds the lease ([`lease`]).
#[derive(Debug)]
struct Head {
    edge: Edge,
    latest: SignedCheckpoint,
    /// The lease's fencing token while this process holds it.
    token: Option<i64>,
    /// When the lease runs out unless renewed, as far as this process knows, Unix ms.
    lease_until_ms: i64,
}

/// An open log.
pub struct Ledger {
    /// The sequencer's pool: appends, registry changes, rejections.
    store: Store,
    /// The indexer's pool.
    index: Store,
    /// Reads of the log (entries, tiles, checkpoints, proofs, listings): a pool of their own
    /// so that a flood of reads never holds the connections an append needs.
    store_read: Store,
    /// Reads of the event index (traces, evidence), for the same reason.
    index_read: Store,
    signer: Signer,
    origin: String,
    head: Mutex<Head>,
    /// This process's lease holder ID ([`lease::holder_id`]).
    holder: String,
    jobs: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<index::Job>>>,
    indexed: tokio::sync::watch::Receiver<u64>,
    pending: index::Pending,
    indexer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Bumped, under the sequencer's lock, by every append that holds a registry entry; see
    /// [`Ledger::append_events`].
    registry_generation: std::sync::atomic::AtomicU64,
    /// What witnesses said, and what is published from it ([`witnessed`]).
    witnessing: witnessed::Witnessing,
}

/// The wall clock as Unix milliseconds (0 before 1970), as every table of the log stores it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn to_i64(n: u64) -> Result<i64, LedgerError> {
    i64::try_from(n).map_err(|_| LedgerError::Proof(format!("{n} is out of range")))
}

fn hashes_of(bytes: &[u8]) -> Result<Vec<Hash>, LedgerError> {
    if bytes.len() % 32 != 0 || bytes.len() > 32 * tile::TILE_WIDTH {
        return Err(LedgerError::Corrupt(format!(
            "a tile of {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

impl Ledger {
    /// Opens (or creates) the log: connects, migrates, loads or creates the key, checks that
    /// the database belongs to this key, and restores the sequencer from the newest checkpoint.
    pub async fn open(config: &Config) -> Result<Self, LedgerError> {
        let store = Store::connect(&config.database_url).await?;
        let index = store.connect_index(&config.database_url).await?;
        let store_read = store.connect_read(&config.database_url).await?;
        // PostgreSQL keeps the index in the log's database, so one read pool serves both.
        let index_read = match &store {
            Store::Postgres(_) => store_read.clone(),
            Store::Sqlite(_) => {
                index
                    .connect_read(&store::index_url(&config.database_url))
                    .await?
            }
        };
        let (signer, created) = key::load_or_create(&config.key_file, &config.origin)?;
        if created {
            tracing::info!(key = %config.key_file.display(), vkey = %signer.verifier(), "created the log key");
        }
        let vkey = signer.verifier().to_string();
        let stored: Option<String> = on_pool!(&store, p => {
            sqlx::query_scalar("SELECT value FROM log_meta WHERE key = 'vkey'")
                .fetch_optional(p)
                .await?
        });
        let origin = match stored {
            Some(v) if v != vkey => {
                return Err(LedgerError::WrongLog {
                    stored: v,
                    ours: vkey,
                });
            }
            Some(_) => on_pool!(&store, p => {
                sqlx::query_scalar::<_, String>("SELECT value FROM log_meta WHERE key = 'origin'")
                    .fetch_one(p)
                    .await?
            }),
            None => config.origin.clone(),
        };
        let ledger = Self {
            index: index.clone(),
            store: store.clone(),
            store_read,
            index_read,
            origin,
            head: Mutex::new(Head {
                edge: Edge::empty(),
                latest: SignedCheckpoint {
                    checkpoint: Checkpoint {
                        origin: String::new(),
                        size: 0,
                        root: merkle::EMPTY_ROOT,
                        extensions: vec![],
                    },
                    note: String::new(),
                },
                token: None,
                lease_until_ms: 0,
            }),
            holder: lease::holder_id(&config.key_file)?,
            signer,
            jobs: std::sync::Mutex::new(None),
            indexed: tokio::sync::watch::channel(0).1,
            pending: Default::default(),
            indexer: std::sync::Mutex::new(None),
            registry_generation: std::sync::atomic::AtomicU64::new(0),
            witnessing: Default::default(),
        };
        let mut ledger = ledger;
        ledger.restore(&vkey).await?;
        let indexed = ledger.recover_index().await?;
        let ix = index::start(index, indexed);
        ledger.indexed = ix.indexed;
        ledger.pending = ix.pending;
        ledger.jobs = std::sync::Mutex::new(Some(ix.jobs));
        ledger.indexer = std::sync::Mutex::new(Some(ix.task));
        Ok(ledger)
    }

    /// Brings the event index up to the log after a crash, from the stored entries; returns
    /// the indexed size.
    async fn recover_index(&self) -> Result<u64, LedgerError> {
        let size = self.head.lock().await.edge.size();
        let meta: Vec<(String, String)> = on_pool!(&self.index, p => {
            sqlx::query_as("SELECT key, value FROM index_meta").fetch_all(p).await?
        });
        let get = |k: &str| {
            meta.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let vkey = self.signer.verifier().to_string();
        let mut indexed: u64 = get("indexed_size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // An index of another log, or ahead of this one (a log restored from backup), is
        // thrown away and rebuilt: the log is the truth.
        if get("vkey").as_deref() != Some(vkey.as_str()) || indexed > size {
            if !meta.is_empty() {
                tracing::warn!("the event index does not match this log; rebuilding it");
            }
            on_pool!(&self.index, p => {
                let mut tx = p.begin().await?;
                for q in ["DELETE FROM events", "DELETE FROM item_events", "DELETE FROM aggregations", "DELETE FROM index_findings", "DELETE FROM index_meta"] {
                    sqlx::query(q).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO index_meta (key, value) VALUES ('vkey', $1), ('indexed_size', '0')")
                    .bind(&vkey)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            });
            indexed = 0;
        }
        if indexed < size {
            tracing::info!(
                from = indexed,
                to = size,
                "rebuilding the event index from the log"
            );
        }
        while indexed < size {
            let end = (indexed + 5000).min(size);
            let rows = self.entries(indexed, end).await?;
            let entries = rows.into_iter().map(|(_, d)| d).collect();
            let job = index::Job {
                first: indexed,
                entries,
            };
            index::write_events(&self.index, &[job], end).await?;
            indexed = end;
        }
        Ok(indexed)
    }

    /// Waits until the event index (items, chains, aggregations) covers the first `size`
    /// entries. Traces read the index, which follows the log within milliseconds.
    pub async fn wait_indexed(&self, size: u64) -> Result<(), LedgerError> {
        let mut rx = self.indexed.clone();
        rx.wait_for(|s| *s >= size)
            .await
            .map(|_| ())
            .map_err(|_| LedgerError::Corrupt("the indexer stopped".into()))
    }

    /// How many entries the event index covers.
    pub fn indexed_size(&self) -> u64 {
        *self.indexed.borrow()
    }

    async fn restore(&self, vkey: &str) -> Result<(), LedgerError> {
        let latest: Option<(i64, String)> = on_pool!(&self.store, p => {
            sqlx::query_as("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(p)
                .await?
        });
        let mut head = self.head.lock().await;
        match latest {
            None => {
                // A new log: record whose it is and sign the empty tree, in one transaction.
                let cp = Checkpoint {
                    origin: self.origin.clone(),
                    size: 0,
                    root: merkle::EMPTY_ROOT,
                    extensions: vec![],
                };
                let note = self.sign(&cp)?;
                on_pool!(&self.store, p => {
                    let mut tx = p.begin().await?;
                    for (k, v) in [("origin", self.origin.as_str()), ("vkey", vkey)] {
                        sqlx::query("INSERT INTO log_meta (key, value) VALUES ($1, $2)")
                            .bind(k)
                            .bind(v)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query("INSERT INTO checkpoints (size, note, created_ms) VALUES (0, $1, $2)")
                        .bind(&note)
                        .bind(now_ms())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                });
                head.latest = SignedCheckpoint {
                    checkpoint: cp,
                    note,
                };
            }
            Some((size, note)) => {
                let (edge, latest) = self.head_at(size, note).await?;
                head.edge = edge;
                head.latest = latest;
            }
        }
        Ok(())
    }

    /// The tree's head at the stored checkpoint of `size` (signed note `note`): its edge from
    /// the stored tiles, checked against the checkpoint's root.
    async fn head_at(
        &self,
        size: i64,
        note: String,
    ) -> Result<(Edge, SignedCheckpoint), LedgerError> {
        let size = u64::try_from(size).map_err(|_| LedgerError::Corrupt("negative size".into()))?;
        let (checkpoint, _) =
            Checkpoint::open(note.as_bytes(), self.signer.verifier(), Some(&self.origin)).map_err(
                |e| LedgerError::Corrupt(format!("newest checkpoint (size {size}): {e}")),
            )?;
        let ids = tile::edge_tiles(size);
        let tiles = self
            .read_tiles(&ids.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .await?;
        let edge_tiles = ids
            .iter()
            .map(|(id, _)| tiles.get(id).cloned().unwrap_or_default())
            .collect();
        let edge =
            Edge::from_tiles(size, edge_tiles).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        if edge.root() != checkpoint.root {
            return Err(LedgerError::Corrupt(format!(
                "the stored tiles do not give the root of checkpoint {size}"
            )));
        }
        Ok((edge, SignedCheckpoint { checkpoint, note }))
    }

    /// Makes sure this process holds the sequencer's lease before it appends: renews it when
    /// it runs out within a second, takes it when it expired; after a takeover (a new token)
    /// the head is read again from the database, since another process may have appended.
    /// Returns the token the append's transaction fences with.
    async fn claim(&self, head: &mut Head) -> Result<i64, LedgerError> {
        let now = now_ms();
        if let Some(t) = head.token {
            if now + 1_000 < head.lease_until_ms {
                return Ok(t);
            }
        }
        let got: Option<i64> = on_pool!(&self.store, p => {
            sqlx::query_scalar(lease::CLAIM)
                .bind(&self.holder)
                .bind(head.token.unwrap_or(-1))
                .bind(now + lease::LEASE_MS)
                .bind(now)
                .fetch_optional(p)
                .await?
        });
        let Some(token) = got else {
            head.token = None;
            return Err(self.not_sequencer().await);
        };
        if head.token != Some(token) {
            let latest: Option<(i64, String)> = on_pool!(&self.store, p => {
                sqlx::query_as("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
                    .fetch_optional(p)
                    .await?
            });
            if let Some((size, note)) = latest {
                let (edge, checkpoint) = self.head_at(size, note).await?;
                if edge.size() != head.edge.size() {
                    tracing::info!(
                        from = head.edge.size(),
                        to = edge.size(),
                        "took the sequencer's lease over; the log grew meanwhile"
                    );
                }
                head.edge = edge;
                head.latest = checkpoint;
            }
            head.token = Some(token);
        }
        head.lease_until_ms = now + lease::LEASE_MS;
        Ok(token)
    }

    /// Who holds the lease, as an error for an append that must not happen.
    async fn not_sequencer(&self) -> LedgerError {
        let who: Result<(String, i64), sqlx::Error> = on_pool!(&self.store, p => {
            sqlx::query_as(lease::WHO).fetch_one(p).await
        });
        match who {
            Ok((holder, until_ms)) => LedgerError::NotSequencer { holder, until_ms },
            Err(e) => e.into(),
        }
    }

    fn sign(&self, cp: &Checkpoint) -> Result<String, LedgerError> {
        cp.sign(&self.signer)
            .map_err(|e| LedgerError::Corrupt(format!("cannot sign checkpoint: {e}")))
    }

    /// The storage backend (the writers' pool).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The log's read pool, for long reads such as the storage audit: they never hold a
    /// connection an append needs.
    pub fn read_store(&self) -> &Store {
        &self.store_read
    }

    /// This process's own short name among the processes sharing the database: the end of
    /// its lease holder ID (kept beside the log key, so the same after a restart).
    pub fn process_id(&self) -> &str {
        let h = self.holder.as_str();
        h.get(h.len().saturating_sub(8)..).unwrap_or(h)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verifier key, `name+id+key`: all anyone needs to check it.
    pub fn verifier(&self) -> &Verifier {
        self.signer.verifier()
    }

    /// The newest checkpoint.
    pub async fn latest_checkpoint(&self) -> SignedCheckpoint {
        self.head.lock().await.latest.clone()
    }

    /// The registry's generation in this process: read it before reading the registry, and
    /// hand it to [`Ledger::append_events`] with events checked against what was read.
    pub fn registry_generation(&self) -> u64 {
        self.registry_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Appends a batch of entries in one transaction and returns the checkpoint covering them,
    /// which is durable when this returns. An empty batch returns the newest checkpoint.
    pub async fn append<E: AsRef<[u8]> + Sync>(
        &self,
        entries: &[E],
    ) -> Result<Appended, LedgerError> {
        self.append_checked(entries, None).await
    }

    /// Appends events whose signatures were checked against the registry at generation
    /// `registry_generation`, unless a registration, key rotation or revocation was appended
    /// since: then nothing is appended and [`LedgerError::RegistryChanged`] says to check
    /// them again. The test and the append happen under the sequencer's lock, so no event
    /// signed with a key that was just rotated away (or by a holder just revoked) lands after
    /// the registry entry that ended it.
    pub async fn append_events<E: AsRef<[u8]> + Sync>(
        &self,
        entries: &[E],
        registry_generation: u64,
    ) -> Result<Appended, LedgerError> {
        self.append_checked(entries, Some(registry_generation))
            .await
    }

    async fn append_checked<E: AsRef<[u8]> + Sync>(
        &self,
        entries: &[E],
        registry_generation: Option<u64>,
    ) -> Result<Appended, LedgerError> {
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_ref())).collect();
        let summaries = entries
            .iter()
            .enumerate()
            .map(|(position, e)| {
                derive::summarize(e.as_ref())
                    .map_err(|error| LedgerError::Entry { position, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let changes_registry = summaries
            .iter()
            .any(|s| matches!(s, derive::Summary::Registry(_)));
        let mut head = self.head.lock().await;
        if let Some(expected) = registry_generation {
            if self.registry_generation() != expected {
                return Err(LedgerError::RegistryChanged { expected });
            }
        }
        if entries.is_empty() {
            return Ok(Appended {
                first_index: head.edge.size(),
                checkpoint: head.latest.clone(),
            });
        }
        let token = self.claim(&mut head).await?;
        let first_index = head.edge.size();
        let mut edge = head.edge.clone();
        let writes = edge.append(&leaves);
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: edge.size(),
            root: edge.root(),
            extensions: vec![],
        };
        let note = self.sign(&checkpoint)?;
        let first = to_i64(first_index)?;
        let size = to_i64(checkpoint.size)?;
        let renewed_until = now_ms() + lease::LEASE_MS;
        on_pool!(&self.store, p => {
            let mut tx = p.begin().await?;
            // The fence: nothing is appended unless the lease still names this process and
            // its token (a paused process that lost it appends nothing, however late).
            let fenced = sqlx::query(lease::FENCE)
                .bind(&self.holder)
                .bind(token)
                .bind(renewed_until)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if fenced != 1 {
                drop(tx);
                head.token = None;
                return Err(self.not_sequencer().await);
            }
            // Multi-row INSERTs: one statement per chunk, not one per entry.
            let mut at = 0usize;
            for chunk in entries.chunks(2000) {
                let mut q = QueryBuilder::new("INSERT INTO entries (idx, data) ");
                q.push_values(chunk.iter().enumerate(), |mut b, (i, e)| {
                    b.push_bind(first + (at + i) as i64).push_bind(e.as_ref());
                });
                q.build().execute(&mut *tx).await?;
                at += chunk.len();
            }
            let mut q = QueryBuilder::new("INSERT INTO tiles (level, idx, hashes) ");
            q.push_values(writes.iter(), |mut b, w| {
                b.push_bind(i64::from(w.id.level))
                    .push_bind(w.id.index as i64)
                    .push_bind(w.hashes.concat());
            });
            q.push(" ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes");
            q.build().execute(&mut *tx).await?;
            let registry: Vec<(i64, &derive::RegistryRow)> = summaries
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s {
                    derive::Summary::Registry(r) => Some((first + i as i64, r)),
                    derive::Summary::Event { .. } => None,
                })
                .collect();
            if !registry.is_empty() {
                index::insert_registry!(tx, &registry);
            }
            sqlx::query("INSERT INTO checkpoints (size, note, created_ms) VALUES ($1, $2, $3)")
                .bind(size)
                .bind(&note)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        head.edge = edge;
        head.latest = SignedCheckpoint { checkpoint, note };
        head.lease_until_ms = renewed_until;
        if changes_registry {
            // Still under the lock: an event batch checked against the old registry cannot
            // slip in after this entry.
            self.registry_generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if let Ok(mut p) = self.pending.lock() {
            for (i, s) in summaries.into_iter().enumerate() {
                if let derive::Summary::Event { device, seq, hash } = s {
                    p.insert((device, seq), (first_index + i as u64, hash));
                }
            }
        }
        let jobs = self.jobs.lock().ok().and_then(|j| j.clone());
        if let Some(jobs) = jobs {
            // Waits when the index is far behind: backpressure, never unbounded memory.
            let job = index::Job {
                first: first_index,
                entries: entries.iter().map(|e| e.as_ref().to_vec()).collect(),
            };
            if jobs.send(job).await.is_err() {
                tracing::error!("the indexer stopped; the index will be rebuilt at the next start");
            }
        }
        Ok(Appended {
            first_index,
            checkpoint: head.latest.clone(),
        })
    }

    /// Every checkpoint size the log ever signed, ascending.
    pub async fn checkpoint_sizes(&self) -> Result<Vec<u64>, LedgerError> {
        let sizes: Vec<i64> = on_pool!(&self.store_read, p => {
            sqlx::query_scalar("SELECT size FROM checkpoints ORDER BY size")
                .fetch_all(p)
                .await?
        });
        Ok(sizes
            .into_iter()
            .filter_map(|s| u64::try_from(s).ok())
            .collect())
    }

    /// The signed checkpoint of `size`, if the log ever signed one.
    pub async fn checkpoint(&self, size: u64) -> Result<SignedCheckpoint, LedgerError> {
        let note: Option<String> = on_pool!(&self.store_read, p => {
            sqlx::query_scalar("SELECT note FROM checkpoints WHERE size = $1")
                .bind(to_i64(size)?)
                .fetch_optional(p)
                .await?
        });
        let note = note.ok_or(LedgerError::NoCheckpoint(size))?;
        let (checkpoint, _) =
            Checkpoint::open(note.as_bytes(), self.signer.verifier(), Some(&self.origin))
                .map_err(|e| LedgerError::Corrupt(format!("checkpoint {size}: {e}")))?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Entries `start..end` with their indexes (at most `end - start`, fewer past the end).
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(&self.store_read, p => {
            sqlx::query_as("SELECT idx, data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(to_i64(start)?)
                .bind(to_i64(end)?)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(i, d)| (i as u64, d)).collect())
    }

    /// One entry.
    pub async fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.entries(index, index + 1).await?.pop().map(|(_, d)| d))
    }

    /// The stored hashes of the given tiles (whatever width they have now).
    pub async fn read_tiles(
        &self,
        ids: &[TileId],
    ) -> Result<HashMap<TileId, Vec<Hash>>, LedgerError> {
        let mut out = HashMap::new();
        let rows = store::tile_rows(&self.store_read, ids).await?;
        for (level, idx, bytes) in rows {
            let id = TileId {
                level: u8::try_from(level)
                    .map_err(|_| LedgerError::Corrupt("tile level".into()))?,
                index: idx as u64,
            };
            out.insert(id, hashes_of(&bytes)?);
        }
        Ok(out)
    }

    /// One tile's raw bytes (for serving C2SP tiles).
    pub async fn tile(&self, id: TileId) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self
            .read_tiles(&[id])
            .await?
            .remove(&id)
            .map(|h| h.concat()))
    }

    async fn run_plan(&self, plan: &Plan) -> Result<Vec<Hash>, LedgerError> {
        let ids: Vec<TileId> = plan.nodes().iter().map(|n| tile::locate(*n).0).collect();
        let tiles = self.read_tiles(&ids).await?;
        let mut hashes = Vec::with_capacity(plan.nodes().len());
        for (node, id) in plan.nodes().iter().zip(&ids) {
            let h = tiles
                .get(id)
                .and_then(|t| tile::node_from_tile(*node, t))
                .ok_or_else(|| {
                    LedgerError::Corrupt(format!(
                        "tile {}/{} lacks node {node:?}",
                        id.level, id.index
                    ))
                })?;
            hashes.push(h);
        }
        plan.finish::<std::convert::Infallible>(&hashes)
            .map_err(|e| LedgerError::Corrupt(e.to_string()))
    }

    async fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        let have = self.head.lock().await.edge.size();
        if size > have {
            return Err(LedgerError::Proof(format!(
                "the log has {have} entries, not {size}"
            )));
        }
        Ok(())
    }

    /// The root hash of the first `size` entries.
    pub async fn root(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size).await?;
        if size == 0 {
            return Ok(merkle::EMPTY_ROOT);
        }
        Ok(self.run_plan(&merkle::root_plan(size)).await?[0])
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size).await?;
        let plan = merkle::inclusion_plan(index, size)
            .map_err(|e: ProofError| LedgerError::Proof(e.to_string()))?;
        self.run_plan(&plan).await
    }

    /// The consistency proof from `from` to `to` entries.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(to).await?;
        let plan = merkle::consistency_plan(from, to)
            .map_err(|e: ProofError| LedgerError::Proof(e.to_string()))?;
        self.run_plan(&plan).await
    }

    /// Finishes indexing what was appended (for at most [`INDEXER_DRAIN`]: an unreachable
    /// database must not hold a shutdown; start-up indexes the rest from the log), then closes
    /// the database.
    pub async fn close(&self) {
        drop(self.jobs.lock().ok().and_then(|mut j| j.take()));
        let task = self.indexer.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(INDEXER_DRAIN, task).await.is_err() {
                tracing::warn!(
                    "the event index did not catch up within {} s; stopping it (start-up \
                     indexes the rest from the log)",
                    INDEXER_DRAIN.as_secs()
                );
                abort.abort();
            }
        }
        // A graceful stop lets the lease go: another process may sequence at once.
        {
            let head = self.head.lock().await;
            if let Some(token) = head.token {
                let released: Result<_, sqlx::Error> = on_pool!(&self.store, p => {
                    sqlx::query(lease::RELEASE)
                        .bind(&self.holder)
                        .bind(token)
                        .execute(p)
                        .await
                        .map(|_| ())
                });
                if let Err(e) = released {
                    tracing::warn!(error = %e, "could not release the sequencer's lease; it runs out by itself");
                }
            }
        }
        self.store_read.close().await;
        self.index_read.close().await;
        self.store.close().await;
        self.index.close().await;
    }
}
