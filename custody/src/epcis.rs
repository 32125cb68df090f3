//! GS1 EPCIS 2.0 JSON-LD export of an item's history (SPEC §3's table), validating against
//! GS1's EPCIS 2.0 JSON schema.
//!
//! Each event becomes an `ObjectEvent` or `AggregationEvent` with:
//!
//! - `action`, `bizStep` and `disposition` as CBV 2.0 words. Where SPEC §3 names a word CBV
//!   does not have, the nearest CBV word is used and the kind travels in `prov:kind`: `sealed`
//!   is disposition `container_closed`, `seal_broken` is `container_open`.
//! - `epcList` (or `parentID` and `childEPCs` for packing), `eventTime` in UTC with
//!   `eventTimeZoneOffset` `+00:00` (devices keep UTC).
//! - `readPoint`: the GNSS fix as a `geo:` URI (RFC 5870) when there is one, else the SGLN;
//!   `bizLocation`: the SGLN.
//! - `sensorElementList` for readings, in CBV measurement types and UN/CEFACT units
//!   (`VLT`, `AMP`, `CEL`, `P1`, `K40`); quantities CBV has no type for (state of charge and
//!   health, the seal loop) use this project's vocabulary (`prov:StateOfCharge`, …). A reading
//!   outside the [`Limits`] carries `exception: ALARM_CONDITION`, and an excursion beyond them
//!   has disposition `damaged`.
//! - `destinationList` with the handover `party` (`possessing_party` for a PGLN, `location`
//!   for an SGLN), `bizTransactionList` with the `doc`.
//! - `eventID` = `ni:///sha-256;<hex>?ver=CBV2.0`, the SHA-256 of the signed entry as logged,
//!   so anyone holding the entry can recompute it.
//! - `prov:logIndex` (the entry's index in the log), `prov:signer`, `prov:kind`, in the
//!   namespace [`NAMESPACE`] declared in `@context`.

use base64::Engine as _;
use provenance_event::{Event, Kind, Quantity, Scheme, SignedEvent, message_hash};
use serde_json::{Map, Value, json};

use crate::rules::Limits;

/// The JSON-LD context of EPCIS 2.0.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// This project's namespace for extension fields (prefix `prov`).
pub const NAMESPACE: &str = "https://example.invalid/provenance/epcis/";

/// An entry of the log to export: its index and its bytes as logged.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Log index.
    pub index: u64,
    /// The COSE_Sign1 message.
    pub bytes: &'a [u8],
}

/// RFC 3339 UTC time with milliseconds, from Unix ms (proleptic Gregorian, no leap seconds).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The EPCIS event ID of a logged entry.
pub fn event_id(entry: &[u8]) -> String {
    format!(
        "ni:///sha-256;{}?ver=CBV2.0",
        hex::encode(message_hash(entry))
    )
}

struct Mapping {
    aggregation: bool,
    action: &'static str,
    biz_step: &'static str,
    disposition: Option<&'static str>,
}

fn mapping(kind: Kind) -> Mapping {
    let (aggregation, action, biz_step, disposition) = match kind {
        Kind::Commissioned => (false, "ADD", "commissioning", Some("active")),
        Kind::Packed => (true, "ADD", "packing", Some("in_progress")),
        Kind::Unpacked => (true, "DELETE", "unpacking", Some("in_progress")),
        Kind::Measured => (false, "OBSERVE", "sensor_reporting", None),
        Kind::Departed => (false, "OBSERVE", "departing", Some("in_transit")),
        Kind::Located => (false, "OBSERVE", "transporting", Some("in_transit")),
        Kind::Excursion => (false, "OBSERVE", "sensor_reporting", None),
        Kind::Sealed => (false, "OBSERVE", "loading", Some("container_closed")),
        Kind::SealBroken => (false, "OBSERVE", "other", Some("container_open")),
        Kind::Arrived => (false, "OBSERVE", "arriving", Some("in_transit")),
        Kind::HandedOver => (false, "OBSERVE", "shipping", Some("in_transit")),
        Kind::Inspected => (false, "OBSERVE", "inspecting", Some("in_progress")),
        Kind::Held => (false, "OBSERVE", "holding", Some("non_conformant")),
        Kind::Cleared => (false, "OBSERVE", "accepting", Some("conformant")),
        Kind::Decommissioned => (false, "DELETE", "decommissioning", Some("inactive")),
    };
    Mapping {
        aggregation,
        action,
        biz_step,
        disposition,
    }
}

/// A reading as an EPCIS sensor report: (type, value field, value, uom).
fn sensor_report(q: Quantity, v: i64) -> Map<String, Value> {
    let milli = v as f64 / 1000.0;
    let (ty, value, uom): (&str, Value, Option<&str>) = match q {
        Quantity::Voltage => ("Voltage", json!(milli), Some("VLT")),
        Quantity::Current => ("ElectricCurrent", json!(milli), Some("AMP")),
        Quantity::StateOfCharge => ("prov:StateOfCharge", json!(v as f64 / 10.0), Some("P1")),
        Quantity::StateOfHealth => ("prov:StateOfHealth", json!(v as f64 / 10.0), Some("P1")),
        Quantity::Temperature => ("Temperature", json!(milli), Some("CEL")),
        Quantity::ChargeCycles => ("Count", json!(v), None),
        Quantity::Humidity => ("RelativeHumidity", json!(v as f64 / 10.0), Some("P1")),
        Quantity::Shock => ("Acceleration", json!(milli), Some("K40")),
        Quantity::SealClosed => ("prov:SealClosed", Value::Null, None),
    };
    let mut r = Map::new();
    r.insert("type".into(), json!(ty));
    if q == Quantity::SealClosed {
        r.insert("booleanValue".into(), json!(v == 1));
    } else {
        r.insert("value".into(), value);
    }
    if let Some(u) = uom {
        r.insert("uom".into(), json!(u));
    }
    r
}

fn outside(q: Quantity, v: i64, limits: &Limits) -> bool {
    match q {
        Quantity::Temperature => v < limits.temperature_min_mc || v > limits.temperature_max_mc,
        Quantity::Shock => v > limits.shock_max_mg,
        Quantity::Humidity => limits.humidity_max_permille.is_some_and(|m| v > m),
        _ => false,
    }
}

/// A business document reference as a URI: kept when it already is one, else in this
/// project's namespace.
fn doc_uri(doc: &str) -> String {
    let is_uri = doc.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !doc.contains(char::is_whitespace)
    });
    if is_uri {
        return doc.to_string();
    }
    let mut out = format!("{NAMESPACE}doc/");
    for b in doc.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A commissioning's master data as EPCIS instance/lot master data (`ilmd`, which EPCIS
/// allows on an ObjectEvent ADD): one `prov:` key per field of docs/PASSPORT.md, in its units.
fn ilmd(m: &provenance_event::Master) -> Map<String, Value> {
    let mut o = Map::new();
    if let Some(c) = m.category {
        o.insert("prov:category".into(), json!(c.name()));
    }
    if let Some(c) = &m.chemistry {
        o.insert("prov:chemistry".into(), json!(c.as_str()));
    }
    let numbers = [
        ("prov:ratedCapacity_mAh", m.rated_capacity_mah),
        ("prov:nominalVoltage_mV", m.nominal_voltage_mv),
        ("prov:minimumVoltage_mV", m.minimum_voltage_mv),
        ("prov:maximumVoltage_mV", m.maximum_voltage_mv),
        ("prov:mass_g", m.mass_g),
        (
            "prov:carbonFootprint_gCO2ePerKWh",
            m.carbon_footprint_g_per_kwh,
        ),
        ("prov:expectedCycles", m.expected_cycles),
    ];
    for (k, v) in numbers {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    if let Some(c) = m.carbon_class {
        o.insert("prov:carbonFootprintClass".into(), json!(c.to_string()));
    }
    o
}

/// One logged event as an EPCIS event, or `None` when the entry is not an event.
pub fn event(entry: Entry<'_>, limits: &Limits) -> Option<Value> {
    let signed = SignedEvent::parse(entry.bytes).ok()?;
    let e = Event::decode(signed.sign1().payload()).ok()?;
    let m = mapping(e.kind);
    let time = rfc3339(e.time);
    let mut o = Map::new();
    o.insert(
        "type".into(),
        json!(if m.aggregation {
            "AggregationEvent"
        } else {
            "ObjectEvent"
        }),
    );
    o.insert("eventTime".into(), json!(time));
    o.insert("eventTimeZoneOffset".into(), json!("+00:00"));
    o.insert("eventID".into(), json!(event_id(entry.bytes)));
    let items: Vec<&str> = e.items.iter().collect();
    if m.aggregation {
        if let Some(p) = &e.parent {
            o.insert("parentID".into(), json!(p.to_string()));
        }
        o.insert("childEPCs".into(), json!(items));
    } else {
        o.insert("epcList".into(), json!(items));
    }
    o.insert("action".into(), json!(m.action));
    o.insert("bizStep".into(), json!(m.biz_step));
    let alarm = e.readings.iter().any(|(q, v)| outside(q, v, limits));
    let disposition = if e.kind == Kind::Excursion && alarm {
        Some("damaged")
    } else {
        m.disposition
    };
    if let Some(d) = disposition {
        o.insert("disposition".into(), json!(d));
    }
    if let Some(loc) = &e.location {
        let read_point = match (loc.lat_lon, &loc.sgln) {
            (Some((lat, lon)), _) => Some(format!(
                "geo:{},{}",
                f64::from(lat) / 1e7,
                f64::from(lon) / 1e7
            )),
            (None, Some(s)) => Some(s.to_string()),
            (None, None) => None,
        };
        if let Some(rp) = read_point {
            o.insert("readPoint".into(), json!({ "id": rp }));
        }
        if let Some(s) = &loc.sgln {
            o.insert("bizLocation".into(), json!({ "id": s.to_string() }));
        }
    }
    if let Some(doc) = e.doc {
        o.insert(
            "bizTransactionList".into(),
            json!([{ "bizTransaction": doc_uri(doc) }]),
        );
    }
    if let Some(p) = &e.party {
        let ty = if p.scheme() == Scheme::Sgln {
            "location"
        } else {
            "possessing_party"
        };
        o.insert(
            "destinationList".into(),
            json!([{ "type": ty, "destination": p.to_string() }]),
        );
    }
    if !e.readings.is_empty() {
        let reports: Vec<Value> = e
            .readings
            .iter()
            .map(|(q, v)| {
                let mut r = sensor_report(q, v);
                if outside(q, v, limits) {
                    r.insert("exception".into(), json!("ALARM_CONDITION"));
                }
                Value::Object(r)
            })
            .collect();
        o.insert(
            "sensorElementList".into(),
            json!([{ "sensorMetadata": { "time": time }, "sensorReport": reports }]),
        );
    }
    if let Some(m) = &e.master {
        o.insert("ilmd".into(), Value::Object(ilmd(m)));
    }
    o.insert("prov:logIndex".into(), json!(entry.index));
    o.insert("prov:signer".into(), json!(signed.device().as_str()));
    o.insert("prov:kind".into(), json!(e.kind.name()));
    if let Some(d) = e.dropped {
        o.insert("prov:dropped".into(), json!(d));
    }
    Some(Value::Object(o))
}

/// An EPCIS 2.0 document with the events among `entries` (others are skipped), in the order
/// given, for `subject`, created at `creation_ms`.
pub fn document(subject: &str, entries: &[Entry<'_>], creation_ms: i64, limits: &Limits) -> Value {
    let events: Vec<Value> = entries.iter().filter_map(|e| event(*e, limits)).collect();
    json!({
        "@context": [EPCIS_CONTEXT, { "prov": NAMESPACE }],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(creation_ms),
        "prov:subject": subject,
        "epcisBody": { "eventList": events },
    })
}

/// A URL-safe file name stem for a subject (for `Content-Disposition`).
pub fn file_stem(subject: &str) -> String {
    let s: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(subject)
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use provenance_event::{DeviceId, Draft, Epc, Location, sign_event};

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_763_719_200_123), "2025-11-21T10:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn doc_references_become_uris() {
        assert_eq!(
            doc_uri("urn:epcglobal:cbv:bt:4012345000009:BOL-1"),
            "urn:epcglobal:cbv:bt:4012345000009:BOL-1"
        );
        assert_eq!(
            doc_uri("MRN 24NL/1"),
            "https://example.invalid/provenance/epcis/doc/MRN%2024NL%2F1"
        );
    }

    #[test]
    fn an_excursion_maps_with_sensor_reports_and_alarm() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let dev = DeviceId::new("tracker-7").expect("id");
        let items = [Epc::parse("urn:epc:id:sscc:4012345.0000000017").expect("epc")];
        let loc = Location {
            lat_lon: Some((519_000_000, 44_000_000)),
            sgln: Some(Epc::parse("urn:epc:id:sgln:4012345.00005.0").expect("sgln")),
        };
        let mut d = Draft::new(3, [9; 32], 1_763_719_200_000, Kind::Excursion, &items);
        d.location = Some(&loc);
        d.readings
            .set(Quantity::Temperature, 65_500)
            .expect("range");
        d.readings.set(Quantity::SealClosed, 1).expect("range");
        let mut buf = [0u8; 4096];
        let n = sign_event(&key, &dev, &d, &mut buf).expect("sign");
        let v = event(
            Entry {
                index: 42,
                bytes: &buf[..n],
            },
            &Limits::default(),
        )
        .expect("event");
        assert_eq!(v["type"], "ObjectEvent");
        assert_eq!(v["action"], "OBSERVE");
        assert_eq!(v["bizStep"], "sensor_reporting");
        assert_eq!(v["disposition"], "damaged");
        assert_eq!(v["readPoint"]["id"], "geo:51.9,4.4");
        assert_eq!(v["bizLocation"]["id"], "urn:epc:id:sgln:4012345.00005.0");
        let reports = &v["sensorElementList"][0]["sensorReport"];
        assert_eq!(reports[0]["type"], "Temperature");
        assert_eq!(reports[0]["value"], 65.5);
        assert_eq!(reports[0]["uom"], "CEL");
        assert_eq!(reports[0]["exception"], "ALARM_CONDITION");
        assert_eq!(reports[1]["booleanValue"], true);
        assert_eq!(v["prov:logIndex"], 42);
        assert_eq!(v["eventID"], event_id(&buf[..n]));
        assert!(
            v["eventID"]
                .as_str()
                .is_some_and(|s| s.starts_with("ni:///sha-256;") && s.ends_with("?ver=CBV2.0"))
        );
    }
}
