//! What a person deciding about an item reads first, derived from the same trace the rules
//! judge: where the item stands now ([`Status`]), what customs did in order
//! ([`CustomsStep`]), the legs of its journey ([`Leg`]) and its excursions merged into
//! episodes ([`Episode`]).
//!
//! One derivation, so that no two lines of a page can contradict each other: the status is
//! computed from the latest events in one pass (a customs hold outranks the physical holder,
//! a clearance ends a hold, a departure after a clearance puts the item in transit again),
//! and the pages, the JSON trace and the offline verifier print this one value.

use std::collections::BTreeSet;

use provenance_event::{Kind, Quantity};
use serde::{Deserialize, Serialize};

use crate::rules::{CustodyPeriod, Limits, TraceEvent, distance_km};

/// Where an item stands after its latest events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// No event yet.
    Unknown,
    /// Made or packed, not yet moved.
    AtOrigin,
    /// Departed and not yet arrived.
    InTransit,
    /// Arrived at a place, not yet handed on.
    Arrived,
    /// Held by customs, not released.
    HeldByCustoms,
    /// Released by customs, and not moved since.
    Cleared,
    /// Handed over at the end of a leg (after an arrival), and not moved since.
    Delivered,
    /// Taken out of service.
    Decommissioned,
}

impl Stage {
    /// Plain words, lower case.
    pub fn words(self) -> &'static str {
        match self {
            Stage::Unknown => "no events yet",
            Stage::AtOrigin => "at its origin",
            Stage::InTransit => "in transit",
            Stage::Arrived => "arrived",
            Stage::HeldByCustoms => "held by customs",
            Stage::Cleared => "cleared by customs",
            Stage::Delivered => "delivered",
            Stage::Decommissioned => "out of service",
        }
    }
}

/// The item's status: one stage, since when, by which event, and who holds it physically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Where it stands.
    pub stage: Stage,
    /// The event that put it there (log index).
    pub index: Option<u64>,
    /// Since when (device time, Unix ms).
    pub since_ms: Option<i64>,
    /// Who holds it physically (the custody holder, as the rules name it).
    pub holder: Option<String>,
    /// The place of the event that set the stage (SGLN URI), when it names one.
    pub place: Option<String>,
}

/// One customs act (inspection, hold, release), in the trace's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomsStep {
    /// `inspected`, `held` or `cleared` (SPEC §3's names).
    pub kind: String,
    /// Log index.
    pub index: u64,
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// The signer's organisation (or ID).
    pub by: String,
}

/// One leg of the journey: a departure and the arrival that ends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    /// Log index of the departure.
    pub departed: u64,
    /// Log index of the arrival; `None` while still under way.
    pub arrived: Option<u64>,
    /// Departure time, Unix ms.
    pub from_ms: i64,
    /// Arrival time (or the last event of the leg while under way), Unix ms.
    pub until_ms: i64,
    /// Where it left (SGLN URI), when the departure names a place.
    pub from_place: Option<String>,
    /// Where it arrived (SGLN URI), when the arrival names a place.
    pub to_place: Option<String>,
    /// Distance along the GNSS fixes of the leg, km.
    pub km: f64,
    /// GNSS fixes in the leg.
    pub fixes: usize,
    /// Events of the leg, departure and arrival included.
    pub events: usize,
    /// Who held the item when it departed.
    pub holder: Option<String>,
}

/// A run of readings outside the limits (or reported as an excursion by a device) merged into
/// one episode: what a person needs to judge it, instead of one line per reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// The quantity (`temperature`, `shock`, `humidity`); for device-reported excursions
    /// within the limits, the quantity of its peak (`temperature` when it carries one).
    pub quantity: String,
    /// Whether a reading crossed the profile's limits (else: reported by the device only).
    pub crossed: bool,
    /// The limit crossed (the quantity's unit), when `crossed`.
    pub limit: Option<i64>,
    /// The most extreme reading of the quantity in the episode (its unit).
    pub peak: Option<i64>,
    /// The unit of `peak` and `limit`.
    pub unit: String,
    /// Log index of the peak reading.
    pub peak_index: Option<u64>,
    /// First reading of the episode, Unix ms.
    pub from_ms: i64,
    /// The first reading back within limits, if one came.
    pub back_ms: Option<i64>,
    /// The last reading of the episode, Unix ms.
    pub last_ms: i64,
    /// Every event of the episode (log indexes, trace order).
    pub indexes: Vec<u64>,
    /// Who reported it (signer IDs).
    pub reporters: Vec<String>,
    /// Who held the item when it began.
    pub holder: Option<String>,
}

impl Episode {
    /// How long it lasted: until the reading back within limits, or (none came) the last
    /// reading of the episode.
    pub fn duration_ms(&self) -> i64 {
        self.back_ms
            .unwrap_or(self.last_ms)
            .saturating_sub(self.from_ms)
    }
}

/// The organisation name without the GS1 party URI the registry appends to it.
pub fn short_name(org: &str) -> &str {
    match org.find(" urn:epc:") {
        Some(i) => org[..i].trim_end(),
        None => org,
    }
}

/// Who held the item at time `t`.
fn holder_at(custody: &[CustodyPeriod], t: i64) -> Option<String> {
    custody
        .iter()
        .rev()
        .find(|p| p.from_ms <= t)
        .or(custody.first())
        .map(|p| short_name(&p.holder).to_string())
}

fn signer_org(e: &TraceEvent) -> String {
    e.signer
        .org
        .as_deref()
        .map_or_else(|| e.signer.id.clone(), |o| short_name(o).to_string())
}

/// The status after `events` (trace order), with `custody` from the rules.
pub fn status(events: &[TraceEvent], custody: &[CustodyPeriod]) -> Status {
    let mut s = Status {
        stage: Stage::Unknown,
        index: None,
        since_ms: None,
        holder: custody.last().map(|p| short_name(&p.holder).to_string()),
        place: None,
    };
    let set = |s: &mut Status, stage: Stage, e: &TraceEvent| {
        s.stage = stage;
        s.index = Some(e.index);
        s.since_ms = Some(e.time_ms);
        s.place = e.place.clone();
    };
    for e in events {
        let next = match (e.kind, s.stage) {
            // Out of service is final; a hold lasts until a release, whatever moves.
            (_, Stage::Decommissioned) => None,
            (Kind::Decommissioned, _) => Some(Stage::Decommissioned),
            (Kind::Held, _) => Some(Stage::HeldByCustoms),
            (Kind::Cleared, _) => Some(Stage::Cleared),
            (_, Stage::HeldByCustoms) => None,
            (Kind::Departed, _) => Some(Stage::InTransit),
            (Kind::Arrived, _) => Some(Stage::Arrived),
            (Kind::HandedOver, Stage::Arrived | Stage::Cleared | Stage::Delivered) => {
                Some(Stage::Delivered)
            }
            (_, Stage::Unknown) => Some(Stage::AtOrigin),
            _ => None,
        };
        if let Some(stage) = next {
            set(&mut s, stage, e);
        }
    }
    s
}

/// Every inspection, hold and release, in trace order.
pub fn customs_steps(events: &[TraceEvent]) -> Vec<CustomsStep> {
    events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Inspected | Kind::Held | Kind::Cleared))
        .map(|e| CustomsStep {
            kind: e.kind.name().to_string(),
            index: e.index,
            time_ms: e.time_ms,
            by: signer_org(e),
        })
        .collect()
}

/// The legs: each departure up to the next arrival. A second departure while under way (a
/// truck and the container it carries both report one) continues the leg; an arrival while
/// not under way starts none.
pub fn legs(events: &[TraceEvent], custody: &[CustodyPeriod]) -> Vec<Leg> {
    let mut legs: Vec<Leg> = Vec::new();
    let mut open = false;
    let mut last_fix: Option<(i32, i32)> = None;
    // The last named place before a departure (a tracker reports coordinates only; the plant
    // station that packed the goods names its site) is where the leg began.
    let mut last_place: Option<&String> = None;
    // A leg whose arrival named no place ends at the next place named after it.
    let mut unnamed_end: Option<usize> = None;
    for e in events {
        if let Some(p) = &e.place {
            if let Some(i) = unnamed_end.take() {
                if let Some(leg) = legs.get_mut(i) {
                    leg.to_place = Some(p.clone());
                }
            }
            if !open {
                last_place = Some(p);
            }
        }
        if e.kind == Kind::Departed {
            unnamed_end = None;
        }
        if !open && e.kind == Kind::Departed {
            open = true;
            last_fix = None;
            legs.push(Leg {
                departed: e.index,
                arrived: None,
                from_ms: e.time_ms,
                until_ms: e.time_ms,
                from_place: e.place.clone().or_else(|| last_place.cloned()),
                to_place: None,
                km: 0.0,
                fixes: 0,
                events: 0,
                holder: holder_at(custody, e.time_ms),
            });
        }
        if !open {
            continue;
        }
        let Some(leg) = legs.last_mut() else {
            continue;
        };
        leg.events += 1;
        leg.until_ms = e.time_ms;
        if let Some(p) = e.position {
            leg.fixes += 1;
            if let Some(q) = last_fix {
                leg.km += distance_km(q, p);
            }
            last_fix = Some(p);
        }
        if e.kind == Kind::Arrived {
            leg.arrived = Some(e.index);
            leg.to_place = e.place.clone();
            if leg.to_place.is_none() {
                unnamed_end = Some(legs.len() - 1);
            }
            open = false;
            last_place = None;
        }
    }
    legs
}

/// Which limit a reading crosses, if any.
pub fn crossed(q: Quantity, v: i64, limits: &Limits) -> Option<i64> {
    match q {
        Quantity::Temperature if v < limits.temperature_min_mc => Some(limits.temperature_min_mc),
        Quantity::Temperature if v > limits.temperature_max_mc => Some(limits.temperature_max_mc),
        Quantity::Shock if v > limits.shock_max_mg => Some(limits.shock_max_mg),
        Quantity::Humidity => limits.humidity_max_permille.filter(|m| v > *m),
        _ => None,
    }
}

const JUDGED: [Quantity; 3] = [Quantity::Temperature, Quantity::Shock, Quantity::Humidity];

fn is_crossing(e: &TraceEvent, limits: &Limits) -> bool {
    e.readings
        .iter()
        .any(|(q, v)| crossed(*q, *v, limits).is_some())
}

/// How far a reading is past its limit, to pick an episode's peak (the most extreme).
fn extremity(q: Quantity, v: i64, limits: &Limits) -> i64 {
    match q {
        Quantity::Temperature if v < limits.temperature_min_mc => limits.temperature_min_mc - v,
        Quantity::Temperature => v.saturating_sub(limits.temperature_max_mc),
        _ => v,
    }
}

fn open_episode(e: &TraceEvent, q: Quantity, crossed: bool, custody: &[CustodyPeriod]) -> Episode {
    Episode {
        quantity: q.name().to_string(),
        crossed,
        limit: None,
        peak: None,
        unit: q.unit().to_string(),
        peak_index: None,
        from_ms: e.time_ms,
        back_ms: None,
        last_ms: e.time_ms,
        indexes: Vec::new(),
        reporters: Vec::new(),
        holder: holder_at(custody, e.time_ms),
    }
}

fn add(ep: &mut Episode, e: &TraceEvent, q: Quantity, limits: &Limits) {
    ep.last_ms = e.time_ms;
    if ep.indexes.last() != Some(&e.index) {
        ep.indexes.push(e.index);
    }
    if !ep.reporters.contains(&e.signer.id) {
        ep.reporters.push(e.signer.id.clone());
    }
    let Some(v) = reading(e, q) else {
        return;
    };
    let more = ep
        .peak
        .is_none_or(|p| extremity(q, v, limits) > extremity(q, p, limits));
    if more {
        ep.peak = Some(v);
        ep.peak_index = Some(e.index);
    }
    if let Some(l) = crossed(q, v, limits) {
        ep.limit = Some(l);
    }
}

/// The excursions of a trace as episodes, in the order they began. A reading outside the
/// profile's limits opens (or continues) an episode of its quantity, which a reading of that
/// quantity back within the limits ends. A device's own `excursion` report whose readings are
/// within the limits opens a reported episode, which ends when one of its reporters sends an
/// ordinary event with readings.
pub fn episodes(events: &[TraceEvent], limits: &Limits, custody: &[CustodyPeriod]) -> Vec<Episode> {
    let mut done: Vec<Episode> = Vec::new();
    let mut hard: [Option<Episode>; 3] = [None, None, None];
    let mut reported: Option<Episode> = None;
    let mut mildest: Option<i64> = None;
    for e in events {
        for (slot, q) in hard.iter_mut().zip(JUDGED) {
            let Some(v) = reading(e, q) else {
                continue;
            };
            if crossed(q, v, limits).is_some() {
                let ep = slot.get_or_insert_with(|| open_episode(e, q, true, custody));
                add(ep, e, q, limits);
            } else if let Some(mut ep) = slot.take() {
                ep.back_ms = Some(e.time_ms);
                done.push(ep);
            }
        }
        let crossing = is_crossing(e, limits);
        if crossing {
            continue;
        }
        if e.kind == Kind::Excursion {
            let q = JUDGED
                .into_iter()
                .find(|q| e.readings.iter().any(|(k, _)| k == q))
                .unwrap_or(Quantity::Temperature);
            let ep = reported.get_or_insert_with(|| open_episode(e, q, false, custody));
            let q = quantity_of(ep).unwrap_or(q);
            if let Some(v) = reading(e, q) {
                // The mildest value its device called an excursion: its own threshold, as
                // near as the log can tell.
                mildest = Some(match mildest {
                    Some(m) if hot(q, v, limits) => m.min(v),
                    Some(m) => m.max(v),
                    None => v,
                });
            }
            add(ep, e, q, limits);
            continue;
        }
        // An ordinary event from a reporter: still as far out as what it reported continues
        // the episode (a position report at 41 °C between two excursion reports at 41 °C);
        // a reading back inside ends it.
        let Some(ep) = reported
            .as_mut()
            .filter(|ep| ep.reporters.contains(&e.signer.id))
        else {
            continue;
        };
        let Some(q) = quantity_of(ep) else { continue };
        let Some(v) = reading(e, q) else { continue };
        let still = mildest.is_some_and(|m| if hot(q, m, limits) { v >= m } else { v <= m });
        if still {
            add(ep, e, q, limits);
        } else if let Some(mut ep) = reported.take() {
            ep.back_ms = Some(e.time_ms);
            done.push(ep);
            mildest = None;
        }
    }
    done.extend(hard.into_iter().flatten());
    done.extend(reported);
    done.sort_by_key(|ep| (ep.from_ms, ep.indexes.first().copied()));
    done
}

fn reading(e: &TraceEvent, q: Quantity) -> Option<i64> {
    e.readings.iter().find(|(k, _)| *k == q).map(|(_, v)| *v)
}

fn quantity_of(ep: &Episode) -> Option<Quantity> {
    JUDGED.into_iter().find(|q| q.name() == ep.quantity)
}

/// Whether `v` lies on the high side of the quantity's acceptable range (shock and humidity
/// only have one).
fn hot(q: Quantity, v: i64, limits: &Limits) -> bool {
    q != Quantity::Temperature || v >= (limits.temperature_min_mc + limits.temperature_max_mc) / 2
}

/// The events that belong to some episode (for folding them on a page).
pub fn episode_members(episodes: &[Episode]) -> BTreeSet<u64> {
    episodes
        .iter()
        .flat_map(|e| e.indexes.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{ChainStatus, Rule, Severity, Signer, Verdict, assess};

    fn signer(id: &str, role: &str, org: &str) -> Signer {
        Signer {
            id: id.into(),
            role: Some(role.into()),
            org: Some(org.into()),
            registered_at: Some(0),
            revoked_at: None,
        }
    }
    fn plant() -> Signer {
        signer(
            "station-1",
            "station",
            "Acme Cells urn:epc:id:pgln:4012345.00001",
        )
    }
    fn carrier() -> Signer {
        signer(
            "tracker-7",
            "tracker",
            "Blue Sea Lines urn:epc:id:pgln:4012345.00002",
        )
    }
    fn customs() -> Signer {
        signer(
            "customs-rtm",
            "customs",
            "Dutch Customs urn:epc:id:pgln:4012345.00003",
        )
    }
    fn warehouse() -> Signer {
        signer(
            "wh-op",
            "operator",
            "Euro Warehouse urn:epc:id:pgln:4012345.00004",
        )
    }

    const HOUR: i64 = 3_600_000;

    fn ev(index: u64, minutes: i64, kind: Kind, signer: Signer) -> TraceEvent {
        TraceEvent {
            index,
            signer,
            seq: index,
            time_ms: 1_763_000_000_000 + minutes * 60_000,
            kind,
            items: vec!["urn:epc:id:sscc:4012345.0000000017".into()],
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

    fn handover(index: u64, minutes: i64, by: Signer, to: &str) -> TraceEvent {
        let mut e = ev(index, minutes, Kind::HandedOver, by);
        e.party = Some(to.into());
        e
    }

    fn temp(index: u64, minutes: i64, kind: Kind, mc: i64) -> TraceEvent {
        let mut e = ev(index, minutes, kind, carrier());
        e.readings = vec![(Quantity::Temperature, mc)];
        e
    }

    /// Plant → carrier (sealed, departed) → port: arrived.
    fn to_port() -> Vec<TraceEvent> {
        vec![
            ev(1, 0, Kind::Commissioned, plant()),
            handover(2, 60, plant(), "urn:epc:id:pgln:4012345.00002"),
            ev(3, 120, Kind::Sealed, carrier()),
            ev(4, 180, Kind::Departed, carrier()),
            ev(5, 600, Kind::Arrived, carrier()),
        ]
    }

    fn report(events: &[TraceEvent]) -> crate::rules::CustodyReport {
        assess("x", events, &Limits::default())
    }

    #[test]
    fn a_seal_broken_then_inspected_and_cleared_says_both_without_contradiction() {
        let mut t = to_port();
        t.insert(4, ev(40, 300, Kind::SealBroken, carrier()));
        t.push(ev(6, 660, Kind::Inspected, customs()));
        t.push(ev(7, 720, Kind::Cleared, customs()));
        let r = report(&t);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.status.stage, Stage::Cleared);
        let broken = r
            .findings
            .iter()
            .find(|f| f.rule == Rule::SealBrokenBeforeInspection)
            .expect("seal finding");
        // Never "before any inspection" when an inspection came later.
        assert!(
            !broken.message.contains("any inspection"),
            "{}",
            broken.message
        );
        assert!(
            broken.message.contains("before customs inspected it"),
            "{}",
            broken.message
        );
        let steps: Vec<&str> = r.customs.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(steps, ["inspected", "cleared"]);
    }

    #[test]
    fn a_hold_outranks_the_physical_holder_and_changes_the_verdict() {
        let mut t = to_port();
        t.push(handover(6, 630, carrier(), "urn:epc:id:pgln:4012345.00004"));
        t.push(ev(7, 660, Kind::Held, customs()));
        let r = report(&t);
        // One status: held by customs, in the warehouse's custody; not "held by" twice.
        assert_eq!(r.status.stage, Stage::HeldByCustoms);
        // Known only by its party until it signs something itself (pages name it from the
        // registry).
        assert_eq!(
            r.status.holder.as_deref(),
            Some("urn:epc:id:pgln:4012345.00004")
        );
        assert_eq!(r.status.index, Some(7));
        assert_eq!(r.verdict, Verdict::Warnings, "{:#?}", r.findings);
        assert!(
            r.findings
                .iter()
                .any(|f| matches!(f.rule, Rule::CustomsHold { .. })
                    && f.severity == Severity::Warning)
        );
        // A departure does not end a hold; a release does, and the warning goes.
        t.push(ev(8, 700, Kind::Departed, warehouse()));
        assert_eq!(report(&t).status.stage, Stage::HeldByCustoms);
        t.push(ev(9, 720, Kind::Cleared, customs()));
        let r = report(&t);
        assert_eq!(r.status.stage, Stage::Cleared);
        assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.findings);
        let steps: Vec<&str> = r.customs.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(steps, ["held", "cleared"]);
    }

    #[test]
    fn status_follows_the_latest_events() {
        let mut t = vec![ev(1, 0, Kind::Commissioned, plant())];
        assert_eq!(report(&t).status.stage, Stage::AtOrigin);
        t.push(ev(2, 10, Kind::Departed, carrier()));
        t.push(ev(3, 20, Kind::Located, carrier()));
        assert_eq!(report(&t).status.stage, Stage::InTransit);
        assert_eq!(report(&t).status.index, Some(2));
        t.push(ev(4, 30, Kind::Arrived, carrier()));
        assert_eq!(report(&t).status.stage, Stage::Arrived);
        t.push(handover(5, 40, plant(), "urn:epc:id:pgln:4012345.00004"));
        assert_eq!(report(&t).status.stage, Stage::Delivered);
        t.push(ev(6, 50, Kind::Decommissioned, warehouse()));
        t.push(ev(7, 60, Kind::Departed, warehouse()));
        assert_eq!(report(&t).status.stage, Stage::Decommissioned);
        assert_eq!(report(&[]).status.stage, Stage::Unknown);
    }

    #[test]
    fn a_handover_at_the_origin_does_not_deliver() {
        let t = vec![
            ev(1, 0, Kind::Commissioned, plant()),
            handover(2, 60, plant(), "urn:epc:id:pgln:4012345.00002"),
        ];
        assert_eq!(report(&t).status.stage, Stage::AtOrigin);
    }

    #[test]
    fn ten_reported_excursions_are_one_episode_with_peak_duration_and_holder() {
        let mut t = to_port();
        t.insert(4, temp(10, 200, Kind::Measured, 25_000));
        for i in 0..10 {
            t.insert(
                5 + i,
                temp(
                    20 + i as u64,
                    240 + 60 * i as i64,
                    Kind::Excursion,
                    38_000 + 400 * i as i64,
                ),
            );
        }
        // Back within the device's own limits.
        t.insert(15, temp(40, 240 + 60 * 10, Kind::Measured, 30_000));
        let r = report(&t);
        let reported: Vec<_> = r
            .findings
            .iter()
            .filter(|f| matches!(f.rule, Rule::ReportedExcursion { .. }))
            .collect();
        assert_eq!(reported.len(), 1, "{reported:#?}");
        let f = reported[0];
        assert_eq!(f.severity, Severity::Warning);
        for words in ["10 readings", "peak 41.6 °C", "for 10 h", "Blue Sea Lines"] {
            assert!(f.message.contains(words), "{words}: {}", f.message);
        }
        assert_eq!(f.indexes, [20, 29]);
        assert_eq!(r.excursions.len(), 1);
        assert_eq!(r.excursions[0].duration_ms(), 10 * HOUR);
        assert_eq!(r.excursions[0].indexes.len(), 10);
    }

    #[test]
    fn position_reports_as_hot_as_the_reported_excursion_continue_it() {
        let mut t = to_port();
        let mut at = 4;
        for i in 0..5 {
            t.insert(
                at,
                temp(20 + 2 * i, 240 + 60 * i as i64, Kind::Excursion, 41_000),
            );
            t.insert(
                at + 1,
                temp(21 + 2 * i, 270 + 60 * i as i64, Kind::Located, 41_000),
            );
            at += 2;
        }
        t.insert(at, temp(40, 600, Kind::Located, 36_000));
        let r = report(&t);
        assert_eq!(r.excursions.len(), 1, "{:#?}", r.excursions);
        assert_eq!(r.excursions[0].indexes.len(), 10);
        assert_eq!(r.excursions[0].back_ms, Some(t[at].time_ms));
    }

    #[test]
    fn readings_beyond_the_limits_are_a_failing_episode_per_quantity() {
        let mut t = to_port();
        t.insert(4, temp(10, 200, Kind::Excursion, 61_000));
        t.insert(5, temp(11, 260, Kind::Excursion, 64_500));
        t.insert(6, temp(12, 320, Kind::Located, 62_000));
        t.insert(7, temp(13, 380, Kind::Measured, 40_000));
        let mut drop = ev(14, 400, Kind::Excursion, carrier());
        drop.readings = vec![(Quantity::Shock, 15_000)];
        t.insert(8, drop);
        let r = report(&t);
        let failing: Vec<_> = r
            .findings
            .iter()
            .filter(|f| matches!(f.rule, Rule::Excursion { .. }))
            .collect();
        assert_eq!(failing.len(), 2, "{failing:#?}");
        let heat = failing[0];
        assert!(
            matches!(
                heat.rule,
                Rule::Excursion {
                    value: 64_500,
                    readings: 3,
                    ..
                }
            ),
            "{heat:#?}"
        );
        assert!(
            heat.message.contains("above the 60.0 °C limit"),
            "{}",
            heat.message
        );
        assert!(heat.message.contains("for 3 h"), "{}", heat.message);
        assert!(
            failing[1].message.contains("in one reading"),
            "{}",
            failing[1].message
        );
        assert!(
            failing[1].message.contains("15.0 g"),
            "{}",
            failing[1].message
        );
        // No reported-only warning for events that crossed the limits.
        assert!(
            !r.findings
                .iter()
                .any(|f| matches!(f.rule, Rule::ReportedExcursion { .. }))
        );
    }

    #[test]
    fn legs_run_from_departure_to_arrival_with_distance_and_fixes() {
        let mut t = to_port();
        let mut a = ev(10, 200, Kind::Located, carrier());
        a.position = Some((519_000_000, 44_000_000));
        let mut b = ev(11, 300, Kind::Located, carrier());
        b.position = Some((520_000_000, 44_000_000));
        // A second departure while under way (the truck's) continues the leg.
        t.insert(4, a);
        t.insert(5, ev(12, 250, Kind::Departed, carrier()));
        t.insert(6, b);
        t.push(ev(6, 700, Kind::Departed, carrier()));
        let legs = legs(&t, &report(&t).custody);
        assert_eq!(legs.len(), 2, "{legs:#?}");
        assert_eq!((legs[0].departed, legs[0].arrived), (4, Some(5)));
        assert_eq!(legs[0].fixes, 2);
        assert!((legs[0].km - 11.1).abs() < 0.2, "{}", legs[0].km);
        assert_eq!(legs[0].events, 5);
        assert_eq!(legs[0].holder.as_deref(), Some("Blue Sea Lines"));
        assert_eq!(legs[1].arrived, None);
    }
}
