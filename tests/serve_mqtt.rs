//! `provenance serve` as a device meets it: the real binary, the embedded broker (or the
//! Mosquitto on this machine when PROVENANCE_TEST_MQTT_URL is set), a device that logs in with
//! the password registration gave it, publishes at QoS 1 and gets acks only for anchored events.

mod support;

use std::time::Duration;

use base64::Engine as _;
use provenance_event::Kind;
use provenance_event::wire::{AckPayload, RejPayload};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use support::{Device, Server, sgtin};

async fn register(http: &reqwest::Client, s: &Server, d: &Device) -> String {
    let body = json!({
        "id": d.id.as_str(), "role": "tracker", "org": "Test Lines",
        "public_key": base64::engine::general_purpose::STANDARD.encode(d.public_key()),
    });
    let r: Value = http
        .post(format!("{}/api/v1/devices", s.http))
        .bearer_auth(s.token())
        .json(&body)
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    r["mqtt_password"].as_str().expect("password").to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Publishes `n` events and waits for the ack that covers the last; returns every ack seen.
async fn publish_and_wait(
    host: &str,
    port: u16,
    creds: Option<(&str, &str)>,
    d: &mut Device,
    n: u64,
) -> (Vec<AckPayload>, Vec<(Option<u64>, String)>) {
    let mut opts = MqttOptions::new(format!("{}-client", d.id), host, port);
    opts.set_keep_alive(Duration::from_secs(10));
    if let Some((u, p)) = creds {
        opts.set_credentials(u, p);
    }
    let (client, mut el) = AsyncClient::new(opts, 1000);
    let id = d.id.as_str().to_string();
    client
        .subscribe(format!("prov/v1/dev/{id}/ack"), QoS::AtLeastOnce)
        .await
        .expect("sub");
    client
        .subscribe(format!("prov/v1/dev/{id}/rej"), QoS::AtLeastOnce)
        .await
        .expect("sub");
    let mut acks = Vec::new();
    let mut rejs = Vec::new();
    let mut published = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let target = d.seq + n;
    loop {
        let Ok(ev) = tokio::time::timeout_at(deadline, el.poll()).await else {
            panic!("no ack within 30 s; acks {acks:?} rejections {rejs:?}");
        };
        let ev = ev.expect("connection");
        match ev {
            Event::Incoming(Packet::SubAck(_)) if !published => {
                published = true;
                for i in 0..n {
                    let e = d.event(Kind::Located, &[&sgtin(1000 + i)], None, now_ms());
                    client
                        .publish(format!("prov/v1/dev/{id}/ev"), QoS::AtLeastOnce, false, e)
                        .await
                        .expect("publish");
                }
                client
                    .publish(
                        format!("prov/v1/dev/{id}/ev"),
                        QoS::AtLeastOnce,
                        false,
                        vec![0xde, 0xad],
                    )
                    .await
                    .expect("publish");
            }
            Event::Incoming(Packet::Publish(p)) if p.topic.ends_with("/ack") => {
                let a = AckPayload::decode(&p.payload).expect("ack payload is SPEC §5 CBOR");
                acks.push(a);
                if a.seq >= target && !rejs.is_empty() {
                    break;
                }
            }
            Event::Incoming(Packet::Publish(p)) if p.topic.ends_with("/rej") => {
                let r = RejPayload::decode(&p.payload).expect("rej payload");
                rejs.push((r.seq, r.reason.to_string()));
                if acks.last().is_some_and(|a| a.seq >= target) {
                    break;
                }
            }
            _ => {}
        }
    }
    let _ = client.disconnect().await;
    (acks, rejs)
}

#[tokio::test]
async fn a_device_publishes_over_the_embedded_broker_and_gets_acks() {
    let mut s = Server::start(&[]);
    let http = s.http();
    let mut d = Device::new("tracker-17", 17);
    let password = register(&http, &s, &d).await;
    let password_seen = password.clone();

    // A wrong password is refused at CONNECT.
    let mut opts = MqttOptions::new("tracker-17-intruder", "127.0.0.1", s.mqtt_port);
    opts.set_credentials("tracker-17", "not-the-password");
    let (_c, mut el) = AsyncClient::new(opts, 10);
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Err(_) => return true,
                Ok(Event::Incoming(Packet::ConnAck(a))) => {
                    return a.code != rumqttc::ConnectReturnCode::Success;
                }
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(refused, "a wrong password must not connect");

    let run = tokio::spawn({
        let port = s.mqtt_port;
        async move {
            publish_and_wait(
                "127.0.0.1",
                port,
                Some(("tracker-17", &password)),
                &mut d,
                20,
            )
            .await
        }
    });
    let (acks, rejs) = match run.await {
        Ok(r) => r,
        Err(e) => panic!("{e}\nserver log:\n{}", s.log()),
    };
    let last = acks.last().expect("an ack");
    assert_eq!(last.seq, 20);
    assert!(
        acks.windows(2).all(|w| w[0].seq <= w[1].seq),
        "acks never go back: {acks:?}"
    );
    assert_eq!(rejs, vec![(None, "malformed".to_string())]);

    // The ack's tree size is a checkpoint that exists and covers the events.
    let cp = http
        .get(format!("{}/api/v1/checkpoint", s.http))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let size: u64 = cp
        .lines()
        .nth(1)
        .expect("size line")
        .parse()
        .expect("number");
    assert!(
        size >= last.tree_size && last.tree_size >= 21,
        "registration + 20 events: {size} {}",
        last.tree_size
    );
    let rej: Value = http
        .get(format!("{}/api/v1/rejections", s.http))
        .bearer_auth(s.token())
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(rej["rejections"][0]["reason"], "malformed");
    assert_eq!(rej["rejections"][0]["topic"], "prov/v1/dev/tracker-17/ev");
    // The same through the CLI.
    let cli = support::provenance()
        .args(["rejections", "--server", &s.http, "--reason", "malformed"])
        .arg("--data")
        .arg(s.dir.path())
        .output()
        .expect("rejections");
    let table = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "{table}");
    assert!(
        table.contains("malformed") && table.contains("prov/v1/dev/tracker-17/ev"),
        "{table}"
    );
    let typo = support::provenance()
        .args(["rejections", "--server", &s.http, "--reason", "bad_sig"])
        .output()
        .expect("rejections");
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("bad_signature"));

    assert!(s.stop(), "Ctrl-C stops cleanly:\n{}", s.log());
    // No secret is ever logged: not the admin token, not the device's MQTT password.
    let log = s.log();
    assert!(
        !log.contains(&s.token()),
        "the admin token leaked into the log"
    );
    assert!(
        !log.contains(&password_seen),
        "an MQTT password leaked into the log"
    );
    // Nothing that was acknowledged is missing after the stop.
    let (ok, out) = {
        let o = support::provenance()
            .args(["verify", "--data"])
            .arg(s.dir.path())
            .output()
            .expect("verify");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    assert!(ok, "{out}");
    assert!(out.contains("checked   21 entries"), "{out}");
}

/// The same against the Mosquitto already running on this machine (CI sets the variable).
#[tokio::test]
async fn the_same_through_an_external_mosquitto() {
    let Some(url) = support::external(
        "PROVENANCE_TEST_MQTT_URL (a Mosquitto)",
        std::env::var("PROVENANCE_TEST_MQTT_URL").ok(),
    ) else {
        return;
    };
    let hostport = url.trim_start_matches("mqtt://").to_string();
    let (host, port) = hostport
        .rsplit_once(':')
        .map_or((hostport.as_str(), 1883), |(h, p)| {
            (h, p.parse().expect("port"))
        });
    // A share group and client ID of this run's own: Mosquitto is shared by every run on this
    // machine and keeps sessions on disk, and a stale member of a shared group takes its turn.
    let run = std::process::id();
    let group = format!("test-{run}");
    let client_id = format!("provenance-ingest-test-{run}");
    let _cleanup = EndSession {
        host: host.to_string(),
        port,
        client_id: client_id.clone(),
    };
    let mut s = Server::start(&[
        "--mqtt-url",
        &url,
        "--mqtt-share-group",
        &group,
        "--mqtt-client-id",
        &client_id,
    ]);
    let http = s.http();
    let mut d = Device::new(&format!("tracker-{run}"), 18);
    register(&http, &s, &d).await;
    let (acks, rejs) = publish_and_wait(host, port, None, &mut d, 10).await;
    assert_eq!(acks.last().expect("ack").seq, 10);
    assert_eq!(rejs, vec![(None, "malformed".to_string())]);
    assert!(s.stop(), "{}", s.log());
}

/// Ends the ingest's persistent session on the shared broker when the test is over, passed or
/// not, so that it holds no queued events of later runs.
struct EndSession {
    host: String,
    port: u16,
    client_id: String,
}

impl Drop for EndSession {
    fn drop(&mut self) {
        let mut opts = MqttOptions::new(&self.client_id, &self.host, self.port);
        opts.set_clean_session(true);
        // Its own thread: the blocking client cannot run inside the test's async runtime.
        let _ = std::thread::spawn(move || {
            let (c, mut conn) = rumqttc::Client::new(opts, 10);
            for ev in conn.iter().take(5) {
                if matches!(ev, Ok(Event::Incoming(Packet::ConnAck(_))) | Err(_)) {
                    let _ = c.disconnect();
                    break;
                }
            }
        })
        .join();
    }
}

/// A service manager's SIGTERM takes the same graceful path as Ctrl-C.
#[test]
fn sigterm_stops_cleanly() {
    let mut s = Server::start(&[]);
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = s.child.try_wait() {
            assert!(status.success(), "{}", s.log());
            assert!(s.log().contains("stopped."), "{}", s.log());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SPEC §5: in the embedded broker a device publishes only to its own `ev` topic and
/// subscribes only to its own `ack` and `rej`; stepping outside closes its connection, and
/// nothing it tried to slip in is anchored.
#[tokio::test]
async fn the_broker_keeps_each_device_to_its_own_topics() {
    let s = Server::start(&[]);
    let http = s.http();
    let mut mallory = Device::new("tracker-mallory", 61);
    let mut victim = Device::new("tracker-victim", 62);
    let password = register(&http, &s, &mallory).await;
    register(&http, &s, &victim).await;

    // Each attempt on a fresh connection: the gate closes it at the first foreign packet.
    async fn attempt(port: u16, password: &str, act: impl AsyncFnOnce(&AsyncClient)) -> bool {
        let mut opts = MqttOptions::new("tracker-mallory-client", "127.0.0.1", port);
        opts.set_credentials("tracker-mallory", password);
        let (client, mut el) = AsyncClient::new(opts, 10);
        let mut act = Some(act);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, el.poll()).await {
                // Still connected after 10 s.
                Err(_) => return false,
                // Closed by the gate, after the attempt.
                Ok(Err(_)) => return act.is_none(),
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    if let Some(a) = act.take() {
                        a(&client).await;
                    }
                }
                Ok(Ok(_)) => {}
            }
        }
    }
    let forged = victim.event(Kind::Located, &[&sgtin(9001)], None, now_ms());
    let own = mallory.event(Kind::Located, &[&sgtin(9002)], None, now_ms());
    let closed = attempt(s.mqtt_port, &password, async |c| {
        let _ = c
            .publish(
                "prov/v1/dev/tracker-victim/ev",
                QoS::AtLeastOnce,
                false,
                forged,
            )
            .await;
    })
    .await;
    assert!(
        closed,
        "publishing to another device's topic closes the connection"
    );
    for filter in ["#", "prov/v1/dev/+/ev", "prov/v1/dev/tracker-victim/ack"] {
        let f = filter.to_string();
        let closed = attempt(s.mqtt_port, &password, async move |c| {
            let _ = c.subscribe(f, QoS::AtLeastOnce).await;
        })
        .await;
        assert!(closed, "subscribing to {filter} closes the connection");
    }
    // Its own topic still works.
    let mut opts = MqttOptions::new("tracker-mallory-own", "127.0.0.1", s.mqtt_port);
    opts.set_credentials("tracker-mallory", &password);
    let (client, mut el) = AsyncClient::new(opts, 10);
    client
        .subscribe("prov/v1/dev/tracker-mallory/ack", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let mut sent = false;
    let acked = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) if !sent => {
                    sent = true;
                    client
                        .publish(
                            "prov/v1/dev/tracker-mallory/ev",
                            QoS::AtLeastOnce,
                            false,
                            own.clone(),
                        )
                        .await
                        .expect("publish");
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic.ends_with("/ack") => break true,
                Ok(_) => {}
                Err(e) => panic!("own topics must work: {e}"),
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(acked, "its own event is anchored and acknowledged");
    let trace: Value = http
        .get(format!("{}/api/v1/items/{}/trace", s.http, sgtin(9001)))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    assert_eq!(
        trace["events"].as_array().map(Vec::len),
        Some(0),
        "the forged publish never reached the ingest"
    );
    assert!(
        s.log().contains("MQTT gate closed a connection"),
        "{}",
        s.log()
    );
}
