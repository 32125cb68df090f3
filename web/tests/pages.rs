//! The pages over a real server: search redirects and its help, Digital Link resolution, that
//! everything an event carries is escaped, the customs view, and the live stream telling a
//! stale page that the item's history changed. (tests/web_browser.rs looks at them in
//! Chromium.)

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::{AppState, site};
use serde_json::json;

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

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
const HOSTILE_DOC: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_ORG: &str = "<script>alert(\"org\")</script> urn:epc:id:pgln:4012345.00009";

struct Signer {
    key: SigningKey,
    id: DeviceId,
    seq: u64,
    prev: [u8; 32],
}

impl Signer {
    fn sign(&mut self, kind: Kind, time: i64) -> Vec<u8> {
        self.seq += 1;
        let items = [Epc::parse(CELL).expect("epc")];
        let place = Location::fix(519_000_000, 44_000_000);
        let mut d = Draft::new(self.seq, self.prev, time, kind, &items);
        d.doc = Some(HOSTILE_DOC);
        d.location = Some(&place);
        let mut buf = vec![0u8; 2048];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }
}

async fn server() -> (String, tempfile::TempDir) {
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
        ledger,
        ingest,
        admin_token: Arc::new("s3cret".into()),
        metrics: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, site(state)).await });
    (base, dir)
}

/// Reads the event stream into `seen` until it contains `what`.
async fn read_until(seen: &mut String, stream: &mut reqwest::Response, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(what) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {what:?} in time; got {seen}"))
            .expect("chunk")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_resolve_escape_and_stream() {
    let (base, _dir) = server().await;
    // No redirects followed: the test looks at them.
    let http = reqwest::Client::builder()
        .default_headers(authority())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut signer = Signer {
        key: SigningKey::from_bytes(&[9; 32]),
        id: DeviceId::new("station-x").expect("id"),
        seq: 0,
        prev: [0; 32],
    };
    let r = http
        .post(format!("{base}/api/v1/devices"))
        .bearer_auth("s3cret")
        .json(&json!({
            "id": "station-x", "role": "station", "org": HOSTILE_ORG,
            "public_key": B64.encode(signer.key.verifying_key().as_bytes()),
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let submit = |bytes: Vec<u8>| {
        http.post(format!("{base}/api/v1/events"))
            .bearer_auth("s3cret")
            .header("content-type", "application/cose")
            .body(bytes)
            .send()
    };
    let t0 = now_ms() - 3_600_000;
    assert_eq!(
        submit(signer.sign(Kind::Commissioned, t0))
            .await
            .expect("submit")
            .status(),
        201
    );

    let get = |path: String| http.get(format!("{base}{path}")).send();

    // Search: every accepted form lands on the trace page.
    let gtin = Epc::parse(CELL).expect("epc").gs1_key().to_string();
    for q in [
        CELL.to_string(),
        format!("{gtin} 1001"),
        format!("(01){gtin}(21)1001"),
        format!("https://id.example.com/01/{gtin}/21/1001"),
    ] {
        let mut page = None;
        // The index follows the log within milliseconds.
        for _ in 0..50 {
            let r = http
                .get(format!("{base}/search"))
                .query(&[("q", &q)])
                .send()
                .await
                .expect("search");
            if r.status().is_redirection() {
                page = r
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_string);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(page.as_deref(), Some(&*format!("/items/{CELL}")), "{q}");
    }
    let r = get("/search?q=pallet%2042".into()).await.expect("search");
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("not an item ID in any of the accepted forms"),
        "{body}"
    );
    assert!(
        body.contains("(01)04012345123456(21)1001"),
        "help lists the forms"
    );
    let r = get(format!("/search?q={gtin}+999")).await.expect("search");
    assert_eq!(r.status(), 404);
    assert!(r.text().await.expect("body").contains("serial 999"));

    // The trace page, under its EPC and its Digital Link; hostile text is escaped.
    for path in [format!("/items/{CELL}"), format!("/01/{gtin}/21/1001")] {
        let r = get(path.clone()).await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .is_ok_and(|c| c.starts_with("text/html"))
        );
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .is_ok_and(|c| c.starts_with("default-src 'self'"))
        );
        let html = r.text().await.expect("html");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains(HOSTILE_DOC));
        assert!(html.contains("&lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("<svg class=\"qrcode\""));
        assert!(html.contains(&format!("/01/{gtin}/21/1001")));
    }
    // The same item under the other forms GS1 Digital Link allows: a GTIN-13, and key
    // qualifiers (lot, CPV) before the serial.
    let gtin13 = gtin.trim_start_matches('0').to_string();
    for path in [
        format!("/01/{gtin13}/21/1001"),
        format!("/01/{gtin}/10/LOT7/21/1001"),
        format!("/01/{gtin}/22/2A/21/1001"),
        format!("/01/{gtin13}/22/2A/10/LOT7/21/1001"),
    ] {
        let r = get(path.clone()).await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.text().await.expect("html").contains(CELL), "{path}");
    }
    assert_eq!(
        get("/01/04012345123456/21/nothing".into())
            .await
            .expect("dl")
            .status(),
        404
    );
    assert_eq!(
        get("/items/not-an-epc".into())
            .await
            .expect("page")
            .status(),
        400
    );
    let css = get("/static/style.css".into()).await.expect("css");
    assert!(
        css.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/css"))
    );

    // The customs view of the item: the offline verdict, the command line.
    let r = get(format!("/customs/{CELL}")).await.expect("customs");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("html");
    assert!(html.contains("provenance verify --bundle"), "{html}");
    assert!(html.contains("Inclusion in the log"));

    // The live stream: a page showing an old version hears at once that it is stale, and a
    // new event is announced when it is anchored.
    let mut stream = get(format!("/items/{CELL}/live?v=stale"))
        .await
        .expect("live");
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    let mut seen = String::new();
    read_until(&mut seen, &mut stream, "event: anchored").await;
    assert!(seen.contains("\"events\":1"), "{seen}");
    seen.clear();
    assert_eq!(
        submit(signer.sign(Kind::Located, t0 + 60_000))
            .await
            .expect("submit")
            .status(),
        201
    );
    read_until(&mut seen, &mut stream, "\"events\":2").await;
}
