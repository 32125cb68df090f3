//! Values as people read them: times in UTC, readings in everyday units (°C, g, V, %), kinds
//! in words. The event carries integers in SPEC §3's units; only the pages convert them.

use provenance_event::{Kind, Quantity};

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`, so the pages need no calendar crate and no time-zone database.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The parts of a Unix time in ms: (year, month, day, hour, minute, second).
fn parts(ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400) as u32;
    (y, mo, d, s / 3_600, s % 3_600 / 60, s % 60)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(m: u32) -> &'static str {
    MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("?")
}

/// `18 Nov 2026, 08:50 UTC`: unambiguous in every country (no 11/12 versus 12/11).
pub fn utc(ms: i64) -> String {
    let (y, mo, d, h, mi, _) = parts(ms);
    format!("{d} {} {y}, {h:02}:{mi:02} UTC", month(mo))
}

/// `18 Nov 2026`.
pub fn date(ms: i64) -> String {
    let (y, mo, d, ..) = parts(ms);
    format!("{d} {} {y}", month(mo))
}

/// `08:50 UTC`.
pub fn clock(ms: i64) -> String {
    let (.., h, mi, _) = parts(ms);
    format!("{h:02}:{mi:02} UTC")
}

/// `18 Nov 08:50`: a short label for chart axes (UTC).
pub fn short(ms: i64) -> String {
    let (_, mo, d, h, mi, _) = parts(ms);
    format!("{d} {} {h:02}:{mi:02}", month(mo))
}

/// RFC 3339 (`2026-11-18T08:50:07Z`) for `<time datetime>` and scripts.
pub fn rfc3339(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// "A", "A and B", "A, B and C".
pub fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A length of time in the two largest units that matter: `2 d 4 h`, `3 h 20 min`, `45 s`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1_000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// `value / 10^decimals` with that many decimals, from the integer: no binary rounding
/// surprises (45500 m°C is exactly "45.5").
fn fixed(value: i64, scale: i64, decimals: u32) -> String {
    let shown = 10_i64.pow(decimals);
    // Round half away from zero to `decimals` places.
    let step = scale / shown;
    let rounded = if step > 1 {
        (value + value.signum() * step / 2) / step
    } else {
        value * (shown / scale).max(1)
    };
    let sign = if rounded < 0 { "-" } else { "" };
    let abs = rounded.unsigned_abs();
    let shown = shown.unsigned_abs();
    if decimals == 0 {
        format!("{sign}{abs}")
    } else {
        format!(
            "{sign}{}.{:0width$}",
            abs / shown,
            abs % shown,
            width = decimals as usize
        )
    }
}

/// The quantity's name for people.
pub fn quantity(q: Quantity) -> &'static str {
    match q {
        Quantity::Voltage => "Voltage",
        Quantity::Current => "Current",
        Quantity::StateOfCharge => "State of charge",
        Quantity::StateOfHealth => "State of health",
        Quantity::Temperature => "Temperature",
        Quantity::ChargeCycles => "Charge cycles",
        Quantity::Humidity => "Humidity",
        Quantity::Shock => "Peak shock",
        Quantity::SealClosed => "Seal",
    }
}

/// A reading in everyday units: m°C → °C, milli-g → g, mV → V, mA → A, ‰ → %, seal 1/0 →
/// closed/open.
pub fn reading(q: Quantity, v: i64) -> String {
    match q {
        Quantity::Voltage => format!("{} V", fixed(v, 1_000, 2)),
        Quantity::Current => format!("{} A", fixed(v, 1_000, 2)),
        Quantity::StateOfCharge | Quantity::StateOfHealth => format!("{} %", fixed(v, 10, 1)),
        Quantity::Temperature => format!("{} °C", fixed(v, 1_000, 1)),
        Quantity::ChargeCycles => format!("{v} cycles"),
        Quantity::Humidity => format!("{} % RH", fixed(v, 10, 1)),
        Quantity::Shock => format!("{} g", fixed(v, 1_000, 1)),
        Quantity::SealClosed if v == 1 => "closed".into(),
        Quantity::SealClosed => "open".into(),
    }
}

/// A reading of the quantity named `name` (SPEC §3's names), or the bare number.
pub fn reading_of(name: &str, v: i64) -> String {
    match Quantity::from_name(name) {
        Some(q) => reading(q, v),
        None => v.to_string(),
    }
}

/// The reading as the device sent it (`45500 m°C`): a tooltip for the careful reader.
pub fn raw_reading(q: Quantity, v: i64) -> String {
    format!("{v} {}", q.unit())
}

/// A GNSS fix in 1e-7 degrees as `51.9000° N, 4.4000° E`.
pub fn position((lat, lon): (i32, i32)) -> String {
    let deg = |v: i32, pos: char, neg: char| {
        let h = if v < 0 { neg } else { pos };
        format!("{}° {h}", fixed(i64::from(v).abs(), 10_000_000, 4))
    };
    format!("{}, {}", deg(lat, 'N', 'S'), deg(lon, 'E', 'W'))
}

/// The kind as a heading in the timeline.
pub fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Commissioned => "Commissioned",
        Kind::Packed => "Packed",
        Kind::Unpacked => "Unpacked",
        Kind::Measured => "Measured",
        Kind::Departed => "Departed",
        Kind::Located => "Position report",
        Kind::Excursion => "Excursion reported",
        Kind::Sealed => "Sealed",
        Kind::SealBroken => "Seal broken",
        Kind::Arrived => "Arrived",
        Kind::HandedOver => "Handed over",
        Kind::Inspected => "Inspected",
        Kind::Held => "Held",
        Kind::Cleared => "Cleared",
        Kind::Decommissioned => "Decommissioned",
    }
}

/// Which stage of a journey a kind belongs to: a CSS class that colours the timeline dot
/// (the heading says the same in words).
pub fn stage(k: Kind) -> &'static str {
    match k {
        Kind::Commissioned | Kind::Packed | Kind::Unpacked | Kind::Measured => "production",
        Kind::Departed | Kind::Located | Kind::Sealed | Kind::Arrived => "transit",
        Kind::HandedOver => "custody",
        Kind::Inspected | Kind::Held | Kind::Cleared => "customs",
        Kind::Excursion | Kind::SealBroken | Kind::Decommissioned => "alert",
    }
}

/// A role as the registry names it, for people.
pub fn role(r: &str) -> &str {
    match r {
        "station" => "plant station",
        "tracker" => "shipment tracker",
        "carrier" => "carrier",
        "inspector" => "inspector",
        "customs" => "customs officer",
        "operator" => "operator",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_and_unambiguous() {
        assert_eq!(utc(0), "1 Jan 1970, 00:00 UTC");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(rfc3339(1_709_251_199_000), "2024-02-29T23:59:59Z");
        assert_eq!(utc(1_709_251_199_000), "29 Feb 2024, 23:59 UTC");
        assert_eq!(short(1_709_251_199_000), "29 Feb 23:59");
        assert_eq!(date(1_709_251_199_000), "29 Feb 2024");
        assert_eq!(clock(1_709_251_199_000), "23:59 UTC");
        // Before 1970.
        assert_eq!(rfc3339(-1_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(45_000), "45 s");
        assert_eq!(duration(20 * 60_000), "20 min");
        assert_eq!(duration(3 * 3_600_000), "3 h");
        assert_eq!(duration(3 * 3_600_000 + 20 * 60_000), "3 h 20 min");
        assert_eq!(duration(52 * 3_600_000), "2 d 4 h");
        assert_eq!(duration(48 * 3_600_000), "2 d");
    }

    #[test]
    fn readings_in_everyday_units() {
        assert_eq!(reading(Quantity::Temperature, 45_500), "45.5 °C");
        assert_eq!(reading(Quantity::Temperature, -18_250), "-18.3 °C");
        assert_eq!(reading(Quantity::Temperature, -40), "0.0 °C");
        assert_eq!(reading(Quantity::Shock, 3_000), "3.0 g");
        assert_eq!(reading(Quantity::Shock, 12_345), "12.3 g");
        assert_eq!(reading(Quantity::Voltage, 3_700), "3.70 V");
        assert_eq!(reading(Quantity::Current, -1_255), "-1.26 A");
        assert_eq!(reading(Quantity::StateOfCharge, 875), "87.5 %");
        assert_eq!(reading(Quantity::Humidity, 550), "55.0 % RH");
        assert_eq!(reading(Quantity::ChargeCycles, 12), "12 cycles");
        assert_eq!(reading(Quantity::SealClosed, 1), "closed");
        assert_eq!(reading(Quantity::SealClosed, 0), "open");
        assert_eq!(raw_reading(Quantity::Temperature, 45_500), "45500 m°C");
    }

    #[test]
    fn positions_name_their_hemisphere() {
        assert_eq!(position((519_000_000, 44_000_000)), "51.9000° N, 4.4000° E");
        assert_eq!(
            position((-338_688_000, -1_512_093_000)),
            "33.8688° S, 151.2093° W"
        );
    }
}
