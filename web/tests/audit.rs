//! The storage auditor inside a running site, over real HTTP and a real SQLite log: audits
//! repeat; while events are appended between and during audits none reports a false finding
//! (an audit only rebuilds up to the checkpoint it started from); an entry edited under the
//! running server is found by the next audit, marked on the item's page and listed by
//! `GET /api/v1/audit`. (tests/web_tamper.rs covers every kind of tampering through a real
//! `provenance serve`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger, Store};
use provenance_web::audit::Auditor;
use provenance_web::{AppState, site_with};
use serde_json::Value;

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

fn item(n: u64) -> String {
    format!("urn:epc:id:sgtin:4012345.012345.{n}")
}

struct Station {
    key: SigningKey,
    id: DeviceId,
    seq: u64,
    prev: [u8; 32],
}

impl Station {
    fn event(&mut self, n: u64) -> Vec<u8> {
        self.seq += 1;
        let items = [Epc::parse(&item(n)).expect("epc")];
        let d = Draft::new(
            self.seq,
            self.prev,
            1_763_719_200_000 + n as i64,
            Kind::Commissioned,
            &items,
        );
        let mut buf = vec![0u8; 2048];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = message_hash(&buf);
        buf
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_repeat_stay_quiet_while_the_log_grows_and_find_an_edit() {
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
    let mut station = Station {
        key: SigningKey::from_bytes(&[7; 32]),
        id: DeviceId::new("station-1").expect("id"),
        seq: 0,
        prev: [0; 32],
    };
    ledger
        .register(
            &station.id,
            Role::Station,
            "plant",
            station.key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), Config::default())
        .await
        .expect("ingest");
    let auditor = Auditor::start(ledger.clone(), Some(Duration::from_millis(20)));
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
    tokio::spawn(async move { axum::serve(listener, site_with(state, auditor)).await });
    let http = reqwest::Client::builder()
        .default_headers(authority())
        .build()
        .expect("client");
    // `GET /api/v1/audit` until `done` says yes (within a minute), and an item's page.
    let audit_until = async |done: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let v: Value = http
                .get(format!("{base}/api/v1/audit"))
                .send()
                .await
                .expect("audit")
                .json()
                .await
                .expect("json");
            if done(&v) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "{v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let page = async |n: u64| -> String {
        http.get(format!("{base}/items/{}", item(n)))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html")
    };

    // The log grows in small batches while audits run back to back.
    let auditor2 = Auditor::start(ledger.clone(), Some(Duration::from_millis(1)));
    let done = Arc::new(AtomicBool::new(false));
    let appender = tokio::spawn({
        let ledger = ledger.clone();
        let done = done.clone();
        async move {
            let mut n = 0;
            // Capped, so a slow machine's audits (each pausing four times its own length)
            // cannot fall ever further behind a log that keeps growing.
            while !done.load(Ordering::Relaxed) && n < 1500 {
                let batch: Vec<Vec<u8>> = (0..7).map(|i| station.event(n + i)).collect();
                n += 7;
                ledger.append(&batch).await.expect("append");
                // A few batches per audit, not thousands: signature checks are slow in a
                // debug build.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (station, n)
        }
    });
    for runs in 1..=8 {
        let s = auditor2.wait_runs(runs).await;
        let a = s.audit().expect("an audit ran to the end");
        assert!(
            a.ok(),
            "audit {runs} of a growing log: {:?}",
            a.report.findings
        );
    }
    done.store(true, Ordering::Relaxed);
    let (_station, appended) = appender.await.expect("appender");
    assert!(appended > 0);
    eprintln!("appended {appended} events during 8 audits");
    drop(auditor2);

    // The site's own auditor saw the whole log, sooner or later, and found nothing.
    let size = ledger.latest_checkpoint().await.checkpoint.size;
    let clean = audit_until(&|v| v["last"]["tree_size"] == size).await;
    assert_eq!(clean["state"], "ok", "{clean}");
    assert_eq!(clean["every_seconds"], 0.02);
    let html = page(3).await;
    assert!(!html.contains("tampered") && !html.contains("tamper-banner"));

    // Edit entry 4 (the event about item 3) under the running server: flip a signature bit.
    let Store::Sqlite(pool) = ledger.store() else {
        panic!("SQLite")
    };
    let mut data: Vec<u8> = sqlx::query_scalar("SELECT data FROM entries WHERE idx = 4")
        .fetch_one(pool)
        .await
        .expect("entry");
    let last = data.len() - 1;
    data[last] ^= 1;
    sqlx::query("UPDATE entries SET data = $1 WHERE idx = 4")
        .bind(&data)
        .execute(pool)
        .await
        .expect("edit");

    // The next audit finds it, without a restart.
    let found = audit_until(&|v| v["state"] == "tampered").await;
    let affected = &found["last"]["affected_entries"];
    assert_eq!(affected.as_array().map(Vec::len), Some(1), "{found:#}");
    assert_eq!(affected[0]["index"], 4);
    assert_eq!(
        affected[0]["kinds"],
        serde_json::json!(["entry_changed", "bad_event_signature"])
    );
    let html = page(3).await;
    assert!(
        html.contains(
            r#"data-index="4" data-kind="commissioned" data-tampered="edited signature""#
        ),
        "{html}"
    );
    assert!(html.contains("The stored log was tampered with"));
    let other = page(4).await;
    assert!(other.contains("tamper-banner") && !other.contains("data-tampered"));
}
