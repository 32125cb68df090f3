//! The log served as C2SP tlog-tiles over real TCP: every tile and entry bundle a checkpoint
//! calls for is served, byte for byte what the tree gives, and nothing beyond the newest
//! checkpoint is; paths are parsed as the spec spells them; caching and compression headers
//! are the spec's.

use std::collections::HashMap;
use std::sync::Arc;

use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_tlog::tile::{Edge, TILE_WIDTH, TileId};
use provenance_tlog::{Checkpoint, leaf_hash};
use provenance_web::{AppState, router};

/// Requests as an authority (the admin token reads as one): this file is about what the views
/// show, not who may see them (`tests/access.rs` is).
fn authority() -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_static("Bearer s3cret"),
    );
    h
}

/// `n` events of one signer, numbered from `first`.
fn events(first: u64, n: u64) -> Vec<Vec<u8>> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let id = DeviceId::new("station-t").expect("id");
    let item = [Epc::parse("urn:epc:id:sgtin:4012345.012345.7").expect("epc")];
    (first..first + n)
        .map(|seq| {
            let d = Draft::new(
                seq,
                [0; 32],
                1_763_719_200_000 + seq as i64,
                Kind::Inspected,
                &item,
            );
            let mut buf = vec![0u8; 2048];
            let len = sign_event(&key, &id, &d, &mut buf).expect("sign");
            buf.truncate(len);
            buf
        })
        .collect()
}

/// Splits an entry bundle into its entries.
fn unbundle(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        out.push(b[2..2 + n].to_vec());
        b = &b[2 + n..];
    }
    out
}

#[tokio::test]
async fn the_log_is_served_as_c2sp_tiles_up_to_the_newest_checkpoint() {
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
    let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), Config::default())
        .await
        .expect("ingest");
    let state = AppState {
        ledger: ledger.clone(),
        ingest,
        admin_token: Arc::new("s3cret".into()),
        metrics: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let http = reqwest::Client::builder()
        .default_headers(authority())
        .build()
        .expect("client");
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{base}/{path}");
        async move { http.get(url).send().await.expect("get") }
    };

    // 600 entries in six batches: tiles 0/000 and 0/001 full, 0/002 partial (88), 1/000
    // partial (2).
    let mut all = Vec::new();
    for batch in 0..6 {
        let e = events(batch * 100 + 1, 100);
        ledger.append(&e).await.expect("append");
        all.extend(e);
    }

    let r = get("checkpoint".into()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; charset=utf-8",
        "the spec's content type"
    );
    assert_eq!(r.headers()["cache-control"], "public, max-age=2");
    let note = r.text().await.expect("body");
    let (checkpoint, _) = Checkpoint::open(
        note.as_bytes(),
        ledger.verifier(),
        Some("provenance.test/log"),
    )
    .expect("the served checkpoint verifies with the log key");
    assert_eq!(checkpoint.size, 600);

    // What the tree gives, tile by tile.
    let leaves: Vec<_> = all.iter().map(|e| leaf_hash(e)).collect();
    let mut edge = Edge::empty();
    let mut expected: HashMap<TileId, Vec<[u8; 32]>> = HashMap::new();
    for w in edge.append(&leaves) {
        expected.insert(w.id, w.hashes);
    }
    assert_eq!(edge.root(), checkpoint.root);
    for (id, hashes) in &expected {
        let r = get(id.path(hashes.len())).await;
        assert_eq!(r.status(), 200, "{}", id.path(hashes.len()));
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let body = r.bytes().await.expect("body");
        assert_eq!(body.as_ref(), hashes.concat(), "{}", id.path(hashes.len()));
        // Any narrower partial tile is a prefix of it.
        if hashes.len() > 1 {
            let body = get(id.path(1)).await.bytes().await.expect("body");
            assert_eq!(body.as_ref(), hashes[0]);
        }
    }
    assert_eq!(expected.len(), 4, "0/000, 0/001, 0/002.p/88, 1/000.p/2");

    // Entry bundles hold the messages as stored, and hash to the level-0 tiles.
    let mut served = Vec::new();
    for (n, width) in [(0u64, 256usize), (1, 256), (2, 88)] {
        let path =
            TileId { level: 0, index: n }
                .path(width)
                .replacen("tile/0/", "tile/entries/", 1);
        let r = get(path.clone()).await;
        assert_eq!(r.status(), 200, "{path}");
        served.extend(unbundle(&r.bytes().await.expect("body")));
    }
    assert_eq!(served, all);

    // Nothing beyond the newest checkpoint, though a batch's tiles may be in storage first.
    for path in [
        "tile/0/002",
        "tile/0/002.p/89",
        "tile/0/003.p/1",
        "tile/1/000.p/3",
        "tile/2/000.p/1",
        "tile/entries/002",
        "tile/entries/002.p/89",
    ] {
        let r = get(path.into()).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    // Paths as the spec spells them, and nothing else.
    for path in [
        "tile/0/2",
        "tile/00/000",
        "tile/0/000.p/256",
        "tile/0/x000/000",
        "tile/64/000",
        "tile/entries/000.p/0",
    ] {
        assert_eq!(get(path.into()).await.status(), 400, "{path}");
    }

    // Entry bundles are compressed when the client accepts gzip.
    let r = http
        .get(format!("{base}/tile/entries/000"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let zipped = r.bytes().await.expect("body").len();
    let plain: usize = all[..TILE_WIDTH].iter().map(|e| e.len() + 2).sum();
    assert!(zipped < plain, "{zipped} bytes compressed of {plain}");

    // The next batch extends what is served; the old partial tile stays as it was.
    let e = events(601, 200);
    ledger.append(&e).await.expect("append");
    assert_eq!(get("tile/0/002".into()).await.status(), 200);
    let old = get("tile/0/002.p/88".into())
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(
        old.as_ref(),
        expected[&TileId { level: 0, index: 2 }].concat()
    );
    ledger.close().await;
}
