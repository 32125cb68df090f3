//! The history of an item: every event that names it, and every event of each container it was
//! inside while it was inside (a cell in a pack on a pallet in a container inherits the
//! container's seal, departure and customs events for exactly that time), with each event's
//! place in its signer's hash chain.
//!
//! The window and chain rules are pure functions ([`intervals`], [`chain_status`]); the
//! ledger only fetches rows for them.

use std::collections::{BTreeMap, HashMap};

use provenance_event::Kind;
use sqlx::QueryBuilder;

use crate::store::on_pool;
use crate::{Ledger, LedgerError};

// The container walk and the chain rules are custody's (pure, shared with the offline
// verifier); the views here only gather what they need from the index.
pub use provenance_custody::history::{AggregationRow, MAX_DEPTH, intervals};
pub use provenance_custody::rules::{ChainStatus, Window, chain_status, gap_explained};

/// One event of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// Log index.
    pub index: u64,
    /// The entry (COSE_Sign1) as anchored.
    pub bytes: Vec<u8>,
    /// Signer.
    pub device: String,
    /// Signer's seq.
    pub seq: u64,
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// Kind.
    pub kind: Kind,
    /// `None` when the event names the item; else the container window it came through.
    pub inherited: Option<Window>,
    /// The event's place in its signer's chain.
    pub chain: ChainStatus,
}

/// An item's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The item (EPC URI).
    pub item: String,
    /// The containers it was in, with when.
    pub containers: Vec<Window>,
    /// The container walk hit a bound (nesting, containers or windows): containers further out
    /// are not in the trace. Only a hostile packing graph gets there.
    pub containers_truncated: bool,
    /// Events in time order (then log order).
    pub entries: Vec<TraceEntry>,
    /// Events the index names but whose entries are gone from storage (deleted), in time
    /// order: what the index remembers of them. Only [`Ledger::trace_with_gaps`] returns any.
    pub missing: Vec<MissingEntry>,
    /// Entries naming the item that the index could not take (see
    /// [`Ledger::index_findings`]), by log index, with the problem.
    pub unindexed: Vec<IndexFinding>,
}

/// An entry the indexer could not index, and why: it breaks SPEC §3 (anchored before the rule
/// was enforced, or appended without validation), or repeats a signer's seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFinding {
    /// Log index.
    pub index: u64,
    /// What is wrong with it.
    pub problem: String,
}

impl IndexFinding {
    fn from_row((index, problem): (i64, String)) -> Self {
        IndexFinding {
            index: u64::try_from(index).unwrap_or(0),
            problem,
        }
    }
}

/// An event the index knows but whose log entry is no longer stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingEntry {
    /// Log index.
    pub index: u64,
    /// Signer, as indexed.
    pub device: String,
    /// Signer's seq, as indexed.
    pub seq: u64,
    /// Device time, Unix ms, as indexed.
    pub time_ms: i64,
    /// Kind, as indexed (`None` if the index holds an unknown code).
    pub kind: Option<Kind>,
    /// `None` when the event named the item; else the container window it came through.
    pub inherited: Option<Window>,
}

type EventMeta = (i64, String, i64, i64, i64);

/// The most items one [`Ledger::items_with_prefix`] call returns, whatever the caller asks.
pub const ITEMS_BY_PREFIX_MAX: u32 = 1000;

/// The smallest string above every string that starts with `prefix`: the prefix with its last
/// byte raised by one. `None` for an empty or non-ASCII prefix, or one ending in DEL (EPC URIs
/// are ASCII, so a product page never asks for one).
fn prefix_end(prefix: &str) -> Option<String> {
    let last = *prefix.as_bytes().last()?;
    if !prefix.is_ascii() || last >= 0x7f {
        return None;
    }
    let mut end = prefix[..prefix.len() - 1].to_string();
    end.push(char::from(last + 1));
    Some(end)
}

impl Ledger {
    /// The packing rows of `children`, each sorted by time then index: one query per chunk.
    async fn aggregation_rows(
        &self,
        children: &[&str],
    ) -> Result<HashMap<String, Vec<AggregationRow>>, LedgerError> {
        let mut out: HashMap<String, Vec<AggregationRow>> = HashMap::new();
        for chunk in children.chunks(500) {
            let rows: Vec<(String, String, i64, i64, i64)> = on_pool!(&self.index_read, p => {
                let mut q = QueryBuilder::new(
                    "SELECT child, parent, time_ms, idx, delta FROM aggregations WHERE child IN (",
                );
                let mut sep = q.separated(", ");
                for c in chunk {
                    sep.push_bind(*c);
                }
                q.push(") ORDER BY child, time_ms, idx");
                q.build_query_as().fetch_all(p).await?
            });
            for (child, parent, time, idx, delta) in rows {
                out.entry(child)
                    .or_default()
                    .push((parent, time, idx, delta));
            }
        }
        Ok(out)
    }

    /// The containers `item` was in, transitively, with the windows it spent in each: the
    /// bounded walk of [`provenance_custody::history`], one query per nesting level.
    pub async fn containers(
        &self,
        item: &str,
    ) -> Result<provenance_custody::history::Walk, LedgerError> {
        let mut walk = provenance_custody::history::ContainerWalk::new(item);
        while !walk.done() {
            let rows = self.aggregation_rows(&walk.wanted()).await?;
            walk.step(&rows);
        }
        Ok(walk.finish())
    }

    /// What was packed into `container`, transitively, with when each item was inside: the
    /// bounded walk of [`provenance_custody::history::ContentsWalk`], one query per level.
    pub async fn contents(
        &self,
        container: &str,
    ) -> Result<provenance_custody::history::Contents, LedgerError> {
        use provenance_custody::history::{ContentsWalk, MAX_CONTENTS};
        // Rows, not items, are what a query returns: a child packed and unpacked many times
        // has many. Four per listed item is past any honest history.
        const MAX_ROWS: i64 = 4 * MAX_CONTENTS as i64;
        let mut walk = ContentsWalk::new(container);
        while !walk.done() {
            let parents: Vec<String> = walk.wanted().iter().map(|s| s.to_string()).collect();
            let mut rows: HashMap<String, Vec<AggregationRow>> = HashMap::new();
            let mut fetched = 0i64;
            for chunk in parents.chunks(500) {
                let got: Vec<(String, String, i64, i64, i64)> = on_pool!(&self.index_read, p => {
                    let mut q = QueryBuilder::new(
                        "SELECT parent, child, time_ms, idx, delta FROM aggregations WHERE parent IN (",
                    );
                    let mut sep = q.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.as_str());
                    }
                    q.push(") ORDER BY parent, time_ms, idx LIMIT ");
                    q.push_bind(MAX_ROWS - fetched + 1);
                    q.build_query_as().fetch_all(p).await?
                });
                fetched += got.len() as i64;
                for (parent, child, time, idx, delta) in got {
                    rows.entry(parent)
                        .or_default()
                        .push((child, time, idx, delta));
                }
                if fetched > MAX_ROWS {
                    break;
                }
            }
            if fetched > MAX_ROWS {
                walk.mark_truncated();
                walk.step(&rows);
                break;
            }
            walk.step(&rows);
        }
        Ok(walk.finish())
    }

    async fn events_naming(&self, item: &str) -> Result<Vec<EventMeta>, LedgerError> {
        Ok(on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT e.idx, e.device, e.seq, e.time_ms, e.kind FROM item_events i \
                 JOIN events e ON e.idx = i.idx WHERE i.item = $1",
            )
            .bind(item)
            .fetch_all(p)
            .await?
        }))
    }

    /// The items the index knows whose EPC URI starts with `prefix`, in URI order, after
    /// `after` (exclusive) when given, at most `limit` of them (capped at
    /// [`ITEMS_BY_PREFIX_MAX`]): what a product page lists for a GTIN, whose items share
    /// `urn:epc:id:sgtin:<company prefix>.<indicator and item reference>.`.
    ///
    /// One range scan of the `item_events` primary key (`item >= prefix AND item < the next
    /// prefix`), stopped after `limit` distinct items, so its cost follows the rows returned,
    /// never the size of the index. (PostgreSQL compares the column with the "C" collation,
    /// see `0009_item_events_collate_c.sql`, so the range is the byte-wise prefix there too.)
    pub async fn items_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, LedgerError> {
        let Some(end) = prefix_end(prefix) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(ITEMS_BY_PREFIX_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Start just after `after` when it lies inside the range, else at the prefix.
        let (start, inclusive) = match after {
            Some(a) if a >= prefix => (a, false),
            _ => (prefix, true),
        };
        let sql = if inclusive {
            "SELECT DISTINCT item FROM item_events WHERE item >= $1 AND item < $2 \
             ORDER BY item LIMIT $3"
        } else {
            "SELECT DISTINCT item FROM item_events WHERE item > $1 AND item < $2 \
             ORDER BY item LIMIT $3"
        };
        let rows: Vec<(String,)> = on_pool!(&self.index_read, p => {
            sqlx::query_as(sql)
                .bind(start)
                .bind(end.as_str())
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        // The range is exactly the prefix for ASCII; the check keeps that true for any
        // collation a database might still use.
        Ok(rows
            .into_iter()
            .map(|(item,)| item)
            .filter(|item| item.starts_with(prefix))
            .collect())
    }

    /// How many items [`Ledger::items_with_prefix`] would list for `prefix`, counting at most
    /// `cap` (so a product with millions of items costs `cap` index rows, and the page says
    /// "more than").
    pub async fn count_items_with_prefix(
        &self,
        prefix: &str,
        cap: u32,
    ) -> Result<u64, LedgerError> {
        let Some(end) = prefix_end(prefix) else {
            return Ok(0);
        };
        let (n,): (i64,) = on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT DISTINCT item FROM item_events \
                 WHERE item >= $1 AND item < $2 ORDER BY item LIMIT $3) AS found",
            )
            .bind(prefix)
            .bind(end.as_str())
            .bind(i64::from(cap))
            .fetch_one(p)
            .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn unindexed_naming(&self, item: &str) -> Result<Vec<IndexFinding>, LedgerError> {
        let rows: Vec<(i64, String)> = on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT f.idx, f.problem FROM item_events i \
                 JOIN index_findings f ON f.idx = i.idx WHERE i.item = $1 ORDER BY f.idx",
            )
            .bind(item)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(IndexFinding::from_row).collect())
    }

    /// Entries the indexer could not index, in log order from `after` (exclusive), at most
    /// `limit`: what `verify --data` and the views report beside the storage audit.
    pub async fn index_findings(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<IndexFinding>, LedgerError> {
        let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let rows: Vec<(i64, String)> = on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT idx, problem FROM index_findings WHERE idx > $1 ORDER BY idx LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(IndexFinding::from_row).collect())
    }

    /// The chain status of the events at `indexes`.
    pub async fn chain_statuses(
        &self,
        indexes: &[i64],
    ) -> Result<HashMap<i64, ChainStatus>, LedgerError> {
        let mut out = HashMap::new();
        for chunk in indexes.chunks(5000) {
            type Row = (
                i64,
                String,
                i64,
                Vec<u8>,
                Option<i64>,
                Option<Vec<u8>>,
                Option<i64>,
            );
            let rows: Vec<Row> = on_pool!(&self.index_read, p => {
                let mut q = QueryBuilder::new(
                    "SELECT e.idx, e.device, e.seq, e.prev, e.dropped, p.hash, \
                     (SELECT MAX(q.seq) FROM events q WHERE q.device = e.device AND q.seq < e.seq) \
                     FROM events e LEFT JOIN events p ON p.device = e.device AND p.seq = e.seq - 1 \
                     WHERE e.idx IN (",
                );
                let mut sep = q.separated(", ");
                for i in chunk {
                    sep.push_bind(*i);
                }
                q.push(")");
                q.build_query_as().fetch_all(p).await?
            });
            // Unexplained gaps by signer: (log index, last missing seq).
            let mut gaps: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
            for (idx, device, seq, prev, dropped, pred, below) in rows {
                let prev: [u8; 32] = prev
                    .try_into()
                    .map_err(|_| LedgerError::Corrupt("prev length".into()))?;
                let pred: Option<[u8; 32]> = pred.and_then(|h| h.try_into().ok());
                let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
                let status = chain_status(
                    as_u64(seq),
                    &prev,
                    pred.as_ref(),
                    below.map(as_u64),
                    dropped.map(as_u64),
                );
                if let ChainStatus::Gap {
                    explained: false,
                    to,
                    ..
                } = status
                {
                    gaps.entry(device).or_default().push((idx, to));
                }
                out.insert(idx, status);
            }
            // Reports in the signer's later events may explain a gap. One pass per signer, not
            // one query per gap: a signer that skips a seq before every event once made a
            // trace cost a query (and a scan of its chain) per event.
            for (device, gaps) in gaps {
                let upto = gaps.iter().map(|(_, to)| *to).max().unwrap_or(0);
                let (reported, seqs): (i64, Vec<i64>) = on_pool!(&self.index_read, p => {
                    let reported: i64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(dropped), 0) AS BIGINT) FROM events \
                         WHERE device = $1",
                    )
                    .bind(&device)
                    .fetch_one(p)
                    .await?;
                    let seqs: Vec<i64> = sqlx::query_scalar(
                        "SELECT seq FROM events WHERE device = $1 AND seq <= $2 ORDER BY seq",
                    )
                    .bind(&device)
                    .bind(i64::try_from(upto).unwrap_or(i64::MAX))
                    .fetch_all(p)
                    .await?;
                    (reported, seqs)
                });
                let reported = u64::try_from(reported).unwrap_or(0);
                for (idx, to) in gaps {
                    let below = seqs.partition_point(|s| u64::try_from(*s).is_ok_and(|s| s <= to));
                    let present = u64::try_from(below).unwrap_or(u64::MAX);
                    if gap_explained(reported, to.saturating_sub(present)) {
                        if let Some(ChainStatus::Gap { explained, .. }) = out.get_mut(&idx) {
                            *explained = true;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn entry_bytes(&self, indexes: &[i64]) -> Result<HashMap<i64, Vec<u8>>, LedgerError> {
        let mut out = HashMap::new();
        for chunk in indexes.chunks(5000) {
            let rows: Vec<(i64, Vec<u8>)> = on_pool!(&self.store_read, p => {
                let mut q = QueryBuilder::new("SELECT idx, data FROM entries WHERE idx IN (");
                let mut sep = q.separated(", ");
                for i in chunk {
                    sep.push_bind(*i);
                }
                q.push(")");
                q.build_query_as().fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// The history of `item` (an EPC URI): its own events and those it inherits from its
    /// containers, in time order. An indexed event whose entry is gone from storage is an
    /// error ([`LedgerError::Corrupt`]): what is returned is all there is.
    pub async fn trace(&self, item: &str) -> Result<Trace, LedgerError> {
        let trace = self.trace_with_gaps(item).await?;
        match trace.missing.first() {
            Some(m) => Err(LedgerError::Corrupt(format!(
                "indexed entry {} is missing",
                m.index
            ))),
            None => Ok(trace),
        }
    }

    /// Like [`Ledger::trace`], but an indexed event whose entry was deleted from storage is
    /// listed in [`Trace::missing`] instead of failing the whole trace: the pages show the
    /// rest of the history with a gap where it was.
    pub async fn trace_with_gaps(&self, item: &str) -> Result<Trace, LedgerError> {
        let walk = self.containers(item).await?;
        let containers = walk.windows;
        let mut chosen: BTreeMap<i64, (EventMeta, Option<Window>)> = BTreeMap::new();
        for e in self.events_naming(item).await? {
            chosen.insert(e.0, (e, None));
        }
        // One query per container, however many windows it has.
        let mut by_container: BTreeMap<&str, Vec<&Window>> = BTreeMap::new();
        for w in &containers {
            by_container
                .entry(w.container.as_str())
                .or_default()
                .push(w);
        }
        for (container, windows) in by_container {
            for e in self.events_naming(container).await? {
                if let Some(w) = windows.iter().find(|w| w.contains(e.3)) {
                    chosen.entry(e.0).or_insert((e, Some((*w).clone())));
                }
            }
        }
        let indexes: Vec<i64> = chosen.keys().copied().collect();
        let statuses = self.chain_statuses(&indexes).await?;
        let mut bytes = self.entry_bytes(&indexes).await?;
        let mut entries = Vec::with_capacity(chosen.len());
        let mut missing = Vec::new();
        for (idx, ((_, device, seq, time_ms, kind), inherited)) in chosen {
            let Some(data) = bytes.remove(&idx) else {
                missing.push(MissingEntry {
                    index: idx as u64,
                    device,
                    seq: seq as u64,
                    time_ms,
                    kind: Kind::from_code(kind as u64),
                    inherited,
                });
                continue;
            };
            let kind = Kind::from_code(kind as u64)
                .ok_or_else(|| LedgerError::Corrupt(format!("event {idx} has kind {kind}")))?;
            entries.push(TraceEntry {
                index: idx as u64,
                bytes: data,
                device,
                seq: seq as u64,
                time_ms,
                kind,
                inherited,
                chain: statuses.get(&idx).copied().unwrap_or(ChainStatus::Linked),
            });
        }
        entries.sort_by_key(|e| (e.time_ms, e.index));
        missing.sort_by_key(|e| (e.time_ms, e.index));
        let unindexed = self.unindexed_naming(item).await?;
        Ok(Trace {
            item: item.to_string(),
            containers,
            containers_truncated: walk.truncated,
            entries,
            missing,
            unindexed,
        })
    }

    /// What a signer has settled in the index, in as many rows as its chain has runs rather
    /// than events: the runs of consecutive anchored seqs, and each drop report (seq of the
    /// reporting event, events it says were dropped). The ingest rebuilds a device's
    /// acknowledgement state from these when it first hears from it after a start.
    pub async fn settled_runs(&self, device: &str) -> Result<SettledRuns, LedgerError> {
        // Gaps and islands: within a run, seq minus its rank is constant.
        let runs: Vec<(i64, i64)> = on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT MIN(seq), MAX(seq) FROM \
                 (SELECT seq, seq - ROW_NUMBER() OVER (ORDER BY seq) AS run \
                  FROM events WHERE device = $1) AS ranked \
                 GROUP BY run ORDER BY 1",
            )
            .bind(device)
            .fetch_all(p)
            .await?
        });
        let reports: Vec<(i64, i64)> = on_pool!(&self.index_read, p => {
            sqlx::query_as(
                "SELECT seq, dropped FROM events \
                 WHERE device = $1 AND dropped > 0 ORDER BY seq",
            )
            .bind(device)
            .fetch_all(p)
            .await?
        });
        let as_u64 =
            |v: i64| u64::try_from(v).map_err(|_| LedgerError::Corrupt("negative seq".into()));
        Ok(SettledRuns {
            runs: runs
                .into_iter()
                .map(|(a, b)| Ok((as_u64(a)?, as_u64(b)?)))
                .collect::<Result<_, LedgerError>>()?,
            drop_reports: reports
                .into_iter()
                .map(|(a, b)| Ok((as_u64(a)?, as_u64(b)?)))
                .collect::<Result<_, LedgerError>>()?,
        })
    }

    /// A signer's events by seq with their chain status: what a device view shows.
    pub async fn device_chain(
        &self,
        device: &str,
    ) -> Result<Vec<(u64, u64, ChainStatus)>, LedgerError> {
        let idx: Vec<(i64, i64)> = on_pool!(&self.index_read, p => {
            sqlx::query_as("SELECT idx, seq FROM events WHERE device = $1 ORDER BY seq")
                .bind(device)
                .fetch_all(p)
                .await?
        });
        let indexes: Vec<i64> = idx.iter().map(|(i, _)| *i).collect();
        let st = self.chain_statuses(&indexes).await?;
        Ok(idx
            .into_iter()
            .map(|(i, s)| {
                (
                    s as u64,
                    i as u64,
                    st.get(&i).copied().unwrap_or(ChainStatus::Linked),
                )
            })
            .collect())
    }

    /// For each (device, seq): the anchored entry's index and hash, if any. Ingest uses this
    /// to tell re-sends (same bytes) from equivocation (other bytes).
    pub async fn find_events(
        &self,
        keys: &[(String, u64)],
    ) -> Result<Vec<Option<(u64, [u8; 32])>>, LedgerError> {
        // Appended but not yet indexed events first: the index trails the log.
        let pending: HashMap<(String, u64), (u64, [u8; 32])> = match self.pending.lock() {
            Ok(p) => keys
                .iter()
                .filter_map(|k| p.get(k).map(|v| (k.clone(), *v)))
                .collect(),
            Err(_) => HashMap::new(),
        };
        let mut found: HashMap<(String, i64), (i64, Vec<u8>)> = HashMap::new();
        for chunk in keys.chunks(2000) {
            let rows: Vec<(String, i64, i64, Vec<u8>)> = on_pool!(&self.index_read, p => {
                // A join with a VALUES list walks the (device, seq) index once per key; a long
                // OR chain would scan the table.
                let mut q = QueryBuilder::new("WITH k(device, seq) AS (");
                // A seq beyond i64 (only a raw append can carry one) matches no row.
                q.push_values(chunk.iter(), |mut b, (d, s)| {
                    b.push_bind(d.as_str())
                        .push_bind(i64::try_from(*s).unwrap_or(-1));
                });
                q.push(
                    ") SELECT e.device, e.seq, e.idx, e.hash FROM k \
                     JOIN events e ON e.device = k.device AND e.seq = k.seq",
                );
                q.build_query_as().fetch_all(p).await?
            });
            for (d, s, i, h) in rows {
                found.insert((d, s), (i, h));
            }
        }
        Ok(keys
            .iter()
            .map(|(d, s)| {
                if let Some(v) = pending.get(&(d.clone(), *s)) {
                    return Some(*v);
                }
                let s = i64::try_from(*s).ok()?;
                found
                    .get(&(d.clone(), s))
                    .and_then(|(i, h)| Some((*i as u64, <[u8; 32]>::try_from(h.as_slice()).ok()?)))
            })
            .collect())
    }
}

/// A signer's settled seqs as [`Ledger::settled_runs`] reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettledRuns {
    /// Runs of consecutive anchored seqs, `(first, last)` inclusive, in order.
    pub runs: Vec<(u64, u64)>,
    /// `(seq, dropped)` of each event that reports dropped events, in seq order.
    pub drop_reports: Vec<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_byte_plus_one() {
        assert_eq!(
            prefix_end("urn:epc:id:sgtin:4012345.012345.").as_deref(),
            Some("urn:epc:id:sgtin:4012345.012345/")
        );
        assert_eq!(prefix_end("a").as_deref(), Some("b"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("caf\u{e9}"), None);
        assert_eq!(prefix_end("a\u{7f}"), None);
    }

    #[test]
    fn gaps_are_explained_by_reports_oldest_first() {
        // Seqs 5..=9 lost (5 missing); the next event reports 0, five later ones 1 each.
        let next = chain_status(10, &[0; 32], None, Some(4), Some(0));
        assert_eq!(
            next,
            ChainStatus::Gap {
                from: 5,
                to: 9,
                explained: false
            }
        );
        assert!(gap_explained(5, 5), "the later reports cover it");
        assert!(!gap_explained(4, 5), "one missing seq is unaccounted for");
        // A second gap counts on top of the first.
        assert!(!gap_explained(6, 5 + 2));
        assert!(gap_explained(7, 5 + 2));
        // The event right after a gap may report it itself.
        let own = chain_status(10, &[0; 32], None, Some(4), Some(5));
        assert!(matches!(
            own,
            ChainStatus::Gap {
                explained: true,
                ..
            }
        ));
    }

    #[test]
    fn intervals_pair_packing_and_unpacking() {
        let rows = vec![
            ("pallet-1".to_string(), 100, 1, 1),
            ("pallet-1".to_string(), 200, 5, -1),
            ("pallet-2".to_string(), 250, 7, 1),
            ("pallet-3".to_string(), 260, 8, -1), // unpack without pack: ignored
        ];
        assert_eq!(
            intervals(&rows),
            vec![
                ("pallet-1".to_string(), 100, Some(200)),
                ("pallet-2".to_string(), 250, None)
            ]
        );
    }

    #[test]
    fn chain_rules() {
        let h = [7u8; 32];
        assert_eq!(
            chain_status(1, &[0; 32], None, None, None),
            ChainStatus::First
        );
        assert_eq!(
            chain_status(5, &h, Some(&h), Some(4), None),
            ChainStatus::Linked
        );
        assert_eq!(
            chain_status(5, &h, Some(&[8; 32]), Some(4), None),
            ChainStatus::PrevMismatch
        );
        assert_eq!(
            chain_status(9, &h, None, Some(5), None),
            ChainStatus::Gap {
                from: 6,
                to: 8,
                explained: false
            }
        );
        assert_eq!(
            chain_status(9, &h, None, Some(5), Some(3)),
            ChainStatus::Gap {
                from: 6,
                to: 8,
                explained: true
            }
        );
    }
}
