//! The storage audit inside the server: [`provenance_ledger::audit`] (what `provenance verify
//! --data` runs) on a background task, once at start and then every few minutes, and its
//! latest result for everything that shows the log: a banner on every page, a mark on each
//! event whose stored entry is affected, `GET /api/v1/audit`, and the
//! `provenance_audit_*` metrics.
//!
//! The audit reads the log in pages (bounded memory) and yields between signature checks, so
//! requests are served while it runs; the pause after a run is at least [`PAUSE_FACTOR`] times
//! as long as the run took, so on a large log it takes at most a fifth of a core. The result is
//! derived from the log on every run and nothing of it is stored: the ledger stays the truth.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use provenance_ledger::Ledger;
use provenance_ledger::audit::{self, Finding, Report};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::format;

/// How often the server audits its storage unless [`EVERY_ENV`] says otherwise.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);
/// The environment variable that sets the interval between audits, in seconds; `0` audits
/// only once, at start (`provenance serve --audit-every` reads the same variable).
pub const EVERY_ENV: &str = "PROVENANCE_AUDIT_EVERY";
/// The pause after an audit is at least this many times as long as the audit took.
pub const PAUSE_FACTOR: u32 = 4;
/// What the pages and the API tell people to run for the whole story.
pub const ADVICE: &str = "provenance verify --data DIR";
/// At most this many findings and affected entries are listed by `GET /api/v1/audit`.
const LIST_LIMIT: usize = 1000;

/// `300`, `5m`, `1h 30m`: plain seconds or a humantime duration (`0`: only at start), as
/// [`EVERY_ENV`] and `provenance serve --audit-every` take it.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(text.trim())
            .map_err(|e| format!("{e}; give seconds (300) or a duration such as 5m, 1h or 90s")),
    }
}

/// The interval from [`EVERY_ENV`], or [`DEFAULT_EVERY`]; `None` means once, at start.
pub fn every_from_env() -> Option<Duration> {
    let every = match std::env::var(EVERY_ENV) {
        Ok(v) => parse_interval(&v).unwrap_or_else(|e| {
            tracing::warn!(
                "{EVERY_ENV}: {e}; auditing every {} s",
                DEFAULT_EVERY.as_secs()
            );
            DEFAULT_EVERY
        }),
        Err(_) => DEFAULT_EVERY,
    };
    (!every.is_zero()).then_some(every)
}

/// One finished audit.
#[derive(Debug)]
pub struct Audit {
    /// When it started (Unix ms).
    pub started_ms: i64,
    /// When it finished (Unix ms).
    pub finished_ms: i64,
    /// What it found.
    pub report: Report,
    /// Entry index → positions in `report.findings` of the findings about that one entry.
    by_entry: BTreeMap<u64, Vec<usize>>,
    /// Findings about a range of more than one entry: (first, last, position).
    ranges: Vec<(u64, u64, usize)>,
}

impl Audit {
    /// Indexes the report's findings by the entries they concern.
    pub fn new(report: Report, started_ms: i64, finished_ms: i64) -> Self {
        let mut by_entry: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut ranges = Vec::new();
        for (i, f) in report.findings.iter().enumerate() {
            match f.entries() {
                Some((a, b)) if a == b => by_entry.entry(a).or_default().push(i),
                Some((a, b)) => ranges.push((a, b, i)),
                None => {}
            }
        }
        Self {
            started_ms,
            finished_ms,
            report,
            by_entry,
            ranges,
        }
    }

    /// Whether the stored log agrees with its checkpoints in every way checked.
    pub fn ok(&self) -> bool {
        self.report.ok()
    }

    /// The findings about entry `index`.
    pub fn findings_for(&self, index: u64) -> Vec<&Finding> {
        let mut out: Vec<&Finding> = self
            .by_entry
            .get(&index)
            .into_iter()
            .flatten()
            .map(|i| &self.report.findings[*i])
            .collect();
        out.extend(
            self.ranges
                .iter()
                .filter(|(a, b, _)| (*a..=*b).contains(&index))
                .map(|(_, _, i)| &self.report.findings[*i]),
        );
        out
    }

    /// How many entries some finding concerns.
    pub fn affected_entries(&self) -> u64 {
        let singles = self
            .by_entry
            .keys()
            .filter(|i| !self.ranges.iter().any(|(a, b, _)| (*a..=*b).contains(*i)))
            .count() as u64;
        // Ranges come from one kind of finding (entries past the newest checkpoint), which
        // never overlap one another.
        singles + self.ranges.iter().map(|(a, b, _)| b - a + 1).sum::<u64>()
    }

    /// The affected entries in log order, each with its findings, at most `limit` of them.
    fn affected(&self, limit: usize) -> Vec<(u64, Vec<&Finding>)> {
        let mut indexes: Vec<u64> = self.by_entry.keys().copied().take(limit).collect();
        for (a, b, _) in &self.ranges {
            indexes.extend((*a..=*b).take(limit));
        }
        indexes.sort_unstable();
        indexes.dedup();
        indexes.truncate(limit);
        indexes
            .into_iter()
            .map(|i| (i, self.findings_for(i)))
            .collect()
    }

    /// The findings no single entry carries (checkpoints, stored hashes above the leaves).
    pub fn unplaced(&self) -> impl Iterator<Item = &Finding> {
        self.report
            .findings
            .iter()
            .filter(|f| f.entries().is_none())
    }
}

/// The latest audit's outcome.
#[derive(Debug)]
pub enum Outcome {
    /// It ran to the end.
    Done(Audit),
    /// It could not (the database failed); the details are in the server log.
    Failed {
        /// When it started (Unix ms).
        started_ms: i64,
        /// When it gave up (Unix ms).
        finished_ms: i64,
        /// Why.
        error: String,
    },
}

/// What the auditor is doing and what it last found.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// An audit is under way.
    pub running: bool,
    /// Audits finished (done or failed) since the server started.
    pub runs: u64,
    /// The newest outcome, if any audit has finished yet.
    pub last: Option<Arc<Outcome>>,
    /// The interval between audits (`None`: only at start).
    pub every: Option<Duration>,
}

impl Status {
    /// The newest finished audit, if one ran to the end.
    pub fn audit(&self) -> Option<&Audit> {
        match self.last.as_deref() {
            Some(Outcome::Done(a)) => Some(a),
            _ => None,
        }
    }
}

/// A handle on the background auditor; clones share it. The auditor stops when the last
/// handle is dropped (the site is gone).
#[derive(Clone)]
pub struct Auditor {
    rx: watch::Receiver<Status>,
}

impl Auditor {
    /// Starts auditing `ledger`'s storage now and then every `every` (`None`: only now). With
    /// no tokio runtime to run on, nothing is started and the status stays empty.
    pub fn start(ledger: Arc<Ledger>, every: Option<Duration>) -> Self {
        let (tx, rx) = watch::channel(Status {
            every,
            ..Status::default()
        });
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(run(ledger, every, tx));
            }
            Err(_) => tracing::warn!("no async runtime: the storage audit is not running"),
        }
        Self { rx }
    }

    /// The status now.
    pub fn status(&self) -> Status {
        self.rx.borrow().clone()
    }

    /// Waits until `runs` audits have finished; for tests and tools.
    pub async fn wait_runs(&self, runs: u64) -> Status {
        let mut rx = self.rx.clone();
        let seen = rx.wait_for(|s| s.runs >= runs).await.map(|s| s.clone());
        seen.unwrap_or_else(|_| self.status())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn run(ledger: Arc<Ledger>, every: Option<Duration>, tx: watch::Sender<Status>) {
    loop {
        tx.send_modify(|s| s.running = true);
        let started_ms = now_ms();
        let clock = Instant::now();
        let audit = audit::audit(ledger.read_store(), ledger.verifier(), &[], |_, _| {});
        // Nobody left to tell (the site was dropped): stop, wherever the audit is.
        let result = tokio::select! {
            r = audit => r,
            () = tx.closed() => return,
        };
        let took = clock.elapsed();
        let finished_ms = now_ms();
        let outcome = match result {
            Ok(report) => {
                let a = Audit::new(report, started_ms, finished_ms);
                record(&a, took);
                if a.ok() {
                    tracing::info!(
                        entries = a.report.entries,
                        seconds = took.as_secs_f64(),
                        "storage audit: the stored log agrees with its checkpoints"
                    );
                } else {
                    tracing::error!(
                        findings = a.report.findings.len(),
                        affected_entries = a.affected_entries(),
                        first = %a.report.findings[0],
                        "storage audit: the stored log was tampered with; run `{ADVICE}` for the full report"
                    );
                }
                Outcome::Done(a)
            }
            Err(e) => {
                tracing::warn!(error = %e, "storage audit could not complete");
                metrics::counter!("provenance_audit_failures_total").increment(1);
                Outcome::Failed {
                    started_ms,
                    finished_ms,
                    error: e.to_string(),
                }
            }
        };
        tx.send_modify(|s| {
            s.running = false;
            s.runs += 1;
            s.last = Some(Arc::new(outcome));
        });
        let Some(every) = every else {
            return;
        };
        let pause = every.max(took.saturating_mul(PAUSE_FACTOR));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = tx.closed() => return,
        }
    }
}

/// The metrics of a finished audit.
fn record(a: &Audit, took: Duration) {
    metrics::gauge!("provenance_audit_findings").set(a.report.findings.len() as f64);
    metrics::gauge!("provenance_audit_affected_entries").set(a.affected_entries() as f64);
    metrics::gauge!("provenance_audit_entries_checked").set(a.report.entries as f64);
    metrics::gauge!("provenance_audit_last_run_timestamp_seconds")
        .set(a.finished_ms as f64 / 1000.0);
    metrics::gauge!("provenance_audit_duration_seconds").set(took.as_secs_f64());
}

tokio::task_local! {
    static CURRENT: Status;
}

/// Middleware: makes the auditor's status at the start of the request what [`current`]
/// returns while the request is handled, so a page's banner and its marks come from one audit
/// (and error pages, which have no state of their own, get the banner too).
pub async fn scope(State(auditor): State<Auditor>, req: Request, next: Next) -> Response {
    CURRENT.scope(auditor.status(), next.run(req)).await
}

/// The auditor's status for the request being handled (empty outside [`scope`]).
pub fn current() -> Status {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

/// The route of the audit's result.
pub fn routes(auditor: Auditor) -> Router {
    Router::new()
        .route("/api/v1/audit", get(audit_json))
        .with_state(auditor)
}

/// A short machine name for a finding (the `kind` in JSON).
pub fn kind(f: &Finding) -> &'static str {
    match f {
        Finding::BadCheckpoint { .. } => "bad_checkpoint",
        Finding::RootMismatch { .. } => "root_mismatch",
        Finding::EntryChanged {
            moved_from: None, ..
        } => "entry_changed",
        Finding::EntryChanged {
            moved_from: Some(_),
            ..
        } => "entry_moved",
        Finding::EntryMissing { .. } => "entry_missing",
        Finding::EntriesUncovered { .. } => "entries_uncovered",
        Finding::HashChanged { .. } => "hash_changed",
        Finding::TileMissing { .. } => "tile_missing",
        Finding::Undecodable { .. } => "undecodable",
        Finding::BadEventSignature { .. } => "bad_event_signature",
        Finding::BadRegistrySignature { .. } => "bad_registry_signature",
        Finding::ExternalCheckpoint { .. } => "external_checkpoint",
    }
}

/// What a finding means for the one entry it concerns, in words for a page: a short tag
/// (also the mark's CSS word) and a sentence.
pub fn mark(f: &Finding) -> (&'static str, String) {
    match f {
        Finding::EntryChanged {
            moved_from: None, ..
        } => (
            "edited",
            "edited in storage after it was anchored: what is shown is not what the log signed"
                .into(),
        ),
        Finding::EntryChanged {
            moved_from: Some(from),
            ..
        } => (
            "moved",
            format!(
                "moved in storage: the entry stored at this position was anchored as log #{from}, \
                 so what is shown here is not what the log signed at this position"
            ),
        ),
        Finding::EntryMissing { .. } => ("deleted", "deleted from storage".into()),
        Finding::EntriesUncovered { .. } => (
            "inserted",
            "inserted into storage: no signed checkpoint covers it".into(),
        ),
        Finding::HashChanged { .. } => (
            "hash",
            "its hash in the stored Merkle tree was edited: the entry still matches the signed \
             checkpoints, but proofs and evidence bundles served for it fail"
                .into(),
        ),
        Finding::Undecodable { problem, .. } => (
            "undecodable",
            format!("the stored entry is not valid: {problem}"),
        ),
        Finding::BadEventSignature { problem, .. } => (
            "signature",
            format!("its signature does not verify: {problem}"),
        ),
        Finding::BadRegistrySignature { .. } => (
            "signature",
            "registry entry not signed by the log's key".into(),
        ),
        Finding::RootMismatch { .. }
        | Finding::BadCheckpoint { .. }
        | Finding::TileMissing { .. }
        | Finding::ExternalCheckpoint { .. } => ("log", f.to_string()),
    }
}

/// The audit's findings counted in sentences for the banner: first those marked on events,
/// then those no single event carries.
pub fn summary(a: &Audit) -> (Vec<String>, Vec<String>) {
    let mut placed: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut unplaced: BTreeMap<&'static str, u64> = BTreeMap::new();
    for f in &a.report.findings {
        let (bucket, key, n) = match f {
            Finding::EntryChanged {
                moved_from: None, ..
            } => (&mut placed, "1 edited", 1),
            Finding::EntryChanged { .. } => (&mut placed, "2 moved", 1),
            Finding::EntryMissing { .. } => (&mut placed, "3 deleted", 1),
            Finding::EntriesUncovered { from, to } => (&mut placed, "4 inserted", to - from + 1),
            Finding::HashChanged { level: 0, .. } => (&mut placed, "5 leaf hash", 1),
            Finding::BadEventSignature { .. } | Finding::BadRegistrySignature { .. } => {
                (&mut placed, "6 signature", 1)
            }
            Finding::Undecodable { .. } => (&mut placed, "7 undecodable", 1),
            Finding::BadCheckpoint { .. } => (&mut unplaced, "1 checkpoint", 1),
            Finding::RootMismatch { .. } => (&mut unplaced, "2 root", 1),
            Finding::HashChanged { .. } => (&mut unplaced, "3 node hash", 1),
            Finding::TileMissing { .. } => (&mut unplaced, "4 tile", 1),
            Finding::ExternalCheckpoint { .. } => (&mut unplaced, "5 external", 1),
        };
        *bucket.entry(key).or_default() += n;
    }
    let words = |key: &str, n: u64| -> String {
        let s = |one: &str, many: &str| {
            if n == 1 {
                one.to_string()
            } else {
                many.to_string()
            }
        };
        match key {
            "1 edited" => format!("{n} {} edited after anchoring", s("entry", "entries")),
            "2 moved" => format!("{n} {} moved to another position", s("entry", "entries")),
            "3 deleted" => format!("{n} {} deleted", s("entry", "entries")),
            "4 inserted" => format!(
                "{n} {} inserted that no checkpoint covers",
                s("entry", "entries")
            ),
            "5 leaf hash" => format!(
                "{n} stored entry {} edited in the Merkle tree (the entries are intact; their \
                 proofs fail)",
                s("hash", "hashes")
            ),
            "6 signature" => format!("{n} {} not verify", s("signature does", "signatures do")),
            "7 undecodable" => format!("{n} {} not valid", s("entry is", "entries are")),
            "1 checkpoint" => format!(
                "{n} stored {} not verify with the log's key",
                s("checkpoint does", "checkpoints do")
            ),
            "2 root" => format!(
                "{n} signed {} whose root the stored entries no longer give",
                s("checkpoint", "checkpoints")
            ),
            "3 node hash" => format!(
                "{n} stored Merkle tree {} over many entries edited (the entries are intact; \
                 proofs that use {} fail)",
                s("hash", "hashes"),
                s("it", "them")
            ),
            "4 tile" => format!("{n} stored Merkle {} missing or short", s("tile", "tiles")),
            _ => format!(
                "{n} {} the log no longer agrees with",
                s("external checkpoint", "external checkpoints")
            ),
        }
    };
    let say = |m: BTreeMap<&'static str, u64>| m.into_iter().map(|(k, n)| words(k, n)).collect();
    (say(placed), say(unplaced))
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "kind": kind(f),
        "message": f.to_string(),
        "entries": f.entries().map(|(from, to)| json!({ "from": from, "to": to })),
    })
}

/// `GET /api/v1/audit`: the newest audit's result.
async fn audit_json(State(auditor): State<Auditor>) -> Response {
    let s = auditor.status();
    let mut body = json!({
        "state": match s.last.as_deref() {
            None => "pending",
            Some(Outcome::Done(a)) if a.ok() => "ok",
            Some(Outcome::Done(_)) => "tampered",
            Some(Outcome::Failed { .. }) => "failed",
        },
        "running": s.running,
        "runs": s.runs,
        "every_seconds": s.every.map(|d| d.as_secs_f64()),
        "advice": format!("run `{ADVICE}` for the full report"),
    });
    match s.last.as_deref() {
        Some(Outcome::Done(a)) => {
            let affected: Vec<Value> = a
                .affected(LIST_LIMIT)
                .into_iter()
                .map(|(index, fs)| {
                    json!({
                        "index": index,
                        "kinds": fs.iter().map(|f| kind(f)).collect::<Vec<_>>(),
                        "reasons": fs.iter().map(|f| mark(f).1).collect::<Vec<_>>(),
                    })
                })
                .collect();
            body["last"] = json!({
                "started": format::rfc3339(a.started_ms),
                "started_ms": a.started_ms,
                "finished_ms": a.finished_ms,
                "ok": a.ok(),
                "tree_size": a.report.tree_size,
                "entries_checked": a.report.entries,
                "checkpoints_checked": a.report.checkpoints,
                "signatures_checked": a.report.signatures,
                "findings_total": a.report.findings.len(),
                "findings": a.report.findings.iter().take(LIST_LIMIT).map(finding_json).collect::<Vec<_>>(),
                "affected_entries_total": a.affected_entries(),
                "affected_entries": affected,
                "not_tied_to_entries": a.unplaced().take(LIST_LIMIT).map(finding_json).collect::<Vec<_>>(),
            });
        }
        Some(Outcome::Failed {
            started_ms,
            finished_ms,
            error,
        }) => {
            body["last"] = json!({
                "started": format::rfc3339(*started_ms),
                "started_ms": started_ms,
                "finished_ms": finished_ms,
                "error": error,
            });
        }
        None => {}
    }
    Json(body).into_response()
}
