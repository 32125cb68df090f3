//! `GET /items/{id}/live?v=VERSION`: server-sent events telling an open trace page that its
//! item's history changed.
//!
//! The stream waits on the ledger's indexer (`Ledger::wait_indexed`), which wakes it when new
//! entries are indexed, so nothing polls: the ingest already notifies the indexer, and a
//! trace reads the index. On each wake it compares the item's version (a digest of its
//! entries and their chain status) with the page's and sends `anchored` when they differ.
//! A stream ends after [`LIFETIME`]; the browser reconnects by itself (`retry`). That bounds
//! how long a server shutting down gracefully waits for open pages.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use provenance_event::Epc;
use provenance_ledger::Ledger;
use serde::Deserialize;

use super::PageError;
use super::trace::version;
use crate::api::AppState;

/// How long one stream stays open before the browser reconnects.
const LIFETIME: Duration = Duration::from_secs(20);
/// A burst of entries (one ingest batch after another) becomes one refresh.
const SETTLE: Duration = Duration::from_millis(250);

/// The query: the version of the history the page shows.
#[derive(Deserialize)]
pub struct Seen {
    #[serde(default)]
    v: String,
}

struct Watch {
    ledger: Arc<Ledger>,
    item: String,
    seen: String,
    /// Index size already looked at.
    size: u64,
    deadline: tokio::time::Instant,
}

impl Watch {
    /// Waits for a change to the item's history; `None` when the stream should end.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let grown = self.ledger.wait_indexed(self.size + 1);
            match tokio::time::timeout_at(self.deadline, grown).await {
                Ok(Ok(())) => {}
                // The lifetime is over, or the indexer stopped (shutdown).
                Ok(Err(_)) | Err(_) => return None,
            }
            tokio::time::sleep(SETTLE).await;
            self.size = self.ledger.indexed_size();
            let trace = self.ledger.trace_with_gaps(&self.item).await.ok()?;
            let now = version(&trace);
            if now != self.seen {
                let data = serde_json::json!({
                    "version": now,
                    "events": trace.entries.len(),
                    "size": self.size,
                });
                self.seen = now;
                return Some(Event::default().event("anchored").data(data.to_string()));
            }
        }
    }
}

/// `GET /items/{id}/live`.
pub async fn live(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Seen>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let epc = Epc::parse(&id)
        .map_err(|e| PageError::BadRequest(format!("“{id}” is not an EPC URI ({e}).")))?;
    let watch = Watch {
        ledger: s.ledger.clone(),
        item: epc.to_string(),
        seen: q.v,
        // Start from nothing: the first look compares the page's version with the present,
        // so events anchored between rendering the page and opening the stream are not missed.
        size: 0,
        deadline: tokio::time::Instant::now() + LIFETIME,
    };
    let hello = Event::default()
        .retry(Duration::from_secs(1))
        .comment("live");
    let stream = futures_util::stream::unfold((watch, Some(hello)), |(mut w, hello)| async move {
        if let Some(h) = hello {
            return Some((Ok(h), (w, None)));
        }
        let e = w.next().await?;
        Some((Ok(e), (w, None)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
