//! The MQTT side (SPEC §5): a rumqttc client with a persistent session subscribes to the shared
//! subscription `$share/ingest/prov/v1/dev/+/ev` at QoS 1 and acknowledges each PUBLISH to the
//! broker only once the message is settled (anchored in a durable checkpoint, or rejected and
//! stored), so a crash before that makes the broker deliver it again. Acks and rejections go
//! back to devices on their `ack` and `rej` topics.

use std::sync::Arc;
use std::time::Duration;

use provenance_event::wire::{self, AckPayload, Channel, RejPayload};
use rumqttc::tokio_rustls::rustls::pki_types::CertificateDer;
use rumqttc::tokio_rustls::rustls::pki_types::pem::PemObject as _;
use rumqttc::tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::service::{Ack, Acknowledger, Ingest, Outcome, Submission};
use crate::validate::{Message, Reason};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Username and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
    /// This ingest's client ID: stable across restarts, so the broker keeps its session.
    pub client_id: String,
    /// The shared-subscription group (`ingest` in SPEC §5). Ingest processes of one deployment
    /// share a group; deployments sharing a broker need groups of their own.
    pub share_group: String,
    /// TLS to the broker (`mqtts://`), or plain TCP.
    pub tls: Option<Tls>,
}

/// Which certificates the ingest trusts for a broker reached over TLS.
#[derive(Debug, Clone)]
pub enum Tls {
    /// The operating system's root certificates.
    SystemRoots,
    /// Only this CA or self-signed certificate (PEM).
    Ca(Vec<u8>),
}

/// Trust roots for the broker's TLS that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("TLS to the MQTT broker: {0}")]
pub struct BadTls(String);

impl Tls {
    /// The rustls client configuration, or why there is none. Built by hand rather than by
    /// rumqttc's default, which panics on an unreadable system certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, BadTls> {
        let mut roots = RootCertStore::empty();
        match self {
            Tls::SystemRoots => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(BadTls(
                        "no usable root certificate in the system's store; pass --mqtt-cacert \
                         FILE with the broker's certificate or its CA's"
                            .into(),
                    ));
                }
            }
            Tls::Ca(pem) => {
                let certs = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| BadTls(format!("--mqtt-cacert is not PEM: {e}")))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(BadTls(
                        "--mqtt-cacert holds no usable certificate (expected \
                         \"-----BEGIN CERTIFICATE-----\")"
                            .into(),
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BadTls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl Broker {
    /// The subscription: `$share/{group}/prov/v1/dev/+/ev`.
    pub fn subscription(&self) -> String {
        format!("$share/{}/prov/v1/dev/+/ev", self.share_group)
    }
}

/// A broker URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}; write it like mqtt://host:1883 or mqtt://user:password@host:1883")]
pub struct BadUrl(String);

impl Broker {
    /// Parses `mqtt://[user:password@]host[:port]` (`tcp://` is accepted too).
    pub fn from_url(url: &str, client_id: &str) -> Result<Self, BadUrl> {
        let (rest, tls) = if let Some(r) = url
            .strip_prefix("mqtts://")
            .or_else(|| url.strip_prefix("ssl://"))
        {
            (r, true)
        } else {
            let r = url
                .strip_prefix("mqtt://")
                .or_else(|| url.strip_prefix("tcp://"))
                .ok_or_else(|| {
                    BadUrl(format!(
                        "{:?} does not start with mqtt:// (or mqtts:// for TLS)",
                        provenance_ledger::store::redact(url)
                    ))
                })?;
            (r, false)
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((cred, hp)) => {
                let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
                (Some((u.to_string(), p.to_string())), hp)
            }
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| BadUrl(format!("port {p:?} is not a number")))?,
            ),
            None => (hostport.to_string(), if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            return Err(BadUrl(format!(
                "{:?} has no host",
                provenance_ledger::store::redact(url)
            )));
        }
        Ok(Self {
            host,
            port,
            credentials,
            client_id: client_id.to_string(),
            share_group: "ingest".to_string(),
            tls: tls.then_some(Tls::SystemRoots),
        })
    }
}

/// Sends acks and rejections to devices through the ingest's MQTT client.
pub struct MqttAcks {
    client: AsyncClient,
}

impl Acknowledger for MqttAcks {
    fn ack(&self, device: &str, ack: Ack) {
        let mut buf = [0u8; 32];
        let payload = AckPayload {
            seq: ack.seq,
            tree_size: ack.tree_size,
        };
        if let Ok(n) = payload.encode(&mut buf) {
            let topic = wire::topic(device, Channel::Ack);
            if let Err(e) =
                self.client
                    .try_publish(topic.as_str(), QoS::AtLeastOnce, false, buf[..n].to_vec())
            {
                // The device re-sends what stays unacknowledged; the next ack covers it.
                tracing::warn!(device, error = %e, "ack not sent");
            }
        }
    }

    fn reject(&self, device: &str, seq: Option<u64>, reason: Reason) {
        let mut buf = [0u8; 64];
        let payload = RejPayload {
            seq,
            reason: reason.as_str(),
        };
        if let Ok(n) = payload.encode(&mut buf) {
            let topic = wire::topic(device, Channel::Rej);
            if let Err(e) =
                self.client
                    .try_publish(topic.as_str(), QoS::AtLeastOnce, false, buf[..n].to_vec())
            {
                tracing::warn!(device, error = %e, "rejection notice not sent");
            }
        }
    }
}

/// The client and its acknowledger; [`run`] drives it.
pub struct Connection {
    client: AsyncClient,
    eventloop: rumqttc::EventLoop,
    subscription: String,
}

impl Connection {
    /// Sets up the client (it connects when [`run`] first polls) with `tls`, the broker's
    /// TLS configuration if it is reached over TLS ([`Tls::client_config`], built once).
    pub fn new(broker: &Broker, tls: Option<Arc<ClientConfig>>) -> Self {
        let mut opts = MqttOptions::new(&broker.client_id, &broker.host, broker.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(false);
        opts.set_manual_acks(true);
        opts.set_inflight(1000);
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        if let Some((u, p)) = &broker.credentials {
            opts.set_credentials(u, p);
        }
        if let Some(config) = tls {
            opts.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(
                config,
            )));
        }
        let (client, eventloop) = AsyncClient::new(opts, 10_000);
        Self {
            client,
            eventloop,
            subscription: broker.subscription(),
        }
    }

    /// The acknowledger that answers devices over this connection.
    pub fn acknowledger(&self) -> Arc<MqttAcks> {
        Arc::new(MqttAcks {
            client: self.client.clone(),
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Receives events and feeds them to `ingest` until `shutdown` resolves, reconnecting with
/// back-off. While the ingest queue is full this stops reading, which pushes back on the broker.
///
/// `ready` is told once the subscription is in place (or the broker kept it): from then on no
/// device event is missed.
pub async fn run(
    mut conn: Connection,
    ingest: Ingest,
    shutdown: impl std::future::Future<Output = ()>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    tokio::pin!(shutdown);
    let mut ready = ready;
    let mut backoff = Duration::from_millis(100);
    // The first connection of each of the ingest's (by default 48) connections is start-up,
    // which `serve` reports in one line once all are subscribed; a reconnection is news.
    let mut connected_before = false;
    loop {
        let event = tokio::select! {
            () = &mut shutdown => break,
            e = conn.eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(100);
                if connected_before {
                    tracing::info!(
                        session_present = ack.session_present,
                        "reconnected to the MQTT broker"
                    );
                } else {
                    tracing::debug!(
                        session_present = ack.session_present,
                        "connected to the MQTT broker"
                    );
                }
                connected_before = true;
                // Subscribe even when the broker says it kept the session: Mosquitto restores
                // a persistent session after a restart without its shared subscriptions, and
                // subscribing again to the same filter changes nothing where it did keep them.
                if let Err(e) = conn
                    .client
                    .subscribe(conn.subscription.as_str(), QoS::AtLeastOnce)
                    .await
                {
                    tracing::error!(error = %e, "subscribing");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                tracing::debug!(subscription = %conn.subscription, "subscribed");
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let client = conn.client.clone();
                let publish = p.clone();
                let submission = Submission {
                    message: Message {
                        topic: Some(p.topic.clone()),
                        bytes: p.payload.to_vec(),
                        received_ms: now_ms(),
                    },
                    reply: None,
                    settled: Some(Box::new(move |o: &Outcome| {
                        // Unsettled (ledger down): no PUBACK, so the broker delivers it again.
                        if !matches!(o, Outcome::Unavailable(_)) {
                            if let Err(e) = client.try_ack(&publish) {
                                tracing::warn!(error = %e, "PUBACK not sent");
                            }
                        }
                    })),
                };
                if ingest.enqueue(submission).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "MQTT connection lost");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    let _ = conn.client.disconnect().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let b = Broker::from_url("mqtt://127.0.0.1:1883", "i").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.credentials),
            ("127.0.0.1", 1883, None)
        );
        let b = Broker::from_url("mqtt://ingest:pw@broker.local", "i").unwrap();
        assert_eq!(b.port, 1883);
        assert_eq!(b.credentials, Some(("ingest".into(), "pw".into())));
        assert!(Broker::from_url("http://x", "i").is_err());
        assert!(Broker::from_url("mqtt://x:notaport", "i").is_err());
        assert!(b.tls.is_none());
        let b = Broker::from_url("mqtts://broker.local", "i").unwrap();
        assert_eq!(b.port, 8883, "the IANA port for MQTT over TLS");
        assert!(matches!(b.tls, Some(Tls::SystemRoots)));
    }
}
