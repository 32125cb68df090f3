//! Requests to the whole HTTP site (`provenance_web::site`: the JSON API and the pages), sent
//! in-process through the real axum router to a real ledger and ingest (see `server`).
//!
//! The input is five selector bytes (method, route, authorization, content type, Host), then
//! three lines (the path parameter(s) filled into the route, `|` separating two; the query
//! string; the Host value) and the body, which is everything after the third newline:
//!
//! ```text
//! M R A C H fill \n query \n host \n body…
//! ```
//!
//! Nothing may panic; every answer is a status below 500 (bad input is the client's fault and
//! gets a 4xx that says what to send); a write without the admin token never succeeds; an API
//! error answer that the handlers build is JSON with an `error` message.
#![no_main]

mod server;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use provenance_web::{AppState, site};
use server::{Auth, TOKEN, Write, registry_appended, registry_state_conflict, world};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt as _;

const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
    Method::PATCH,
];

/// Route templates; `{}` takes the fill (or its parts, split at `|`).
const ROUTES: [&str; 24] = [
    "/api/v1/checkpoint",
    "/api/v1/log/key",
    "/api/v1/log/entries",
    "/api/v1/proofs/inclusion",
    "/api/v1/proofs/consistency",
    "/api/v1/items/{}/trace",
    "/api/v1/items/{}/evidence",
    "/api/v1/items/{}/epcis",
    "/api/v1/rejections",
    "/api/v1/devices",
    "/api/v1/devices/{}/rotate",
    "/api/v1/devices/{}/revoke",
    "/api/v1/events",
    "/metrics",
    "/",
    "/search",
    "/items/{}",
    "/items/{}/live",
    "/01/{}/21/{}",
    "/00/{}",
    "/customs/{}",
    "/static/style.css",
    "/static/live.js",
    "/{}",
];

const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/cose"),
    Some("text/plain"),
    Some("application/json; charset=utf-8"),
    Some("application/x-www-form-urlencoded"),
];

/// What a request to `path` writes when the token is right.
fn writes(method: &Method, path: &str) -> Write {
    if method != Method::POST {
        Write::Nothing
    } else if path == "/api/v1/events" {
        Write::Submission
    } else if path == "/api/v1/devices"
        || (path.starts_with("/api/v1/devices/")
            && (path.ends_with("/rotate") || path.ends_with("/revoke")))
    {
        Write::Registry
    } else {
        Write::Nothing
    }
}

/// Bytes as they may stand in a URI: what a URI allows verbatim (including `%`, so that broken
/// escapes reach the router), the rest percent-encoded.
fn uri_part(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn path(template: &str, fill: &[u8]) -> String {
    let mut parts = fill.split(|&b| b == b'|');
    let mut out = String::new();
    let mut pieces = template.split("{}").peekable();
    while let Some(piece) = pieces.next() {
        out.push_str(piece);
        if pieces.peek().is_some() {
            uri_part(parts.next().unwrap_or_default(), &mut out);
        }
    }
    out
}

/// The site, built once.
fn app() -> Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| {
        let w = world();
        site(AppState {
            ledger: w.ledger.clone(),
            ingest: w.ingest.clone(),
            admin_token: Arc::new(TOKEN.into()),
            metrics: Some(
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .build_recorder()
                    .handle(),
            ),
        })
    })
    .clone()
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let [m, r, a, c, h, rest @ ..] = data else {
        return;
    };
    let method = METHODS[usize::from(*m) % METHODS.len()].clone();
    let template = ROUTES[usize::from(*r) % ROUTES.len()];
    let (fill, rest) = split_line(rest);
    let (query, rest) = split_line(rest);
    let (host, body) = split_line(rest);

    let mut uri = path(template, fill);
    if !query.is_empty() {
        uri.push('?');
        uri_part(query, &mut uri);
    }
    let route_path = uri.split('?').next().unwrap_or_default().to_string();
    let content_type = CONTENT_TYPES[usize::from(*c) % CONTENT_TYPES.len()];
    let write = writes(&method, &route_path);
    let is_write = write != Write::Nothing;
    // A submission of anything but COSE is refused before the pipeline: it writes nothing.
    let spends = match write {
        Write::Submission if content_type != Some("application/cose") => Write::Nothing,
        w => w,
    };
    let authorization = Auth::from_byte(*a).header(spends);
    let valid = Auth::is_valid(authorization.as_deref());

    let mut req = Request::builder().method(method.clone()).uri(uri.as_str());
    if let Some(v) = &authorization {
        req = req.header(header::AUTHORIZATION, v);
    }
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    // Host: none, the fuzzed value, or a plain one.
    match h % 3 {
        0 => {}
        1 => req = req.header(header::HOST, host),
        _ => req = req.header(header::HOST, "provenance.example"),
    }
    // A URI or header the http crate refuses never reaches a server.
    let Ok(req) = req.body(Body::from(body.to_vec())) else {
        return;
    };

    let w = world();
    let app = app();
    w.rt.block_on(async move {
        let size = || async { w.ledger.latest_checkpoint().await.checkpoint.size };
        let before = size().await;
        let resp = app.oneshot(req).await.expect("infallible");
        if write == Write::Registry {
            registry_appended(before, size().await);
        }
        let status = resp.status();
        assert!(
            !status.is_server_error(),
            "{method} {uri} answered {status} (bad input must get a 4xx)"
        );
        if is_write && !valid {
            assert!(
                !status.is_success(),
                "{method} {uri} wrote without the admin token: {status}"
            );
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        // The live stream stays open for 20 s: its head is the answer.
        if content_type.starts_with("text/event-stream") {
            assert_eq!(status, StatusCode::OK);
            return;
        }
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        // Errors the API builds itself are JSON with a message (extractor rejections are
        // axum's plain text).
        // (A HEAD answer has the head only.)
        if status.is_client_error()
            && method != Method::HEAD
            && route_path.starts_with("/api/")
            && content_type == "application/json"
        {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error");
            assert!(
                v["error"].as_str().is_some_and(|e| !e.is_empty()) || v["status"] == "rejected",
                "{method} {uri}: {v}"
            );
            if status == StatusCode::CONFLICT {
                let message = v["error"].as_str().unwrap_or_default();
                assert!(
                    registry_state_conflict(message),
                    "{method} {uri}: 409 for a malformed request: {message}"
                );
            }
        }
    });
});
