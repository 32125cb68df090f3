//! A board over real TCP to the Mosquitto on this machine (PROVENANCE_TEST_MQTT_URL, which CI
//! sets), with Mosquitto's own command-line clients standing in for the ingest: an
//! independent MQTT implementation subscribes to the board's `ev` topic, every event is
//! verified, and an `ack` published with `mosquitto_pub` empties the board's queue.
//! Without the variable the test is skipped (it fails instead under PROVENANCE_REQUIRE_ALL).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use provenance_event::wire::AckPayload;
use provenance_event::{DeviceId, Epc, SignedEvent};
use provenance_firmware::sim::RamFlash;
use provenance_firmware::{
    Board, BoardConfig, Layout, LinkState, MqttConfig, Region, Sample, Sensors, StaticKey, Station,
    StationCommand, StationConfig,
};

const FLASH: usize = 64 * 1024;

struct Bench;

impl Sensors for Bench {
    fn sample(&mut self, _now_ms: u64) -> Sample {
        Sample {
            voltage_mv: Some(3_700),
            temperature_mc: Some(22_000),
            ..Sample::default()
        }
    }
}

fn broker() -> Option<(String, u16)> {
    let Ok(url) = std::env::var("PROVENANCE_TEST_MQTT_URL") else {
        assert!(
            std::env::var("PROVENANCE_REQUIRE_ALL").is_err(),
            "PROVENANCE_TEST_MQTT_URL is required (PROVENANCE_REQUIRE_ALL is set)"
        );
        eprintln!("skipped: set PROVENANCE_TEST_MQTT_URL=mqtt://host:port to run against a broker");
        return None;
    };
    if Command::new("mosquitto_sub")
        .arg("--help")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("PROVENANCE_REQUIRE_ALL").is_err(),
            "mosquitto_sub and mosquitto_pub are required (Debian package mosquitto-clients)"
        );
        eprintln!("skipped: mosquitto_sub not installed (Debian package mosquitto-clients)");
        return None;
    }
    let hostport = url.trim_start_matches("mqtt://");
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "1883"));
    Some((host.to_string(), port.parse().expect("port")))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn a_board_through_mosquitto() {
    let Some((host, port)) = broker() else {
        return;
    };
    let id = format!("fw-test-{}", std::process::id());
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = key.verifying_key();

    // The stand-in ingest: Mosquitto's own subscriber, printing each payload as hex.
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", &host, "-p", &port.to_string(), "-q", "1", "-F", "%x"])
        .args(["-t", &format!("prov/v1/dev/{id}/ev")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub (Debian package mosquitto-clients)");
    let (tx, events) = mpsc::channel();
    let out = sub.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(unhex(line.trim())).is_err() {
                break;
            }
        }
    });
    // Let the subscription settle; the board re-sends anything unacknowledged anyway.
    std::thread::sleep(Duration::from_millis(300));

    let config = BoardConfig {
        device: DeviceId::new(&id).expect("id"),
        mqtt_password: "anonymous-broker-ignores-it",
        mqtt: MqttConfig::default(),
        layout: Layout {
            journal: Region::new(0..8192),
            queue: Region::new(8192..FLASH as u32),
        },
        resend_after_ms: 2_000,
    };
    let flash = Box::leak(Box::new(RamFlash::<FLASH>::new()));
    let mut board = Board::new(
        config,
        StaticKey::new(key),
        Bench,
        Station::new(StationConfig::default()),
        flash,
    )
    .expect("board");
    for n in 0..5 {
        let cell =
            Epc::parse(&format!("urn:epc:id:sgtin:4012345.012345.{}", 700 + n)).expect("epc");
        board
            .policy_mut()
            .command(StationCommand::Measure {
                items: [cell].into_iter().collect(),
            })
            .expect("command");
        board.poll(1_763_712_000_000).expect("poll");
    }

    let start = Instant::now();
    let now = || 1_763_712_000_000 + start.elapsed().as_millis() as u64;
    let mut socket: Option<TcpStream> = None;
    let mut seen = std::collections::BTreeSet::new();
    let mut acked_sent = false;
    while start.elapsed() < Duration::from_secs(20) {
        let t = now();
        board.poll(t).expect("poll");
        if socket.is_none() && board.net_wants_connection(t) {
            let s = TcpStream::connect((host.as_str(), port)).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            socket = Some(s);
            board.net_connected(t);
        }
        if let Some(s) = socket.as_mut() {
            let out = board.net_transmit().to_vec();
            if !out.is_empty() {
                s.write_all(&out).expect("write");
                board.net_transmitted(out.len(), t).expect("transmitted");
            }
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(0) => panic!("broker closed the connection"),
                Ok(n) => {
                    let mut at = 0;
                    while at < n {
                        at += board.net_receive(&buf[at..n], t).expect("receive");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        while let Ok(bytes) = events.try_recv() {
            let event = SignedEvent::parse(&bytes)
                .expect("COSE_Sign1")
                .verify(&public)
                .expect("signature")
                .decode()
                .expect("SPEC §3");
            seen.insert(event.event().seq);
        }
        if seen.len() == 5 && !acked_sent {
            // The ingest's ack, published by Mosquitto's own client.
            let mut ack = [0u8; 32];
            let n = AckPayload {
                seq: 5,
                tree_size: 5,
            }
            .encode(&mut ack)
            .expect("ack");
            let mut publisher = Command::new("mosquitto_pub")
                .args(["-h", &host, "-p", &port.to_string(), "-q", "1", "-s"])
                .args(["-t", &format!("prov/v1/dev/{id}/ack")])
                .stdin(Stdio::piped())
                .spawn()
                .expect("mosquitto_pub");
            publisher
                .stdin
                .take()
                .expect("stdin")
                .write_all(&ack[..n])
                .expect("ack bytes");
            assert!(publisher.wait().expect("mosquitto_pub").success());
            acked_sent = true;
        }
        if board.report().store.acked == 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = sub.kill();
    let _ = sub.wait();
    let report = board.report();
    assert_eq!(seen, (1..=5).collect(), "{report:?}");
    assert_eq!(report.state, LinkState::Ready);
    assert_eq!(report.store.acked, 5, "{report:?}");
    assert!(
        report.link.delivered >= 5,
        "PUBACKs from Mosquitto: {report:?}"
    );
}
