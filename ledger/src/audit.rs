//! Checking a stored log against its own checkpoints, from scratch: `provenance verify --data`.
//!
//! Every entry is read in order and hashed; the tree is rebuilt tile by tile and compared with
//! the stored tiles; its root at every checkpoint size is compared with that signed checkpoint;
//! every checkpoint's signature is checked with the log's public key; every event's signature
//! is checked with the key its signer had at that point of the log, replaying the registry
//! from the log itself. Each discrepancy is reported with the index it concerns.

use std::collections::{BTreeMap, HashMap};

use provenance_event::SignedEvent;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_tlog::tile::{Edge, TileId};
use provenance_tlog::{Checkpoint, Hash, Verifier, leaf_hash};

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

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::BadCheckpoint { size, problem } => write!(f, "checkpoint {size}: {problem}"),
            Finding::RootMismatch { size } => write!(
                f,
                "checkpoint {size}: the stored entries do not give its signed root hash"
            ),
            Finding::EntryChanged { index } => write!(
                f,
                "entry {index}: changed since it was anchored (its hash is not the one in the tree)"
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
    /// Everything wrong, in log order.
    pub findings: Vec<Finding>,
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
    let stored_max: Option<i64> = on_pool!(store, p => {
        sqlx::query_scalar("SELECT MAX(idx) FROM entries").fetch_one(p).await?
    });
    let total = stored_max.map_or(0, |m| m as u64 + 1).max(newest);

    let mut edge = Edge::empty();
    let mut recomputed_tiles: BTreeMap<TileId, Vec<Hash>> = BTreeMap::new();
    let mut registry = Registry::default();
    let mut expected = 0u64;
    let page = 5000i64;
    let mut start = 0i64;
    loop {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(store, p => {
            sqlx::query_as("SELECT idx, data FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2")
                .bind(start)
                .bind(page)
                .fetch_all(p)
                .await?
        });
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        start = last + 1;
        for (idx, data) in rows {
            let idx = idx as u64;
            // A deleted entry leaves a hole: the tree cannot be rebuilt past it.
            while expected < idx {
                report
                    .findings
                    .push(Finding::EntryMissing { index: expected });
                expected += 1;
                edge.append(&[[0u8; 32]]);
            }
            check_entry(idx, &data, log_key, &mut registry, &mut report);
            for w in edge.append(&[leaf_hash(&data)]) {
                recomputed_tiles.insert(w.id, w.hashes);
            }
            expected = idx + 1;
            if let Some(root) = checkpoints.get(&expected) {
                if edge.root() != *root {
                    report
                        .findings
                        .push(Finding::RootMismatch { size: expected });
                }
            }
            if let Some(root) = external_roots.get(&expected) {
                if edge.root() != *root {
                    report.findings.push(Finding::ExternalCheckpoint {
                        size: expected,
                        problem: "the stored log gives another root: history was rewritten".into(),
                    });
                }
            }
            report.entries += 1;
            if report.entries % 4096 == 0 {
                progress(report.entries, total);
            }
        }
    }
    progress(report.entries, total);
    while expected < newest {
        report
            .findings
            .push(Finding::EntryMissing { index: expected });
        expected += 1;
    }
    for (&size, _) in checkpoints.range(expected + 1..) {
        report.findings.push(Finding::RootMismatch { size });
    }
    for (&size, _) in external_roots.range(expected + 1..) {
        report.findings.push(Finding::ExternalCheckpoint {
            size,
            problem: format!("the stored log has only {expected} entries: it was truncated"),
        });
    }
    if expected > newest {
        report.findings.push(Finding::EntriesUncovered {
            from: newest,
            to: expected - 1,
        });
    }

    let mismatched: std::collections::BTreeSet<u64> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::RootMismatch { size } => Some(*size),
            _ => None,
        })
        .collect();
    // Stored tiles against recomputed ones: finds edited hashes, and locates edited entries.
    let ids: Vec<TileId> = recomputed_tiles.keys().copied().collect();
    for chunk in ids.chunks(500) {
        let stored = read_tiles(store, chunk).await?;
        for id in chunk {
            let ours = &recomputed_tiles[id];
            let Some(theirs) = stored.get(id) else {
                report.findings.push(Finding::TileMissing {
                    level: id.level,
                    tile: id.index,
                });
                continue;
            };
            for (position, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
                if a != b {
                    let index = id.index * 256 + position as u64;
                    // An edited entry breaks the root of every checkpoint that covers it; if
                    // they all hold, the entry is intact and the stored hash was edited.
                    let entry_broke_a_root = mismatched.range(index + 1..).next().is_some()
                        || (index >= newest && index < expected);
                    if id.level == 0 && entry_broke_a_root {
                        if !report.findings.contains(&Finding::EntryMissing { index }) {
                            report.findings.push(Finding::EntryChanged { index });
                        }
                    } else if id.level == 0
                        || !changed_leaf_under(&report.findings, id.level, index)
                    {
                        // A higher-level hash that differs only because an entry under it
                        // changed is that entry's finding, not a second one.
                        report.findings.push(Finding::HashChanged {
                            level: id.level,
                            tile: id.index,
                            position,
                        });
                    }
                }
            }
            if theirs.len() < ours.len() {
                report.findings.push(Finding::TileMissing {
                    level: id.level,
                    tile: id.index,
                });
            }
        }
    }
    // A level-0 hash that matches the entry but a root that does not means the stored hash was
    // edited along with the entry; both are reported. Sort for a readable report.
    report.findings.sort_by_key(sort_key);
    report.findings.dedup();
    Ok(report)
}

/// Whether an entry under node `index` of tile level `level` is reported changed or missing.
fn changed_leaf_under(findings: &[Finding], level: u8, index: u64) -> bool {
    let span = 1u64 << (8 * u32::from(level));
    let (lo, hi) = (index * span, (index + 1) * span);
    findings.iter().any(|f| match f {
        Finding::EntryChanged { index } | Finding::EntryMissing { index } => {
            (lo..hi).contains(index)
        }
        _ => false,
    })
}

fn sort_key(f: &Finding) -> (u64, u8) {
    match f {
        Finding::EntryMissing { index } | Finding::EntryChanged { index } => (*index, 0),
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
        Err(e) => report.findings.push(Finding::Undecodable {
            index: idx,
            problem: e.to_string(),
        }),
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
