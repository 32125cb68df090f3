//! The topic gate in front of the embedded broker (SPEC §5): a device may publish only to its
//! own `prov/v1/dev/{id}/ev` and subscribe only to its own `ack` and `rej` topics. rumqttd
//! checks passwords but has no per-topic rules, so devices connect to this gate, which reads
//! the MQTT 3.1.1 packets they send, passes the allowed ones to the broker on a loopback port
//! unchanged, and closes the connection of a device that steps outside its topics. What the
//! broker sends back is copied through untouched.
//!
//! The parsing ([`next_packet`], [`connect_user`], [`check`]) is pure and never panics on
//! hostile bytes; the I/O is [`serve`] (plain TCP) and [`guard`] (one connection of any
//! stream, e.g. after a TLS handshake the caller did).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The largest packet a device may send through the gate (an event is at most 4 KiB; the
/// broker refuses more than 64 KiB of payload anyway).
pub const MAX_PACKET: usize = 128 * 1024;

/// Client IDs and user names beginning with this are the ingest's own (its default client ID
/// is `provenance-ingest-<log key id>-<process id>`): no device may connect with one, whatever its device
/// ID, or the broker would hand it the ingest's session (MQTT: a second CONNECT with a client ID
/// takes the first one's place).
pub const RESERVED_PREFIX: &str = "provenance-ingest";

/// How long a new connection may take to send its CONNECT.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the gate closed a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Not a well-formed MQTT 3.1.1 packet stream.
    #[error("not MQTT 3.1.1: {0}")]
    Malformed(&'static str),
    /// A packet larger than [`MAX_PACKET`].
    #[error("a packet of {0} bytes, more than the gate allows")]
    TooLarge(usize),
    /// The first packet was not CONNECT, or a second CONNECT came.
    #[error("CONNECT must come first and only once")]
    Connect,
    /// CONNECT without a user name: devices log in with their device ID.
    #[error("CONNECT without a user name (devices log in with their device ID)")]
    NoUser,
    /// A client ID that is not the device's: another client's session (the ingest's, another
    /// device's) could be taken over with it.
    #[error("client ID {client_id:?} is not {user}'s: use {user} or {user}-<suffix>")]
    ClientId {
        /// The device.
        user: String,
        /// The client ID it gave.
        client_id: String,
    },
    /// A CONNECT with a Will: the broker would publish it, unchecked, when the connection
    /// drops (a forged ack to another device, say). Devices need none.
    #[error("CONNECT with a Will message; devices must connect without one")]
    Will,
    /// Nothing from the device for 1.5 × its keep-alive (or the gate's idle limit).
    #[error("no packet for {0} s (1.5 × the keep-alive the device asked for)")]
    Idle(u64),
    /// The device was revoked or its MQTT password replaced while it was connected.
    #[error("the device was revoked or its MQTT password replaced")]
    CredentialsEnded,
    /// A client ID or user name reserved for the ingest.
    #[error("client ID {0:?} is reserved for the ingest (IDs starting with provenance-ingest)")]
    Reserved(String),
    /// A QoS 0 publish: the broker keeps no flow control for it, so a device could push
    /// messages faster than the ingest settles them, and it cannot be acknowledged (SPEC §5).
    #[error("QoS 0 publish refused: devices publish events at QoS 1")]
    Qos0,
    /// A publish to another topic than the device's own `ev`.
    #[error("{user} may publish only to prov/v1/dev/{user}/ev, not {topic}")]
    Publish {
        /// The device.
        user: String,
        /// The topic it tried.
        topic: String,
    },
    /// A subscription to another filter than the device's own `ack` and `rej`.
    #[error("{user} may subscribe only to prov/v1/dev/{user}/ack and …/rej, not {filter}")]
    Subscribe {
        /// The device.
        user: String,
        /// The filter it tried.
        filter: String,
    },
}

/// The length of the first complete packet in `buf`, or `None` if more bytes are needed.
pub fn next_packet(buf: &[u8]) -> Result<Option<usize>, Violation> {
    let mut remaining: usize = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let total = 2 + i + remaining;
            if total > MAX_PACKET {
                return Err(Violation::TooLarge(total));
            }
            return Ok((buf.len() >= total).then_some(total));
        }
    }
    Err(Violation::Malformed("remaining length longer than 4 bytes"))
}

/// Where a packet's variable header starts (after the fixed header).
fn body(packet: &[u8]) -> &[u8] {
    let mut i = 1;
    while packet.get(i).is_some_and(|b| b & 0x80 != 0) {
        i += 1;
    }
    packet.get(i + 1..).unwrap_or_default()
}

fn string(b: &[u8]) -> Result<(&str, &[u8]), Violation> {
    let n = usize::from(u16::from_be_bytes([
        *b.first().ok_or(Violation::Malformed("short string"))?,
        *b.get(1).ok_or(Violation::Malformed("short string"))?,
    ]));
    let s = b
        .get(2..2 + n)
        .ok_or(Violation::Malformed("short string"))?;
    let s = std::str::from_utf8(s).map_err(|_| Violation::Malformed("string not UTF-8"))?;
    Ok((s, &b[2 + n..]))
}

/// The user name of a CONNECT packet (MQTT 3.1 or 3.1.1), once the packet is one a device may
/// send: no Will, and a client ID that is the user name or starts with `{user}-`.
pub fn connect_user(packet: &[u8]) -> Result<String, Violation> {
    if packet.first().map(|b| b >> 4) != Some(1) {
        return Err(Violation::Connect);
    }
    let (protocol, rest) = string(body(packet))?;
    let level = *rest
        .first()
        .ok_or(Violation::Malformed("no protocol level"))?;
    if !matches!((protocol, level), ("MQTT", 4) | ("MQIsdp", 3)) {
        return Err(Violation::Malformed("only MQTT 3.1.1 (and 3.1)"));
    }
    let flags = *rest
        .get(1)
        .ok_or(Violation::Malformed("no connect flags"))?;
    // Level, flags and keep-alive precede the payload.
    let payload = rest.get(4..).ok_or(Violation::Malformed("short CONNECT"))?;
    let (client_id, p) = string(payload)?;
    if flags & 0x04 != 0 {
        return Err(Violation::Will);
    }
    if flags & 0x80 == 0 {
        return Err(Violation::NoUser);
    }
    let user = string(p)?.0;
    let own = client_id
        .strip_prefix(user)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'));
    if !own {
        return Err(Violation::ClientId {
            user: user.to_string(),
            client_id: client_id.to_string(),
        });
    }
    // A client ID starts with its user name, so a reserved one needs a reserved user name.
    if user.starts_with(RESERVED_PREFIX) {
        return Err(Violation::Reserved(client_id.to_string()));
    }
    Ok(user.to_string())
}

/// Whether `user` may send this packet (after CONNECT).
pub fn check(packet: &[u8], user: &str) -> Result<(), Violation> {
    let kind = packet.first().map_or(0, |b| b >> 4);
    match kind {
        1 => Err(Violation::Connect),
        3 => {
            if packet.first().is_some_and(|b| (b >> 1) & 0b11 == 0) {
                return Err(Violation::Qos0);
            }
            let (topic, _) = string(body(packet))?;
            if topic == format!("prov/v1/dev/{user}/ev") {
                Ok(())
            } else {
                Err(Violation::Publish {
                    user: user.to_string(),
                    topic: topic.to_string(),
                })
            }
        }
        8 => {
            let mut p = body(packet)
                .get(2..)
                .ok_or(Violation::Malformed("short SUBSCRIBE"))?;
            let own = [
                format!("prov/v1/dev/{user}/ack"),
                format!("prov/v1/dev/{user}/rej"),
            ];
            if p.is_empty() {
                return Err(Violation::Malformed("SUBSCRIBE without a filter"));
            }
            while !p.is_empty() {
                let (filter, rest) = string(p)?;
                if !own.iter().any(|o| o == filter) {
                    return Err(Violation::Subscribe {
                        user: user.to_string(),
                        filter: filter.to_string(),
                    });
                }
                p = rest.get(1..).ok_or(Violation::Malformed("no QoS byte"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// How many connections the gate holds, and for how long an idle one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections at once, all addresses together.
    pub max_connections: usize,
    /// Connections from one address that have not yet sent their CONNECT. Only these are
    /// capped per address: a fleet behind one NAT address is many devices, but a device that
    /// has not said who it is yet is nobody in particular.
    pub max_unidentified_per_ip: usize,
    /// A connection that sends no packet for this long after a CONNECT with keep-alive 0 is
    /// closed (with keep-alive k, after 1.5 × k, as MQTT 3.1.1 §3.1.2.10 says).
    pub max_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            // A fleet behind one address reconnecting at once (after a broker restart) sends
            // its CONNECTs within milliseconds, so few are unidentified at any moment; 256
            // leaves room for that burst and still stops one address from holding thousands
            // of silent sockets.
            max_unidentified_per_ip: 256,
            max_idle: Duration::from_secs(15 * 60),
        }
    }
}

/// The gate: the broker's address and the connections held, shared by every listener that
/// feeds it (plain TCP, TLS).
#[derive(Debug)]
pub struct Gate {
    upstream: SocketAddr,
    limits: Limits,
    open: AtomicUsize,
    unidentified: Mutex<HashMap<IpAddr, usize>>,
    /// The live sessions of each device, to close them when its credentials end.
    sessions: Mutex<HashMap<String, Vec<Session>>>,
    next_session: AtomicUsize,
}

/// A device's live session: its number and what closes it.
type Session = (u64, Arc<tokio::sync::Notify>);

/// One admitted connection; leaving frees its place.
struct Ticket {
    gate: Arc<Gate>,
    ip: IpAddr,
    unidentified: bool,
}

impl Ticket {
    fn identified(&mut self) {
        if std::mem::replace(&mut self.unidentified, false) {
            self.gate.release_unidentified(self.ip);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.identified();
        self.gate.open.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("provenance_mqtt_gate_connections").decrement(1.0);
    }
}

impl Gate {
    /// A gate in front of the broker at `upstream`.
    pub fn new(upstream: SocketAddr, limits: Limits) -> Arc<Self> {
        Arc::new(Gate {
            upstream,
            limits,
            open: AtomicUsize::new(0),
            unidentified: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicUsize::new(0),
        })
    }

    /// Closes every connection of `device` at once: its key was revoked or its MQTT password
    /// replaced, so what it is connected with no longer admits it (the broker refuses its
    /// next login).
    pub fn disconnect(&self, device: &str) -> usize {
        let sessions = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut s| s.remove(device))
            .unwrap_or_default();
        for (_, kick) in &sessions {
            kick.notify_one();
        }
        if !sessions.is_empty() {
            tracing::info!(
                device,
                sessions = sessions.len(),
                "closed the device's MQTT sessions"
            );
        }
        sessions.len()
    }

    fn enter(&self, device: &str) -> (u64, Arc<tokio::sync::Notify>) {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed) as u64;
        let kick = Arc::new(tokio::sync::Notify::new());
        if let Ok(mut s) = self.sessions.lock() {
            s.entry(device.to_string())
                .or_default()
                .push((id, kick.clone()));
        }
        (id, kick)
    }

    fn leave(&self, device: &str, id: u64) {
        if let Ok(mut s) = self.sessions.lock() {
            if let Some(list) = s.get_mut(device) {
                list.retain(|(i, _)| *i != id);
                if list.is_empty() {
                    s.remove(device);
                }
            }
        }
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, &'static str> {
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.limits.max_connections {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err("connections");
        }
        let Ok(mut per_ip) = self.unidentified.lock() else {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err("state");
        };
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.limits.max_unidentified_per_ip {
            drop(per_ip);
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err("per_address");
        }
        *n += 1;
        metrics::gauge!("provenance_mqtt_gate_connections").increment(1.0);
        Ok(Ticket {
            gate: self.clone(),
            ip,
            unidentified: true,
        })
    }

    fn release_unidentified(&self, ip: IpAddr) {
        if let Ok(mut per_ip) = self.unidentified.lock() {
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }

    /// Accepts devices on `listener` and relays them to the broker, forever.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((client, peer)) => {
                    let _ = client.set_nodelay(true);
                    tokio::spawn(self.clone().guard(client, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT gate: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Relays one device connection to the broker until either side closes, and closes it
    /// (with a warning in the log and a metric) when the device steps outside its topics, is
    /// idle too long, or the gate is full.
    pub async fn guard<S>(self: Arc<Self>, client: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ticket = match self.admit(peer.ip()) {
            Ok(t) => t,
            Err(reason) => {
                // Dropping the stream closes it: the cheapest answer to a flood.
                metrics::counter!("provenance_mqtt_gate_refused_total", "limit" => reason)
                    .increment(1);
                tracing::debug!(%peer, limit = reason, "MQTT gate full; connection refused");
                return;
            }
        };
        if let Err(v) = relay(client, &self, ticket).await {
            metrics::counter!("provenance_mqtt_gate_closed_total").increment(1);
            tracing::warn!(%peer, reason = %v, "MQTT gate closed a connection");
        }
    }
}

/// The keep-alive of a CONNECT packet, in seconds (0: none asked).
fn keep_alive(connect: &[u8]) -> u16 {
    let Ok((_, rest)) = string(body(connect)) else {
        return 0;
    };
    match (rest.get(2), rest.get(3)) {
        (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

async fn relay<S>(mut client: S, gate: &Gate, mut ticket: Ticket) -> Result<(), Violation>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // The first packet, CONNECT, says who this is; a client that does not send it in time
    // holds nothing here for longer.
    let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            if let Some(n) = next_packet(&buf)? {
                return Ok(Some(n));
            }
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => return Ok(None),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let first = match first {
        Ok(Ok(Some(n))) => n,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(v)) => return Err(v),
        Err(_) => return Err(Violation::Malformed("no CONNECT within 10 s")),
    };
    let user = connect_user(&buf[..first])?;
    ticket.identified();
    let max_idle = gate.limits.max_idle;
    let idle = match keep_alive(&buf[..first]) {
        0 => max_idle,
        k => Duration::from_millis(u64::from(k) * 1500).min(max_idle),
    };
    let (session, kick) = gate.enter(&user);
    let result = relay_session(client, gate.upstream, &user, buf, first, chunk, idle, &kick).await;
    gate.leave(&user, session);
    result
}

/// The relay once the device has said who it is.
#[allow(clippy::too_many_arguments)]
async fn relay_session<S>(
    client: S,
    upstream: SocketAddr,
    user: &str,
    mut buf: Vec<u8>,
    first: usize,
    mut chunk: Vec<u8>,
    idle: Duration,
    kick: &tokio::sync::Notify,
) -> Result<(), Violation>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(broker) = TcpStream::connect(upstream).await else {
        return Ok(()); // the device sees a closed connection and backs off
    };
    let _ = broker.set_nodelay(true);
    let (mut from_broker, mut to_broker) = broker.into_split();
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let mut down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_broker, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    let mut at = first;
    let mut out: Vec<u8> = buf[..first].to_vec();
    // One idle timer per connection, pushed back as bytes arrive: a timer per read (as
    // `timeout` around each read would make) costs an entry in the timer wheel per packet.
    let silence = tokio::time::sleep(idle);
    tokio::pin!(silence);
    let result = loop {
        // Everything complete in the buffer is checked and forwarded in one write.
        let mut verdict = Ok(());
        while let Some(n) = next_packet(&buf[at..]).transpose() {
            match n.and_then(|n| check(&buf[at..at + n], user).map(|()| n)) {
                Ok(n) => {
                    out.extend_from_slice(&buf[at..at + n]);
                    at += n;
                }
                Err(v) => {
                    verdict = Err(v);
                    break;
                }
            }
        }
        if !out.is_empty() && to_broker.write_all(&out).await.is_err() {
            break Ok(());
        }
        out.clear();
        if verdict.is_err() {
            break verdict;
        }
        buf.drain(..at);
        at = 0;
        tokio::select! {
            read = from_client.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break Ok(()),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    silence.as_mut().reset(tokio::time::Instant::now() + idle);
                }
            },
            () = &mut silence => break Err(Violation::Idle(idle.as_secs())),
            // The broker closed its side (restarted, or dropped the session): the device must
            // see it at once and reconnect, not sit on a connection that leads nowhere.
            _ = &mut down => break Ok(()),
            () = kick.notified() => break Err(Violation::CredentialsEnded),
        }
    };
    let _ = to_broker.shutdown().await;
    down.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![kind];
        let mut n = body.len();
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            p.push(b);
            if n == 0 {
                break;
            }
        }
        p.extend_from_slice(body);
        p
    }

    fn s(x: &str) -> Vec<u8> {
        let mut v = (x.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(x.as_bytes());
        v
    }

    fn connect(user: Option<&str>) -> Vec<u8> {
        let client_id = user.map_or("client-1".to_string(), |u| format!("{u}-board"));
        connect_as(&client_id, user, false)
    }

    fn connect_as(client_id: &str, user: Option<&str>, will: bool) -> Vec<u8> {
        let mut b = s("MQTT");
        b.push(4);
        let flags = if user.is_some() { 0xC2 } else { 0x02 } | if will { 0x0C } else { 0 };
        b.push(flags);
        b.extend_from_slice(&[0, 60]);
        b.extend(s(client_id));
        if will {
            b.extend(s("prov/v1/dev/tracker-8/ack"));
            b.extend(s("forged ack"));
        }
        if let Some(u) = user {
            b.extend(s(u));
            b.extend(s("secret"));
        }
        packet(0x10, &b)
    }

    #[test]
    fn a_device_connects_as_itself_and_without_a_will() {
        for id in ["tracker-7", "tracker-7-board", "tracker-7-"] {
            assert_eq!(
                connect_user(&connect_as(id, Some("tracker-7"), false)),
                Ok("tracker-7".into()),
                "{id}"
            );
        }
        // A device registered under a name that begins like the ingest's client ID.
        for (id, user) in [
            ("provenance-ingest-abc-0", "provenance-ingest"),
            ("provenance-ingest", "provenance-ingest"),
            ("provenance-ingestor-1", "provenance-ingestor"),
        ] {
            assert!(
                matches!(
                    connect_user(&connect_as(id, Some(user), false)),
                    Err(Violation::Reserved(_))
                ),
                "{id}"
            );
        }
        // The ingest's session, another device's, or a longer ID with the same start.
        for id in [
            "provenance-ingest-abc-0",
            "tracker-8",
            "tracker-70",
            "",
            "x-tracker-7",
        ] {
            assert!(
                matches!(
                    connect_user(&connect_as(id, Some("tracker-7"), false)),
                    Err(Violation::ClientId { .. })
                ),
                "{id}"
            );
        }
        assert_eq!(
            connect_user(&connect_as("tracker-7", Some("tracker-7"), true)),
            Err(Violation::Will)
        );
    }

    fn publish(topic: &str) -> Vec<u8> {
        let mut b = s(topic);
        b.extend_from_slice(&[0, 1]);
        b.extend_from_slice(b"payload");
        packet(0x32, &b)
    }

    fn subscribe(filters: &[&str]) -> Vec<u8> {
        let mut b = vec![0, 7];
        for f in filters {
            b.extend(s(f));
            b.push(1);
        }
        packet(0x82, &b)
    }

    #[test]
    fn a_device_keeps_to_its_own_topics() {
        assert_eq!(
            connect_user(&connect(Some("tracker-7"))),
            Ok("tracker-7".into())
        );
        assert_eq!(connect_user(&connect(None)), Err(Violation::NoUser));
        assert_eq!(
            check(&publish("prov/v1/dev/tracker-7/ev"), "tracker-7"),
            Ok(())
        );
        assert!(matches!(
            check(&publish("prov/v1/dev/tracker-8/ev"), "tracker-7"),
            Err(Violation::Publish { .. })
        ));
        assert!(check(&publish("prov/v1/dev/tracker-7/ack"), "tracker-7").is_err());
        // QoS 0 on its own topic: no flow control, no acknowledgement.
        let mut qos0 = publish("prov/v1/dev/tracker-7/ev");
        qos0[0] = 0x30;
        assert_eq!(check(&qos0, "tracker-7"), Err(Violation::Qos0));
        assert_eq!(
            check(
                &subscribe(&["prov/v1/dev/tracker-7/ack", "prov/v1/dev/tracker-7/rej"]),
                "tracker-7"
            ),
            Ok(())
        );
        for bad in ["#", "prov/v1/dev/+/ev", "prov/v1/dev/tracker-8/ack"] {
            assert!(
                matches!(
                    check(&subscribe(&["prov/v1/dev/tracker-7/ack", bad]), "tracker-7"),
                    Err(Violation::Subscribe { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(check(&connect(Some("x")), "x"), Err(Violation::Connect));
        // PINGREQ, PUBACK, DISCONNECT pass.
        assert_eq!(check(&[0xC0, 0], "x"), Ok(()));
        assert_eq!(check(&[0x40, 2, 0, 1], "x"), Ok(()));
    }

    #[test]
    fn packets_are_framed_and_bounded() {
        let p = publish("prov/v1/dev/a/ev");
        assert_eq!(next_packet(&p[..3]), Ok(None));
        assert_eq!(next_packet(&p), Ok(Some(p.len())));
        let mut two = p.clone();
        two.extend_from_slice(&p);
        assert_eq!(next_packet(&two), Ok(Some(p.len())));
        assert!(matches!(
            next_packet(&[0x30, 0xff, 0xff, 0xff, 0x7f]),
            Err(Violation::TooLarge(_))
        ));
        assert!(next_packet(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = next_packet(&bytes);
            let _ = connect_user(&bytes);
            let _ = check(&bytes, "tracker-7");
        }
    }
}
