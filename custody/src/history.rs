//! The containers an item was in, derived from packing rows: one pure walk shared by the
//! ledger's traces (rows from the index) and the offline verifier (rows from proven entries).
//!
//! What it costs is bounded by what it finds, never by how the containers are wired: each
//! container is expanded only with the parts of its windows not already known, so a lattice
//! (every container packed into two parents, twenty levels deep: forty signed events) costs
//! forty expansions, not 2^20 paths. Depth, containers and windows have hard bounds; a walk
//! that hits one says so ([`Walk::truncated`]) and returns what it found.

use std::collections::{BTreeMap, HashMap};

use crate::rules::Window;

/// How deep containers may nest (cell, module, pack, pallet, container, vessel …).
pub const MAX_DEPTH: usize = 8;
/// The most containers one walk visits.
pub const MAX_CONTAINERS: usize = 256;
/// The most windows one walk computes (each a container interval intersected with a window).
pub const MAX_WINDOWS: usize = 4096;

/// One packing row of a child: (parent, time, log index, +1 packed / -1 unpacked).
pub type AggregationRow = (String, i64, i64, i64);

/// A time span: from (inclusive), until (exclusive; `None`: still open).
type Span = (i64, Option<i64>);

/// The intervals a child spent in each parent, from its packing rows sorted by time then
/// index: `(parent, from, until)`. An unpacking without a packing is ignored; a packing
/// without an unpacking is still open.
pub fn intervals(rows: &[AggregationRow]) -> Vec<(String, i64, Option<i64>)> {
    let mut open: BTreeMap<&str, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for (parent, time, _, delta) in rows {
        if *delta > 0 {
            open.entry(parent.as_str()).or_insert(*time);
        } else if let Some(from) = open.remove(parent.as_str()) {
            out.push((parent.clone(), from, Some(*time)));
        }
    }
    out.extend(
        open.into_iter()
            .map(|(p, from)| (p.to_string(), from, None)),
    );
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out
}

/// What a walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// The windows, disjoint per container, in the order found (nearest containers first).
    pub windows: Vec<Window>,
    /// A bound was hit: containers further out, or more windows, may exist.
    pub truncated: bool,
}

/// The walk from an item up through its containers, one level per [`ContainerWalk::step`]; the
/// caller fetches the rows each level needs ([`ContainerWalk::wanted`]), so a database is asked
/// once per level, not once per container or path.
#[derive(Debug)]
pub struct ContainerWalk {
    item: String,
    /// The union of the windows known so far per container.
    known: HashMap<String, Vec<Span>>,
    /// Containers to expand next: their new spans and one path to them.
    frontier: Vec<(String, Vec<Span>, Vec<String>)>,
    depth: usize,
    windows: usize,
    walk: Walk,
}

impl ContainerWalk {
    /// A walk from `item`.
    pub fn new(item: &str) -> Self {
        ContainerWalk {
            item: item.to_string(),
            known: HashMap::new(),
            frontier: vec![(item.to_string(), vec![(i64::MIN, None)], Vec::new())],
            depth: 0,
            windows: 0,
            walk: Walk::default(),
        }
    }

    /// The items whose packing rows the next step needs; empty when the walk is over.
    pub fn wanted(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.frontier.iter().map(|(c, _, _)| c.as_str()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Expands one level with `rows` (each wanted item's packing rows, sorted by time then
    /// index; an item without rows is simply absent).
    pub fn step(&mut self, rows: &HashMap<String, Vec<AggregationRow>>) {
        let frontier = std::mem::take(&mut self.frontier);
        if frontier.is_empty() {
            return;
        }
        if self.depth >= MAX_DEPTH {
            // Anything further out is beyond the bound: say so only if there is something.
            self.walk.truncated |= frontier.iter().any(|(c, _, _)| {
                rows.get(c)
                    .is_some_and(|r| r.iter().any(|(p, ..)| *p != self.item))
            });
            return;
        }
        self.depth += 1;
        // Arrivals per container, in a stable order.
        let mut arrivals: BTreeMap<String, (Vec<Span>, Vec<String>)> = BTreeMap::new();
        'children: for (child, spans, via) in &frontier {
            let Some(r) = rows.get(child) else { continue };
            for (parent, from, until) in intervals(r) {
                if parent == self.item || via.contains(&parent) {
                    continue;
                }
                for &(lo, hi) in spans {
                    let f = from.max(lo);
                    let u = match (until, hi) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if u.is_some_and(|u| u <= f) {
                        continue;
                    }
                    if self.windows >= MAX_WINDOWS {
                        self.walk.truncated = true;
                        break 'children;
                    }
                    self.windows += 1;
                    let e = arrivals.entry(parent.clone()).or_insert_with(|| {
                        let mut path = via.clone();
                        path.push(parent.clone());
                        (Vec::new(), path)
                    });
                    e.0.push((f, u));
                }
            }
        }
        for (container, (spans, via)) in arrivals {
            if !self.known.contains_key(&container) && self.known.len() >= MAX_CONTAINERS {
                self.walk.truncated = true;
                continue;
            }
            let known = self.known.entry(container.clone()).or_default();
            let new = subtract(&union(spans), known);
            if new.is_empty() {
                continue;
            }
            *known = union(known.iter().chain(&new).copied().collect());
            for &(f, u) in &new {
                self.walk.windows.push(Window {
                    container: container.clone(),
                    from_ms: f,
                    until_ms: u,
                    via: via.clone(),
                });
            }
            self.frontier.push((container, new, via));
        }
    }

    /// Whether there is nothing left to expand.
    pub fn done(&self) -> bool {
        self.frontier.is_empty()
    }

    /// What the walk found.
    pub fn finish(self) -> Walk {
        self.walk
    }
}

/// Walks with rows already in memory (the offline verifier's).
pub fn walk_in_memory(item: &str, rows: &HashMap<String, Vec<AggregationRow>>) -> Walk {
    let mut walk = ContainerWalk::new(item);
    while !walk.done() {
        walk.step(rows);
    }
    walk.finish()
}

fn end_le(a: Option<i64>, b: Option<i64>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

/// The union of spans, sorted and merged.
fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable_by_key(|s| s.0);
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (f, u) in spans {
        match out.last_mut() {
            // Touching or overlapping: one span.
            Some(last) if last.1.is_none_or(|lu| f <= lu) => {
                if end_le(last.1, u) {
                    last.1 = u;
                }
            }
            _ => out.push((f, u)),
        }
    }
    out
}

/// `spans` minus `known` (both sorted and merged).
fn subtract(spans: &[Span], known: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for &(f, u) in spans {
        let mut start = Some(f);
        for &(kf, ku) in known {
            let Some(s) = start else { break };
            // The known span ends before this piece starts, or starts after it ends.
            if ku.is_some_and(|ku| ku <= s) {
                continue;
            }
            if u.is_some_and(|u| u <= kf) {
                break;
            }
            if kf > s {
                out.push((s, Some(kf)));
            }
            start = ku;
        }
        if let Some(s) = start {
            if u.is_none_or(|u| s < u) {
                out.push((s, u));
            }
        }
    }
    out
}

/// The most items a walk down into a container lists.
pub const MAX_CONTENTS: usize = 4096;

/// One item inside a container: what, in which parent, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The item (EPC URI).
    pub item: String,
    /// The container it was directly in.
    pub parent: String,
    /// Inside from (device time, Unix ms): packed, or its parent's arrival in the root.
    pub from_ms: i64,
    /// Inside until; `None`: still inside.
    pub until_ms: Option<i64>,
    /// 1 for the root's direct contents, 2 for theirs, …
    pub depth: usize,
}

impl Content {
    /// Whether it was inside at some time in `[from, until]`.
    pub fn overlaps(&self, from: i64, until: i64) -> bool {
        self.from_ms <= until && self.until_ms.is_none_or(|u| u > from)
    }
}

/// What a walk down found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Every stay of an item inside, nearest first (a depth's items before the next depth's).
    pub items: Vec<Content>,
    /// A bound was hit: more items may be inside.
    pub truncated: bool,
}

impl Contents {
    /// What is inside now, per depth: the number of distinct items.
    pub fn now_per_depth(&self) -> Vec<usize> {
        let mut per: Vec<std::collections::BTreeSet<&str>> = Vec::new();
        for c in self.items.iter().filter(|c| c.until_ms.is_none()) {
            if per.len() < c.depth {
                per.resize_with(c.depth, Default::default);
            }
            per[c.depth - 1].insert(&c.item);
        }
        per.iter().map(|s| s.len()).collect()
    }
}

/// The walk from a container down through what was packed into it, one level per
/// [`ContentsWalk::step`], the mirror of [`ContainerWalk`]: the caller fetches the packing rows
/// whose parent is each wanted container (rows `(child, time, log index, ±1)`, sorted by time
/// then index). An item inside twice at once (a cycle, or packed into two containers of the
/// tree) is listed where it was found first.
#[derive(Debug)]
pub struct ContentsWalk {
    seen: std::collections::HashSet<String>,
    frontier: Vec<(String, Span)>,
    depth: usize,
    contents: Contents,
}

impl ContentsWalk {
    /// A walk down from `container`.
    pub fn new(container: &str) -> Self {
        ContentsWalk {
            seen: [container.to_string()].into(),
            frontier: vec![(container.to_string(), (i64::MIN, None))],
            depth: 0,
            contents: Contents::default(),
        }
    }

    /// The containers whose packing rows the next step needs.
    pub fn wanted(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.frontier.iter().map(|(c, _)| c.as_str()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Expands one level with `rows` (per wanted container, its children's packing rows).
    pub fn step(&mut self, rows: &HashMap<String, Vec<AggregationRow>>) {
        let frontier = std::mem::take(&mut self.frontier);
        if frontier.is_empty() {
            return;
        }
        if self.depth >= MAX_DEPTH {
            self.contents.truncated |= frontier.iter().any(|(c, _)| rows.contains_key(c));
            return;
        }
        self.depth += 1;
        let mut next = Vec::new();
        for (parent, (lo, hi)) in frontier {
            let Some(r) = rows.get(&parent) else { continue };
            // `intervals` groups by the row's first field: here the child.
            for (child, from, until) in intervals(r) {
                let f = from.max(lo);
                let u = match (until, hi) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if u.is_some_and(|u| u <= f) {
                    continue;
                }
                if self.contents.items.len() >= MAX_CONTENTS {
                    self.contents.truncated = true;
                    return;
                }
                let first = self.seen.insert(child.clone());
                if first {
                    next.push((child.clone(), (f, u)));
                }
                self.contents.items.push(Content {
                    item: child,
                    parent: parent.clone(),
                    from_ms: f,
                    until_ms: u,
                    depth: self.depth,
                });
            }
        }
        self.frontier = next;
    }

    /// Whether there is nothing left to expand.
    pub fn done(&self) -> bool {
        self.frontier.is_empty()
    }

    /// The caller could not fetch every row (it hit its own bound).
    pub fn mark_truncated(&mut self) {
        self.contents.truncated = true;
    }

    /// What the walk found.
    pub fn finish(self) -> Contents {
        self.contents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(parent: &str, time: i64, idx: i64, delta: i64) -> AggregationRow {
        (parent.to_string(), time, idx, delta)
    }

    #[test]
    fn spans_union_and_subtract() {
        assert_eq!(
            union(vec![(5, Some(9)), (1, Some(5)), (20, None)]),
            vec![(1, Some(9)), (20, None)]
        );
        assert_eq!(
            subtract(&[(0, Some(100))], &[(10, Some(20)), (50, None)]),
            vec![(0, Some(10)), (20, Some(50))]
        );
        assert_eq!(subtract(&[(i64::MIN, None)], &[]), vec![(i64::MIN, None)]);
        assert!(subtract(&[(10, Some(20))], &[(0, None)]).is_empty());
    }

    #[test]
    fn nested_containers_give_intersected_windows() {
        let mut rows = HashMap::new();
        rows.insert(
            "cell".to_string(),
            vec![row("pack", 10, 1, 1), row("pack", 50, 5, -1)],
        );
        rows.insert("pack".to_string(), vec![row("pallet", 20, 2, 1)]);
        let w = walk_in_memory("cell", &rows);
        assert!(!w.truncated);
        let got: Vec<_> = w
            .windows
            .iter()
            .map(|w| (w.container.as_str(), w.from_ms, w.until_ms, w.via.len()))
            .collect();
        assert_eq!(
            got,
            vec![("pack", 10, Some(50), 1), ("pallet", 20, Some(50), 2)]
        );
    }

    /// The attack: each container packed into two parents, twenty levels: forty signed events
    /// and 2^20 paths. Walked once per container, and the depth bound is reported.
    #[test]
    fn a_lattice_of_containers_costs_one_expansion_per_container() {
        let mut rows: HashMap<String, Vec<AggregationRow>> = HashMap::new();
        let name = |level: usize, side: usize| format!("c{level}{side}");
        rows.insert(
            "cell".into(),
            vec![row(&name(0, 0), 1, 0, 1), row(&name(0, 1), 1, 1, 1)],
        );
        for level in 0..20 {
            for side in 0..2 {
                rows.insert(
                    name(level, side),
                    vec![
                        row(&name(level + 1, 0), 2, 2, 1),
                        row(&name(level + 1, 1), 2, 3, 1),
                    ],
                );
            }
        }
        let w = walk_in_memory("cell", &rows);
        assert!(w.truncated, "twenty levels is beyond the depth bound");
        assert_eq!(w.windows.len(), 2 * MAX_DEPTH);
        // Wide lattices hit the container bound instead, still in bounded work.
        let mut wide: HashMap<String, Vec<AggregationRow>> = HashMap::new();
        let parents = |level: usize| -> Vec<AggregationRow> {
            (0..100)
                .map(|i| row(&format!("w{level}.{i}"), 1, i, 1))
                .collect()
        };
        wide.insert("cell".into(), parents(0));
        for level in 0..8 {
            for i in 0..100 {
                wide.insert(format!("w{level}.{i}"), parents(level + 1));
            }
        }
        let w = walk_in_memory("cell", &wide);
        assert!(w.truncated);
        assert!(w.windows.len() <= MAX_CONTAINERS);
    }

    #[test]
    fn a_container_reached_twice_adds_only_what_is_new() {
        // The cell is in the crate directly for [0, 10) and through the box for [5, 30).
        let mut rows = HashMap::new();
        rows.insert(
            "cell".to_string(),
            vec![
                row("crate", 0, 0, 1),
                row("box", 5, 1, 1),
                row("crate", 10, 2, -1),
            ],
        );
        rows.insert("box".to_string(), vec![row("crate", 0, 3, 1)]);
        let w = walk_in_memory("cell", &rows);
        let crate_windows: Vec<_> = w
            .windows
            .iter()
            .filter(|w| w.container == "crate")
            .map(|w| (w.from_ms, w.until_ms))
            .collect();
        assert_eq!(crate_windows, vec![(0, Some(10)), (10, None)]);
    }

    #[test]
    fn contents_walk_down_through_packs_to_cells_and_stops_at_cycles() {
        let row = |c: &str, t: i64, i: i64, d: i64| (c.to_string(), t, i, d);
        let mut rows: HashMap<String, Vec<AggregationRow>> = HashMap::new();
        rows.insert(
            "box".into(),
            vec![
                row("pack1", 10, 1, 1),
                row("pack2", 10, 2, 1),
                row("pack2", 50, 9, -1),
            ],
        );
        rows.insert(
            "pack1".into(),
            vec![row("cell1", 1, 3, 1), row("cell2", 1, 4, 1)],
        );
        rows.insert(
            "pack2".into(),
            vec![row("cell3", 1, 5, 1), row("box", 20, 6, 1)],
        );
        let mut w = ContentsWalk::new("box");
        while !w.done() {
            w.step(&rows);
        }
        let c = w.finish();
        assert!(!c.truncated);
        // pack2 left at 50; its cell went with it; the box packed into pack2 is not expanded again.
        assert_eq!(c.now_per_depth(), [1, 2]);
        let cell3 = c.items.iter().find(|x| x.item == "cell3").expect("cell3");
        assert_eq!(
            (cell3.from_ms, cell3.until_ms, cell3.depth),
            (10, Some(50), 2)
        );
        assert!(cell3.overlaps(40, 60) && !cell3.overlaps(50, 60));
        let cell1 = c.items.iter().find(|x| x.item == "cell1").expect("cell1");
        assert_eq!(
            (cell1.from_ms, cell1.until_ms, cell1.parent.as_str()),
            (10, None, "pack1")
        );
    }
}
