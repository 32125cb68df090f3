//! `GET /customs/{id}`: the customs view of a consignment (an SSCC, or any item): the verdict
//! `provenance verify --bundle` prints for the item's evidence bundle, computed the same way
//! (`evidence::verdict` checks the bundle with only its bytes and the log key), with the
//! bundle to download and the command that verifies it offline.
//!
//! The verdict is cached by (item, tree size) (`reads`): a repeated request at the same tree
//! size runs neither the bundle's queries nor the verifier again.

use axum::Extension;
use axum::extract::{Path, State};
use maud::{Markup, html};
use provenance_custody::rules::{Limits, Severity};
use provenance_custody::verify::{Report, Step};
use provenance_event::{DigitalLink, Epc};
use provenance_ledger::witnessed::StoredCosignature;

use super::PageError;
use super::layout::{Footer, page};
use super::trace::{capitalised, encode, org_name};
use crate::api::AppState;
use crate::format;
use crate::lookup::{self, Query};
use crate::reads::Reads;

/// The consignment: an EPC URI, or an SSCC's 18 digits.
async fn subject(s: &AppState, id: &str) -> Result<Epc, PageError> {
    let id = id.trim();
    let query = if id.len() == 18 && id.bytes().all(|b| b.is_ascii_digit()) {
        DigitalLink::parse(&format!("/00/{id}"))
            .map(Query::Key)
            .map_err(|e| PageError::BadRequest(format!("{id} is not a valid SSCC: {e}.")))?
    } else {
        Query::Epc(Epc::parse(id).map_err(|e| {
            PageError::BadRequest(format!(
                "“{id}” is neither an SSCC nor an EPC URI ({e}); e.g. /customs/urn:epc:id:sscc:4012345.0000000017"
            ))
        })?)
    };
    lookup::resolve(&s.ledger, &query)
        .await?
        .filter(lookup::is_item)
        .ok_or_else(|| PageError::NotFound(format!("The log holds no consignment {id}.")))
}

/// `GET /customs/{id}`.
pub async fn customs(
    State(s): State<AppState>,
    Extension(reads): Extension<Reads>,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let epc = subject(&s, &id).await?;
    let item = epc.to_string();
    if crate::access::require_full(&s, &item).await.is_err() {
        return Err(PageError::Forbidden(format!(
            "The customs view of {item} verifies its whole history, which is shown to the \
             organisations involved in it and to authorities. Log in with a read token at /login."
        )));
    }
    // The verdict uses the default limits, as the cache does.
    let limits = Limits::default();
    let cp = s.ledger.published_checkpoint().await;
    let (_, report) = reads.evidence.verdict(&s.ledger, &item, &cp).await?;
    if report.trace.is_empty() && report.ok() {
        return Err(PageError::NotFound(format!(
            "The log holds no event about {item}, so there is no evidence to verify."
        )));
    }
    let witnessed = s
        .ledger
        .cosignatures_of(cp.checkpoint.size)
        .await
        .unwrap_or_default();
    let key = s.ledger.verifier().to_string();
    let places = s.ledger.places().await?;
    let footer = Footer {
        size: cp.checkpoint.size,
        key: key.clone(),
    };
    let file = format!(
        "{}.evidence.json",
        provenance_custody::epcis::file_stem(&item)
    );
    Ok(page(
        &format!("Customs view of {item}"),
        true,
        Some(&footer),
        body(&item, &report, &key, &file, &limits, &witnessed, &places),
    ))
}

fn body(
    item: &str,
    r: &Report,
    key: &str,
    file: &str,
    limits: &Limits,
    witnessed: &[StoredCosignature],
    places: &provenance_ledger::places::Places,
) -> Markup {
    let (class, symbol, words, sentence) = match r.verdict {
        provenance_custody::Verdict::Pass => (
            "pass",
            "✔",
            "PASS",
            "Every check holds: the records are genuine, complete and in the log, and the chain of custody holds.",
        ),
        provenance_custody::Verdict::Warnings => (
            "warnings",
            "⚠",
            "PASS WITH WARNINGS",
            "Every check holds; some findings deserve a look (marked ⚠ below).",
        ),
        provenance_custody::Verdict::Fail => (
            "fail",
            "✘",
            "FAIL",
            "Something does not hold; the lines marked ✘ say what and where.",
        ),
    };
    let enc = encode(item);
    let custody_warns = r
        .custody
        .as_ref()
        .is_some_and(|c| c.findings.iter().any(|f| f.severity == Severity::Warning));
    html! {
        main #content {
            p.kicker { "Customs verification" }
            h1 { code.epc { (item) } }
            p { a href={"/items/" (enc)} { "Trace page of this consignment" } }
            section.verdict.(class) aria-labelledby="verdict-title" {
                h2 #verdict-title { span.symbol aria-hidden="true" { (symbol) } " Verdict: " strong { (words) } }
                p.sentence { (sentence) }
                p.small { "The same verdict as " code { "provenance verify --bundle" } " gives for the evidence file below: it is computed from the file's bytes and the log's public key alone." }
            }
            (witnesses(witnessed))
            section aria-labelledby="checks-h" {
                h2 #checks-h { "What was checked" }
                table.checks {
                    thead { tr { th scope="col" { "Check" } th scope="col" { "What" } th scope="col" { "Result" } } }
                    tbody {
                        @for sec in &r.sections {
                            @let row = if !sec.problems.is_empty() {
                                "bad"
                            } else if sec.step == Step::Custody && custody_warns {
                                "warn"
                            } else {
                                "ok"
                            };
                            tr.(row) {
                                th scope="row" { (sec.step.title()) }
                                td { (sec.checked) }
                                td.result {
                                    @if row == "warn" {
                                        span aria-hidden="true" { "⚠ " } "passed, with warnings"
                                    } @else if sec.problems.is_empty() {
                                        span aria-hidden="true" { "✔ " } "passed"
                                    } @else {
                                        span aria-hidden="true" { "✘ " } "failed: " (super::trace::plural(sec.problems.len(), "problem"))
                                        ul.problems {
                                            @for p in &sec.problems {
                                                li {
                                                    @if let Some(i) = p.index { "log #" (i) ": " }
                                                    @if let Some(d) = &p.device { "device " code { (d) } @if let Some(s) = p.seq { " seq " (s) } ": " }
                                                    (p.message)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(cp) = &r.checkpoint {
                    p.small { "Proved against the log checkpoint " code { (cp.origin) } " of " (cp.size) " entries, root " code { (cp.root) } "." }
                }
            }
            @if let Some(c) = &r.custody {
                section aria-labelledby="custody-h" {
                    h2 #custody-h { "Custody (" (limits.profile) " limits)" }
                    @let j = &c.journey;
                    dl.summary {
                        dt { "Events" } dd { (j.events) }
                        @if let (Some(a), Some(b)) = (j.first_ms, j.last_ms) {
                            dt { "Journey" } dd { (format::utc(a)) " to " (format::utc(b)) " (" (format::duration(b - a)) ")" }
                        }
                        @if !j.documents.is_empty() { dt { "Documents" } dd { (j.documents.join(", ")) } }
                        dt { "Status" } dd { (capitalised(c.status.stage.words())) @if let Some(h) = &c.status.holder { " · in the custody of " (places.name_of(h).unwrap_or(org_name(h).0)) } }
                        dt { "Customs" } dd {
                            @if c.customs.is_empty() { "no inspection, hold or release recorded" }
                            @for (i, s) in c.customs.iter().enumerate() {
                                @if i > 0 { " → " }
                                (s.kind) " " (format::utc(s.time_ms)) " by " (s.by)
                            }
                        }
                    }
                    h3 { "Who held it" }
                    ol.holders-list {
                        @for p in &c.custody {
                            @let (name, urn) = org_name(&p.holder);
                            // A holder known only by its party: the operator's name for it.
                            @let (name, urn) = match places.name_of(&p.holder) {
                                Some(n) => (n, Some(p.holder.as_str())),
                                None => (name, urn),
                            };
                            li {
                                strong { (name) }
                                @if let Some(u) = urn { " " span.urn { "(" (u) ")" } }
                                " · from " (format::utc(p.from_ms))
                                @match p.until_ms { Some(u) => { " until " (format::utc(u)) }, None => { " (holds it now)" } }
                            }
                        }
                    }
                    h3 { "Findings" }
                    ul.findings.all {
                        @for f in &c.findings {
                            @let (fc, fs, fw) = match f.severity {
                                Severity::Info => ("info", "ℹ", "Note"),
                                Severity::Warning => ("warning", "⚠", "Warning"),
                                Severity::Failure => ("failure", "✘", "Failure"),
                            };
                            li.(fc) {
                                span.tag { span aria-hidden="true" { (fs) } " " (fw) }
                                span.msg {
                                    (capitalised(&f.message))
                                    @if !f.indexes.is_empty() {
                                        " " span.where { "(log #" (f.indexes.iter().map(u64::to_string).collect::<Vec<_>>().join(", #")) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="offline-h" {
                h2 #offline-h { "Verify it yourself, offline" }
                p {
                    a.button href={"/api/v1/items/" (enc) "/evidence"} download=(file) { "Download the evidence bundle" }
                }
                p { "Then, on any machine with the " code { "provenance" } " program and without trusting this server:" }
                pre.command { "provenance verify --bundle " (file) " --log-key '" (key) "'" }
                p.small { "Exit status 0 means it holds (warnings allowed). Compare the log key with the one your authority published." }
            }
        }
    }
}

/// Who vouches for the checkpoint the evidence leads to, besides the operator: the witnesses
/// whose cosignatures the log holds for it, and when each saw it.
fn witnesses(witnessed: &[StoredCosignature]) -> Markup {
    html! {
        section.witnessed aria-labelledby="witnessed-h" {
            h2 #witnessed-h { "Who witnessed this log" }
            @if witnessed.is_empty() {
                p { "No independent witness has cosigned the checkpoint these proofs lead to: it rests on the log operator's signature alone." }
            } @else {
                p { "The checkpoint these proofs lead to was cosigned by independent witnesses, each after checking it extends every earlier checkpoint it saw of this log (C2SP tlog-witness):" }
                ul {
                    @for c in witnessed {
                        li {
                            strong { (c.name()) } " at "
                            (crate::format::utc(i64::try_from(c.timestamp).unwrap_or(i64::MAX / 1000).saturating_mul(1000)))
                        }
                    }
                }
                p.small { "The evidence file carries these cosignatures; " code { "provenance verify --bundle FILE --policy POLICY" } " checks them against the witnesses you trust." }
            }
        }
    }
}
