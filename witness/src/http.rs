//! The witness's HTTP interface (axum):
//!
//! - `POST /add-checkpoint`: C2SP tlog-witness. 200 with the cosignature line; 400, 403, 404,
//!   409 (body: the size held, `Content-Type: text/x.tlog.size`), 422 as the spec says; 413
//!   for a body over [`MAX_BODY_BYTES`]; 503 if the database is busy.
//! - `GET /key`: the witness's vkey (`name+id+base64(0x04 ‖ key)`).
//! - `GET /` and `GET /status`: JSON, the witness and each log: origin, keys, size, root and
//!   when it last cosigned.
//! - `GET /forks[?before=ID]`: JSON, the fork records, newest first, 50 a page;
//!   `GET /forks/{id}`: one record's evidence (both signed checkpoints), for anyone.
//! - `GET /{sha256(origin) in hex}/checkpoint`: tlog-witness's monitor retrieval, the latest
//!   cosigned checkpoint with the log's signature and the cosignature.
//!
//! Every request is answered within [`ANSWER_WITHIN`] (else 503) and logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::{AddCheckpoint, Fork, Refusal, Witness, WitnessError};

/// The largest request body: the old size, 63 proof lines and a checkpoint with room for
/// many signatures (signed-note asks verifiers to take at least 16, of up to ~5 kB each).
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// How long a request may take to be answered (reading its body included).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// The content type of a 409 answer's body.
pub const TLOG_SIZE: &str = "text/x.tlog.size";

const TEXT: &str = "text/plain; charset=utf-8";

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/key", get(key))
        .route("/", get(status))
        .route("/status", get(status))
        .route("/forks", get(forks))
        .route("/forks/{id}", get(fork))
        .route("/{origin_hash}/checkpoint", get(checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(answer_within))
        .with_state(witness)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (status, [(header::CONTENT_TYPE, TEXT)], body).into_response()
}

/// Answers within [`ANSWER_WITHIN`] or 503, and logs each request.
async fn answer_within(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let response = match tokio::time::timeout(ANSWER_WITHIN, next.run(req)).await {
        Ok(r) => r,
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the answer took too long; try again",
        ),
    };
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "witness request"
    );
    response
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(r) => return refused(&r),
    };
    match w.add_checkpoint(&req).await {
        Ok(c) => {
            tracing::info!(
                origin = %c.state.origin,
                size = c.state.size,
                old_size = req.old_size,
                timestamp = c.state.cosigned_at,
                "cosigned"
            );
            text(StatusCode::OK, c.cosignature)
        }
        Err(WitnessError::Refused(r)) => {
            tracing::info!(old_size = req.old_size, status = r.status(), reason = %r, "refused");
            refused(&r)
        }
        Err(e @ WitnessError::Busy(_)) => text(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(WitnessError::Store(e)) => {
            tracing::error!(error = %e, "witness storage failed");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the witness could not store its state; nothing was cosigned, try again",
            )
        }
    }
}

fn refused(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match r {
        Refusal::Conflict { size, .. } => (
            status,
            [(header::CONTENT_TYPE, TLOG_SIZE)],
            format!("{size}\n"),
        )
            .into_response(),
        _ => text(status, r.to_string()),
    }
}

async fn key(State(w): State<Arc<Witness>>) -> Response {
    text(StatusCode::OK, w.verifier().to_string())
}

/// One log in `GET /status`.
#[derive(Serialize)]
struct LogStatus {
    origin: String,
    /// The log keys trusted for it.
    keys: Vec<String>,
    /// The size of the latest cosigned checkpoint (null: never cosigned).
    size: Option<u64>,
    /// Its root hash, base64.
    root: Option<String>,
    /// When it was cosigned, seconds since the Epoch.
    cosigned_at: Option<u64>,
    /// The same, RFC 3339 UTC.
    cosigned_at_utc: Option<String>,
    /// Where the latest cosigned checkpoint is served.
    checkpoint: String,
}

#[derive(Serialize)]
struct Status {
    name: String,
    vkey: String,
    logs: Vec<LogStatus>,
    /// Forks on record (`GET /forks`).
    forks: u64,
}

fn utc(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

fn storage_failed(e: &crate::StoreError) -> Response {
    tracing::error!(error = %e, "witness storage failed");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the witness database is unavailable",
    )
}

async fn status(State(w): State<Arc<Witness>>) -> Response {
    let states = match w.store().states().await {
        Ok(s) => s,
        Err(e) => return storage_failed(&e),
    };
    let forks = match w.store().fork_count().await {
        Ok(n) => n,
        Err(e) => return storage_failed(&e),
    };
    let logs = w
        .logs()
        .iter()
        .map(|(origin, keys)| {
            let s = states.iter().find(|s| s.origin == origin);
            LogStatus {
                origin: origin.to_string(),
                keys: keys.iter().map(ToString::to_string).collect(),
                size: s.map(|s| s.size),
                root: s.map(|s| B64.encode(s.root)),
                cosigned_at: s.map(|s| s.cosigned_at),
                cosigned_at_utc: s.map(|s| utc(s.cosigned_at)),
                checkpoint: format!("/{}/checkpoint", origin_hash(origin)),
            }
        })
        .collect();
    axum::Json(Status {
        name: w.verifier().name().to_string(),
        vkey: w.verifier().to_string(),
        logs,
        forks,
    })
    .into_response()
}

/// Fork evidence as served.
#[derive(Serialize)]
struct ForkJson {
    id: i64,
    origin: String,
    /// `same-size-different-root` or `consistency-proof-failed`.
    kind: &'static str,
    /// Whether the two checkpoints prove the fork on their own (same size, two roots). If not,
    /// the proof is that the log cannot give a valid consistency proof between them.
    conclusive: bool,
    detected: u64,
    detected_utc: String,
    /// The checkpoint this witness had cosigned: the log's signature and the cosignature.
    cosigned: String,
    /// The conflicting checkpoint, signed by the log, as it was submitted.
    conflicting: String,
    /// The old size and consistency proof (base64) the submitter sent.
    old_size: u64,
    proof: Vec<String>,
}

impl From<Fork> for ForkJson {
    fn from(f: Fork) -> Self {
        Self {
            id: f.id,
            kind: f.evidence.kind.as_str(),
            conclusive: f.evidence.kind.conclusive(),
            detected: f.detected,
            detected_utc: utc(f.detected),
            origin: f.evidence.origin,
            cosigned: f.evidence.cosigned,
            conflicting: f.evidence.conflicting,
            old_size: f.evidence.old_size,
            proof: f.evidence.proof.iter().map(|h| B64.encode(h)).collect(),
        }
    }
}

/// A page of fork records, newest first; `?before=ID` for the next page.
#[derive(serde::Deserialize)]
struct Page {
    before: Option<i64>,
}

/// One fork record in the listing; its evidence is at `evidence`.
#[derive(Serialize)]
struct ForkListed {
    id: i64,
    origin: String,
    kind: &'static str,
    conclusive: bool,
    detected: u64,
    detected_utc: String,
    evidence: String,
}

async fn forks(
    State(w): State<Arc<Witness>>,
    axum::extract::Query(page): axum::extract::Query<Page>,
) -> Response {
    match w.store().forks(page.before).await {
        Ok(f) => axum::Json(
            f.into_iter()
                .map(|f| ForkListed {
                    evidence: format!("/forks/{}", f.id),
                    id: f.id,
                    origin: f.origin,
                    kind: f.kind.as_str(),
                    conclusive: f.kind.conclusive(),
                    detected: f.detected,
                    detected_utc: utc(f.detected),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => storage_failed(&e),
    }
}

async fn fork(State(w): State<Arc<Witness>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return text(StatusCode::NOT_FOUND, "no such fork");
    };
    match w.store().fork(id).await {
        Ok(Some(f)) => axum::Json(ForkJson::from(f)).into_response(),
        Ok(None) => text(StatusCode::NOT_FOUND, "no such fork"),
        Err(e) => storage_failed(&e),
    }
}

async fn checkpoint(State(w): State<Arc<Witness>>, Path(hash): Path<String>) -> Response {
    let Some((origin, _)) = w.logs().iter().find(|(o, _)| origin_hash(o) == hash) else {
        return text(
            StatusCode::NOT_FOUND,
            "this witness follows no log of that origin hash",
        );
    };
    match w.store().state(origin).await {
        Ok(Some(s)) => text(StatusCode::OK, s.note),
        Ok(None) => text(
            StatusCode::NOT_FOUND,
            "this witness has not cosigned a checkpoint of that log yet",
        ),
        Err(e) => storage_failed(&e),
    }
}
