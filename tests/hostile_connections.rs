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
        // A full backlog, or the gate closing it at once, is fine: not held then.
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_secs(2),
            socket.connect(([127, 0, 0, 1], port).into()),
        )
        .await
        {
            held.push(s);
        }
    }
    held
}

/// 1,500 half-open connections each to the MQTT, HTTP and gRPC ports, held open; then a device
/// publishes, a browser loads a page and a gRPC client reads the checkpoint. Each listener
/// admits only so many connections per address (MQTT 256 unidentified, HTTP 256, gRPC 64) and
/// closes the rest at once; the silent ones it admitted are closed after 10 s.
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
    let grpc_port: u16 = s
        .grpc
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("grpc port");
    let grpc_idle = half_open([127, 0, 0, 4], grpc_port, 1500).await;
    eprintln!(
        "opened {} MQTT, {} HTTP and {} gRPC half-open connections in {:?}",
        mqtt_idle.len(),
        http_idle.len(),
        grpc_idle.len(),
        started.elapsed()
    );

    // A gRPC client.
    let t = Instant::now();
    let mut grpc = tokio::time::timeout(
        Duration::from_secs(10),
        provenance_proto::pb::ledger_client::LedgerClient::connect(s.grpc.clone()),
    )
    .await
    .expect("gRPC connects within 10 s")
    .expect("gRPC connects");
    grpc.get_checkpoint(provenance_proto::pb::GetCheckpointRequest { size: None })
        .await
        .expect("the checkpoint over gRPC");
    let grpc_ms = t.elapsed().as_millis();

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
        .bearer_auth(s.token())
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let count = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let (mqtt, http_refused, grpc_refused) = (
        count("provenance_mqtt_gate_refused_total"),
        count("provenance_http_refused_total"),
        count("provenance_grpc_refused_total"),
    );
    eprintln!(
        "page in {page_ms} ms, 5 events acknowledged in {device_ms} ms, checkpoint over gRPC \
         in {grpc_ms} ms; refused at once: MQTT {mqtt}, HTTP {http_refused}, gRPC {grpc_refused}"
    );
    assert!(
        mqtt >= 1200.0,
        "the gate refused {mqtt} of 1,500 from one address"
    );
    assert!(
        http_refused >= 1200.0,
        "HTTP refused {http_refused} of 1,500 from one address"
    );
    assert!(
        grpc_refused >= 1400.0,
        "gRPC refused {grpc_refused} of 1,500 from one address"
    );

    // The silent connections that were admitted are closed after 10 s: their places are free.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let mut closed = 0;
    for mut c in http_idle.into_iter().chain(grpc_idle).chain(mqtt_idle) {
        use tokio::io::AsyncReadExt as _;
        // What the server sent first (gRPC's HTTP/2 settings), then the end.
        let mut b = [0u8; 256];
        loop {
            match tokio::time::timeout(Duration::from_millis(50), c.read(&mut b)).await {
                Ok(Ok(0) | Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => {}
                Err(_) => break,
            }
        }
    }
    eprintln!("{closed} connections closed by the server after 12 s");
    assert_eq!(closed, 4500, "every silent connection was closed");
}

/// Connects as `id` with `password`; `Some(client, event loop)` once the broker accepted the
/// login (CONNACK), `None` if it refused or closed the connection.
async fn login(
    port: u16,
    id: &str,
    password: &str,
) -> Option<(rumqttc::AsyncClient, rumqttc::EventLoop)> {
    use rumqttc::{Event, MqttOptions, Packet};
    let mut opts = MqttOptions::new(format!("{id}-board"), "127.0.0.1", port);
    opts.set_credentials(id, password);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = rumqttc::AsyncClient::new(opts, 10);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(a)))) => {
                return (a.code == rumqttc::ConnectReturnCode::Success).then_some((client, el));
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
    }
    None
}

/// How long until the broker's side of a logged-in session closes (`None`: still open after
/// `within`).
async fn closed_within(el: &mut rumqttc::EventLoop, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < within {
        match tokio::time::timeout(within.saturating_sub(t.elapsed()), el.poll()).await {
            Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
    None
}

/// A revoked device held its session until it chose to leave. Now the revocation closes it at
/// once, and the device cannot log in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_disconnected_at_once_and_cannot_log_in_again() {
    let s = Server::start(&[]);
    let http = reqwest::Client::new();
    let d = Device::new("tracker-9", 43);
    let password = register(&http, &s, &d).await;
    let (_client, mut el) = login(s.mqtt_port, "tracker-9", &password)
        .await
        .expect("the registered device logs in");
    let r = http
        .post(format!("{}/api/v1/devices/tracker-9/revoke", s.http))
        .bearer_auth(s.token())
        .json(&serde_json::json!({ "reason": "stolen" }))
        .send()
        .await
        .expect("revoke");
    assert!(r.status().is_success(), "{}", r.status());
    let closed = closed_within(&mut el, Duration::from_secs(5)).await;
    eprintln!("session closed {closed:?} after the revocation");
    assert!(closed.is_some(), "the revoked device's session stayed open");
    assert!(
        login(s.mqtt_port, "tracker-9", &password).await.is_none(),
        "a revoked device logged in again"
    );
}

/// `provenance device password --id`: a new MQTT password; the old one stops working and the
/// sessions opened with it close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mqtt_password_ends_the_old_one_and_its_sessions() {
    let s = Server::start(&[]);
    let http = reqwest::Client::new();
    let d = Device::new("tracker-8", 44);
    let old = register(&http, &s, &d).await;
    let (_client, mut el) = login(s.mqtt_port, "tracker-8", &old)
        .await
        .expect("logs in with the first password");
    let data = s.dir.path().display().to_string();
    let out = support::provenance()
        .args(["device", "password", "--id", "tracker-8"])
        .args(["--server", s.http.as_str(), "--data", data.as_str()])
        .output()
        .expect("provenance device password");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = stdout
        .lines()
        .last()
        .expect("the new password")
        .trim()
        .to_string();
    assert_ne!(new, old);
    assert!(
        closed_within(&mut el, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(
        login(s.mqtt_port, "tracker-8", &old).await.is_none(),
        "the old password still works"
    );
    assert!(
        login(s.mqtt_port, "tracker-8", &new).await.is_some(),
        "the new password does not work"
    );
}
