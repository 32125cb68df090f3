//! The fleet: boards running the real firmware on simulated chips, each with its own TCP
//! connection to a real MQTT broker, driven on a few worker threads (one per core; each owns
//! its boards outright, so nothing hops between threads per event) against a simulated clock
//! that runs `speedup` times faster than the wall clock and always stays in the past, so the
//! ingest's "not in the future" rule holds.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_firmware::drivers::PackHealth;
use provenance_firmware::drivers::lis3dh::{self, Lis3dh};
use provenance_firmware::drivers::max17048::Max17048;
use provenance_firmware::drivers::nmea::NmeaReader;
use provenance_firmware::drivers::seal::SealLoop;
use provenance_firmware::drivers::tmp117::{self, Tmp117};
use provenance_firmware::policy::{MAX_ITEMS, STATION_QUEUE, TRACKER_QUEUE};
use provenance_firmware::sim::{NoDelay, RamFlash, SimBms, SimI2c, SimPin, SimUart};
use provenance_firmware::{
    Board, BoardConfig, BoardError, Counters, Layout, MqttConfig, Policy, Region, Sensors,
    StaticKey, Station, StationCommand, StationConfig, StationSensors, Tracker, TrackerCommand,
    TrackerConfig, TrackerSensors,
};

use crate::model::{Rng, cell_voltage_mv, container_temperature_mc};
use crate::nmea;
use crate::report::Summary;
use crate::scenario::{
    FaultRates, Operator, OperatorStep, Shipment, StationStep, TrackerStep, parties, plan,
};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
/// Flash per board: 8 KiB journal, the rest the event ring (about 290 events of 400 bytes).
const FLASH: usize = 128 * 1024;
type Flash = RamFlash<FLASH>;
type StationBoard =
    Board<&'static mut Flash, StaticKey, StationSensors<SimI2c, SimI2c, SimBms, NoDelay>, Station>;
type TrackerBoard = Board<
    &'static mut Flash,
    StaticKey,
    TrackerSensors<SimI2c, SimI2c, SimUart<1024>, SimPin, NoDelay>,
    Tracker,
>;

/// What the fleet needs from the server: registration (which returns the device's MQTT
/// password) and the submission of operator events. The binary implements it over HTTP.
pub trait Backend: Send + Sync {
    /// Registers a device or operator; returns its MQTT password.
    fn register(
        &self,
        id: &str,
        role: &str,
        org: &str,
        public_key: [u8; 32],
    ) -> Result<String, String>;
    /// Submits one signed operator event.
    fn submit(&self, event: &[u8]) -> Result<(), String>;
    /// Names a place or party (GLN) for the pages; a backend without pages ignores it.
    fn name_place(&self, _gln: &str, _name: &str) -> Result<(), String> {
        Ok(())
    }
}

/// How the fleet runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The MQTT broker.
    pub broker: SocketAddr,
    /// Boards in all: about one station per ten trackers, the rest trackers (one per
    /// shipment).
    pub boards: usize,
    /// Cells per shipment.
    pub cells: usize,
    /// Simulated seconds per real second.
    pub speedup: f64,
    /// Days at sea.
    pub sea_days: f64,
    /// Faults to inject.
    pub faults: FaultRates,
    /// Seed for every random choice.
    pub seed: u64,
    /// Distinguishes this run's device IDs and item serials from other runs'.
    pub run: u32,
    /// How long to wait, after the journeys end, for every event to be acknowledged.
    pub drain: Duration,
    /// Worker threads (default: one per core).
    pub workers: usize,
}

/// What the progress display reads while the fleet runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events signed by the boards.
    pub signed: AtomicU64,
    /// Of those, acknowledged by the ingest.
    pub acknowledged: AtomicU64,
    /// Operator events submitted and anchored.
    pub operator_events: AtomicU64,
    /// Boards whose journey is over and whose events are all acknowledged.
    pub boards_done: AtomicU64,
    /// Simulated time, Unix ms.
    pub sim_ms: AtomicU64,
    /// Boards registered (before the run).
    pub registered: AtomicU64,
}

/// The simulated clock: `speedup` times the wall clock, never later than a second before
/// the wall clock (events are signed with it, and the ingest refuses the future).
#[derive(Debug, Clone, Copy)]
struct Clock {
    real_start: Instant,
    sim_start: u64,
    speedup: f64,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Clock {
    fn now(&self) -> u64 {
        let sim = self.sim_start
            + (self.real_start.elapsed().as_secs_f64() * 1000.0 * self.speedup) as u64;
        sim.min(wall_ms().saturating_sub(1_000))
    }
}

/// The network side of one board: its socket and what the socket has not taken yet.
struct Net {
    stream: Option<TcpStream>,
    pending_in: Vec<u8>,
}

impl Net {
    fn close<F, K, S, P>(&mut self, board: &mut Board<F, K, S, P>, now: u64)
    where
        F: embedded_storage::nor_flash::NorFlash,
        K: provenance_firmware::KeyStore,
        S: Sensors,
        P: Policy,
    {
        if let Some(mut s) = self.stream.take() {
            // Read what is left first: closing with unread bytes sends a reset, which the
            // broker logs as an error; a board going out of coverage is not one.
            let mut sink = [0u8; 4096];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            let _ = s.shutdown(std::net::Shutdown::Both);
            self.pending_in.clear();
            board.net_disconnected(now);
        }
    }

    /// Connects when the board wants to and may, writes what it has to send, hands it what
    /// arrived. Never blocks except for a connect to the broker, which is local here.
    fn pump<F, K, S, P>(
        &mut self,
        board: &mut Board<F, K, S, P>,
        broker: SocketAddr,
        now: u64,
        online: bool,
    ) -> Result<(), BoardError>
    where
        F: embedded_storage::nor_flash::NorFlash,
        K: provenance_firmware::KeyStore,
        S: Sensors,
        P: Policy,
    {
        if !online {
            self.close(board, now);
            return Ok(());
        }
        if self.stream.is_none() && board.net_wants_connection(now) {
            match TcpStream::connect_timeout(&broker, Duration::from_secs(2)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    if s.set_nonblocking(true).is_ok() {
                        self.stream = Some(s);
                        board.net_connected(now);
                    } else {
                        board.net_connect_failed(now);
                    }
                }
                Err(_) => board.net_connect_failed(now),
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let mut broken = false;
        loop {
            let out = board.net_transmit();
            if out.is_empty() {
                break;
            }
            match stream.write(out) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(n) => board.net_transmitted(n, now)?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        let mut buf = [0u8; 8192];
        while !broken {
            if !self.pending_in.is_empty() {
                let used = board.net_receive(&self.pending_in, now)?;
                self.pending_in.drain(..used);
                if !self.pending_in.is_empty() {
                    break; // the board's send buffer is full: write first, next tick
                }
            }
            match stream.read(&mut buf) {
                Ok(0) => broken = true,
                Ok(n) => {
                    let used = board.net_receive(&buf[..n], now)?;
                    if used < n {
                        self.pending_in.extend_from_slice(&buf[used..n]);
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => broken = true,
            }
        }
        if broken || board.net_wants_close() {
            self.close(board, now);
        }
        Ok(())
    }
}

/// What every simulated board keeps besides the firmware's own state.
struct Identity {
    device: DeviceId,
    password: String,
    mqtt: MqttConfig,
    resend_after_ms: u64,
}

impl Identity {
    fn config(&self) -> BoardConfig<'_> {
        BoardConfig {
            device: self.device.clone(),
            mqtt_password: &self.password,
            mqtt: self.mqtt,
            layout: Layout {
                journal: Region::new(0..8192),
                queue: Region::new(8192..FLASH as u32),
            },
            resend_after_ms: self.resend_after_ms,
        }
    }
}

fn new_flash() -> &'static mut Flash {
    // One per board for the life of the process; a reboot reuses it.
    Box::leak(Box::new(Flash::new()))
}

/// Power is cut at the next flash operation(s); the failing poll reboots the board: parts
/// out, power back, `Board::new` recovers from whatever the flash holds.
macro_rules! reboot {
    ($slot:expr, $id:expr, $carried:expr) => {{
        let Some(board) = $slot.take() else {
            return Ok(());
        };
        // The board's counters live in RAM and restart at zero; the summary keeps them.
        carry(&mut $carried, &board.report());
        let (flash, key, sensors, policy) = board.into_parts();
        flash.restore_power();
        $slot = Some(
            Board::new($id.config(), key, sensors, policy, flash)
                .map_err(|e| format!("{}: reboot failed: {e}", $id.device))?,
        );
    }};
}

struct StationSim {
    id: Identity,
    board: Option<StationBoard>,
    steps: VecDeque<(u64, StationStep)>,
    net: Net,
    rng: Rng,
    reboots: u64,
    carried: Carried,
}

impl StationSim {
    fn tick(&mut self, now: u64, broker: SocketAddr) -> Result<(), String> {
        let Some(board) = self.board.as_mut() else {
            return Ok(());
        };
        while self.steps.front().is_some_and(|(t, _)| *t <= now)
            && board.policy().pending() < STATION_QUEUE
        {
            let Some((_, step)) = self.steps.pop_front() else {
                break;
            };
            let command = match step {
                StationStep::Commission(items, master) => StationCommand::Commission {
                    items: bounded(&items),
                    master,
                },
                StationStep::MeasureCell(cell, soc) => {
                    let s = board.sensors_mut();
                    s.gauge_mut().bus_mut().set_cell(cell_voltage_mv(soc), soc);
                    let fixture = 23_000 + self.rng.range(-800.0, 800.0) as i32;
                    s.thermometer_mut().bus_mut().set_temperature_mc(fixture);
                    StationCommand::Measure {
                        items: bounded(std::slice::from_ref(&cell)),
                    }
                }
                StationStep::Pack(parent, items) => StationCommand::Pack {
                    parent,
                    items: bounded(&items),
                },
            };
            if board.policy_mut().command(command).is_err() {
                break;
            }
            // Measure now, while the fixture holds this cell.
            board.poll(now).map_err(|e| e.to_string())?;
        }
        let polled = board
            .poll(now)
            .and_then(|_| self.net.pump(board, broker, now, true));
        if let Err(e) = polled {
            tracing::debug!(device = %self.id.device, error = %e, "station flash failed");
            self.reboots += 1;
            reboot!(self.board, self.id, self.carried);
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.steps.is_empty()
            && self.board.as_ref().is_none_or(|b| {
                let r = b.report();
                b.policy().pending() == 0 && waiting(&r) == 0
            })
    }
}

struct TrackerSim {
    id: Identity,
    board: Option<TrackerBoard>,
    shipment: Shipment,
    steps: VecDeque<(u64, TrackerStep)>,
    operators: VecDeque<(u64, OperatorStep)>,
    net: Net,
    rng: Rng,
    reboots: u64,
    carried: Carried,
    reboot_armed: bool,
    sample_every_ms: u64,
    next_sample_ms: u64,
}

impl TrackerSim {
    fn tick(
        &mut self,
        now: u64,
        broker: SocketAddr,
        operators: &mpsc::Sender<(u64, OperatorStep, Epc)>,
    ) -> Result<(), String> {
        let Some(board) = self.board.as_mut() else {
            return Ok(());
        };
        let s = &self.shipment;
        // The chips read the world as it is now.
        if now >= self.next_sample_ms {
            self.next_sample_ms = now + self.sample_every_ms / 2;
            let sensors = board.sensors_mut();
            let p = s.position(now);
            let moving = matches!(
                s.motion(now),
                crate::model::Motion::Road | crate::model::Motion::Sea
            );
            let fix = nmea::fix(p, now, if moving { 12.0 } else { 0.0 });
            sensors.gnss_uart_mut().uart_mut().push(fix.as_bytes());
            let t = container_temperature_mc(now, 18.0, s.faults.heat);
            sensors.thermometer_mut().bus_mut().set_temperature_mc(t);
            let (x, y, z) = s.motion(now).acceleration_mg(&mut self.rng);
            sensors
                .accelerometer_mut()
                .bus_mut()
                .set_acceleration_mg(x, y, z);
            let broken = s.faults.seal_break_at.is_some_and(|b| now >= b);
            sensors.seal_mut().pin_mut().high = broken;
        }
        while self.steps.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, step)) = self.steps.front().cloned() else {
                break;
            };
            let command = match step {
                TrackerStep::Seal => TrackerCommand::Seal,
                TrackerStep::Depart => TrackerCommand::Depart,
                TrackerStep::Arrive => TrackerCommand::Arrive,
                TrackerStep::HandOverToCarrier(bill) => TrackerCommand::HandOver {
                    party: Epc::parse(parties::CARRIER_PGLN).map_err(|e| e.to_string())?,
                    doc: heapless::String::try_from(bill.as_str()).ok(),
                },
            };
            if board.policy_mut().command(command).is_err() {
                break; // full: the board takes it at its next poll
            }
            self.steps.pop_front();
        }
        while self.operators.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((t, step)) = self.operators.pop_front() {
                let _ = operators.send((t, step, s.container.clone()));
            }
        }
        if self.reboot_armed && s.faults.reboot_at.is_some_and(|r| now >= r) {
            self.reboot_armed = false;
            let cut = board.flash_mut().ops() + 1 + self.rng.next_u64() % 6;
            board.flash_mut().cut_power_at(cut);
        }
        let online = s.online(now);
        let polled = board
            .poll(now)
            .and_then(|_| self.net.pump(board, broker, now, online));
        if let Err(e) = polled {
            tracing::debug!(device = %self.id.device, error = %e, "tracker flash failed");
            self.reboots += 1;
            if let Some(b) = self.board.as_mut() {
                self.net.close(b, now);
            }
            reboot!(self.board, self.id, self.carried);
        }
        Ok(())
    }

    fn done(&self, now: u64) -> bool {
        self.steps.is_empty()
            && self.operators.is_empty()
            && now >= self.shipment.end_ms
            && self.board.as_ref().is_none_or(|b| {
                let r = b.report();
                waiting(&r) == 0
            })
    }
}

/// Events in a board's flash that no ack covers yet. A seq reserved and lost to a power cut
/// is not one of them: it is counted as dropped and reported with the next event.
pub fn waiting(r: &provenance_firmware::Report) -> u64 {
    r.store
        .last_seq
        .saturating_sub(r.store.acked)
        .saturating_sub(r.store.unreported)
}

/// What a board counted before its reboots (its counters live in RAM).
#[derive(Debug, Clone, Copy, Default)]
struct Carried {
    counters: Counters,
    published: u64,
    rejections: u64,
    connects: u64,
}

/// Adds what a board counted before a reboot.
fn carry(into: &mut Carried, from: &provenance_firmware::Report) {
    add_counters(&mut into.counters, &from.counters);
    into.published += from.link.published;
    into.rejections += from.link.rejections;
    into.connects += from.link.connects;
}

fn add_counters(into: &mut Counters, from: &Counters) {
    into.signed += from.signed;
    into.invalid += from.invalid;
    into.sign_failures += from.sign_failures;
    into.resends += from.resends;
    into.unreadable += from.unreadable;
    for (a, b) in into.by_kind.iter_mut().zip(from.by_kind) {
        *a += b;
    }
}

fn bounded(items: &[Epc]) -> heapless::Vec<Epc, MAX_ITEMS> {
    items.iter().take(MAX_ITEMS).cloned().collect()
}

/// Keys are derived from the seed, so a run can be repeated.
fn key_for(seed: u64, run: u32, n: u64) -> SigningKey {
    let mut rng = Rng::new(seed ^ (u64::from(run) << 32) ^ n.wrapping_mul(0x9E37_79B9));
    let mut k = [0u8; 32];
    for chunk in k.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    SigningKey::from_bytes(&k)
}

enum Sim {
    Station(Box<StationSim>),
    Tracker(Box<TrackerSim>),
}

/// An operator signing events on the host (a handheld), with its own seq and chain.
struct OperatorSigner {
    device: DeviceId,
    key: SigningKey,
    seq: u64,
    prev: [u8; 32],
}

impl OperatorSigner {
    fn sign(&mut self, t: u64, step: &OperatorStep, item: &Epc) -> Result<Vec<u8>, String> {
        let place = Epc::parse(step.place).map_err(|e| e.to_string())?;
        let party = step
            .party
            .map(Epc::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        let items = [item.clone()];
        let location = provenance_event::Location {
            lat_lon: None,
            sgln: Some(place),
        };
        let mut d = Draft::new(self.seq + 1, self.prev, t as i64, step.kind, &items);
        d.location = Some(&location);
        d.party = party.as_ref();
        d.doc = step.doc.as_deref();
        let mut buf = vec![0u8; provenance_event::MAX_MESSAGE];
        let n = sign_event(&self.key, &self.device, &d, &mut buf).map_err(|e| e.to_string())?;
        buf.truncate(n);
        self.seq += 1;
        self.prev = message_hash(&buf);
        Ok(buf)
    }
}

/// Runs the fleet until every journey is over and every event acknowledged, or the drain
/// time runs out. `progress` is updated as it goes.
pub fn run(
    config: &Config,
    backend: Arc<dyn Backend>,
    progress: Arc<Progress>,
) -> Result<Summary, String> {
    let started = Instant::now();
    let stations = config.boards.div_ceil(11).max(1);
    let trackers = config.boards.saturating_sub(stations).max(1);
    let mut rng = Rng::new(config.seed ^ u64::from(config.run));

    // The journeys: the longest one decides how far in the past the simulated clock starts.
    let stagger = 12 * HOUR;
    let mut shipments = Vec::with_capacity(trackers);
    for i in 0..trackers {
        let start = i as u64 * stagger / trackers as u64;
        shipments.push(plan(
            config.run,
            i,
            config.cells,
            start,
            config.sea_days,
            &config.faults,
            &mut rng,
        ));
    }
    let span = shipments.iter().map(|s| s.end_ms).max().unwrap_or(0) + HOUR;
    let drain_sim = (config.drain.as_secs_f64() * 1000.0 * config.speedup) as u64;
    let sim_start = wall_ms().saturating_sub(span + drain_sim + 10 * MINUTE);
    for s in &mut shipments {
        shift(s, sim_start);
    }

    // MQTT timing in simulated ms: what would be seconds on the wall clock.
    let scaled = |real_ms: f64| (real_ms * config.speedup) as u64;
    let mqtt = MqttConfig {
        keep_alive_s: u16::MAX,
        connect_timeout_ms: scaled(10_000.0),
        backoff_min_ms: scaled(250.0),
        backoff_max_ms: scaled(5_000.0),
    };
    let resend_after_ms = scaled(8_000.0);

    // The scenario's places by name, so pages say where things happened.
    for (gln, name) in crate::scenario::parties::PLACE_NAMES {
        backend.name_place(gln, name)?;
    }

    // Register everyone; passwords come back once.
    let mut sims = Vec::new();
    let mut n = 0u64;
    let mut register =
        |role: &str, org: &str, name: String| -> Result<(DeviceId, SigningKey, String), String> {
            n += 1;
            let device = DeviceId::new(&name).map_err(|e| format!("{name}: {e}"))?;
            let key = key_for(config.seed, config.run, n);
            let password = backend.register(&name, role, org, key.verifying_key().to_bytes())?;
            progress.registered.fetch_add(1, Ordering::Relaxed);
            Ok((device, key, password))
        };
    let mut operator = |role: &str, org: &str| -> Result<OperatorSigner, String> {
        let (device, key, _) = register(role, org, format!("sim{}-{role}", config.run))?;
        Ok(OperatorSigner {
            device,
            key,
            seq: 0,
            prev: [0; 32],
        })
    };
    let mut customs = operator("customs", parties::CUSTOMS)?;
    let mut carrier = operator("carrier", parties::CARRIER)?;
    let mut station_steps: Vec<Vec<(u64, StationStep)>> = vec![Vec::new(); stations];
    for s in &shipments {
        station_steps[s.index % stations].extend(s.station.iter().cloned());
    }
    for (i, mut steps) in station_steps.into_iter().enumerate() {
        steps.sort_by_key(|(t, _)| *t);
        let (device, key, password) = register(
            "station",
            parties::PLANT,
            format!("sim{}-station-{i}", config.run),
        )?;
        let id = Identity {
            device,
            password,
            mqtt,
            resend_after_ms,
        };
        let mut gauge = SimI2c::new();
        gauge.set_cell(3_650, 300);
        let mut fixture = SimI2c::new();
        fixture.set_temperature_mc(23_000);
        let sensors = StationSensors::new(
            Max17048::new(gauge).map_err(|e| format!("{e:?}"))?,
            Tmp117::new(fixture, tmp117::ADDRESS).map_err(|e| format!("{e:?}"))?,
            SimBms(PackHealth {
                soh_permille: 1000,
                cycles: 1,
            }),
            NoDelay,
        );
        let policy = Station::new(StationConfig {
            place: Epc::parse(parties::PLANT_SGLN).ok(),
        });
        let board = Board::new(
            id.config(),
            StaticKey::new(key),
            sensors,
            policy,
            new_flash(),
        )
        .map_err(|e| e.to_string())?;
        sims.push(Sim::Station(Box::new(StationSim {
            id,
            board: Some(board),
            steps: steps.into(),
            net: Net {
                stream: None,
                pending_in: Vec::new(),
            },
            rng: Rng::new(rng.next_u64()),
            reboots: 0,
            carried: Carried::default(),
        })));
    }
    let tracker_config = TrackerConfig {
        locate_every_ms: 30 * MINUTE,
        locate_every_m: 25_000,
        sample_every_ms: 5 * MINUTE,
        temperature_max_mc: 30_000,
        temperature_min_mc: 0,
        shock_max_mg: 4_000,
        excursion_repeat_ms: HOUR,
    };
    for s in shipments.iter().cloned() {
        let (device, key, password) = register(
            "tracker",
            parties::PLANT,
            format!("sim{}-tracker-{}", config.run, s.index),
        )?;
        let id = Identity {
            device,
            password,
            mqtt,
            resend_after_ms,
        };
        let mut air = SimI2c::new();
        air.set_temperature_mc(18_000);
        let mut motion = SimI2c::new();
        motion.set_acceleration_mg(0, 0, 1_000);
        let sensors = TrackerSensors::new(
            Tmp117::new(air, tmp117::ADDRESS).map_err(|e| format!("{e:?}"))?,
            Lis3dh::new(motion, lis3dh::ADDRESS).map_err(|e| format!("{e:?}"))?,
            NmeaReader::new(SimUart::<1024>::new()),
            SealLoop::new(SimPin { high: false }),
            NoDelay,
            15 * MINUTE,
        );
        let policy = Tracker::new(tracker_config, bounded(std::slice::from_ref(&s.container)));
        let board = Board::new(
            id.config(),
            StaticKey::new(key),
            sensors,
            policy,
            new_flash(),
        )
        .map_err(|e| e.to_string())?;
        sims.push(Sim::Tracker(Box::new(TrackerSim {
            id,
            board: Some(board),
            steps: s.tracker.clone().into(),
            operators: s.operators.clone().into(),
            reboot_armed: s.faults.reboot_at.is_some(),
            shipment: s,
            net: Net {
                stream: None,
                pending_in: Vec::new(),
            },
            rng: Rng::new(rng.next_u64()),
            reboots: 0,
            carried: Carried::default(),
            sample_every_ms: tracker_config.sample_every_ms,
            next_sample_ms: 0,
        })));
    }

    // People's events go through one submitting thread, in the order they happen.
    let (op_tx, op_rx) = mpsc::channel::<(u64, OperatorStep, Epc)>();
    let submitter = {
        let backend = backend.clone();
        let progress = progress.clone();
        std::thread::Builder::new()
            .name("operators".into())
            .spawn(move || -> Result<u64, String> {
                let mut submitted = 0;
                for (t, step, item) in op_rx {
                    let signer = match step.signer {
                        Operator::Customs => &mut customs,
                        Operator::Carrier => &mut carrier,
                    };
                    let bytes = signer.sign(t, &step, &item)?;
                    let mut tries = 0;
                    loop {
                        match backend.submit(&bytes) {
                            Ok(()) => break,
                            Err(e) if tries < 20 => {
                                tries += 1;
                                tracing::warn!(error = %e, "operator event not anchored; retrying");
                                std::thread::sleep(Duration::from_millis(250));
                            }
                            Err(e) => return Err(format!("operator event refused: {e}")),
                        }
                    }
                    submitted += 1;
                    progress.operator_events.fetch_add(1, Ordering::Relaxed);
                }
                Ok(submitted)
            })
            .map_err(|e| e.to_string())?
    };

    let clock = Clock {
        real_start: Instant::now(),
        sim_start,
        speedup: config.speedup,
    };
    let journeys_end = sim_start + span;
    let deadline_real = clock.real_start
        + Duration::from_secs_f64((span as f64 / 1000.0) / config.speedup)
        + config.drain;
    let workers = config.workers.max(1);
    let mut parts: Vec<Vec<Sim>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, s) in sims.into_iter().enumerate() {
        parts[i % workers].push(s);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (w, mut part) in parts.into_iter().enumerate() {
        let (progress, op_tx, stop) = (progress.clone(), op_tx.clone(), stop.clone());
        let broker = config.broker;
        handles.push(
            std::thread::Builder::new()
                .name(format!("boards-{w}"))
                .spawn(move || -> Result<Vec<Sim>, String> {
                    let mut last = (0u64, 0u64, 0u64);
                    loop {
                        let now = clock.now();
                        let (mut signed, mut acked, mut done) = (0u64, 0u64, 0u64);
                        for s in &mut part {
                            match s {
                                Sim::Station(st) => {
                                    st.tick(now, broker)?;
                                    if let Some(b) = &st.board {
                                        let r = b.report();
                                        signed += r.counters.signed + st.carried.counters.signed;
                                        acked += r.store.acked.min(r.store.last_seq);
                                    }
                                    done += u64::from(st.done());
                                }
                                Sim::Tracker(t) => {
                                    t.tick(now, broker, &op_tx)?;
                                    if let Some(b) = &t.board {
                                        let r = b.report();
                                        signed += r.counters.signed + t.carried.counters.signed;
                                        acked += r.store.acked.min(r.store.last_seq);
                                    }
                                    done += u64::from(t.done(now));
                                }
                            }
                        }
                        // Progress is the sum over workers: each adds its change.
                        let add = |a: &AtomicU64, new: u64, old: u64| {
                            if new >= old {
                                a.fetch_add(new - old, Ordering::Relaxed);
                            } else {
                                a.fetch_sub(old - new, Ordering::Relaxed);
                            }
                        };
                        add(&progress.signed, signed, last.0);
                        add(&progress.acknowledged, acked, last.1);
                        add(&progress.boards_done, done, last.2);
                        last = (signed, acked, done);
                        progress.sim_ms.fetch_max(now, Ordering::Relaxed);
                        let all_done = done as usize == part.len() && now >= journeys_end;
                        if all_done
                            || stop.load(Ordering::Relaxed)
                            || Instant::now() > deadline_real
                        {
                            return Ok(part);
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
                .map_err(|e| e.to_string())?,
        );
    }
    drop(op_tx);
    let mut finished = Vec::new();
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(Ok(part)) => finished.extend(part),
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                failure.get_or_insert("a board thread panicked".to_string());
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // Every board is done or timed out; operator events still queued are sent now.
    let operator_events = submitter
        .join()
        .map_err(|_| "the operator thread panicked".to_string())??;

    let mut summary = Summary {
        stations,
        trackers,
        shipments: trackers,
        operator_events,
        elapsed: started.elapsed(),
        sim_from_ms: sim_start,
        sim_to_ms: clock.now(),
        ..Summary::default()
    };
    for s in &finished {
        let (report, reboots, carried) = match s {
            Sim::Station(st) => (
                st.board.as_ref().map(|b| b.report()),
                st.reboots,
                st.carried,
            ),
            Sim::Tracker(t) => {
                let f = &t.shipment.faults;
                summary.items += t.shipment.items() as u64;
                summary.offline_spells += u64::from(f.offline.is_some());
                summary.seal_breaks += u64::from(f.seal_break_at.is_some());
                summary.heat_excursions += u64::from(f.heat.is_some());
                summary.drops += u64::from(f.drop_at.is_some());
                summary.holds += u64::from(f.hold);
                if summary.example_container.is_none() || f.seal_break_at.is_some() {
                    summary.example_container = Some(t.shipment.container.to_string());
                    summary.example_cell = t.shipment.cells.first().map(ToString::to_string);
                }
                (t.board.as_ref().map(|b| b.report()), t.reboots, t.carried)
            }
        };
        summary.reboots += reboots;
        if let Some(mut r) = report {
            add_counters(&mut r.counters, &carried.counters);
            r.link.published += carried.published;
            r.link.rejections += carried.rejections;
            r.link.connects += carried.connects;
            summary.add_board(&r);
        }
    }
    Ok(summary)
}

/// Moves a plan made from time zero to start at `start`.
fn shift(s: &mut Shipment, start: u64) {
    for (t, _) in &mut s.station {
        *t += start;
    }
    for (t, _) in &mut s.tracker {
        *t += start;
    }
    for (t, _) in &mut s.operators {
        *t += start;
    }
    for leg in &mut s.legs {
        leg.from_ms += start;
        leg.until_ms += start;
    }
    s.sea = (s.sea.0 + start, s.sea.1 + start);
    for p in &mut s.ports {
        *p = (p.0 + start, p.1 + start);
    }
    let f = &mut s.faults;
    f.offline = f.offline.map(|(a, b)| (a + start, b + start));
    f.reboot_at = f.reboot_at.map(|t| t + start);
    f.seal_break_at = f.seal_break_at.map(|t| t + start);
    f.heat = f.heat.map(|(a, b, c)| (a + start, b + start, c));
    f.drop_at = f.drop_at.map(|t| t + start);
    s.end_ms += start;
}

/// Kinds in SPEC order, for the summary.
pub const KINDS: [Kind; 15] = [
    Kind::Commissioned,
    Kind::Packed,
    Kind::Unpacked,
    Kind::Measured,
    Kind::Departed,
    Kind::Located,
    Kind::Excursion,
    Kind::Sealed,
    Kind::SealBroken,
    Kind::Arrived,
    Kind::HandedOver,
    Kind::Inspected,
    Kind::Held,
    Kind::Cleared,
    Kind::Decommissioned,
];

#[allow(dead_code)]
const _QUEUES: (usize, usize) = (STATION_QUEUE, TRACKER_QUEUE);
