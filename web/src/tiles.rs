//! The log as C2SP `tlog-tiles` static resources: `GET /checkpoint`, `GET /tile/<L>/<N>[.p/<W>]`
//! and `GET /tile/entries/<N>[.p/<W>]`, so that any tlog-tiles client (Go's `sumdb/tlog` tile
//! reader, a witness, a mirror, `provenance verify --url`) follows the log with nothing but
//! the log's public key.
//!
//! Everything served is bounded by the newest signed checkpoint, never by what storage holds:
//! a batch writes its tiles before its checkpoint is published, and a client must never see a
//! hash or an entry that no checkpoint commits to. Tiles and bundles are immutable (a partial
//! tile of width W is the first W hashes of the final tile), so they carry long-lived cache
//! headers; the checkpoint changes with every batch, so it is not cached.
//!
//! What a request costs is bounded by the path: one tile row or at most 256 entries (1 MiB).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use provenance_tlog::tile::{TILE_WIDTH, TileId, TilePath, width_at};

use crate::api::AppState;

/// Immutable resources: a year, and `immutable` so browsers do not revalidate.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The checkpoint: a client may reuse it for a couple of seconds, never longer.
const MUTABLE: &str = "public, max-age=2";

/// The tlog-tiles routes, at the root of the server (the log's prefix is the server's URL).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        // Entry bundles compress (the spec asks for it); hash tiles are random bytes.
        .route(
            "/tile/entries/{*path}",
            get(entry_bundle).layer(tower_http::compression::CompressionLayer::new()),
        )
        .with_state(state)
}

async fn checkpoint(State(s): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, MUTABLE),
        ],
        s.ledger.published_checkpoint().await.note,
    )
        .into_response()
}

fn not_found(why: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        why,
    )
        .into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "reading the log for a tile");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "the log's storage did not answer; try again",
    )
        .into_response()
}

fn octets(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        body,
    )
        .into_response()
}

async fn entry_bundle(state: State<AppState>, Path(path): Path<String>) -> Response {
    tile(state, Path(format!("entries/{path}"))).await
}

async fn tile(State(s): State<AppState>, Path(path): Path<String>) -> Response {
    let want = match TilePath::parse(&path) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let size = s.ledger.latest_checkpoint().await.checkpoint.size;
    // Entry bundles have the width of level-0 tiles.
    let have = width_at(want.level.unwrap_or(0), want.index, size);
    if have < want.width {
        return not_found(format!(
            "the newest checkpoint (size {size}) holds {have} of this tile's {}; \
             ask for the width a checkpoint you verified calls for",
            want.width
        ));
    }
    match want.level {
        Some(level) => {
            let id = TileId {
                level,
                index: want.index,
            };
            match s.ledger.tile(id).await {
                Ok(Some(mut bytes)) if bytes.len() >= want.width * 32 => {
                    bytes.truncate(want.width * 32);
                    octets(bytes)
                }
                Ok(_) => unavailable(format!(
                    "tile {level}/{} is shorter in storage than checkpoint {size} requires",
                    want.index
                )),
                Err(e) => unavailable(e),
            }
        }
        None => {
            let start = want.index * TILE_WIDTH as u64;
            let end = start + want.width as u64;
            match s.ledger.entries(start, end).await {
                Ok(rows) if rows.len() == want.width => match bundle(&rows) {
                    Some(body) => octets(body),
                    None => unavailable("an entry longer than 65,535 bytes"),
                },
                Ok(rows) => unavailable(format!(
                    "storage holds {} of entries {start}..{end}, which checkpoint {size} covers",
                    rows.len()
                )),
                Err(e) => unavailable(e),
            }
        }
    }
}

/// An entry bundle: each entry as a big-endian uint16 length and its bytes.
fn bundle(rows: &[(u64, Vec<u8>)]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(rows.iter().map(|(_, d)| d.len() + 2).sum());
    for (_, data) in rows {
        out.extend_from_slice(&u16::try_from(data.len()).ok()?.to_be_bytes());
        out.extend_from_slice(data);
    }
    Some(out)
}
