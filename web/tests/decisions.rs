//! The item page as a person deciding reads it, over a real server: one status (a customs hold
//! outranks who holds the container), each warning once, an overheating merged into one
//! episode with its peak, duration and holder, what a container holds and which items a
//! finding concerns, and the operator's place names (set through the admin API) in place of
//! GLNs.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, Quantity, sign_event};
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

const CONTAINER: &str = "urn:epc:id:sscc:4012345.0000000017";
const CELLS: [&str; 2] = [
    "urn:epc:id:sgtin:4012345.012345.2001",
    "urn:epc:id:sgtin:4012345.012345.2002",
];
const PLANT_SGLN: &str = "urn:epc:id:sgln:4012345.00001.0";
const WAREHOUSE: &str = "urn:epc:id:pgln:4012345.00004";
const T0: i64 = 1_763_000_000_000;
const MIN: i64 = 60_000;

struct Signer {
    key: SigningKey,
    id: DeviceId,
    seq: u64,
    prev: [u8; 32],
}

#[derive(Default)]
struct With<'a> {
    parent: Option<&'a str>,
    party: Option<&'a str>,
    place: Option<&'a str>,
    temperature: Option<i64>,
}

impl Signer {
    fn new(seed: u8, id: &str) -> Self {
        Signer {
            key: SigningKey::from_bytes(&[seed; 32]),
            id: DeviceId::new(id).expect("id"),
            seq: 0,
            prev: [0; 32],
        }
    }

    fn sign(&mut self, kind: Kind, minute: i64, items: &[&str], w: With<'_>) -> Vec<u8> {
        self.seq += 1;
        let items: Vec<Epc> = items.iter().map(|i| Epc::parse(i).expect("epc")).collect();
        let parent = w.parent.map(|p| Epc::parse(p).expect("parent"));
        let party = w.party.map(|p| Epc::parse(p).expect("party"));
        let location = w.place.map(|p| Location {
            lat_lon: None,
            sgln: Some(Epc::parse(p).expect("sgln")),
        });
        let mut d = Draft::new(self.seq, self.prev, T0 + minute * MIN, kind, &items);
        d.parent = parent.as_ref();
        d.party = party.as_ref();
        d.location = location.as_ref();
        if let Some(t) = w.temperature {
            d.readings.set(Quantity::Temperature, t).expect("reading");
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_overheated_container_reads_as_one_decision() {
    let (base, _dir) = server().await;
    let http = reqwest::Client::builder()
        .default_headers(authority())
        .build()
        .expect("client");
    let mut plant = Signer::new(1, "plant-1");
    let mut tracker = Signer::new(2, "tracker-1");
    let mut customs = Signer::new(3, "customs-1");
    for (s, role, org) in [
        (
            &plant,
            "station",
            "Acme Cells urn:epc:id:pgln:4012345.00001",
        ),
        (
            &tracker,
            "tracker",
            "Acme Cells urn:epc:id:pgln:4012345.00001",
        ),
        (
            &customs,
            "customs",
            "Dutch Customs urn:epc:id:pgln:4012345.00003",
        ),
    ] {
        let r = http
            .post(format!("{base}/api/v1/devices"))
            .bearer_auth("s3cret")
            .json(&json!({
                "id": s.id.as_str(), "role": role, "org": org,
                "public_key": B64.encode(s.key.verifying_key().as_bytes()),
            }))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
    }
    let mut events = vec![
        plant.sign(Kind::Commissioned, 0, &CELLS, With::default()),
        plant.sign(
            Kind::Packed,
            1,
            &CELLS,
            With {
                parent: Some(CONTAINER),
                place: Some(PLANT_SGLN),
                ..With::default()
            },
        ),
        tracker.sign(
            Kind::Departed,
            10,
            &[CONTAINER],
            With {
                temperature: Some(20_000),
                ..With::default()
            },
        ),
    ];
    // Ten excursion reports at 41 °C, an hour apart, and back to 25 °C.
    for i in 0..10 {
        events.push(tracker.sign(
            Kind::Excursion,
            60 + 60 * i,
            &[CONTAINER],
            With {
                temperature: Some(41_000),
                ..With::default()
            },
        ));
    }
    events.push(tracker.sign(
        Kind::Located,
        660,
        &[CONTAINER],
        With {
            temperature: Some(25_000),
            ..With::default()
        },
    ));
    events.push(tracker.sign(Kind::Arrived, 700, &[CONTAINER], With::default()));
    events.push(tracker.sign(
        Kind::HandedOver,
        710,
        &[CONTAINER],
        With {
            party: Some(WAREHOUSE),
            ..With::default()
        },
    ));
    events.push(customs.sign(Kind::Held, 720, &[CONTAINER], With::default()));
    let count = events.len();
    for e in events {
        let r = http
            .post(format!("{base}/api/v1/events"))
            .bearer_auth("s3cret")
            .header("content-type", "application/cose")
            .body(e)
            .send()
            .await
            .expect("submit");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }

    // Place names: admin only, checked, listed for partners and up.
    let put = |token: Option<&'static str>, gln: &'static str, name: &'static str| {
        let mut r = reqwest::Client::new()
            .put(format!("{base}/api/v1/places/{gln}"))
            .json(&json!({ "name": name }));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(
        put(None, WAREHOUSE, "Midlands Battery Warehouse")
            .await
            .expect("put")
            .status(),
        401
    );
    let bad = put(Some("s3cret"), CONTAINER, "Not a place")
        .await
        .expect("put");
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()
            .await
            .unwrap_or_default()
            .contains("SGLN or PGLN")
    );
    for (gln, name) in [
        (WAREHOUSE, "Midlands Battery Warehouse"),
        (PLANT_SGLN, "Arnstadt Cell Works"),
    ] {
        assert_eq!(
            put(Some("s3cret"), gln, name).await.expect("put").status(),
            200
        );
    }
    // Who the places are is a partner's business: anonymous visitors are refused.
    let anonymous = reqwest::Client::new()
        .get(format!("{base}/api/v1/places"))
        .send()
        .await
        .expect("list");
    assert_eq!(anonymous.status(), 403);
    let listed: serde_json::Value = http
        .get(format!("{base}/api/v1/places"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["places"].as_array().map(Vec::len), Some(2));

    // The JSON trace carries the one status the page shows.
    let trace: serde_json::Value = http
        .get(format!("{base}/api/v1/items/{CONTAINER}/trace"))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    // All but the commissioning, which names the cells only (the packing names its parent).
    assert_eq!(trace["events"].as_array().map(Vec::len), Some(count - 1));
    let report = &trace["findings"];
    assert_eq!(report["status"]["stage"], "held_by_customs");
    assert_eq!(report["verdict"], "warnings");
    assert_eq!(report["excursions"].as_array().map(Vec::len), Some(1));

    let page = http
        .get(format!("{base}/items/{CONTAINER}"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    // One status line: held by customs, with the warehouse named as who holds it physically;
    // no second "held by" line beside it.
    assert_eq!(page.matches("data-stage=").count(), 1);
    assert!(page.contains("data-stage=\"held_by_customs\""));
    assert!(page.contains("Held by customs"), "status");
    assert!(
        page.contains("Midlands Battery Warehouse"),
        "the warehouse by name"
    );
    assert!(!page.contains("Held now by"));
    // The overheating is one warning, said once, with its peak, duration and holder.
    let episode = page
        .split("class=\"warning\"")
        .filter(|s| s.contains("reported an excursion"))
        .count();
    assert_eq!(episode, 1, "one episode, listed once");
    for words in [
        "10 readings",
        "peak 41.0 °C",
        "for 10 h",
        "Acme Cells held it",
    ] {
        assert!(page.contains(words), "{words}");
    }
    assert!(page.contains("and not released"), "the hold is a finding");
    // What is inside, and whom the episode concerns.
    assert!(page.contains("2 items inside now"));
    assert!(page.contains("Concerns 2 items inside at the time"));
    for cell in CELLS {
        assert!(page.contains(&format!("/items/{cell}")));
    }
    // The journey: one leg, and the repeats of the excursion folded into it.
    assert_eq!(page.matches("class=\"leg\"").count(), 1);
    assert!(
        page.contains("9 further excursion reports"),
        "folded repeats"
    );
    // The plant by its operator-given name where the packing names its site.
    assert!(page.contains("Arnstadt Cell Works"));

    // A cell's own page inherits the hold and the same status.
    let cell: serde_json::Value = http
        .get(format!("{base}/api/v1/items/{}/trace", CELLS[0]))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    assert_eq!(cell["findings"]["status"]["stage"], "held_by_customs");
}
