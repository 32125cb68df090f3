//! Chain-of-custody rules (SPEC §7): given an item's trace in order, what a customs officer
//! must know about it.
//!
//! The input is a list of [`TraceEvent`]s, each an event as decoded from the log with its log
//! index, its signer as the registry knows it, the container window it was inherited through
//! and its place in the signer's hash chain. [`assess`] applies every rule and returns a
//! [`CustodyReport`]: custody periods, seal status, a journey summary and [`Finding`]s, each
//! with a [`Severity`] and the log indexes involved, and an overall [`Verdict`].
//!
//! # Who holds an item
//!
//! The first custodian is the organisation that signed the item's first event (the plant
//! that commissioned it). Custody changes only at `handed_over`, whose `party` (a PGLN or
//! SGLN) names the receiver, and a handover must be signed by the current custodian. The
//! registry knows organisations by name; an organisation is identified with a GS1 party when
//! its registered name contains that party's GLN as an EPC URI (for example `"Blue Sea Lines
//! urn:epc:id:pgln:4012345.00002"`). A PGLN and an SGLN match when company prefix and
//! reference agree: a company's locations belong to it. When the holder is known only as a
//! party and the signer's organisation names no GLN, the registry cannot tell whether they
//! are the same: that handover is a warning, not a failure.
//!
//! # Limits
//!
//! [`Limits::default`] is battery transport (UN 38.3 practice): −20 °C to +60 °C, shock up to
//! 10 g, no event for more than 12 hours in transit, no jump faster than 1,200 km/h between
//! GNSS fixes. [`Limits::reefer`] is a cold chain (2–8 °C).

use std::collections::{BTreeSet, HashMap};

use provenance_event::registry::Role;
use provenance_event::{Epc, Event, Kind, Master, Quantity, Scheme};
use serde::{Deserialize, Serialize};

use crate::summary::{self, CustomsStep, Episode, Leg, Stage, Status};

/// A time during which the item was inside a container, so the container's events count for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The container (EPC URI).
    pub container: String,
    /// Packed at (device time, Unix ms).
    pub from_ms: i64,
    /// Unpacked at, or `None` while still inside.
    pub until_ms: Option<i64>,
    /// The containers from the item up to this one (first: the item's direct parent).
    pub via: Vec<String>,
}

impl Window {
    /// Whether time `t` lies in the window (from inclusive, until exclusive).
    pub fn contains(&self, t: i64) -> bool {
        t >= self.from_ms && self.until_ms.is_none_or(|u| t < u)
    }
}

/// Where an event stands in its signer's hash chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChainStatus {
    /// seq 1: the start of the chain.
    First,
    /// The previous event is known and `prev` is its hash.
    Linked,
    /// Events `from..=to` of this signer are missing; `explained` when the signer reported
    /// dropping at least that many (queue overflow: loss, not tampering).
    Gap {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
        /// Covered by the signer's `dropped` report.
        explained: bool,
    },
    /// The previous event is known but `prev` is not its hash.
    PrevMismatch,
}

/// The chain status of event `seq` whose `prev` field is `prev`, given the hash of the
/// anchored event `seq - 1` (if any), the highest anchored seq below `seq`, and the `dropped`
/// count the event reports.
pub fn chain_status(
    seq: u64,
    prev: &[u8; 32],
    predecessor_hash: Option<&[u8; 32]>,
    highest_below: Option<u64>,
    dropped: Option<u64>,
) -> ChainStatus {
    if seq == 1 {
        return ChainStatus::First;
    }
    match predecessor_hash {
        Some(h) if h == prev => ChainStatus::Linked,
        Some(_) => ChainStatus::PrevMismatch,
        None => {
            let from = highest_below.map_or(1, |s| s + 1);
            let to = seq - 1;
            ChainStatus::Gap {
                from,
                to,
                // What this event reports; [`gap_explained`] adds what later events report.
                explained: dropped.is_some_and(|d| d > to - from),
            }
        }
    }
}

/// Whether a signer's gaps up to and including one that ends at seq `to` are covered by what
/// it reported dropped: `reported` is the sum of the `dropped` fields of all its anchored
/// events, `missing_through` the number of its seqs up to `to` that are not anchored. A full
/// queue discards its oldest events and the events signed afterwards report them, so a
/// report usually comes after the gap it explains; counts cover gaps oldest first, as the
/// ingest's acknowledgements apply them.
pub fn gap_explained(reported: u64, missing_through: u64) -> bool {
    reported >= missing_through
}

/// The signer of an event as the registry knew it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// Device or operator ID (the COSE kid).
    pub id: String,
    /// Role at registration; `None` when the registry does not know the signer.
    pub role: Option<String>,
    /// Organisation at registration.
    pub org: Option<String>,
    /// Log index of the registration entry.
    pub registered_at: Option<u64>,
    /// Log index of the revocation entry, if revoked.
    pub revoked_at: Option<u64>,
}

/// One event of an item's trace, owned and decoded: what the rules look at.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// Log index.
    pub index: u64,
    /// Who signed it.
    pub signer: Signer,
    /// The signer's seq.
    pub seq: u64,
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// What happened.
    pub kind: Kind,
    /// The items named (EPC URIs).
    pub items: Vec<String>,
    /// The aggregate (packed, unpacked).
    pub parent: Option<String>,
    /// GNSS fix, 1e-7 degrees (lat, lon).
    pub position: Option<(i32, i32)>,
    /// The place (SGLN URI).
    pub place: Option<String>,
    /// Sensor readings present.
    pub readings: Vec<(Quantity, i64)>,
    /// The counterparty receiving custody (SGLN or PGLN URI).
    pub party: Option<String>,
    /// Business document reference.
    pub doc: Option<String>,
    /// Events the signer reported dropping.
    pub dropped: Option<u64>,
    /// A battery's master data (commissioned events; docs/PASSPORT.md).
    pub master: Option<Master>,
    /// `None` when the event names the item; else the container window it came through.
    pub inherited: Option<Window>,
    /// The event's place in its signer's chain.
    pub chain: ChainStatus,
}

impl TraceEvent {
    /// Builds a trace event from a decoded payload.
    pub fn from_event(
        index: u64,
        event: &Event<'_>,
        signer: Signer,
        inherited: Option<Window>,
        chain: ChainStatus,
    ) -> Self {
        let location = event.location.as_ref();
        Self {
            index,
            signer,
            seq: event.seq,
            time_ms: event.time,
            kind: event.kind,
            items: event.items.iter().map(str::to_string).collect(),
            parent: event.parent.as_ref().map(ToString::to_string),
            position: location.and_then(|l| l.lat_lon),
            place: location
                .and_then(|l| l.sgln.as_ref())
                .map(ToString::to_string),
            readings: event.readings.iter().collect(),
            party: event.party.as_ref().map(ToString::to_string),
            doc: event.doc.map(str::to_string),
            dropped: event.dropped,
            master: event.master.clone(),
            inherited,
            chain,
        }
    }

    fn reading(&self, q: Quantity) -> Option<i64> {
        self.readings.iter().find(|(k, _)| *k == q).map(|(_, v)| *v)
    }
}

/// The limits the rules apply. Serializable so a report can say what it was judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// A name for the profile (`battery`, `reefer`).
    pub profile: String,
    /// Lowest acceptable temperature, m°C.
    pub temperature_min_mc: i64,
    /// Highest acceptable temperature, m°C.
    pub temperature_max_mc: i64,
    /// Highest acceptable peak shock, milli-g.
    pub shock_max_mg: i64,
    /// Highest acceptable relative humidity, ‰ (none: not judged).
    pub humidity_max_permille: Option<i64>,
    /// Longest silence between two events while in transit, ms.
    pub max_transit_silence_ms: i64,
    /// Fastest plausible movement between two GNSS fixes, km/h.
    pub max_speed_kmh: u32,
}

impl Default for Limits {
    /// Lithium battery transport.
    fn default() -> Self {
        Self {
            profile: "battery".into(),
            temperature_min_mc: -20_000,
            temperature_max_mc: 60_000,
            shock_max_mg: 10_000,
            humidity_max_permille: None,
            max_transit_silence_ms: 12 * 3_600_000,
            max_speed_kmh: 1_200,
        }
    }
}

impl Limits {
    /// A cold chain (pharmaceuticals, food): 2–8 °C, otherwise as the default.
    pub fn reefer() -> Self {
        Self {
            profile: "reefer".into(),
            temperature_min_mc: 2_000,
            temperature_max_mc: 8_000,
            ..Self::default()
        }
    }

    /// The profile with this name (`battery` or `reefer`).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "battery" => Some(Self::default()),
            "reefer" => Some(Self::reefer()),
            _ => None,
        }
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing (a handover, a seal opened for inspection, explained loss).
    Info,
    /// Something a person should look at; the custody still holds.
    Warning,
    /// The chain of custody does not hold.
    Failure,
}

/// The overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule holds.
    Pass,
    /// Every rule holds, with warnings.
    Warnings,
    /// A rule does not hold.
    Fail,
}

impl Verdict {
    /// The verdict of a set of severities.
    pub fn of<'a>(severities: impl IntoIterator<Item = &'a Severity>) -> Self {
        match severities.into_iter().max() {
            Some(Severity::Failure) => Verdict::Fail,
            Some(Severity::Warning) => Verdict::Warnings,
            _ => Verdict::Pass,
        }
    }

    /// Plain words.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warnings => "pass with warnings",
            Verdict::Fail => "fail",
        }
    }
}

/// Which rule a finding comes from, with its particulars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// Custody passed from one holder to another.
    Handover {
        /// Holder before.
        from: String,
        /// Holder after (the `party`).
        to: String,
    },
    /// A handover signed by someone who did not hold the item.
    HandoverByNonHolder {
        /// The signer's organisation (or ID).
        signer: String,
        /// Who held the item.
        holder: String,
        /// Whom it was handed to.
        to: String,
    },
    /// A handover whose signer the registry cannot tie to the holder (its organisation names
    /// no GLN).
    HandoverUnverifiable {
        /// The signer's organisation (or ID).
        signer: String,
        /// Who held the item.
        holder: String,
        /// Whom it was handed to.
        to: String,
    },
    /// The seal held from sealing to inspection.
    SealIntact,
    /// The seal was broken while sealed and before any inspection.
    SealBrokenBeforeInspection,
    /// The seal was opened after an inspection (customs opening it).
    SealOpenedAfterInspection,
    /// A seal break reported without a sealing before it.
    SealBrokenWithoutSealing,
    /// No event for too long while in transit.
    TimeGap {
        /// Silence, ms.
        silence_ms: i64,
    },
    /// Two GNSS fixes further apart than anything can travel in the time between.
    PlaceJump {
        /// Distance, km.
        km: f64,
        /// Time between, ms.
        elapsed_ms: i64,
    },
    /// Readings outside their limit: one episode (consecutive readings outside, until one is
    /// back within).
    Excursion {
        /// Quantity name (`temperature`, `shock`, `humidity`).
        quantity: String,
        /// The most extreme reading, in the quantity's unit.
        value: i64,
        /// The unit (`m°C`, `milli-g`, `‰`).
        unit: String,
        /// The limit crossed, same unit.
        limit: i64,
        /// Readings in the episode.
        readings: usize,
        /// When it began, Unix ms.
        from_ms: i64,
        /// How long it lasted, ms.
        duration_ms: i64,
        /// Who held the item when it began.
        holder: Option<String>,
    },
    /// A device reported an excursion, but the readings are within the configured limits: one
    /// episode of such reports.
    ReportedExcursion {
        /// Quantity of the peak (`temperature` when the reports carry one).
        quantity: String,
        /// The most extreme reading of that quantity, in its unit.
        peak: Option<i64>,
        /// The unit of `peak`.
        unit: String,
        /// Reports in the episode.
        reports: usize,
        /// When it began, Unix ms.
        from_ms: i64,
        /// How long it lasted, ms.
        duration_ms: i64,
        /// Who held the item when it began.
        holder: Option<String>,
    },
    /// Customs holds the item and has not released it.
    CustomsHold {
        /// Since when, Unix ms.
        since_ms: i64,
    },
    /// A break in a signer's hash chain.
    ChainBreak {
        /// The signer.
        device: String,
        /// The event's seq.
        seq: u64,
        /// What kind of break.
        status: ChainStatus,
    },
    /// The signer was not registered before signing.
    Unregistered {
        /// The signer.
        device: String,
    },
    /// The signer was revoked before signing.
    Revoked {
        /// The signer.
        device: String,
        /// Index of the revocation.
        revoked_at: u64,
    },
    /// An event of a kind the signer's role may not record (a clearance not signed by customs).
    WrongRole {
        /// The signer.
        device: String,
        /// The signer's role.
        role: String,
        /// The event kind.
        kind: String,
    },
    /// An event dated later than the witnesses saw a checkpoint holding it (beyond
    /// [`CLOCK_SKEW_ALLOWANCE_MS`]): the signer's clock is ahead, or the event was dated after
    /// the fact.
    DatedAfterWitnessed {
        /// The signer.
        device: String,
        /// The event's device time, Unix ms.
        time_ms: i64,
        /// When the witnesses' quorum had seen a checkpoint holding the event, Unix ms.
        witnessed_ms: i64,
    },
    /// Nothing in the trace.
    NoEvents,
}

/// One finding: which rule, how much it matters, in plain words, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// The rule and its particulars.
    #[serde(flatten)]
    pub rule: Rule,
    /// A sentence for a person.
    pub message: String,
    /// The log indexes involved.
    pub indexes: Vec<u64>,
}

/// Who held the item, from when until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyPeriod {
    /// The holder: an organisation's name, or the party URI it was handed to.
    pub holder: String,
    /// The GS1 party (PGLN/SGLN URI) of the holder, when known.
    pub party: Option<String>,
    /// Log index of the event that began the period (the first event or a handover).
    pub from_index: u64,
    /// Device time the period began.
    pub from_ms: i64,
    /// Device time it ended (the next handover), `None` for the current holder.
    pub until_ms: Option<i64>,
}

/// Where the seal stands at the end of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealState {
    /// Never sealed.
    Unsealed,
    /// Sealed and not broken.
    Sealed,
    /// Broken before inspection.
    Broken,
    /// Inspected while sealed (opened or not after that).
    Inspected,
}

/// The seal's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealSummary {
    /// Where it stands.
    pub state: SealState,
    /// Index of the last sealing.
    pub sealed_at: Option<u64>,
    /// Index of the first break while sealed.
    pub broken_at: Option<u64>,
    /// Index of the first inspection while sealed.
    pub inspected_at: Option<u64>,
}

/// A summary of the journey for the first lines of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Journey {
    /// Number of events.
    pub events: usize,
    /// Time of the first event, Unix ms.
    pub first_ms: Option<i64>,
    /// Time of the last event, Unix ms.
    pub last_ms: Option<i64>,
    /// Named places (SGLN URIs) in the order first visited.
    pub places: Vec<String>,
    /// Number of GNSS fixes.
    pub fixes: usize,
    /// Containers the item travelled in.
    pub containers: Vec<String>,
    /// Business documents referenced (bill of lading, customs declaration).
    pub documents: Vec<String>,
    /// Whether customs cleared it (a `cleared` event).
    pub cleared: bool,
    /// Whether customs holds it (a `held` without a later `cleared`).
    pub held: bool,
}

/// The result of [`assess`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustodyReport {
    /// The item (EPC URI).
    pub subject: String,
    /// The overall outcome.
    pub verdict: Verdict,
    /// Where it stands now: one status, derived from the latest events.
    pub status: Status,
    /// Every inspection, hold and release, in order.
    pub customs: Vec<CustomsStep>,
    /// The journey's legs (departure to arrival).
    pub legs: Vec<Leg>,
    /// Excursions, merged into episodes (each is one finding).
    pub excursions: Vec<Episode>,
    /// Who held it when.
    pub custody: Vec<CustodyPeriod>,
    /// The seal.
    pub seal: SealSummary,
    /// The journey in brief.
    pub journey: Journey,
    /// Every finding, in trace order.
    pub findings: Vec<Finding>,
    /// The limits applied.
    pub limits: Limits,
}

/// The company prefix and reference of a GLN-based EPC URI (SGLN or PGLN), which identify the
/// party whatever the extension.
pub fn gln_key(uri: &str) -> Option<(String, String)> {
    let epc = Epc::parse(uri).ok()?;
    matches!(epc.scheme(), Scheme::Sgln | Scheme::Pgln).then(|| {
        (
            epc.company_prefix().to_string(),
            epc.reference().to_string(),
        )
    })
}

/// The GLN parties an organisation name mentions (`… urn:epc:id:pgln:4012345.00002`).
pub fn org_parties(org: &str) -> Vec<(String, String)> {
    org.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';'))
        .filter_map(gln_key)
        .collect()
}

/// The holder of an item during a custody period.
#[derive(Debug, Clone)]
struct Holder {
    org: Option<String>,
    party: Option<String>,
}

impl Holder {
    fn name(&self) -> String {
        match (&self.org, &self.party) {
            (Some(o), _) => o.clone(),
            (None, Some(p)) => p.clone(),
            (None, None) => "an unknown holder".into(),
        }
    }

    /// Whether `signer` speaks for this holder. `None` when the registry cannot tell: the
    /// holder is known only as a GS1 party and the signer's organisation names no GLN.
    fn is(&self, signer: &Signer) -> Option<bool> {
        let Some(org) = &signer.org else {
            return Some(false);
        };
        if self.org.as_deref() == Some(org.as_str()) {
            return Some(true);
        }
        let Some(key) = self.party.as_deref().and_then(gln_key) else {
            return Some(false);
        };
        let parties = org_parties(org);
        if parties.is_empty() {
            return None;
        }
        Some(parties.contains(&key))
    }
}

fn signer_name(s: &Signer) -> String {
    match &s.org {
        Some(org) => format!("{} ({org})", s.id),
        None => s.id.clone(),
    }
}

/// Great-circle distance between two fixes in 1e-7 degrees, km.
pub fn distance_km(a: (i32, i32), b: (i32, i32)) -> f64 {
    const R: f64 = 6_371.0;
    let rad = |v: i32| f64::from(v) * 1e-7_f64.to_radians();
    let (la1, lo1, la2, lo2) = (rad(a.0), rad(a.1), rad(b.0), rad(b.1));
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

/// An event kind in words: `seal broken`, `handed over`.
fn kind_words(k: Kind) -> String {
    k.name().replace('_', " ")
}

fn hours(ms: i64) -> String {
    let h = ms as f64 / 3_600_000.0;
    if h >= 48.0 {
        format!("{:.1} days", h / 24.0)
    } else {
        format!("{h:.1} hours")
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, severity: Severity, rule: Rule, message: String, indexes: Vec<u64>) {
        self.0.push(Finding {
            severity,
            rule,
            message,
            indexes,
        });
    }
}

/// Applies every custody rule to `events` (the trace of `subject`, in time order then log
/// order) under `limits`.
pub fn assess(subject: &str, events: &[TraceEvent], limits: &Limits) -> CustodyReport {
    let mut f = Findings(Vec::new());
    if events.is_empty() {
        f.push(
            Severity::Failure,
            Rule::NoEvents,
            format!("no event concerning {subject} is known"),
            vec![],
        );
    }
    registry_rules(events, &mut f);
    chain_rules(events, &mut f);
    role_rules(events, &mut f);
    let custody = custody_rules(events, &mut f);
    let seal = seal_rules(events, &mut f);
    gap_rules(events, limits, &mut f);
    let excursions = summary::episodes(events, limits, &custody);
    excursion_rules(&excursions, limits, &mut f);
    let status = summary::status(events, &custody);
    hold_rules(&status, &mut f);
    let order = trace_order(events);
    let mut findings = f.0;
    sort_findings(&order, &mut findings);
    CustodyReport {
        subject: subject.to_string(),
        verdict: Verdict::of(findings.iter().map(|x| &x.severity)),
        status,
        customs: summary::customs_steps(events),
        legs: summary::legs(events, &custody),
        excursions,
        custody,
        seal,
        journey: journey(events),
        findings,
        limits: limits.clone(),
    }
}

/// Where each log index stands in the trace.
fn trace_order(events: &[TraceEvent]) -> HashMap<u64, usize> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.index, i))
        .collect()
}

/// One order for every view: where in the trace it happened (its last event; events outside
/// the trace last), then by severity. Stable, so equal keys keep the order they were found in.
fn sort_findings(order: &HashMap<u64, usize>, findings: &mut [Finding]) {
    findings.sort_by_key(|x| {
        (
            x.indexes
                .last()
                .and_then(|i| order.get(i))
                .copied()
                .unwrap_or(usize::MAX),
            std::cmp::Reverse(x.severity),
        )
    });
}

impl CustodyReport {
    /// Adds findings made outside [`assess`] (such as [`dated_after_witnessed`]'s) in the
    /// report's order, and judges the verdict again. `events` is the trace the report was made
    /// of; findings about events outside it go last.
    pub fn add_findings(&mut self, events: &[TraceEvent], findings: Vec<Finding>) {
        if findings.is_empty() {
            return;
        }
        self.findings.extend(findings);
        sort_findings(&trace_order(events), &mut self.findings);
        self.verdict = Verdict::of(self.findings.iter().map(|x| &x.severity));
    }
}

/// How far a device's clock may run ahead of the witnesses' before an event dated after they
/// saw it is a finding. Device clocks follow GNSS or NTP but drift between fixes, and a
/// witness's cosignature time is its own clock's: five minutes is far more than an honest
/// device drifts between fixes, and far less than anything that would change where or when a
/// custody event could have happened.
pub const CLOCK_SKEW_ALLOWANCE_MS: i64 = 5 * 60_000;

/// The time others vouch for: once a quorum of witnesses has cosigned a checkpoint at
/// `witnessed_by_s` (seconds since the Epoch, [`provenance_tlog::policy::PolicyVerdict`]'s
/// `witnessed_by`), every entry under that checkpoint existed by then. An event at log index
/// `index`, signed by `signer`, whose device time `time_ms` is later than that (beyond
/// [`CLOCK_SKEW_ALLOWANCE_MS`]) was dated after the fact, or its signer's clock is ahead: a
/// warning naming both times. `None` when the event's time is plausible.
pub fn dated_after_witnessed(
    index: u64,
    signer: &str,
    time_ms: i64,
    witnessed_by_s: u64,
) -> Option<Finding> {
    let witnessed_ms = i64::try_from(witnessed_by_s)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .unwrap_or(i64::MAX);
    if time_ms <= witnessed_ms.saturating_add(CLOCK_SKEW_ALLOWANCE_MS) {
        return None;
    }
    let device_at = minute(time_ms);
    let seen_at = minute(witnessed_ms);
    // The witnessed time without its date when the date is the device time's.
    let seen_short = match (device_at.split_once('T'), seen_at.split_once('T')) {
        (Some((d1, _)), Some((d2, t2))) if d1 == d2 => t2.to_string(),
        _ => seen_at.clone(),
    };
    Some(Finding {
        severity: Severity::Warning,
        rule: Rule::DatedAfterWitnessed {
            device: signer.to_string(),
            time_ms,
            witnessed_ms,
        },
        message: format!(
            "{signer}'s event at log index {index}: device time {device_at} is {} after the \
             witnesses saw the checkpoint holding it ({seen_short}): the signer's clock is \
             ahead, or the event was dated after the fact",
            span(time_ms.saturating_sub(witnessed_ms))
        ),
        indexes: vec![index],
    })
}

/// [`dated_after_witnessed`] over a trace, in trace order.
pub fn witnessed_time_rules(events: &[TraceEvent], witnessed_by_s: u64) -> Vec<Finding> {
    events
        .iter()
        .filter_map(|e| dated_after_witnessed(e.index, &e.signer.id, e.time_ms, witnessed_by_s))
        .collect()
}

/// [`assess`], then the time the witnesses vouch for ([`witnessed_time_rules`]) when a
/// policy's quorum gave one.
pub fn assess_witnessed(
    subject: &str,
    events: &[TraceEvent],
    limits: &Limits,
    witnessed_by_s: Option<u64>,
) -> CustodyReport {
    let mut report = assess(subject, events, limits);
    if let Some(t) = witnessed_by_s {
        report.add_findings(events, witnessed_time_rules(events, t));
    }
    report
}

/// `2026-12-07T20:00Z`: UTC to the minute.
fn minute(ms: i64) -> String {
    let t = crate::epcis::rfc3339(ms);
    format!("{}Z", t.get(..16).unwrap_or(&t))
}

/// A duration for people, to the minute: `12 min`, `1 h 12 min`, `3 days 4 h`.
fn span(ms: i64) -> String {
    let minutes = ms / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, minutes / 60) {
        (0, 0) => format!("{mins} min"),
        (0, h) if mins == 0 => format!("{h} h"),
        (0, h) => format!("{h} h {mins} min"),
        (1, _) if hours == 0 => "1 day".to_string(),
        (1, _) => format!("1 day {hours} h"),
        (d, _) if hours == 0 => format!("{d} days"),
        (d, _) => format!("{d} days {hours} h"),
    }
}

fn registry_rules(events: &[TraceEvent], f: &mut Findings) {
    for e in events {
        let s = &e.signer;
        if s.registered_at.is_none_or(|r| r >= e.index) {
            f.push(
                Severity::Failure,
                Rule::Unregistered {
                    device: s.id.clone(),
                },
                format!(
                    "a {} event is signed by {}, which was not registered before it",
                    kind_words(e.kind),
                    s.id
                ),
                vec![e.index],
            );
        }
        if let Some(r) = s.revoked_at.filter(|r| *r < e.index) {
            f.push(
                Severity::Failure,
                Rule::Revoked {
                    device: s.id.clone(),
                    revoked_at: r,
                },
                format!(
                    "a {} event is signed by {} after its key was revoked",
                    kind_words(e.kind),
                    s.id
                ),
                vec![r, e.index],
            );
        }
    }
}

fn chain_rules(events: &[TraceEvent], f: &mut Findings) {
    for e in events {
        let (severity, message) = match e.chain {
            ChainStatus::First | ChainStatus::Linked => continue,
            ChainStatus::PrevMismatch => (
                Severity::Failure,
                format!(
                    "{} seq {}: its prev hash does not match the device's previous event",
                    e.signer.id, e.seq
                ),
            ),
            ChainStatus::Gap {
                from,
                to,
                explained: true,
            } => (
                Severity::Warning,
                format!(
                    "{} lost events {from} to {to} before seq {}; the device reported dropping \
                     them (queue full), so this is loss, not tampering",
                    e.signer.id, e.seq
                ),
            ),
            ChainStatus::Gap {
                from,
                to,
                explained: false,
            } => (
                Severity::Failure,
                format!(
                    "{} events {from} to {to} before seq {} are missing and unexplained",
                    e.signer.id, e.seq
                ),
            ),
        };
        f.push(
            severity,
            Rule::ChainBreak {
                device: e.signer.id.clone(),
                seq: e.seq,
                status: e.chain,
            },
            message,
            vec![e.index],
        );
    }
}

fn role_rules(events: &[TraceEvent], f: &mut Findings) {
    for e in events {
        let Some(role) = e.signer.role.as_deref().and_then(Role::from_name) else {
            continue;
        };
        let allowed: &[Role] = match e.kind {
            Kind::Held | Kind::Cleared => &[Role::Customs],
            Kind::Inspected => &[Role::Customs, Role::Inspector],
            _ => continue,
        };
        if !allowed.contains(&role) {
            f.push(
                Severity::Failure,
                Rule::WrongRole {
                    device: e.signer.id.clone(),
                    role: role.name().into(),
                    kind: e.kind.name().into(),
                },
                format!(
                    "a {} event is signed by {}, a {} key; only customs{} may record it",
                    kind_words(e.kind),
                    e.signer.id,
                    role,
                    if e.kind == Kind::Inspected {
                        " or an inspector"
                    } else {
                        ""
                    }
                ),
                vec![e.index],
            );
        }
    }
}

fn custody_rules(events: &[TraceEvent], f: &mut Findings) -> Vec<CustodyPeriod> {
    let mut periods: Vec<CustodyPeriod> = Vec::new();
    let Some(first) = events.first() else {
        return periods;
    };
    let mut holder = Holder {
        org: first.signer.org.clone(),
        party: None,
    };
    periods.push(CustodyPeriod {
        holder: holder.name(),
        party: None,
        from_index: first.index,
        from_ms: first.time_ms,
        until_ms: None,
    });
    for e in events {
        // The receiver's first signed event gives the holder a name.
        if holder.org.is_none() && holder.is(&e.signer) == Some(true) {
            holder.org = e.signer.org.clone();
            if let Some(p) = periods.last_mut() {
                p.holder = holder.name();
            }
        }
        if e.kind != Kind::HandedOver {
            continue;
        }
        let Some(to) = e.party.clone() else {
            continue;
        };
        match holder.is(&e.signer) {
            Some(true) => f.push(
                Severity::Info,
                Rule::Handover {
                    from: holder.name(),
                    to: to.clone(),
                },
                format!(
                    "custody passed from {} to {to}, signed by {}",
                    summary::short_name(&holder.name()),
                    e.signer.id
                ),
                vec![e.index],
            ),
            Some(false) => f.push(
                Severity::Failure,
                Rule::HandoverByNonHolder {
                    signer: signer_name(&e.signer),
                    holder: holder.name(),
                    to: to.clone(),
                },
                format!(
                    "the handover to {to} is signed by {}, but {} held the item",
                    signer_name(&e.signer),
                    holder.name()
                ),
                vec![e.index],
            ),
            None => f.push(
                Severity::Warning,
                Rule::HandoverUnverifiable {
                    signer: signer_name(&e.signer),
                    holder: holder.name(),
                    to: to.clone(),
                },
                format!(
                    "the handover to {to} is signed by {}; whether that is {}, who held the \
                     item, cannot be told: its registered organisation names no GLN (register \
                     it as e.g. \"Name urn:epc:id:pgln:…\")",
                    signer_name(&e.signer),
                    holder.name()
                ),
                vec![e.index],
            ),
        }
        if let Some(p) = periods.last_mut() {
            p.until_ms = Some(e.time_ms);
        }
        holder = Holder {
            org: None,
            party: Some(to.clone()),
        };
        periods.push(CustodyPeriod {
            holder: holder.name(),
            party: Some(to),
            from_index: e.index,
            from_ms: e.time_ms,
            until_ms: None,
        });
    }
    periods
}

fn seal_rules(events: &[TraceEvent], f: &mut Findings) -> SealSummary {
    let mut s = SealSummary {
        state: SealState::Unsealed,
        sealed_at: None,
        broken_at: None,
        inspected_at: None,
    };
    for (at, e) in events.iter().enumerate() {
        let broken = e.kind == Kind::SealBroken || e.reading(Quantity::SealClosed) == Some(0);
        match (e.kind, s.state) {
            (Kind::Sealed, _) => {
                s.state = SealState::Sealed;
                s.sealed_at = Some(e.index);
                s.broken_at = None;
                continue;
            }
            (Kind::Inspected, SealState::Sealed) => {
                s.state = SealState::Inspected;
                s.inspected_at = Some(e.index);
                f.push(
                    Severity::Info,
                    Rule::SealIntact,
                    format!(
                        "the seal was intact from its sealing until {} inspected it",
                        e.signer
                            .org
                            .as_deref()
                            .map_or(e.signer.id.as_str(), summary::short_name)
                    ),
                    s.sealed_at.into_iter().chain([e.index]).collect(),
                );
                continue;
            }
            _ => {}
        }
        if !broken {
            continue;
        }
        match s.state {
            SealState::Sealed => {
                s.state = SealState::Broken;
                s.broken_at = Some(e.index);
                // Said against what came after, so the sentence never contradicts a later
                // inspection or clearance shown beside it.
                let later = events
                    .get(at + 1..)
                    .unwrap_or_default()
                    .iter()
                    .find(|x| x.kind == Kind::Inspected);
                let what = if e.kind == Kind::SealBroken {
                    format!("reported broken by {}", e.signer.id)
                } else {
                    format!("read open by {}", e.signer.id)
                };
                let after = match later {
                    Some(i) => format!(
                        "before customs inspected it ({} later)",
                        span(i.time_ms.saturating_sub(e.time_ms))
                    ),
                    None => "and no inspection came before or after".to_string(),
                };
                f.push(
                    Severity::Failure,
                    Rule::SealBrokenBeforeInspection,
                    format!("the seal was {what} while sealed, {after}"),
                    s.sealed_at.into_iter().chain([e.index]).collect(),
                );
            }
            SealState::Inspected => {
                f.push(
                    Severity::Info,
                    Rule::SealOpenedAfterInspection,
                    format!(
                        "the seal was opened after the inspection ({} later), by {}",
                        span(
                            e.time_ms.saturating_sub(
                                events
                                    .iter()
                                    .find(|x| Some(x.index) == s.inspected_at)
                                    .map_or(e.time_ms, |x| x.time_ms)
                            )
                        ),
                        e.signer.id
                    ),
                    vec![e.index],
                );
            }
            SealState::Broken => {}
            SealState::Unsealed if e.kind == Kind::SealBroken => {
                f.push(
                    Severity::Warning,
                    Rule::SealBrokenWithoutSealing,
                    format!(
                        "{} reported a seal break, but no sealing is recorded before it",
                        e.signer.id
                    ),
                    vec![e.index],
                );
            }
            SealState::Unsealed => {}
        }
    }
    s
}

fn gap_rules(events: &[TraceEvent], limits: &Limits, f: &mut Findings) {
    let mut in_transit = false;
    let mut last: Option<&TraceEvent> = None;
    let mut last_fix: Option<(&TraceEvent, (i32, i32))> = None;
    for e in events {
        if let Some(prev) = last {
            let silence = e.time_ms.saturating_sub(prev.time_ms);
            if in_transit && silence > limits.max_transit_silence_ms {
                f.push(
                    Severity::Warning,
                    Rule::TimeGap {
                        silence_ms: silence,
                    },
                    format!(
                        "no event for {} in transit (limit {})",
                        hours(silence),
                        hours(limits.max_transit_silence_ms)
                    ),
                    vec![prev.index, e.index],
                );
            }
        }
        if let Some(pos) = e.position {
            if let Some((p, ppos)) = last_fix {
                let km = distance_km(ppos, pos);
                let elapsed = e.time_ms.saturating_sub(p.time_ms);
                // Fixes a few km apart at once are GNSS noise, not travel.
                let reachable = km <= 5.0
                    || (elapsed > 0
                        && km / (elapsed as f64 / 3_600_000.0) <= f64::from(limits.max_speed_kmh));
                if !reachable {
                    f.push(
                        Severity::Warning,
                        Rule::PlaceJump {
                            km,
                            elapsed_ms: elapsed,
                        },
                        format!(
                            "the position jumps {km:.0} km in {} (faster than {} km/h)",
                            hours(elapsed.max(0)),
                            limits.max_speed_kmh
                        ),
                        vec![p.index, e.index],
                    );
                }
            }
            last_fix = Some((e, pos));
        }
        match e.kind {
            Kind::Departed => in_transit = true,
            Kind::Arrived => in_transit = false,
            _ => {}
        }
        last = Some(e);
    }
}

fn excursion_rules(episodes: &[Episode], limits: &Limits, f: &mut Findings) {
    for ep in episodes {
        let q = ep.quantity.as_str();
        let n = ep.indexes.len();
        let how_long = match (n, ep.back_ms) {
            (1, None) => "in one reading".to_string(),
            (_, Some(_)) => format!("for {}", span(ep.duration_ms())),
            (_, None) => format!("for at least {}", span(ep.duration_ms())),
        };
        let count = if n == 1 {
            String::new()
        } else {
            format!("{n} readings, ")
        };
        let peak_words = ep
            .peak
            .map(|p| format!("peak {}", value_words(q, p)))
            .unwrap_or_else(|| "no reading".into());
        let held = ep
            .holder
            .as_deref()
            .map(|h| format!(" while {h} held it"))
            .unwrap_or_default();
        let by = ep.reporters.join(", ");
        let mut indexes: Vec<u64> = ep
            .indexes
            .first()
            .into_iter()
            .chain(ep.peak_index.as_ref())
            .chain(ep.indexes.last())
            .copied()
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        match (ep.crossed, ep.limit, ep.peak) {
            (true, Some(limit), Some(peak)) => {
                let side = if peak < limit { "below" } else { "above" };
                f.push(
                    Severity::Failure,
                    Rule::Excursion {
                        quantity: q.to_string(),
                        value: peak,
                        unit: ep.unit.clone(),
                        limit,
                        readings: n,
                        from_ms: ep.from_ms,
                        duration_ms: ep.duration_ms(),
                        holder: ep.holder.clone(),
                    },
                    format!(
                        "{q} {side} the {} limit of the {} profile {how_long} ({count}{peak_words}){held}; \
                         reported by {by}",
                        value_words(q, limit),
                        limits.profile
                    ),
                    indexes,
                );
            }
            _ => f.push(
                Severity::Warning,
                Rule::ReportedExcursion {
                    quantity: q.to_string(),
                    peak: ep.peak,
                    unit: ep.unit.clone(),
                    reports: n,
                    from_ms: ep.from_ms,
                    duration_ms: ep.duration_ms(),
                    holder: ep.holder.clone(),
                },
                format!(
                    "{by} reported an excursion {how_long} ({count}{peak_words}){held}; its readings \
                     are within the {} limits ({})",
                    limits.profile,
                    limit_words(q, limits)
                ),
                indexes,
            ),
        }
    }
}

/// A reading in the unit people use: `41.2 °C`, `3.0 g`, `85.0 % RH`.
fn value_words(quantity: &str, v: i64) -> String {
    match quantity {
        "temperature" => format!("{:.1} °C", v as f64 / 1000.0),
        "shock" => format!("{:.1} g", v as f64 / 1000.0),
        "humidity" => format!("{:.1} % RH", v as f64 / 10.0),
        _ => v.to_string(),
    }
}

/// The profile's acceptable range of a quantity, in words.
fn limit_words(quantity: &str, limits: &Limits) -> String {
    match quantity {
        "temperature" => format!(
            "{} to {}",
            value_words(quantity, limits.temperature_min_mc),
            value_words(quantity, limits.temperature_max_mc)
        ),
        "shock" => format!("up to {}", value_words(quantity, limits.shock_max_mg)),
        "humidity" => match limits.humidity_max_permille {
            Some(h) => format!("up to {}", value_words(quantity, h)),
            None => "not judged".into(),
        },
        _ => String::new(),
    }
}

/// A customs hold that no release has ended: the item may not move on, whatever else holds.
fn hold_rules(status: &Status, f: &mut Findings) {
    if status.stage != Stage::HeldByCustoms {
        return;
    }
    let (Some(index), Some(since)) = (status.index, status.since_ms) else {
        return;
    };
    f.push(
        Severity::Warning,
        Rule::CustomsHold { since_ms: since },
        format!("held by customs since {} and not released", minute(since)),
        vec![index],
    );
}

fn journey(events: &[TraceEvent]) -> Journey {
    let mut j = Journey {
        events: events.len(),
        first_ms: events.first().map(|e| e.time_ms),
        last_ms: events.last().map(|e| e.time_ms),
        ..Journey::default()
    };
    let mut containers = BTreeSet::new();
    for e in events {
        if let Some(p) = &e.place {
            if !j.places.contains(p) {
                j.places.push(p.clone());
            }
        }
        if let Some(d) = &e.doc {
            if !j.documents.contains(d) {
                j.documents.push(d.clone());
            }
        }
        j.fixes += usize::from(e.position.is_some());
        if let Some(w) = &e.inherited {
            containers.insert(w.container.clone());
        }
        match e.kind {
            Kind::Cleared => {
                j.cleared = true;
                j.held = false;
            }
            Kind::Held => j.held = true,
            _ => {}
        }
    }
    j.containers = containers.into_iter().collect();
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARRIER: &str = "urn:epc:id:pgln:4012345.00002";
    const WAREHOUSE: &str = "urn:epc:id:pgln:4012345.00004";

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
        signer("tracker-7", "tracker", &format!("Blue Sea Lines {CARRIER}"))
    }
    fn customs() -> Signer {
        signer(
            "customs-rtm",
            "customs",
            "Dutch Customs urn:epc:id:pgln:4012345.00003",
        )
    }
    fn warehouse() -> Signer {
        signer("wh-op", "operator", &format!("Euro Warehouse {WAREHOUSE}"))
    }

    fn ev(index: u64, hour: i64, kind: Kind, signer: Signer) -> TraceEvent {
        TraceEvent {
            index,
            signer,
            seq: index,
            time_ms: 1_763_000_000_000 + hour * 3_600_000,
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

    fn handover(index: u64, hour: i64, by: Signer, to: &str) -> TraceEvent {
        let mut e = ev(index, hour, Kind::HandedOver, by);
        e.party = Some(to.into());
        e
    }

    fn journey_ok() -> Vec<TraceEvent> {
        vec![
            ev(1, 0, Kind::Commissioned, plant()),
            handover(2, 1, plant(), CARRIER),
            ev(3, 2, Kind::Sealed, carrier()),
            ev(4, 3, Kind::Departed, carrier()),
            ev(5, 10, Kind::Arrived, carrier()),
            ev(6, 11, Kind::Inspected, customs()),
            ev(7, 12, Kind::Cleared, customs()),
            handover(8, 13, carrier(), WAREHOUSE),
            ev(9, 14, Kind::Arrived, warehouse()),
        ]
    }

    fn rules(r: &CustodyReport) -> Vec<(&'static str, Severity)> {
        r.findings
            .iter()
            .map(|f| {
                let name = match &f.rule {
                    Rule::Handover { .. } => "handover",
                    Rule::HandoverByNonHolder { .. } => "handover_by_non_holder",
                    Rule::HandoverUnverifiable { .. } => "handover_unverifiable",
                    Rule::SealIntact => "seal_intact",
                    Rule::SealBrokenBeforeInspection => "seal_broken",
                    Rule::SealOpenedAfterInspection => "seal_opened",
                    Rule::SealBrokenWithoutSealing => "seal_broken_unsealed",
                    Rule::TimeGap { .. } => "time_gap",
                    Rule::PlaceJump { .. } => "place_jump",
                    Rule::Excursion { .. } => "excursion",
                    Rule::ReportedExcursion { .. } => "reported_excursion",
                    Rule::CustomsHold { .. } => "customs_hold",
                    Rule::ChainBreak { .. } => "chain_break",
                    Rule::Unregistered { .. } => "unregistered",
                    Rule::Revoked { .. } => "revoked",
                    Rule::WrongRole { .. } => "wrong_role",
                    Rule::DatedAfterWitnessed { .. } => "dated_after_witnessed",
                    Rule::NoEvents => "no_events",
                };
                (name, f.severity)
            })
            .collect()
    }

    #[test]
    fn a_clean_journey_passes_with_custody_periods() {
        let r = assess("x", &journey_ok(), &Limits::default());
        assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.findings);
        let holders: Vec<&str> = r.custody.iter().map(|p| p.holder.as_str()).collect();
        assert_eq!(
            holders,
            [
                "Acme Cells urn:epc:id:pgln:4012345.00001",
                "Blue Sea Lines urn:epc:id:pgln:4012345.00002",
                "Euro Warehouse urn:epc:id:pgln:4012345.00004",
            ]
        );
        assert_eq!(r.custody[1].party.as_deref(), Some(CARRIER));
        assert_eq!(r.custody[0].until_ms, Some(r.custody[1].from_ms));
        assert_eq!(r.seal.state, SealState::Inspected);
        assert_eq!(
            rules(&r),
            [
                ("handover", Severity::Info),
                ("seal_intact", Severity::Info),
                ("handover", Severity::Info)
            ]
        );
        assert!(r.journey.cleared && !r.journey.held);
    }

    #[test]
    fn a_handover_signed_by_someone_else_fails() {
        let mut t = journey_ok();
        t[7] = handover(8, 13, warehouse(), WAREHOUSE);
        let r = assess("x", &t, &Limits::default());
        assert_eq!(r.verdict, Verdict::Fail);
        let f = r
            .findings
            .iter()
            .find(|f| matches!(f.rule, Rule::HandoverByNonHolder { .. }))
            .expect("finding");
        assert_eq!(f.indexes, [8]);
        assert!(f.message.contains("Blue Sea Lines"), "{}", f.message);
    }

    #[test]
    fn a_holder_without_a_gln_cannot_be_matched_and_is_a_warning() {
        let mut t = journey_ok();
        let mut carrier = carrier();
        carrier.org = Some("Blue Sea Lines".into());
        t[7] = handover(8, 13, carrier, WAREHOUSE);
        let r = assess("x", &t, &Limits::default());
        assert_eq!(r.verdict, Verdict::Warnings, "{:#?}", r.findings);
        assert!(rules(&r).contains(&("handover_unverifiable", Severity::Warning)));
    }

    #[test]
    fn an_sgln_of_the_holding_company_counts_as_the_holder() {
        let mut t = journey_ok();
        t[1] = handover(2, 1, plant(), "urn:epc:id:sgln:4012345.00002.7");
        assert_eq!(assess("x", &t, &Limits::default()).verdict, Verdict::Pass);
    }

    #[test]
    fn seal_broken_before_inspection_fails_and_after_is_noted() {
        let mut t = journey_ok();
        t.insert(4, ev(40, 5, Kind::SealBroken, carrier()));
        let r = assess("x", &t, &Limits::default());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.seal.state, SealState::Broken);
        assert_eq!(r.seal.broken_at, Some(40));
        assert!(rules(&r).contains(&("seal_broken", Severity::Failure)));

        let mut t = journey_ok();
        t.insert(6, ev(60, 11, Kind::SealBroken, customs()));
        let r = assess("x", &t, &Limits::default());
        assert_eq!(r.verdict, Verdict::Pass);
        assert!(rules(&r).contains(&("seal_opened", Severity::Info)));
    }

    #[test]
    fn an_open_seal_reading_counts_as_a_break() {
        let mut t = journey_ok();
        let mut e = ev(40, 5, Kind::Located, carrier());
        e.readings = vec![(Quantity::SealClosed, 0)];
        t.insert(4, e);
        assert_eq!(
            assess("x", &t, &Limits::default()).seal.state,
            SealState::Broken
        );
    }

    #[test]
    fn a_break_without_sealing_is_a_warning() {
        let t = vec![
            ev(1, 0, Kind::Commissioned, plant()),
            ev(2, 1, Kind::SealBroken, plant()),
        ];
        let r = assess("x", &t, &Limits::default());
        assert_eq!(r.verdict, Verdict::Warnings);
    }

    #[test]
    fn silence_in_transit_is_a_gap_but_not_in_a_warehouse() {
        let mut t = journey_ok();
        // Departed at hour 3, arrived at hour 10: limit 6 h.
        let limits = Limits {
            max_transit_silence_ms: 6 * 3_600_000,
            ..Limits::default()
        };
        let r = assess("x", &t, &limits);
        assert!(rules(&r).contains(&("time_gap", Severity::Warning)));
        let f = r
            .findings
            .iter()
            .find(|f| matches!(f.rule, Rule::TimeGap { .. }))
            .expect("gap");
        assert_eq!(f.indexes, [4, 5]);
        // The long stay between commissioning and handover is not in transit.
        t[1].time_ms += 100 * 3_600_000;
        t.sort_by_key(|e| e.time_ms);
        assert_eq!(
            rules(&assess("x", &t, &limits))
                .iter()
                .filter(|r| r.0 == "time_gap")
                .count(),
            1
        );
    }

    #[test]
    fn an_impossible_jump_between_fixes_is_flagged() {
        let mut a = ev(10, 0, Kind::Located, carrier());
        a.position = Some((519_000_000, 44_000_000)); // Rotterdam
        let mut b = ev(11, 1, Kind::Located, carrier());
        b.position = Some((13_520_000, 1_038_190_000)); // Singapore
        let mut c = ev(12, 400, Kind::Located, carrier());
        c.position = Some((519_000_000, 44_000_000));
        let r = assess("x", &[a, b, c], &Limits::default());
        let jumps: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| matches!(f.rule, Rule::PlaceJump { .. }))
            .collect();
        assert_eq!(jumps.len(), 1, "{jumps:#?}");
        assert_eq!(jumps[0].indexes, [10, 11]);
        let km = distance_km((519_000_000, 44_000_000), (13_520_000, 1_038_190_000));
        assert!((10_000.0..11_000.0).contains(&km), "{km}");
    }

    #[test]
    fn readings_outside_limits_fail_and_reported_excursions_within_warn() {
        let mut hot = ev(5, 5, Kind::Excursion, carrier());
        hot.readings = vec![(Quantity::Temperature, 65_000), (Quantity::Shock, 12_000)];
        let r = assess("x", &[hot.clone()], &Limits::default());
        assert_eq!(
            rules(&r),
            [
                ("excursion", Severity::Failure),
                ("excursion", Severity::Failure)
            ]
        );
        assert!(
            r.findings[0].message.contains("65.0 °C"),
            "{}",
            r.findings[0].message
        );

        let mut mild = hot;
        mild.readings = vec![(Quantity::Temperature, 30_000)];
        assert_eq!(
            rules(&assess("x", &[mild.clone()], &Limits::default())),
            [("reported_excursion", Severity::Warning)]
        );
        // 30 °C is outside a cold chain.
        assert_eq!(
            rules(&assess("x", &[mild], &Limits::reefer())),
            [("excursion", Severity::Failure)]
        );
    }

    #[test]
    fn chain_breaks_fail_unless_explained() {
        let mut a = ev(1, 0, Kind::Located, carrier());
        a.chain = ChainStatus::PrevMismatch;
        let mut b = ev(2, 1, Kind::Located, carrier());
        b.chain = ChainStatus::Gap {
            from: 3,
            to: 4,
            explained: true,
        };
        b.dropped = Some(2);
        let mut c = ev(3, 2, Kind::Located, carrier());
        c.chain = ChainStatus::Gap {
            from: 7,
            to: 7,
            explained: false,
        };
        let r = assess("x", &[a, b, c], &Limits::default());
        assert_eq!(
            rules(&r),
            [
                ("chain_break", Severity::Failure),
                ("chain_break", Severity::Warning),
                ("chain_break", Severity::Failure)
            ]
        );
    }

    #[test]
    fn unregistered_and_revoked_signers_fail() {
        let mut a = ev(5, 0, Kind::Located, carrier());
        a.signer.registered_at = Some(9);
        let mut b = ev(6, 1, Kind::Located, carrier());
        b.signer.revoked_at = Some(3);
        let mut c = ev(7, 1, Kind::Located, carrier());
        c.signer.revoked_at = Some(8);
        let r = assess("x", &[a, b, c], &Limits::default());
        assert_eq!(
            rules(&r),
            [
                ("unregistered", Severity::Failure),
                ("revoked", Severity::Failure)
            ]
        );
    }

    #[test]
    fn only_customs_clears() {
        let t = vec![
            ev(1, 0, Kind::Commissioned, plant()),
            ev(2, 1, Kind::Cleared, carrier()),
        ];
        assert!(
            rules(&assess("x", &t, &Limits::default()))
                .contains(&("wrong_role", Severity::Failure))
        );
    }

    #[test]
    fn an_empty_trace_fails() {
        assert_eq!(assess("x", &[], &Limits::default()).verdict, Verdict::Fail);
    }

    /// 2026-12-07T19:48:00Z, in seconds.
    const WITNESSED_S: u64 = 1_796_672_880;

    #[test]
    fn an_event_dated_after_the_witnesses_saw_it_is_a_warning() {
        // 2026-12-07T21:00Z: 1 h 12 min after the quorum had seen the checkpoint.
        let late_ms = 1_796_677_200_000;
        let f = dated_after_witnessed(42, "tracker-7", late_ms, WITNESSED_S).expect("finding");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.indexes, [42]);
        assert_eq!(
            f.rule,
            Rule::DatedAfterWitnessed {
                device: "tracker-7".into(),
                time_ms: late_ms,
                witnessed_ms: 1_796_672_880_000,
            }
        );
        assert_eq!(
            f.message,
            "tracker-7's event at log index 42: device time 2026-12-07T21:00Z is 1 h 12 min \
             after the witnesses saw the checkpoint holding it (19:48Z): the signer's clock is \
             ahead, or the event was dated after the fact"
        );
        // A day later, the witnessed time keeps its date.
        let f = dated_after_witnessed(1, "d", late_ms + 86_400_000, WITNESSED_S).expect("late");
        assert!(
            f.message.contains("1 day 1 h after") && f.message.contains("(2026-12-07T19:48Z)"),
            "{}",
            f.message
        );
    }

    #[test]
    fn clock_skew_within_the_allowance_is_no_finding() {
        let witnessed_ms = WITNESSED_S as i64 * 1000;
        for t in [
            witnessed_ms - 3_600_000,
            witnessed_ms,
            witnessed_ms + 4 * 60_000,
            witnessed_ms + CLOCK_SKEW_ALLOWANCE_MS,
        ] {
            assert_eq!(dated_after_witnessed(1, "d", t, WITNESSED_S), None, "{t}");
        }
        let just_over = witnessed_ms + CLOCK_SKEW_ALLOWANCE_MS + 1;
        let f = dated_after_witnessed(1, "d", just_over, WITNESSED_S).expect("over");
        assert!(f.message.contains("is 5 min after"), "{}", f.message);
        // Absurd times neither overflow nor fire.
        assert_eq!(dated_after_witnessed(1, "d", i64::MAX, u64::MAX), None);
        assert!(dated_after_witnessed(1, "d", i64::MAX, 0).is_some());
    }

    #[test]
    fn the_witnessed_time_turns_a_pass_into_warnings_naming_the_late_event() {
        let t = journey_ok();
        // The whole journey was witnessed by hour 14; then by hour 11, so that events 7..=9
        // (hours 12, 13, 14) are dated after it.
        let at_hour =
            |h: i64| u64::try_from((1_763_000_000_000 + h * 3_600_000) / 1000).expect("s");
        let r = assess_witnessed("x", &t, &Limits::default(), Some(at_hour(14)));
        assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.findings);
        assert_eq!(
            assess_witnessed("x", &t, &Limits::default(), None),
            assess("x", &t, &Limits::default())
        );
        let r = assess_witnessed("x", &t, &Limits::default(), Some(at_hour(11)));
        assert_eq!(r.verdict, Verdict::Warnings);
        let late: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| matches!(f.rule, Rule::DatedAfterWitnessed { .. }))
            .collect();
        let indexes: Vec<u64> = late.iter().flat_map(|f| f.indexes.clone()).collect();
        assert_eq!(indexes, [7, 8, 9]);
        assert!(
            late[0].message.contains("customs-rtm"),
            "{}",
            late[0].message
        );
        assert!(
            late[0].message.contains("is 1 h after"),
            "{}",
            late[0].message
        );
        // In trace order among the other findings: the handover at index 8 comes after 7's.
        let order: Vec<&[u64]> = r.findings.iter().map(|f| f.indexes.as_slice()).collect();
        let pos = |i: u64| {
            order
                .iter()
                .position(|x| x.last() == Some(&i))
                .expect("found")
        };
        assert!(pos(7) < pos(8) && pos(8) < pos(9));
        // Findings about events outside the trace go last.
        let mut report = assess("x", &t, &Limits::default());
        let outside = dated_after_witnessed(99, "other", i64::MAX / 2, 0).expect("late");
        let inside = dated_after_witnessed(1, "station-1", i64::MAX / 2, 0).expect("late");
        report.add_findings(&t, vec![outside.clone(), inside.clone()]);
        assert_eq!(report.findings.first(), Some(&inside));
        assert_eq!(report.findings.last(), Some(&outside));
        assert_eq!(report.verdict, Verdict::Warnings);
    }

    #[test]
    fn findings_serialize_with_their_rule_inline() {
        let mut t = journey_ok();
        t[7] = handover(8, 13, warehouse(), WAREHOUSE);
        let r = assess("x", &t, &Limits::default());
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["verdict"], "fail");
        let f = v["findings"]
            .as_array()
            .expect("array")
            .iter()
            .find(|f| f["rule"] == "handover_by_non_holder")
            .expect("finding");
        assert_eq!(f["severity"], "failure");
        assert_eq!(f["indexes"][0], 8);
        assert_eq!(f["to"], WAREHOUSE);
    }
}
