//! Compression (issue #18: pages went out as 106–149 KB of plain HTML): every page and answer
//! worth it is compressed with gzip or brotli, whichever the client asks for; the live stream
//! of an item page is not (a compressor would hold its events back until its buffer fills),
//! and a client that asks for nothing gets the plain body. The site runs in-process over a
//! real SQLite ledger; requests go through the router as a service (`oneshot`).

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt as _;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::audit::Auditor;
use provenance_web::reads::Reads;
use provenance_web::{AppState, site_with_reads};
use tower::ServiceExt as _;

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";

/// A site over a fresh ledger holding one event about [`CELL`].
async fn site() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(
        Ledger::open(&LedgerConfig {
            database_url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        })
        .await
        .expect("open"),
    );
    let key = SigningKey::from_bytes(&[7; 32]);
    let id = DeviceId::new("station-c").expect("id");
    ledger
        .register(
            &id,
            Role::Station,
            "urn:epc:id:pgln:4012345.00001",
            key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    let items = [Epc::parse(CELL).expect("epc")];
    let d = Draft::new(1, [0; 32], 1_763_719_200_000, Kind::Commissioned, &items);
    let mut buf = vec![0u8; 2048];
    let n = sign_event(&key, &id, &d, &mut buf).expect("sign");
    buf.truncate(n);
    let a = ledger.append(&[buf]).await.expect("append");
    ledger
        .wait_indexed(a.checkpoint.checkpoint.size)
        .await
        .expect("indexed");
    let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), Config::default())
        .await
        .expect("ingest");
    let state = AppState {
        ledger: ledger.clone(),
        ingest,
        admin_token: Arc::new("s3cret".into()),
        metrics: None,
    };
    let app = site_with_reads(state, Auditor::start(ledger, None), Reads::default());
    (app, dir)
}

/// `GET path` with `Accept-Encoding: accept` (none when empty), as a server would hand it on.
async fn get(app: &Router, path: &str, accept: &str) -> Response {
    // As an authority: this file is about encodings, not tiers (tests/access.rs).
    let mut req = Request::get(path).header(header::AUTHORIZATION, "Bearer s3cret");
    if !accept.is_empty() {
        req = req.header(header::ACCEPT_ENCODING, accept);
    }
    let mut req = req.body(Body::empty()).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 40_000))));
    app.clone().oneshot(req).await.expect("infallible")
}

fn encoding(r: &Response) -> Option<&str> {
    r.headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
}

async fn body(r: Response) -> Bytes {
    axum::body::to_bytes(r.into_body(), 16 << 20)
        .await
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_compressed_and_the_live_stream_is_not() {
    let (app, _dir) = site().await;
    let item = format!("/items/{CELL}");

    for path in ["/", item.as_str()] {
        let plain = get(&app, path, "").await;
        assert_eq!(plain.status(), StatusCode::OK, "{path}");
        assert_eq!(encoding(&plain), None, "{path} without Accept-Encoding");
        let plain = body(plain).await;

        let gz = get(&app, path, "gzip").await;
        assert_eq!(gz.status(), StatusCode::OK, "{path}");
        assert_eq!(encoding(&gz), Some("gzip"), "{path}");
        let vary = gz.headers().get(header::VARY).and_then(|v| v.to_str().ok());
        assert!(
            vary.is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{path}: caches must key on Accept-Encoding; Vary: {vary:?}"
        );
        let gz = body(gz).await;
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unzipped)
            .expect("a gzip body");
        assert_eq!(unzipped, plain, "{path}: gzip decodes to the plain page");
        assert!(gz.len() < plain.len(), "{path}: gzip made it smaller");

        // Brotli where the client prefers it (browsers send both).
        let br = get(&app, path, "gzip;q=0.8, br").await;
        assert_eq!(br.status(), StatusCode::OK, "{path}");
        assert_eq!(encoding(&br), Some("br"), "{path}");
        let br = body(br).await;
        let mut unbrotlied = Vec::new();
        brotli_decompressor::BrotliDecompress(&mut &br[..], &mut unbrotlied)
            .expect("a brotli body");
        assert_eq!(
            unbrotlied, plain,
            "{path}: brotli decodes to the plain page"
        );
        assert!(br.len() < plain.len(), "{path}: brotli made it smaller");
    }

    // The live stream: plain text, event by event, whatever the client accepts. Its page is
    // stale (`v=stale`), so it hears `anchored` at once; a compressor would hold that back.
    let live = get(&app, &format!("/items/{CELL}/live?v=stale"), "gzip, br").await;
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(encoding(&live), None, "the live stream is not compressed");
    let ct = live
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("text/event-stream"), "content-type {ct}");
    let mut stream = live.into_body().into_data_stream();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains("event: anchored") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no plain `event: anchored` in time; got {seen:?}"))
            .expect("the stream ended")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}
