//! Checking a stored log against its own checkpoints, from scratch: `provenance verify --data`
//! and the web's periodic storage audit.
//!
//! Every entry below the newest checkpoint is read in order and hashed; the tree is rebuilt
//! and every tile compared with the stored one as soon as it is complete, so memory is bounded
//! by a page of entries and the findings, not by the size of the log; the root at every
//! checkpoint size is compared with that signed checkpoint; every checkpoint's signature is
//! checked with the log's public key; every event's signature is checked with the key its
//! signer had at that point of the log, replaying the registry from the log itself; entries
//! stored beyond the newest checkpoint are reported. Each discrepancy is reported with the
//! index it concerns.
//!
//! The log may grow while it is audited (the web audits a running server): only the entries
//! below the newest checkpoint seen at the start are rebuilt, and an entry counts as inserted
//! only if no checkpoint covers it when the audit looks for such entries at the end (an append
//! commits its entries and their checkpoint together, so an honest log never has any).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use provenance_event::SignedEvent;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_tlog::tile::{Edge, TILE_WIDTH, TileId, TileWrite, edge_tiles};
use provenance_tlog::{Checkpoint, Hash, Verifier, leaf_hash, node_hash};

use crate::derive::{self, Change, Derived};
use crate::store::{Store, on_pool};
use crate::{LedgerError, hashes_of};

/// One thing wrong with the stored log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A checkpoint whose note does not verify under the log's key (or does not parse).
    BadCheckpoint {
        /// Its size.
        size: u64,
        /// Why.
        problem: String,
    },
    /// The entries do not give the root a checkpoint signed.
    RootMismatch {
        /// Checkpoint size.
        size: u64,
    },
    /// An entry whose hash differs from the one the tree recorded (edited, or moved).
    EntryChanged {
        /// Index.
        index: u64,
        /// Where the entry now stored here was anchored, when the tree knows it there: the
        /// entry was moved (reordered), not edited.
        moved_from: Option<u64>,
    },
    /// An index with no entry, below the newest checkpoint.
    EntryMissing {
        /// Index.
        index: u64,
    },
    /// Entries beyond the newest checkpoint: no checkpoint vouches for them.
    EntriesUncovered {
        /// First such index.
        from: u64,
        /// Last such index.
        to: u64,
    },
    /// A stored subtree hash that differs from the one the entries give.
    HashChanged {
        /// Tile level.
        level: u8,
        /// Tile index.
        tile: u64,
        /// Position in the tile.
        position: usize,
    },
    /// A stored tile that is missing or shorter than the entries call for.
    TileMissing {
        /// Tile level.
        level: u8,
        /// Tile index.
        tile: u64,
    },
    /// An entry that is neither a valid event nor a valid registry entry.
    Undecodable {
        /// Index.
        index: u64,
        /// Why.
        problem: String,
    },
    /// An event whose signature does not verify with its signer's key at that point, or whose
    /// signer was not registered (or already revoked) there.
    BadEventSignature {
        /// Index.
        index: u64,
        /// Signer.
        device: String,
        /// Why.
        problem: String,
    },
    /// A registry entry not signed by the log's key.
    BadRegistrySignature {
        /// Index.
        index: u64,
    },
    /// An externally kept checkpoint that the stored log contradicts (rewritten or truncated).
    ExternalCheckpoint {
        /// Its size.
        size: u64,
        /// Why.
        problem: String,
    },
}

impl Finding {
    /// The entries whose stored form this finding concerns, as an inclusive range of
    /// indexes: what a view of those entries must flag. `None` for findings about
    /// checkpoints or about stored hashes above single entries, which no one entry carries.
    /// A changed level-0 hash concerns its one entry: the entry is intact, but the proofs the
    /// server builds for it from the stored tree fail.
    pub fn entries(&self) -> Option<(u64, u64)> {
        match self {
            Finding::EntryChanged { index, .. }
            | Finding::EntryMissing { index }
            | Finding::Undecodable { index, .. }
            | Finding::BadEventSignature { index, .. }
            | Finding::BadRegistrySignature { index } => Some((*index, *index)),
            Finding::EntriesUncovered { from, to } => Some((*from, *to)),
            Finding::HashChanged {
                level: 0,
                tile,
                position,
            } => {
                let index = tile * TILE_WIDTH as u64 + *position as u64;
                Some((index, index))
            }
            Finding::HashChanged { .. }
            | Finding::TileMissing { .. }
            | Finding::RootMismatch { .. }
            | Finding::BadCheckpoint { .. }
            | Finding::ExternalCheckpoint { .. } => None,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::BadCheckpoint { size, problem } => write!(f, "checkpoint {size}: {problem}"),
            Finding::RootMismatch { size } => write!(
                f,
                "checkpoint {size}: the stored entries do not give its signed root hash"
            ),
            Finding::EntryChanged {
                index,
                moved_from: None,
            } => write!(
                f,
                "entry {index}: changed since it was anchored (its hash is not the one in the tree)"
            ),
            Finding::EntryChanged {
                index,
                moved_from: Some(from),
            } => write!(
                f,
                "entry {index}: changed since it was anchored: it holds the entry anchored at \
                 {from} (moved)"
            ),
            Finding::EntryMissing { index } => write!(f, "entry {index}: missing (deleted)"),
            Finding::EntriesUncovered { from, to } => write!(
                f,
                "entries {from}..={to}: stored after the newest checkpoint, so no checkpoint \
                 vouches for them (inserted?)"
            ),
            Finding::HashChanged {
                level,
                tile,
                position,
            } => write!(
                f,
                "stored hash {position} of tile {level}/{tile}: differs from the entries' hash"
            ),
            Finding::TileMissing { level, tile } => {
                write!(f, "tile {level}/{tile}: missing or short")
            }
            Finding::Undecodable { index, problem } => write!(f, "entry {index}: {problem}"),
            Finding::BadEventSignature {
                index,
                device,
                problem,
            } => {
                write!(f, "entry {index} (signer {device}): {problem}")
            }
            Finding::BadRegistrySignature { index } => write!(
                f,
                "entry {index}: registry entry not signed by the log's key"
            ),
            Finding::ExternalCheckpoint { size, problem } => {
                write!(f, "external checkpoint {size}: {problem}")
            }
        }
    }
}

/// What an audit found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Entries read.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Event signatures checked.
    pub signatures: u64,
    /// The newest checkpoint when the audit started: the tree rebuilt is this size.
    pub tree_size: u64,
    /// Everything wrong, in log order.
    pub findings: Vec<Finding>,
    /// Entries that are intact and signed by their registered signer, but whose event breaks
    /// SPEC §3 (anchored before a rule existed, or by a faulty signer). Not tampering: the log
    /// holds exactly what was signed, so they do not make the audit fail; the signer is
    /// answerable for them, and the index leaves them out (`index_findings`).
    pub invalid_events: Vec<InvalidEvent>,
}

/// An intact, correctly signed entry whose event breaks SPEC §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    /// Its log index.
    pub index: u64,
    /// Its signer.
    pub device: String,
    /// The rule it breaks.
    pub problem: String,
}

impl Report {
    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The registry replayed from the log: each holder's keys with the index they took effect,
/// and the revocation index.
#[derive(Default)]
struct Registry {
    keys: HashMap<String, Vec<(u64, [u8; 32])>>,
    revoked: HashMap<String, u64>,
}

impl Registry {
    fn key_at(&self, device: &str, index: u64) -> Result<[u8; 32], String> {
        let keys = self
            .keys
            .get(device)
            .ok_or_else(|| "signer not registered before this entry".to_string())?;
        if let Some(r) = self.revoked.get(device) {
            if *r < index {
                return Err(format!("signer revoked at entry {r}, before this entry"));
            }
        }
        keys.iter()
            .rev()
            .find(|(i, _)| *i < index)
            .map(|(_, k)| *k)
            .ok_or_else(|| "signer not registered before this entry".to_string())
    }
}

/// Entries read per query.
const PAGE: i64 = 5000;
/// Leaves hashed into the tree at once (and at most held before that).
const LEAF_BATCH: usize = 4096;
/// Complete tiles compared with storage per query.
const TILE_BATCH: usize = 256;
/// Entries checked between yields: an audit inside a server must not hold a worker thread
/// for the whole of a page of signature checks.
const YIELD_EVERY: usize = 128;

/// How the stored tree around a differing leaf hash reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The stored tile agrees with the stored tree above it (or, for the newest partial tile,
    /// with the newest checkpoint): the stored hash is the anchored one, so the entry changed.
    EntryChanged,
    /// With the entry's own hash in its place the stored tile agrees with the tree above: the
    /// stored hash was edited and the entry is intact.
    HashEdited,
    /// The tree above does not settle it (it was edited too, or several things in the tile
    /// were); decided at the end by the checkpoints' roots.
    Unsettled,
}

/// A level-0 (leaf) hash that differs between the entries and the stored tree.
struct LeafDiff {
    index: u64,
    /// The hash of the entry stored now (zeros for a missing one).
    ours: Hash,
    /// The stored tree's hash at that position.
    theirs: Hash,
    reading: Reading,
}

/// The tree rebuilt from the entries, compared with the stored one as it goes.
struct Rebuild {
    edge: Edge,
    /// Leaves not yet hashed into `edge`.
    buffer: Vec<Hash>,
    /// The size of the tree rebuilt: the newest checkpoint at the start.
    newest: u64,
    checkpoints: BTreeMap<u64, Hash>,
    external: BTreeMap<u64, Hash>,
    /// Complete tiles not yet compared with storage.
    full: Vec<TileWrite>,
    /// The current contents of each tile that is not complete yet.
    partial: BTreeMap<TileId, Vec<Hash>>,
    leaf_diffs: Vec<LeafDiff>,
    /// Differences above the leaves: (level, tile, position).
    node_diffs: Vec<(u8, u64, usize)>,
}

/// The root of a complete tile's 256 hashes.
fn fold_tile(hashes: &[Hash]) -> Hash {
    let mut layer = hashes.to_vec();
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    layer.first().copied().unwrap_or_default()
}

impl Rebuild {
    fn push(&mut self, leaf: Hash, report: &mut Report) {
        self.buffer.push(leaf);
        let size = self.edge.size() + self.buffer.len() as u64;
        if self.buffer.len() >= LEAF_BATCH
            || self.checkpoints.contains_key(&size)
            || self.external.contains_key(&size)
        {
            self.flush(report);
        }
    }

    /// Hashes the buffered leaves in; checks the root when the size is a checkpoint's.
    fn flush(&mut self, report: &mut Report) {
        if self.buffer.is_empty() {
            return;
        }
        for w in self.edge.append(&self.buffer) {
            if w.hashes.len() == TILE_WIDTH {
                self.partial.remove(&w.id);
                self.full.push(w);
            } else {
                self.partial.insert(w.id, w.hashes);
            }
        }
        self.buffer.clear();
        let size = self.edge.size();
        let root = self.edge.root();
        if self.checkpoints.get(&size).is_some_and(|r| *r != root) {
            report.findings.push(Finding::RootMismatch { size });
        }
        if self.external.get(&size).is_some_and(|r| *r != root) {
            report.findings.push(Finding::ExternalCheckpoint {
                size,
                problem: "the stored log gives another root: history was rewritten".into(),
            });
        }
    }

    /// Compares the complete tiles gathered so far with storage (all of them when `all`,
    /// else once enough have gathered for one query).
    async fn compare_full(
        &mut self,
        store: &Store,
        report: &mut Report,
        all: bool,
    ) -> Result<(), LedgerError> {
        while self.full.len() >= TILE_BATCH || (all && !self.full.is_empty()) {
            let n = self.full.len().min(TILE_BATCH);
            let tiles: Vec<TileWrite> = self.full.drain(..n).collect();
            self.compare(store, tiles, report).await?;
        }
        Ok(())
    }

    /// Compares the tiles still partial at the end (the right edge of the tree).
    async fn compare_partial(
        &mut self,
        store: &Store,
        report: &mut Report,
    ) -> Result<(), LedgerError> {
        let tiles: Vec<TileWrite> = std::mem::take(&mut self.partial)
            .into_iter()
            .map(|(id, hashes)| TileWrite { id, hashes })
            .collect();
        self.compare(store, tiles, report).await
    }

    async fn compare(
        &mut self,
        store: &Store,
        tiles: Vec<TileWrite>,
        report: &mut Report,
    ) -> Result<(), LedgerError> {
        let ids: Vec<TileId> = tiles.iter().map(|t| t.id).collect();
        let stored = read_tiles(store, &ids).await?;
        // Level-0 tiles with differences, read again below against the tree above them.
        let mut leaf_tiles: Vec<(&TileWrite, &Vec<Hash>, Vec<usize>)> = Vec::new();
        for ours in &tiles {
            let id = ours.id;
            let Some(theirs) = stored.get(&id) else {
                report.findings.push(Finding::TileMissing {
                    level: id.level,
                    tile: id.index,
                });
                continue;
            };
            let differ: Vec<usize> = ours
                .hashes
                .iter()
                .zip(theirs.iter())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(p, _)| p)
                .collect();
            if theirs.len() < ours.hashes.len() {
                report.findings.push(Finding::TileMissing {
                    level: id.level,
                    tile: id.index,
                });
            }
            if differ.is_empty() {
                continue;
            }
            if id.level == 0 {
                leaf_tiles.push((ours, theirs, differ));
            } else {
                self.node_diffs
                    .extend(differ.into_iter().map(|p| (id.level, id.index, p)));
            }
        }
        if leaf_tiles.is_empty() {
            return Ok(());
        }
        // What decides whether a stored leaf tile is the anchored one: for a complete tile,
        // its hash in the stored level-1 tile; for the partial tile at the edge, the newest
        // checkpoint's root over the stored edge.
        let mut above: Vec<TileId> = leaf_tiles
            .iter()
            .map(|(t, _, _)| TileId {
                level: 1,
                index: t.id.index / TILE_WIDTH as u64,
            })
            .collect();
        above.extend(edge_tiles(self.newest).into_iter().map(|(id, _)| id));
        let above = read_tiles(store, &above).await?;
        for (ours, theirs, differ) in leaf_tiles {
            let agrees = |candidate: &[Hash]| -> bool {
                if ours.hashes.len() == TILE_WIDTH {
                    let parent = above
                        .get(&TileId {
                            level: 1,
                            index: ours.id.index / TILE_WIDTH as u64,
                        })
                        .and_then(|t| t.get((ours.id.index % TILE_WIDTH as u64) as usize));
                    candidate.len() == TILE_WIDTH && parent == Some(&fold_tile(candidate))
                } else {
                    let Some(root) = self.checkpoints.get(&self.newest) else {
                        return false;
                    };
                    let edge: Vec<Vec<Hash>> = edge_tiles(self.newest)
                        .into_iter()
                        .map(|(id, _)| {
                            if id == ours.id {
                                candidate.to_vec()
                            } else {
                                above.get(&id).cloned().unwrap_or_default()
                            }
                        })
                        .collect();
                    Edge::from_tiles(self.newest, edge).is_ok_and(|e| e.root() == *root)
                }
            };
            let stored_agrees = agrees(theirs);
            for p in differ {
                let reading = if stored_agrees {
                    Reading::EntryChanged
                } else {
                    let mut fixed = theirs.clone();
                    fixed[p] = ours.hashes[p];
                    if agrees(&fixed) {
                        Reading::HashEdited
                    } else {
                        Reading::Unsettled
                    }
                };
                self.leaf_diffs.push(LeafDiff {
                    index: ours.id.index * TILE_WIDTH as u64 + p as u64,
                    ours: ours.hashes[p],
                    theirs: theirs[p],
                    reading,
                });
            }
        }
        Ok(())
    }

    /// Turns the differences into findings, once every root has been checked.
    fn finish(self, report: &mut Report) {
        let mismatched: BTreeSet<u64> = report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::RootMismatch { size } => Some(*size),
                _ => None,
            })
            .collect();
        let missing: BTreeSet<u64> = report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::EntryMissing { index } => Some(*index),
                _ => None,
            })
            .collect();
        // An edited entry breaks the root of every checkpoint that covers it; if they all
        // hold, the entry is intact and the stored hash was edited.
        let readings: Vec<Reading> = self
            .leaf_diffs
            .iter()
            .map(|d| match d.reading {
                Reading::Unsettled if mismatched.range(d.index + 1..).next().is_some() => {
                    Reading::EntryChanged
                }
                Reading::Unsettled => Reading::HashEdited,
                r => r,
            })
            .collect();
        // Where each anchored hash was anchored: an entry found elsewhere was moved there.
        let anchored_at: HashMap<Hash, u64> = self
            .leaf_diffs
            .iter()
            .zip(&readings)
            .filter(|(_, r)| **r == Reading::EntryChanged)
            .map(|(d, _)| (d.theirs, d.index))
            .collect();
        for (d, r) in self.leaf_diffs.iter().zip(readings) {
            match r {
                Reading::EntryChanged if missing.contains(&d.index) => {}
                Reading::EntryChanged => report.findings.push(Finding::EntryChanged {
                    index: d.index,
                    moved_from: anchored_at.get(&d.ours).copied().filter(|i| *i != d.index),
                }),
                _ => report.findings.push(Finding::HashChanged {
                    level: 0,
                    tile: d.index / TILE_WIDTH as u64,
                    position: (d.index % TILE_WIDTH as u64) as usize,
                }),
            }
        }
        for (level, tile, position) in self.node_diffs {
            // A higher-level hash that differs only because an entry under it changed is that
            // entry's finding, not a second one.
            let index = tile * TILE_WIDTH as u64 + position as u64;
            if !changed_leaf_under(&report.findings, level, index) {
                report.findings.push(Finding::HashChanged {
                    level,
                    tile,
                    position,
                });
            }
        }
    }
}

/// Audits the log in `store` with the log's public key. `external` are checkpoints kept
/// outside the database (by a witness or an auditor) that the log must still agree with.
/// `progress` is called with (entries read, total).
pub async fn audit(
    store: &Store,
    log_key: &Verifier,
    external: &[Vec<u8>],
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, LedgerError> {
    let mut report = Report::default();

    // Checkpoints, by size, each opened with the log key.
    let rows: Vec<(i64, String)> = on_pool!(store, p => {
        sqlx::query_as("SELECT size, note FROM checkpoints ORDER BY size").fetch_all(p).await?
    });
    let mut checkpoints: BTreeMap<u64, Hash> = BTreeMap::new();
    for (size, note) in rows {
        let size = size as u64;
        report.checkpoints += 1;
        match Checkpoint::open(note.as_bytes(), log_key, None) {
            Ok((cp, _)) if cp.size == size => {
                checkpoints.insert(size, cp.root);
            }
            Ok((cp, _)) => report.findings.push(Finding::BadCheckpoint {
                size,
                problem: format!("stored under size {size} but signs size {}", cp.size),
            }),
            Err(e) => report.findings.push(Finding::BadCheckpoint {
                size,
                problem: e.to_string(),
            }),
        }
    }
    let mut external_roots: BTreeMap<u64, Hash> = BTreeMap::new();
    for note in external {
        match Checkpoint::open(note, log_key, None) {
            Ok((cp, _)) => {
                external_roots.insert(cp.size, cp.root);
            }
            Err(e) => report.findings.push(Finding::ExternalCheckpoint {
                size: 0,
                problem: format!("does not open with the log's key: {e}"),
            }),
        }
    }
    let newest = checkpoints.keys().next_back().copied().unwrap_or(0);
    report.tree_size = newest;
    let mut tree = Rebuild {
        edge: Edge::empty(),
        buffer: Vec::new(),
        newest,
        checkpoints,
        external: external_roots,
        full: Vec::new(),
        partial: BTreeMap::new(),
        leaf_diffs: Vec::new(),
        node_diffs: Vec::new(),
    };
    let mut registry = Registry::default();
    let mut expected = 0u64;
    let mut start = 0i64;
    let end = i64::try_from(newest).unwrap_or(i64::MAX);
    loop {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(store, p => {
            sqlx::query_as(
                "SELECT idx, data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3",
            )
            .bind(start)
            .bind(end)
            .bind(PAGE)
            .fetch_all(p)
            .await?
        });
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        start = last + 1;
        for (n, (idx, data)) in rows.into_iter().enumerate() {
            if n % YIELD_EVERY == YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
            let idx = idx as u64;
            // A deleted entry leaves a hole; the tree goes on with a placeholder leaf.
            while expected < idx {
                report
                    .findings
                    .push(Finding::EntryMissing { index: expected });
                tree.push([0u8; 32], &mut report);
                expected += 1;
                if tree.full.len() >= TILE_BATCH {
                    tree.compare_full(store, &mut report, false).await?;
                }
            }
            check_entry(idx, &data, log_key, &mut registry, &mut report);
            tree.push(leaf_hash(&data), &mut report);
            expected = idx + 1;
            report.entries += 1;
        }
        tree.compare_full(store, &mut report, false).await?;
        progress(report.entries, newest);
    }
    while expected < newest {
        report
            .findings
            .push(Finding::EntryMissing { index: expected });
        tree.push([0u8; 32], &mut report);
        expected += 1;
        if tree.full.len() >= TILE_BATCH {
            tree.compare_full(store, &mut report, false).await?;
        }
    }
    tree.flush(&mut report);
    tree.compare_full(store, &mut report, true).await?;
    tree.compare_partial(store, &mut report).await?;
    for (&size, _) in tree.checkpoints.range(newest + 1..) {
        report.findings.push(Finding::RootMismatch { size });
    }
    for (&size, _) in tree.external.range(newest + 1..) {
        report.findings.push(Finding::ExternalCheckpoint {
            size,
            problem: format!("the stored log has only {newest} entries: it was truncated"),
        });
    }
    tree.finish(&mut report);

    // Entries no checkpoint covers, judged against the checkpoints as they are now (the one
    // statement sees one snapshot): a running log has appended since the start, never without
    // a checkpoint.
    let mut start = end;
    let mut run: Option<(u64, u64)> = None;
    loop {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(store, p => {
            sqlx::query_as(
                "SELECT idx, data FROM entries WHERE idx >= $1 AND idx >= \
                 (SELECT COALESCE(MAX(size), 0) FROM checkpoints) ORDER BY idx LIMIT $2",
            )
            .bind(start)
            .bind(PAGE)
            .fetch_all(p)
            .await?
        });
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        start = last + 1;
        for (idx, data) in rows {
            let idx = idx as u64;
            run = match run {
                Some((from, to)) if to + 1 == idx => Some((from, idx)),
                Some((from, to)) => {
                    report.findings.push(Finding::EntriesUncovered { from, to });
                    Some((idx, idx))
                }
                None => Some((idx, idx)),
            };
            check_entry(idx, &data, log_key, &mut registry, &mut report);
            report.entries += 1;
        }
    }
    if let Some((from, to)) = run {
        report.findings.push(Finding::EntriesUncovered { from, to });
    }
    progress(report.entries, newest);

    // Sort for a readable report.
    report.findings.sort_by_key(sort_key);
    report.findings.dedup();
    Ok(report)
}

/// Whether an entry under node `index` of tile level `level` is reported changed or missing.
fn changed_leaf_under(findings: &[Finding], level: u8, index: u64) -> bool {
    let span = 1u64 << (8 * u32::from(level));
    let (lo, hi) = (index * span, (index + 1) * span);
    findings.iter().any(|f| match f {
        Finding::EntryChanged { index, .. } | Finding::EntryMissing { index } => {
            (lo..hi).contains(index)
        }
        _ => false,
    })
}

fn sort_key(f: &Finding) -> (u64, u8) {
    match f {
        Finding::EntryMissing { index } | Finding::EntryChanged { index, .. } => (*index, 0),
        Finding::Undecodable { index, .. }
        | Finding::BadEventSignature { index, .. }
        | Finding::BadRegistrySignature { index } => (*index, 1),
        Finding::EntriesUncovered { from, .. } => (*from, 2),
        Finding::HashChanged { tile, level, .. } | Finding::TileMissing { tile, level } => {
            ((*tile) << (8 * u32::from(*level)) << 8, 3)
        }
        Finding::RootMismatch { size }
        | Finding::BadCheckpoint { size, .. }
        | Finding::ExternalCheckpoint { size, .. } => (*size, 4),
    }
}

fn check_entry(
    idx: u64,
    data: &[u8],
    log_key: &Verifier,
    registry: &mut Registry,
    report: &mut Report,
) {
    match derive::derive(data) {
        Err(e) => match signed_by_registered_signer(idx, data, registry) {
            Some(device) => report.invalid_events.push(InvalidEvent {
                index: idx,
                device,
                problem: e.to_string(),
            }),
            None => report.findings.push(Finding::Undecodable {
                index: idx,
                problem: e.to_string(),
            }),
        },
        Ok(Derived::Registry(r)) => {
            if provenance_event::registry::verify(data, log_key.public_key()).is_err() {
                report
                    .findings
                    .push(Finding::BadRegistrySignature { index: idx });
                return;
            }
            match r.change {
                Change::Registered { key, .. } | Change::KeyRotated { key } => {
                    registry.keys.entry(r.device).or_default().push((idx, key));
                }
                Change::Revoked { .. } => {
                    registry.revoked.entry(r.device).or_insert(idx);
                }
            }
        }
        Ok(Derived::Event(e)) => {
            report.signatures += 1;
            let verdict = registry.key_at(&e.device, idx).and_then(|key| {
                let key = VerifyingKey::from_bytes(&key)
                    .map_err(|_| "registered key unusable".to_string())?;
                let signed = SignedEvent::parse(data).map_err(|e| e.to_string())?;
                signed.verify(&key).map(|_| ()).map_err(|e| e.to_string())
            });
            if let Err(problem) = verdict {
                report.findings.push(Finding::BadEventSignature {
                    index: idx,
                    device: e.device,
                    problem,
                });
            }
        }
    }
}

/// The signer of an entry whose envelope parses and whose signature verifies with the key its
/// signer held at `idx`: such an entry is what that signer signed, whatever its payload.
fn signed_by_registered_signer(idx: u64, data: &[u8], registry: &Registry) -> Option<String> {
    let signed = SignedEvent::parse(data).ok()?;
    let device = signed.device().as_str().to_string();
    let key = VerifyingKey::from_bytes(&registry.key_at(&device, idx).ok()?).ok()?;
    signed.verify(&key).ok()?;
    Some(device)
}

async fn read_tiles(
    store: &Store,
    ids: &[TileId],
) -> Result<HashMap<TileId, Vec<Hash>>, LedgerError> {
    let mut out = HashMap::new();
    let rows = crate::store::tile_rows(store, ids).await?;
    for (level, idx, bytes) in rows {
        let id = TileId {
            level: level as u8,
            index: idx as u64,
        };
        // A tile that is not a whole number of hashes is as good as missing.
        if let Ok(h) = hashes_of(&bytes) {
            out.insert(id, h);
        }
    }
    Ok(out)
}
