//! Delivery as networks really deliver (issue #7): events arriving in any order and several
//! times over, and a tracker that is offline for a week at sea and then flushes its queue. Both
//! must end in a complete, verified, correctly ordered trace.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use provenance_event::Kind;
use provenance_event::wire::AckPayload;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use support::delivery::{now_ms, register, tree_size, verify_data};
use support::{Device, Server, sgtin};

/// The trace's events of one signer, as (seq, chain status), in the order the trace lists them.
fn chain_of(trace: &Value, signer: &str) -> Vec<(u64, String)> {
    trace["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["signer"]["id"] == signer)
        .map(|e| {
            (
                e["event"]["seq"].as_u64().expect("seq"),
                e["chain"]["status"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// Checks a trace lists events by time, and that the events of each signer form one
/// unbroken hash chain; returns the number of events.
fn assert_complete_and_ordered(trace: &Value) -> usize {
    let events = trace["events"].as_array().expect("events");
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["event"]["time_ms"].as_i64().expect("time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "the trace is not in time order"
    );
    let bad: Vec<&Value> = events
        .iter()
        .filter(|e| !matches!(e["chain"]["status"].as_str(), Some("first" | "linked")))
        .collect();
    assert!(bad.is_empty(), "chain breaks or gaps: {bad:?}");
    assert!(
        trace["missing"].as_array().is_none_or(|m| m.is_empty()),
        "{}",
        trace["missing"]
    );
    events.len()
}

/// Deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// A device's 300 events are published in a random order, each one to three times, over the
/// embedded broker: every event is anchored once, the ack reaches the last seq only when every
/// earlier seq is in, and the trace shows one unbroken chain in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_and_duplicated_delivery_ends_in_a_complete_ordered_trace() {
    const N: u64 = 300;
    let mut s = Server::start(&[]);
    let http = s.http();
    let mut d = Device::new("tracker-shuffle", 51);
    let password = register(&http, &s, &d).await;
    let before = tree_size(&http, &s).await;
    let t0 = now_ms() - 3_600_000;
    let events: Vec<Vec<u8>> = (0..N)
        .map(|i| d.event(Kind::Located, &[&sgtin(4242)], None, t0 + i as i64 * 1000))
        .collect();
    let mut sends: Vec<usize> = (0..N as usize)
        .flat_map(|i| std::iter::repeat_n(i, 1 + i % 3))
        .collect();
    shuffle(&mut sends, 0x5eed);
    assert_ne!(sends[0], 0, "the shuffle starts out of order");

    let mut opts = MqttOptions::new("tracker-shuffle-c", "127.0.0.1", s.mqtt_port);
    opts.set_credentials("tracker-shuffle", &password);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut el) = AsyncClient::new(opts, 2000);
    client
        .subscribe("prov/v1/dev/tracker-shuffle/ack", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let mut acked = 0;
    let mut published = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked < N {
        let Ok(ev) = tokio::time::timeout_at(deadline, el.poll()).await else {
            panic!("the ack reached only seq {acked} of {N} within 60 s");
        };
        match ev.expect("MQTT") {
            Event::Incoming(Packet::SubAck(_)) if !published => {
                published = true;
                for &i in &sends {
                    client
                        .publish(
                            "prov/v1/dev/tracker-shuffle/ev",
                            QoS::AtLeastOnce,
                            false,
                            events[i].clone(),
                        )
                        .await
                        .expect("publish");
                }
            }
            Event::Incoming(Packet::Publish(p)) if p.topic.ends_with("/ack") => {
                let a = AckPayload::decode(&p.payload).expect("SPEC §5 ack");
                // An ack up to seq n means seqs 1..=n are all in the tree it names.
                assert!(
                    a.tree_size >= before + a.seq,
                    "ack of seq {} at tree size {} before all of 1..={} were anchored",
                    a.seq,
                    a.tree_size,
                    a.seq
                );
                acked = acked.max(a.seq);
            }
            _ => {}
        }
    }
    let _ = client.disconnect().await;

    assert_eq!(
        tree_size(&http, &s).await,
        before + N,
        "each event anchored once"
    );
    let trace: Value = http
        .get(format!("{}/api/v1/items/{}/trace", s.http, sgtin(4242)))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    assert_eq!(assert_complete_and_ordered(&trace), N as usize);
    let chain = chain_of(&trace, "tracker-shuffle");
    let seqs: Vec<u64> = chain.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=N).collect::<Vec<_>>(),
        "in seq order, none twice"
    );
    verify_data(&mut s);
}

/// Trackers at sea for six simulated days have no network at all (the firmware keeps its
/// events in its flash ring, which holds about a week); at the port they flush everything.
/// Nothing is dropped, the container's trace is complete and in order, and its evidence
/// bundle verifies offline.
#[test]
fn a_week_offline_then_flushing_ends_in_a_complete_verified_trace() {
    let mut s = Server::start(&[]);
    let stdout = s.simulate(
        "--boards 3 --items 4 --speedup 60000 --sea-days 6 --drain 120 \
                 --seed 12 --run 778 --offline 0 --reboots 0 --seal-breaks 0 --heat 0 \
                 --drops 0 --holds 0",
    );
    assert!(
        stdout.contains(", 0 dropped and reported"),
        "a week fits the ring; nothing may be dropped:\n{stdout}"
    );
    let container = "urn:epc:id:sscc:4012345.9778000000";
    let trace: Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/items/{container}/trace", s.http))
        .bearer_auth(s.token())
        .send()
        .expect("trace")
        .json()
        .expect("json");
    let n = assert_complete_and_ordered(&trace);
    // The tracker's week at sea is in the trace: positions every day of the voyage.
    let days: BTreeSet<i64> = trace["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"]["kind"] == "located")
        .filter_map(|e| e["event"]["time_ms"].as_i64())
        .map(|t| t / 86_400_000)
        .collect();
    assert!(days.len() >= 6, "{n} events over {} days only", days.len());
    eprintln!(
        "container trace: {n} events over {} days, no gap",
        days.len()
    );

    // The officer's view: the evidence bundle verifies with nothing but the log key.
    let bundle = s.dir.path().join("container.evidence.json");
    let body = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/items/{container}/evidence", s.http))
        .bearer_auth(s.token())
        .send()
        .expect("evidence")
        .bytes()
        .expect("bytes");
    std::fs::write(&bundle, &body).expect("write");
    let key = reqwest::blocking::get(format!("{}/api/v1/log/key", s.http))
        .expect("log key")
        .text()
        .expect("text");
    let out = support::provenance()
        .args(["verify", "--bundle"])
        .arg(&bundle)
        .args(["--log-key", key.trim()])
        .output()
        .expect("verify runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    verify_data(&mut s);
}
