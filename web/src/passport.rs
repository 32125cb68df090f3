//! The EU battery passport of an item (issue #14), over HTTP: `GET /api/v1/items/{id}/passport`
//! (JSON with the Battery Pass data model's field names) and `GET
//! /api/v1/items/{id}/passport/evidence` (the bundle that proves it); the page is
//! `crate::pages::passport`.
//!
//! A passport is derived from the events the reader may see, never filtered afterwards: the
//! access rule ([`provenance_access`]) picks the events, [`provenance_custody::passport`]
//! derives the fields from them. A public reader's passport therefore cannot hold anything
//! of the journey, and it says which fields are withheld.
//!
//! What each reader can prove: a public reader gets a public bundle (`scope: public`) with the
//! entries that state the public fields whole when they name this item alone, and the
//! signers' registry entries; `provenance verify --bundle … --passport …` checks signatures,
//! proofs and every field against those entries. A partner involved in the item and an
//! authority get the whole evidence bundle, which proves every field.

use std::collections::BTreeSet;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provenance_access::ItemAccess;
use provenance_custody::passport::{Passport, battery_pass, passport};
use provenance_custody::rules::{Limits, TraceEvent, assess};
use provenance_event::Epc;
use provenance_ledger::LedgerError;
use provenance_ledger::evidence::trace_events;
use provenance_ledger::registry::DeviceInfo;
use provenance_ledger::trace::Trace;
use serde_json::{Value, json};

use crate::PublicUrl;
use crate::api::{ApiError, AppState};
use crate::pages::trace::{encode, link_base};
use crate::reads::Reads;

/// An item's passport as one reader may see it, with what the page and the JSON need.
pub struct Gathered {
    /// The item.
    pub epc: Epc,
    /// What the reader may see of it.
    pub access: ItemAccess,
    /// The passport.
    pub passport: Passport,
    /// Entries the reader may have whole (in the passport's evidence bundle).
    pub whole: BTreeSet<u64>,
    /// The tree size the proofs are against.
    pub size: u64,
    /// The checkpoint note.
    pub checkpoint: String,
    /// The battery's Digital Link (`batteryPassportIdentifier`).
    pub link: String,
    /// The server's public URL (the base of every link in the JSON).
    pub root: String,
    /// The trace read (with gaps) and the registry it was judged with: a page that shows the
    /// item's trace instead reads neither again.
    pub trace: Trace,
    /// The registry.
    pub registry: Vec<DeviceInfo>,
}

/// Whether the operator publishes whole entries to the public (`serve --public-entries`):
/// the entries stating a battery's public facts alone, with their signers' registrations.
/// Off by default: a whole entry shows its signer's device ID and sequence number, and a
/// station's sequence numbers count what it made.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicEntries(pub bool);

/// Reads what the reader being served may see of `epc`'s history (once) and derives its
/// passport; `public_entries` as the operator chose.
pub async fn gather(
    s: &AppState,
    epc: &Epc,
    root: String,
    public_entries: bool,
) -> Result<Gathered, LedgerError> {
    let item = epc.to_string();
    let cp = s.ledger.published_checkpoint().await;
    let size = cp.checkpoint.size;
    // The index trails the log by milliseconds; every field must be under the checkpoint its
    // proofs are against (bounded: a backlog is shown as it is).
    let _ = tokio::time::timeout(crate::reads::INDEX_WAIT, s.ledger.wait_indexed(size)).await;
    let trace = s.ledger.trace_with_gaps(&item).await?;
    let registry = s.ledger.devices().await?;
    let all: Vec<TraceEvent> = trace_events(&trace, &registry)
        .into_iter()
        .filter(|e| e.index < size)
        .collect();
    let access = crate::access::item_access(&item, &all);
    let events: Vec<TraceEvent> = all
        .iter()
        .filter_map(|e| provenance_access::redact(e, provenance_access::visibility(access, e)))
        .collect();
    let whole = all
        .iter()
        .filter(|e| match access {
            ItemAccess::Full => true,
            ItemAccess::Public => public_entries && provenance_access::entry_public(&item, e),
        })
        .map(|e| e.index)
        .collect();
    // The custody judge runs only for a reader who sees the whole history.
    let report = (access == ItemAccess::Full).then(|| assess(&item, &events, &Limits::default()));
    let passport = passport(&item, &events, report.as_ref());
    Ok(Gathered {
        link: format!("{root}{}", epc.digital_link_path()),
        epc: epc.clone(),
        access,
        passport,
        whole,
        size,
        checkpoint: cp.note,
        root,
        trace,
        registry,
    })
}

impl Gathered {
    /// The inclusion proof of entry `index` against the passport's checkpoint.
    pub fn proof_url(&self, index: u64) -> String {
        format!(
            "{}/api/v1/proofs/inclusion?index={index}&size={}",
            self.root, self.size
        )
    }

    /// The evidence bundle that proves this passport.
    pub fn evidence_url(&self) -> String {
        format!(
            "{}/api/v1/items/{}/passport/evidence",
            self.root,
            encode(&self.passport.item)
        )
    }

    /// The JSON export: the Battery Pass fields, each field's entry and proof, the signed
    /// checkpoint, and how to check it all offline.
    pub fn json(&self) -> Value {
        let mut j = battery_pass(&self.passport, &self.link, |i| self.proof_url(i));
        let stem = provenance_custody::epcis::file_stem(&self.passport.item);
        j["access"] = json!({
            "view": match self.access { ItemAccess::Full => "full", ItemAccess::Public => "public" },
            "tier": crate::access::serving().tier.name(),
        });
        j["checkpoint"] = json!(self.checkpoint);
        j["verify"] = json!({
            "evidence": self.evidence_url(),
            "entriesWhole": self.whole,
            "command": format!(
                "provenance verify --bundle {stem}.passport-evidence.json --passport \
                 {stem}.passport.json --log-key <the log's key from GET /api/v1/log/key>"
            ),
        });
        j
    }
}

fn item(id: &str, route: &str) -> Result<Epc, Box<Response>> {
    let e = crate::evidence::item(id, route)?;
    Epc::parse(&e).map_err(|_| Box::new(StatusCode::BAD_REQUEST.into_response()))
}

fn public_entries(p: Option<Extension<PublicEntries>>) -> bool {
    p.is_some_and(|Extension(PublicEntries(on))| on)
}

/// `GET /api/v1/items/{id}/passport`.
pub async fn passport_json(
    State(s): State<AppState>,
    Path(id): Path<String>,
    public: Option<Extension<PublicUrl>>,
    whole: Option<Extension<PublicEntries>>,
    headers: HeaderMap,
) -> Response {
    let epc = match item(&id, "passport") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let root = link_base(public.map(|Extension(p)| p).as_ref(), &headers);
    match gather(&s, &epc, root, public_entries(whole)).await {
        Ok(g) if !g.passport.is_known() => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": format!(
                    "the log holds no commissioning of {epc}, so it has no passport: a passport \
                     starts with the maker's signed commissioned event (docs/PASSPORT.md)"
                )
            })),
        )
            .into_response(),
        Ok(g) => {
            let file = format!(
                "inline; filename=\"{}.passport.json\"",
                provenance_custody::epcis::file_stem(&g.passport.item)
            );
            ([(header::CONTENT_DISPOSITION, file)], axum::Json(g.json())).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /api/v1/items/{id}/passport/evidence`: the whole evidence bundle for a reader who sees
/// the item whole; for a public reader, when the operator publishes whole entries, the public
/// bundle (the entries stating the public fields that name this item alone, and their
/// signers' registry entries).
pub async fn passport_evidence(
    State(s): State<AppState>,
    reads: Option<Extension<Reads>>,
    Path(id): Path<String>,
    public: Option<Extension<PublicUrl>>,
    whole: Option<Extension<PublicEntries>>,
    headers: HeaderMap,
) -> Response {
    let epc = match item(&id, "passport/evidence") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let root = link_base(public.map(|Extension(p)| p).as_ref(), &headers);
    let g = match gather(&s, &epc, root, public_entries(whole)).await {
        Ok(g) => g,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if g.access == ItemAccess::Full {
        return crate::evidence::whole_bundle(
            &s,
            reads.as_ref().map(|Extension(r)| r),
            &g.passport.item,
        )
        .await;
    }
    if g.whole.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": format!(
                    "no entry about {epc} is public whole: this log publishes whole entries \
                     only with `serve --public-entries`, and never one naming other items too \
                     (a batch commissioned at once); each public field still links the \
                     inclusion proof of its entry"
                )
            })),
        )
            .into_response();
    }
    let cp = s.ledger.published_checkpoint().await;
    let reveal = g
        .trace
        .entries
        .into_iter()
        .filter(|e| g.whole.contains(&e.index))
        .collect();
    match s
        .ledger
        .public_evidence_at(&g.passport.item, cp, reveal)
        .await
    {
        Ok(b) => {
            let file = format!(
                "attachment; filename=\"{}.passport-evidence.json\"",
                provenance_custody::epcis::file_stem(&g.passport.item)
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::CONTENT_DISPOSITION, file),
                ],
                b.to_json(),
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
