//! The embedded MQTT broker (rumqttd) that `provenance serve` runs when no external broker is
//! named, so one command brings the whole system up. Devices log in with their ID and the
//! `mqtt_password` they got at registration (the ledger keeps only its hash); the ingest logs
//! in with a secret made at start-up. `--mqtt-allow-anonymous` turns the check off for a closed
//! lab network.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Decides whether a CONNECT may proceed: (client ID, username, password) → allowed.
pub type Authenticate =
    Arc<dyn Fn(String, String, String) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The port is taken (on these machines, usually by Mosquitto on 1883).
    #[error(
        "{addr} is already in use (another MQTT broker, such as Mosquitto, may be running there). \
         Pass --mqtt-listen 127.0.0.1:1884 to run the embedded broker on another port, or \
         --mqtt-url mqtt://{addr} to use the broker that is there"
    )]
    PortTaken {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Another socket error.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Checks that `addr` can be listened on, so the user gets a clear message rather than a
/// broker thread dying in the background.
pub fn check_port(addr: SocketAddr) -> Result<(), BrokerError> {
    match std::net::TcpListener::bind(addr) {
        Ok(l) => {
            drop(l);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(BrokerError::PortTaken { addr }),
        Err(source) => Err(BrokerError::Listen { addr, source }),
    }
}

/// Starts the broker on `addr` in its own threads. `auth` is `None` for anonymous access.
pub fn start(addr: SocketAddr, auth: Option<Authenticate>) -> Result<(), BrokerError> {
    check_port(addr)?;
    let mut connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        // Events are at most 4 KiB; a bit more lets ingest see and reject oversized ones.
        max_payload_size: 64 * 1024,
        max_inflight_count: 1000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    if let Some(auth) = auth {
        connections.set_auth_handler(move |c, u, p| auth(c, u, p));
    }
    let mut v4 = HashMap::new();
    v4.insert(
        "v4".to_string(),
        ServerSettings {
            name: "v4".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 0,
            connections,
        },
    );
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 20_000,
            max_outgoing_packet_count: 1000,
            // What the router keeps per subscription filter ahead of its slowest reader:
            // 4 × 64 MiB. Bounded memory; a reader further behind loses messages, which
            // devices re-send. Smaller (4 × 8 MiB) made a burst of 100 devices overrun it,
            // and the re-sends cost more CPU than the memory saved.
            max_segment_size: 64 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(v4),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .map_err(|source| BrokerError::Listen { addr, source })?;
    Ok(())
}
