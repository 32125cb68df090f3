//! The journey each shipment makes, as a plan of timed actions: what the plant station
//! records, what the tracker on the container is told, and what people (customs, the
//! carrier's staff) sign, plus the faults this run injects. Pure: the same seed gives the same
//! plan.

use provenance_event::{Category, Epc, Kind, Master};

use crate::model::{Leg, Motion, Point, Rng, route};

const HOUR: u64 = 3_600_000;
const MINUTE: u64 = 60_000;

/// Who the parties are: organisation names carry their GS1 party (PGLN), which is how the
/// custody rules tie a registered signer to the `party` of a handover.
pub mod parties {
    /// The cell plant; it owns the stations and the trackers.
    pub const PLANT: &str = "Arnstadt Cell Works urn:epc:id:pgln:4012345.00001";
    /// The plant as a GS1 party.
    pub const PLANT_PGLN: &str = "urn:epc:id:pgln:4012345.00001";
    /// The ocean carrier.
    pub const CARRIER: &str = "Blue Sea Lines urn:epc:id:pgln:4012345.00002";
    /// The carrier as a GS1 party.
    pub const CARRIER_PGLN: &str = "urn:epc:id:pgln:4012345.00002";
    /// Customs at the port of entry.
    pub const CUSTOMS: &str = "UK Border Force urn:epc:id:pgln:4012345.00003";
    /// The receiving warehouse.
    pub const WAREHOUSE: &str = "Midlands Battery Warehouse urn:epc:id:pgln:4012345.00004";
    /// The warehouse as a GS1 party.
    pub const WAREHOUSE_PGLN: &str = "urn:epc:id:pgln:4012345.00004";
    /// Where the plant's stations stand.
    pub const PLANT_SGLN: &str = "urn:epc:id:sgln:4012345.00001.0";
    /// The customs inspection area at Felixstowe.
    pub const CUSTOMS_SGLN: &str = "urn:epc:id:sgln:4012345.00003.0";
    /// The warehouse's receiving dock.
    pub const WAREHOUSE_SGLN: &str = "urn:epc:id:sgln:4012345.00004.0";
    /// The names pages show for these places (set through the server's admin API).
    pub const PLACE_NAMES: [(&str, &str); 5] = [
        (PLANT_SGLN, "Arnstadt Cell Works"),
        (CARRIER_PGLN, "Blue Sea Lines"),
        (CUSTOMS_SGLN, "UK Border Force, Felixstowe"),
        (WAREHOUSE_PGLN, "Midlands Battery Warehouse"),
        (WAREHOUSE_SGLN, "Midlands Battery Warehouse, receiving dock"),
    ];
}

/// The simulated cell line's master data: a 5 Ah NMC811 cylindrical cell for EV packs.
pub fn cell_master() -> Master {
    Master {
        category: Some(Category::Ev),
        chemistry: heapless::String::try_from("NMC811").ok(),
        rated_capacity_mah: Some(5_000),
        nominal_voltage_mv: Some(3_630),
        minimum_voltage_mv: Some(2_500),
        maximum_voltage_mv: Some(4_200),
        mass_g: Some(70),
        carbon_footprint_g_per_kwh: Some(61_500),
        carbon_class: Some('B'),
        expected_cycles: Some(1_500),
    }
}

/// A pack of `cells` of those cells in series.
pub fn pack_master(cells: usize) -> Master {
    let cells = u32::try_from(cells.max(1)).unwrap_or(1);
    let cell = cell_master();
    Master {
        nominal_voltage_mv: cell.nominal_voltage_mv.map(|v| v * cells),
        minimum_voltage_mv: cell.minimum_voltage_mv.map(|v| v * cells),
        maximum_voltage_mv: cell.maximum_voltage_mv.map(|v| v * cells),
        mass_g: Some(80 * cells + 2_000),
        ..cell
    }
}

/// What a plant station is told to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationStep {
    /// Items made, with their master data (docs/PASSPORT.md).
    Commission(Vec<Epc>, Option<Master>),
    /// A cell on the fixture, at this state of charge (‰).
    MeasureCell(Epc, u16),
    /// Children into a parent.
    Pack(Epc, Vec<Epc>),
}

/// What a tracker is told (its own events — locations, excursions, a broken seal — it finds
/// by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerStep {
    /// Seal on.
    Seal,
    /// Leaves.
    Depart,
    /// Arrives.
    Arrive,
    /// Custody passes to the carrier, with the bill of lading.
    HandOverToCarrier(String),
}

/// An event people sign (operator keys), submitted through the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorStep {
    /// Which operator signs: customs, or the carrier's staff.
    pub signer: Operator,
    /// What happened.
    pub kind: Kind,
    /// Party receiving custody (handover).
    pub party: Option<&'static str>,
    /// Where.
    pub place: &'static str,
    /// Document reference.
    pub doc: Option<String>,
}

/// The people who sign operator events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// Customs at the port of entry.
    Customs,
    /// The ocean carrier's staff at the destination port.
    Carrier,
}

/// Faults injected into one shipment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// An extra spell without network (besides the sea leg, which has none anyway).
    pub offline: Option<(u64, u64)>,
    /// Power cut in the middle of a flash write at about this time.
    pub reboot_at: Option<u64>,
    /// The seal loop opens at this time (tampering at sea).
    pub seal_break_at: Option<u64>,
    /// The container overheats: from, until, peak °C.
    pub heat: Option<(u64, u64, f64)>,
    /// The container is dropped at this time.
    pub drop_at: Option<u64>,
    /// Customs holds the consignment before clearing it.
    pub hold: bool,
}

/// How many of each fault, as fractions of shipments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRates {
    /// Trackers with an extra offline spell.
    pub offline: f64,
    /// Length of that spell in hours.
    pub offline_hours: f64,
    /// Trackers rebooted mid-write.
    pub reboot: f64,
    /// Containers whose seal is broken at sea.
    pub seal_break: f64,
    /// Containers that overheat at the destination port.
    pub heat: f64,
    /// Containers dropped by a crane.
    pub drop: f64,
    /// Consignments customs holds.
    pub hold: f64,
}

impl Default for FaultRates {
    fn default() -> Self {
        Self {
            offline: 0.1,
            offline_hours: 18.0,
            reboot: 0.05,
            seal_break: 0.02,
            heat: 0.05,
            drop: 0.02,
            hold: 0.1,
        }
    }
}

/// One shipment: cells packed into packs, packs onto one pallet, the pallet into a container
/// with a tracker, carried from the plant to the warehouse.
#[derive(Debug, Clone)]
pub struct Shipment {
    /// Its number in the run.
    pub index: usize,
    /// The cells (SGTIN).
    pub cells: Vec<Epc>,
    /// The packs (SGTIN) and their cells.
    pub packs: Vec<(Epc, Vec<Epc>)>,
    /// The pallet (SSCC).
    pub pallet: Epc,
    /// The container (SSCC) the tracker rides on.
    pub container: Epc,
    /// The station's steps, timed.
    pub station: Vec<(u64, StationStep)>,
    /// The tracker's commands, timed.
    pub tracker: Vec<(u64, TrackerStep)>,
    /// Events people sign, timed.
    pub operators: Vec<(u64, OperatorStep)>,
    /// The legs travelled (road, sea, road).
    pub legs: [Leg; 3],
    /// When the tracker can reach a network: never at sea.
    pub sea: (u64, u64),
    /// Port stays, when the tracker stands still and cranes move it: (from, until).
    pub ports: [(u64, u64); 2],
    /// Injected faults.
    pub faults: Faults,
    /// When the last action is due.
    pub end_ms: u64,
}

impl Shipment {
    /// Where the container is at `t`.
    pub fn position(&self, t: u64) -> Point {
        for (i, leg) in self.legs.iter().enumerate() {
            if t < leg.until_ms || i == 2 {
                return leg.position(t);
            }
        }
        route::PLANT
    }

    /// How it is moving at `t`.
    pub fn motion(&self, t: u64) -> Motion {
        if self
            .faults
            .drop_at
            .is_some_and(|d| t >= d && t < d + 5 * MINUTE)
        {
            return Motion::Drop;
        }
        let near = |x: u64| t + 30 * MINUTE >= x && t < x + 30 * MINUTE;
        if self.ports.iter().any(|&(a, b)| near(a) || near(b)) {
            return Motion::Crane;
        }
        if t >= self.sea.0 && t < self.sea.1 {
            return Motion::Sea;
        }
        if self.legs[0].from_ms <= t && t < self.legs[0].until_ms
            || self.legs[2].from_ms <= t && t < self.legs[2].until_ms
        {
            return Motion::Road;
        }
        Motion::Still
    }

    /// Whether the tracker has a network at `t` (none at sea, none in an injected spell).
    pub fn online(&self, t: u64) -> bool {
        let at_sea = t >= self.sea.0 && t < self.sea.1;
        let spell = self.faults.offline.is_some_and(|(a, b)| t >= a && t < b);
        !at_sea && !spell
    }

    /// Every item of the shipment, for the summary and for looking it up afterwards.
    pub fn items(&self) -> usize {
        self.cells.len() + self.packs.len() + 2
    }
}

fn epc(s: &str) -> Epc {
    // Every URI built here follows the TDS patterns; a failure is a bug in this file.
    Epc::parse(s).unwrap_or_else(|e| panic!("simulator built a bad EPC {s}: {e}"))
}

/// Plans shipment `index` of run `run` starting production at `start_ms`.
pub fn plan(
    run: u32,
    index: usize,
    cells: usize,
    start_ms: u64,
    sea_days: f64,
    faults: &FaultRates,
    rng: &mut Rng,
) -> Shipment {
    let serial = |kind: u32, n: usize| format!("{run}{kind}{index:04}{n:03}");
    let cell_ids: Vec<Epc> = (0..cells.max(1))
        .map(|n| epc(&format!("urn:epc:id:sgtin:4012345.012345.{}", serial(1, n))))
        .collect();
    let per_pack = 4;
    let packs: Vec<(Epc, Vec<Epc>)> = cell_ids
        .chunks(per_pack)
        .enumerate()
        .map(|(n, c)| {
            (
                epc(&format!("urn:epc:id:sgtin:4012345.022345.{}", serial(2, n))),
                c.to_vec(),
            )
        })
        .collect();
    let run3 = run % 1000;
    let pallet = epc(&format!("urn:epc:id:sscc:4012345.1{run3:03}{index:04}01"));
    let container = epc(&format!("urn:epc:id:sscc:4012345.9{run3:03}{index:04}00"));

    // The production line: a step every two minutes.
    let mut t = start_ms;
    let mut station = Vec::new();
    let mut next = |step: StationStep, station: &mut Vec<(u64, StationStep)>| {
        station.push((t, step));
        t += 2 * MINUTE;
    };
    // Each cell commissioned on its own at the end of the line, as its passport wants: the
    // entry that states its public facts then names no other serial, so the public can have
    // it whole (docs/ACCESS.md).
    for c in &cell_ids {
        next(
            StationStep::Commission(vec![c.clone()], Some(cell_master())),
            &mut station,
        );
    }
    for c in &cell_ids {
        // Cells ship at about 30 % charge (the UN 38.3 / IATA practice).
        let soc = rng.range(280.0, 320.0) as u16;
        next(StationStep::MeasureCell(c.clone(), soc), &mut station);
    }
    let pack_ids: Vec<Epc> = packs.iter().map(|(p, _)| p.clone()).collect();
    for p in &pack_ids {
        next(
            StationStep::Commission(vec![p.clone()], Some(pack_master(per_pack))),
            &mut station,
        );
    }
    for (p, c) in &packs {
        next(StationStep::Pack(p.clone(), c.clone()), &mut station);
    }
    for chunk in pack_ids.chunks(32) {
        next(
            StationStep::Pack(pallet.clone(), chunk.to_vec()),
            &mut station,
        );
    }
    next(
        StationStep::Pack(container.clone(), vec![pallet.clone()]),
        &mut station,
    );

    // The journey.
    let sealed = t + 30 * MINUTE;
    let depart_plant = sealed + HOUR;
    let road_hours = rng.range(6.0, 8.0);
    let arrive_port = depart_plant + (road_hours * HOUR as f64) as u64;
    let handover_carrier = arrive_port + 2 * HOUR;
    let depart_port = arrive_port + (rng.range(6.0, 14.0) * HOUR as f64) as u64;
    let arrive_dest = depart_port + (sea_days * 24.0 * HOUR as f64) as u64;
    let inspected = arrive_dest + (rng.range(2.0, 6.0) * HOUR as f64) as u64;
    let hold = rng.chance(faults.hold);
    let cleared = inspected + if hold { 20 * HOUR } else { 3 * HOUR };
    let handover_warehouse = cleared + HOUR;
    let depart_dest = handover_warehouse + 30 * MINUTE;
    let arrive_warehouse = depart_dest + (rng.range(3.5, 5.0) * HOUR as f64) as u64;
    let bill = format!("BL-{run}-{index:04}");
    let tracker = vec![
        (sealed, TrackerStep::Seal),
        (depart_plant, TrackerStep::Depart),
        (arrive_port, TrackerStep::Arrive),
        (
            handover_carrier,
            TrackerStep::HandOverToCarrier(bill.clone()),
        ),
        (depart_port, TrackerStep::Depart),
        (arrive_dest, TrackerStep::Arrive),
        (depart_dest, TrackerStep::Depart),
        (arrive_warehouse, TrackerStep::Arrive),
    ];
    let customs = |kind, doc: Option<String>| OperatorStep {
        signer: Operator::Customs,
        kind,
        party: None,
        place: parties::CUSTOMS_SGLN,
        doc,
    };
    let declaration = format!("GB-MRN-{run}{index:06}");
    let mut operators = vec![(
        inspected,
        customs(Kind::Inspected, Some(declaration.clone())),
    )];
    if hold {
        operators.push((
            inspected + HOUR,
            customs(Kind::Held, Some(declaration.clone())),
        ));
    }
    operators.push((cleared, customs(Kind::Cleared, Some(declaration))));
    operators.push((
        handover_warehouse,
        OperatorStep {
            signer: Operator::Carrier,
            kind: Kind::HandedOver,
            party: Some(parties::WAREHOUSE_PGLN),
            place: parties::CUSTOMS_SGLN,
            doc: Some(bill),
        },
    ));

    let legs = [
        Leg {
            path: route::ROAD_TO_PORT,
            from_ms: depart_plant,
            until_ms: arrive_port,
        },
        Leg {
            path: route::SEA,
            from_ms: depart_port,
            until_ms: arrive_dest,
        },
        Leg {
            path: route::ROAD_TO_WAREHOUSE,
            from_ms: depart_dest,
            until_ms: arrive_warehouse,
        },
    ];
    let mut f = Faults {
        hold,
        ..Faults::default()
    };
    if rng.chance(faults.offline) {
        // On the road or waiting at the port: a dead zone or a flat modem.
        let from = depart_plant + (rng.range(0.0, 6.0) * HOUR as f64) as u64;
        f.offline = Some((from, from + (faults.offline_hours * HOUR as f64) as u64));
    }
    if rng.chance(faults.reboot) {
        f.reboot_at = Some(rng.range(sealed as f64, arrive_warehouse as f64) as u64);
    }
    if rng.chance(faults.seal_break) {
        f.seal_break_at = Some(rng.range(depart_port as f64, arrive_dest as f64) as u64);
    }
    if rng.chance(faults.heat) {
        // The hold's ventilation fails for the last half day at sea: recorded offline, sent
        // from flash after arrival.
        f.heat = Some((arrive_dest - 12 * HOUR, arrive_dest - 2 * HOUR, 41.0));
    }
    if rng.chance(faults.drop) {
        // Dropped while being loaded aboard.
        f.drop_at = Some(depart_port + 10 * MINUTE);
    }
    Shipment {
        index,
        cells: cell_ids,
        packs,
        pallet,
        container,
        station,
        tracker,
        operators,
        legs,
        sea: (depart_port, arrive_dest),
        ports: [(arrive_port, depart_port), (arrive_dest, depart_dest)],
        faults: f,
        end_ms: arrive_warehouse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_a_whole_journey_in_order() {
        let mut rng = Rng::new(7);
        let s = plan(123, 4, 10, 1_000_000, 2.0, &FaultRates::default(), &mut rng);
        assert_eq!(s.cells.len(), 10);
        assert_eq!(s.packs.len(), 3, "packs of four: 4 + 4 + 2");
        assert_eq!(s.items(), 15);
        // Production before sealing, sealing before departure, and so on.
        let last_station = s.station.last().expect("steps").0;
        assert!(last_station < s.tracker[0].0);
        assert!(s.tracker.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(s.operators.windows(2).all(|w| w[0].0 < w[1].0));
        let kinds: Vec<Kind> = s.operators.iter().map(|o| o.1.kind).collect();
        assert_eq!(kinds.first(), Some(&Kind::Inspected));
        assert!(kinds.contains(&Kind::Cleared));
        // Customs acts after arrival at the destination port, the warehouse handover after
        // clearance.
        assert!(s.operators[0].0 > s.sea.1);
        // No network at sea.
        assert!(!s.online((s.sea.0 + s.sea.1) / 2));
        assert!(s.online(s.sea.1 + 1));
        // The container ends at the warehouse.
        let end = s.position(s.end_ms + 1);
        assert!((end.lat - 52.4068).abs() < 1e-6);
    }

    #[test]
    fn every_epc_is_valid_and_unique() {
        let mut rng = Rng::new(1);
        let mut seen = std::collections::HashSet::new();
        for i in 0..50 {
            let s = plan(999, i, 33, 0, 1.0, &FaultRates::default(), &mut rng);
            for e in s.cells.iter().chain(s.packs.iter().map(|p| &p.0)) {
                assert!(seen.insert(e.to_string()), "{e} twice");
            }
            assert!(seen.insert(s.pallet.to_string()));
            assert!(seen.insert(s.container.to_string()));
        }
    }
}
