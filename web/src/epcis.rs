//! `GET /api/v1/items/{id}/epcis`: an item's history as a GS1 EPCIS 2.0 JSON-LD document
//! (the mapping is `provenance_custody::epcis`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use provenance_custody::epcis::{self, Entry};
use provenance_custody::rules::Limits;

use crate::api::{ApiError, AppState};
use crate::evidence::item;

/// The EPCIS document of the item's trace, events in trace order.
pub async fn epcis(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let item = match item(&id, "epcis") {
        Ok(i) => i,
        Err(r) => return *r,
    };
    if let Err(refused) = crate::access::require_full(&s, &item).await {
        return refused;
    }
    let trace = match s.ledger.trace(&item).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let entries: Vec<Entry<'_>> = trace
        .entries
        .iter()
        .map(|e| Entry {
            index: e.index,
            bytes: &e.bytes,
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let doc = epcis::document(&item, &entries, now, &Limits::default());
    (
        [(header::CONTENT_TYPE, "application/ld+json")],
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
        .into_response()
}
