//! Subtree hashes stored as tiles, in the C2SP `tlog-tiles` layout (tile height 8).
//!
//! A tile at tile level `L` and index `N` holds up to 256 consecutive hashes of Merkle level
//! `8·L`: the hashes of the subtrees of 256^L leaves numbered `256·N` … `256·N + 255`. A tile
//! with fewer than 256 hashes is partial and only ever grows. Every complete subtree hash of
//! the tree can be computed from at most 128 hashes of a single tile, so a proof needs one
//! tile per tile level: three reads for sixteen million leaves.

use crate::merkle::{Hash, Node, node_hash};

/// Hashes per full tile.
pub const TILE_WIDTH: usize = 256;
/// Merkle levels per tile level.
pub const TILE_HEIGHT: u8 = 8;

/// A tile's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level (Merkle level / 8).
    pub level: u8,
    /// Index among the tiles of that level.
    pub index: u64,
}

impl TileId {
    /// The C2SP `tlog-tiles` path of this tile at `width` hashes (`tile/0/x001/234` or
    /// `tile/0/234.p/17` for a partial tile).
    pub fn path(&self, width: usize) -> String {
        let mut s = format!("tile/{}/{}", self.level, index_path(self.index));
        if width < TILE_WIDTH {
            s.push_str(&format!(".p/{width}"));
        }
        s
    }
}

/// The three-digit, `x`-prefixed path encoding of a tile index (C2SP tlog-tiles).
pub fn index_path(mut n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        parts.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

/// What a C2SP `tlog-tiles` path below `tile/` names: a hash tile (`Some(level)`) or an
/// entry bundle (`None`), its index, and its width (256 for a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// Tile level, or `None` for an entry bundle (`tile/entries/…`).
    pub level: Option<u8>,
    /// Index among the tiles of that level.
    pub index: u64,
    /// Hashes (or entries) requested: 1–255 for a partial tile, 256 for a full one.
    pub width: usize,
}

/// Why a path is not a tile path as C2SP `tlog-tiles` spells them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a tile path ({0}); tiles are tile/<L>/<N>[.p/<W>] and entry bundles \
     tile/entries/<N>[.p/<W>], with N in 3-digit groups, all but the last x-prefixed \
     (tile/0/x001/234.p/17)"
)]
pub struct TilePathError(&'static str);

impl TilePath {
    /// Parses the part of a path after `tile/`, exactly as the spec writes it: no leading
    /// zeros in L or W, 3-digit groups for N with every group but the last `x`-prefixed and
    /// no leading `x000` group, L at most 63, W from 1 to 255. Its cost is bounded by the
    /// path's length, which the spec's own limits keep short.
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        if path.len() > 64 {
            return Err(TilePathError("too long"));
        }
        let (body, width) = match path.split_once(".p/") {
            Some((body, w)) => {
                let width = decimal(w).ok_or(TilePathError("W is not a decimal number"))?;
                if !(1..TILE_WIDTH as u64).contains(&width) {
                    return Err(TilePathError("W must be from 1 to 255"));
                }
                (body, width as usize)
            }
            None => (path, TILE_WIDTH),
        };
        let (level, rest) = body.split_once('/').ok_or(TilePathError("no index"))?;
        let level = if level == "entries" {
            None
        } else {
            let l = decimal(level).ok_or(TilePathError("L is not a decimal number"))?;
            Some(
                u8::try_from(l)
                    .ok()
                    .filter(|l| *l <= 63)
                    .ok_or(TilePathError("L above 63"))?,
            )
        };
        let groups: Vec<&str> = rest.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x')
                    .ok_or(TilePathError("an index group lacks its x"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TilePathError("an index group is not 3 digits"));
            }
            if i == 0 && !last && digits == "000" {
                return Err(TilePathError("the index has a leading x000 group"));
            }
            let d = u64::from(digits.parse::<u16>().map_err(|_| TilePathError("index"))?);
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(d))
                .ok_or(TilePathError("index too large"))?;
        }
        Ok(Self {
            level,
            index,
            width,
        })
    }
}

/// A decimal ASCII number without leading zeros (the spec's L and W).
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// How many hashes tile `index` of `level` holds in a tree of `size` leaves (0 if none):
/// `floor(size / 256^level)` hashes at that level, 256 per tile.
pub fn width_at(level: u8, index: u64, size: u64) -> usize {
    let shift = 8 * u32::from(level);
    let at_level = if shift >= 64 { 0 } else { size >> shift };
    let start = index.saturating_mul(TILE_WIDTH as u64);
    at_level.saturating_sub(start).min(TILE_WIDTH as u64) as usize
}

/// Where a complete subtree's hash comes from: the tile, the first position in it, and how
/// many of its hashes (a power of two, at most 128) fold into the subtree's hash.
pub fn locate(node: Node) -> (TileId, usize, usize) {
    let level = node.level / TILE_HEIGHT;
    let rise = node.level % TILE_HEIGHT;
    let first = node.index << rise;
    let tile = TileId {
        level,
        index: first / TILE_WIDTH as u64,
    };
    (tile, (first % TILE_WIDTH as u64) as usize, 1usize << rise)
}

/// Computes a node's hash from the hashes of its tile, or `None` when the tile does not (yet)
/// hold all the hashes the node needs.
pub fn node_from_tile(node: Node, tile_hashes: &[Hash]) -> Option<Hash> {
    let (_, at, count) = locate(node);
    let slice = tile_hashes.get(at..at + count)?;
    Some(fold_complete(slice))
}

/// The root of 2^k hashes, pairwise.
fn fold_complete(hashes: &[Hash]) -> Hash {
    let mut layer: Vec<Hash> = hashes.to_vec();
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    layer[0]
}

/// The rightmost, partial tile of every tile level: all a writer needs to append leaves and to
/// compute the new root without reading anything back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edge {
    size: u64,
    /// `partial[L]`: the hashes of the rightmost tile of level L that is not yet full.
    partial: Vec<Vec<Hash>>,
}

/// A tile whose contents changed: write `hashes` (the whole tile) under `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileWrite {
    /// The tile.
    pub id: TileId,
    /// Its full contents now (1 to 256 hashes).
    pub hashes: Vec<Hash>,
}

/// The tiles an edge needs for a tree of `size` leaves, with the width of each.
pub fn edge_tiles(size: u64) -> Vec<(TileId, usize)> {
    let mut out = Vec::new();
    let mut level = 0u8;
    let mut n = size;
    while n > 0 {
        let width = (n % TILE_WIDTH as u64) as usize;
        if width > 0 {
            out.push((
                TileId {
                    level,
                    index: n / TILE_WIDTH as u64,
                },
                width,
            ));
        }
        n /= TILE_WIDTH as u64;
        level += 1;
    }
    out
}

/// Why stored tiles cannot form an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tile {level}/{index} should hold {want} hashes for this tree size, it holds {got}")]
pub struct EdgeError {
    /// Tile level.
    pub level: u8,
    /// Tile index.
    pub index: u64,
    /// Hashes needed.
    pub want: usize,
    /// Hashes found.
    pub got: usize,
}

impl Edge {
    /// The edge of the empty tree.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Rebuilds the edge of a tree of `size` leaves from the tiles [`edge_tiles`] names,
    /// given in that order. Extra hashes beyond the width are ignored (a tile written by a
    /// batch whose checkpoint was never published).
    pub fn from_tiles(size: u64, tiles: Vec<Vec<Hash>>) -> Result<Self, EdgeError> {
        let wanted = edge_tiles(size);
        let levels = {
            let mut n = size;
            let mut l = 0;
            while n > 0 {
                n /= TILE_WIDTH as u64;
                l += 1;
            }
            l
        };
        let mut partial = vec![Vec::new(); levels];
        let mut given = tiles.into_iter();
        for (id, width) in wanted {
            let mut t = given.next().unwrap_or_default();
            if t.len() < width {
                return Err(EdgeError {
                    level: id.level,
                    index: id.index,
                    want: width,
                    got: t.len(),
                });
            }
            t.truncate(width);
            partial[usize::from(id.level)] = t;
        }
        Ok(Self { size, partial })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends leaves (by hash) and returns every tile whose contents changed, in level order.
    pub fn append(&mut self, leaves: &[Hash]) -> Vec<TileWrite> {
        let mut touched: Vec<TileId> = Vec::new();
        let mut full: Vec<TileWrite> = Vec::new();
        for leaf in leaves {
            let mut carry = *leaf;
            let mut level = 0usize;
            let mut n = self.size;
            loop {
                if self.partial.len() == level {
                    self.partial.push(Vec::new());
                }
                let index = n / TILE_WIDTH as u64;
                let id = TileId {
                    level: level as u8,
                    index,
                };
                self.partial[level].push(carry);
                if self.partial[level].len() < TILE_WIDTH {
                    if touched.last() != Some(&id) && !touched.contains(&id) {
                        touched.push(id);
                    }
                    break;
                }
                let hashes = std::mem::take(&mut self.partial[level]);
                carry = fold_complete(&hashes);
                touched.retain(|t| *t != id);
                full.push(TileWrite { id, hashes });
                level += 1;
                n /= TILE_WIDTH as u64;
            }
            self.size += 1;
        }
        let mut out = full;
        for id in touched {
            let hashes = self.partial[usize::from(id.level)].clone();
            if !hashes.is_empty() {
                out.push(TileWrite { id, hashes });
            }
        }
        out.sort_by_key(|w| w.id);
        out
    }

    /// The root hash of the tree.
    pub fn root(&self) -> Hash {
        // Peaks from the largest: at each tile level from the top, the partial tile's hashes
        // split into complete subtrees by the binary digits of their count.
        let mut peaks: Vec<Hash> = Vec::new();
        for level in (0..self.partial.len()).rev() {
            let hashes = &self.partial[level];
            let mut at = 0;
            let mut bit = TILE_WIDTH;
            while at < hashes.len() {
                bit /= 2;
                if hashes.len() - at >= bit {
                    peaks.push(fold_complete(&hashes[at..at + bit]));
                    at += bit;
                }
            }
        }
        crate::merkle::fold_right(&peaks)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn tile_paths_parse_as_the_spec_spells_them() {
        let p = |s: &str| TilePath::parse(s);
        assert_eq!(
            p("0/x001/x234/067"),
            Ok(TilePath {
                level: Some(0),
                index: 1_234_067,
                width: 256
            })
        );
        assert_eq!(
            p("2/000.p/1"),
            Ok(TilePath {
                level: Some(2),
                index: 0,
                width: 1
            })
        );
        assert_eq!(
            p("entries/x001/234.p/255"),
            Ok(TilePath {
                level: None,
                index: 1234,
                width: 255
            })
        );
        for bad in [
            "",
            "0",
            "00/000",
            "0/0",
            "0/1234",
            "0/001/234",
            "0/x000/001",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/07",
            "64/000",
            "0/x1/000",
            "0/000/",
            "0/-01",
            "x/000",
            "0/x999/x999/x999/x999/x999/x999/x999/000",
        ] {
            assert!(p(bad).is_err(), "{bad} parsed");
        }
        // Round trip with the writer.
        for index in [0, 1, 999, 1000, 1_234_067, u64::from(u32::MAX)] {
            for width in [1, 17, 255, 256] {
                let id = TileId { level: 3, index };
                let path = id.path(width);
                let parsed = p(path.strip_prefix("tile/").expect("prefix")).expect("parses");
                assert_eq!(
                    parsed,
                    TilePath {
                        level: Some(3),
                        index,
                        width
                    }
                );
            }
        }
    }

    #[test]
    fn widths_follow_the_tree_size() {
        // The spec's example: a tree of 70,000 leaves.
        assert_eq!(width_at(0, 272, 70_000), 256);
        assert_eq!(width_at(0, 273, 70_000), 112);
        assert_eq!(width_at(0, 274, 70_000), 0);
        assert_eq!(width_at(1, 0, 70_000), 256);
        assert_eq!(width_at(1, 1, 70_000), 17);
        assert_eq!(width_at(2, 0, 70_000), 1);
        assert_eq!(width_at(3, 0, 70_000), 0);
        assert_eq!(width_at(1, 0, 256), 1);
        assert_eq!(width_at(9, 0, u64::MAX), 0);
    }

    use super::*;
    use crate::merkle::{MemoryTree, leaf_hash};

    #[test]
    fn paths() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(TileId { level: 1, index: 5 }.path(17), "tile/1/005.p/17");
        assert_eq!(
            TileId {
                level: 0,
                index: 1000
            }
            .path(256),
            "tile/0/x001/000"
        );
    }

    #[test]
    fn edge_root_and_tiles_match_memory_tree() {
        let mut t = MemoryTree::new();
        let mut edge = Edge::empty();
        let mut tiles: std::collections::BTreeMap<TileId, Vec<Hash>> = Default::default();
        let mut n = 0u64;
        for batch in [1usize, 255, 1, 300, 65_000, 536, 2, 70_000] {
            let leaves: Vec<Hash> = (0..batch)
                .map(|i| leaf_hash(&(n + i as u64).to_be_bytes()))
                .collect();
            for l in &leaves {
                t.push(*l);
            }
            n += batch as u64;
            for w in edge.append(&leaves) {
                tiles.insert(w.id, w.hashes);
            }
            assert_eq!(edge.size(), n);
            assert_eq!(Some(edge.root()), t.root_at(n), "size {n}");
            // Every peak is readable from the tiles.
            let mut peaks = Vec::new();
            crate::merkle::decompose(0, n, &mut peaks);
            for p in peaks {
                let (id, _, _) = locate(p);
                assert_eq!(node_from_tile(p, &tiles[&id]), t.node(p), "{p:?}");
            }
            // The edge can be rebuilt from stored tiles.
            let stored: Vec<Vec<Hash>> = edge_tiles(n)
                .iter()
                .map(|(id, _)| tiles[id].clone())
                .collect();
            assert_eq!(Edge::from_tiles(n, stored).unwrap(), edge);
        }
    }
}
