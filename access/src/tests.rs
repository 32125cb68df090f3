use provenance_custody::rules::{ChainStatus, Signer, Window};
use provenance_event::Quantity;

use super::*;

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
const PLANT: &str = "Acme Cells urn:epc:id:pgln:4012345.00001";
const CARRIER: &str = "Blue Sea Lines urn:epc:id:pgln:4012345.00002";
const RECYCLER: &str = "Second Life Recycling urn:epc:id:pgln:4012345.00009";

fn ev(index: u64, kind: Kind, org: &str) -> TraceEvent {
    TraceEvent {
        index,
        signer: Signer {
            id: format!("dev-{index}"),
            role: Some("station".into()),
            org: Some(org.into()),
            registered_at: Some(0),
            revoked_at: None,
        },
        seq: index,
        time_ms: 1_763_000_000_000 + index as i64 * 60_000,
        kind,
        items: vec![CELL.into(), "urn:epc:id:sgtin:4012345.012345.1002".into()],
        parent: None,
        position: Some((519_000_000, 44_000_000)),
        place: Some("urn:epc:id:sgln:4012345.00001.0".into()),
        readings: vec![(Quantity::Voltage, 3_700)],
        party: None,
        doc: Some("BOL-1".into()),
        dropped: None,
        master: None,
        inherited: None,
        chain: ChainStatus::Linked,
    }
}

fn history() -> Vec<TraceEvent> {
    let mut handover = ev(3, Kind::HandedOver, PLANT);
    handover.party = Some("urn:epc:id:pgln:4012345.00002".into());
    let mut carried = ev(4, Kind::Located, CARRIER);
    carried.inherited = Some(Window {
        container: "urn:epc:id:sscc:4012345.0000000017".into(),
        from_ms: 0,
        until_ms: None,
        via: vec![],
    });
    vec![
        ev(1, Kind::Commissioned, PLANT),
        ev(2, Kind::Measured, PLANT),
        handover,
        carried,
    ]
}

fn reader(tier: Tier, org: Option<&str>, shared: &[&str]) -> Reader {
    Reader {
        tier,
        org: org.map(str::to_string),
        shared: shared.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn an_authority_sees_everything() {
    let r = reader(Tier::Authority, Some("Customs"), &[]);
    assert_eq!(item_access(&r, CELL, &history()), ItemAccess::Full);
}

#[test]
fn a_partner_sees_the_items_it_signed_for_received_or_was_shared() {
    let h = history();
    // The plant signed events about the cell.
    assert_eq!(
        item_access(&reader(Tier::Partner, Some(PLANT), &[]), CELL, &h),
        ItemAccess::Full
    );
    // The carrier received custody (a handover to its PGLN).
    let mut no_signing = h.clone();
    no_signing.truncate(3);
    assert_eq!(
        item_access(
            &reader(Tier::Partner, Some(CARRIER), &[]),
            CELL,
            &no_signing
        ),
        ItemAccess::Full
    );
    // A recycler, until the operator shares the product with it.
    assert_eq!(
        item_access(&reader(Tier::Partner, Some(RECYCLER), &[]), CELL, &h),
        ItemAccess::Public
    );
    let shared = reader(
        Tier::Partner,
        Some(RECYCLER),
        &["urn:epc:id:sgtin:4012345.012345."],
    );
    assert_eq!(item_access(&shared, CELL, &h), ItemAccess::Full);
    assert_eq!(
        item_access(&shared, "urn:epc:id:sgtin:4012345.099999.1", &h),
        ItemAccess::Public
    );
}

#[test]
fn an_organisation_name_without_its_gln_matches_only_itself() {
    // "Blue Sea" is not "Blue Sea Lines …", and a name naming no GLN matches no party.
    let h = history();
    assert_eq!(
        item_access(&reader(Tier::Partner, Some("Blue Sea"), &[]), CELL, &h),
        ItemAccess::Public
    );
}

#[test]
fn the_public_sees_the_making_and_nothing_of_the_journey() {
    let h = history();
    let public = reader(Tier::Public, None, &[]);
    let access = item_access(&public, CELL, &h);
    assert_eq!(access, ItemAccess::Public);
    let seen: Vec<(u64, Visibility)> = h.iter().map(|e| (e.index, visibility(access, e))).collect();
    assert_eq!(
        seen,
        [
            (1, Visibility::Public),
            (2, Visibility::Hidden),
            (3, Visibility::Hidden),
            (4, Visibility::Hidden)
        ]
    );
    let made = redact(&h[0], Visibility::Public).expect("shown");
    assert_eq!(made.position, None);
    assert_eq!(made.doc, None);
    assert!(
        made.items.is_empty(),
        "not which other items were made with it"
    );
    assert_eq!(made.place, h[0].place, "where it was made is public");
    assert_eq!(made.readings, h[0].readings, "its rated values are public");
    assert_eq!(redact(&h[1], Visibility::Hidden), None);
}

#[test]
fn grants_are_checked() {
    assert_eq!(Tier::parse("partner"), Ok(Tier::Partner));
    assert!(Tier::parse("admin").is_err());
    assert!(check_prefix("urn:epc:id:sgtin:4012345.").is_ok());
    assert!(check_prefix("urn:epc:id:sgtin:").is_err());
    assert!(check_prefix("urn:epc:id:sgln:4012345.").is_err());
    assert!(check_prefix("anything").is_err());
    assert!(check_org(" ").is_err());
    assert_eq!(check_org(" Recycler "), Ok("Recycler"));
}

#[test]
fn every_route_and_method_has_one_rule() {
    let mut seen = std::collections::BTreeSet::new();
    for (m, p, _) in routes::HTTP {
        assert!(seen.insert((*m, *p)), "{m} {p} twice");
        assert!(routes::http(m, p).is_some());
    }
    assert_eq!(
        routes::http("HEAD", "/api/v1/checkpoint"),
        Some(routes::Rule::Open)
    );
    assert_eq!(
        routes::http("GET", "/api/v1/secret"),
        None,
        "unknown routes have no rule"
    );
    assert_eq!(
        routes::http("GET", "/api/v1/log/entries"),
        Some(routes::Rule::AtLeast(Tier::Authority))
    );
    let mut seen = std::collections::BTreeSet::new();
    for (p, _) in routes::GRPC {
        assert!(seen.insert(*p), "{p} twice");
    }
}

#[test]
fn a_public_reader_gets_an_entry_whole_only_when_it_states_one_items_public_facts() {
    let item = "urn:epc:id:sgtin:4012345.012345.1001";
    let mut made = ev(
        3,
        Kind::Commissioned,
        "Acme Cells urn:epc:id:pgln:4012345.00001",
    );
    made.items = vec![item.into()];
    made.position = None;
    made.doc = None;
    assert!(crate::entry_public(item, &made));
    let mut with_doc = made.clone();
    with_doc.doc = Some("PO-4711".into());
    assert!(!crate::entry_public(item, &with_doc), "a business document");
    let mut ended = made.clone();
    ended.kind = Kind::Decommissioned;
    assert!(
        !crate::entry_public(item, &ended),
        "its condition at the end of life"
    );
    ended.readings.clear();
    assert!(crate::entry_public(item, &ended));
    let mut batch = made.clone();
    batch
        .items
        .push("urn:epc:id:sgtin:4012345.012345.1002".into());
    assert!(!crate::entry_public(item, &batch), "names the batch");
    let mut other = made.clone();
    other.items = vec!["urn:epc:id:sgtin:4012345.012345.1002".into()];
    assert!(!crate::entry_public(item, &other));
    let mut moved = made.clone();
    moved.kind = Kind::Arrived;
    assert!(!crate::entry_public(item, &moved), "a journey's event");
    let mut placed = made.clone();
    placed.position = Some((1, 1));
    assert!(!crate::entry_public(item, &placed));
}
