//! The trace page of an item: `GET /items/{id}` (EPC URI), and the same page under its GS1
//! Digital Link paths `GET /01/{gtin}/21/{serial}` and `GET /00/{sscc}`, which the resolver
//! (`crate::resolver`) answers with [`render_with`].
//!
//! Top to bottom it answers a clerk's questions in the order they ask them: what is this
//! (identity, QR code), is it all right (the custody verdict), where did it go (route), how
//! was it treated (temperature and shock against their limits), what happened when (the
//! timeline), who held it, what it was packed in, and where to download the records.
//!
//! When the server's storage audit ([`crate::audit`]) found tampering, each event whose stored
//! entry is affected carries a red mark with the reason, and an event the index knows but
//! whose entry was deleted (or no longer decodes) is shown as a gap in the timeline. The mark
//! goes by log index, the key both the index and the audit use, so an entry edited under the
//! index's feet is marked where the page shows it.

use crate::PublicUrl;
use provenance_ledger::witnessed::Anchoring;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use provenance_custody::rules::{
    ChainStatus, CustodyReport, Limits, SealState, Severity, TraceEvent, Verdict, assess,
};
use provenance_event::{Epc, Kind, Quantity, Scheme};
use provenance_ledger::evidence::trace_events;
use provenance_ledger::registry::DeviceInfo;
use provenance_ledger::trace::{Trace, Window};
use sha2::{Digest, Sha256};

use super::PageError;
use super::history;
use super::layout::{Footer, page};
use crate::api::AppState;
use crate::audit;
use crate::format;
use crate::lookup;
use crate::svg::{self, Chart, Fix, Sample};
use provenance_custody::history::Contents;

/// An EPC URI as one URL path segment. EPC URIs may hold `%`-escapes of their own (a serial
/// with `/`), so everything outside a small safe set is escaped again.
pub(crate) fn encode(item: &str) -> String {
    let mut out = String::with_capacity(item.len());
    for b in item.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// What a change to an item's history looks like: a digest of its entries, their chain
/// status and its containers. The live stream compares it with the page's to decide whether
/// the page is stale.
pub(crate) fn version(trace: &Trace) -> String {
    let mut h = Sha256::new();
    for e in &trace.entries {
        h.update(e.index.to_be_bytes());
        h.update(format!("{:?}", e.chain).as_bytes());
    }
    for w in &trace.containers {
        h.update(format!("{}|{}|{:?}", w.container, w.from_ms, w.until_ms).as_bytes());
    }
    for m in &trace.missing {
        h.update(format!("missing {}", m.index).as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// The query of an item page: `?all=1` opens every fold of the journey.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    all: Option<String>,
}

impl PageQuery {
    fn all(&self) -> bool {
        self.all
            .as_deref()
            .is_some_and(|a| a != "0" && a != "false")
    }
}

/// `GET /items/{id}`.
pub async fn item(
    State(s): State<AppState>,
    Path(id): Path<String>,
    public: Option<Extension<PublicUrl>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Result<Response, PageError> {
    let all = query.all();
    let public = public.map(|Extension(p)| p);
    let epc = Epc::parse(id.trim()).map_err(|e| {
        PageError::BadRequest(format!(
            "“{id}” is not an EPC URI ({e}). Item pages are at /items/ followed by an EPC \
             URI such as urn:epc:id:sgtin:4012345.012345.1001; the search box accepts more forms."
        ))
    })?;
    if !lookup::is_item(&epc) {
        return Err(PageError::BadRequest(format!(
            "{epc} names a place or a party, not an item."
        )));
    }
    render_with(&s, &epc, link_base(public.as_ref(), &headers), all).await
}

/// The base of the links this page prints for others to follow (the Digital Link in its QR
/// code): the server's configured public URL. Without one (the web crate used on its own),
/// the request's host only when it names this machine (`localhost`, a loopback address), so
/// a request with `Host: evil.example` never puts that domain into a printed label.
pub(crate) fn link_base(public: Option<&PublicUrl>, headers: &HeaderMap) -> String {
    if let Some(p) = public {
        return p.as_str().to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_loopback_host(h))
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// `localhost`, `127.x.y.z` or `[::1]`, with an optional port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Everything the page shows, gathered once.
pub(super) struct View {
    /// Every fold of the journey open (`?all=1`).
    pub(super) all: bool,
    /// What was packed into it, transitively.
    pub(super) contents: Contents,
    /// Each event's time by log index: findings name indexes, and a page looks each up once
    /// per finding, not by a scan of the events.
    pub(super) time_of: std::collections::HashMap<u64, i64>,
    /// The excursion episode each event begins, by log index.
    pub(super) episode_from: std::collections::HashMap<u64, usize>,
    /// The operator's names of places and parties.
    pub(super) places: provenance_ledger::places::Places,
    pub(super) epc: Epc,
    pub(super) item: String,
    pub(super) trace: Trace,
    pub(super) events: Vec<TraceEvent>,
    /// Indexed events the page cannot show: their entries are gone or no longer decode.
    pub(super) gaps: Vec<Gap>,
    /// What the latest storage audit says about the entries shown, by log index: (tag, why).
    pub(super) tamper: BTreeMap<u64, Vec<(&'static str, String)>>,
    pub(super) registry: Vec<DeviceInfo>,
    pub(super) report: CustodyReport,
    pub(super) version: String,
    pub(super) link: String,
    /// Each event's anchoring in witnessed time, by log index (empty without witnesses).
    pub(super) anchorings: BTreeMap<u64, Anchoring>,
    /// How many witnesses the log waits for.
    pub(super) quorum: usize,
}

/// An event of the item's index whose stored entry cannot be shown.
pub(super) struct Gap {
    index: u64,
    time_ms: i64,
    device: String,
    seq: u64,
    kind: Option<Kind>,
    /// The entry was deleted (else: it is stored but does not decode as an event).
    deleted: bool,
}

/// The indexed events the trace could not turn into events for the page.
fn gaps(trace: &Trace, events: &[TraceEvent]) -> Vec<Gap> {
    let shown: std::collections::BTreeSet<u64> = events.iter().map(|e| e.index).collect();
    let mut out: Vec<Gap> = trace
        .missing
        .iter()
        .map(|m| Gap {
            index: m.index,
            time_ms: m.time_ms,
            device: m.device.clone(),
            seq: m.seq,
            kind: m.kind,
            deleted: true,
        })
        .chain(
            trace
                .entries
                .iter()
                .filter(|e| !shown.contains(&e.index))
                .map(|e| Gap {
                    index: e.index,
                    time_ms: e.time_ms,
                    device: e.device.clone(),
                    seq: e.seq,
                    kind: Some(e.kind),
                    deleted: false,
                }),
        )
        .collect();
    out.sort_by_key(|g| (g.time_ms, g.index));
    out
}

/// The latest audit's marks on the entries of this trace.
fn tamper_marks(trace: &Trace) -> BTreeMap<u64, Vec<(&'static str, String)>> {
    let status = audit::current();
    let Some(a) = status.audit() else {
        return BTreeMap::new();
    };
    trace
        .entries
        .iter()
        .map(|e| e.index)
        .chain(trace.missing.iter().map(|m| m.index))
        .filter_map(|i| {
            let marks: Vec<_> = a.findings_for(i).into_iter().map(audit::mark).collect();
            (!marks.is_empty()).then_some((i, marks))
        })
        .collect()
}

/// The trace page of `epc`, its Digital Link and QR code under `link_base`, with every fold of
/// the journey open when `all`.
pub(crate) async fn render_with(
    s: &AppState,
    epc: &Epc,
    link_base: String,
    all: bool,
) -> Result<Response, PageError> {
    crate::reads::index_caught_up(&s.ledger).await;
    // With gaps: a deleted entry must not hide the rest of the history.
    let trace = s.ledger.trace_with_gaps(&epc.to_string()).await?;
    let registry = s.ledger.devices().await?;
    render_loaded(s, epc, link_base, all, trace, registry).await
}

/// As [`render_with`], with the trace (with gaps) and the registry already read.
pub(crate) async fn render_loaded(
    s: &AppState,
    epc: &Epc,
    link_base: String,
    all: bool,
    trace: Trace,
    registry: Vec<DeviceInfo>,
) -> Result<Response, PageError> {
    let item = epc.to_string();
    let events = trace_events(&trace, &registry);
    let cp = s.ledger.latest_checkpoint().await;
    if crate::access::item_access(&item, &events) == provenance_access::ItemAccess::Public
        && !events.is_empty()
    {
        let places = s.ledger.places().await?;
        let footer = Footer {
            size: cp.checkpoint.size,
            key: s.ledger.verifier().to_string(),
        };
        let title = format!("{} {}", what_it_is(epc), item);
        let body = public_view(epc, &item, &events, &places, cp.checkpoint.size, &link_base);
        return Ok((StatusCode::OK, page(&title, true, Some(&footer), body)).into_response());
    }
    let mut report = assess(&item, &events, &Limits::default());
    let indexes: Vec<u64> = events.iter().map(|e| e.index).collect();
    let anchorings = s.ledger.anchorings(&indexes).await?;
    // Each event against the time the witnesses vouch it was in the log by: the same rule the
    // offline verifier applies with the bundle's checkpoint, here with each event's own
    // (tighter) window.
    let dated_late: Vec<_> = events
        .iter()
        .filter_map(|e| {
            let t = anchorings
                .get(&e.index)?
                .by
                .as_ref()?
                .vouched_by(s.ledger.witness_quorum().max(1))?;
            provenance_custody::rules::dated_after_witnessed(e.index, &e.signer.id, e.time_ms, t)
        })
        .collect();
    report.add_findings(&events, dated_late);
    let contents = s.ledger.contents(&item).await?;
    let places = s.ledger.places().await?;
    let time_of = events.iter().map(|e| (e.index, e.time_ms)).collect();
    let episode_from = report
        .excursions
        .iter()
        .enumerate()
        .filter_map(|(i, ep)| Some((*ep.indexes.first()?, i)))
        .collect();
    let view = View {
        time_of,
        episode_from,
        places,
        all,
        contents,
        quorum: s.ledger.witness_quorum().max(1),
        anchorings,
        epc: epc.clone(),
        version: version(&trace),
        link: format!("{link_base}{}", epc.digital_link_path()),
        gaps: gaps(&trace, &events),
        tamper: tamper_marks(&trace),
        item,
        trace,
        events,
        registry,
        report,
    };
    let footer = Footer {
        size: cp.checkpoint.size,
        key: s.ledger.verifier().to_string(),
    };
    let status = if view.events.is_empty() && view.gaps.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let title = format!("{} {}", what_it_is(&view.epc), view.item);
    Ok((status, page(&title, true, Some(&footer), body(&view))).into_response())
}

/// What the public tier sees of an item (issue #14): who made it, where and when, each fact
/// with the log entry that states it and its inclusion proof; nothing of its journey.
fn public_view(
    epc: &Epc,
    item: &str,
    events: &[TraceEvent],
    places: &provenance_ledger::places::Places,
    size: u64,
    link_base: &str,
) -> Markup {
    let facts: Vec<TraceEvent> = events
        .iter()
        .filter_map(|e| {
            let v = provenance_access::visibility(provenance_access::ItemAccess::Public, e);
            provenance_access::redact(e, v)
        })
        .collect();
    let link = format!("{link_base}{}", epc.digital_link_path());
    html! {
        main #content {
            section.identity aria-labelledby="item-title" {
                div.id-text {
                    p.kicker { (match epc.scheme() { Scheme::Sscc => "Consignment (pallet or container)", _ => "Item" }) }
                    h1 #item-title { (heading(epc)) }
                    p.epc-line { "EPC " code.epc { (item) } }
                    dl.facts { dt { "GS1 Digital Link" } dd { a.dl href=(link) { (link) } } }
                }
            }
            section.panel.public-view aria-labelledby="public-h" {
                h2 #public-h { "Public facts" }
                @if facts.is_empty() {
                    p { "The log holds no public fact about this item yet (its making is recorded by a " code { "commissioned" } " event)." }
                }
                ul.public-facts {
                    @for e in &facts {
                        li data-index=(e.index) {
                            strong { (format::kind(e.kind)) }
                            " by " (e.signer.org.as_deref().map_or(e.signer.id.as_str(), |o| org_name(o).0))
                            @if let Some(p) = &e.place {
                                " at " (places.name_of(p).unwrap_or(p.as_str()))
                            }
                            " on " (format::utc(e.time_ms))
                            @if !e.readings.is_empty() {
                                " · "
                                @for (i, (q, v)) in e.readings.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    (format::quantity(*q)) " " (format::reading(*q, *v))
                                }
                            }
                            " · "
                            a href={"/api/v1/proofs/inclusion?index=" (e.index) "&size=" (size)} { "proof that log entry " (e.index) " is in the log" }
                        }
                    }
                }
                p.small { "The journey, who held it, its conditions and the custody verdict are shown to the organisations involved in it and to authorities. " a href="/login" { "Log in with a read token" } "." }
            }
        }
    }
}

fn what_it_is(epc: &Epc) -> &'static str {
    match epc.scheme() {
        Scheme::Sscc => "Consignment",
        _ => "Item",
    }
}

fn body(v: &View) -> Markup {
    let enc = encode(&v.item);
    html! {
        main #content data-live={"/items/" (enc) "/live?v=" (v.version)} data-events=(v.events.len())
            data-last=(v.events.iter().map(|e| e.index).max().unwrap_or(0)) {
            (identity(v))
            (unindexed(v))
            @if v.events.is_empty() && v.gaps.is_empty() {
                section.panel {
                    h2 { "No events yet" }
                    p { "The log holds no event about this item yet. This page updates by itself when one is anchored (with JavaScript on; otherwise reload it)." }
                }
            } @else {
                (verdict(v))
                nav.toc aria-label="On this page" {
                    a href="#route" { "Route" } a href="#conditions" { "Conditions" }
                    a href="#journey" { "Journey" } a href="#custody" { "Custody" }
                    a href="#containers" { "Containers" } a href="#downloads" { "Downloads" }
                }
                (route(v))
                (conditions(v))
                (history::journey(v))
                (custody(v))
                (containers(v))
            }
            (downloads(v))
        }
    }
}

/// Entries that name this item but that the index could not take: they break SPEC §3 or
/// repeat a signer's seq, so they are not in the history below. Said plainly, not hidden.
fn unindexed(v: &View) -> Markup {
    html! {
        @if !v.trace.unindexed.is_empty() {
            section.panel.warn aria-labelledby="unindexed-h" {
                h2 #unindexed-h { "Log entries left out of this history" }
                p { "These entries are in the log and name this item, but break the event rules, so they are not part of the history below." }
                ul {
                    @for f in &v.trace.unindexed {
                        li { "Entry " (f.index) ": " (f.problem) }
                    }
                }
            }
        }
    }
}

fn identity(v: &View) -> Markup {
    let key = v.epc.gs1_key();
    html! {
        section.identity aria-labelledby="item-title" {
            div.id-text {
                p.kicker { (match v.epc.scheme() { Scheme::Sscc => "Consignment (pallet or container)", _ => "Item" }) }
                h1 #item-title { (heading(&v.epc)) }
                p.epc-line { "EPC " code.epc { (v.item) } }
                dl.facts {
                    @match v.epc.scheme() {
                        Scheme::Sscc => { dt { "SSCC" } dd { code { (key) } } }
                        _ => {
                            dt { "GTIN" } dd { code { (key) } }
                            dt { "Serial" } dd { code { (v.epc.serial()) } }
                        }
                    }
                    dt { "GS1 Digital Link" } dd { a.dl href=(v.link) { (v.link) } }
                }
            }
            @if let Some(qr) = qr(&v.link) {
                figure.qr {
                    (qr)
                    figcaption { "Scan to open this page" }
                }
            }
        }
    }
}

/// What people call the item: its serial and GTIN, or its SSCC; the EPC URI goes below.
pub(crate) fn heading(epc: &Epc) -> String {
    match epc.scheme() {
        Scheme::Sscc => format!("Consignment {}", epc.gs1_key()),
        Scheme::Sgtin => format!("Serial {} of GTIN {}", epc.serial(), epc.gs1_key()),
        _ => epc.to_string(),
    }
}

/// A QR code of `text` as inline SVG: one path of dark modules, four modules of quiet zone.
pub(crate) fn qr(text: &str) -> Option<Markup> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let width = code.width();
    let mut d = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let _ = write!(d, "M{} {}h1v1h-1z", i % width + 4, i / width + 4);
        }
    }
    let size = width + 8;
    Some(html! {
        svg.qrcode viewBox={"0 0 " (size) " " (size)} role="img" shape-rendering="crispEdges"
            xmlns="http://www.w3.org/2000/svg" {
            title { "QR code of " (text) }
            rect width=(size) height=(size) fill="#fff" {}
            path d=(d) fill="#000" {}
        }
    })
}

/// The verdict's look: CSS class, symbol, and words (colour is never the only signal).
fn verdict_words(v: Verdict) -> (&'static str, &'static str, &'static str) {
    match v {
        Verdict::Pass => ("pass", "✔", "PASS"),
        Verdict::Warnings => ("warnings", "⚠", "PASS WITH WARNINGS"),
        Verdict::Fail => ("fail", "✘", "FAIL"),
    }
}

fn severity_words(s: Severity) -> (&'static str, &'static str, &'static str) {
    match s {
        Severity::Info => ("info", "ℹ", "Note"),
        Severity::Warning => ("warning", "⚠", "Warning"),
        Severity::Failure => ("failure", "✘", "Failure"),
    }
}

fn seal_words(r: &CustodyReport) -> Markup {
    let inspected_later =
        r.seal.broken_at.is_some() && !r.customs.iter().all(|c| c.kind != "inspected");
    html! {
        @match r.seal.state {
            SealState::Unsealed => "never sealed",
            SealState::Sealed => "sealed, unbroken",
            SealState::Broken => {
                "broken while sealed"
                @if inspected_later { ", before customs inspected it" } @else { ", with no inspection before it" }
                @if let Some(i) = r.seal.broken_at { " " (index_links(&[i])) }
            }
            SealState::Inspected => "intact from sealing to inspection",
        }
    }
}

/// The decision summary: one status, the verdict beside it, the customs acts in order, and
/// what needs a person's attention. Status, seal and customs lines all come from the one
/// custody report, so they cannot contradict each other.
fn verdict(v: &View) -> Markup {
    let r = &v.report;
    let (class, symbol, words) = verdict_words(r.verdict);
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    let sentence = match r.verdict {
        Verdict::Pass => {
            "Every record is signed and anchored, and the chain of custody holds.".to_string()
        }
        Verdict::Warnings => format!(
            "The chain of custody holds, but {} to look at.",
            plural(count(Severity::Warning), "warning")
        ),
        Verdict::Fail => format!(
            "The chain of custody does not hold: {}.",
            plural(count(Severity::Failure), "failure")
        ),
    };
    let st = &r.status;
    let j = &r.journey;
    let important: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    html! {
        section.verdict.(class) aria-labelledby="verdict-title" {
            h2 #verdict-title {
                span.symbol aria-hidden="true" { (symbol) }
                " Chain of custody: " strong { (words) }
            }
            p.status data-stage=(serde_json::to_value(st.stage).ok().and_then(|x| x.as_str().map(str::to_string)).unwrap_or_default()) {
                strong.stage { (capitalised(st.stage.words())) }
                @if let Some(t) = st.since_ms { " since " (format::utc(t)) }
                @if let Some(p) = &st.place { " at " (place_words(p, v)) }
                @if let Some(h) = &st.holder {
                    " · in the custody of " (holder_words(h, v))
                }
                @if let Some(i) = st.index { " " (index_links(&[i])) }
            }
            p.sentence { (sentence) }
            @if !v.tamper.is_empty() || !v.gaps.is_empty() {
                @let n = v.tamper.keys().chain(v.gaps.iter().map(|g| &g.index)).collect::<std::collections::BTreeSet<_>>().len();
                p.tamper-note role="note" {
                    span aria-hidden="true" { "✘ " }
                    strong { (plural(n, "event")) " of this history " (if n == 1 { "is" } else { "are" }) " affected by tampering with the stored log" }
                    " (marked below). This judgement reads the entries as they are stored now."
                }
            }
            dl.summary {
                @if let (Some(a), Some(b)) = (j.first_ms, j.last_ms) {
                    dt { "Journey" }
                    dd {
                        (format::utc(a)) " to " (format::utc(b)) " (" (format::duration(b - a)) "), "
                        (plural(j.events, "event"))
                        @if !r.legs.is_empty() { " in " (plural(r.legs.len(), "leg")) }
                    }
                }
                dt { "Seal" } dd { (seal_words(r)) }
                dt { "Customs" }
                dd {
                    @if r.customs.is_empty() { "no inspection, hold or release recorded" }
                    ol.customs-steps {
                        @for c in &r.customs {
                            li {
                                strong { (customs_words(&c.kind)) } " " (format::utc(c.time_ms)) " by " (c.by)
                                " " (index_links(&[c.index]))
                            }
                        }
                    }
                }
                @if !v.contents.items.is_empty() {
                    dt { "Contents" } dd { (contents_words(&v.contents)) " · " a href="#contents" { "what is inside" } }
                }
            }
            @if !important.is_empty() {
                ul.findings {
                    @for f in important {
                        @let (fc, fs, fw) = severity_words(f.severity);
                        li.(fc) {
                            span.tag { span aria-hidden="true" { (fs) } " " (fw) }
                            span.msg { (finding_words(f, v)) (index_links(&f.indexes)) (affected(f, v)) }
                        }
                    }
                }
            }
            @if v.epc.scheme() == Scheme::Sscc {
                p { a.button href={"/customs/" (encode(&v.item))} { "Open the customs view" } " (the offline verification of the evidence file)" }
            }
        }
    }
}

/// A customs act in words.
fn customs_words(kind: &str) -> &str {
    match kind {
        "inspected" => "Inspected",
        "held" => "Held",
        "cleared" => "Released (cleared)",
        other => other,
    }
}

/// "4 items inside now (16 more inside those)".
fn contents_words(c: &Contents) -> String {
    let per = c.now_per_depth();
    let direct = per.first().copied().unwrap_or(0);
    let deeper: usize = per.iter().skip(1).sum();
    let mut out = format!("{} inside now", plural(direct, "item"));
    if deeper > 0 {
        out.push_str(&format!(" ({deeper} more inside those)"));
    }
    if c.truncated {
        out.push_str(", and more beyond what one page lists");
    }
    out
}

/// The items inside a container when a finding happened: whom it concerns.
fn affected(f: &provenance_custody::Finding, v: &View) -> Markup {
    let times: Vec<i64> = f
        .indexes
        .iter()
        .filter_map(|i| v.time_of.get(i).copied())
        .collect();
    let (Some(from), Some(until)) = (times.iter().min(), times.iter().max()) else {
        return html! {};
    };
    let mut items: Vec<&str> = v
        .contents
        .items
        .iter()
        .filter(|c| c.overlaps(*from, *until))
        .map(|c| c.item.as_str())
        .collect();
    items.sort_unstable();
    items.dedup();
    html! {
        @if !items.is_empty() {
            details.affected {
                summary { "Concerns " (plural(items.len(), "item")) " inside at the time" }
                ul {
                    @for i in items.iter().take(200) { li { (item_link(i)) } }
                    @if items.len() > 200 { li { "and " (items.len() - 200) " more" } }
                }
            }
        }
    }
}

/// A finding in words, with names where the rule's particulars allow them.
fn finding_words(f: &provenance_custody::Finding, v: &View) -> Markup {
    match &f.rule {
        provenance_custody::Rule::Handover { from, to } => html! {
            "Custody passed from " (holder_words(from, v)) " to " (party(to, v))
        },
        _ => html! { (capitalised(&f.message)) },
    }
}

/// A place's name alone when the operator or the registry knows it (the code as a tooltip),
/// else the code: for headings, where the code beside the name would crowd it out.
pub(super) fn place_short(uri: &str, v: &View) -> Markup {
    match v
        .places
        .name_of(uri)
        .or_else(|| party_org(uri, &v.registry))
    {
        Some(name) => html! { span title=(uri) { (name) } },
        None => html! { code { (uri) } },
    }
}

/// A holder as people know it: the organisation's name (from the registry for a party URI).
pub(super) fn holder_words(h: &str, v: &View) -> Markup {
    if h.starts_with("urn:epc:id:") {
        return party(h, v);
    }
    let (name, _) = org_name(h);
    html! { (name) }
}

/// A place (SGLN URI) as people know it: the organisation it belongs to, with the code.
pub(super) fn place_words(uri: &str, v: &View) -> Markup {
    party(uri, v)
}

fn index_links(indexes: &[u64]) -> Markup {
    html! {
        @if !indexes.is_empty() {
            " "
            span.where {
                "("
                @for (i, ix) in indexes.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={"#ev-" (ix)} { "log #" (ix) }
                }
                ")"
            }
        }
    }
}

/// `1 reading`, `2 readings`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A finding's sentence as a sentence: the rules write them in lower case to be embedded.
pub(crate) fn capitalised(s: &str) -> String {
    // A sentence may begin with a device ID (`tracker-7 reported …`), which keeps its case.
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.chars().all(char::is_alphabetic) {
        return s.to_string();
    }
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An organisation as registered, split into its name and the GS1 party URI it may carry
/// (`"Blue Sea Lines urn:epc:id:pgln:4012345.00002"`).
pub(crate) fn org_name(org: &str) -> (&str, Option<&str>) {
    match org.find("urn:epc:id:") {
        Some(i) => {
            let urn = org[i..].split_whitespace().next().unwrap_or("");
            let name = org[..i].trim();
            (if name.is_empty() { urn } else { name }, Some(urn))
        }
        None => (org, None),
    }
}

/// The registered organisation a GS1 party (PGLN or SGLN) belongs to: same company prefix
/// and party reference, as the custody rules match them.
fn party_org<'a>(party: &str, registry: &'a [DeviceInfo]) -> Option<&'a str> {
    let p = Epc::parse(party).ok()?;
    registry.iter().find_map(|d| {
        let (name, urn) = org_name(&d.org);
        let o = Epc::parse(urn?).ok()?;
        (o.company_prefix() == p.company_prefix() && o.reference() == p.reference()).then_some(name)
    })
}

/// A place or party as people know it: the operator's name for the GLN, else the registered
/// organisation it belongs to; the code stays beside the name, as the checkable fact.
fn party(uri: &str, v: &View) -> Markup {
    let name = v
        .places
        .name_of(uri)
        .or_else(|| party_org(uri, &v.registry));
    html! {
        @match name {
            Some(name) => { (name) " " span.urn { "(" (uri) ")" } }
            None => { code { (uri) } }
        }
    }
}

fn item_link(uri: &str) -> Markup {
    html! { a href={"/items/" (encode(uri))} { code { (uri) } } }
}

fn route(v: &View) -> Markup {
    let mut fixes: Vec<Fix> = Vec::new();
    for e in &v.events {
        let label = match e.kind {
            Kind::Departed => Some("Departed"),
            Kind::Arrived => Some("Arrived"),
            Kind::Inspected | Kind::Held | Kind::Cleared => Some("Customs"),
            Kind::SealBroken => Some("Seal broken"),
            Kind::Excursion => Some("Excursion"),
            Kind::HandedOver => Some("Handover"),
            _ => None,
        };
        let alert = matches!(e.kind, Kind::SealBroken | Kind::Excursion);
        match (e.position, fixes.last_mut()) {
            (Some((lat, lon)), _) => fixes.push(Fix {
                lat: f64::from(lat) / 1e7,
                lon: f64::from(lon) / 1e7,
                time_ms: e.time_ms,
                label: label.map(str::to_string),
                detail: format!(
                    "{}: {} · {}",
                    format::utc(e.time_ms),
                    format::kind(e.kind),
                    format::position((lat, lon))
                ),
                alert,
            }),
            // An event without a fix (customs at a desk) happened where the last fix was.
            (None, Some(last)) if label.is_some() && e.time_ms >= last.time_ms => {
                let l = label.unwrap_or_default();
                match &mut last.label {
                    Some(existing) if !existing.contains(l) => {
                        existing.push_str(" · ");
                        existing.push_str(l);
                    }
                    Some(_) => {}
                    None => last.label = Some(l.to_string()),
                }
            }
            _ => {}
        }
    }
    html! {
        section #route aria-labelledby="route-h" {
            h2 #route-h { "Route" }
            @match svg::route(&fixes) {
                Some(map) => {
                    figure.map {
                        (map)
                        figcaption {
                            "Drawn from " (fixes.len()) " GNSS position fixes in time order. "
                            span.key-start { "●" } " start, " span.key-end { "■" } " end, "
                            span.key-alert { "●" } " excursion or seal alert. No map background: the server works offline."
                        }
                    }
                }
                None => { p { "No GNSS position was reported for this item." } }
            }
        }
    }
}

fn series(v: &View, q: Quantity, scale: f64, limit: impl Fn(i64) -> bool) -> Vec<Sample> {
    v.events
        .iter()
        .filter_map(|e| {
            let raw = e.readings.iter().find(|(k, _)| *k == q)?.1;
            Some(Sample {
                time_ms: e.time_ms,
                value: raw as f64 / scale,
                index: e.index,
                outside: limit(raw),
                reported: e.kind == Kind::Excursion,
            })
        })
        .collect()
}

fn conditions(v: &View) -> Markup {
    let l = &v.report.limits;
    let span = (
        v.events.first().map_or(0, |e| e.time_ms),
        v.events.last().map_or(0, |e| e.time_ms),
    );
    let temperature = series(v, Quantity::Temperature, 1000.0, |t| {
        t < l.temperature_min_mc || t > l.temperature_max_mc
    });
    let shock = series(v, Quantity::Shock, 1000.0, |s| s > l.shock_max_mg);
    let humidity = series(v, Quantity::Humidity, 10.0, |h| {
        l.humidity_max_permille.is_some_and(|m| h > m)
    });
    let charts = [
        Chart {
            id: "chart-temperature",
            title: "Temperature",
            unit: "°C",
            samples: temperature,
            low: Some(l.temperature_min_mc as f64 / 1000.0),
            high: Some(l.temperature_max_mc as f64 / 1000.0),
            span,
            from_zero: false,
        },
        Chart {
            id: "chart-shock",
            title: "Peak shock",
            unit: "g",
            samples: shock,
            low: None,
            high: Some(l.shock_max_mg as f64 / 1000.0),
            span,
            from_zero: true,
        },
        Chart {
            id: "chart-humidity",
            title: "Humidity",
            unit: "% RH",
            samples: humidity,
            low: None,
            high: l.humidity_max_permille.map(|h| h as f64 / 10.0),
            span,
            from_zero: true,
        },
    ];
    html! {
        section #conditions aria-labelledby="conditions-h" {
            h2 #conditions-h { "Conditions" }
            p { "Judged against the " strong { (l.profile) } " limits. The shaded band is the acceptable range; readings outside it are drawn large and red, with their value." }
            div.charts {
                @for c in &charts {
                    @if !c.samples.is_empty() {
                        figure.chart-box {
                            figcaption.chart-title { strong { (c.title) " (" (c.unit) ")" } " · " (plural(c.samples.len(), "reading")) }
                            (svg::chart(c))
                            figcaption.legend {
                                span.key-sample { "●" } " reading"
                                @if c.samples.iter().any(|s| s.reported && !s.outside) {
                                    " · " span.key-reported { "●" } " reported as an excursion by the device, within the limits"
                                }
                                @if c.samples.iter().any(|s| s.outside) {
                                    " · " span.key-alert { "●" } " outside the limits"
                                }
                                @if c.low.is_some() || c.high.is_some() {
                                    " · " span.key-band { "■" } " acceptable range · " span.key-limit { "- -" } " limit"
                                }
                            }
                        }
                    } @else if c.id != "chart-humidity" {
                        p.none { "No " (c.title.to_lowercase()) " readings on this journey." }
                    }
                }
            }
        }
    }
}

fn chain_words(c: &ChainStatus) -> (&'static str, String) {
    match *c {
        ChainStatus::First => ("ok", "first event of this device".into()),
        ChainStatus::Linked => ("ok", "device chain intact".into()),
        ChainStatus::Gap {
            from,
            to,
            explained: true,
        } => (
            "warn",
            format!("device events {from}–{to} were dropped (the device reported it)"),
        ),
        ChainStatus::Gap { from, to, .. } => (
            "bad",
            format!("device chain broken: its events {from}–{to} are missing"),
        ),
        ChainStatus::PrevMismatch => (
            "bad",
            "device chain broken: does not link to the device's previous event".into(),
        ),
    }
}

/// One sentence about what happened, where the kind alone does not say it.
fn what_happened(e: &TraceEvent, v: &View) -> Option<Markup> {
    let org = e.signer.org.as_deref().map(|o| org_name(o).0);
    let by = |verb: &str| html! { (verb) " by " (org.unwrap_or(e.signer.id.as_str())) "." };
    Some(match e.kind {
        Kind::Packed => match &e.parent {
            Some(p) if *p == v.item => html! { "Packed into this consignment." },
            Some(p) => html! { "Packed into " (item_link(p)) "." },
            None => return None,
        },
        Kind::Unpacked => match &e.parent {
            Some(p) if *p == v.item => html! { "Taken out of this consignment." },
            Some(p) => html! { "Taken out of " (item_link(p)) "." },
            None => return None,
        },
        Kind::HandedOver => match &e.party {
            Some(p) => html! { "Custody passed to " (party(p, v)) "." },
            None => return None,
        },
        Kind::Commissioned => by("Commissioned"),
        Kind::Inspected => by("Inspected"),
        Kind::Held => by("Held"),
        Kind::Cleared => by("Released (cleared)"),
        Kind::Excursion => html! { "The device reported conditions outside its own limits." },
        Kind::SealBroken => html! { "The seal was found broken." },
        Kind::Decommissioned => html! { "Taken out of service." },
        _ => return None,
    })
}

/// One line of the timeline: an event, or a gap where an indexed event cannot be shown.
pub(super) enum Row<'a> {
    Event(&'a TraceEvent),
    Gap(&'a Gap),
}

/// Events and gaps merged in time order (then log order).
pub(super) fn rows(v: &View) -> Vec<Row<'_>> {
    let mut rows: Vec<(i64, u64, Row<'_>)> = v
        .events
        .iter()
        .map(|e| (e.time_ms, e.index, Row::Event(e)))
        .chain(v.gaps.iter().map(|g| (g.time_ms, g.index, Row::Gap(g))))
        .collect();
    rows.sort_by_key(|(t, i, _)| (*t, *i));
    rows.into_iter().map(|(_, _, r)| r).collect()
}

/// The red mark on an entry the storage audit found affected: the reasons, in words.
fn tamper_mark(marks: &[(&'static str, String)]) -> Markup {
    html! {
        div.tamper role="note" {
            p.tamper-head {
                span aria-hidden="true" { "✘ " }
                strong { "Storage tampering" } " (found by the server's storage audit):"
            }
            ul {
                @for (tag, why) in marks {
                    li data-mark=(tag) { (capitalised(why)) "." }
                }
            }
        }
    }
}

/// The words of the `data-tampered` attribute: each mark's tag once, in order.
fn tamper_tags(marks: &[(&'static str, String)]) -> String {
    let mut tags: Vec<&str> = Vec::new();
    for (t, _) in marks {
        if !tags.contains(t) {
            tags.push(t);
        }
    }
    tags.join(" ")
}

pub(super) fn gap(g: &Gap, v: &View) -> Markup {
    let mut marks = v.tamper.get(&g.index).cloned().unwrap_or_default();
    if marks.is_empty() {
        // Seen directly, before (or without) an audit saying so.
        marks.push(if g.deleted {
            ("deleted", "deleted from storage".to_string())
        } else {
            (
                "undecodable",
                "the stored entry does not decode as an event".to_string(),
            )
        });
    }
    html! {
        li.event.gap.tampered #{"ev-" (g.index)} data-index=(g.index) data-tampered=(tamper_tags(&marks)) {
            div.when {
                time datetime=(format::rfc3339(g.time_ms)) {
                    span.date { (format::date(g.time_ms)) } " " span.clock { (format::clock(g.time_ms)) }
                }
            }
            div.what {
                h3 {
                    @if g.deleted { "Missing event" } @else { "Unreadable event" }
                }
                p {
                    "The log's index records "
                    @match g.kind { Some(k) => { "a " strong { (format::kind(k)) } " event" }, None => { "an event" } }
                    " signed by " code { (g.device) } " (its event " (g.seq) ") as "
                    a href={"/api/v1/log/entries?start=" (g.index) "&end=" (g.index + 1)} { "log #" (g.index) }
                    @if g.deleted { ", but that entry is no longer stored." } @else { ", but the stored entry is not a valid event." }
                }
                (tamper_mark(&marks))
            }
        }
    }
}

pub(super) fn event(e: &TraceEvent, v: &View) -> Markup {
    let (chain_class, chain) = chain_words(&e.chain);
    let marks = v
        .tamper
        .get(&e.index)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // An intact entry whose stored tree hash was edited is still what the log signed.
    let intact = marks.iter().all(|(tag, _)| *tag == "hash");
    let chain_class = if intact { chain_class } else { "bad" };
    // Other items the event names; for an inherited event, the container is said below.
    let via = e.inherited.as_ref().map(|w| w.container.as_str());
    let others: Vec<&String> = e
        .items
        .iter()
        .filter(|i| **i != v.item && Some(i.as_str()) != via)
        .collect();
    html! {
        li.event.(format::stage(e.kind)).tampered[!marks.is_empty()] #{"ev-" (e.index)} data-index=(e.index) data-kind=(e.kind.name())
            data-tampered=[(!marks.is_empty()).then(|| tamper_tags(marks))] {
            div.when {
                time datetime=(format::rfc3339(e.time_ms)) {
                    span.date { (format::date(e.time_ms)) } " " span.clock { (format::clock(e.time_ms)) }
                }
            }
            div.what {
                h3 {
                    (format::kind(e.kind))
                    @if let Some(w) = &e.inherited {
                        " " span.badge.inherited { "via container" }
                        span.visually-hidden { " " (w.container) }
                    }
                }
                @if let Some(s) = what_happened(e, v) { p { (s) } }
                @if let Some(ep) = v.episode_from.get(&e.index).and_then(|&i| v.report.excursions.get(i)) {
                    p.episode {
                        "Start of an excursion: "
                        (plural(ep.indexes.len(), "report"))
                        @if let Some(p) = ep.peak { ", peak " (format::reading_of(&ep.quantity, p)) }
                        ", " (format::duration(ep.duration_ms()))
                        @if ep.back_ms.is_none() && ep.indexes.len() > 1 { " or more" }
                        @if ep.crossed { " beyond the limits" } @else { " within the limits" }
                        "."
                    }
                }
                dl.facts {
                    dt { "Signed by" }
                    dd {
                        code { (e.signer.id) }
                        @if let Some(role) = &e.signer.role { " · " (format::role(role)) }
                        @if let Some(org) = &e.signer.org {
                            @let (name, urn) = org_name(org);
                            " · " (name)
                            @if let Some(u) = urn { " " span.urn { "(" (u) ")" } }
                        }
                        @if e.signer.role.is_none() { " · " strong.bad { "not in the registry" } }
                    }
                    @if e.place.is_some() || e.position.is_some() {
                        dt { "Place" }
                        dd {
                            @if let Some(p) = &e.place { (party(p, v)) }
                            @if e.place.is_some() && e.position.is_some() { " · " }
                            @if let Some(pos) = e.position { (format::position(pos)) }
                        }
                    }
                    @if !e.readings.is_empty() {
                        dt { "Readings" }
                        dd {
                            ul.readings {
                                @for (q, val) in &e.readings {
                                    li title=(format::raw_reading(*q, *val)) {
                                        (format::quantity(*q)) " " strong { (format::reading(*q, *val)) }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(d) = &e.doc { dt { "Document" } dd { code { (d) } } }
                    @if !others.is_empty() {
                        dt { "Items" }
                        dd {
                            @for (i, item) in others.iter().take(5).enumerate() {
                                @if i > 0 { ", " }
                                (item_link(item))
                            }
                            @if others.len() > 5 { " and " (others.len() - 5) " more" }
                        }
                    }
                    @if let Some(w) = &e.inherited {
                        dt { "Inherited from" }
                        dd {
                            (item_link(&w.container)) " "
                            span.window {
                                "(this item was inside it from " (format::utc(w.from_ms))
                                @match w.until_ms { Some(u) => { " until " (format::utc(u)) ")" }, None => { ")" } }
                            }
                        }
                    }
                    @if let Some(d) = e.dropped { dt { "Dropped" } dd { (d) " earlier event(s) lost on the device (queue full)" } }
                }
                @if !marks.is_empty() { (tamper_mark(marks)) }
                p.verify.(chain_class) {
                    span aria-hidden="true" { (if chain_class == "ok" { "✔" } else if chain_class == "warn" { "⚠" } else { "✘" }) }
                    @if intact {
                        " Signature verified · anchored as "
                    } @else {
                        " Not what the log anchored · stored as "
                    }
                    a href={"/api/v1/log/entries?start=" (e.index) "&end=" (e.index + 1)} { "log #" (e.index) }
                    " · " (chain)
                }
                @if let Some(a) = v.anchorings.get(&e.index) { (witnessed(e, a, v.quorum)) }
            }
        }
    }
}

/// How long before its witnessed anchoring an event may say it happened before the page
/// warns: boards keep events through offline spells (a sea leg without coverage lasts days),
/// but a week is past what their flash queue holds at the usual rates.
const LATE_ANCHORING_MS: i64 = 7 * 24 * 3600 * 1000;

/// "Anchored by T, witnessed by A and B": the time independent witnesses vouch the event was
/// in the log by (their earliest cosignature on the first cosigned checkpoint holding it), and
/// a warning when the device's own time is later than that.
fn witnessed(e: &TraceEvent, a: &Anchoring, quorum: usize) -> Markup {
    let Some(by) = &a.by else {
        return html! { p.witnessed.pending { "Not yet witnessed: no witness has cosigned a checkpoint holding it yet." } };
    };
    let names: Vec<&str> = by.cosignatures.iter().map(|c| c.name()).collect();
    let Some(t) = by.vouched_by(quorum) else {
        return html! {
            p.witnessed.pending {
                "Cosigned by " (format::and_list(&names)) " only, fewer than the "
                (quorum) " witnesses this log waits for."
            }
        };
    };
    let t_ms = i64::try_from(t)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let ahead = e.time_ms.saturating_sub(t_ms);
    // The checkpoint before it is dated by the log's own clock: a claim, said as such.
    let after_ms = a.after.as_ref().and_then(|w| w.signed_ms);
    let behind = after_ms.map_or(0, |a| a.saturating_sub(e.time_ms));
    html! {
        p.witnessed {
            "Anchored by " (format::utc(t_ms)) ", witnessed by " (format::and_list(&names))
            @if let Some(a_ms) = after_ms {
                span.small { " (after the log's checkpoint of " (format::utc(a_ms)) ", by the log's clock)" }
            }
        }
        @if ahead > provenance_custody::rules::CLOCK_SKEW_ALLOWANCE_MS {
            p.verify.warn {
                span aria-hidden="true" { "⚠" }
                " The device's time is " (format::duration(ahead)) " after the witnesses saw this event in the log: its clock is ahead, or the event was dated after the fact."
            }
        }
        @if behind > LATE_ANCHORING_MS {
            p.verify.warn {
                span aria-hidden="true" { "⚠" }
                " The device's time is " (format::duration(behind)) " before a checkpoint the log signed without this event: it reached the log at least that late (a long offline spell, or back-dated)."
            }
        }
    }
}

fn custody(v: &View) -> Markup {
    let r = &v.report;
    html! {
        section #custody aria-labelledby="custody-h" {
            h2 #custody-h { "Chain of custody" }
            h3 { "Who held it" }
            table.holders {
                thead { tr { th scope="col" { "Holder" } th scope="col" { "From" } th scope="col" { "Until" } } }
                tbody {
                    @for p in &r.custody {
                        @let (name, urn) = org_name(&p.holder);
                        tr {
                            td { (name) @if let Some(u) = urn.or(p.party.as_deref()) { " " span.urn { "(" (u) ")" } } }
                            td { (format::utc(p.from_ms)) }
                            td { @match p.until_ms { Some(u) => (format::utc(u)), None => strong { "now" } } }
                        }
                    }
                }
            }
            p { strong { "Seal: " } (seal_words(r)) "." }
            h3 { "Notes" }
            @let notes: Vec<_> = r.findings.iter().filter(|f| f.severity == Severity::Info).collect();
            @if r.findings.iter().any(|f| f.severity != Severity::Info) {
                p { "Warnings and failures are listed once, in the summary at the top of the page." }
            }
            @if notes.is_empty() {
                p { "Nothing else to note." }
            } @else {
                ul.findings.all {
                    @for f in notes {
                        @let (fc, fs, fw) = severity_words(f.severity);
                        li.(fc) {
                            span.tag { span aria-hidden="true" { (fs) } " " (fw) }
                            span.msg { (finding_words(f, v)) (index_links(&f.indexes)) }
                        }
                    }
                }
            }
        }
    }
}

/// The containers of the item as a tree (item → pack → pallet → container), each with the
/// window the item spent inside.
fn tree(windows: &[Window], path: &[String]) -> Markup {
    let children: Vec<&Window> = windows
        .iter()
        .filter(|w| w.via.len() == path.len() + 1 && w.via.starts_with(path))
        .collect();
    html! {
        @if !children.is_empty() {
            ul {
                @for w in children {
                    li {
                        "in " (item_link(&w.container)) " "
                        span.window {
                            "from " (format::utc(w.from_ms))
                            @match w.until_ms { Some(u) => { " until " (format::utc(u)) }, None => { ", still inside" } }
                        }
                        (tree(windows, &w.via))
                    }
                }
            }
        }
    }
}

fn containers(v: &View) -> Markup {
    let c = &v.contents;
    let earlier: Vec<_> = c
        .items
        .iter()
        .filter(|x| x.depth == 1 && x.until_ms.is_some())
        .collect();
    html! {
        section #containers aria-labelledby="containers-h" {
            h2 #containers-h { "Containers and contents" }
            @if v.trace.containers_truncated {
                p.warn { "The packing records of this item go beyond what one page walks (nesting, number of containers or windows): containers further out are not shown, and their events are not in this history." }
            }
            @if v.trace.containers.is_empty() && c.items.is_empty() {
                p { "Not packed into anything, and nothing packed into it." }
            }
            @if !v.trace.containers.is_empty() {
                p { "Events of a container count for what is inside it, for the time it is inside." }
                div.tree {
                    code { (v.item) } " (this item)"
                    (tree(&v.trace.containers, &[]))
                }
            }
            @if !c.items.is_empty() {
                div #contents {
                    h3 { "What is inside" }
                    p { (capitalised(&contents_words(c))) "." }
                    (content_tree(c, &v.item, 1))
                    @if !earlier.is_empty() {
                        details.earlier {
                            summary { (plural(earlier.len(), "item")) " taken out earlier" }
                            ul.contents {
                                @for x in earlier.iter().take(200) {
                                    li {
                                        (item_link(&x.item)) " "
                                        span.window {
                                            "from " (format::utc(x.from_ms))
                                            @if let Some(u) = x.until_ms { " until " (format::utc(u)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What is inside `parent` now, as a tree (a level's first 200).
fn content_tree(c: &Contents, parent: &str, depth: usize) -> Markup {
    let inside: Vec<_> = c
        .items
        .iter()
        .filter(|x| x.depth == depth && x.parent == parent && x.until_ms.is_none())
        .collect();
    html! {
        @if !inside.is_empty() {
            ul.contents {
                @for x in inside.iter().take(200) {
                    @let below = c.items.iter().filter(|y| y.depth == depth + 1 && y.parent == x.item && y.until_ms.is_none()).count();
                    li {
                        (item_link(&x.item))
                        span.window { " since " (format::utc(x.from_ms)) }
                        @if below > 0 {
                            details {
                                summary { (below) " inside it" }
                                (content_tree(c, &x.item, depth + 1))
                            }
                        }
                    }
                }
                @if inside.len() > 200 { li { "and " (inside.len() - 200) " more" } }
            }
        }
    }
}

fn downloads(v: &View) -> Markup {
    let enc = encode(&v.item);
    html! {
        section #downloads aria-labelledby="downloads-h" {
            h2 #downloads-h { "Downloads" }
            ul.downloads {
                li { a href={"/api/v1/items/" (enc) "/trace"} { "JSON trace" } " · every event with signer, place, readings, log index and the custody findings" }
                li { a href={"/api/v1/items/" (enc) "/epcis"} { "EPCIS 2.0 (JSON-LD)" } " · for GS1 EPCIS systems" }
                @if !v.events.is_empty() {
                    li { a href={"/api/v1/items/" (enc) "/evidence"} download { "Evidence bundle" } " · one file anyone can verify offline with " code { "provenance verify --bundle" } }
                }
                @if v.epc.scheme() == Scheme::Sscc {
                    li { a href={"/customs/" (enc)} { "Customs view" } " · the offline verification of the evidence bundle, section by section" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_one_path_segment() {
        assert_eq!(
            encode("urn:epc:id:sgtin:4012345.012345.A%2FB"),
            "urn:epc:id:sgtin:4012345.012345.A%252FB"
        );
        assert_eq!(encode("a/b?c#d"), "a%2Fb%3Fc%23d");
    }

    #[test]
    fn sentences_start_with_a_capital_but_ids_keep_their_case() {
        assert_eq!(capitalised("the seal held"), "The seal held");
        assert_eq!(capitalised("tracker-7 reported"), "tracker-7 reported");
        assert_eq!(capitalised(""), "");
        assert_eq!(plural(1, "event"), "1 event");
        assert_eq!(plural(3, "event"), "3 events");
    }

    #[test]
    fn organisations_split_into_name_and_party() {
        assert_eq!(
            org_name("Blue Sea Lines urn:epc:id:pgln:4012345.00002"),
            ("Blue Sea Lines", Some("urn:epc:id:pgln:4012345.00002"))
        );
        assert_eq!(org_name("Acme"), ("Acme", None));
    }

    #[test]
    fn the_link_base_is_the_configured_url_and_never_a_strange_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "evil.example".parse().expect("header"));
        let public = PublicUrl::new("https://trace.example.com/").expect("url");
        assert_eq!(link_base(Some(&public), &h), "https://trace.example.com");
        assert_eq!(link_base(None, &h), "http://localhost");
        h.insert(header::HOST, "127.0.0.1:8080".parse().expect("header"));
        assert_eq!(link_base(None, &h), "http://127.0.0.1:8080");
        h.insert(header::HOST, "[::1]:8080".parse().expect("header"));
        assert_eq!(link_base(None, &h), "http://[::1]:8080");
        h.insert(
            header::HOST,
            "localhost.evil.example".parse().expect("header"),
        );
        assert_eq!(link_base(None, &h), "http://localhost");
        h.insert(header::HOST, "evil\"><x".parse().expect("header"));
        assert_eq!(link_base(None, &h), "http://localhost");
        for bad in [
            "evil.example",
            "ftp://x",
            "https://x/path",
            "https://a b",
            "https://",
        ] {
            assert!(PublicUrl::new(bad).is_err(), "{bad}");
        }
    }
}
