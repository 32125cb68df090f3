use provenance_event::{Category, Kind, Master, Quantity};

use super::*;
use crate::rules::{ChainStatus, Limits, Signer, Window, assess};

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
const CONTAINER: &str = "urn:epc:id:sscc:4012345.0000000017";
const PLANT: &str = "urn:epc:id:sgln:4012345.00001.0";

fn signer(id: &str, org: &str) -> Signer {
    Signer {
        id: id.into(),
        role: Some("station".into()),
        org: Some(org.into()),
        registered_at: Some(0),
        revoked_at: None,
    }
}

fn plant() -> Signer {
    signer("station-1", "Acme Cells urn:epc:id:pgln:4012345.00001")
}

fn carrier() -> Signer {
    signer("tracker-7", "Blue Sea Lines urn:epc:id:pgln:4012345.00002")
}

fn ev(index: u64, minutes: i64, kind: Kind, by: Signer) -> TraceEvent {
    TraceEvent {
        index,
        signer: by,
        seq: index,
        time_ms: 1_763_000_000_000 + minutes * 60_000,
        kind,
        items: vec![CELL.into()],
        parent: None,
        position: None,
        place: None,
        readings: vec![],
        party: None,
        doc: None,
        dropped: None,
        master: None,
        inherited: None,
        chain: ChainStatus::Linked,
    }
}

fn master() -> Master {
    Master {
        category: Some(Category::Ev),
        chemistry: Some("NMC811".try_into().unwrap()),
        rated_capacity_mah: Some(5_000),
        nominal_voltage_mv: Some(3_600),
        carbon_footprint_g_per_kwh: Some(61_500),
        carbon_class: Some('B'),
        ..Master::default()
    }
}

/// Made at the plant with master data, measured twice, shipped in a container that overheats.
fn journey() -> Vec<TraceEvent> {
    let mut made = ev(3, 0, Kind::Commissioned, plant());
    made.place = Some(PLANT.into());
    made.master = Some(master());
    let mut m1 = ev(5, 10, Kind::Measured, plant());
    m1.readings = vec![
        (Quantity::StateOfHealth, 1_000),
        (Quantity::ChargeCycles, 1),
    ];
    let mut m2 = ev(9, 20, Kind::Measured, plant());
    m2.readings = vec![
        (Quantity::StateOfHealth, 995),
        (Quantity::StateOfCharge, 300),
    ];
    let window = Window {
        container: CONTAINER.into(),
        from_ms: 1_763_000_000_000,
        until_ms: None,
        via: vec![CONTAINER.into()],
    };
    let mut hot = ev(12, 300, Kind::Excursion, carrier());
    hot.items = vec![CONTAINER.into()];
    hot.readings = vec![(Quantity::Temperature, 61_000)];
    hot.inherited = Some(window.clone());
    // The container's own sensor says nothing about the cell's health.
    let mut container_soh = ev(13, 310, Kind::Measured, carrier());
    container_soh.items = vec![CONTAINER.into()];
    container_soh.readings = vec![(Quantity::StateOfHealth, 10)];
    container_soh.inherited = Some(window);
    vec![made, m1, m2, hot, container_soh]
}

fn of(events: &[TraceEvent], restricted: bool) -> Passport {
    let report = assess(CELL, events, &Limits::default());
    passport(CELL, events, (!restricted).then_some(&report))
}

#[test]
fn static_fields_come_from_the_commissioning_and_dynamic_ones_from_the_newest_measurement() {
    let p = of(&journey(), false);
    assert_eq!(p.manufacturing_date.as_ref().map(|d| d.index), Some(3));
    assert_eq!(p.manufacturing_place.unwrap().value, PLANT);
    assert!(p.manufacturer.unwrap().value.starts_with("Acme Cells"));
    assert_eq!(
        p.master.as_ref().map(|m| (m.index, m.value.clone())),
        Some((3, master()))
    );
    assert_eq!(p.status.map(|s| s.value), Some(BatteryStatus::Original));
    // Newest SoH: index 9 (995 ‰), not the container's 10 ‰ at index 13.
    let soh = p.state_of_health.unwrap();
    assert_eq!((soh.value, soh.index), (995, 9));
    // Cycles only at index 5: the newest event *stating* them.
    assert_eq!(p.charge_cycles.map(|c| (c.value, c.index)), Some((1, 5)));
    assert_eq!(p.negative_events.len(), 1, "{:?}", p.negative_events);
    assert_eq!(p.negative_events[0].indexes.first(), Some(&12));
    assert!(
        p.negative_events[0].what.contains("61.0"),
        "{}",
        p.negative_events[0].what
    );
}

#[test]
fn a_restricted_passport_withholds_the_dynamic_fields() {
    let p = of(&journey(), true);
    assert!(p.master.is_some() && p.manufacturer.is_some());
    assert!(p.state_of_health.is_none() && p.charge_cycles.is_none());
    assert!(p.negative_events.is_empty() && p.custody.is_empty());
    let json = battery_pass(&p, "https://id.example/01/x/21/1001", |i| format!("/p/{i}"));
    assert_eq!(json["withheld"][0], "/performance/batteryCondition");
    assert!(json.get("custodyHistory").is_none());
    assert!(
        json["performance"]["batteryCondition"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn decommissioning_makes_it_waste() {
    let mut t = journey();
    t.push(ev(20, 900, Kind::Decommissioned, plant()));
    let p = of(&t, false);
    let s = p.status.unwrap();
    assert_eq!((s.value, s.index), (BatteryStatus::Waste, 20));
}

#[test]
fn the_export_uses_the_battery_pass_names_and_units_and_proves_each_field() {
    let p = of(&journey(), false);
    let j = battery_pass(&p, "https://id.example/01/04012345123456/21/1001", |i| {
        format!("/api/v1/proofs/inclusion?index={i}")
    });
    let g = &j["generalProductInformation"];
    assert_eq!(g["productIdentifier"], CELL);
    assert_eq!(g["batteryCategory"], "ev");
    assert_eq!(g["manufacturerInformation"]["contactName"], "Acme Cells");
    assert_eq!(
        g["manufacturerInformation"]["identifier"][0],
        "urn:epc:id:pgln:4012345.00001"
    );
    assert_eq!(
        j["materialComposition"]["batteryChemistry"]["shortName"],
        "NMC811"
    );
    assert_eq!(j["carbonFootprint"]["batteryCarbonFootprint"], 61.5);
    assert_eq!(j["carbonFootprint"]["carbonFootprintPerformanceClass"], "B");
    let tech = &j["performance"]["batteryTechnicalProperties"];
    assert_eq!(tech["ratedCapacity"], 5.0);
    assert_eq!(tech["nominalVoltage"], 3.6);
    let cond = &j["performance"]["batteryCondition"];
    assert_eq!(cond["stateOfHealth"], 99.5);
    assert_eq!(cond["numberOfFullCycles"], 1);
    assert_eq!(cond["negativeEvents"][0]["logIndexes"][0], 12);
    // Every field present has its entry, and every entry is one the trace holds.
    let ev = j["evidence"].as_object().unwrap();
    for pointer in [
        "/generalProductInformation/manufacturingDate",
        "/materialComposition/batteryChemistry",
        "/performance/batteryCondition/stateOfHealth",
        "/performance/batteryCondition/negativeEvents/0",
    ] {
        assert!(j.pointer(pointer).is_some(), "{pointer}");
        let idx = ev[pointer]["logIndex"].as_u64().unwrap();
        assert!(journey().iter().any(|e| e.index == idx));
        assert_eq!(
            ev[pointer]["inclusionProof"],
            format!("/api/v1/proofs/inclusion?index={idx}")
        );
    }
    assert_eq!(
        ev["/performance/batteryCondition/stateOfHealth"]["logIndex"],
        9
    );
}
