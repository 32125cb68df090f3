//! RFC 9162 §2.1 Merkle trees over SHA-256: hashes, tree heads and proofs.
//!
//! Proofs are made from the hashes of complete subtrees ([`Node`]s), which storage hands over
//! through [`HashReader`] in one batch: a proof over any tree size costs one round trip and
//! O(log n) hashes. Checking a proof needs nothing but the proof.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a leaf: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A complete subtree: the 2^`level` leaves starting at leaf `index` · 2^`level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    /// Height above the leaves (0 = a leaf).
    pub level: u8,
    /// Position among the nodes of that level, from the left.
    pub index: u64,
}

impl Node {
    /// The first leaf under this node.
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }
}

/// Where stored subtree hashes come from.
pub trait HashReader {
    /// What can go wrong reading them.
    type Error;
    /// The hashes of `nodes`, in the same order. Every node lies inside the tree being proved.
    fn read_hashes(&mut self, nodes: &[Node]) -> Result<Vec<Hash>, Self::Error>;
}

/// Why a proof could not be made or does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError<E = std::convert::Infallible> {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Sizes that no consistency proof connects (first larger than second, or zero).
    #[error("no consistency proof from size {from} to size {to}")]
    BadSizes {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
    },
    /// The proof has the wrong number of hashes for its sizes.
    #[error("the proof has {got} hashes where {want} are needed")]
    WrongLength {
        /// Hashes given.
        got: usize,
        /// Hashes needed.
        want: usize,
    },
    /// The proof does not lead to the given root.
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    /// Storage failed or returned the wrong number of hashes.
    #[error("reading stored hashes: {0}")]
    Storage(E),
    /// Storage returned a different number of hashes than asked for.
    #[error("storage returned {got} hashes for {want} nodes")]
    ShortRead {
        /// Returned.
        got: usize,
        /// Asked.
        want: usize,
    },
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees that make up leaves [lo, hi), left to right.
///
/// For the ranges the RFC 9162 recursion produces (lo aligned to the largest power of two
/// below hi − lo), MTH(D[lo:hi]) is these nodes' hashes folded from the right.
pub fn decompose(mut lo: u64, hi: u64, out: &mut Vec<Node>) {
    while lo < hi {
        let align = if lo == 0 { 63 } else { lo.trailing_zeros() };
        let fit = 63 - (hi - lo).leading_zeros();
        let level = align.min(fit);
        out.push(Node {
            level: level as u8,
            index: lo >> level,
        });
        lo += 1u64 << level;
    }
}

/// The leaf ranges whose tree hashes form the inclusion proof of `index` in a tree of `size`
/// (RFC 9162 §2.1.3.1, PATH), in proof order.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, size);
    let mut out = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The leaf ranges whose tree hashes form the consistency proof from `m` to `n` leaves
/// (RFC 9162 §2.1.4.1, SUBPROOF), in proof order. 0 < m ≤ n.
fn consistency_ranges(mut m: u64, n: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, n);
    let mut whole = true;
    let mut out = Vec::new();
    loop {
        if m == hi - lo {
            if !whole {
                out.push((lo, hi));
            }
            break;
        }
        let k = split(hi - lo);
        if m <= k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            m -= k;
            lo += k;
            whole = false;
        }
    }
    out.reverse();
    out
}

/// The complete subtrees a tree head or proof needs, and how they fold into it: made first so
/// that storage can fetch every hash in one batch (async or not), then finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    nodes: Vec<Node>,
    counts: Vec<usize>,
}

impl Plan {
    fn of_ranges(ranges: &[(u64, u64)]) -> Self {
        let mut nodes = Vec::new();
        let mut counts = Vec::with_capacity(ranges.len());
        for &(lo, hi) in ranges {
            let before = nodes.len();
            decompose(lo, hi, &mut nodes);
            counts.push(nodes.len() - before);
        }
        Self { nodes, counts }
    }

    /// The nodes whose hashes are needed, in the order [`Plan::finish`] wants them.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Folds the nodes' hashes into the result: the proof's hashes, or the one root hash.
    pub fn finish<E>(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError<E>> {
        if hashes.len() != self.nodes.len() {
            return Err(ProofError::ShortRead {
                got: hashes.len(),
                want: self.nodes.len(),
            });
        }
        let mut out = Vec::with_capacity(self.counts.len());
        let mut at = 0;
        for &n in &self.counts {
            out.push(fold_right(&hashes[at..at + n]));
            at += n;
        }
        Ok(out)
    }

    fn run<R: HashReader>(&self, r: &mut R) -> Result<Vec<Hash>, ProofError<R::Error>> {
        let hashes = r.read_hashes(&self.nodes).map_err(ProofError::Storage)?;
        self.finish(&hashes)
    }
}

/// The plan for the root hash of the first `size` leaves (size ≥ 1; the empty root is
/// [`EMPTY_ROOT`]).
pub fn root_plan(size: u64) -> Plan {
    Plan::of_ranges(&[(0, size)])
}

/// The plan for the inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_plan(index: u64, size: u64) -> Result<Plan, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(Plan::of_ranges(&inclusion_ranges(index, size)))
}

/// The plan for the consistency proof from `from` to `to` leaves (empty when equal).
pub fn consistency_plan(from: u64, to: u64) -> Result<Plan, ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::BadSizes { from, to });
    }
    if from == to {
        return Ok(Plan::of_ranges(&[]));
    }
    Ok(Plan::of_ranges(&consistency_ranges(from, to)))
}

fn widen<E>(e: ProofError) -> ProofError<E> {
    match e {
        ProofError::IndexOutOfRange { index, size } => ProofError::IndexOutOfRange { index, size },
        ProofError::BadSizes { from, to } => ProofError::BadSizes { from, to },
        ProofError::WrongLength { got, want } => ProofError::WrongLength { got, want },
        ProofError::RootMismatch => ProofError::RootMismatch,
        ProofError::ShortRead { got, want } => ProofError::ShortRead { got, want },
        ProofError::Storage(never) => match never {},
    }
}

/// H(a, H(b, H(c, d))): the hash of consecutive complete subtrees, largest first.
pub fn fold_right(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return EMPTY_ROOT;
    };
    iter.fold(*last, |acc, h| node_hash(h, &acc))
}

/// The root hash of the first `size` leaves.
pub fn root<R: HashReader>(size: u64, r: &mut R) -> Result<Hash, ProofError<R::Error>> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    Ok(root_plan(size).run(r)?[0])
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_proof<R: HashReader>(
    index: u64,
    size: u64,
    r: &mut R,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    inclusion_plan(index, size).map_err(widen)?.run(r)
}

/// The consistency proof from the tree of `from` leaves to the tree of `to` leaves.
/// Empty when the sizes are equal.
pub fn consistency_proof<R: HashReader>(
    from: u64,
    to: u64,
    r: &mut R,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    consistency_plan(from, to).map_err(widen)?.run(r)
}

/// The number of hashes in an inclusion proof of `index` in a tree of `size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        0
    } else {
        inclusion_ranges(index, size).len()
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_proof_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2). Policies: from size 0 there is no proof;
/// equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    root_from: &Hash,
    root_to: &Hash,
) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::BadSizes { from, to });
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if root_from == root_to {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let want = consistency_ranges(from, to).len();
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    // When `from` is a power of two its root is the first hash of the path and is omitted.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(root_from);
    }
    path.extend(proof.iter());
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = *path[0];
    let mut sr = *path[0];
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr == *root_from && sr == *root_to && s == 0 {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// An in-memory tree of leaf hashes that computes any subtree hash on demand: for tests and
/// for recomputing a whole log from its entries (`verify --data`).
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            levels: vec![Vec::new()],
        }
    }

    /// Appends a leaf by its hash, keeping every complete subtree hash.
    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len() % 2 == 0 {
            let n = self.levels[level].len();
            let h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(h);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The hash of a complete subtree, if the tree has it.
    pub fn node(&self, n: Node) -> Option<Hash> {
        self.levels
            .get(usize::from(n.level))
            .and_then(|l| l.get(usize::try_from(n.index).ok()?))
            .copied()
    }

    /// The root hash of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        let mut this = self;
        root(size, &mut this).ok()
    }
}

/// A node the tree does not (yet) have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no stored hash for level {} index {}", .0.level, .0.index)]
pub struct MissingNode(pub Node);

impl HashReader for &MemoryTree {
    type Error = MissingNode;
    fn read_hashes(&mut self, nodes: &[Node]) -> Result<Vec<Hash>, MissingNode> {
        nodes
            .iter()
            .map(|n| self.node(*n).ok_or(MissingNode(*n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposition_of_thirteen() {
        let mut v = Vec::new();
        decompose(0, 13, &mut v);
        assert_eq!(
            v,
            [
                Node { level: 3, index: 0 },
                Node { level: 2, index: 2 },
                Node {
                    level: 0,
                    index: 12
                }
            ]
        );
    }

    #[test]
    fn proofs_round_trip_for_all_small_trees() {
        let mut t = MemoryTree::new();
        for i in 0..70u64 {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        let mut r = &t;
        for size in 1..=70u64 {
            let root_n = root(size, &mut r).unwrap();
            for index in 0..size {
                let p = inclusion_proof(index, size, &mut r).unwrap();
                let leaf = t.node(Node { level: 0, index }).unwrap();
                verify_inclusion(&leaf, index, size, &p, &root_n).unwrap();
            }
            for from in 1..=size {
                let p = consistency_proof(from, size, &mut r).unwrap();
                let root_m = root(from, &mut r).unwrap();
                verify_consistency(from, size, &p, &root_m, &root_n).unwrap();
            }
        }
    }
}
