//! TLS by flag: `serve --tls-cert --tls-key` with a certificate made by the openssl command its
//! `--help` gives. HTTPS, gRPC over TLS and MQTT over TLS each work for a client that trusts
//! the certificate (our CLI, reqwest, tonic, rumqttc and Mosquitto's own `mosquitto_pub`), and
//! each refuses plain-text clients and clients that do not trust it.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use provenance_event::Kind;
use provenance_proto::pb::GetCheckpointRequest;
use provenance_proto::pb::ledger_client::LedgerClient;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use support::delivery::{now_ms, tree_size};
use support::{Device, Server, certificate, sgtin, which};

fn trusting(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).expect("cert");
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client")
}

/// Publishes `event` as device `id` over MQTT/TLS (trusting `cert`) and waits for its ack.
async fn publish_over_tls(
    port: u16,
    id: &str,
    password: Option<&str>,
    cert: &Path,
    event: Vec<u8>,
    s: &Server,
) {
    let mut opts = MqttOptions::new(format!("{id}-c"), "127.0.0.1", port);
    if let Some(p) = password {
        opts.set_credentials(id, p);
    }
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_transport(Transport::Tls(TlsConfiguration::Simple {
        ca: std::fs::read(cert).expect("cert"),
        alpn: None,
        client_auth: None,
    }));
    let (client, mut el) = AsyncClient::new(opts, 100);
    client
        .subscribe(format!("prov/v1/dev/{id}/ack"), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut published = false;
    loop {
        let Ok(polled) = tokio::time::timeout_at(deadline, el.poll()).await else {
            panic!("no ack over MQTT/TLS within 30 s:\n{}", s.log());
        };
        match polled.expect("MQTT over TLS") {
            Event::Incoming(Packet::SubAck(_)) if !published => {
                published = true;
                client
                    .publish(
                        format!("prov/v1/dev/{id}/ev"),
                        QoS::AtLeastOnce,
                        false,
                        event.clone(),
                    )
                    .await
                    .expect("publish");
            }
            Event::Incoming(Packet::Publish(p)) if p.topic.ends_with("/ack") => break,
            _ => {}
        }
    }
    let _ = client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_by_flag_serves_https_grpc_and_mqtts_and_refuses_plain_text() {
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs = tempfile::tempdir().expect("tempdir");
    let Some((cert, key)) = certificate(certs.path()) else {
        return;
    };
    let (cert_arg, key_arg) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let s = Server::start(&["--tls-cert", cert_arg, "--tls-key", key_arg]);
    assert!(s.http.starts_with("https://"));
    let log = s.log();
    assert!(log.contains("web view   https://"), "{log}");
    assert!(log.contains("(TLS)"), "{log}");
    assert!(log.contains("mqtts://"), "{log}");

    // HTTPS: a client that trusts the certificate gets the checkpoint; others get nothing.
    let http = trusting(&cert);
    let size = tree_size(&http, &s).await;
    let stranger = reqwest::Client::builder()
        .use_rustls_tls()
        .build()
        .expect("client");
    let refused = stranger
        .get(format!("{}/api/v1/checkpoint", s.http))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "an untrusted certificate was accepted: {refused:?}"
    );
    let plain = reqwest::get(format!(
        "{}/api/v1/checkpoint",
        s.http.replace("https:", "http:")
    ))
    .await;
    assert!(
        plain.is_err() || !plain.as_ref().is_ok_and(|r| r.status().is_success()),
        "plain HTTP was served on the HTTPS port"
    );

    // The CLI registers a device over HTTPS with --cacert, and says what to do without it.
    let mut d = Device::new("tls-tracker-1", 41);
    let public_key = base64::engine::general_purpose::STANDARD.encode(d.public_key());
    let register = |cacert: Option<&str>| {
        let mut c = support::provenance();
        c.args([
            "device",
            "register",
            "--id",
            "tls-tracker-1",
            "--role",
            "tracker",
        ])
        .args(["--org", "TLS Lines", "--public-key", &public_key])
        .args(["--server", &s.http])
        .arg("--data")
        .arg(s.dir.path());
        if let Some(ca) = cacert {
            c.args(["--cacert", ca]);
        }
        c.output().expect("cli runs")
    };
    let out = register(None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cacert"), "{err}");
    let out = register(Some(cert_arg));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("mqtt_password "))
        .unwrap_or_else(|| panic!("no MQTT password in {stdout}"))
        .trim()
        .to_string();

    // gRPC over TLS.
    let channel = tonic::transport::Channel::from_shared(s.grpc.replace("http:", "https:"))
        .expect("uri")
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(
                    std::fs::read(&cert).expect("cert"),
                ))
                .domain_name("localhost"),
        )
        .expect("tls config")
        .connect()
        .await
        .expect("gRPC over TLS connects");
    let cp = LedgerClient::new(channel)
        .get_checkpoint(GetCheckpointRequest { size: None })
        .await
        .expect("GetCheckpoint over TLS")
        .into_inner();
    assert!(cp.size > size, "registration is in the log");
    let mut plain_grpc = LedgerClient::connect(s.grpc.clone()).await;
    if let Ok(c) = plain_grpc.as_mut() {
        assert!(
            c.get_checkpoint(GetCheckpointRequest { size: None })
                .await
                .is_err(),
            "plain-text gRPC was served on the TLS port"
        );
    }

    // MQTT over TLS: the device publishes through the gate and gets its ack.
    let event = d.event(Kind::Located, &[&sgtin(1)], None, now_ms());
    publish_over_tls(
        s.mqtt_port,
        "tls-tracker-1",
        Some(&password),
        &cert,
        event,
        &s,
    )
    .await;

    // Mosquitto's own client over TLS (the broker's PUBACK; anchoring is checked below).
    if let Some(pub_tool) = support::external("mosquitto_pub", which("mosquitto_pub")) {
        let file = certs.path().join("event.cbor");
        std::fs::write(&file, d.event(Kind::Located, &[&sgtin(2)], None, now_ms())).expect("write");
        let out = Command::new(pub_tool)
            .args(["-h", "127.0.0.1", "-p", &s.mqtt_port.to_string()])
            .args(["--cafile", cert_arg, "-i", "tls-tracker-1-m"])
            .args(["-u", "tls-tracker-1", "-P", &password])
            .args(["-t", "prov/v1/dev/tls-tracker-1/ev", "-q", "1", "-f"])
            .arg(&file)
            .output()
            .expect("mosquitto_pub runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A plain-text MQTT client gets no CONNACK from the TLS port.
    let mut opts = MqttOptions::new("tls-tracker-1-plain", "127.0.0.1", s.mqtt_port);
    opts.set_credentials("tls-tracker-1", &password);
    let (_plain, mut el) = AsyncClient::new(opts, 10);
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    assert!(
        !answer.unwrap_or(false),
        "plain MQTT got a CONNACK on the TLS port"
    );

    // Every device event sent is anchored, and nothing else was added.
    let sent = if which("mosquitto_pub").is_some() {
        2
    } else {
        1
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tree_size(&http, &s).await < cp.size + sent && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tree_size(&http, &s).await, cp.size + sent);

    // The item's page links back over HTTPS (the Digital Link its QR code carries).
    let page = http
        .get(format!("{}/items/{}", s.http, sgtin(1)))
        .send()
        .await
        .expect("item page")
        .text()
        .await
        .expect("html");
    let link = format!(
        "https://127.0.0.1:{}/01/",
        s.http.rsplit(':').next().expect("port")
    );
    assert!(page.contains(&link), "no {link} in the page");
}

/// `serve --mqtt-url mqtts://… --mqtt-cacert`: the ingest reaches an external broker (a
/// Mosquitto of this test's own with a TLS listener) over TLS, and a device that publishes to
/// that broker over TLS gets its ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_reaches_an_external_broker_over_tls() {
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let Some(bin) = support::external("the mosquitto binary", support::mosquitto::binary()) else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    let Some((cert, key)) = certificate(certs.path()) else {
        return;
    };
    // Mosquitto drops to its own user, which must read them.
    let shared = tempfile::tempdir().expect("tempdir");
    let (m_cert, m_key) = (
        shared.path().join("cert.pem"),
        shared.path().join("key.pem"),
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::copy(&cert, &m_cert).expect("copy");
        std::fs::copy(&key, &m_key).expect("copy");
        for p in [shared.path(), &m_cert, &m_key] {
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
    let broker = support::mosquitto::Mosquitto::start(
        &bin,
        &[
            &format!("certfile {}", m_cert.display()),
            &format!("keyfile {}", m_key.display()),
        ],
    );
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let cert_arg = cert.to_str().expect("path");
    let s = Server::start(&["--mqtt-url", &url, "--mqtt-cacert", cert_arg]);
    assert!(s.log().contains("mqtts://"), "{}", s.log());
    let http = s.http();
    let mut d = Device::new("tls-tracker-2", 42);
    support::delivery::register(&http, &s, &d).await;
    let before = tree_size(&http, &s).await;

    let event = d.event(Kind::Located, &[&sgtin(3)], None, now_ms());
    publish_over_tls(broker.port, "tls-tracker-2", None, &cert, event, &s).await;
    assert_eq!(tree_size(&http, &s).await, before + 1);
}
