//! One signed message from a registered key must never stop the log (issue #12), end to end
//! against a real `provenance serve`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use provenance_event::{Draft, Epc, Kind, sign_payload};
use support::delivery::{deliver, now_ms, register};
use support::{Device, Server, sgtin};

/// The event `provenance sign --item A --item A` once produced: an inspection naming the same
/// item twice, properly signed by `d` (the payload is edited before signing, since the event
/// crate now refuses to encode it).
fn naming_an_item_twice(d: &mut Device, a: &str, b: &str) -> Vec<u8> {
    d.seq += 1;
    let items = [Epc::parse(a).expect("epc"), Epc::parse(b).expect("epc")];
    let draft = Draft::new(d.seq, d.prev, now_ms(), Kind::Inspected, &items);
    let mut payload = vec![0u8; 4096];
    let n = draft.encode(&mut payload).expect("encode");
    payload.truncate(n);
    let at = payload
        .windows(b.len())
        .rposition(|w| w == b.as_bytes())
        .expect("the second item");
    payload[at..at + b.len()].copy_from_slice(a.as_bytes());
    let mut out = vec![0u8; 8192];
    let n = sign_payload(&d.key, &d.id, &payload, &mut out).expect("sign");
    out.truncate(n);
    out
}

async fn submit(http: &reqwest::Client, s: &Server, bytes: Vec<u8>) -> (u16, serde_json::Value) {
    let r = http
        .post(format!("{}/api/v1/events", s.http))
        .bearer_auth(s.token())
        .header("content-type", "application/cose")
        .body(bytes)
        .send()
        .await
        .expect("submit");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Once: anchored, then the indexer retried a UNIQUE violation forever, SIGTERM no longer
/// stopped the server and it could not start again. Now the event is refused at decode as
/// `invalid_event`, kept with its reason, and the log goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_naming_an_item_twice_is_refused_and_the_log_goes_on() {
    let mut s = Server::start(&[]);
    let http = s.http();
    let mut op = Device::new("customs-1", 61);
    register(&http, &s, &op).await;
    let (a, b) = (sgtin(1), sgtin(2));

    // The CLI will not sign it any more.
    let key = s.dir.path().join("op.key");
    let out = support::provenance()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = support::provenance()
        .args(["sign", "--key"])
        .arg(&key)
        .args(["--device", "customs-1", "--seq", "1", "--kind", "inspected"])
        .args(["--item", &a, "--item", &a, "--out"])
        .arg(s.dir.path().join("twice.cose"))
        .output()
        .expect("sign");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "sign accepted an item named twice");
    assert!(err.contains("name the same item"), "{err}");

    let (status, body) = submit(&http, &s, naming_an_item_twice(&mut op, &a, &b)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("invalid_event"), "{body}");
    let kept: serde_json::Value = http
        .get(format!("{}/api/v1/rejections?reason=invalid_event", s.http))
        .bearer_auth(s.token())
        .send()
        .await
        .expect("rejections")
        .json()
        .await
        .expect("json");
    let text = kept.to_string();
    assert!(
        text.contains("name the same item"),
        "kept with its reason: {text}"
    );

    // The log goes on: the signer's next event is anchored and traced.
    op.seq = 0;
    op.prev = [0; 32];
    let good = op.event(Kind::Inspected, &[&a], None, now_ms());
    let (status, body) = submit(&http, &s, good).await;
    assert_eq!(status, 201, "{body}");
    let trace: serde_json::Value = http
        .get(format!("{}/api/v1/items/{a}/trace", s.http))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    assert_eq!(trace["events"].as_array().map(Vec::len), Some(1), "{trace}");

    // It stops on SIGTERM in time, and starts again.
    let t = Instant::now();
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status();
    let status = loop {
        if let Ok(Some(status)) = s.child.try_wait() {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "serve still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", s.log());
    eprintln!("stopped {:?} after SIGTERM", t.elapsed());
    let s = s.restart(&[]);
    let (status, _) = submit(&http, &s, op.event(Kind::Cleared, &[&a], None, now_ms())).await;
    assert_eq!(status, 201, "{}", s.log());
}

/// A valid event that reports 2^41 - 1 dropped events before seq 2^41 (SPEC §3 allows it):
/// once one set entry per missing seq (out of memory, then the broker delivered it again to
/// the restarted server: a crash loop). Now the acknowledgement covers seq 2^41 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_of_2_pow_41_dropped_events_is_acknowledged_at_once() {
    let s = Server::start(&[]);
    let http = s.http();
    let mut d = Device::new("tracker-5", 62);
    let password = register(&http, &s, &d).await;
    let seq = 1u64 << 41;
    d.seq = seq - 1;
    d.prev = [7; 32];
    d.dropped = Some(seq - 1);
    let event = d.event(Kind::Located, &[&sgtin(9)], None, now_ms());
    let acked = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(20),
        deliver(
            s.mqtt_port,
            "tracker-5".into(),
            Some(password),
            vec![event],
            acked.clone(),
            Duration::from_secs(5),
        ),
    )
    .await
    .expect("acknowledged within 20 s");
    assert_eq!(acked.load(Ordering::SeqCst), seq, "the ack covers seq 2^41");
    let rss = s.peak_rss_mib();
    eprintln!(
        "acknowledged in {:?}; server peak memory {rss} MiB",
        t.elapsed()
    );
    assert!(rss < 400, "server peak memory {rss} MiB");
    // The trace shows the loss as reported, not as an unexplained break.
    let trace: serde_json::Value = http
        .get(format!("{}/api/v1/items/{}/trace", s.http, sgtin(9)))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    let chain = &trace["events"][0]["chain"];
    assert_eq!(chain["explained"], true, "{trace}");
}
