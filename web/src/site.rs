//! The whole HTTP site: the pages people read (`pages`), the JSON API (`api`), and the storage
//! audit that runs behind them (`audit`).

use axum::{Extension, Router};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

use crate::api::{AppState, router};
use crate::audit::{self, Auditor};
use crate::pages;
use crate::reads::Reads;

/// The whole HTTP site: pages and API, with a storage auditor started on the site's ledger
/// (every [`audit::EVERY_ENV`] seconds, default five minutes). It stops when the site is
/// dropped.
pub fn site(state: AppState) -> Router {
    let auditor = Auditor::start(state.ledger.clone(), audit::every_from_env());
    site_with(state, auditor)
}

/// The whole site, with the auditor given: for callers that start it themselves (tests set
/// the interval, or wait for a run).
pub fn site_with(state: AppState, auditor: Auditor) -> Router {
    site_with_reads(state, auditor, Reads::default())
}

/// The whole site, with the auditor and the read-side caches and caps given: for callers that
/// set the bounds or look at the counters (tests).
pub fn site_with_reads(state: AppState, auditor: Auditor, reads: Reads) -> Router {
    pages::routes(state.clone())
        .merge(router(state))
        .merge(audit::routes(auditor.clone()))
        // One set of caches and live-stream places for every route (`reads`).
        .layer(Extension(reads))
        // Every page and answer sees one audit status from start to end (see `audit::scope`).
        .layer(axum::middleware::from_fn_with_state(auditor, audit::scope))
        .layer(compression())
}

/// gzip or brotli, whichever the client prefers, for every answer worth it: pages are
/// 100–150 KB of HTML and shrink about eightfold (a demo container: 104 KB, gzip 14 KB,
/// brotli 12 KB). The default predicate already leaves out bodies under 32 bytes, images,
/// gRPC and `text/event-stream` (the live stream on item pages, which must reach the browser
/// event by event, not when a compressor's buffer fills). Hash tiles
/// (`application/octet-stream`) are random bytes that do not compress; entry bundles, of the
/// same type, compress through their own layer (`tiles::router`), and an answer that already
/// has a `content-encoding` is never compressed twice.
fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().gzip(true).br(true).compress_when(
        DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream")),
    )
}
