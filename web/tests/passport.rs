//! The battery passport (issue #14) over HTTP, tier by tier: a cell commissioned with its
//! master data, measured, packed into a container that overheats. The public gets the public
//! fields and a public bundle that proves them; the carrier involved and an authority get
//! every field (the excursion with its entry); the JSON checks against its bundle with the
//! same function `provenance verify --passport` runs, and a changed field is caught.

use std::sync::Arc;

use base64::Engine as _;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, Master, Quantity, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::{AppState, site};
use serde_json::{Value, json};

const ADMIN: &str = "s3cret-admin-token-for-the-tests-only";
const CELL: &str = "urn:epc:id:sgtin:4012345.012345.3001";
/// Commissioned in one event with [`BATCH_TWIN`]: never public whole.
const BATCH_CELL: &str = "urn:epc:id:sgtin:4012345.012345.3002";
const BATCH_TWIN: &str = "urn:epc:id:sgtin:4012345.012345.3003";
const CONTAINER: &str = "urn:epc:id:sscc:4012345.0000000017";
const PLANT: &str = "Acme Cells urn:epc:id:pgln:4012345.00001";
const CARRIER: &str = "Blue Sea Lines urn:epc:id:pgln:4012345.00002";
const STRANGER: &str = "Other Recycling urn:epc:id:pgln:4012345.00008";
const RECYCLER: &str = "Second Life Recycling urn:epc:id:pgln:4012345.00009";

struct Log {
    base: String,
    ledger: Arc<Ledger>,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Log {
    /// A server that publishes whole public entries (`serve --public-entries`).
    async fn start() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(public_entries: bool) -> Self {
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
            admin_token: Arc::new(ADMIN.into()),
            metrics: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = site(state).layer(axum::Extension(provenance_web::passport::PublicEntries(
            public_entries,
        )));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Log {
            base,
            ledger,
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    async fn register(&self, id: &str, role: &str, org: &str, key: &SigningKey) {
        let r = self
            .http
            .post(format!("{}/api/v1/devices", self.base))
            .bearer_auth(ADMIN)
            .json(&json!({
                "id": id, "role": role, "org": org,
                "public_key": base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes()),
            }))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
    }

    async fn grant(&self, org: &str, tier: &str, items: Option<&str>) -> String {
        let made: Value = self
            .http
            .post(format!("{}/api/v1/access", self.base))
            .bearer_auth(ADMIN)
            .json(&json!({ "org": org, "tier": tier, "items": items }))
            .send()
            .await
            .expect("grant")
            .json()
            .await
            .expect("json");
        made["token"].as_str().expect("token").to_string()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("get")
    }

    async fn json(&self, path: &str, token: Option<&str>) -> Value {
        let r = self.get(path, token).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.expect("json")
    }

    async fn page(&self, path: &str, token: Option<&str>) -> String {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.header("cookie", format!("provenance_token={t}"));
        }
        r.send().await.expect("page").text().await.expect("html")
    }
}

/// A signing device with its chain.
struct Signer {
    id: DeviceId,
    key: SigningKey,
    seq: u64,
    prev: [u8; 32],
}

impl Signer {
    fn new(id: &str, seed: u8) -> Self {
        Signer {
            id: DeviceId::new(id).expect("id"),
            key: SigningKey::from_bytes(&[seed; 32]),
            seq: 0,
            prev: [0; 32],
        }
    }

    async fn send<'a>(
        &mut self,
        log: &Log,
        kind: Kind,
        items: &'a [Epc],
        fill: impl FnOnce(&mut Draft<'a>),
    ) {
        self.seq += 1;
        let late = if kind == Kind::Excursion {
            7_200_000
        } else {
            0
        };
        let t = 1_763_000_000_000 + self.seq as i64 * 600_000 + late;
        let mut d = Draft::new(self.seq, self.prev, t, kind, items);
        fill(&mut d);
        let mut buf = vec![0u8; 4096];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        let r = log
            .http
            .post(format!("{}/api/v1/events", log.base))
            .bearer_auth(ADMIN)
            .header("content-type", "application/cose")
            .body(buf)
            .send()
            .await
            .expect("submit");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
}

fn master() -> Master {
    let mut m = Master::default();
    for (k, v) in [
        ("category", "ev"),
        ("chemistry", "NMC811"),
        ("rated_capacity_mah", "5000"),
        ("nominal_voltage_mv", "3630"),
        ("carbon_footprint_g_per_kwh", "61500"),
        ("carbon_class", "B"),
    ] {
        m.set(k, v).expect("master");
    }
    m
}

/// The cell's life: commissioned alone with master data at the plant, measured twice, packed
/// into a container whose tracker reports 61 °C; a second cell commissioned in a batch.
async fn history(log: &Log) {
    let mut plant = Signer::new("plant-1", 5);
    let mut tracker = Signer::new("tracker-1", 6);
    log.register("plant-1", "station", PLANT, &plant.key).await;
    log.register("tracker-1", "tracker", CARRIER, &tracker.key)
        .await;
    let site = Location {
        lat_lon: None,
        sgln: Some(Epc::parse("urn:epc:id:sgln:4012345.00001.0").expect("sgln")),
    };
    let m = master();
    let cell = epcs(&[CELL]);
    let batch = epcs(&[BATCH_CELL, BATCH_TWIN]);
    let box_ = epcs(&[CONTAINER]);
    plant
        .send(log, Kind::Commissioned, &cell, |d| {
            d.location = Some(&site);
            d.master = Some(&m);
        })
        .await;
    plant
        .send(log, Kind::Commissioned, &batch, |d| {
            d.location = Some(&site);
            d.master = Some(&m);
        })
        .await;
    for soh in [1000, 990] {
        plant
            .send(log, Kind::Measured, &cell, |d| {
                d.readings.set(Quantity::StateOfHealth, soh).expect("soh");
                d.readings.set(Quantity::ChargeCycles, 3).expect("cycles");
            })
            .await;
    }
    plant
        .send(log, Kind::Packed, &cell, |d| d.parent = Some(&box_[0]))
        .await;
    tracker
        .send(log, Kind::Excursion, &box_, |d| {
            d.readings.set(Quantity::Temperature, 61_000).expect("t");
        })
        .await;
}

fn epcs(list: &[&str]) -> Vec<Epc> {
    list.iter().map(|i| Epc::parse(i).expect("epc")).collect()
}

/// What `verify --bundle … --passport …` runs: a public bundle is taken.
fn verify(log: &Log, bundle: &str) -> provenance_custody::verify::Report {
    provenance_custody::verify::verify_passport_bundle(
        bundle.as_bytes(),
        Some(log.ledger.verifier()),
        &provenance_custody::rules::Limits::default(),
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tier_gets_its_passport_and_can_prove_it() {
    use provenance_custody::passport::{FieldProof, check};
    let log = Log::start().await;
    history(&log).await;
    let carrier = log.grant(CARRIER, "partner", None).await;
    let stranger = log.grant(STRANGER, "partner", None).await;
    let recycler = log
        .grant(
            RECYCLER,
            "partner",
            Some("urn:epc:id:sgtin:4012345.012345."),
        )
        .await;
    let path = format!("/api/v1/items/{CELL}/passport");

    // The public: the public fields, every one with its entry; the rest withheld.
    for (who, token) in [
        ("anonymous", None),
        ("a partner not involved", Some(stranger.as_str())),
    ] {
        let p = log.json(&path, token).await;
        assert_eq!(p["access"]["view"], "public", "{who}");
        assert_eq!(
            p["materialComposition"]["batteryChemistry"]["shortName"],
            "NMC811"
        );
        assert_eq!(p["generalProductInformation"]["batteryCategory"], "ev");
        assert_eq!(
            p["generalProductInformation"]["manufacturerInformation"]["contactName"],
            "Acme Cells"
        );
        assert_eq!(p["carbonFootprint"]["carbonFootprintPerformanceClass"], "B");
        assert!(
            p["withheld"].as_array().is_some_and(|w| !w.is_empty()),
            "{who}"
        );
        let text = p.to_string();
        for hidden in [
            "stateOfHealth",
            "negativeEvent",
            "Blue Sea Lines",
            CONTAINER,
        ] {
            assert!(!text.contains(hidden), "{who} sees {hidden}");
        }
        for (pointer, e) in p["evidence"].as_object().expect("evidence") {
            assert!(p.pointer(pointer).is_some(), "{pointer}");
            assert!(
                e["inclusionProof"]
                    .as_str()
                    .is_some_and(|u| u.contains("/api/v1/proofs/inclusion?index="))
            );
        }
        // The public bundle: the commissioning whole and its signer's registration, nothing
        // of the journey; it verifies, and so does every field against it.
        let r = log.get(&format!("{path}/evidence"), token).await;
        assert_eq!(r.status(), 200, "{who}");
        let bundle = r.text().await.expect("bundle");
        let parsed = provenance_custody::Bundle::parse(bundle.as_bytes()).expect("bundle");
        assert_eq!(parsed.scope, provenance_custody::bundle::Scope::Public);
        let purposes: Vec<_> = parsed
            .entries
            .iter()
            .map(|e| format!("{:?}", e.purpose))
            .collect();
        assert_eq!(purposes, ["Registry", "Event"], "{who}: {purposes:?}");
        let report = verify(&log, &bundle);
        assert!(report.ok(), "{who}: {:?}", report.sections);
        let fields = check(&report, &p).expect("a passport of the subject");
        assert!(fields.len() >= 8, "{fields:?}");
        assert!(
            fields.iter().all(|f| f.outcome == FieldProof::Proved),
            "{fields:?}"
        );
        // A field changed after the fact is caught, naming it.
        let bad = |forged: &Value| -> Vec<String> {
            check(&report, forged)
                .expect("passport")
                .into_iter()
                .filter(|f| matches!(f.outcome, FieldProof::Differs { .. }))
                .map(|f| f.pointer)
                .collect()
        };
        let mut forged = p.clone();
        forged["materialComposition"]["batteryChemistry"]["shortName"] = json!("LFP");
        assert_eq!(bad(&forged), ["/materialComposition/batteryChemistry"]);
        // … and so is one changed with its evidence taken out, or credited to another entry.
        let class = "/carbonFootprint/carbonFootprintPerformanceClass";
        let mut forged = p.clone();
        forged["carbonFootprint"]["carbonFootprintPerformanceClass"] = json!("A");
        forged["evidence"]
            .as_object_mut()
            .expect("map")
            .remove(class);
        assert_eq!(bad(&forged), [class]);
        let mut forged = p.clone();
        forged["evidence"][class]["logIndex"] = json!(1);
        assert_eq!(bad(&forged), [class]);
        // A public bundle is a passport's proof, never a custody verdict.
        let as_customs = provenance_custody::verify::verify_bundle(
            bundle.as_bytes(),
            log.ledger.verifier(),
            &provenance_custody::rules::Limits::default(),
        );
        assert!(!as_customs.ok(), "a public bundle fails a custody check");
    }

    // Involved (the carrier whose tracker reported on the container), shared (the recycler)
    // and an authority: every field, the excursion with its entry, the whole bundle.
    for (who, token) in [
        ("carrier", carrier.as_str()),
        ("recycler", recycler.as_str()),
        ("authority", ADMIN),
    ] {
        let p = log.json(&path, Some(token)).await;
        assert_eq!(p["access"]["view"], "full", "{who}");
        let cond = &p["performance"]["batteryCondition"];
        assert_eq!(cond["stateOfHealth"], 99.0, "{who}: the newest measurement");
        assert_eq!(cond["numberOfFullCycles"], 3);
        let negative = cond["negativeEvents"].as_array().expect("negative events");
        assert_eq!(negative.len(), 1, "{who}: {negative:?}");
        assert!(
            negative[0]["negativeEvent"]
                .as_str()
                .is_some_and(|t| t.contains("61.0"))
        );
        let excursion = negative[0]["logIndexes"][0].as_u64().expect("index");
        assert_eq!(
            p["evidence"]["/performance/batteryCondition/negativeEvents/0"]["logIndex"],
            excursion
        );
        assert!(
            p["custodyHistory"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
        let bundle = log
            .get(&format!("{path}/evidence"), Some(token))
            .await
            .text()
            .await
            .expect("bundle");
        let report = verify(&log, &bundle);
        assert_eq!(report.scope, provenance_custody::bundle::Scope::Whole);
        let fields = check(&report, &p).expect("passport");
        assert!(
            fields.iter().all(|f| f.outcome == FieldProof::Proved),
            "{who}: {fields:?}"
        );
        assert!(fields.iter().any(|f| f.index == Some(excursion)));
        // Hiding the excursion from a second-life buyer, or claiming its section withheld,
        // fails against the whole bundle.
        let mut hidden = p.clone();
        hidden["performance"]["batteryCondition"]["negativeEvents"] = json!([]);
        hidden["evidence"]
            .as_object_mut()
            .expect("map")
            .retain(|k, _| !k.contains("negativeEvents"));
        let fields = check(&report, &hidden).expect("passport");
        assert!(
            fields.iter().any(|f| f.pointer.contains("negativeEvents")
                && matches!(f.outcome, FieldProof::Differs { .. })),
            "{who}: {fields:?}"
        );
        let mut withheld = p.clone();
        withheld["withheld"] = json!(["/performance/batteryCondition"]);
        assert!(
            check(&report, &withheld)
                .expect("passport")
                .iter()
                .any(|f| f.pointer.starts_with("/withheld")),
            "{who}"
        );
    }

    // A batch commissioning names other serials: the public proves its fields by hash only.
    let p = log
        .json(&format!("/api/v1/items/{BATCH_CELL}/passport"), None)
        .await;
    assert_eq!(p["verify"]["entriesWhole"], json!([]));
    assert_eq!(
        log.get(
            &format!("/api/v1/items/{BATCH_CELL}/passport/evidence"),
            None
        )
        .await
        .status(),
        404
    );
    assert!(
        !p.to_string().contains(BATCH_TWIN),
        "the batch's other serial"
    );
    // Without `serve --public-entries` no entry is public whole: each field by its proof.
    let quiet = Log::start_with(false).await;
    history(&quiet).await;
    let p = quiet.json(&path, None).await;
    assert_eq!(p["verify"]["entriesWhole"], json!([]));
    assert_eq!(
        quiet.get(&format!("{path}/evidence"), None).await.status(),
        404
    );
    // No commissioning, no passport: a 404 that says what starts one.
    let r = log
        .get(&format!("/api/v1/items/{CONTAINER}/passport"), None)
        .await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.expect("text").contains("commissioned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_the_digital_link_show_each_tier_its_part() {
    let log = Log::start().await;
    history(&log).await;
    let carrier = log.grant(CARRIER, "partner", None).await;
    let public = log.page(&format!("/passport/{CELL}"), None).await;
    assert!(public.contains("Battery passport") && public.contains("NMC811"));
    assert!(public.contains("Acme Cells") && public.contains("5.00 Ah"));
    assert!(public.contains("shown to persons with a legitimate interest"));
    assert!(!public.contains("61.0") && !public.contains("Blue Sea Lines"));
    assert!(public.contains("data-index="), "each field with its entry");
    let full = log.page(&format!("/passport/{CELL}"), Some(&carrier)).await;
    assert!(full.contains("99.0 %"), "state of health");
    assert!(full.contains("61.0"), "the excursion");
    assert!(!full.contains("shown to persons with a legitimate interest"));

    // The cell's Digital Link opens its passport; the container's, its trace page.
    let dl = |uri: &str| {
        Epc::parse(uri)
            .expect("epc")
            .digital_link_path()
            .to_string()
    };
    let link = log.page(&dl(CELL), None).await;
    assert!(
        link.contains("Battery passport") && link.contains("NMC811"),
        "{link}"
    );
    let container = log.page(&dl(CONTAINER), None).await;
    assert!(!container.contains("Battery passport"));
    let linkset = log
        .json(&format!("{}?linkType=all", dl(CELL)), None)
        .await
        .to_string();
    assert!(linkset.contains("/passport/"), "{linkset}");
}
