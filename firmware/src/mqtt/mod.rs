//! MQTT 3.1.1 at QoS 1, sans I/O: the device's session with the broker as a state machine
//! that consumes received bytes and produces bytes to send, in fixed buffers, with time
//! passed in. A blocking adapter for `embedded-io` streams is in [`crate::net`]; the host
//! simulator feeds it from TCP sockets.
//!
//! The session connects with user name = device ID and password = the `mqtt_password` of
//! registration (SPEC §5), with a clean session: after a reconnect the broker has forgotten
//! everything, so the session subscribes to its `ack` and `rej` topics again before it
//! publishes, and the board re-sends every event not yet acknowledged by the ingest (which
//! absorbs duplicates). A broker PUBACK only means the broker has the event; the event stays
//! in flash until the ingest's `ack` covers it.

pub(crate) mod packet;

use heapless::{String, Vec};
use provenance_event::DeviceId;
use provenance_event::wire::{AckPayload, Channel, RejPayload, TOPIC_MAX, topic};

pub use packet::PacketError;
use packet::{Incoming, Writer};

/// Bytes of the send buffer: one PUBLISH of the largest event (4096 bytes, its topic and
/// headers: 4182 bytes) with room behind it for PUBACKs and a PINGREQ.
pub const TX_BUFFER: usize = 4352;
/// Bytes of the receive buffer: the broker sends only `ack` and `rej` publishes (under 200
/// bytes) and short control packets. A longer packet closes the connection.
pub const RX_BUFFER: usize = 512;
/// Events published and not yet PUBACKed by the broker.
pub const MAX_IN_FLIGHT: usize = 4;
/// The longest MQTT password accepted.
pub const PASSWORD_MAX: usize = 96;
/// The longest rejection reason kept (SPEC §4's reason words are shorter).
pub const REASON_MAX: usize = 32;

/// Timing of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttConfig {
    /// The keep-alive interval announced in CONNECT; a PINGREQ goes out after three quarters
    /// of it without sending, and the link is declared dead if the answer takes as long.
    pub keep_alive_s: u16,
    /// How long CONNACK and SUBACK may take.
    pub connect_timeout_ms: u64,
    /// The first reconnect delay; it doubles after every failed attempt…
    pub backoff_min_ms: u64,
    /// … up to this, with ±25 % jitter so that a fleet does not reconnect in step.
    pub backoff_max_ms: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            keep_alive_s: 60,
            connect_timeout_ms: 10_000,
            backoff_min_ms: 1_000,
            backoff_max_ms: 120_000,
        }
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No transport; connect again at `retry_at` (ms).
    Offline {
        /// When to try again.
        retry_at: u64,
    },
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// SUBSCRIBE sent, waiting for SUBACK.
    Subscribing,
    /// Publishing.
    Ready,
    /// The session gave up on this connection: close the transport and report it with
    /// [`Session::disconnected`].
    Closing,
}

/// Why the session closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// CONNACK refused the connection (4: bad user name or password, 5: not authorised).
    #[error("broker refused the connection (CONNACK return code {0})")]
    Refused(u8),
    /// The broker refused a subscription (SUBACK 0x80): the ACL does not allow the topic.
    #[error("broker refused the ack/rej subscription")]
    SubscriptionRefused,
    /// CONNACK, SUBACK or PINGRESP did not come in time.
    #[error("broker did not answer in time")]
    Timeout,
    /// The broker broke the protocol, or sent a packet longer than the receive buffer.
    #[error(transparent)]
    Protocol(#[from] PacketError),
}

/// What the session tells the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Connected and subscribed: publishing may start (re-send what is unacknowledged).
    Connected,
    /// The broker has the event with this seq (PUBACK).
    Delivered {
        /// Its seq.
        seq: u64,
    },
    /// The ingest's `ack` (SPEC §5): every seq up to `ack.seq` is settled.
    Ack(AckPayload),
    /// The ingest's `rej` (SPEC §5).
    Rejected {
        /// The rejected seq, if the ingest could read it.
        seq: Option<u64>,
        /// SPEC §4's reason word.
        reason: String<REASON_MAX>,
    },
    /// The session closed the connection for this reason (the state is now `Closing`).
    Closed(LinkError),
}

/// Counters since the board started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Connections that reached `Ready`.
    pub sessions: u64,
    /// Transport connections attempted.
    pub connects: u64,
    /// PUBLISH packets sent (re-sends included).
    pub published: u64,
    /// PUBACKs received.
    pub delivered: u64,
    /// `ack` messages received.
    pub acks: u64,
    /// `rej` messages received.
    pub rejections: u64,
    /// Connections that ended (any reason).
    pub disconnects: u64,
}

/// A password longer than [`PASSWORD_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("MQTT password longer than 96 bytes")]
pub struct PasswordTooLong;

/// The device's MQTT session. About 5 KiB, almost all of it the two buffers.
pub struct Session {
    config: MqttConfig,
    client_id: DeviceId,
    password: String<PASSWORD_MAX>,
    topic_ev: String<TOPIC_MAX>,
    topic_ack: String<TOPIC_MAX>,
    topic_rej: String<TOPIC_MAX>,
    state: LinkState,
    since: u64,
    tx: [u8; TX_BUFFER],
    tx_start: usize,
    tx_end: usize,
    rx: [u8; RX_BUFFER],
    rx_len: usize,
    next_packet_id: u16,
    subscribe_id: u16,
    in_flight: Vec<(u16, u64), MAX_IN_FLIGHT>,
    last_tx: u64,
    ping_sent: Option<u64>,
    failures: u32,
    jitter: u64,
    stats: LinkStats,
}

impl Session {
    /// A session for `device`, offline, ready to connect at once.
    pub fn new(
        device: &DeviceId,
        password: &str,
        config: MqttConfig,
    ) -> Result<Self, PasswordTooLong> {
        let id = device.as_str();
        Ok(Self {
            config,
            client_id: device.clone(),
            password: String::try_from(password).map_err(|_| PasswordTooLong)?,
            topic_ev: topic(id, Channel::Events),
            topic_ack: topic(id, Channel::Ack),
            topic_rej: topic(id, Channel::Rej),
            state: LinkState::Offline { retry_at: 0 },
            since: 0,
            tx: [0; TX_BUFFER],
            tx_start: 0,
            tx_end: 0,
            rx: [0; RX_BUFFER],
            rx_len: 0,
            next_packet_id: 1,
            subscribe_id: 0,
            in_flight: Vec::new(),
            last_tx: 0,
            ping_sent: None,
            failures: 0,
            // Per-device jitter, so that a fleet started together spreads out (FNV-1a).
            jitter: id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            }),
            stats: LinkStats::default(),
        })
    }

    /// Where the session is.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Whether the transport should be opened now (then call [`Session::connected`]).
    pub fn wants_connection(&self, now_ms: u64) -> bool {
        matches!(self.state, LinkState::Offline { retry_at } if now_ms >= retry_at)
    }

    /// Whether the transport should be closed now (then call [`Session::disconnected`]).
    pub fn wants_close(&self) -> bool {
        self.state == LinkState::Closing
    }

    /// The transport is open: sends CONNECT.
    pub fn connected(&mut self, now_ms: u64) {
        self.tx_start = 0;
        self.tx_end = 0;
        self.rx_len = 0;
        self.in_flight.clear();
        self.ping_sent = None;
        self.stats.connects += 1;
        self.enter(LinkState::Connecting, now_ms);
        let (id, password, keep_alive) = (
            self.client_id.clone(),
            self.password.clone(),
            self.config.keep_alive_s,
        );
        // An empty buffer holds a CONNECT (under 300 bytes).
        let _ = self.send(now_ms, |w| {
            packet::connect(w, id.as_str(), id.as_str(), &password, keep_alive)
        });
    }

    /// The transport is closed (by either side, or failed to open): what was in flight is
    /// forgotten (the board re-sends it from flash) and a reconnect is scheduled with back-off.
    pub fn disconnected(&mut self, now_ms: u64) {
        if matches!(self.state, LinkState::Offline { .. }) {
            return;
        }
        self.stats.disconnects += 1;
        self.tx_start = 0;
        self.tx_end = 0;
        self.rx_len = 0;
        self.in_flight.clear();
        let base = self
            .config
            .backoff_min_ms
            .saturating_mul(1u64 << self.failures.min(20))
            .min(self.config.backoff_max_ms);
        self.failures = self.failures.saturating_add(1);
        let mix =
            (self.jitter ^ u64::from(self.failures)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
        let delay = base - base / 4 + mix % (base / 2 + 1);
        self.enter(
            LinkState::Offline {
                retry_at: now_ms + delay,
            },
            now_ms,
        );
    }

    /// Opening the transport failed: schedules the next attempt with back-off.
    pub fn connect_failed(&mut self, now_ms: u64) {
        self.stats.connects += 1;
        self.enter(LinkState::Closing, now_ms);
        self.disconnected(now_ms);
    }

    /// Sends DISCONNECT and asks for the transport to be closed (a clean shutdown).
    pub fn close(&mut self, now_ms: u64) {
        if matches!(
            self.state,
            LinkState::Connecting | LinkState::Subscribing | LinkState::Ready
        ) {
            let _ = self.send(now_ms, packet::disconnect);
            self.enter(LinkState::Closing, now_ms);
        }
    }

    fn enter(&mut self, state: LinkState, now_ms: u64) {
        self.state = state;
        self.since = now_ms;
    }

    /// Bytes waiting to be sent.
    pub fn transmit(&self) -> &[u8] {
        &self.tx[self.tx_start..self.tx_end]
    }

    /// `n` bytes of [`Session::transmit`] were sent.
    pub fn transmitted(&mut self, n: usize) {
        self.tx_start = (self.tx_start + n).min(self.tx_end);
        if self.tx_start == self.tx_end {
            self.tx_start = 0;
            self.tx_end = 0;
        }
    }

    fn tx_room(&self) -> usize {
        TX_BUFFER - (self.tx_end - self.tx_start)
    }

    /// Appends one packet to the send buffer.
    fn send(
        &mut self,
        now_ms: u64,
        encode: impl FnOnce(&mut Writer<'_>) -> Result<(), PacketError>,
    ) -> Result<(), PacketError> {
        if self.tx_start > 0 {
            self.tx.copy_within(self.tx_start..self.tx_end, 0);
            self.tx_end -= self.tx_start;
            self.tx_start = 0;
        }
        let mut w = Writer::new(&mut self.tx[self.tx_end..]);
        encode(&mut w)?;
        self.tx_end += w.len();
        self.last_tx = now_ms;
        Ok(())
    }

    /// Takes received bytes; returns how many fit (call [`Session::poll_event`] until `None`
    /// to make room, then offer the rest).
    pub fn receive(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(RX_BUFFER - self.rx_len);
        self.rx[self.rx_len..self.rx_len + n].copy_from_slice(&data[..n]);
        self.rx_len += n;
        n
    }

    /// The next thing that happened, from the bytes received so far.
    pub fn poll_event(&mut self, now_ms: u64) -> Option<SessionEvent> {
        if matches!(self.state, LinkState::Offline { .. } | LinkState::Closing) {
            return None;
        }
        loop {
            // Leave room for the PUBACK an incoming PUBLISH needs.
            if self.tx_room() < 16 {
                return None;
            }
            let len = match packet::packet_len(&self.rx[..self.rx_len]) {
                Ok(Some(len)) if len > RX_BUFFER => {
                    return Some(self.fail(
                        LinkError::Protocol(PacketError::Malformed(
                            "packet longer than the receive buffer",
                        )),
                        now_ms,
                    ));
                }
                Ok(Some(len)) if len <= self.rx_len => len,
                Ok(_) => return None,
                Err(e) => return Some(self.fail(e.into(), now_ms)),
            };
            let event = self.handle_packet(len, now_ms);
            self.rx.copy_within(len..self.rx_len, 0);
            self.rx_len -= len;
            match event {
                Ok(Some(e)) => return Some(e),
                Ok(None) => continue,
                Err(e) => return Some(self.fail(e, now_ms)),
            }
        }
    }

    fn fail(&mut self, e: LinkError, now_ms: u64) -> SessionEvent {
        self.enter(LinkState::Closing, now_ms);
        SessionEvent::Closed(e)
    }

    fn handle_packet(
        &mut self,
        len: usize,
        now_ms: u64,
    ) -> Result<Option<SessionEvent>, LinkError> {
        // Copy out what the packet says before answering into the send buffer.
        let incoming = packet::decode(&self.rx[..len])?;
        match (self.state, incoming) {
            (LinkState::Connecting, Incoming::ConnAck { code: 0 }) => {
                self.subscribe_id = self.packet_id();
                let (ack, rej, id) = (
                    self.topic_ack.clone(),
                    self.topic_rej.clone(),
                    self.subscribe_id,
                );
                self.send(now_ms, |w| packet::subscribe(w, id, &[&ack, &rej]))?;
                self.enter(LinkState::Subscribing, now_ms);
                Ok(None)
            }
            (LinkState::Connecting, Incoming::ConnAck { code }) => Err(LinkError::Refused(code)),
            (LinkState::Subscribing, Incoming::SubAck { packet_id, granted })
                if packet_id == self.subscribe_id =>
            {
                if granted.len() != 2 || granted.contains(&0x80) {
                    return Err(LinkError::SubscriptionRefused);
                }
                self.enter(LinkState::Ready, now_ms);
                self.failures = 0;
                self.stats.sessions += 1;
                Ok(Some(SessionEvent::Connected))
            }
            (_, Incoming::ConnAck { .. }) | (_, Incoming::SubAck { .. }) => {
                Err(PacketError::Malformed("CONNACK or SUBACK out of order").into())
            }
            (_, Incoming::PubAck { packet_id }) => {
                let Some(i) = self.in_flight.iter().position(|&(id, _)| id == packet_id) else {
                    // A PUBACK for a publish of an earlier connection: nothing to do.
                    return Ok(None);
                };
                let (_, seq) = self.in_flight.swap_remove(i);
                self.stats.delivered += 1;
                Ok(Some(SessionEvent::Delivered { seq }))
            }
            (_, Incoming::PingResp) => {
                self.ping_sent = None;
                Ok(None)
            }
            (
                _,
                Incoming::Publish {
                    topic,
                    qos,
                    packet_id,
                    payload,
                },
            ) => {
                let event = if topic == self.topic_ack.as_str() {
                    match AckPayload::decode(payload) {
                        Ok(ack) => {
                            self.stats.acks += 1;
                            Some(SessionEvent::Ack(ack))
                        }
                        Err(_) => None,
                    }
                } else if topic == self.topic_rej.as_str() {
                    match RejPayload::decode(payload) {
                        Ok(rej) => {
                            self.stats.rejections += 1;
                            let mut reason = String::new();
                            for c in rej.reason.chars() {
                                if reason.push(c).is_err() {
                                    break;
                                }
                            }
                            Some(SessionEvent::Rejected {
                                seq: rej.seq,
                                reason,
                            })
                        }
                        Err(_) => None,
                    }
                } else {
                    None
                };
                if qos > 0 {
                    if qos == 2 {
                        return Err(PacketError::Malformed(
                            "QoS 2 publish to a QoS 1 subscription",
                        )
                        .into());
                    }
                    let id = packet_id.unwrap_or(0);
                    self.send(now_ms, |w| packet::puback(w, id))?;
                }
                Ok(event)
            }
            (_, Incoming::Other) => Ok(None),
        }
    }

    fn packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        // Packet identifiers are non-zero (§2.3.1).
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Keep-alive and timeouts; call when [`Session::next_timeout`] is due (or every loop).
    pub fn handle_timeout(&mut self, now_ms: u64) -> Option<SessionEvent> {
        let keep_alive = u64::from(self.config.keep_alive_s) * 1000;
        match self.state {
            LinkState::Connecting | LinkState::Subscribing
                if now_ms >= self.since + self.config.connect_timeout_ms =>
            {
                Some(self.fail(LinkError::Timeout, now_ms))
            }
            LinkState::Ready => {
                if let Some(sent) = self.ping_sent {
                    if keep_alive > 0 && now_ms >= sent + keep_alive {
                        return Some(self.fail(LinkError::Timeout, now_ms));
                    }
                } else if keep_alive > 0
                    && now_ms >= self.last_tx + keep_alive * 3 / 4
                    && self.tx_room() >= 2
                {
                    let _ = self.send(now_ms, packet::pingreq);
                    self.ping_sent = Some(now_ms);
                }
                None
            }
            _ => None,
        }
    }

    /// When [`Session::handle_timeout`] or [`Session::wants_connection`] next has something
    /// to do.
    pub fn next_timeout(&self) -> Option<u64> {
        let keep_alive = u64::from(self.config.keep_alive_s) * 1000;
        match self.state {
            LinkState::Offline { retry_at } => Some(retry_at),
            LinkState::Connecting | LinkState::Subscribing => {
                Some(self.since + self.config.connect_timeout_ms)
            }
            LinkState::Ready if keep_alive == 0 => None,
            LinkState::Ready => Some(match self.ping_sent {
                Some(sent) => sent + keep_alive,
                None => self.last_tx + keep_alive * 3 / 4,
            }),
            LinkState::Closing => None,
        }
    }

    /// Whether an event of `len` bytes can be published now.
    pub fn can_publish(&self, len: usize) -> bool {
        self.state == LinkState::Ready
            && !self.in_flight.is_full()
            && self.tx_room() >= packet::publish_len(&self.topic_ev, len)
    }

    /// Publishes the event `seq` of `len` bytes at QoS 1 on the device's `ev` topic; `fill`
    /// writes exactly `len` bytes into the slice it is given (straight from flash) and returns
    /// whether it could. Returns whether the event was queued for sending.
    pub fn publish(
        &mut self,
        seq: u64,
        len: usize,
        now_ms: u64,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> bool {
        if !self.can_publish(len) {
            return false;
        }
        let id = self.packet_id();
        let topic = self.topic_ev.clone();
        let mut ok = false;
        let sent = self.send(now_ms, |w| {
            packet::publish_header(w, &topic, id, len)?;
            let payload = w.rest().get_mut(..len).ok_or(PacketError::BufferTooSmall)?;
            ok = fill(payload);
            w.advance(len);
            Ok(())
        });
        match sent {
            Err(_) => return false,
            Ok(()) if !ok => {
                // Take the packet back out of the buffer.
                self.tx_end -= packet::publish_len(&topic, len);
                return false;
            }
            Ok(()) => {}
        }
        // `can_publish` checked the window has room.
        let _ = self.in_flight.push((id, seq));
        self.stats.published += 1;
        true
    }

    /// Seqs published on this connection and not yet PUBACKed.
    pub fn in_flight(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_flight.iter().map(|&(_, seq)| seq)
    }
}

#[cfg(test)]
mod tests;
