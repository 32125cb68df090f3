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
    /// The events it was derived from (as the reader may see them).
    pub events: Vec<TraceEvent>,
    /// Entries the reader may have whole (in the passport's evidence bundle).
    pub whole: BTreeSet<u64>,
    /// The tree size the proofs are against, and the signed checkpoint.
    pub size: u64,
    /// The checkpoint note.
    pub checkpoint: String,
    /// The battery's Digital Link (`batteryPassportIdentifier`).
    pub link: String,
    /// The server's public URL (the base of every link in the JSON).
    pub root: String,
}

/// Reads what the reader being served may see of `epc`'s history and derives its passport.
pub async fn gather(s: &AppState, epc: &Epc, root: String) -> Result<Gathered, LedgerError> {
    let item = epc.to_string();
    let cp = s.ledger.published_checkpoint().await;
    let trace = s.ledger.trace(&item).await?;
    let registry = s.ledger.devices().await?;
    let all = trace_events(&trace, &registry);
    let access = crate::access::item_access(&item, &all);
    let events: Vec<TraceEvent> = all
        .iter()
        .filter_map(|e| provenance_access::redact(e, provenance_access::visibility(access, e)))
        .collect();
    let whole = all
        .iter()
        .filter(|e| access == ItemAccess::Full || provenance_access::entry_public(&item, e))
        .map(|e| e.index)
        .collect();
    let report = assess(&item, &events, &Limits::default());
    let passport = passport(&item, &events, &report, access == ItemAccess::Public);
    Ok(Gathered {
        link: format!("{root}{}", epc.digital_link_path()),
        epc: epc.clone(),
        access,
        passport,
        events,
        whole,
        size: cp.checkpoint.size,
        checkpoint: cp.note,
        root,
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

/// `GET /api/v1/items/{id}/passport`.
pub async fn passport_json(
    State(s): State<AppState>,
    Path(id): Path<String>,
    public: Option<Extension<PublicUrl>>,
    headers: HeaderMap,
) -> Response {
    let epc = match item(&id, "passport") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let root = link_base(public.map(|Extension(p)| p).as_ref(), &headers);
    match gather(&s, &epc, root).await {
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
/// the item whole; for a public reader, the public bundle (the entries stating the public
/// fields that name this item alone, and their signers' registry entries).
pub async fn passport_evidence(
    State(s): State<AppState>,
    reads: Option<Extension<Reads>>,
    Path(id): Path<String>,
    public: Option<Extension<PublicUrl>>,
    headers: HeaderMap,
) -> Response {
    let epc = match item(&id, "passport/evidence") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let root = link_base(public.map(|Extension(p)| p).as_ref(), &headers);
    let g = match gather(&s, &epc, root).await {
        Ok(g) => g,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if g.access == ItemAccess::Full {
        return crate::evidence::evidence(State(s), reads, Path(id)).await;
    }
    let cp = s.ledger.published_checkpoint().await;
    match s
        .ledger
        .public_evidence_at(&g.passport.item, cp, &g.whole)
        .await
    {
        Ok(b) if b.entries.is_empty() => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": format!(
                    "no entry about {epc} is public whole (a commissioning naming a batch names \
                     other serials too); each public field still links the inclusion proof of \
                     its entry"
                )
            })),
        )
            .into_response(),
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
