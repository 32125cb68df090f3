//! Strangers with sockets (issue #12): connections that never say anything, or say too little,
//! must not keep a device or a browser out.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use support::delivery::{deliver, register, signed};
use support::{Device, Server};
use tokio::net::{TcpSocket, TcpStream};

/// Opens `n` TCP connections to `port` from `from` (another loopback address than the
/// device's, as an attacker's machine would be) and holds them without sending a byte.
async fn half_open(from: [u8; 4], port: u16, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind((std::net::Ipv4Addr::from(from), 0).into())
            .expect("bind a loopback source address");
        match tokio::time::timeout(
            Duration::from_secs(2),
            socket.connect(([127, 0, 0, 1], port).into()),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            // The listener's backlog is full, or the gate closed it at once: both fine.
            _ => {}
        }
    }
    held
}

/// 1,500 half-open connections to the MQTT port and 1,500 to the HTTP port, held open; then a
/// device publishes and a browser loads a page. The gate admits only 64 unidentified
/// connections per address and closes the rest at once; the device gets its acks and the page
/// loads within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_hundred_idle_connections_keep_no_device_or_browser_out() {
    let s = Server::start(&[]);
    let http = reqwest::Client::new();
    let mut d = Device::new("tracker-1", 41);
    let password = register(&http, &s, &d).await;
    let http_port: u16 = s
        .http
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("http port");

    let started = Instant::now();
    let mqtt_idle = half_open([127, 0, 0, 2], s.mqtt_port, 1500).await;
    let http_idle = half_open([127, 0, 0, 3], http_port, 1500).await;
    eprintln!(
        "held {} MQTT and {} HTTP half-open connections after {:?}",
        mqtt_idle.len(),
        http_idle.len(),
        started.elapsed()
    );

    // A browser.
    let t = Instant::now();
    let page = tokio::time::timeout(Duration::from_secs(10), http.get(&s.http).send())
        .await
        .expect("the page answers within 10 s")
        .expect("page");
    assert!(page.status().is_success());
    let page_ms = t.elapsed().as_millis();

    // A device.
    let t = Instant::now();
    let events = signed(&mut d, 5);
    let acked = Arc::new(AtomicU64::new(0));
    tokio::time::timeout(
        Duration::from_secs(30),
        deliver(
            s.mqtt_port,
            "tracker-1".into(),
            Some(password),
            events,
            acked,
            Duration::from_secs(3),
        ),
    )
    .await
    .expect("the device's events are acknowledged within 30 s");
    let device_ms = t.elapsed().as_millis();
    let metrics = http
        .get(format!("{}/metrics", s.http))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("provenance_mqtt_gate_refused_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    eprintln!(
        "page in {page_ms} ms, 5 events acknowledged in {device_ms} ms; the gate refused \
         {refused} connections"
    );
    assert!(
        refused >= 1400.0,
        "the gate refused {refused} of 1,500 unidentified connections from one address"
    );
    drop(mqtt_idle);
    drop(http_idle);
}
