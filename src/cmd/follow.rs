//! `provenance verify --url`: follow a remote log over C2SP tlog-tiles with nothing but its
//! public key, as a monitor or an auditor in another company would.
//!
//! Each run fetches the newest checkpoint and checks, in this order: its signature; with a
//! witness policy (C2SP tlog-policy), that it satisfies it (every cosignature by a known
//! witness valid, the quorum met; the log key may then come from the policy's `log` lines);
//! that the hash tiles give its root; that it is consistent with the checkpoint this follower
//! saw last (kept, as the signed note itself, in a small state file: a checkpoint vouches for
//! itself, so the file needs no protection beyond not being lost); and, unless `--tiles-only`,
//! that the entries since then, read from the entry bundles, hash into exactly that tree and
//! are each a signed event or a registry entry. The state moves forward only when everything
//! holds.
//!
//! Nothing the server sends is trusted: every tile and bundle is checked against a signed root
//! before it is believed, and every read is bounded by the size the spec gives it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use provenance_ledger::derive::{Derived, derive};
use provenance_tlog::merkle::{self, Hash};
use provenance_tlog::policy::Policy;
use provenance_tlog::tile::{Edge, TILE_WIDTH, TileId, edge_tiles, node_from_tile, width_at};
use provenance_tlog::{Checkpoint, Verifier, leaf_hash};

/// A checkpoint note is a few hundred bytes; cosignatures add about a hundred each.
const CHECKPOINT_MAX: usize = 1 << 20;
/// A full tile.
const TILE_MAX: usize = TILE_WIDTH * 32;
/// A full entry bundle: 256 entries of at most 65,535 bytes, each with its 2-byte length.
const BUNDLE_MAX: usize = TILE_WIDTH * (2 + u16::MAX as usize);

/// What `verify --url` was asked.
pub struct Follow<'a> {
    pub url: &'a str,
    /// The log's key; `None` to take it from the policy's `log` lines.
    pub log_key: Option<&'a Verifier>,
    /// The witness policy the served checkpoint must satisfy.
    pub policy: Option<&'a Policy>,
    pub state: Option<PathBuf>,
    pub tiles_only: bool,
    /// A read token (authority tier) for the entry bundles; tiles and checkpoints need none.
    pub read_token: Option<String>,
}

/// Why following failed in a way that says something about the log (exit status 1), as
/// opposed to not reaching it.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the log is inconsistent with the checkpoint this follower saw before (a fork or a \
         rewritten history): {0}"
    )]
    Inconsistent(String),
    #[error("the log's tiles or entries do not give its signed root: {0}")]
    BadData(String),
    #[error("the checkpoint does not satisfy the witness policy: {0}")]
    Unwitnessed(String),
}

pub fn run(f: Follow<'_>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(follow(&f)) {
        Ok(()) => Ok(()),
        Err(e) => match e.downcast_ref::<Refusal>() {
            Some(r) => {
                println!("verdict   FAILED: {r}");
                std::process::exit(1);
            }
            None => Err(e),
        },
    }
}

/// `$XDG_STATE_HOME/provenance/follow/<origin>.checkpoint`, or under `~/.local/state`.
fn default_state(key: &Verifier) -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .context("no HOME or XDG_STATE_HOME for the follower's state; give --state FILE")?;
    let name: String = key
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(base
        .join("provenance/follow")
        .join(format!("{name}.checkpoint")))
}

struct Remote {
    http: reqwest::Client,
    token: Option<String>,
    base: String,
    /// Tiles by id, at the width the newest checkpoint calls for (narrower ones are prefixes).
    tiles: HashMap<TileId, Vec<Hash>>,
    size: u64,
    fetched: u64,
}

impl Remote {
    async fn get(&mut self, path: &str, max: usize) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}/{path}", self.base);
        let mut req = self.http.get(&url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut r = req.send().await.with_context(|| format!("GET {url}"))?;
        let status = r.status();
        if matches!(status.as_u16(), 401 | 403) && path.starts_with("tile/entries/") {
            bail!(
                "GET {url}: {status}: this log shows its entries to the authority tier only; pass \
                 --read-token FILE (a token from `provenance access grant --tier authority`), \
                 or --tiles-only to check the tree from its hash tiles alone"
            );
        }
        if !status.is_success() {
            bail!("GET {url}: {status}");
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.with_context(|| format!("GET {url}"))? {
            if body.len() + chunk.len() > max {
                bail!("GET {url}: more than {max} bytes, more than the spec allows");
            }
            body.extend_from_slice(&chunk);
        }
        self.fetched += body.len() as u64;
        Ok(body)
    }

    /// Tile `id` as wide as the newest checkpoint makes it.
    async fn tile(&mut self, id: TileId) -> anyhow::Result<&Vec<Hash>> {
        if !self.tiles.contains_key(&id) {
            let width = width_at(id.level, id.index, self.size);
            let bytes = self.get(&id.path(width), TILE_MAX).await?;
            if bytes.len() != width * 32 {
                return Err(Refusal::BadData(format!(
                    "{} is {} bytes, not {}",
                    id.path(width),
                    bytes.len(),
                    width * 32
                ))
                .into());
            }
            let hashes = bytes
                .chunks_exact(32)
                .map(|c| <Hash>::try_from(c).unwrap_or_default())
                .collect();
            self.tiles.insert(id, hashes);
        }
        Ok(&self.tiles[&id])
    }

    /// The hashes a plan needs, from tiles; what they prove is checked by the caller.
    async fn run_plan(&mut self, plan: &merkle::Plan) -> anyhow::Result<Vec<Hash>> {
        let mut hashes = Vec::with_capacity(plan.nodes().len());
        for node in plan.nodes() {
            let (id, _, _) = provenance_tlog::tile::locate(*node);
            let tile = self.tile(id).await?;
            let h = node_from_tile(*node, tile).ok_or_else(|| {
                Refusal::BadData(format!(
                    "tile {}/{} lacks node {node:?}",
                    id.level, id.index
                ))
            })?;
            hashes.push(h);
        }
        plan.finish::<std::convert::Infallible>(&hashes)
            .map_err(|e| Refusal::BadData(e.to_string()).into())
    }

    /// Entries `from..to` as the bundles hold them, one bundle at a time.
    async fn bundle(&mut self, n: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        let width = width_at(0, n, self.size);
        let path =
            TileId { level: 0, index: n }
                .path(width)
                .replacen("tile/0/", "tile/entries/", 1);
        let bytes = self.get(&path, BUNDLE_MAX).await?;
        let mut rest = bytes.as_slice();
        let mut out = Vec::with_capacity(width);
        while let [a, b, tail @ ..] = rest {
            let len = usize::from(u16::from_be_bytes([*a, *b]));
            let Some((entry, after)) = tail.split_at_checked(len) else {
                return Err(Refusal::BadData(format!("{path} is cut short")).into());
            };
            out.push(entry.to_vec());
            rest = after;
        }
        if !rest.is_empty() || out.len() != width {
            return Err(Refusal::BadData(format!(
                "{path} holds {} entries, not {width}",
                out.len()
            ))
            .into());
        }
        Ok(out)
    }
}

fn open(note: &[u8], key: &Verifier, what: &str) -> anyhow::Result<Checkpoint> {
    Checkpoint::open(note, key, Some(key.name()))
        .map(|(c, _)| c)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// The log key: the one given, or the first of the policy's logs whose signature on `note`
/// holds.
fn log_key_for(f: &Follow<'_>, note: &[u8]) -> anyhow::Result<Verifier> {
    if let Some(k) = f.log_key {
        return Ok(k.clone());
    }
    let logs = f.policy.map(Policy::logs).unwrap_or_default();
    logs.iter()
        .find(|l| Checkpoint::open(note, &l.key, None).is_ok())
        .map(|l| l.key.clone())
        .ok_or_else(|| {
            let keys: Vec<String> = logs.iter().map(|l| l.key.to_string()).collect();
            anyhow::anyhow!(
                "the served checkpoint is not signed by a log of the policy ({})",
                keys.join(", ")
            )
        })
}

async fn follow(f: &Follow<'_>) -> anyhow::Result<()> {
    let base = f.url.trim_end_matches('/').to_string();
    let mut remote = Remote {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()?,
        base,
        token: f.read_token.clone(),
        tiles: HashMap::new(),
        size: 0,
        fetched: 0,
    };
    let note = remote.get("checkpoint", CHECKPOINT_MAX).await?;
    let key = log_key_for(f, &note)?;
    let now = open(
        &note,
        &key,
        "the served checkpoint does not verify with --log-key",
    )?;
    remote.size = now.size;
    let state = match f.state.clone() {
        Some(p) => p,
        None => default_state(&key)?,
    };
    let state = state.as_path();
    println!(
        "log key   {key}{}",
        if f.log_key.is_none() {
            " (from the policy)"
        } else {
            ""
        }
    );
    println!("log       {} ({})", f.url, now.origin);
    // Nothing of a checkpoint the policy's witnesses do not vouch for is believed.
    if let Some(policy) = f.policy {
        let w = provenance_custody::verify::witnessing(&note, &key, Some(policy));
        if w.quorum_met != Some(true) {
            return Err(Refusal::Unwitnessed(
                w.explanation
                    .unwrap_or_else(|| "the quorum is not met".to_string()),
            )
            .into());
        }
        println!("{}", w.summary());
        if let Some(anchored) = w.anchored() {
            println!("{anchored}");
        }
    }

    let before = match std::fs::read(state) {
        Ok(bytes) => Some((open(&bytes, &key, &format!("{}", state.display()))?, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", state.display())),
    };
    if let Some((old, old_note)) = &before {
        let evidence = || {
            format!(
                "\n--- the checkpoint seen before ({}) ---\n{}--- the checkpoint served now ---\n{}",
                state.display(),
                String::from_utf8_lossy(old_note),
                String::from_utf8_lossy(&note)
            )
        };
        if now.size < old.size {
            return Err(Refusal::Inconsistent(format!(
                "it now serves size {} after size {}{}",
                now.size,
                old.size,
                evidence()
            ))
            .into());
        }
        if now.size == old.size && now.root != old.root {
            return Err(Refusal::Inconsistent(format!(
                "two roots for size {}{}",
                now.size,
                evidence()
            ))
            .into());
        }
    }

    // The tiles must give the signed root.
    if now.size > 0 {
        let root = remote.run_plan(&merkle::root_plan(now.size)).await?[0];
        if root != now.root {
            return Err(Refusal::BadData(format!(
                "the tiles give root {} for size {}, the checkpoint says {}",
                hex::encode(root),
                now.size,
                hex::encode(now.root)
            ))
            .into());
        }
    }
    let from = before.as_ref().map_or(0, |(c, _)| c.size);
    if let Some((old, old_note)) = &before {
        if old.size > 0 && old.size < now.size {
            let proof = remote
                .run_plan(&merkle::consistency_plan(old.size, now.size)?)
                .await?;
            merkle::verify_consistency(old.size, now.size, &proof, &old.root, &now.root).map_err(
                |e| {
                    Refusal::Inconsistent(format!(
                        "no consistency proof from {} to {} ({e})\n--- seen before ---\n{}",
                        old.size,
                        now.size,
                        String::from_utf8_lossy(old_note)
                    ))
                },
            )?;
            println!(
                "consistent with the checkpoint of size {} seen before ({} new entries)",
                old.size,
                now.size - old.size
            );
        }
    } else {
        println!(
            "first contact: no earlier checkpoint to compare with (trusting this one on first use)"
        );
    }

    if !f.tiles_only && now.size > from {
        check_entries(&mut remote, from, &before, &now, &key).await?;
    }

    save(state, &note)?;
    println!(
        "verdict   OK: checkpoint of size {} verified from tiles{}; {} KiB fetched; state in {}",
        now.size,
        if f.tiles_only { "" } else { " and entries" },
        remote.fetched / 1024,
        state.display()
    );
    Ok(())
}

/// Reads entries `from..now.size` from the bundles and checks that, appended to the tree of
/// the earlier checkpoint, they give the new root; and that each is an event or a registry
/// entry (an event's signature needs the registry from entry 0, which `verify --data` replays).
async fn check_entries(
    remote: &mut Remote,
    from: u64,
    before: &Option<(Checkpoint, Vec<u8>)>,
    now: &Checkpoint,
    key: &Verifier,
) -> anyhow::Result<()> {
    let mut edge = if from == 0 {
        Edge::empty()
    } else {
        let mut tiles = Vec::new();
        for (id, _) in edge_tiles(from) {
            tiles.push(remote.tile(id).await?.clone());
        }
        let edge = Edge::from_tiles(from, tiles).map_err(|e| Refusal::BadData(e.to_string()))?;
        if let Some((old, _)) = before {
            if edge.root() != old.root {
                return Err(Refusal::Inconsistent(format!(
                    "the tiles give size {from} a root other than the checkpoint seen before"
                ))
                .into());
            }
        }
        edge
    };
    let bar = indicatif::ProgressBar::new(now.size - from);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "reading entries {bar:40} {pos}/{len} {per_sec} eta {eta}",
    )?);
    let (mut events, mut registry, mut other) = (0u64, 0u64, Vec::new());
    let first = from / TILE_WIDTH as u64;
    let last = (now.size - 1) / TILE_WIDTH as u64;
    for n in first..=last {
        let entries = remote.bundle(n).await?;
        let skip = usize::try_from(from.saturating_sub(n * TILE_WIDTH as u64)).unwrap_or(0);
        let mut leaves = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate().skip(skip) {
            leaves.push(leaf_hash(e));
            match derive(e) {
                Ok(Derived::Event(_)) => events += 1,
                Ok(Derived::Registry(_))
                    if provenance_event::registry::verify(e, key.public_key()).is_ok() =>
                {
                    registry += 1
                }
                Ok(Derived::Registry(_)) => other.push(format!(
                    "entry {}: a registry entry not signed by the log key",
                    n * 256 + i as u64
                )),
                Err(err) => other.push(format!("entry {}: {err}", n * 256 + i as u64)),
            }
        }
        edge.append(&leaves);
        bar.inc(leaves.len() as u64);
    }
    bar.finish_and_clear();
    if edge.root() != now.root {
        return Err(Refusal::BadData(format!(
            "the entries served give root {}, the checkpoint says {}",
            hex::encode(edge.root()),
            hex::encode(now.root)
        ))
        .into());
    }
    println!(
        "entries   {} new: {events} events, {registry} registry entries, all hashing into the signed tree",
        now.size - from
    );
    for o in &other {
        println!("  note      {o}");
    }
    Ok(())
}

/// Replaces the state file atomically: a crash leaves the old checkpoint or the new one.
fn save(path: &Path, note: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    use std::io::Write as _;
    tmp.write_all(note)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
