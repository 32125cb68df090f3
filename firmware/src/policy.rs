//! What a board decides, without any I/O: given the time and a [`Sample`] of its sensors,
//! which event to sign next. The two roles of SPEC §1 are two policies over the same sample:
//! [`Station`] on a battery production line and [`Tracker`] on a shipment. Both are plain
//! state machines, tested here without hardware and driven by [`crate::Board`].

use heapless::{Deque, String, Vec};
use provenance_event::{Epc, Kind, Master, Quantity, Readings};

use crate::drivers::nmea::{Position, distance_m};

/// Items one event names at most (a pack of 96 cells is packed in three events).
pub const MAX_ITEMS: usize = 32;
/// Longest business document reference kept.
pub const DOC_MAX: usize = 64;

/// What the sensors said at one moment. `None`: not fitted, or the read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// Cell or pack voltage, mV.
    pub voltage_mv: Option<u32>,
    /// State of charge, ‰.
    pub soc_permille: Option<u16>,
    /// State of health from the pack's BMS, ‰.
    pub soh_permille: Option<u16>,
    /// Charge cycles from the pack's BMS.
    pub cycles: Option<u32>,
    /// Temperature, m°C.
    pub temperature_mc: Option<i32>,
    /// Peak acceleration since the previous sample, milli-g (about 1000 at rest).
    pub shock_mg: Option<u32>,
    /// The seal loop is closed.
    pub seal_closed: Option<bool>,
    /// A recent GNSS position.
    pub position: Option<Position>,
}

impl Sample {
    /// The sample's values as SPEC §3 readings (values outside a quantity's range are left
    /// out: a broken sensor must not make the event invalid).
    pub fn readings(&self, quantities: &[Quantity]) -> Readings {
        let mut r = Readings::new();
        for &q in quantities {
            let v = match q {
                Quantity::Voltage => self.voltage_mv.map(i64::from),
                Quantity::StateOfCharge => self.soc_permille.map(i64::from),
                Quantity::StateOfHealth => self.soh_permille.map(i64::from),
                Quantity::ChargeCycles => self.cycles.map(i64::from),
                Quantity::Temperature => self.temperature_mc.map(i64::from),
                Quantity::Shock => self.shock_mg.map(i64::from),
                Quantity::SealClosed => self.seal_closed.map(i64::from),
                Quantity::Current | Quantity::Humidity => None,
            };
            if let Some(v) = v {
                let _ = r.set(q, v);
            }
        }
        r
    }
}

/// An event the policy wants signed; the board adds seq, prev, time and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventIntent {
    /// What happened.
    pub kind: Kind,
    /// To what (SGTIN or SSCC), at least one.
    pub items: Vec<Epc, MAX_ITEMS>,
    /// The aggregate (packed, unpacked).
    pub parent: Option<Epc>,
    /// GNSS position.
    pub position: Option<Position>,
    /// The place (SGLN).
    pub place: Option<Epc>,
    /// Readings.
    pub readings: Readings,
    /// Who receives custody (SGLN or PGLN).
    pub party: Option<Epc>,
    /// Business document reference.
    pub doc: Option<String<DOC_MAX>>,
    /// A battery's master data (commissioned only).
    pub master: Option<Master>,
}

impl EventIntent {
    /// An intent with the required fields only.
    pub fn new(kind: Kind, items: Vec<Epc, MAX_ITEMS>) -> Self {
        Self {
            kind,
            items,
            parent: None,
            position: None,
            place: None,
            readings: Readings::new(),
            party: None,
            doc: None,
            master: None,
        }
    }
}

/// What a policy needs from the board at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    /// Nothing to do.
    Nothing,
    /// Call [`Policy::step`] (the newest sample will do).
    Step,
    /// Read the sensors, then call [`Policy::step`].
    SampleThenStep,
}

/// A policy: the pure core of a board role.
pub trait Policy {
    /// What the policy needs at `now_ms`.
    fn wants(&self, now_ms: u64) -> Wants;

    /// The next event to sign, given the newest sample; `None` when there is nothing to do.
    /// Called repeatedly until `None` (each call moves the policy on).
    fn step(&mut self, now_ms: u64, sample: &Sample) -> Option<EventIntent>;

    /// When [`Policy::wants`] next says more than `Nothing` by itself (commands aside): a
    /// scheduler may sleep until then. `None`: only a command wakes it.
    fn next_due(&self) -> Option<u64> {
        None
    }

    /// What the policy must remember across a reboot, in 24 bits. The board saves it in
    /// flash with every event, after [`Policy::step`] made the event, so the state always
    /// matches the newest event.
    fn saved_state(&self) -> u32 {
        0
    }

    /// Takes back what [`Policy::saved_state`] gave, at boot.
    fn restore(&mut self, _state: u32) {}
}

/// A full command queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("command queue full; try again after the board has polled")]
pub struct Busy;

// ---------------------------------------------------------------------------------------
// Station

/// What the production line asks a station to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationCommand {
    /// Items made (cells, modules, packs): commissioned.
    Commission {
        /// The new items.
        items: Vec<Epc, MAX_ITEMS>,
        /// Their master data (docs/PASSPORT.md), the same for all of them.
        master: Option<Master>,
    },
    /// Measure the item on the fixture now: voltage, SOC, SOH, cycles, temperature.
    Measure {
        /// The item measured.
        items: Vec<Epc, MAX_ITEMS>,
    },
    /// Children put into a parent (cells into a module or pack, packs onto a pallet).
    Pack {
        /// The aggregate.
        parent: Epc,
        /// What went in.
        items: Vec<Epc, MAX_ITEMS>,
    },
    /// Children taken out of a parent.
    Unpack {
        /// The aggregate.
        parent: Epc,
        /// What came out.
        items: Vec<Epc, MAX_ITEMS>,
    },
    /// Items taken out of use.
    Decommission {
        /// The items.
        items: Vec<Epc, MAX_ITEMS>,
    },
}

/// A station's fixed settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StationConfig {
    /// Where the station stands (SGLN), written into every event.
    pub place: Option<Epc>,
}

/// Commands a station holds before it polls.
pub const STATION_QUEUE: usize = 2;

/// The plant station: records what the line tells it, measuring when asked.
pub struct Station {
    config: StationConfig,
    queue: Deque<StationCommand, STATION_QUEUE>,
    /// Measurements not recorded because no sensor answered.
    pub skipped_measurements: u32,
}

impl Station {
    /// A station with nothing to do.
    pub fn new(config: StationConfig) -> Self {
        Self {
            config,
            queue: Deque::new(),
            skipped_measurements: 0,
        }
    }

    /// Queues a command for the next poll.
    pub fn command(&mut self, command: StationCommand) -> Result<(), Busy> {
        self.queue.push_back(command).map_err(|_| Busy)
    }

    /// Commands waiting.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

/// What a measured event carries.
const MEASURED: &[Quantity] = &[
    Quantity::Voltage,
    Quantity::StateOfCharge,
    Quantity::StateOfHealth,
    Quantity::Temperature,
    Quantity::ChargeCycles,
];

impl Policy for Station {
    fn wants(&self, _now_ms: u64) -> Wants {
        match self.queue.front() {
            None => Wants::Nothing,
            Some(StationCommand::Measure { .. }) => Wants::SampleThenStep,
            Some(_) => Wants::Step,
        }
    }

    fn step(&mut self, _now_ms: u64, sample: &Sample) -> Option<EventIntent> {
        loop {
            let mut master = None;
            let (kind, items, parent) = match self.queue.pop_front()? {
                StationCommand::Commission { items, master: m } => {
                    master = m;
                    (Kind::Commissioned, items, None)
                }
                StationCommand::Measure { items } => (Kind::Measured, items, None),
                StationCommand::Pack { parent, items } => (Kind::Packed, items, Some(parent)),
                StationCommand::Unpack { parent, items } => (Kind::Unpacked, items, Some(parent)),
                StationCommand::Decommission { items } => (Kind::Decommissioned, items, None),
            };
            let mut intent = EventIntent::new(kind, items);
            intent.parent = parent;
            intent.place = self.config.place.clone();
            intent.master = master;
            if kind == Kind::Measured {
                intent.readings = sample.readings(MEASURED);
                if intent.readings.is_empty() {
                    // A measured event needs readings, and with every sensor failing there
                    // are none: nothing to record (counted, so the line can repeat it).
                    self.skipped_measurements += 1;
                    continue;
                }
            }
            return Some(intent);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tracker

/// What the people handling a shipment tell its tracker (buttons, NFC, or a gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerCommand {
    /// The seal is on: arm tamper detection.
    Seal,
    /// The shipment leaves: start tracking.
    Depart,
    /// The shipment arrives: stop tracking.
    Arrive,
    /// Custody passes to `party`.
    HandOver {
        /// The receiver (SGLN or PGLN).
        party: Epc,
        /// A document reference (bill of lading).
        doc: Option<String<DOC_MAX>>,
    },
}

/// A tracker's thresholds and reporting intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Report a location at least this often in transit ("every N minutes") …
    pub locate_every_ms: u64,
    /// … or after moving this far ("every M metres"), whichever comes first.
    pub locate_every_m: u32,
    /// Sensor sampling interval.
    pub sample_every_ms: u64,
    /// A temperature above this is an excursion (m°C).
    pub temperature_max_mc: i32,
    /// A temperature below this is an excursion (m°C).
    pub temperature_min_mc: i32,
    /// A peak acceleration above this is a shock excursion (milli-g).
    pub shock_max_mg: u32,
    /// While an excursion lasts, repeat it at most this often.
    pub excursion_repeat_ms: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            locate_every_ms: 15 * 60_000,
            locate_every_m: 5_000,
            sample_every_ms: 10_000,
            // A battery shipment: 15–25 °C allowed, 30 °C and above is an excursion.
            temperature_max_mc: 30_000,
            temperature_min_mc: 0,
            shock_max_mg: 4_000,
            excursion_repeat_ms: 30 * 60_000,
        }
    }
}

/// Where a shipment is in its journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journey {
    /// Not sealed yet.
    Open,
    /// Sealed, not left yet.
    Sealed,
    /// On the way.
    InTransit,
    /// Arrived.
    Arrived,
}

/// Commands a tracker holds before it polls.
pub const TRACKER_QUEUE: usize = 4;

/// The shipment tracker: seal, depart, locations every N minutes or M metres, temperature
/// and shock excursions, seal broken, arrive, hand over.
pub struct Tracker {
    config: TrackerConfig,
    items: Vec<Epc, MAX_ITEMS>,
    queue: Deque<TrackerCommand, TRACKER_QUEUE>,
    journey: Journey,
    /// Tamper detection armed (the seal was closed when sealed) and not yet reported broken.
    armed: bool,
    last_sample_ms: Option<u64>,
    last_located: Option<(u64, Position)>,
    temperature_excursion_ms: Option<u64>,
    shock_excursion_ms: Option<u64>,
}

impl Tracker {
    /// A tracker on the shipment `items` (a container's or pallet's SSCC).
    pub fn new(config: TrackerConfig, items: Vec<Epc, MAX_ITEMS>) -> Self {
        Self {
            config,
            items,
            queue: Deque::new(),
            journey: Journey::Open,
            armed: false,
            last_sample_ms: None,
            last_located: None,
            temperature_excursion_ms: None,
            shock_excursion_ms: None,
        }
    }

    /// Queues a command for the next poll.
    pub fn command(&mut self, command: TrackerCommand) -> Result<(), Busy> {
        self.queue.push_back(command).map_err(|_| Busy)
    }

    /// Where the journey is.
    pub fn journey(&self) -> Journey {
        self.journey
    }

    fn intent(&self, kind: Kind, sample: &Sample, quantities: &[Quantity]) -> EventIntent {
        let mut i = EventIntent::new(kind, self.items.clone());
        i.position = sample.position;
        i.readings = sample.readings(quantities);
        i
    }

    fn command_intent(&mut self, command: TrackerCommand, sample: &Sample) -> EventIntent {
        match command {
            TrackerCommand::Seal => {
                self.journey = Journey::Sealed;
                self.armed = sample.seal_closed == Some(true);
                self.intent(
                    Kind::Sealed,
                    sample,
                    &[Quantity::SealClosed, Quantity::Temperature],
                )
            }
            TrackerCommand::Depart => {
                // The departure's position counts as the first location (see `step`).
                self.journey = Journey::InTransit;
                self.intent(
                    Kind::Departed,
                    sample,
                    &[Quantity::SealClosed, Quantity::Temperature],
                )
            }
            TrackerCommand::Arrive => {
                self.journey = Journey::Arrived;
                self.intent(
                    Kind::Arrived,
                    sample,
                    &[Quantity::SealClosed, Quantity::Temperature],
                )
            }
            TrackerCommand::HandOver { party, doc } => {
                // Custody passes, the seal stays armed: a carrier takes over a sealed
                // container, and a breach in its hands is exactly what customs asks about.
                let mut i = self.intent(Kind::HandedOver, sample, &[Quantity::SealClosed]);
                i.party = Some(party);
                i.doc = doc;
                i
            }
        }
    }
}

impl Policy for Tracker {
    fn wants(&self, now_ms: u64) -> Wants {
        let due = self
            .last_sample_ms
            .is_none_or(|t| now_ms >= t + self.config.sample_every_ms);
        if due {
            Wants::SampleThenStep
        } else if !self.queue.is_empty() {
            Wants::Step
        } else {
            Wants::Nothing
        }
    }

    fn next_due(&self) -> Option<u64> {
        Some(
            self.last_sample_ms
                .map_or(0, |t| t + self.config.sample_every_ms),
        )
    }

    /// The journey (bits 0–1) and whether tamper detection is armed (bit 2): a tracker that
    /// reboots in transit goes on tracking and still reports a seal cut.
    fn saved_state(&self) -> u32 {
        let journey = match self.journey {
            Journey::Open => 0,
            Journey::Sealed => 1,
            Journey::InTransit => 2,
            Journey::Arrived => 3,
        };
        journey | u32::from(self.armed) << 2
    }

    fn restore(&mut self, state: u32) {
        self.journey = match state & 0b11 {
            0 => Journey::Open,
            1 => Journey::Sealed,
            2 => Journey::InTransit,
            _ => Journey::Arrived,
        };
        self.armed = state & 0b100 != 0;
    }

    fn step(&mut self, now_ms: u64, sample: &Sample) -> Option<EventIntent> {
        self.last_sample_ms = Some(now_ms);
        if let Some(command) = self.queue.pop_front() {
            let i = self.command_intent(command, sample);
            if i.kind == Kind::Departed {
                self.last_located = sample.position.map(|p| (now_ms, p));
            }
            return Some(i);
        }
        // Tamper first: it is what customs asks about.
        if self.armed && sample.seal_closed == Some(false) {
            self.armed = false;
            return Some(self.intent(
                Kind::SealBroken,
                sample,
                &[Quantity::SealClosed, Quantity::Temperature, Quantity::Shock],
            ));
        }
        let sealed_or_moving = matches!(self.journey, Journey::Sealed | Journey::InTransit);
        if sealed_or_moving {
            let c = self.config;
            let hot_or_cold = sample
                .temperature_mc
                .is_some_and(|t| t > c.temperature_max_mc || t < c.temperature_min_mc);
            if !hot_or_cold {
                self.temperature_excursion_ms = None;
            } else if self
                .temperature_excursion_ms
                .is_none_or(|t| now_ms >= t + c.excursion_repeat_ms)
            {
                self.temperature_excursion_ms = Some(now_ms);
                return Some(self.intent(Kind::Excursion, sample, &[Quantity::Temperature]));
            }
            let knocked = sample.shock_mg.is_some_and(|g| g > c.shock_max_mg);
            if knocked
                && self
                    .shock_excursion_ms
                    .is_none_or(|t| now_ms >= t + c.excursion_repeat_ms)
            {
                self.shock_excursion_ms = Some(now_ms);
                return Some(self.intent(
                    Kind::Excursion,
                    sample,
                    &[Quantity::Shock, Quantity::Temperature],
                ));
            }
        }
        if self.journey == Journey::InTransit {
            if let Some(here) = sample.position {
                let due = match self.last_located {
                    None => true,
                    Some((at, there)) => {
                        now_ms >= at + self.config.locate_every_ms
                            || distance_m(there, here) >= self.config.locate_every_m
                    }
                };
                if due {
                    self.last_located = Some((now_ms, here));
                    return Some(self.intent(
                        Kind::Located,
                        sample,
                        &[Quantity::Temperature, Quantity::SealClosed],
                    ));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sscc() -> Vec<Epc, MAX_ITEMS> {
        let mut v = Vec::new();
        v.push(Epc::parse("urn:epc:id:sscc:4012345.1234567890").unwrap())
            .unwrap();
        v
    }

    fn at(lat_e7: i32, lon_e7: i32) -> Option<Position> {
        Some(Position { lat_e7, lon_e7 })
    }

    fn calm(position: Option<Position>) -> Sample {
        Sample {
            temperature_mc: Some(20_000),
            shock_mg: Some(1_000),
            seal_closed: Some(true),
            position,
            ..Sample::default()
        }
    }

    fn kinds(t: &mut Tracker, now: u64, s: &Sample) -> std::vec::Vec<Kind> {
        core::iter::from_fn(|| t.step(now, s))
            .map(|i| i.kind)
            .collect()
    }

    #[test]
    fn a_journey() {
        let c = TrackerConfig::default();
        let mut t = Tracker::new(c, sscc());
        let port = at(519_244_000, 44_777_000);
        assert_eq!(t.wants(0), Wants::SampleThenStep);
        assert_eq!(t.next_due(), Some(0));
        assert_eq!(
            kinds(&mut t, 0, &calm(port)),
            [],
            "nothing happens before the seal"
        );
        t.command(TrackerCommand::Seal).unwrap();
        t.command(TrackerCommand::Depart).unwrap();
        let s = calm(port);
        let first = t.step(1_000, &s).unwrap();
        assert_eq!(first.kind, Kind::Sealed);
        assert_eq!(first.readings.get(Quantity::SealClosed), Some(1));
        assert_eq!(first.items, sscc());
        assert_eq!(kinds(&mut t, 1_000, &s), [Kind::Departed]);
        assert_eq!(t.journey(), Journey::InTransit);
        // Not yet due: 10 minutes, 1 km.
        let a_km_north = at(519_333_832, 44_777_000);
        assert_eq!(kinds(&mut t, 600_000, &calm(a_km_north)), []);
        // 15 minutes: due by time.
        assert_eq!(kinds(&mut t, 901_000, &calm(a_km_north)), [Kind::Located]);
        // 5 km further within a minute: due by distance.
        let further = at(519_783_000, 44_777_000);
        assert_eq!(kinds(&mut t, 960_000, &calm(further)), [Kind::Located]);
        // Too warm: one excursion, not repeated until 30 minutes later, and again after it
        // ended and began again.
        let hot = Sample {
            temperature_mc: Some(31_500),
            ..calm(further)
        };
        let e = t.step(970_000, &hot).unwrap();
        assert_eq!(
            (e.kind, e.readings.get(Quantity::Temperature)),
            (Kind::Excursion, Some(31_500))
        );
        assert_eq!(kinds(&mut t, 980_000, &hot), []);
        assert_eq!(
            kinds(&mut t, 970_000 + 1_800_000, &hot),
            [Kind::Excursion, Kind::Located]
        );
        // A drop of the container.
        let knock = Sample {
            shock_mg: Some(9_000),
            ..calm(further)
        };
        let e = t.step(2_800_000, &knock).unwrap();
        assert_eq!(
            (e.kind, e.readings.get(Quantity::Shock)),
            (Kind::Excursion, Some(9_000))
        );
        // The seal is cut: reported once.
        let cut = Sample {
            seal_closed: Some(false),
            ..calm(further)
        };
        let e = t.step(2_810_000, &cut).unwrap();
        assert_eq!(
            (e.kind, e.readings.get(Quantity::SealClosed)),
            (Kind::SealBroken, Some(0))
        );
        assert_eq!(kinds(&mut t, 2_820_000, &cut), []);
        t.command(TrackerCommand::Arrive).unwrap();
        let party = Epc::parse("urn:epc:id:sgln:4012345.00001.0").unwrap();
        t.command(TrackerCommand::HandOver {
            party: party.clone(),
            doc: None,
        })
        .unwrap();
        let got: std::vec::Vec<_> = core::iter::from_fn(|| t.step(2_830_000, &cut)).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, Kind::Arrived);
        assert_eq!(
            (got[1].kind, got[1].party.as_ref()),
            (Kind::HandedOver, Some(&party))
        );
        // Arrived: no more locations.
        assert_eq!(kinds(&mut t, 9_000_000, &calm(port)), []);
    }

    #[test]
    fn the_seal_stays_armed_across_a_handover() {
        let mut t = Tracker::new(TrackerConfig::default(), sscc());
        t.command(TrackerCommand::Seal).unwrap();
        t.command(TrackerCommand::HandOver {
            party: Epc::parse("urn:epc:id:pgln:4012345.00002").unwrap(),
            doc: None,
        })
        .unwrap();
        assert_eq!(
            kinds(&mut t, 0, &calm(None)),
            [Kind::Sealed, Kind::HandedOver]
        );
        let cut = Sample {
            seal_closed: Some(false),
            ..calm(None)
        };
        assert_eq!(kinds(&mut t, 10_000, &cut), [Kind::SealBroken]);
    }

    #[test]
    fn a_reboot_in_transit_remembers_the_journey() {
        let mut t = Tracker::new(TrackerConfig::default(), sscc());
        assert_eq!(t.saved_state(), 0);
        t.command(TrackerCommand::Seal).unwrap();
        t.command(TrackerCommand::Depart).unwrap();
        assert_eq!(
            kinds(&mut t, 0, &calm(None)),
            [Kind::Sealed, Kind::Departed]
        );
        let mut rebooted = Tracker::new(TrackerConfig::default(), sscc());
        rebooted.restore(t.saved_state());
        assert_eq!(rebooted.journey(), Journey::InTransit);
        let cut = Sample {
            seal_closed: Some(false),
            ..calm(at(1, 1))
        };
        assert_eq!(
            kinds(&mut rebooted, 60_000, &cut),
            [Kind::SealBroken, Kind::Located]
        );
    }

    #[test]
    fn a_seal_applied_open_is_not_armed() {
        let mut t = Tracker::new(TrackerConfig::default(), sscc());
        t.command(TrackerCommand::Seal).unwrap();
        let open = Sample {
            seal_closed: Some(false),
            ..calm(None)
        };
        let e = t.step(0, &open).unwrap();
        assert_eq!(
            e.readings.get(Quantity::SealClosed),
            Some(0),
            "the record says it was open"
        );
        assert_eq!(kinds(&mut t, 10_000, &open), []);
    }

    #[test]
    fn station_records_what_the_line_says() {
        let place = Epc::parse("urn:epc:id:sgln:4012345.00001.0").unwrap();
        let mut s = Station::new(StationConfig {
            place: Some(place.clone()),
        });
        let cell = Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").unwrap();
        let mut items = Vec::new();
        items.push(cell).unwrap();
        assert_eq!(s.wants(0), Wants::Nothing);
        s.command(StationCommand::Measure {
            items: items.clone(),
        })
        .unwrap();
        s.command(StationCommand::Commission {
            master: None,
            items: items.clone(),
        })
        .unwrap();
        assert_eq!(
            s.command(StationCommand::Commission {
                master: None,
                items: items.clone()
            }),
            Err(Busy)
        );
        assert_eq!(s.wants(0), Wants::SampleThenStep);
        let sample = Sample {
            voltage_mv: Some(3_712),
            soc_permille: Some(500),
            soh_permille: Some(1_000),
            cycles: Some(1),
            temperature_mc: Some(23_250),
            ..Sample::default()
        };
        let m = s.step(0, &sample).unwrap();
        assert_eq!(m.kind, Kind::Measured);
        assert_eq!(m.readings.len(), 5);
        assert_eq!(m.place, Some(place));
        assert_eq!(s.step(0, &sample).unwrap().kind, Kind::Commissioned);
        assert_eq!(s.step(0, &sample), None);
        // No readings at all: the measurement is skipped, not sent invalid.
        s.command(StationCommand::Measure { items }).unwrap();
        assert_eq!(s.step(0, &Sample::default()), None);
        assert_eq!(s.skipped_measurements, 1);
    }
}
