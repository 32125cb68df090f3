//! The customs side of the HTTP API: the evidence bundle of an item (SPEC §7) as a download,
//! and the chain-of-custody findings that the JSON trace and the trace page show.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use provenance_custody::rules::{CustodyReport, Limits, assess};
use provenance_event::Epc;
use provenance_ledger::evidence::trace_events;
use provenance_ledger::registry::DeviceInfo;
use provenance_ledger::trace::Trace;
use serde_json::json;

use crate::api::{ApiError, AppState};
use crate::reads::Reads;

/// An item ID from the path as a canonical EPC URI, or a 400 answer that says what to send.
pub(crate) fn item(id: &str, route: &str) -> Result<String, Box<Response>> {
    Epc::parse(id).map(|e| e.to_string()).map_err(|e| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "error": format!(
                        "{id:?} is not an EPC URI ({e}); e.g. \
                         /api/v1/items/urn:epc:id:sscc:4012345.0000000017/{route}"
                    )
                })),
            )
                .into_response(),
        )
    })
}

/// The custody report of a trace, with signers as the registry knows them now.
pub fn custody(trace: &Trace, registry: &[DeviceInfo]) -> CustodyReport {
    assess(
        &trace.item,
        &trace_events(trace, registry),
        &Limits::default(),
    )
}

/// `GET /api/v1/items/{id}/evidence`: the bundle as a JSON attachment. Cached by (item, tree
/// size) when the site has its read caches (`reads`; the API router alone has none).
pub async fn evidence(
    State(s): State<AppState>,
    reads: Option<Extension<Reads>>,
    Path(id): Path<String>,
) -> Response {
    let item = match item(&id, "evidence") {
        Ok(i) => i,
        Err(r) => return *r,
    };
    if let Err(refused) = crate::access::require_full(&s, &item).await {
        return refused;
    }
    whole_bundle(&s, reads.as_ref().map(|Extension(r)| r), &item).await
}

/// The whole evidence bundle of `item` as a download, for a reader already found to see it
/// whole.
pub(crate) async fn whole_bundle(s: &AppState, reads: Option<&Reads>, item: &str) -> Response {
    let item = item.to_string();
    let cp = s.ledger.published_checkpoint().await;
    let built = match reads {
        Some(r) => r.evidence.bundle(&s.ledger, &item, &cp).await,
        None => s.ledger.evidence_at(&item, cp).await.map(|b| {
            std::sync::Arc::new(crate::reads::Built {
                empty: b.entries.is_empty(),
                json: b.to_json().into(),
            })
        }),
    };
    match built {
        Ok(bundle) if bundle.empty => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": format!("the log holds no event about {item}, so there is no evidence to give")
            })),
        )
            .into_response(),
        Ok(bundle) => {
            let file = format!(
                "attachment; filename=\"{}.evidence.json\"",
                provenance_custody::epcis::file_stem(&item)
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::CONTENT_DISPOSITION, file),
                ],
                bundle.json.clone(),
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The full offline verdict of an item's evidence bundle, as `provenance verify --bundle`
/// gives it: what the customs view shows. The bundle is checked with the log's own key, so
/// the answer is what anyone holding that key would get from the downloaded file.
pub async fn verdict(
    ledger: &provenance_ledger::Ledger,
    item: &str,
    limits: &Limits,
) -> Result<provenance_custody::verify::Report, provenance_ledger::LedgerError> {
    let bundle = ledger.evidence(item).await?;
    Ok(provenance_custody::verify::verify_bundle(
        bundle.to_json().as_bytes(),
        ledger.verifier(),
        limits,
    ))
}
