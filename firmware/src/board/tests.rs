//! Boards against a fake broker and ingest that verify every event the way SPEC §4 does.

use std::collections::BTreeMap;
use std::vec::Vec;

use ed25519_dalek::{SigningKey, VerifyingKey};
use provenance_event::wire::AckPayload;
use provenance_event::{Epc, Kind, SignedEvent, message_hash};

use super::*;
use crate::flash::Region;
use crate::keys::StaticKey;
use crate::mqtt::packet::{self, Incoming, Writer};
use crate::policy::{
    MAX_ITEMS, Station, StationCommand, StationConfig, Tracker, TrackerCommand, TrackerConfig,
};
use crate::sim::RamFlash;

const FLASH: usize = 128 * 1024;
type Flash = RamFlash<FLASH>;

/// Boxed: a 128 KiB array moved through a few debug-build frames overflows a test thread.
fn new_flash() -> &'static mut Flash {
    std::boxed::Box::leak(std::boxed::Box::new(Flash::new()))
}
const T0: u64 = 1_763_712_000_000;

fn config() -> BoardConfig<'static> {
    BoardConfig {
        device: DeviceId::new("station-1").unwrap(),
        mqtt_password: "pw",
        mqtt: MqttConfig::default(),
        layout: Layout {
            journal: Region::new(0..8192),
            queue: Region::new(8192..FLASH as u32),
        },
        resend_after_ms: 60_000,
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Sensors that always read the same.
struct Fixed(Sample);

impl Sensors for Fixed {
    fn sample(&mut self, _now_ms: u64) -> Sample {
        self.0
    }
}

fn bench_sample() -> Sample {
    Sample {
        voltage_mv: Some(3_712),
        soc_permille: Some(512),
        soh_permille: Some(998),
        cycles: Some(2),
        temperature_mc: Some(23_250),
        ..Sample::default()
    }
}

type StationBoard = Board<&'static mut Flash, StaticKey, Fixed, Station>;

fn station(flash: &'static mut Flash) -> StationBoard {
    Board::new(
        config(),
        StaticKey::new(key()),
        Fixed(bench_sample()),
        Station::new(StationConfig::default()),
        flash,
    )
    .unwrap()
}

fn cell(n: u32) -> Vec<Epc> {
    std::vec![Epc::parse(&std::format!("urn:epc:id:sgtin:4012345.012345.{n}")).unwrap()]
}

fn items(v: Vec<Epc>) -> heapless::Vec<Epc, MAX_ITEMS> {
    v.into_iter().collect()
}

/// The broker and the ingest in one: answers the MQTT handshake, PUBACKs, checks every
/// event (signature, SPEC §3, chain, no equivocation) and acknowledges.
struct Ingest {
    key: VerifyingKey,
    /// seq → (hash, prev, dropped, kind)
    received: BTreeMap<u64, ([u8; 32], [u8; 32], u64, Kind)>,
    /// seq → readings and position
    details: BTreeMap<u64, (provenance_event::Readings, Option<(i32, i32)>)>,
    publishes: usize,
    acking: bool,
    to_board: Vec<u8>,
    /// Bytes of a packet the board has only partly written.
    pending_from_board: Vec<u8>,
    next_id: u16,
}

impl Ingest {
    fn new() -> Self {
        Self {
            key: key().verifying_key(),
            received: BTreeMap::new(),
            details: BTreeMap::new(),
            publishes: 0,
            acking: true,
            to_board: Vec::new(),
            pending_from_board: Vec::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, encode: impl FnOnce(&mut Writer<'_>)) {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf);
        encode(&mut w);
        let n = w.len();
        self.to_board.extend_from_slice(&buf[..n]);
    }

    fn handle(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let len = packet::packet_len(bytes).unwrap().unwrap();
            let (p, rest) = bytes.split_at(len);
            bytes = rest;
            match p[0] >> 4 {
                1 => self.send(|w| w.bytes(&[0x20, 2, 0, 0]).unwrap()),
                8 => {
                    // The packet identifier follows the remaining length (one or two bytes here).
                    let h = if p[1] & 0x80 == 0 { 2 } else { 3 };
                    let id = [p[h], p[h + 1]];
                    self.send(|w| w.bytes(&[0x90, 4, id[0], id[1], 1, 1]).unwrap());
                }
                3 => self.publish(p),
                4 | 14 => {}
                12 => self.send(|w| w.bytes(&[0xD0, 0]).unwrap()),
                t => panic!("unexpected packet type {t}"),
            }
        }
    }

    fn publish(&mut self, p: &[u8]) {
        let Incoming::Publish {
            topic,
            qos,
            packet_id,
            payload,
        } = packet::decode(p).unwrap()
        else {
            panic!()
        };
        assert_eq!((topic, qos), ("prov/v1/dev/station-1/ev", 1));
        self.publishes += 1;
        let id = packet_id.unwrap();
        self.send(|w| packet::puback(w, id).unwrap());
        let event = SignedEvent::parse(payload)
            .unwrap()
            .verify(&self.key)
            .unwrap()
            .decode()
            .unwrap();
        let e = event.event();
        let hash = message_hash(payload);
        let entry = (hash, e.prev, e.dropped.unwrap_or(0), e.kind);
        let position = e.location.as_ref().and_then(|l| l.lat_lon);
        self.details.insert(e.seq, (e.readings, position));
        if let Some(old) = self.received.insert(e.seq, entry) {
            assert_eq!(
                old.0, hash,
                "seq {} signed twice with different content",
                e.seq
            );
        }
        if self.acking {
            let ack = AckPayload {
                seq: e.seq,
                tree_size: e.seq + 100,
            };
            let topic = "prov/v1/dev/station-1/ack";
            let id = self.next_id;
            self.next_id += 1;
            let mut body = [0u8; 32];
            let n = ack.encode(&mut body).unwrap();
            self.send(|w| {
                packet::publish_header(w, topic, id, n).unwrap();
                w.bytes(&body[..n]).unwrap();
            });
        }
    }

    /// Every event's prev is the hash of the newest event before it that the ingest has;
    /// every missing seq is explained by the `dropped` fields (reported later, by the events
    /// signed after the loss) or still unreported on the board. With `exact`, nothing is
    /// over-reported either.
    fn check_chain(&self, unreported: u64, exact: bool) {
        let by_hash: BTreeMap<[u8; 32], u64> =
            self.received.iter().map(|(&s, e)| (e.0, s)).collect();
        let mut last: Option<u64> = None;
        for (&seq, &(_, prev, _, _)) in &self.received {
            if seq == 1 {
                assert_eq!(prev, [0; 32]);
            } else if let Some(&p) = by_hash.get(&prev) {
                assert_eq!(
                    Some(p),
                    last,
                    "seq {seq}: prev names seq {p}, not the newest before it"
                );
            } else {
                assert!(
                    last != Some(seq - 1),
                    "seq {seq}: prev is not the hash of seq {}",
                    seq - 1
                );
            }
            last = Some(seq);
        }
        let top = last.unwrap_or(0);
        let missing = top - self.received.len() as u64;
        let explained = self.received.values().map(|e| e.2).sum::<u64>() + unreported;
        if exact {
            assert_eq!(explained, missing);
        } else {
            assert!(
                explained >= missing,
                "{missing} missing, {explained} explained"
            );
        }
    }
}

/// Moves bytes both ways until both sides are quiet.
fn try_exchange<F: NorFlash, K: KeyStore, S: Sensors, P: Policy>(
    board: &mut Board<F, K, S, P>,
    ingest: &mut Ingest,
    now: u64,
) -> Result<(), BoardError> {
    for _ in 0..1000 {
        let out = board.net_transmit().to_vec();
        board.net_transmitted(out.len(), now)?;
        ingest.handle(&out);
        let back = core::mem::take(&mut ingest.to_board);
        if out.is_empty() && back.is_empty() {
            return Ok(());
        }
        let mut at = 0;
        while at < back.len() {
            at += board.net_receive(&back[at..], now)?;
            let out = board.net_transmit().to_vec();
            board.net_transmitted(out.len(), now)?;
            ingest.handle(&out);
        }
    }
    panic!("no quiet");
}

fn exchange<F: NorFlash, K: KeyStore, S: Sensors, P: Policy>(
    board: &mut Board<F, K, S, P>,
    ingest: &mut Ingest,
    now: u64,
) {
    try_exchange(board, ingest, now).unwrap();
}

fn connect<F: NorFlash, K: KeyStore, S: Sensors, P: Policy>(
    board: &mut Board<F, K, S, P>,
    ingest: &mut Ingest,
    now: u64,
) {
    assert!(board.net_wants_connection(now));
    board.net_connected(now);
    exchange(board, ingest, now);
    assert_eq!(board.report().state, LinkState::Ready);
}

#[test]
fn offline_events_go_out_in_order_once_connected() {
    let mut board = station(new_flash());
    let mut now = T0;
    for n in 0..10 {
        let command = if n % 2 == 0 {
            StationCommand::Commission {
                master: None,
                items: items(cell(n)),
            }
        } else {
            StationCommand::Measure {
                items: items(cell(n - 1)),
            }
        };
        board.policy_mut().command(command).unwrap();
        assert_eq!(board.poll(now).unwrap(), 1);
        now += 1_000;
    }
    assert_eq!(board.report().counters.signed, 10);
    let mut ingest = Ingest::new();
    connect(&mut board, &mut ingest, now);
    assert_eq!(ingest.received.len(), 10);
    ingest.check_chain(board.report().store.unreported, true);
    assert_eq!(ingest.received[&2].3, Kind::Measured);
    let r = board.report();
    assert_eq!((r.store.acked, r.counters.tree_size), (10, 110));
    assert_eq!(r.link.published, 10);
    // Online: an event goes out at once.
    board
        .policy_mut()
        .command(StationCommand::Commission {
            master: None,
            items: items(cell(99)),
        })
        .unwrap();
    board.poll(now).unwrap();
    exchange(&mut board, &mut ingest, now);
    assert_eq!(board.report().store.acked, 11);
    ingest.check_chain(board.report().store.unreported, true);
}

#[test]
fn unacknowledged_events_are_sent_again_after_reconnect_reboot_and_silence() {
    let mut board = station(new_flash());
    let mut ingest = Ingest::new();
    ingest.acking = false;
    let mut now = T0;
    connect(&mut board, &mut ingest, now);
    for n in 0..5 {
        board
            .policy_mut()
            .command(StationCommand::Commission {
                master: None,
                items: items(cell(n)),
            })
            .unwrap();
        board.poll(now).unwrap();
        exchange(&mut board, &mut ingest, now);
    }
    assert_eq!(ingest.publishes, 5);
    // The connection drops: everything unacknowledged goes again.
    board.net_disconnected(now);
    now += 5_000;
    connect(&mut board, &mut ingest, now);
    assert_eq!(ingest.publishes, 10);
    // Silence: after a minute without an ack, again.
    now += 61_000;
    board.poll(now).unwrap();
    exchange(&mut board, &mut ingest, now);
    assert_eq!(ingest.publishes, 15);
    assert_eq!(board.report().counters.resends, 1);
    // Power off and on: the chain goes on from flash, nothing is lost.
    let (flash, ..) = board.into_parts();
    let mut board = station(flash);
    board
        .policy_mut()
        .command(StationCommand::Commission {
            master: None,
            items: items(cell(5)),
        })
        .unwrap();
    board.poll(now).unwrap();
    assert_eq!(board.report().store.last_seq, 6);
    ingest.acking = true;
    connect(&mut board, &mut ingest, now);
    assert_eq!(ingest.received.len(), 6);
    ingest.check_chain(board.report().store.unreported, true);
    assert_eq!(board.report().store.acked, 6);
}

#[test]
fn a_full_queue_drops_the_oldest_and_says_so() {
    // 16 KiB of queue: a few dozen events.
    let mut config = config();
    config.layout.queue = Region::new(8192..8192 + 16 * 1024);
    let mut board = Board::new(
        config,
        StaticKey::new(key()),
        Fixed(bench_sample()),
        Station::new(StationConfig::default()),
        new_flash(),
    )
    .unwrap();
    for n in 0..200 {
        board
            .policy_mut()
            .command(StationCommand::Measure {
                items: items(cell(n)),
            })
            .unwrap();
        board.poll(T0 + u64::from(n)).unwrap();
    }
    let report = board.report();
    assert_eq!(report.store.last_seq, 200);
    assert!(report.store.dropped_total > 100, "{report:?}");
    let mut ingest = Ingest::new();
    connect(&mut board, &mut ingest, T0 + 1_000);
    // The newest were kept; the first one sent says how many went before it.
    assert_eq!(*ingest.received.keys().last().unwrap(), 200);
    let first = *ingest.received.keys().next().unwrap();
    assert!(first > 100);
    ingest.check_chain(board.report().store.unreported, true);
}

#[test]
fn power_cuts_while_online_never_break_the_chain() {
    let run =
        |board: &mut StationBoard, ingest: &mut Ingest, now: &mut u64| -> Result<(), BoardError> {
            for n in 0..20 {
                if board.net_wants_connection(*now) {
                    board.net_connected(*now);
                }
                let _ = board.policy_mut().command(StationCommand::Measure {
                    items: items(cell(n)),
                });
                board.poll(*now)?;
                try_exchange(board, ingest, *now)?;
                *now += 1_000;
            }
            Ok(())
        };
    let total = {
        let mut board = station(new_flash());
        run(&mut board, &mut Ingest::new(), &mut T0.clone()).unwrap();
        board.flash_mut().ops()
    };
    for cut in 0..total {
        let flash = new_flash();
        flash.cut_power_at(cut);
        let mut board = station(flash);
        let mut ingest = Ingest::new();
        let mut now = T0;
        assert!(
            run(&mut board, &mut ingest, &mut now).is_err(),
            "cut {cut} happened"
        );
        let (flash, ..) = board.into_parts();
        flash.restore_power();
        let mut board = station(flash);
        connect(&mut board, &mut ingest, now);
        for n in 100..105 {
            board
                .policy_mut()
                .command(StationCommand::Commission {
                    master: None,
                    items: items(cell(n)),
                })
                .unwrap();
            board.poll(now).unwrap();
            exchange(&mut board, &mut ingest, now);
        }
        ingest.check_chain(board.report().store.unreported, false);
        assert_eq!(
            board.report().store.acked,
            board.report().store.last_seq,
            "cut {cut}"
        );
    }
}

#[test]
fn a_tracker_journey_over_mqtt() {
    let mut config = config();
    config.device = DeviceId::new("station-1").unwrap();
    let container = items(std::vec![
        Epc::parse("urn:epc:id:sscc:4012345.1234567890").unwrap()
    ]);
    let mut sample = Sample {
        temperature_mc: Some(21_000),
        shock_mg: Some(1_000),
        seal_closed: Some(true),
        position: Some(crate::drivers::nmea::Position {
            lat_e7: 519_244_000,
            lon_e7: 44_777_000,
        }),
        ..Sample::default()
    };
    let mut board = Board::new(
        config,
        StaticKey::new(key()),
        Fixed(sample),
        Tracker::new(TrackerConfig::default(), container),
        new_flash(),
    )
    .unwrap();
    let mut ingest = Ingest::new();
    let mut now = T0;
    connect(&mut board, &mut ingest, now);
    board.policy_mut().command(TrackerCommand::Seal).unwrap();
    board.policy_mut().command(TrackerCommand::Depart).unwrap();
    for minute in 0..60 {
        if minute == 30 {
            sample.seal_closed = Some(false);
            sample.temperature_mc = Some(35_000);
            board.sensors_mut().0 = sample;
        }
        board.poll(now).unwrap();
        exchange(&mut board, &mut ingest, now);
        now += 60_000;
    }
    // The next sample is due 10 s after the last poll; the keep-alive later.
    assert_eq!(board.next_wakeup(), Some(now - 60_000 + 10_000));
    let kinds: Vec<Kind> = ingest.received.values().map(|e| e.3).collect();
    assert_eq!(
        kinds,
        [
            Kind::Sealed,
            Kind::Departed,
            Kind::Located,
            Kind::SealBroken,
            Kind::Excursion,
            Kind::Located,
            Kind::Located,
        ]
    );
    ingest.check_chain(board.report().store.unreported, true);
}

/// An NMEA GGA sentence for a position, with its checksum.
fn gga(lat_e7: i32, lon_e7: i32) -> std::string::String {
    let coord = |v: i32, degree_digits: usize, pos: char, neg: char| {
        let a = i64::from(v).abs();
        let degrees = a / 10_000_000;
        let minutes_e5 = (a % 10_000_000) * 60 / 100;
        std::format!(
            "{degrees:0w$}{:02}.{:05},{}",
            minutes_e5 / 100_000,
            minutes_e5 % 100_000,
            if v < 0 { neg } else { pos },
            w = degree_digits
        )
    };
    let body = std::format!(
        "GPGGA,101500,{},{},1,09,0.9,5.0,M,46.9,M,,",
        coord(lat_e7, 2, 'N', 'S'),
        coord(lon_e7, 3, 'E', 'W')
    );
    let sum = body.bytes().fold(0u8, |x, b| x ^ b);
    std::format!("${body}*{sum:02X}\r\n")
}

#[test]
fn real_drivers_on_simulated_chips() {
    use crate::drivers::PackHealth;
    use crate::drivers::lis3dh::{self, Lis3dh};
    use crate::drivers::max17048::Max17048;
    use crate::drivers::nmea::NmeaReader;
    use crate::drivers::seal::SealLoop;
    use crate::drivers::tmp117::{self, Tmp117};
    use crate::sensors::{StationSensors, TrackerSensors};
    use crate::sim::{NoDelay, SimBms, SimI2c, SimPin, SimUart};
    use provenance_event::Quantity;

    // A station measuring a cell on its fixture.
    let mut gauge_bus = SimI2c::new();
    gauge_bus.set_cell(3_712, 512);
    let mut fixture_bus = SimI2c::new();
    fixture_bus.set_temperature_mc(23_250);
    let sensors = StationSensors::new(
        Max17048::new(gauge_bus).unwrap(),
        Tmp117::new(fixture_bus, tmp117::ADDRESS).unwrap(),
        SimBms(PackHealth {
            soh_permille: 998,
            cycles: 2,
        }),
        NoDelay,
    );
    let mut board = Board::new(
        config(),
        StaticKey::new(key()),
        sensors,
        Station::new(StationConfig::default()),
        new_flash(),
    )
    .unwrap();
    board
        .policy_mut()
        .command(StationCommand::Measure {
            items: items(cell(1)),
        })
        .unwrap();
    board.poll(T0).unwrap();
    let mut ingest = Ingest::new();
    connect(&mut board, &mut ingest, T0);
    let (readings, _) = &ingest.details[&1];
    let got: Vec<(Quantity, i64)> = readings.iter().collect();
    assert_eq!(
        got,
        [
            (Quantity::Voltage, 3_712),
            (Quantity::StateOfCharge, 512),
            (Quantity::StateOfHealth, 998),
            (Quantity::Temperature, 23_250),
            (Quantity::ChargeCycles, 2),
        ]
    );

    // A tracker: GNSS on a UART, the seal loop on a pin, temperature and shock on I2C.
    let mut air = SimI2c::new();
    air.set_temperature_mc(18_000);
    let mut motion = SimI2c::new();
    motion.set_acceleration_mg(0, 0, 1_000);
    let sensors = TrackerSensors::new(
        Tmp117::new(air, tmp117::ADDRESS).unwrap(),
        Lis3dh::new(motion, lis3dh::ADDRESS).unwrap(),
        NmeaReader::new(SimUart::<512>::new()),
        SealLoop::new(SimPin { high: false }),
        NoDelay,
        120_000,
    );
    let container = items(std::vec![
        Epc::parse("urn:epc:id:sscc:4012345.1234567890").unwrap()
    ]);
    let mut board = Board::new(
        config(),
        StaticKey::new(key()),
        sensors,
        Tracker::new(TrackerConfig::default(), container),
        new_flash(),
    )
    .unwrap();
    let mut ingest = Ingest::new();
    let mut now = T0;
    connect(&mut board, &mut ingest, now);
    board.policy_mut().command(TrackerCommand::Seal).unwrap();
    board.policy_mut().command(TrackerCommand::Depart).unwrap();
    // North at about 1 km a minute, a GGA every 10 s.
    for step in 0..60i32 {
        let lat = 519_244_000 + step * 15_000;
        board
            .sensors_mut()
            .gnss_uart_mut()
            .uart_mut()
            .push(gga(lat, 44_777_000).as_bytes());
        if step == 40 {
            board
                .sensors_mut()
                .accelerometer_mut()
                .bus_mut()
                .set_acceleration_mg(2_400, 6_000, 1_000);
        }
        if step == 41 {
            board
                .sensors_mut()
                .accelerometer_mut()
                .bus_mut()
                .set_acceleration_mg(0, 0, 1_000);
        }
        if step == 50 {
            board.sensors_mut().seal_mut().pin_mut().high = true;
        }
        board.poll(now).unwrap();
        exchange(&mut board, &mut ingest, now);
        now += 10_000;
    }
    let kinds: Vec<Kind> = ingest.received.values().map(|e| e.3).collect();
    // Departed at step 0; 5 km north every ~33 steps (10 s each, 1.67 km a minute).
    assert_eq!(kinds[..2], [Kind::Sealed, Kind::Departed]);
    assert!(kinds.contains(&Kind::Located), "{kinds:?}");
    assert!(kinds.contains(&Kind::Excursion), "{kinds:?}");
    // The seal loop opens at step 50; debouncing takes three samples.
    assert_eq!(*kinds.last().unwrap(), Kind::SealBroken, "{kinds:?}");
    let (first_fix, last_fix) = (
        ingest.details[&2].1.unwrap(),
        ingest.details[ingest.received.keys().last().unwrap()]
            .1
            .unwrap(),
    );
    assert!((first_fix.0 - 519_244_000).abs() < 20, "{first_fix:?}");
    assert!(last_fix.0 > 520_000_000, "{last_fix:?}");
    let shock = ingest
        .details
        .values()
        .find_map(|(r, _)| r.get(Quantity::Shock).filter(|&g| g > 4_000));
    // |(2.4, 6.0, 0.996 g)| after 12 mg quantisation.
    assert_eq!(shock, Some(6_538));
    assert_eq!(board.report().counters.signed_of(Kind::SealBroken), 1);
    ingest.check_chain(0, true);
}

/// The blocking adapter over an `embedded-io` stream: partial writes, a refused first
/// connection, and a connection the broker closes.
#[test]
fn blocking_link_over_a_byte_stream() {
    use crate::net::{Connect, Link};
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Stream {
        ingest: Rc<RefCell<Ingest>>,
        closed: Rc<RefCell<bool>>,
    }
    impl embedded_io::ErrorType for Stream {
        type Error = embedded_io::ErrorKind;
    }
    impl embedded_io::Write for Stream {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            if *self.closed.borrow() {
                return Err(embedded_io::ErrorKind::ConnectionReset);
            }
            // A slow link: at most 100 bytes per write, which may end mid-packet.
            let n = buf.len().min(100);
            let mut ingest = self.ingest.borrow_mut();
            ingest.pending_from_board.extend_from_slice(&buf[..n]);
            let mut at = 0;
            while let Ok(Some(len)) = packet::packet_len(&ingest.pending_from_board[at..]) {
                if at + len > ingest.pending_from_board.len() {
                    break;
                }
                let p = ingest.pending_from_board[at..at + len].to_vec();
                ingest.handle(&p);
                at += len;
            }
            ingest.pending_from_board.drain(..at);
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    impl embedded_io::Read for Stream {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            if *self.closed.borrow() {
                return Ok(0);
            }
            let mut ingest = self.ingest.borrow_mut();
            let n = buf.len().min(ingest.to_board.len());
            buf[..n].copy_from_slice(&ingest.to_board[..n]);
            ingest.to_board.drain(..n);
            Ok(n)
        }
    }
    impl embedded_io::ReadReady for Stream {
        fn read_ready(&mut self) -> Result<bool, Self::Error> {
            Ok(*self.closed.borrow() || !self.ingest.borrow().to_board.is_empty())
        }
    }
    struct Dialer {
        ingest: Rc<RefCell<Ingest>>,
        closed: Rc<RefCell<bool>>,
        refuse: u32,
    }
    impl Connect for Dialer {
        type Connection = Stream;
        type Error = ();
        fn connect(&mut self) -> Result<Stream, ()> {
            if self.refuse > 0 {
                self.refuse -= 1;
                return Err(());
            }
            *self.closed.borrow_mut() = false;
            Ok(Stream {
                ingest: self.ingest.clone(),
                closed: self.closed.clone(),
            })
        }
    }

    let ingest = Rc::new(RefCell::new(Ingest::new()));
    let closed = Rc::new(RefCell::new(false));
    let mut link = Link::new(Dialer {
        ingest: ingest.clone(),
        closed: closed.clone(),
        refuse: 1,
    });
    let mut board = station(new_flash());
    let mut now = T0;
    for n in 0..30u32 {
        board
            .policy_mut()
            .command(StationCommand::Measure {
                items: items(cell(n)),
            })
            .unwrap();
        board.poll(now).unwrap();
        for _ in 0..20 {
            link.pump(&mut board, now).unwrap();
        }
        if n == 10 {
            // The broker goes away.
            *closed.borrow_mut() = true;
            link.pump(&mut board, now).unwrap();
            assert!(!link.is_open());
        }
        now += 2_000;
    }
    // Let the back-off expire and everything settle.
    for _ in 0..200 {
        now += 1_000;
        board.poll(now).unwrap();
        link.pump(&mut board, now).unwrap();
    }
    let report = board.report();
    assert_eq!(
        report.link.connects, 3,
        "refused, connected, reconnected: {report:?}"
    );
    assert_eq!(report.store.acked, 30);
    ingest.borrow().check_chain(0, true);
}

#[test]
fn a_tracker_rebooted_in_transit_still_reports_the_seal_cut() {
    let container = || {
        items(std::vec![
            Epc::parse("urn:epc:id:sscc:4012345.1234567890").unwrap()
        ])
    };
    let closed = Sample {
        seal_closed: Some(true),
        temperature_mc: Some(20_000),
        ..Sample::default()
    };
    let mut board = Board::new(
        config(),
        StaticKey::new(key()),
        Fixed(closed),
        Tracker::new(TrackerConfig::default(), container()),
        new_flash(),
    )
    .unwrap();
    board.policy_mut().command(TrackerCommand::Seal).unwrap();
    board.policy_mut().command(TrackerCommand::Depart).unwrap();
    board.poll(T0).unwrap();
    // Power off; the new firmware run starts with a fresh policy.
    let (flash, keys, _, _) = board.into_parts();
    let open = Sample {
        seal_closed: Some(false),
        ..closed
    };
    let mut board = Board::new(
        config(),
        keys,
        Fixed(open),
        Tracker::new(TrackerConfig::default(), container()),
        flash,
    )
    .unwrap();
    assert_eq!(board.policy().journey(), crate::policy::Journey::InTransit);
    board.poll(T0 + 60_000).unwrap();
    assert_eq!(board.report().counters.signed_of(Kind::SealBroken), 1);
    assert_eq!(board.report().store.last_seq, 3);
}
