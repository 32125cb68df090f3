//! A device as the firmware behaves towards the ingest (keeps every event until an ack covers
//! it, sends again after a reconnect or when acks stall), and the checks the delivery tests
//! share: registration, the tree size, `verify --data`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use provenance_event::Kind;
use provenance_event::wire::AckPayload;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use super::{Device, Server, sgtin};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Registers `d` as a tracker and returns its MQTT password.
pub async fn register(http: &reqwest::Client, s: &Server, d: &Device) -> String {
    let body = json!({
        "id": d.id.as_str(), "role": "tracker", "org": "Test Lines",
        "public_key": base64::engine::general_purpose::STANDARD.encode(d.public_key()),
    });
    let r = http
        .post(format!("{}/api/v1/devices", s.http))
        .bearer_auth(s.token())
        .json(&body)
        .send()
        .await
        .expect("register");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let v: Value = r.json().await.expect("json");
    v["mqtt_password"].as_str().unwrap_or_default().to_string()
}

/// What a device saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Events sent again because no ack covered them in time or the connection was new.
    pub resent: u64,
    /// Connections made (1 + reconnects).
    pub connections: u64,
}

/// A device that keeps `events` until acknowledged, as the firmware does: publishes them in
/// bursts, re-sends everything unacknowledged after each (re)connect and whenever acks stall for
/// `stall`, and returns once an ack covers the last. `acked` shows progress to the test.
pub async fn deliver(
    port: u16,
    id: String,
    password: Option<String>,
    events: Vec<Vec<u8>>,
    acked: Arc<AtomicU64>,
    stall: Duration,
) -> Report {
    let mut opts = MqttOptions::new(format!("{id}-device"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    if let Some(p) = password {
        opts.set_credentials(&id, p);
    }
    let (client, mut el) = AsyncClient::new(opts, 100_000);
    let topic = format!("prov/v1/dev/{id}/ev");
    // `events` are consecutive seqs from the first one's: done when an ack covers the last
    // seq (not the count: a second batch of a device starts above 1).
    let seq_of = |e: &[u8]| {
        provenance_event::cose::Sign1::parse(e)
            .ok()
            .and_then(|m| provenance_event::peek_seq(m.payload()))
    };
    let base = events
        .first()
        .and_then(|e| seq_of(e))
        .map_or(0, |s| s.saturating_sub(1));
    let n = base + events.len() as u64;
    let mut report = Report::default();
    let mut last_progress = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let send_from = |from: u64, client: &AsyncClient| -> u64 {
        let mut sent = 0;
        let from = usize::try_from(from.saturating_sub(base))
            .unwrap_or(usize::MAX)
            .min(events.len());
        for e in &events[from..] {
            if client
                .try_publish(&topic, QoS::AtLeastOnce, false, e.clone())
                .is_ok()
            {
                sent += 1;
            }
        }
        sent
    };
    while acked.load(Ordering::SeqCst) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every event was acknowledged within 90 s: acked up to {} of {n}, {report:?}",
            acked.load(Ordering::SeqCst)
        );
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    report.connections += 1;
                    let _ = client.try_subscribe(format!("prov/v1/dev/{id}/ack"), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let from = acked.load(Ordering::SeqCst);
                    let sent = send_from(from, &client);
                    if report.connections > 1 || from > base {
                        report.resent += sent;
                    }
                    last_progress = tokio::time::Instant::now();
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic.ends_with("/ack") => {
                    let a = AckPayload::decode(&p.payload).expect("SPEC §5 ack");
                    if a.seq > acked.load(Ordering::SeqCst) {
                        acked.store(a.seq, Ordering::SeqCst);
                        last_progress = tokio::time::Instant::now();
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            },
            _ = tick.tick() => {
                if last_progress.elapsed() >= stall && report.connections > 0 {
                    report.resent += send_from(acked.load(Ordering::SeqCst), &client);
                    last_progress = tokio::time::Instant::now();
                }
            }
        }
    }
    let _ = client.disconnect().await;
    report
}

pub async fn tree_size(http: &reqwest::Client, s: &Server) -> u64 {
    let cp = http
        .get(format!("{}/api/v1/checkpoint", s.http))
        .send()
        .await
        .expect("checkpoint")
        .text()
        .await
        .expect("text");
    cp.lines().nth(1).expect("size").parse().expect("number")
}

/// `n` signed events of `d`, a minute old.
pub fn signed(d: &mut Device, n: u64) -> Vec<Vec<u8>> {
    let t = now_ms() - 60_000;
    (0..n)
        .map(|i| d.event(Kind::Located, &[&sgtin(5000 + i)], None, t + i as i64))
        .collect()
}

/// Stops the server and runs `verify --data` on its directory, which must pass.
pub fn verify_data(s: &mut Server) {
    assert!(s.stop(), "{}", s.log());
    let o = super::provenance()
        .args(["verify", "--data"])
        .arg(s.dir.path())
        .output()
        .expect("verify");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
