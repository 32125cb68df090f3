//! The HTTP API over a real server and real TCP: the admin token, registration with a
//! one-time MQTT password, submission through the ingest pipeline, rejections, proofs that
//! verify, the JSON trace and Prometheus metrics.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_tlog::merkle::verify_inclusion;
use provenance_tlog::{Checkpoint, Verifier, leaf_hash};
use provenance_web::{AppState, router};
use serde_json::{Value, json};

fn event(key: &SigningKey, id: &str, seq: u64, prev: [u8; 32], item: &str) -> Vec<u8> {
    let items = [Epc::parse(item).expect("epc")];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut d = Draft::new(seq, prev, now, Kind::Inspected, &items);
    d.doc = Some("MRN-24NL0000000000001");
    let mut buf = vec![0u8; 2048];
    let n = sign_event(key, &DeviceId::new(id).expect("id"), &d, &mut buf).expect("sign");
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn http_api_end_to_end() {
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
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let state = AppState {
        ledger: ledger.clone(),
        ingest,
        admin_token: Arc::new("s3cret".into()),
        metrics,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let http = reqwest::Client::new();

    // Registry changes need the token.
    let key = SigningKey::from_bytes(&[5; 32]);
    let body = json!({ "id": "customs-rtm", "role": "customs", "org": "Dutch Customs", "public_key": B64.encode(key.verifying_key().as_bytes()) });
    let r = http
        .post(format!("{base}/api/v1/devices"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("body").contains("admin.token"));
    let r = http
        .post(format!("{base}/api/v1/devices"))
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.expect("json");
    let password = reg["mqtt_password"].as_str().expect("password once");
    assert!(password.len() >= 32);
    assert_eq!(
        ledger.mqtt_password_hash("customs-rtm").await.expect("q"),
        Some(provenance_web::auth::password_hash(password)),
        "only the hash is kept"
    );
    let bad_role =
        json!({ "id": "x", "role": "captain", "org": "o", "public_key": B64.encode([1u8; 32]) });
    let r = http
        .post(format!("{base}/api/v1/devices"))
        .bearer_auth("s3cret")
        .json(&bad_role)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("station, tracker"));
    let list: Value = http
        .get(format!("{base}/api/v1/devices"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(list["devices"][0]["id"], "customs-rtm");
    assert!(list["devices"][0].get("mqtt_password").is_none());

    // Submission goes through the SPEC §4 pipeline and answers once anchored.
    let item = "urn:epc:id:sscc:4012345.0000000017";
    let e1 = event(&key, "customs-rtm", 1, [0; 32], item);
    let post = |bytes: Vec<u8>| {
        http.post(format!("{base}/api/v1/events"))
            .bearer_auth("s3cret")
            .header("content-type", "application/cose")
            .body(bytes)
            .send()
    };
    let r = post(e1.clone()).await.expect("post");
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.expect("json");
    assert_eq!(a["status"], "anchored");
    let index = a["index"].as_u64().expect("index");
    let r: Value = post(e1.clone())
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(r["status"], "duplicate");
    let forged = event(
        &SigningKey::from_bytes(&[6; 32]),
        "customs-rtm",
        2,
        message_hash(&e1),
        item,
    );
    let r = post(forged).await.expect("post");
    assert_eq!(r.status(), 422);
    let r: Value = r.json().await.expect("json");
    assert_eq!(r["reason"], "bad_signature");
    let r = http
        .post(format!("{base}/api/v1/events"))
        .bearer_auth("s3cret")
        .body(e1.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415, "content type is required");

    // The rejected messages (raw bytes from anyone) are for the admin only.
    let r = http
        .get(format!("{base}/api/v1/rejections"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let rej: Value = http
        .get(format!("{base}/api/v1/rejections"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(rej["rejections"][0]["reason"], "bad_signature");
    assert_eq!(rej["rejections"][0]["seq"], 2);

    // The checkpoint is a signed note under the log key; the entry proves into it.
    let vkey = http
        .get(format!("{base}/api/v1/log/key"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let vkey = Verifier::parse(vkey.trim()).expect("vkey");
    let note = http
        .get(format!("{base}/api/v1/checkpoint"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let (cp, _) = Checkpoint::open(note.as_bytes(), &vkey, None).expect("opens");
    let entries: Value = http
        .get(format!(
            "{base}/api/v1/log/entries?start={index}&end={}",
            index + 1
        ))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let entry = B64
        .decode(entries["entries"][0]["entry"].as_str().expect("b64"))
        .expect("b64");
    assert_eq!(entry, e1);
    let proof: Value = http
        .get(format!(
            "{base}/api/v1/proofs/inclusion?index={index}&size={}",
            cp.size
        ))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .expect("list")
        .iter()
        .map(|h| {
            B64.decode(h.as_str().expect("b64"))
                .expect("b64")
                .try_into()
                .expect("32")
        })
        .collect();
    verify_inclusion(&leaf_hash(&entry), index, cp.size, &hashes, &cp.root)
        .expect("inclusion proof verifies");
    let r = http
        .get(format!("{base}/api/v1/proofs/inclusion?index=0&size=999"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);

    // The JSON trace names the signer with role and organisation.
    ledger.wait_indexed(cp.size).await.expect("indexed");
    let t: Value = http
        .get(format!("{base}/api/v1/items/{item}/trace"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(t["events"][0]["event"]["kind"], "inspected");
    assert_eq!(t["events"][0]["signer"]["org"], "Dutch Customs");
    assert_eq!(t["events"][0]["event"]["doc"], "MRN-24NL0000000000001");
    let r = http
        .get(format!("{base}/api/v1/items/nonsense/trace"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);

    let m = http
        .get(format!("{base}/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(m.contains("provenance_events_accepted_total"), "{m}");
    assert!(
        m.contains("provenance_events_rejected_total{reason=\"bad_signature\"}"),
        "{m}"
    );
}

/// Registry requests that no registry entry can carry (an organisation or reason too long or
/// with control characters, a blank reason, a key that is no usable Ed25519 point) are the
/// caller's mistake: 400 with what to send, never a 409 as if the registry's state were in the
/// way, and nothing is appended. (Found by the `http_request` and `grpc_request` fuzz targets.)
#[tokio::test]
async fn malformed_registry_requests_are_400s_that_say_what_to_send() {
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
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth("s3cret")
            .json(&body)
            .send()
    };
    let good_key = B64.encode(SigningKey::from_bytes(&[5; 32]).verifying_key().as_bytes());
    // The identity point: 32 bytes, a curve point, but of small order.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak_key = B64.encode(identity);

    let cases = [
        (
            json!({ "id": "carrier-1", "role": "carrier", "org": "M".repeat(129), "public_key": good_key }),
            "at most 128",
        ),
        (
            json!({ "id": "carrier-1", "role": "carrier", "org": "Maersk\nLine", "public_key": good_key }),
            "control characters",
        ),
        (
            json!({ "id": "carrier-1", "role": "carrier", "org": "Maersk Line", "public_key": weak_key }),
            "not a usable Ed25519 key",
        ),
    ];
    for (body, says) in cases {
        let r = post("/api/v1/devices", body.clone()).await.expect("post");
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.expect("json");
        assert!(e["error"].as_str().expect("error").contains(says), "{e}");
    }
    let r = post(
        "/api/v1/devices",
        json!({ "id": "carrier-1", "role": "carrier", "org": "Maersk Line", "public_key": good_key }),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 201);

    let r = post(
        "/api/v1/devices/carrier-1/rotate",
        json!({ "public_key": weak_key }),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 400);
    for (reason, says) in [
        ("", "leave it out"),
        ("  ", "leave it out"),
        (&"r".repeat(200) as &str, "at most 128"),
        ("lost\tat sea", "control characters"),
    ] {
        let r = post(
            "/api/v1/devices/carrier-1/revoke",
            json!({ "reason": reason }),
        )
        .await
        .expect("post");
        assert_eq!(r.status(), 400, "{reason:?}");
        let e: Value = r.json().await.expect("json");
        assert!(e["error"].as_str().expect("error").contains(says), "{e}");
    }
    assert_eq!(
        ledger.latest_checkpoint().await.checkpoint.size,
        1,
        "only the good registration was appended"
    );
    let r = post(
        "/api/v1/devices/carrier-1/revoke",
        json!({ "reason": "lost at sea" }),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 200);
}
