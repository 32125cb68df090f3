//! A hostile flood beside valid traffic (issue #7): a device whose password an attacker holds
//! publishes, as fast as the broker takes them, malformed, oversized, forged, replayed,
//! equivocating, other-device and unknown-device messages, and tries other devices' topics,
//! while four honest devices deliver their events. The server must stay up with bounded
//! memory, keep every bad message whole with its SPEC §4 reason, and anchor every valid event
//! exactly once.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use provenance_event::Kind;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use support::delivery::{deliver, now_ms, register, signed, tree_size, verify_data};
use support::{Device, Server, sgtin};

const HONEST: usize = 4;
const HONEST_EVENTS: u64 = 1500;
/// The server's resident memory must stay under this during the flood (debug build).
const MEMORY_BUDGET_MIB: u64 = 400;
/// Floods after the first, to see memory level off.
const FLOOD_ROUNDS: u64 = 4;

/// Deterministic noise for malformed and oversized payloads.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The flood, by the reason each message must be kept under (`None`: absorbed as a duplicate).
fn flood(
    round: u64,
    mallory_key: u8,
    anchored: &[Vec<u8>],
    victim_events: &[Vec<u8>],
) -> Vec<(Option<&'static str>, Vec<u8>)> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (round + 1).wrapping_mul(0x2545_f491));
    // Each round signs at other times, so its messages differ from every earlier round's.
    let t = now_ms() - 30_000 - round as i64 * 1000;
    let mut out = Vec::new();
    for i in 0..3000 {
        let n = 1 + (rng.next() % 400) as usize;
        let mut b = rng.bytes(n);
        b[0] = (i % 256) as u8; // some start like CBOR tags, most not
        out.push((Some("malformed"), b));
    }
    for _ in 0..300 {
        let n = 4097 + (rng.next() % 20_000) as usize;
        out.push((Some("too_large"), rng.bytes(n)));
    }
    let mut ghost = Device::new("ghost-9", 99);
    for i in 0..1000 {
        out.push((
            Some("unknown_device"),
            ghost.event(Kind::Located, &[&sgtin(70_000 + i)], None, t),
        ));
    }
    // Another device's genuine events, replayed on the attacker's topic.
    for e in victim_events.iter().cycle().take(1000) {
        out.push((Some("topic_mismatch"), e.clone()));
    }
    // The attacker's device ID, the wrong key.
    let mut forger = Device::new("mallory-1", 13);
    forger.seq = 500_000;
    for i in 0..2000 {
        out.push((
            Some("bad_signature"),
            forger.event(Kind::Located, &[&sgtin(80_000 + i)], None, t),
        ));
    }
    // Properly signed, but an hour in the future.
    let mut future = Device::new("mallory-1", mallory_key);
    future.seq = 600_000;
    for i in 0..1000 {
        out.push((
            Some("invalid_event"),
            future.event(
                Kind::Located,
                &[&sgtin(90_000 + i)],
                None,
                now_ms() + 3_600_000,
            ),
        ));
    }
    // Seqs 1..=10 were anchored; other bytes under the same seqs are equivocation.
    for round in 0..50 {
        let mut twin = Device::new("mallory-1", mallory_key);
        for i in 0..10 {
            out.push((
                Some("equivocation"),
                twin.event(Kind::Located, &[&sgtin(95_000 + i)], None, t + round),
            ));
        }
    }
    // Replays of the attacker's own anchored events: acknowledged again, never anchored twice.
    for e in anchored.iter().cycle().take(1000) {
        out.push((None, e.clone()));
    }
    // Interleave, so that every kind arrives throughout the run.
    let mut mixed: Vec<_> = out.into_iter().enumerate().collect();
    mixed.sort_by_key(|(i, _)| (i * 7919) % 10_301);
    mixed.into_iter().map(|(_, m)| m).collect()
}

/// Publishes every message at QoS 1 as fast as the broker acknowledges them.
async fn publish_all(port: u16, password: String, messages: Vec<Vec<u8>>) {
    let mut opts = MqttOptions::new("mallory-1-flood", "127.0.0.1", port);
    opts.set_credentials("mallory-1", password);
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_max_packet_size(64 * 1024, 64 * 1024);
    opts.set_inflight(500);
    let (client, mut el) = AsyncClient::new(opts, 1000);
    let n = messages.len();
    let sender = tokio::spawn(async move {
        for m in messages {
            client
                .publish("prov/v1/dev/mallory-1/ev", QoS::AtLeastOnce, false, m)
                .await
                .expect("queue a publish");
        }
        client
    });
    let mut acked = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while acked < n {
        let Ok(ev) = tokio::time::timeout_at(deadline, el.poll()).await else {
            panic!("the broker took only {acked} of {n} in 120 s");
        };
        match ev {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("the attacker's own topic must stay open: {e} after {acked}"),
        }
    }
    let client = sender.await.expect("sender");
    let _ = client.disconnect().await;
}

/// Connects with the attacker's password and publishes to another device's topic; returns
/// whether the gate closed the connection (as it must) instead of passing it on.
async fn try_other_topic(port: u16, password: &str, forged: Vec<u8>, n: usize) -> bool {
    let mut opts = MqttOptions::new(format!("mallory-1-other-{n}"), "127.0.0.1", port);
    opts.set_credentials("mallory-1", password);
    let (client, mut el) = AsyncClient::new(opts, 10);
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut published = false;
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) if !published => {
                    published = true;
                    client
                        .publish(
                            "prov/v1/dev/line-1/ev",
                            QoS::AtLeastOnce,
                            false,
                            forged.clone(),
                        )
                        .await
                        .expect("queue");
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => return false,
                Ok(_) => {}
                Err(_) => return published,
            }
        }
    })
    .await;
    // No CONNACK in time is the machine being slow, not the gate letting a publish through.
    outcome.unwrap_or_else(|_| panic!("no answer from the gate within 30 s"))
}

/// Every stored rejection with this reason: (topic, SHA-256 of the message) → times it came.
async fn stored(
    http: &reqwest::Client,
    s: &Server,
    reason: &str,
) -> BTreeMap<(String, [u8; 32]), u64> {
    let mut kept = BTreeMap::new();
    let mut before: Option<i64> = None;
    loop {
        let mut url = format!("{}/api/v1/rejections?reason={reason}&limit=1000", s.http);
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(s.token())
            .send()
            .await
            .expect("rejections")
            .json()
            .await
            .expect("json");
        let rows = page["rejections"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            return kept;
        }
        for r in &rows {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(r["message"].as_str().expect("message"))
                .expect("base64");
            let key = (
                r["topic"].as_str().unwrap_or_default().to_string(),
                Sha256::digest(&bytes).into(),
            );
            assert!(
                kept.insert(key, r["times"].as_u64().unwrap_or(0)).is_none(),
                "kept twice"
            );
            before = r["id"].as_i64();
        }
    }
}

/// The sum of every series of a metric (all labels) from /metrics; 0 before its first count.
async fn metric(http: &reqwest::Client, s: &Server, name: &str) -> f64 {
    let metrics = http
        .get(format!("{}/metrics", s.http))
        .bearer_auth(s.token())
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The resident memory of a process, sampled until told to stop; returns the peak in KiB.
fn watch_memory(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::SeqCst) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            for field in ["VmRSS:", "VmHWM:"] {
                if let Some(kib) = status
                    .lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                {
                    peak = peak.max(kib);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_flood_beside_valid_traffic_loses_nothing_and_anchors_nothing_bad() {
    // Every bad message is to be kept whole here: the hourly quota per sender (which would
    // count most of this flood as rate_limited) is raised above it.
    let mut s = Server::start(&["--rejections-per-hour", "100000"]);
    let http = reqwest::Client::new();
    let mallory_key = 66;
    let mut mallory = Device::new("mallory-1", mallory_key);
    let mallory_password = register(&http, &s, &mallory).await;
    let mut honest = Vec::new();
    for i in 0..HONEST {
        let mut d = Device::new(&format!("line-{}", i + 1), 20 + i as u8);
        let password = register(&http, &s, &d).await;
        let events = signed(&mut d, HONEST_EVENTS);
        honest.push((d, password, events));
    }
    // The attacker's device first sends ten genuine events (to replay and equivocate on).
    let genuine = signed(&mut mallory, 10);
    deliver(
        s.mqtt_port,
        "mallory-1".into(),
        Some(mallory_password.clone()),
        genuine.clone(),
        Arc::new(AtomicU64::new(0)),
        Duration::from_secs(2),
    )
    .await;
    let before = tree_size(&http, &s).await;

    let messages = flood(0, mallory_key, &genuine, &honest[0].2[..50]);
    let expected_rejections = {
        let mut by_reason: BTreeMap<&str, BTreeMap<(String, [u8; 32]), u64>> = BTreeMap::new();
        for (reason, m) in &messages {
            if let Some(r) = reason {
                *by_reason
                    .entry(r)
                    .or_default()
                    .entry((
                        "prov/v1/dev/mallory-1/ev".to_string(),
                        Sha256::digest(m).into(),
                    ))
                    .or_default() += 1;
            }
        }
        by_reason
    };
    let flood_bytes: usize = messages.iter().map(|(_, m)| m.len()).sum();
    let flood_len = messages.len();

    let stop = Arc::new(AtomicBool::new(false));
    let memory = watch_memory(s.child.id(), stop.clone());
    let started = std::time::Instant::now();
    let mut runs = Vec::new();
    for (d, password, events) in honest.iter().map(|(d, p, e)| (d, p, e.clone())) {
        runs.push(tokio::spawn(deliver(
            s.mqtt_port,
            d.id.as_str().to_string(),
            Some(password.clone()),
            events,
            Arc::new(AtomicU64::new(0)),
            Duration::from_secs(5),
        )));
    }
    let attacker = tokio::spawn(publish_all(
        s.mqtt_port,
        mallory_password.clone(),
        messages.into_iter().map(|(_, m)| m).collect(),
    ));
    // Meanwhile, the other-device topic: each try must cost the attacker its connection.
    let forged = Device::new("line-1", 13).event(Kind::Located, &[&sgtin(1)], None, now_ms());
    for n in 0..20 {
        assert!(
            try_other_topic(s.mqtt_port, &mallory_password, forged.clone(), n).await,
            "the gate let a publish to another device's topic through"
        );
    }
    attacker.await.expect("the flood was taken");
    for r in runs {
        r.await.expect("an honest device");
    }
    let took = started.elapsed();

    // Every valid event anchored exactly once, nothing else.
    let expected_size = before + HONEST as u64 * HONEST_EVENTS;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tree_size(&http, &s).await < expected_size && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every bad message kept whole, with its reason.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for (reason, expected) in &expected_rejections {
        loop {
            let kept = stored(&http, &s, reason).await;
            // The same messages, each at least as often as sent (QoS 1 is at-least-once).
            let complete = kept.len() == expected.len()
                && expected
                    .iter()
                    .all(|(k, n)| kept.get(k).is_some_and(|times| times >= n));
            if complete {
                break;
            }
            let strange: Vec<_> = kept
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .map(|(topic, hash)| format!("{topic} {}", hex::encode(&hash[..6])))
                .collect();
            assert!(
                strange.is_empty(),
                "{reason}: kept messages that were not sent as such: {strange:?}"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "{reason}: {} of {} distinct messages kept within 60 s",
                kept.len(),
                expected.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let peak_kib = memory.join().expect("memory watch");
    assert_eq!(
        tree_size(&http, &s).await,
        expected_size,
        "exactly the honest events were anchored"
    );
    let rejected: u64 = expected_rejections.values().flat_map(|m| m.values()).sum();
    let distinct: usize = expected_rejections.values().map(BTreeMap::len).sum();
    eprintln!(
        "flood: {flood_len} hostile messages ({:.1} MiB; {rejected} rejected as {distinct} distinct \
         kept rejections, the rest replays of anchored events) \
         and {} valid events in {:.1} s; 20 other-topic connections closed; server peak RSS \
         {} MiB",
        flood_bytes as f64 / 1048576.0,
        HONEST as u64 * HONEST_EVENTS,
        took.as_secs_f64(),
        peak_kib / 1024
    );
    assert!(
        peak_kib / 1024 < MEMORY_BUDGET_MIB,
        "the server's memory grew to {} MiB",
        peak_kib / 1024
    );
    // The gate counted what it closed.
    let closed = metric(&http, &s, "provenance_mqtt_gate_closed_total").await;
    assert!(closed >= 20.0, "gate closures counted: {closed}");

    // Bounded: more floods of the same size, all new messages, must not keep growing the server:
    // what grows at all (SQLite's page cache, the broker's segments) has a configured ceiling.
    let mut peaks = vec![peak_kib / 1024];
    for round in 1..=FLOOD_ROUNDS {
        let before_rejected = metric(&http, &s, "provenance_events_rejected_total").await;
        let more = flood(round, mallory_key, &genuine, &honest[0].2[..50]);
        let bad = more.iter().filter(|(r, _)| r.is_some()).count() as f64;
        let stop = Arc::new(AtomicBool::new(false));
        let memory = watch_memory(s.child.id(), stop.clone());
        publish_all(
            s.mqtt_port,
            mallory_password.clone(),
            more.into_iter().map(|(_, m)| m).collect(),
        )
        .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while metric(&http, &s, "provenance_events_rejected_total").await < before_rejected + bad {
            assert!(
                std::time::Instant::now() < deadline,
                "flood {round} was not all rejected within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop.store(true, Ordering::SeqCst);
        peaks.push(memory.join().expect("memory watch") / 1024);
    }
    eprintln!("server peak RSS after each flood (MiB): {peaks:?}");
    assert!(
        peaks.iter().all(|p| *p < MEMORY_BUDGET_MIB),
        "the server's memory grew past {MEMORY_BUDGET_MIB} MiB: {peaks:?}"
    );
    assert_eq!(
        tree_size(&http, &s).await,
        expected_size,
        "nothing bad anchored"
    );
    verify_data(&mut s);
}
