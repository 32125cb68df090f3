//! Delivery faults between devices and the ingest, with a Mosquitto of the test's own: a broker
//! restart in the middle of a run, and a broker that drops QoS 1 messages for a slow subscriber
//! (its `max_queued_messages`). Devices behave as the firmware does: keep every event until an
//! ack covers it, send it again after a reconnect or when acks stall. In both cases every event
//! must end up anchored exactly once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use provenance_event::Kind;
use provenance_event::wire::AckPayload;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use support::mosquitto::{self, Mosquitto};
use support::{Device, Server, sgtin};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

async fn register(http: &reqwest::Client, s: &Server, d: &Device) {
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
}

/// What a device saw.
#[derive(Debug, Default)]
struct Report {
    /// Events sent again because no ack covered them in time or the connection was new.
    resent: u64,
    /// Connections made (1 + reconnects).
    connections: u64,
}

/// A device that keeps `events` until acknowledged, as the firmware does: publishes them in
/// bursts, re-sends everything unacknowledged after each (re)connect and whenever acks stall for
/// `stall`, and returns once an ack covers the last. `acked` shows progress to the test.
async fn deliver(
    port: u16,
    id: String,
    events: Vec<Vec<u8>>,
    acked: Arc<AtomicU64>,
    stall: Duration,
) -> Report {
    let mut opts = MqttOptions::new(format!("{id}-device"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = AsyncClient::new(opts, 100_000);
    let topic = format!("prov/v1/dev/{id}/ev");
    let n = events.len() as u64;
    let mut report = Report::default();
    let mut last_progress = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let send_from = |from: u64, client: &AsyncClient| -> u64 {
        let mut sent = 0;
        for e in &events[from as usize..] {
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
                    if report.connections > 1 || from > 0 {
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

async fn tree_size(http: &reqwest::Client, s: &Server) -> u64 {
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

fn signed(d: &mut Device, n: u64) -> Vec<Vec<u8>> {
    let t = now_ms() - 60_000;
    (0..n)
        .map(|i| d.event(Kind::Located, &[&sgtin(5000 + i)], None, t + i as i64))
        .collect()
}

fn verify_data(s: &mut Server) {
    assert!(s.stop(), "{}", s.log());
    let o = support::provenance()
        .args(["verify", "--data"])
        .arg(s.dir.path())
        .output()
        .expect("verify");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// Mosquitto is restarted while a device publishes: the ingest reconnects (its session and the
/// messages queued for it survive in the broker's persistence), the device re-sends what was not
/// acknowledged, and every event is anchored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_nothing_and_duplicates_nothing() {
    let Some(bin) = support::external("the mosquitto binary", mosquitto::binary()) else {
        return;
    };
    let mut broker = Mosquitto::start(&bin, &[]);
    let mut s = Server::start(&["--mqtt-url", &broker.url(), "--mqtt-connections", "4"]);
    let http = reqwest::Client::new();
    let mut d = Device::new("tracker-restart", 31);
    register(&http, &s, &d).await;
    const N: u64 = 3000;
    let events = signed(&mut d, N);
    let acked = Arc::new(AtomicU64::new(0));
    let device = tokio::spawn(deliver(
        broker.port,
        d.id.as_str().to_string(),
        events,
        acked.clone(),
        Duration::from_secs(3),
    ));
    // Restart once the first events are anchored and the rest are in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "{}", s.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_restart = acked.load(Ordering::SeqCst);
    broker.stop(false);
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.restart(&bin);
    let report = device.await.expect("device");
    assert!(
        at_restart < N,
        "the restart should fall in the middle of the run"
    );
    assert!(
        report.connections >= 2,
        "the device reconnected: {report:?}"
    );
    assert_eq!(
        tree_size(&http, &s).await,
        1 + N,
        "registration + every event exactly once; {report:?}"
    );
    assert!(
        s.log().contains("MQTT connection lost"),
        "the ingest saw the restart:\n{}",
        s.log()
    );
    verify_data(&mut s);
}

/// A broker that drops QoS 1 messages for a slow subscriber (Mosquitto's `max_queued_messages`,
/// here 100 instead of 1000, and one ingest connection with 5 in flight): the devices' re-send of
/// unacknowledged events recovers every dropped one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_the_broker_drops_are_recovered_by_the_devices_resend() {
    let Some(bin) = support::external("the mosquitto binary", mosquitto::binary()) else {
        return;
    };
    let broker = Mosquitto::start(
        &bin,
        &[
            "max_queued_messages 100",
            "max_inflight_messages 5",
            "log_type all",
        ],
    );
    let mut s = Server::start(&["--mqtt-url", &broker.url(), "--mqtt-connections", "1"]);
    let http = reqwest::Client::new();
    const N: u64 = 500;
    let mut runs = Vec::new();
    for k in 0..4u8 {
        let mut d = Device::new(&format!("tracker-drop-{k}"), 40 + k);
        register(&http, &s, &d).await;
        let events = signed(&mut d, N);
        runs.push(tokio::spawn(deliver(
            broker.port,
            d.id.as_str().to_string(),
            events,
            Arc::new(AtomicU64::new(0)),
            Duration::from_secs(1),
        )));
    }
    let mut resent = 0;
    for r in runs {
        resent += r.await.expect("device").resent;
    }
    assert!(
        broker.log().contains("dropped"),
        "the broker should have dropped messages for the slow subscriber:\n{}",
        broker
            .log()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(resent > 0, "recovery needs re-sends");
    assert_eq!(
        tree_size(&http, &s).await,
        4 + 4 * N,
        "each event exactly once"
    );
    let rej: Value = http
        .get(format!("{}/api/v1/rejections", s.http))
        .send()
        .await
        .expect("rejections")
        .json()
        .await
        .expect("json");
    assert_eq!(rej["rejections"].as_array().map(Vec::len), Some(0));
    eprintln!("re-sent {resent} events to recover the broker's drops");
    verify_data(&mut s);
}
