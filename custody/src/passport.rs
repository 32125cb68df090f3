//! The EU battery passport of one item (Regulation 2023/1542 Art. 77 and Annex XIII, fields as
//! DIN DKE SPEC 99100 clusters them), derived from the events a reader may see and the custody
//! report over them. Every field names the log entry that states it, so each can be proved.
//!
//! Static fields come from the item's `commissioned` event (its signer, place, time and
//! `master` map, docs/PASSPORT.md); dynamic ones from the newest `measured` event naming the
//! item (state of health, charge cycles, state of charge), the custody findings (negative
//! events) and the custody periods. [`battery_pass`] writes it as JSON with the Battery Pass
//! consortium data model's field names.
//!
//! Which events a reader may see is decided before, by `provenance-access`: derived from the
//! public facts alone, a passport has its public fields only, and [`Passport::restricted`]
//! says the rest is withheld, not absent.

use provenance_event::{Kind, Master, Quantity};
use serde_json::{Map, Value, json};

use crate::epcis::rfc3339;
use crate::rules::{CustodyPeriod, CustodyReport, Rule, Severity, TraceEvent};

/// A value and the log entry that states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stated<T> {
    /// The value.
    pub value: T,
    /// The log index of the entry stating it.
    pub index: u64,
    /// The entry's device time, Unix ms.
    pub time_ms: i64,
}

/// The lifecycle status the Battery Pass data model lists (`batteryStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatteryStatus {
    /// In its first life.
    Original,
    /// Taken out of service (`decommissioned`).
    Waste,
}

impl BatteryStatus {
    /// The model's word.
    pub fn name(self) -> &'static str {
        match self {
            BatteryStatus::Original => "Original",
            BatteryStatus::Waste => "Waste",
        }
    }
}

/// Something that happened to the battery that a second-life operator or recycler must know
/// (DIN DKE SPEC 99100 6.7.8.4, "negative events"): an excursion, a seal broken, a shock, a
/// customs hold.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeEvent {
    /// What, in words.
    pub what: String,
    /// How much it matters.
    pub severity: Severity,
    /// When it began, Unix ms.
    pub time_ms: i64,
    /// The entries stating it; the first is where it began.
    pub indexes: Vec<u64>,
}

/// One item's passport.
#[derive(Debug, Clone, PartialEq)]
pub struct Passport {
    /// The item (EPC URI): `productIdentifier`.
    pub item: String,
    /// Who made it: the commissioning signer's organisation (or ID).
    pub manufacturer: Option<Stated<String>>,
    /// Where (SGLN URI of the commissioning).
    pub manufacturing_place: Option<Stated<String>>,
    /// When, Unix ms.
    pub manufacturing_date: Option<Stated<i64>>,
    /// The maker's master data.
    pub master: Option<Stated<Master>>,
    /// Original, or waste once decommissioned.
    pub status: Option<Stated<BatteryStatus>>,
    /// State of health, ‰, from the newest measurement stating it.
    pub state_of_health: Option<Stated<i64>>,
    /// Charge cycles, from the newest measurement stating them.
    pub charge_cycles: Option<Stated<i64>>,
    /// State of charge, ‰.
    pub state_of_charge: Option<Stated<i64>>,
    /// Negative events, oldest first.
    pub negative_events: Vec<NegativeEvent>,
    /// Who held it when.
    pub custody: Vec<CustodyPeriod>,
    /// The reader sees the public fields only: the dynamic fields and the custody history are
    /// withheld, not empty.
    pub restricted: bool,
}

impl Passport {
    /// Whether the log states anything about the battery (a commissioning at least).
    pub fn is_known(&self) -> bool {
        self.manufacturing_date.is_some()
    }
}

fn stated<T>(e: &TraceEvent, value: T) -> Stated<T> {
    Stated {
        value,
        index: e.index,
        time_ms: e.time_ms,
    }
}

/// Whether a finding is a negative event of the battery.
fn negative(rule: &Rule) -> bool {
    matches!(
        rule,
        Rule::Excursion { .. }
            | Rule::ReportedExcursion { .. }
            | Rule::SealBrokenBeforeInspection
            | Rule::SealBrokenWithoutSealing
            | Rule::CustomsHold { .. }
    )
}

/// The passport of `item` from `events` (its history as the reader may see it, in log order)
/// and `report`, the custody judge's report over those same events: `None` for a reader who
/// sees the public facts only, whose passport then has the public fields alone.
pub fn passport(item: &str, events: &[TraceEvent], report: Option<&CustodyReport>) -> Passport {
    let own = || events.iter().filter(|e| e.inherited.is_none());
    let made = own().find(|e| e.kind == Kind::Commissioned);
    // Only the making states the master data: a later commissioning by someone else must not
    // speak in the maker's name.
    let master = made.and_then(|e| Some(stated(e, e.master.clone()?)));
    let ended = own().rfind(|e| e.kind == Kind::Decommissioned);
    let status = match (ended, made) {
        (Some(e), _) => Some(stated(e, BatteryStatus::Waste)),
        (None, Some(e)) => Some(stated(e, BatteryStatus::Original)),
        (None, None) => None,
    };
    // The newest measurement of the battery itself: a container's sensors do not measure
    // the cells inside it.
    let newest = |q: Quantity| {
        report?;
        own()
            .filter(|e| e.kind == Kind::Measured)
            .filter_map(|e| {
                let v = e.readings.iter().find(|(rq, _)| *rq == q)?.1;
                Some(stated(e, v))
            })
            .max_by_key(|s| (s.time_ms, s.index))
    };
    let negative_events = report.map_or_else(Vec::new, |r| {
        let time_of: std::collections::HashMap<u64, i64> =
            events.iter().map(|e| (e.index, e.time_ms)).collect();
        r.findings
            .iter()
            .filter(|f| negative(&f.rule))
            .filter_map(|f| {
                let first = *f.indexes.first()?;
                Some(NegativeEvent {
                    what: f.message.clone(),
                    severity: f.severity,
                    time_ms: time_of.get(&first).copied().unwrap_or_default(),
                    indexes: f.indexes.clone(),
                })
            })
            .collect()
    });
    Passport {
        item: item.to_string(),
        manufacturer: made.and_then(|e| {
            let who = e.signer.org.clone().or_else(|| {
                // A public view carries no device ID: an unregistered maker is no name.
                (!e.signer.id.is_empty()).then(|| e.signer.id.clone())
            })?;
            Some(stated(e, who))
        }),
        manufacturing_place: made.and_then(|e| Some(stated(e, e.place.clone()?))),
        manufacturing_date: made.map(|e| stated(e, e.time_ms)),
        master,
        status,
        state_of_health: newest(Quantity::StateOfHealth),
        charge_cycles: newest(Quantity::ChargeCycles),
        state_of_charge: newest(Quantity::StateOfCharge),
        negative_events,
        custody: report.map_or_else(Vec::new, |r| r.custody.clone()),
        restricted: report.is_none(),
    }
}

/// The passport as JSON with the Battery Pass consortium data model's field names
/// (`generalProductInformation`, `carbonFootprint`, `materialComposition`, `performance`),
/// in the model's units (Ah, V, kg, kg CO₂e/kWh, %). `link` is the battery's Digital Link
/// (`batteryPassportIdentifier`); `proof(index)` the URL of an entry's inclusion proof.
/// `evidence` maps the JSON pointer of every field to the entry stating it.
pub fn battery_pass(p: &Passport, link: &str, proof: impl Fn(u64) -> String) -> Value {
    let mut evidence = Map::new();
    let mut note = |pointer: &str, index: u64| {
        evidence.insert(
            pointer.to_string(),
            json!({ "logIndex": index, "inclusionProof": proof(index) }),
        );
    };
    let mut general = Map::new();
    general.insert("productIdentifier".into(), json!(p.item));
    if let Some(m) = &p.manufacturer {
        let (name, ids) = org_parts(&m.value);
        general.insert(
            "manufacturerInformation".into(),
            json!({ "contactName": name, "identifier": ids }),
        );
        note(
            "/generalProductInformation/manufacturerInformation",
            m.index,
        );
    }
    if let Some(d) = &p.manufacturing_date {
        general.insert("manufacturingDate".into(), json!(rfc3339(d.value)));
        note("/generalProductInformation/manufacturingDate", d.index);
    }
    if let Some(pl) = &p.manufacturing_place {
        general.insert(
            "manufacturingPlace".into(),
            json!({ "identifier": pl.value }),
        );
        note("/generalProductInformation/manufacturingPlace", pl.index);
    }
    if let Some(s) = &p.status {
        general.insert("batteryStatus".into(), json!(s.value.name()));
        note("/generalProductInformation/batteryStatus", s.index);
    }
    let mut carbon = Map::new();
    let mut chemistry = Map::new();
    let mut technical = Map::new();
    if let Some(m) = &p.master {
        let i = m.index;
        let v = &m.value;
        if let Some(c) = v.category {
            general.insert("batteryCategory".into(), json!(c.name()));
            note("/generalProductInformation/batteryCategory", i);
        }
        if let Some(g) = v.mass_g {
            general.insert("batteryMass".into(), json!(f64::from(g) / 1000.0));
            note("/generalProductInformation/batteryMass", i);
        }
        if let Some(c) = &v.chemistry {
            chemistry.insert(
                "batteryChemistry".into(),
                json!({ "shortName": c.as_str() }),
            );
            note("/materialComposition/batteryChemistry", i);
        }
        if let Some(g) = v.carbon_footprint_g_per_kwh {
            carbon.insert(
                "batteryCarbonFootprint".into(),
                json!(f64::from(g) / 1000.0),
            );
            note("/carbonFootprint/batteryCarbonFootprint", i);
        }
        if let Some(c) = v.carbon_class {
            carbon.insert(
                "carbonFootprintPerformanceClass".into(),
                json!(c.to_string()),
            );
            note("/carbonFootprint/carbonFootprintPerformanceClass", i);
        }
        let volts = |mv: u32| f64::from(mv) / 1000.0;
        let numbers = [
            (
                "ratedCapacity",
                v.rated_capacity_mah.map(|x| f64::from(x) / 1000.0),
            ),
            ("nominalVoltage", v.nominal_voltage_mv.map(volts)),
            ("minimumVoltage", v.minimum_voltage_mv.map(volts)),
            ("maximumVoltage", v.maximum_voltage_mv.map(volts)),
            ("expectedNumberOfCycles", v.expected_cycles.map(f64::from)),
        ];
        for (name, value) in numbers {
            if let Some(x) = value {
                technical.insert(name.into(), json!(x));
                note(
                    &format!("/performance/batteryTechnicalProperties/{name}"),
                    i,
                );
            }
        }
    }
    let mut condition = Map::new();
    if let Some(s) = &p.state_of_health {
        condition.insert("stateOfHealth".into(), json!(s.value as f64 / 10.0));
        note("/performance/batteryCondition/stateOfHealth", s.index);
    }
    if let Some(s) = &p.charge_cycles {
        condition.insert("numberOfFullCycles".into(), json!(s.value));
        note("/performance/batteryCondition/numberOfFullCycles", s.index);
    }
    if let Some(s) = &p.state_of_charge {
        condition.insert("stateOfCharge".into(), json!(s.value as f64 / 10.0));
        note("/performance/batteryCondition/stateOfCharge", s.index);
    }
    if !p.restricted {
        let events: Vec<Value> = p
            .negative_events
            .iter()
            .enumerate()
            .map(|(n, e)| {
                if let Some(&i) = e.indexes.first() {
                    note(
                        &format!("/performance/batteryCondition/negativeEvents/{n}"),
                        i,
                    );
                }
                json!({
                    "negativeEvent": e.what,
                    "severity": e.severity,
                    "lastUpdate": rfc3339(e.time_ms),
                    "logIndexes": e.indexes,
                })
            })
            .collect();
        condition.insert("negativeEvents".into(), Value::Array(events));
    }
    let custody: Vec<Value> = p
        .custody
        .iter()
        .enumerate()
        .map(|(n, c)| {
            note(&format!("/custodyHistory/{n}"), c.from_index);
            json!({
                "holder": c.holder,
                "party": c.party,
                "from": rfc3339(c.from_ms),
                "until": c.until_ms.map(rfc3339),
                "logIndex": c.from_index,
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("batteryPassportIdentifier".into(), json!(link));
    out.insert("generalProductInformation".into(), Value::Object(general));
    out.insert("materialComposition".into(), Value::Object(chemistry));
    out.insert("carbonFootprint".into(), Value::Object(carbon));
    out.insert(
        "performance".into(),
        json!({
            "batteryTechnicalProperties": Value::Object(technical),
            "batteryCondition": Value::Object(condition),
        }),
    );
    if !p.restricted {
        out.insert("custodyHistory".into(), Value::Array(custody));
    }
    out.insert(
        "withheld".into(),
        if p.restricted {
            json!(["/performance/batteryCondition", "/custodyHistory"])
        } else {
            json!([])
        },
    );
    out.insert("evidence".into(), Value::Object(evidence));
    Value::Object(out)
}

/// An organisation as the registry writes it ("Name urn:epc:id:pgln:…"): its name, and the
/// GS1 party URIs it carries.
fn org_parts(org: &str) -> (String, Vec<String>) {
    let ids: Vec<String> = org
        .split_whitespace()
        .filter(|w| w.starts_with("urn:epc:id:"))
        .map(str::to_string)
        .collect();
    let name = org
        .split_whitespace()
        .filter(|w| !w.starts_with("urn:epc:id:"))
        .collect::<Vec<_>>()
        .join(" ");
    (name, ids)
}

/// The most fields a passport's `evidence` map may name for [`check`]: a passport has about
/// forty, and the custody history and negative events add one each.
pub const MAX_CHECKED_FIELDS: usize = 100_000;

/// What the verified entries say of one field of a passport.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldProof {
    /// The field is what the entry states, and the entry verified.
    Proved,
    /// The verified entries state something else (or nothing: `logged` is null), or the
    /// passport leaves out what they state (`claimed` is null).
    Differs {
        /// What the passport says.
        claimed: Value,
        /// What the entries state.
        logged: Value,
    },
    /// A public bundle leaves out the field's entry (it names other items too): only a
    /// partner's or an authority's bundle proves the field. In a whole bundle a missing
    /// entry is [`FieldProof::Differs`].
    NotInBundle,
}

/// One field of a passport against the bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCheck {
    /// The field's JSON pointer (`/generalProductInformation/manufacturingDate`).
    pub pointer: String,
    /// The log index that states it (the passport's word, else the entries'); `None` for a
    /// part of the passport no entry states (`/withheld`, an unknown key).
    pub index: Option<u64>,
    /// What the verified entries say.
    pub outcome: FieldProof,
}

/// Why a file cannot be checked as a passport of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PassportError {
    /// Not the shape [`battery_pass`] writes.
    #[error(
        "not a battery passport ({0}); give the JSON that GET /api/v1/items/{{id}}/passport answers"
    )]
    Shape(&'static str),
    /// A passport of another item than the bundle's.
    #[error("the passport is of {claimed}, the bundle of {subject}")]
    Subject {
        /// The passport's item.
        claimed: String,
        /// The bundle's.
        subject: String,
    },
    /// More fields than any passport has.
    #[error("the passport names {0} fields; a passport has far fewer than {MAX_CHECKED_FIELDS}")]
    TooLarge(usize),
}

/// Top-level keys of the export that are about where it was read, not what the log states.
const NOT_STATED: [&str; 4] = [
    "access",
    "verify",
    "checkpoint",
    "batteryPassportIdentifier",
];

/// The passport without what is not stated by entries, each field's evidence reduced to its
/// log index (proof URLs depend on the server).
fn stated_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in NOT_STATED {
            o.remove(k);
        }
        if let Some(Value::Object(ev)) = o.get_mut("evidence") {
            for e in ev.values_mut() {
                *e = e.get("logIndex").cloned().unwrap_or(Value::Null);
            }
        }
    }
    v
}

/// Every JSON pointer at which `a` and `b` differ (a missing member counts as null).
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (p, q) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(p, q, &format!("{at}/{}", escape(k)), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let (p, q) = (
                    x.get(i).unwrap_or(&Value::Null),
                    y.get(i).unwrap_or(&Value::Null),
                );
                differences(p, q, &format!("{at}/{i}"), out);
            }
        }
        (a, b) if a != b => out.push(at.to_string()),
        _ => {}
    }
}

/// Checks a passport (`claimed`, as [`battery_pass`] writes it and the server exports it)
/// against a verified bundle (`report`, from [`crate::verify`]): derives the passport again
/// from the events the bundle proves, with the same rules, and compares the whole of it —
/// every field, every field's entry, what is withheld — so a field changed, added, dropped
/// or credited to another entry is caught.
pub fn check(
    report: &crate::verify::Report,
    claimed: &Value,
) -> Result<Vec<FieldCheck>, PassportError> {
    let subject = claimed
        .pointer("/generalProductInformation/productIdentifier")
        .and_then(Value::as_str)
        .ok_or(PassportError::Shape(
            "no generalProductInformation.productIdentifier",
        ))?;
    if subject != report.subject {
        return Err(PassportError::Subject {
            claimed: subject.to_string(),
            subject: report.subject.clone(),
        });
    }
    let evidence = claimed
        .get("evidence")
        .and_then(Value::as_object)
        .ok_or(PassportError::Shape("no evidence map"))?;
    if evidence.len() > MAX_CHECKED_FIELDS {
        return Err(PassportError::TooLarge(evidence.len()));
    }
    if evidence
        .values()
        .any(|e| e.get("logIndex").and_then(Value::as_u64).is_none())
    {
        return Err(PassportError::Shape("an evidence entry without a logIndex"));
    }
    let public = report.scope == crate::bundle::Scope::Public;
    let custody = (!public).then(|| {
        report.custody.clone().unwrap_or_else(|| {
            crate::rules::assess(
                &report.subject,
                &report.events,
                &crate::rules::Limits::default(),
            )
        })
    });
    let logged = battery_pass(
        &passport(&report.subject, &report.events, custody.as_ref()),
        "",
        |_| String::new(),
    );
    let verified: std::collections::HashSet<u64> = report.events.iter().map(|e| e.index).collect();
    let mut diffs = Vec::new();
    differences(&stated_part(claimed), &stated_part(&logged), "", &mut diffs);
    let mut out = Vec::new();
    // The passport's identifier must be the subject's Digital Link, under any server.
    let link = claimed
        .get("batteryPassportIdentifier")
        .and_then(Value::as_str);
    let path = provenance_event::Epc::parse(&report.subject)
        .map(|e| e.digital_link_path().to_string())
        .unwrap_or_default();
    if !link.is_some_and(|l| !path.is_empty() && l.ends_with(&path)) {
        out.push(FieldCheck {
            pointer: "/batteryPassportIdentifier".into(),
            index: None,
            outcome: FieldProof::Differs {
                claimed: link.map_or(Value::Null, |l| json!(l)),
                logged: json!(format!("…{path}")),
            },
        });
    }
    let logged_evidence = logged.get("evidence").and_then(Value::as_object);
    let fields: std::collections::BTreeSet<&String> = evidence
        .keys()
        .chain(logged_evidence.into_iter().flat_map(|m| m.keys()))
        .collect();
    let index_of = |f: &str| {
        evidence
            .get(f)
            .or_else(|| logged_evidence.and_then(|m| m.get(f)))
            .and_then(|e| e.get("logIndex"))
            .and_then(Value::as_u64)
    };
    let mut covered = vec![false; diffs.len()];
    for f in fields {
        let own_evidence = format!("/evidence/{}", escape(f));
        let mut differs = false;
        for (d, seen) in diffs.iter().zip(covered.iter_mut()) {
            let under = d == f || d.starts_with(&format!("{f}/")) || *d == own_evidence;
            if under {
                *seen = true;
                differs = true;
            }
        }
        let index = index_of(f);
        // Not in the bundle: a public bundle lacks the entry the passport names, and none of
        // its entries states the field otherwise.
        let unprovable = public
            && logged_evidence.is_none_or(|m| !m.contains_key(f.as_str()))
            && index.is_some_and(|i| !verified.contains(&i));
        let outcome = match (differs, unprovable) {
            (false, _) => FieldProof::Proved,
            (true, true) => FieldProof::NotInBundle,
            (true, false) => FieldProof::Differs {
                claimed: claimed.pointer(f).cloned().unwrap_or(Value::Null),
                logged: logged.pointer(f).cloned().unwrap_or(Value::Null),
            },
        };
        out.push(FieldCheck {
            pointer: f.clone(),
            index,
            outcome,
        });
    }
    // What differs outside every stated field: what the passport says is withheld, a key
    // of its own.
    for (d, seen) in diffs.iter().zip(&covered) {
        if !seen {
            out.push(FieldCheck {
                pointer: d.clone(),
                index: None,
                outcome: FieldProof::Differs {
                    claimed: claimed.pointer(d).cloned().unwrap_or(Value::Null),
                    logged: logged.pointer(d).cloned().unwrap_or(Value::Null),
                },
            });
        }
    }
    out.sort_by(|a, b| a.index.cmp(&b.index).then(a.pointer.cmp(&b.pointer)));
    Ok(out)
}

/// A JSON pointer as one reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
fn escape(pointer: &str) -> String {
    pointer.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests;
