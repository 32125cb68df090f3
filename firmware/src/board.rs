//! The board: a policy deciding what to record, sensors, the key, the flash store and the
//! MQTT session, driven by one [`Board::poll`] call at a time and fed network bytes by its
//! caller. It owns no thread, timer or socket: time comes in as `now_ms`, bytes come in
//! through [`Board::net_receive`] and go out through [`Board::net_transmit`]. That is what
//! lets the host simulator run a thousand of them on two cores, and a microcontroller run
//! one from its main loop (see [`crate::net`] for a blocking adapter).

use embedded_storage::nor_flash::NorFlash;
use provenance_event::{DeviceId, Draft, EncodeError, Kind, Location, MAX_MESSAGE, sign_event};

use crate::flash::FlashError;
use crate::keys::KeyStore;
use crate::mqtt::{LinkState, LinkStats, MqttConfig, PasswordTooLong, Session, SessionEvent};
use crate::policy::{EventIntent, Policy, Sample, Wants};
use crate::sensors::Sensors;
use crate::store::{Layout, Store, StoreError, StoreStatus};

/// Events one poll signs at most (the rest wait for the next poll).
pub const MAX_EVENTS_PER_POLL: usize = 8;
/// Room kept for the COSE_Sign1 envelope around a payload: protected header with a 64-byte
/// kid (at most 112 bytes), array, bstr heads and the 64-byte signature.
const ENVELOPE_MAX: usize = 200;

/// How a board is set up.
#[derive(Debug, Clone)]
pub struct BoardConfig<'a> {
    /// The device ID (also the MQTT user name).
    pub device: DeviceId,
    /// The `mqtt_password` from registration.
    pub mqtt_password: &'a str,
    /// MQTT timing.
    pub mqtt: MqttConfig,
    /// Where the journal and the queue are on the flash.
    pub layout: Layout,
    /// Re-send every unacknowledged event if the ingest has acknowledged nothing for this
    /// long while events are outstanding (a broker that lost a message, an ingest restart).
    pub resend_after_ms: u64,
}

/// Why the board could not do something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    /// The flash store failed (on the simulator: power was cut). Nothing acknowledged is
    /// lost; polling again reloads the store from flash.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The flash layout does not fit the flash.
    #[error(transparent)]
    Flash(#[from] FlashError),
    /// The key store did not lend the key.
    #[error("device key unavailable")]
    Key,
    /// The MQTT password is too long.
    #[error(transparent)]
    Password(#[from] PasswordTooLong),
}

/// What the board did since it started: for status LEDs, logs and the simulator's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Events signed and stored in flash.
    pub signed: u64,
    /// Intents refused before a seq was spent on them (they broke a rule of SPEC §3, or
    /// would not fit 4 KiB): a firmware or command bug, never an event loss.
    pub invalid: u64,
    /// Signing failed after the seq was reserved (counted as dropped by the store).
    pub sign_failures: u64,
    /// Times everything unacknowledged was sent again for lack of an ack.
    pub resends: u64,
    /// Stored events that read back damaged and were skipped.
    pub unreadable: u64,
    /// The tree size in the newest ack.
    pub tree_size: u64,
    /// Events signed, by kind: `by_kind[kind.code() - 1]`.
    pub by_kind: [u32; 15],
}

impl Counters {
    /// Events of `kind` signed.
    pub fn signed_of(&self, kind: Kind) -> u32 {
        self.by_kind[usize::from(kind.code()) - 1]
    }
}

/// Everything the board can report at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Board counters.
    pub counters: Counters,
    /// The flash store: last seq, acked seq, dropped.
    pub store: StoreStatus,
    /// The MQTT session: connects, publishes, PUBACKs, acks, rejections.
    pub link: LinkStats,
    /// Where the MQTT session is.
    pub state: LinkState,
    /// Sensor reads that failed.
    pub sensor_errors: u64,
}

/// A board: flash `F`, key store `K`, sensors `S`, policy `P` (a [`crate::Station`] or a
/// [`crate::Tracker`]).
///
/// # Driving it
///
/// ```
/// # use provenance_firmware::*;
/// # use provenance_firmware::sim::RamFlash;
/// # use provenance_event::{DeviceId, Epc};
/// # struct NoSensors;
/// # impl Sensors for NoSensors { fn sample(&mut self, _: u64) -> Sample { Sample::default() } }
/// let config = BoardConfig {
///     device: DeviceId::new("station-1").unwrap(),
///     mqtt_password: "from-registration",
///     mqtt: MqttConfig::default(),
///     layout: Layout { journal: Region::new(0..8192), queue: Region::new(8192..65536) },
///     resend_after_ms: 60_000,
/// };
/// let key = StaticKey::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
/// let mut board = Board::new(
///     config, key, NoSensors, Station::new(StationConfig::default()), RamFlash::<65536>::new(),
/// ).unwrap();
/// let cell = Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").unwrap();
/// board.policy_mut().command(StationCommand::Commission { master: None, items: [cell].into_iter().collect() }).unwrap();
///
/// let now = 1_763_712_000_000; // the board's clock, Unix ms
/// board.poll(now).unwrap();    // signs the event and stores it in flash
/// assert_eq!(board.report().store.last_seq, 1);
/// if board.net_wants_connection(now) {
///     // open TCP to the broker, then:
///     board.net_connected(now);
/// }
/// let out = board.net_transmit();   // CONNECT: write these bytes to the socket …
/// let n = out.len();
/// board.net_transmitted(n, now).unwrap(); // … and say how many went
/// // bytes from the socket: board.net_receive(&bytes, now)?; on close: board.net_disconnected(now)
/// ```
pub struct Board<F, K, S, P> {
    device: DeviceId,
    keys: K,
    sensors: S,
    policy: P,
    store: Store<F>,
    session: Session,
    resend_after_ms: u64,
    /// The one event in flight: signed here, then copied into flash.
    message: [u8; MAX_MESSAGE],
    /// Events up to this seq were published on the current connection.
    sent_upto: u64,
    /// Since when events are outstanding without ack progress.
    ack_wait_since: Option<u64>,
    last_sample: Sample,
    counters: Counters,
}

impl<F: NorFlash, K: KeyStore, S: Sensors, P: Policy> Board<F, K, S, P> {
    /// Boots: opens the store (recovering from any power cut) and prepares the session.
    pub fn new(
        config: BoardConfig<'_>,
        keys: K,
        sensors: S,
        policy: P,
        flash: F,
    ) -> Result<Self, BoardError> {
        let store = Store::open(flash, config.layout)?;
        let session = Session::new(&config.device, config.mqtt_password, config.mqtt)?;
        let mut policy = policy;
        policy.restore(store.policy_state());
        Ok(Self {
            device: config.device,
            keys,
            sensors,
            policy,
            store,
            session,
            resend_after_ms: config.resend_after_ms,
            message: [0; MAX_MESSAGE],
            sent_upto: 0,
            ack_wait_since: None,
            last_sample: Sample::default(),
            counters: Counters::default(),
        })
    }

    /// Does everything due at `now_ms` (the board's clock, Unix ms, never going back):
    /// services the sensors, samples them when the policy asks, signs and stores what the
    /// policy decides, runs the MQTT timers and publishes what is unsent. Returns the number
    /// of events signed.
    ///
    /// An error is a flash failure (or the simulator's power cut); the board stays usable,
    /// and a simulated reboot is [`Board::into_parts`] then [`Board::new`].
    pub fn poll(&mut self, now_ms: u64) -> Result<usize, BoardError> {
        self.sensors.service(now_ms);
        let mut signed = 0;
        if self.policy.wants(now_ms) != Wants::Nothing {
            let mut sampled = false;
            // One sample may give several events (a seal cut in a heat wave): step until
            // the policy has nothing more to say.
            for _ in 0..MAX_EVENTS_PER_POLL {
                if !sampled && self.policy.wants(now_ms) == Wants::SampleThenStep {
                    self.last_sample = self.sensors.sample(now_ms);
                    sampled = true;
                }
                let Some(intent) = self.policy.step(now_ms, &self.last_sample) else {
                    break;
                };
                if self.record(&intent, now_ms)? {
                    signed += 1;
                }
            }
        }
        if let Some(event) = self.session.handle_timeout(now_ms) {
            self.on_session_event(event, now_ms)?;
        }
        self.resend_if_stale(now_ms);
        self.publish(now_ms)?;
        Ok(signed)
    }

    /// Signs `intent` as the next event and stores it. `Ok(false)`: the intent was invalid.
    fn record(&mut self, intent: &EventIntent, now_ms: u64) -> Result<bool, BoardError> {
        let location = (intent.position.is_some() || intent.place.is_some()).then(|| Location {
            lat_lon: intent.position.map(|p| (p.lat_e7, p.lon_e7)),
            sgln: intent.place.clone(),
        });
        // The largest seq and dropped SPEC §3 allows: as long encoded as any the store hands out.
        let mut draft = Draft::new(
            provenance_event::SEQ_LIMIT - 1,
            [0xFF; 32],
            now_ms as i64,
            intent.kind,
            &intent.items,
        );
        draft.parent = intent.parent.as_ref();
        draft.location = location.as_ref();
        draft.readings = intent.readings;
        draft.party = intent.party.as_ref();
        draft.doc = intent.doc.as_deref();
        draft.master = intent.master.as_ref();
        draft.dropped = Some(provenance_event::SEQ_LIMIT - 2);
        // Check the draft against SPEC §3 at its largest (longest seq and dropped) before a
        // seq is spent on it: a bad intent must not leave a gap in the chain.
        match draft.encode(&mut self.message) {
            Ok(n) if n + ENVELOPE_MAX <= MAX_MESSAGE => {}
            _ => {
                self.counters.invalid += 1;
                return Ok(false);
            }
        }
        let reservation = self.store.reserve_with(self.policy.saved_state())?;
        draft.seq = reservation.seq;
        draft.prev = reservation.prev;
        draft.dropped = reservation.dropped;
        let (device, message) = (&self.device, &mut self.message);
        let signed = self
            .keys
            .with_key(|key| sign_event(key, device, &draft, message))
            .map_err(|_| BoardError::Key)?;
        let len = match signed {
            Ok(len) => len,
            Err(EncodeError::BufferTooSmall | EncodeError::Invalid(_)) => {
                // The store counts the abandoned reservation as dropped at the next one.
                self.counters.sign_failures += 1;
                return Ok(false);
            }
        };
        self.store.commit(&reservation, &self.message[..len])?;
        self.counters.signed += 1;
        self.counters.by_kind[usize::from(intent.kind.code()) - 1] += 1;
        Ok(true)
    }

    fn resend_if_stale(&mut self, now_ms: u64) {
        let acked = self.store.status().acked;
        if self.sent_upto <= acked {
            self.ack_wait_since = None;
            return;
        }
        match self.ack_wait_since {
            None => self.ack_wait_since = Some(now_ms),
            Some(since) if now_ms >= since + self.resend_after_ms => {
                self.sent_upto = acked;
                self.ack_wait_since = Some(now_ms);
                self.counters.resends += 1;
            }
            Some(_) => {}
        }
    }

    /// Publishes unsent events from flash while the session takes them.
    fn publish(&mut self, now_ms: u64) -> Result<(), BoardError> {
        while self.session.state() == LinkState::Ready {
            let Some(pending) = self.store.next_unsent(self.sent_upto)? else {
                return Ok(());
            };
            if !self.session.can_publish(pending.len()) {
                return Ok(());
            }
            let store = &mut self.store;
            let mut read = Ok(None);
            let queued = self
                .session
                .publish(pending.seq(), pending.len(), now_ms, |buf| {
                    read = store.read(&pending, buf).map(|m| m.map(|m| m.len()));
                    matches!(read, Ok(Some(_)))
                });
            match read {
                Err(e) => return Err(e.into()),
                Ok(None) => self.counters.unreadable += 1,
                Ok(Some(_)) if !queued => return Ok(()),
                Ok(Some(_)) => {}
            }
            self.sent_upto = pending.seq();
            self.ack_wait_since.get_or_insert(now_ms);
        }
        Ok(())
    }

    fn on_session_event(&mut self, event: SessionEvent, now_ms: u64) -> Result<(), BoardError> {
        match event {
            SessionEvent::Connected => {
                // A clean session: whatever was sent before may be lost; send it all again.
                self.sent_upto = self.store.status().acked;
                self.ack_wait_since = None;
            }
            SessionEvent::Ack(ack) => {
                self.counters.tree_size = self.counters.tree_size.max(ack.tree_size);
                if self.store.ack(ack.seq)? {
                    self.ack_wait_since = Some(now_ms);
                }
            }
            SessionEvent::Delivered { .. }
            | SessionEvent::Rejected { .. }
            | SessionEvent::Closed(_) => {}
        }
        Ok(())
    }

    // ---------------------------------------------------------------- network, sans I/O

    /// Whether the transport to the broker should be opened now.
    pub fn net_wants_connection(&self, now_ms: u64) -> bool {
        self.session.wants_connection(now_ms)
    }

    /// The transport is open (starts the MQTT handshake).
    pub fn net_connected(&mut self, now_ms: u64) {
        self.session.connected(now_ms);
    }

    /// Opening the transport failed: try again after a back-off.
    pub fn net_connect_failed(&mut self, now_ms: u64) {
        self.session.connect_failed(now_ms);
    }

    /// The transport closed (either side).
    pub fn net_disconnected(&mut self, now_ms: u64) {
        self.session.disconnected(now_ms);
    }

    /// Whether the board wants the transport closed (a dead or refused connection); close it
    /// and call [`Board::net_disconnected`].
    pub fn net_wants_close(&self) -> bool {
        self.session.wants_close()
    }

    /// Bytes to write to the transport.
    pub fn net_transmit(&self) -> &[u8] {
        self.session.transmit()
    }

    /// `n` bytes of [`Board::net_transmit`] were written; more may be ready (publishing
    /// continues as the buffer drains).
    pub fn net_transmitted(&mut self, n: usize, now_ms: u64) -> Result<(), BoardError> {
        self.session.transmitted(n);
        self.publish(now_ms)
    }

    /// Bytes read from the transport. Returns how many were taken: fewer than given only
    /// when the send buffer is full (write it out, then offer the rest again).
    pub fn net_receive(&mut self, data: &[u8], now_ms: u64) -> Result<usize, BoardError> {
        let mut used = 0;
        loop {
            used += self.session.receive(&data[used..]);
            let mut progressed = false;
            while let Some(event) = self.session.poll_event(now_ms) {
                progressed = true;
                self.on_session_event(event, now_ms)?;
            }
            if used == data.len() || !progressed {
                break;
            }
        }
        self.publish(now_ms)?;
        Ok(used)
    }

    /// When the session next needs [`Board::poll`] for its own sake (keep-alive, timeouts,
    /// reconnect), on the board's clock.
    pub fn net_deadline(&self) -> Option<u64> {
        self.session.next_timeout()
    }

    /// When the board next has something to do by itself: a sample due, a session timer, a
    /// re-send. A scheduler running many boards may leave this one until then, or until it
    /// has bytes or a command for it. `None`: nothing is scheduled.
    pub fn next_wakeup(&self) -> Option<u64> {
        let resend = self
            .ack_wait_since
            .map(|since| since + self.resend_after_ms);
        [self.policy.next_due(), self.session.next_timeout(), resend]
            .into_iter()
            .flatten()
            .min()
    }

    // ---------------------------------------------------------------- inspection

    /// Counters and status for reports.
    pub fn report(&self) -> Report {
        Report {
            counters: self.counters,
            store: self.store.status(),
            link: self.session.stats(),
            state: self.session.state(),
            sensor_errors: self.sensors.errors(),
        }
    }

    /// The policy (to give it commands).
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The policy (to give it commands).
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    /// The sensors (the simulator feeds its chip models through them).
    pub fn sensors_mut(&mut self) -> &mut S {
        &mut self.sensors
    }

    /// The newest sample.
    pub fn last_sample(&self) -> &Sample {
        &self.last_sample
    }

    /// The flash (the simulator cuts power through it).
    pub fn flash_mut(&mut self) -> &mut F {
        self.store.flash_mut()
    }

    /// The device ID.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// Takes the board apart (power off): flash, key store, sensors, policy. A reboot is
    /// [`Board::new`] with them (the policy's state, in RAM, would be lost on real hardware;
    /// the simulator may keep it or start a fresh one).
    pub fn into_parts(self) -> (F, K, S, P) {
        (
            self.store.into_flash(),
            self.keys,
            self.sensors,
            self.policy,
        )
    }
}

#[cfg(test)]
mod tests;
