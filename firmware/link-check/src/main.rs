//! A `#![no_std]`, `#![no_main]` program that runs the whole firmware on fake peripherals,
//! so that everything a board uses is linked and measured:
//!
//! 1. an event round trip through `provenance-event` (sign, parse, verify);
//! 2. a shipment tracker (TMP117, LIS3DH, NMEA on a UART, seal pin) and then a plant station
//!    (MAX17048, TMP117, BMS) on the same static board slot, each signing events into a flash
//!    queue, publishing them over MQTT to a scripted broker and taking the ingest's ack;
//! 3. the stack high-water mark, by painting the stack below `main` before the run and
//!    finding the deepest byte that changed.
//!
//! It runs on the host through the C runtime's `main` and prints its measurements; the exit
//! status says whether everything held. On a microcontroller the reset handler takes `main`'s
//! role, and the fakes here are real chips.
#![no_std]
#![no_main]

use core::fmt::Write as _;
use core::mem::MaybeUninit;
use core::panic::PanicInfo;

use ed25519_dalek::SigningKey;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, InputPin};
use embedded_hal::i2c::{ErrorType as I2cErrorType, I2c, Operation};
use provenance_event::cose::Sign1;
use provenance_event::wire::AckPayload;
use provenance_event::{
    DeviceId, Draft, Epc, Kind, Location, MAX_MESSAGE, Quantity, SignedEvent, sign_event,
};
use provenance_firmware::drivers::lis3dh::{self, Lis3dh};
use provenance_firmware::drivers::max17048::{self, Max17048};
use provenance_firmware::drivers::nmea::NmeaReader;
use provenance_firmware::drivers::seal::SealLoop;
use provenance_firmware::drivers::tmp117::{self, Tmp117};
use provenance_firmware::drivers::{PackBms, PackHealth};
use provenance_firmware::sim::{RamFlash, SimUart};
use provenance_firmware::{
    Board, BoardConfig, Layout, LinkState, MqttConfig, Region, StaticKey, Station, StationCommand,
    StationConfig, StationSensors, Tracker, TrackerCommand, TrackerConfig, TrackerSensors,
};

/// Says where, then exits with status 101, so that a failing check never hangs CI.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    print(format_args!("link-check panicked: {info}"));
    // SAFETY: `_exit` ends the process at once; nothing after this runs.
    unsafe { _exit(101) }
}

// The C runtime of the host provides `_start`, which calls `main`, `write` for output and
// `_exit`.
#[link(name = "c")]
unsafe extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn _exit(status: i32) -> !;
}

// ------------------------------------------------------------------ fake peripherals

/// One I2C bus with the three chips on it, answering register reads with plausible values.
struct FakeBus {
    register: u8,
}

impl I2cErrorType for FakeBus {
    type Error = core::convert::Infallible;
}

impl I2c for FakeBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        for op in operations {
            match op {
                Operation::Write(bytes) => self.register = bytes.first().copied().unwrap_or(0),
                Operation::Read(buf) => {
                    let value: &[u8] = match (address, self.register) {
                        (max17048::ADDRESS, max17048::reg::VERSION) => &[0x00, 0x12],
                        (max17048::ADDRESS, max17048::reg::VCELL) => &[0xB9, 0x00],
                        (max17048::ADDRESS, max17048::reg::SOC) => &[0x57, 0x80],
                        (tmp117::ADDRESS, tmp117::reg::DEVICE_ID) => &[0x01, 0x17],
                        (tmp117::ADDRESS, tmp117::reg::TEMP_RESULT) => &[0x0A, 0x80],
                        (lis3dh::ADDRESS, lis3dh::reg::WHO_AM_I) => &[0x33],
                        (lis3dh::ADDRESS, lis3dh::reg::FIFO_SRC_REG) => &[0x01],
                        // At rest: 1 g on Z.
                        (lis3dh::ADDRESS, r) if r == lis3dh::reg::OUT_X_L | 0x80 => {
                            &[0, 0, 0, 0, 0x50, 0x05]
                        }
                        _ => &[0, 0],
                    };
                    for (b, v) in buf
                        .iter_mut()
                        .zip(value.iter().chain(core::iter::repeat(&0)))
                    {
                        *b = *v;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The seal loop, closed.
struct ClosedLoop;

impl PinErrorType for ClosedLoop {
    type Error = core::convert::Infallible;
}

impl InputPin for ClosedLoop {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

struct FixtureBms;

impl PackBms for FixtureBms {
    type Error = core::convert::Infallible;
    fn health(&mut self) -> Result<PackHealth, Self::Error> {
        Ok(PackHealth {
            soh_permille: 998,
            cycles: 3,
        })
    }
}

// ------------------------------------------------------------------ the board, in statics

const FLASH_SIZE: usize = 40 * 1024;
type Flash = RamFlash<FLASH_SIZE>;
type TrackerBoard = Board<
    &'static mut Flash,
    StaticKey,
    TrackerSensors<FakeBus, FakeBus, SimUart<256>, ClosedLoop, NoDelay>,
    Tracker,
>;
type StationBoard = Board<
    &'static mut Flash,
    StaticKey,
    StationSensors<FakeBus, FakeBus, FixtureBms, NoDelay>,
    Station,
>;

/// The board of either role: a device has one. Its size is what a board costs in RAM.
// One static slot for either role: its size is the larger board's, which is the point.
#[allow(clippy::large_enum_variant)]
enum AnyBoard {
    Tracker(TrackerBoard),
    Station(StationBoard),
}

/// The simulated flash chip is external hardware, not the firmware's RAM: it lives in a
/// section of its own so that `.data` and `.bss` measure the firmware alone.
#[unsafe(link_section = ".flash_sim")]
static mut FLASH: Flash = RamFlash::new();

static mut BOARD: MaybeUninit<AnyBoard> = MaybeUninit::uninit();

/// One event in flight for the round trip: a static buffer, no heap.
static mut MESSAGE: [u8; MAX_MESSAGE] = [0; MAX_MESSAGE];

// ------------------------------------------------------------------ output

struct Out {
    buf: [u8; 400],
    len: usize,
}

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn print(args: core::fmt::Arguments<'_>) {
    let mut out = Out {
        buf: [0; 400],
        len: 0,
    };
    let _ = out.write_fmt(args);
    let _ = out.write_str("\n");
    // SAFETY: `out.buf[..out.len]` is initialised memory owned by this frame.
    unsafe {
        write(1, out.buf.as_ptr(), out.len);
    }
}

// ------------------------------------------------------------------ the run

/// Signing alone, as a board does it.
#[inline(never)]
fn sign_only(buf: &mut [u8]) -> Option<usize> {
    let key = SigningKey::from_bytes(&[7; 32]);
    let device = DeviceId::new("station-1").ok()?;
    let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").ok()?];
    let draft = Draft::new(1, [0; 32], 1_763_719_200_000, Kind::Commissioned, &items);
    sign_event(&key, &device, &draft, buf).ok()
}

#[inline(never)]
fn round_trip(buf: &mut [u8]) -> Option<()> {
    let key = SigningKey::from_bytes(&[7; 32]);
    let device = DeviceId::new("station-1").ok()?;
    let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").ok()?];
    let place = Location::fix(519_244_000, 41_400_000);
    let mut draft = Draft::new(1, [0; 32], 1_763_719_200_000, Kind::Measured, &items);
    draft.location = Some(&place);
    draft.readings.set(Quantity::Voltage, 3_712).ok()?;
    draft.readings.set(Quantity::Temperature, 23_250).ok()?;
    let n = sign_event(&key, &device, &draft, buf).ok()?;
    let event = SignedEvent::parse(&buf[..n])
        .ok()?
        .verify(&key.verifying_key())
        .ok()?
        .decode()
        .ok()?;
    (event.event().readings.get(Quantity::Voltage) == Some(3_712)).then_some(())
}

fn config(device: &str) -> Option<BoardConfig<'static>> {
    Some(BoardConfig {
        device: DeviceId::new(device).ok()?,
        mqtt_password: "link-check",
        mqtt: MqttConfig::default(),
        layout: Layout {
            journal: Region::new(0..8192),
            queue: Region::new(8192..FLASH_SIZE as u32),
        },
        resend_after_ms: 60_000,
    })
}

const T0: u64 = 1_763_712_000_000;

/// A scripted broker: accepts the connection and the subscription, then PUBACKs and acks
/// everything published. Returns how many events it saw.
fn broker<F, K, S, P>(board: &mut Board<F, K, S, P>, device: &str, now: u64) -> Option<u64>
where
    F: embedded_storage::nor_flash::NorFlash,
    K: provenance_firmware::KeyStore,
    S: provenance_firmware::Sensors,
    P: provenance_firmware::Policy,
{
    if board.net_wants_connection(now) {
        board.net_connected(now);
    }
    let mut events = 0u64;
    let mut ack_topic: heapless::String<96> = heapless::String::new();
    write!(ack_topic, "prov/v1/dev/{device}/ack").ok()?;
    for _ in 0..16 {
        let mut reply = [0u8; 256];
        let mut len = 0;
        let mut top_seq = 0;
        {
            let mut out = board.net_transmit();
            let total = out.len();
            while out.len() >= 2 {
                let remaining = usize::from(out[1] & 0x7F)
                    | if out[1] & 0x80 != 0 {
                        usize::from(out[2]) << 7
                    } else {
                        0
                    };
                let header = if out[1] & 0x80 != 0 { 3 } else { 2 };
                let packet = out.get(..header + remaining)?;
                let body = &packet[header..];
                let answer: &[u8] = match packet[0] >> 4 {
                    1 => &[0x20, 2, 0, 0],
                    8 => &[0x90, 4, body[0], body[1], 1, 1],
                    3 => {
                        let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                        let id = [body[2 + topic_len], body[3 + topic_len]];
                        let payload = &body[4 + topic_len..];
                        // The structure and the seq only: verifying here would put the
                        // broker's stack into the board's measurement (the round trip
                        // links and measures verification).
                        let seq =
                            provenance_event::peek_seq(Sign1::parse(payload).ok()?.payload())?;
                        top_seq = top_seq.max(seq);
                        events += 1;
                        reply
                            .get_mut(len..len + 4)?
                            .copy_from_slice(&[0x40, 2, id[0], id[1]]);
                        len += 4;
                        &[]
                    }
                    _ => &[],
                };
                reply
                    .get_mut(len..len + answer.len())?
                    .copy_from_slice(answer);
                len += answer.len();
                out = &out[header + remaining..];
            }
            board.net_transmitted(total, now).ok()?;
        }
        if top_seq > 0 {
            let mut ack = [0u8; 32];
            let n = AckPayload {
                seq: top_seq,
                tree_size: top_seq,
            }
            .encode(&mut ack)
            .ok()?;
            let remaining = 2 + ack_topic.len() + 2 + n;
            let packet = [0x32, remaining as u8, 0, ack_topic.len() as u8];
            reply.get_mut(len..len + 4)?.copy_from_slice(&packet);
            len += 4;
            reply
                .get_mut(len..len + ack_topic.len())?
                .copy_from_slice(ack_topic.as_bytes());
            len += ack_topic.len();
            reply.get_mut(len..len + 2)?.copy_from_slice(&[0, 1]);
            reply
                .get_mut(len + 2..len + 2 + n)?
                .copy_from_slice(&ack[..n]);
            len += 2 + n;
        }
        if len == 0 {
            break;
        }
        board.net_receive(&reply[..len], now).ok()?;
    }
    Some(events)
}

#[inline(never)]
fn build_tracker(
    slot: &'static mut MaybeUninit<AnyBoard>,
    flash: &'static mut Flash,
) -> Option<&'static mut AnyBoard> {
    let sensors = TrackerSensors::new(
        Tmp117::new(FakeBus { register: 0 }, tmp117::ADDRESS).ok()?,
        Lis3dh::new(FakeBus { register: 0 }, lis3dh::ADDRESS).ok()?,
        NmeaReader::new(SimUart::new()),
        SealLoop::new(ClosedLoop),
        NoDelay,
        120_000,
    );
    let container = [Epc::parse("urn:epc:id:sscc:4012345.1234567890").ok()?]
        .into_iter()
        .collect();
    let key = StaticKey::new(SigningKey::from_bytes(&[8; 32]));
    let board = Board::new(
        config("tracker-1")?,
        key,
        sensors,
        Tracker::new(TrackerConfig::default(), container),
        flash,
    )
    .ok()?;
    Some(slot.write(AnyBoard::Tracker(board)))
}

#[inline(never)]
fn drive_tracker(board: &mut AnyBoard) -> Option<u64> {
    let AnyBoard::Tracker(board) = board else {
        return None;
    };
    let mut now = T0;
    board.policy_mut().command(TrackerCommand::Seal).ok()?;
    board.policy_mut().command(TrackerCommand::Depart).ok()?;
    for _minute in 0..40 {
        let gga = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n";
        board.sensors_mut().gnss_uart_mut().uart_mut().push(gga);
        board.poll(now).ok()?;
        now += 60_000;
    }
    let published = broker(board, "tracker-1", now)?;
    let report = board.report();
    (report.state == LinkState::Ready && report.store.acked == report.store.last_seq)
        .then_some(published)
}

#[inline(never)]
fn build_station(
    slot: &'static mut MaybeUninit<AnyBoard>,
    flash: &'static mut Flash,
) -> Option<&'static mut AnyBoard> {
    let sensors = StationSensors::new(
        Max17048::new(FakeBus { register: 0 }).ok()?,
        Tmp117::new(FakeBus { register: 0 }, tmp117::ADDRESS).ok()?,
        FixtureBms,
        NoDelay,
    );
    let key = StaticKey::new(SigningKey::from_bytes(&[7; 32]));
    let board = Board::new(
        config("station-1")?,
        key,
        sensors,
        Station::new(StationConfig::default()),
        flash,
    )
    .ok()?;
    Some(slot.write(AnyBoard::Station(board)))
}

#[inline(never)]
fn drive_station(board: &mut AnyBoard) -> Option<u64> {
    let AnyBoard::Station(board) = board else {
        return None;
    };
    let now = T0;
    for n in 0..3u32 {
        let mut uri: heapless::String<64> = heapless::String::new();
        write!(uri, "urn:epc:id:sgtin:4012345.012345.{}", 1000 + n).ok()?;
        let cell: heapless::Vec<Epc, 32> = [Epc::parse(&uri).ok()?].into_iter().collect();
        board
            .policy_mut()
            .command(StationCommand::Commission {
                items: cell.clone(),
                // Master data too, so its encoding is in the no-alloc proof.
                master: Some(provenance_event::Master {
                    category: Some(provenance_event::Category::Ev),
                    rated_capacity_mah: Some(5_000),
                    carbon_class: Some('B'),
                    ..provenance_event::Master::default()
                }),
            })
            .ok()?;
        board
            .policy_mut()
            .command(StationCommand::Measure { items: cell })
            .ok()?;
        board.poll(now).ok()?;
    }
    let published = broker(board, "station-1", now)?;
    let report = board.report();
    (report.store.acked == 6 && report.counters.signed == 6).then_some(published)
}

// ------------------------------------------------------------------ stack painting

const PATTERN: u8 = 0xA5;
/// How much stack below `main`'s frame is painted and watched.
const PAINTED: usize = 128 * 1024;
/// Left alone right below `main`'s frame, where `paint` and `high_water` themselves run.
const MARGIN: usize = 512;

/// Paints the stack below this function's own frame, which is where the frames of the next
/// function its caller calls will go, and returns the address it painted below.
#[inline(never)]
fn paint() -> usize {
    let here = 0u8;
    let top = core::hint::black_box(core::ptr::addr_of!(here)) as usize;
    let mut p = top - PAINTED;
    while p < top - MARGIN {
        // SAFETY: the addresses are in this thread's stack below every live frame (this
        // leaf's own frame stays within MARGIN of `top`); the main thread's stack is 8 MiB,
        // so they are mapped (grown on touch) and unused.
        unsafe { core::ptr::write_volatile(p as *mut u8, PATTERN) };
        p += 1;
    }
    top
}

/// Bytes below `top` that were written since `paint`.
#[inline(never)]
fn high_water(top: usize) -> usize {
    let mut p = top - PAINTED;
    // SAFETY: as in `paint`: the same painted, mapped stack range, read only.
    while p < top - MARGIN && unsafe { core::ptr::read_volatile(p as *const u8) } == PATTERN {
        p += 1;
    }
    top - p
}

/// Stack use of each phase, measured by painting before it.
#[derive(Default)]
struct Measured {
    round_trip: usize,
    sign: usize,
    build: usize,
    run: usize,
    tracker_events: u64,
    station_events: u64,
}

#[inline(never)]
fn run_all(m: &mut Measured) -> Option<()> {
    // SAFETY: `main` runs once on one thread and these are the only references taken to the
    // statics; the board slot is written before it is read (`MaybeUninit::write`).
    let message = unsafe { &mut *core::ptr::addr_of_mut!(MESSAGE) };
    let top = paint();
    sign_only(message)?;
    m.sign = high_water(top);
    let top = paint();
    round_trip(message)?;
    m.round_trip = high_water(top);
    for role in [Kind::Departed, Kind::Commissioned] {
        // Power on with a blank flash (erased as it leaves the factory).
        // SAFETY: as above, the only reference to FLASH while this board lives; the previous
        // board, which held it, was dropped below.
        let flash = unsafe {
            let flash = &mut *core::ptr::addr_of_mut!(FLASH);
            *flash = RamFlash::new();
            flash
        };
        let top = paint();
        // SAFETY: the only reference to BOARD while this board lives (the one before was
        // dropped below and its reference is gone).
        let slot = unsafe { &mut *core::ptr::addr_of_mut!(BOARD) };
        let board = if role == Kind::Departed {
            build_tracker(slot, flash)?
        } else {
            build_station(slot, flash)?
        };
        m.build = m.build.max(high_water(top));
        let top = paint();
        if role == Kind::Departed {
            m.tracker_events = drive_tracker(board)?;
        } else {
            m.station_events = drive_station(board)?;
        }
        m.run = m.run.max(high_water(top));
        // SAFETY: the board was written into BOARD by `build_*` and its reference is no longer
        // used; it is dropped once, in place.
        unsafe { (*core::ptr::addr_of_mut!(BOARD)).assume_init_drop() };
    }
    Some(())
}

// SAFETY: `main` is the C entry point; the attribute is required for the C runtime to find it
// and nothing else in the program defines that symbol.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let mut m = Measured::default();
    let ok = run_all(&mut m).is_some();
    print(format_args!(
        "  ran: tracker {} events and station {} events signed, queued in flash, published, acked",
        m.tracker_events, m.station_events
    ));
    print(format_args!(
        "  board (either role, static): {} bytes",
        core::mem::size_of::<AnyBoard>()
    ));
    print(format_args!(
        "  stack high-water mark: {} bytes running a board (sampling, signing, flash, MQTT); {} bytes building one \
         (Board::new returns it by value before it moves into its static); {} bytes to sign an event, {} to \
         sign, parse and verify one",
        m.run, m.build, m.sign, m.round_trip
    ));
    let limit = PAINTED - MARGIN;
    if ok && m.run < limit && m.build < limit {
        0
    } else {
        1
    }
}
