//! The cost of reads (issue #12), each test named after the attack: many open pages of one
//! item, more live streams than the server should hold, and repeated customs views and
//! evidence downloads. The site runs in-process over a real SQLite ledger; requests go
//! through the router as a service (`oneshot`), each with the client address a real server
//! would attach, so a thousand streams need no thousand sockets and several client addresses
//! can be played from one machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt as _;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, Quantity, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::audit::Auditor;
use provenance_web::reads::{Limits, Reads};
use provenance_web::{AppState, site_with_reads};
use tower::ServiceExt as _;

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";

struct Station {
    key: SigningKey,
    id: DeviceId,
    seq: u64,
    prev: [u8; 32],
}

impl Station {
    fn new() -> Self {
        Self {
            key: SigningKey::from_bytes(&[7; 32]),
            id: DeviceId::new("station-r").expect("id"),
            seq: 0,
            prev: [0; 32],
        }
    }

    fn event(&mut self, kind: Kind) -> Vec<u8> {
        self.seq += 1;
        let items = [Epc::parse(CELL).expect("epc")];
        let time = 1_763_719_200_000 + self.seq as i64 * 60_000;
        let mut d = Draft::new(self.seq, self.prev, time, kind, &items);
        if kind == Kind::Measured {
            d.readings
                .set(Quantity::Temperature, 21_000)
                .expect("range");
        }
        let mut buf = vec![0u8; 2048];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }
}

struct Site {
    app: Router,
    reads: Reads,
    ledger: Arc<Ledger>,
    station: Station,
    _dir: tempfile::TempDir,
}

impl Site {
    async fn new(limits: Limits) -> Self {
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
        let station = Station::new();
        ledger
            .register(
                &station.id,
                Role::Station,
                "urn:epc:id:pgln:4012345.00001",
                station.key.verifying_key().to_bytes(),
            )
            .await
            .expect("register");
        let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), Config::default())
            .await
            .expect("ingest");
        let state = AppState {
            ledger: ledger.clone(),
            ingest,
            admin_token: Arc::new("s3cret".into()),
            metrics: None,
        };
        let reads = Reads::new(limits);
        let auditor = Auditor::start(ledger.clone(), None);
        let app = site_with_reads(state, auditor, reads.clone());
        Self {
            app,
            reads,
            ledger,
            station,
            _dir: dir,
        }
    }

    /// Appends the station's next event and waits until the index holds it.
    async fn append(&mut self, kind: Kind) {
        let a = self
            .ledger
            .append(&[self.station.event(kind)])
            .await
            .expect("append");
        self.ledger
            .wait_indexed(a.checkpoint.checkpoint.size)
            .await
            .expect("indexed");
    }

    /// `GET path` from `client`, as a server with connect info would hand it to the site.
    async fn get(&self, path: &str, client: SocketAddr) -> Response {
        // As an authority: this file is about caches and caps, not tiers (tests/access.rs).
        let mut req = Request::get(path)
            .header(axum::http::header::AUTHORIZATION, "Bearer s3cret")
            .body(Body::empty())
            .expect("request");
        req.extensions_mut().insert(ConnectInfo(client));
        self.app.clone().oneshot(req).await.expect("infallible")
    }
}

fn client(n: u32) -> SocketAddr {
    let [a, b, c, d] = (0x0a00_0000u32 + n).to_be_bytes();
    SocketAddr::from(([a, b, c, d], 40_000))
}

fn live_path() -> String {
    format!("/items/{CELL}/live?v=stale")
}

/// Reads an event stream until it has said `what`.
async fn read_until(
    body: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    what: &str,
) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains(what) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("no {what:?} in time; got {seen}"))
            .expect("the stream ended")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// A thousand open trace pages of one item (one attacker with a script, or a popular
/// consignment): each append must cost one trace for all of them, not one per page. Before
/// the shared feed, every stream traced the item itself on every index advance: 1,000 traces
/// per append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_live_watchers_of_one_item_cost_one_trace_per_append() {
    const WATCHERS: u32 = 1000;
    let mut site = Site::new(Limits {
        live_streams: 2000,
        live_streams_per_ip: 2000,
        ..Limits::default()
    })
    .await;
    site.append(Kind::Commissioned).await;

    let mut streams = Vec::new();
    for n in 0..WATCHERS {
        let r = site.get(&live_path(), client(n % 50)).await;
        assert_eq!(r.status(), StatusCode::OK);
        streams.push(r.into_body().into_data_stream());
    }
    assert_eq!(site.reads.live_streams(), WATCHERS as usize);
    // Every page says it is stale ("v=stale"): each stream hears the present once.
    for s in &mut streams {
        read_until(s, "event: anchored").await;
    }
    let before = site.reads.live_recomputes();
    assert!(
        before <= 2,
        "the present was traced {before} times for {WATCHERS} streams"
    );

    const APPENDS: u64 = 3;
    for _ in 0..APPENDS {
        site.append(Kind::Measured).await;
        // Every stream hears about every append: the fan-out works.
        for s in &mut streams {
            read_until(s, "event: anchored").await;
        }
    }
    let per_appends = site.reads.live_recomputes() - before;
    assert!(
        per_appends <= APPENDS,
        "{per_appends} traces for {APPENDS} appends watched by {WATCHERS} streams"
    );
    eprintln!("{WATCHERS} watchers, {APPENDS} appends: {per_appends} traces after the first look");

    // The streams gone, their places and the item's feed are given back.
    drop(streams);
    for _ in 0..100 {
        if site.reads.live_streams() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(site.reads.live_streams(), 0);
}

/// More live streams than the server should hold: past the per-client cap and past the
/// server-wide cap the answer is 503 with Retry-After, the page itself still loads, and a
/// place freed by a closed stream can be taken again. Before the cap, every request held a
/// stream (and a task tracing the item) for 20 s, without limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_capped() {
    let mut site = Site::new(Limits {
        live_streams: 40,
        live_streams_per_ip: 16,
        ..Limits::default()
    })
    .await;
    site.append(Kind::Commissioned).await;

    // One client: 16 streams, then 503.
    let mut held = Vec::new();
    for _ in 0..16 {
        let r = site.get(&live_path(), client(1)).await;
        assert_eq!(r.status(), StatusCode::OK);
        held.push(r);
    }
    let refused = site.get(&live_path(), client(1)).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry = refused
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s > 0), "Retry-After: {retry:?}");
    // The page works without its stream.
    let page = site.get(&format!("/items/{CELL}"), client(1)).await;
    assert_eq!(page.status(), StatusCode::OK);

    // Other clients fill the server up to its cap of 40, then everyone is refused.
    for n in 0..24 {
        let r = site.get(&live_path(), client(100 + n / 8)).await;
        assert_eq!(r.status(), StatusCode::OK, "stream {n} of the others");
        held.push(r);
    }
    assert_eq!(site.reads.live_streams(), 40);
    let r = site.get(&live_path(), client(999)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

    // A closed stream gives its place back.
    drop(held.pop());
    drop(held.remove(0));
    let mut again = None;
    for _ in 0..100 {
        let r = site.get(&live_path(), client(1)).await;
        if r.status() == StatusCode::OK {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = again.expect("a freed place is taken again");
    let mut body = again.into_body().into_data_stream();
    read_until(&mut body, "event: anchored").await;
}

/// The customs view runs the offline verifier over the whole evidence bundle (its queries,
/// every inclusion proof and every signature): asked again and again at the same tree size,
/// it must cost a map lookup. Counted: bundles assembled and verifier runs. Before the cache,
/// every request assembled the bundle and ran the verifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customs_view_is_cached_per_tree_size() {
    let mut site = Site::new(Limits::default()).await;
    site.append(Kind::Commissioned).await;
    site.append(Kind::Measured).await;

    let customs = format!("/customs/{CELL}");
    let first = site.get(&customs, client(1)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = axum::body::to_bytes(first.into_body(), 1 << 22)
        .await
        .expect("body");
    assert_eq!(
        (site.reads.evidence_builds(), site.reads.verifier_runs()),
        (1, 1)
    );
    for _ in 0..20 {
        let again = site.get(&customs, client(2)).await;
        assert_eq!(again.status(), StatusCode::OK);
        let again = axum::body::to_bytes(again.into_body(), 1 << 22)
            .await
            .expect("body");
        assert_eq!(again, first, "the same tree size gives the same page");
    }
    assert_eq!(
        (site.reads.evidence_builds(), site.reads.verifier_runs()),
        (1, 1),
        "no bundle assembled and no verifier run for a repeated view"
    );

    // The download is the bundle the view verified: no second assembly.
    let evidence = format!("/api/v1/items/{CELL}/evidence");
    let bundle = site.get(&evidence, client(3)).await;
    assert_eq!(bundle.status(), StatusCode::OK);
    let bundle = axum::body::to_bytes(bundle.into_body(), 1 << 22)
        .await
        .expect("body");
    for _ in 0..5 {
        let again = site.get(&evidence, client(3)).await;
        let again = axum::body::to_bytes(again.into_body(), 1 << 22)
            .await
            .expect("body");
        assert_eq!(again, bundle);
    }
    assert_eq!(site.reads.evidence_builds(), 1);

    // A new entry is a new tree size: the view is verified again, once, and shows it.
    site.append(Kind::Measured).await;
    let after = site.get(&customs, client(1)).await;
    assert_eq!(after.status(), StatusCode::OK);
    let after = axum::body::to_bytes(after.into_body(), 1 << 22)
        .await
        .expect("body");
    assert_ne!(after, first);
    let after_bundle = site.get(&evidence, client(3)).await;
    let after_bundle = axum::body::to_bytes(after_bundle.into_body(), 1 << 22)
        .await
        .expect("body");
    assert_ne!(after_bundle, bundle);
    assert_eq!(
        (site.reads.evidence_builds(), site.reads.verifier_runs()),
        (2, 2)
    );

    // Concurrent first requests at a new size share one assembly and one verifier run.
    site.append(Kind::Measured).await;
    let views = futures_util::future::join_all((0..16).map(|n| site.get(&customs, client(n))));
    for r in views.await {
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        (site.reads.evidence_builds(), site.reads.verifier_runs()),
        (3, 3)
    );
}
