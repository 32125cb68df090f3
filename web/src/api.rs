//! The JSON API of SPEC §9. Errors are JSON `{"error": …}` with a status that says whose
//! fault it is, and a message that says what to do.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::{Epc, Event, SignedEvent};
use provenance_ingest::admin::{self, AdminError, Registrar};
use provenance_ingest::service::{Ingest, Outcome};
use provenance_ingest::validate::Message;
use provenance_ledger::rejections::RejectionQuery;
use provenance_ledger::trace::ChainStatus;
use provenance_ledger::{Ledger, LedgerError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The log.
    pub ledger: Arc<Ledger>,
    /// The ingest queue (submissions go through the same pipeline as MQTT).
    pub ingest: Ingest,
    /// The admin token (writes and registry changes need it as a Bearer token).
    pub admin_token: Arc<String>,
    /// Renders Prometheus metrics.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// An error answer.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::NoCheckpoint(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            LedgerError::Proof(_) => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
            LedgerError::Registry(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
            LedgerError::Place(_) => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
            other => {
                tracing::error!(error = %other, "ledger failure behind HTTP");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the ledger failed; see the server log".into(),
                )
            }
        }
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

type ApiResult<T> = Result<T, ApiError>;

fn require_admin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // An empty configured token would match a request that sends none: never admin then
    // (`serve` refuses to start with one; this guards every other embedding).
    if !state.admin_token.is_empty()
        && auth::constant_time_eq(given.trim().as_bytes(), state.admin_token.as_bytes())
    {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "this route needs `Authorization: Bearer <token>` with the token from DIR/admin.token"
                .into(),
        ))
    }
}

/// Answers 401 to a request for an admin route without the admin token, before the handler's
/// extractors (`Json`, `Bytes`) run: as a route layer it sees the request with its body still
/// unread, so a stranger cannot make the server receive, buffer or parse a body.
async fn admin_only(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match require_admin(&s, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The API routes (SPEC §9).
pub fn router(state: AppState) -> Router {
    // Writes, registry changes and the rejected messages (raw bytes from anyone, which may
    // hold other parties' data) need the admin token.
    let admin = Router::new()
        .route("/api/v1/rejections", get(rejections))
        .route("/api/v1/devices", post(register))
        .route("/api/v1/devices/{id}/rotate", post(rotate))
        .route("/api/v1/devices/{id}/revoke", post(revoke))
        .route("/api/v1/devices/{id}/password", post(new_password))
        .route("/api/v1/events", post(submit))
        .route(
            "/api/v1/places/{gln}",
            axum::routing::put(set_place).delete(remove_place),
        )
        .route("/api/v1/access", post(grant_read).get(read_grants))
        .route("/api/v1/access/{id}", axum::routing::delete(revoke_read))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin_only,
        ));
    Router::new()
        .route("/api/v1/checkpoint", get(checkpoint))
        .route("/api/v1/log/key", get(log_key))
        .route("/api/v1/log/entries", get(entries))
        .route("/api/v1/proofs/inclusion", get(inclusion))
        .route("/api/v1/proofs/consistency", get(consistency))
        .route("/api/v1/items/{id}/trace", get(trace))
        .route(
            "/api/v1/items/{id}/evidence",
            get(crate::evidence::evidence),
        )
        .route("/api/v1/items/{id}/epcis", get(crate::epcis::epcis))
        .route(
            "/api/v1/items/{id}/passport",
            get(crate::passport::passport_json),
        )
        .route(
            "/api/v1/items/{id}/passport/evidence",
            get(crate::passport::passport_evidence),
        )
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/places", get(places))
        .route("/metrics", get(metrics))
        .merge(admin)
        .with_state(state.clone())
        .merge(crate::tiles::router(state.clone()))
        // After routing, before any handler: the route table of `provenance-access`.
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::access::gate,
        ))
}

async fn checkpoint(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.ledger.published_checkpoint().await.note,
    )
}

async fn log_key(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", s.ledger.verifier()),
    )
}

#[derive(Deserialize)]
struct Range {
    start: u64,
    end: u64,
}

async fn entries(State(s): State<AppState>, Query(r): Query<Range>) -> ApiResult<Json<Value>> {
    if r.end <= r.start {
        return Err(bad("end must be greater than start, e.g. ?start=0&end=100"));
    }
    let end = r.end.min(r.start.saturating_add(1000));
    let list: Vec<Value> = s
        .ledger
        .entries(r.start, end)
        .await?
        .into_iter()
        .map(|(index, data)| json!({ "index": index, "entry": B64.encode(data) }))
        .collect();
    Ok(Json(json!({ "entries": list })))
}

#[derive(Deserialize)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

async fn inclusion(
    State(s): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<Json<Value>> {
    let proof = s.ledger.inclusion_proof(q.index, q.size).await?;
    Ok(Json(json!({
        "index": q.index,
        "size": q.size,
        "hashes": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(s): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Json<Value>> {
    let proof = s.ledger.consistency_proof(q.from, q.to).await?;
    Ok(Json(json!({
        "from": q.from,
        "to": q.to,
        "hashes": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    })))
}

fn chain_json(c: ChainStatus) -> Value {
    match c {
        ChainStatus::First => json!({ "status": "first" }),
        ChainStatus::Linked => json!({ "status": "linked" }),
        ChainStatus::PrevMismatch => json!({ "status": "prev_mismatch" }),
        ChainStatus::Gap {
            from,
            to,
            explained,
        } => {
            json!({ "status": "gap", "missing_from": from, "missing_to": to, "explained": explained })
        }
    }
}

/// The event's fields as JSON (from bytes the log holds).
fn event_json(bytes: &[u8]) -> Value {
    let Ok(signed) = SignedEvent::parse(bytes) else {
        return json!({ "error": "not an event" });
    };
    let Ok(e) = Event::decode(signed.sign1().payload()) else {
        return json!({ "error": "payload does not decode" });
    };
    let readings: serde_json::Map<String, Value> = e
        .readings
        .iter()
        .map(|(q, v)| {
            (
                q.name().to_string(),
                json!({ "value": v, "unit": q.unit() }),
            )
        })
        .collect();
    json!({
        "signer": signed.device().as_str(),
        "seq": e.seq,
        "time_ms": e.time,
        "kind": e.kind.name(),
        "items": e.items.iter().collect::<Vec<_>>(),
        "parent": e.parent.as_ref().map(ToString::to_string),
        "where": e.location.as_ref().map(|l| json!({
            "lat": l.lat_lon.map(|(lat, _)| f64::from(lat) / 1e7),
            "lon": l.lat_lon.map(|(_, lon)| f64::from(lon) / 1e7),
            "sgln": l.sgln.as_ref().map(ToString::to_string),
        })),
        "readings": readings,
        "party": e.party.as_ref().map(ToString::to_string),
        "doc": e.doc,
        "dropped": e.dropped,
    })
}

async fn trace(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let epc = Epc::parse(&id).map_err(|e| {
        bad(format!(
            "{id:?} is not an EPC URI ({e}); e.g. /api/v1/items/urn:epc:id:sgtin:4012345.012345.1001/trace"
        ))
    })?;
    crate::reads::index_caught_up(&s.ledger).await;
    // With gaps: a deleted entry is listed under `missing`, not a failure of the whole trace.
    let t = s.ledger.trace_with_gaps(&epc.to_string()).await?;
    let registry = s.ledger.devices().await?;
    let events = provenance_ledger::evidence::trace_events(&t, &registry);
    if crate::access::item_access(&t.item, &events) == provenance_access::ItemAccess::Public {
        return Ok(Json(public_trace(&t.item, &events, &s).await));
    }
    let audit = crate::audit::current();
    let storage = |index: u64| -> Value {
        let found = audit
            .audit()
            .map(|a| a.findings_for(index))
            .unwrap_or_default();
        json!(
            found
                .iter()
                .map(
                    |f| json!({ "kind": crate::audit::kind(f), "reason": crate::audit::mark(f).1 })
                )
                .collect::<Vec<_>>()
        )
    };
    let devices: std::collections::HashMap<String, (String, String)> = registry
        .iter()
        .map(|d| (d.id.clone(), (d.role.name().to_string(), d.org.clone())))
        .collect();
    let indexes: Vec<u64> = t.entries.iter().map(|e| e.index).collect();
    let anchorings = s.ledger.anchorings(&indexes).await?;
    // Where witnesses put the event in time: after the newest cosigned checkpoint without it,
    // by the first with it (null without witnesses).
    let witnessed = |index: u64| -> Value {
        let Some(a) = anchorings.get(&index) else {
            return Value::Null;
        };
        let side = |w: &Option<provenance_ledger::witnessed::WitnessedCheckpoint>| {
            w.as_ref().map(|w| {
                json!({
                    "size": w.size,
                    "cosignatures": w.cosignatures.iter().map(|c| json!({
                        "witness": c.name(), "vkey": c.witness, "timestamp": c.timestamp,
                    })).collect::<Vec<_>>(),
                })
            })
        };
        json!({
            "anchored_after": side(&a.after),
            "anchored_by": side(&a.by),
            // The time the log's quorum of witnesses vouches for (their k-th earliest).
            "anchored_by_time": a.by.as_ref().and_then(|w| w.vouched_by(s.ledger.witness_quorum())),
        })
    };
    let events: Vec<Value> = t
        .entries
        .iter()
        .map(|e| {
            let (role, org) = devices.get(&e.device).cloned().unwrap_or_default();
            json!({
                "index": e.index,
                "event": event_json(&e.bytes),
                "signer": { "id": e.device, "role": role, "org": org },
                "inherited_from": e.inherited.as_ref().map(|w| json!({
                    "container": w.container, "from_ms": w.from_ms, "until_ms": w.until_ms, "via": w.via,
                })),
                "chain": chain_json(e.chain),
                "verification": "signature verified at ingest; anchored in the log",
                // What the server's latest storage audit found about this entry (empty: nothing).
                "tampering": storage(e.index),
                "witnessed": witnessed(e.index),
            })
        })
        .collect();
    let missing: Vec<Value> = t
        .missing
        .iter()
        .map(|m| {
            json!({
                "index": m.index,
                "signer": m.device,
                "seq": m.seq,
                "time_ms": m.time_ms,
                "kind": m.kind.map(|k| k.name()),
                "problem": "indexed, but the entry is no longer stored",
                "tampering": storage(m.index),
            })
        })
        .collect();
    Ok(Json(json!({
        "item": t.item,
        "containers": t.containers.iter().map(|w| json!({
            "container": w.container, "from_ms": w.from_ms, "until_ms": w.until_ms, "via": w.via,
        })).collect::<Vec<_>>(),
        "events": events,
        // The container walk hit its bound (a hostile packing graph): containers further out
        // are not in this trace.
        "containers_truncated": t.containers_truncated,
        "missing": missing,
        // Entries naming the item that the index could not take (they break SPEC §3 or
        // repeat a signer's seq), so they are not among the events.
        "unindexed": t.unindexed.iter().map(|f| json!({
            "index": f.index, "problem": f.problem,
        })).collect::<Vec<_>>(),
        "findings": crate::evidence::custody(&t, &registry),
        "checkpoint": s.ledger.latest_checkpoint().await.note,
    })))
}

/// The public view of a trace: the entries that state the item's public facts (its making and
/// end of life), each with only its public fields, and where to prove them; nothing of the
/// journey, its custody or its findings.
async fn public_trace(
    item: &str,
    events: &[provenance_custody::rules::TraceEvent],
    s: &AppState,
) -> Value {
    let facts: Vec<Value> = events
        .iter()
        .filter_map(|e| {
            let v = provenance_access::visibility(provenance_access::ItemAccess::Public, e);
            provenance_access::redact(e, v)
        })
        .map(|e| {
            json!({
                "index": e.index,
                "kind": e.kind.name(),
                "time_ms": e.time_ms,
                "signer": { "org": e.signer.org },
                "place": e.place,
                "readings": e.readings.iter().map(|(q, v)| json!({ "quantity": q.name(), "value": v, "unit": q.unit() })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let cp = s.ledger.latest_checkpoint().await;
    let size = cp.checkpoint.size;
    let facts: Vec<Value> = facts
        .into_iter()
        .map(|mut f| {
            let i = f["index"].as_u64().unwrap_or_default();
            f["proof"] = json!(format!("/api/v1/proofs/inclusion?index={i}&size={size}"));
            f
        })
        .collect();
    json!({
        "item": item,
        "access": "public",
        "events": facts,
        "note": "the public view: who made the item, where and when; the journey, custody and \
                 findings are shown to the organisations involved and to authorities (send a \
                 read token as `Authorization: Bearer …`)",
        "checkpoint": cp.note,
    })
}

#[derive(Deserialize)]
struct RejectionParams {
    reason: Option<String>,
    device: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// The most rejections one page of `GET /api/v1/rejections` holds.
pub const MAX_REJECTIONS_PAGE: u32 = 1000;
/// The page size when `limit` is not given.
pub const DEFAULT_REJECTIONS_PAGE: u32 = 100;

async fn rejections(
    State(s): State<AppState>,
    Query(p): Query<RejectionParams>,
) -> ApiResult<Json<Value>> {
    // Refused rather than cut down: a caller asking for more would otherwise take a short
    // page for the whole list.
    let limit = p.limit.unwrap_or(DEFAULT_REJECTIONS_PAGE);
    if !(1..=MAX_REJECTIONS_PAGE).contains(&limit) {
        return Err(bad(format!(
            "limit must be 1 to {MAX_REJECTIONS_PAGE} (default {DEFAULT_REJECTIONS_PAGE}); \
             for more, page with before=<the smallest id of the previous page>"
        )));
    }
    let rows = s
        .ledger
        .rejections(&RejectionQuery {
            before_id: p.before,
            reason: p.reason,
            device: p.device,
            limit,
        })
        .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(id, r)| {
            json!({
                "id": id,
                "received_ms": r.received_ms,
                "topic": r.topic,
                "reason": r.reason,
                "detail": r.detail,
                "device": r.device,
                "seq": r.seq,
                "times": r.times,
                "last_received_ms": r.last_received_ms,
                "message": B64.encode(&r.data),
            })
        })
        .collect();
    Ok(Json(json!({ "rejections": list })))
}

fn device_json(d: &provenance_ledger::registry::DeviceInfo) -> Value {
    json!({
        "id": d.id,
        "role": d.role.name(),
        "org": d.org,
        "public_key": B64.encode(d.public_key),
        "registered_index": d.registered_idx,
        "key_index": d.key_idx,
        "revoked_index": d.revoked_idx,
        "suspect": d.suspect,
    })
}

async fn devices(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = s.ledger.devices().await?.iter().map(device_json).collect();
    Ok(Json(json!({ "devices": list })))
}

/// `GET /api/v1/places`: the names of places and parties, by GLN.
async fn places(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let places = s.ledger.places().await?;
    let list: Vec<Value> = places
        .list()
        .into_iter()
        .map(|(gln, name)| json!({ "gln": gln, "name": name }))
        .collect();
    Ok(Json(json!({ "places": list })))
}

#[derive(Deserialize)]
struct PlaceName {
    name: String,
}

/// `PUT /api/v1/places/{sgln or pgln URI}` with `{"name": …}` (admin).
async fn set_place(
    State(s): State<AppState>,
    Path(gln): Path<String>,
    Json(body): Json<PlaceName>,
) -> ApiResult<Json<Value>> {
    let key = s.ledger.set_place(&gln, &body.name, now_ms()).await?;
    Ok(Json(json!({ "gln": key, "name": body.name.trim() })))
}

/// `DELETE /api/v1/places/{sgln or pgln URI}` (admin).
async fn remove_place(
    State(s): State<AppState>,
    Path(gln): Path<String>,
) -> ApiResult<impl IntoResponse> {
    if s.ledger.remove_place(&gln).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no name is set for {gln}; `provenance places list` shows the names"),
        ))
    }
}

#[derive(Deserialize)]
struct ReadGrant {
    org: String,
    tier: String,
    items: Option<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn grant_json(g: &provenance_ledger::readers::Grant) -> Value {
    json!({
        "id": g.id, "org": g.org, "tier": g.tier, "items": g.items,
        "created_ms": g.created_ms, "revoked_ms": g.revoked_ms,
    })
}

/// `POST /api/v1/access` (admin): a read token for an organisation at a tier, shown once.
async fn grant_read(
    State(s): State<AppState>,
    Json(g): Json<ReadGrant>,
) -> ApiResult<impl IntoResponse> {
    let g = admin::grant_read(&s.ledger, &g.org, &g.tier, g.items.as_deref(), now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": g.id, "org": g.org, "tier": g.tier.name(), "items": g.items, "token": g.token,
        })),
    ))
}

/// `GET /api/v1/access` (admin): every grant, without tokens.
async fn read_grants(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = s
        .ledger
        .read_grants()
        .await?
        .iter()
        .map(grant_json)
        .collect();
    Ok(Json(json!({ "grants": list })))
}

/// `DELETE /api/v1/access/{id}` (admin): revokes a grant; its token stops working at once.
async fn revoke_read(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<impl IntoResponse> {
    if s.ledger.revoke_read(id, now_ms()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no active grant {id}; `provenance access list` shows the grants"),
        ))
    }
}

#[derive(Deserialize)]
struct Registration {
    id: String,
    role: String,
    org: String,
    public_key: String,
}

fn parse_key(b64: &str) -> ApiResult<[u8; 32]> {
    let bytes = B64.decode(b64.trim()).map_err(|_| {
        bad("public_key must be the base64 of a 32-byte Ed25519 key (`provenance keygen` prints one)")
    })?;
    Ok(admin::public_key(&bytes)?)
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => bad(m),
            AdminError::Ledger(e) => e.into(),
            AdminError::Randomness(m) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

fn registrar(s: &AppState) -> Registrar {
    Registrar::new(s.ledger.clone(), s.ingest.clone())
}

async fn register(
    State(s): State<AppState>,
    Json(r): Json<Registration>,
) -> ApiResult<impl IntoResponse> {
    let id = admin::device_id(&r.id)?;
    let role = admin::role(&r.role)?;
    let key = parse_key(&r.public_key)?;
    let done = registrar(&s).register(&id, role, &r.org, key).await?;
    let mut body = device_json(&done.device);
    body["mqtt_password"] = json!(done.mqtt_password);
    body["log_index"] = json!(done.log_index);
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
struct Rotation {
    public_key: String,
}

async fn rotate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<Rotation>,
) -> ApiResult<Json<Value>> {
    let id = admin::device_id(&id)?;
    let index = registrar(&s).rotate(&id, parse_key(&r.public_key)?).await?;
    Ok(Json(json!({ "id": id.as_str(), "log_index": index })))
}

#[derive(Deserialize, Default)]
struct Revocation {
    reason: Option<String>,
}

async fn revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<Revocation>>,
) -> ApiResult<Json<Value>> {
    let id = admin::device_id(&id)?;
    let reason = body.and_then(|b| b.0.reason);
    let index = registrar(&s).revoke(&id, reason.as_deref()).await?;
    Ok(Json(json!({ "id": id.as_str(), "log_index": index })))
}

/// A new MQTT password for the device: the old one stops working and its open sessions close.
async fn new_password(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = admin::device_id(&id)?;
    let password = registrar(&s).new_mqtt_password(&id).await?;
    Ok(Json(
        json!({ "id": id.as_str(), "mqtt_password": password }),
    ))
}

async fn submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/cose") {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the COSE_Sign1 bytes with Content-Type: application/cose (`provenance submit FILE` does)".into(),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let outcome = s
        .ingest
        .submit(Message {
            topic: None,
            bytes: body.to_vec(),
            received_ms: now,
        })
        .await;
    Ok(match outcome {
        Outcome::Anchored {
            index,
            checkpoint_size,
        } => (
            StatusCode::CREATED,
            Json(
                json!({ "status": "anchored", "index": index, "checkpoint_size": checkpoint_size }),
            ),
        ),
        Outcome::Duplicate { index } => (
            StatusCode::OK,
            Json(json!({ "status": "duplicate", "index": index })),
        ),
        Outcome::Rejected(r) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({ "status": "rejected", "reason": r.reason.as_str(), "detail": r.detail, "seq": r.seq }),
            ),
        ),
        Outcome::Unavailable(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": e, "retry": true })),
        ),
    })
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let body = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
