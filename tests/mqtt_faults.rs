//! Delivery faults between devices and the ingest, with a Mosquitto of the test's own: a broker
//! restart in the middle of a run, and a broker that drops QoS 1 messages for a slow subscriber
//! (its `max_queued_messages`). Devices behave as the firmware does: keep every event until an
//! ack covers it, send it again after a reconnect or when acks stall. In both cases every event
//! must end up anchored exactly once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::delivery::{deliver, register, signed, tree_size, verify_data};
use support::mosquitto::{self, Mosquitto};
use support::{Device, Server};

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
        None,
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
            None,
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
        .bearer_auth(s.token())
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
