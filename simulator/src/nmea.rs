//! NMEA 0183 sentences as a GNSS receiver writes them (GGA and RMC), for the simulated UART.

use std::fmt::Write as _;

use crate::model::Point;

fn coordinate(v: f64, degree_digits: usize, pos: char, neg: char) -> String {
    let a = v.abs();
    let degrees = a.trunc();
    let minutes = (a - degrees) * 60.0;
    format!(
        "{:0w$}{:07.4},{}",
        degrees as u32,
        minutes,
        if v < 0.0 { neg } else { pos },
        w = degree_digits
    )
}

fn finish(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |x, b| x ^ b);
    format!("${body}*{sum:02X}\r\n")
}

/// `$GPGGA` and `$GPRMC` for a fix at `point` at Unix time `t_ms`.
pub fn fix(point: Point, t_ms: u64, speed_knots: f64) -> String {
    let secs = t_ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let (year, month, day) = civil(secs / 86_400);
    let lat = coordinate(point.lat, 2, 'N', 'S');
    let lon = coordinate(point.lon, 3, 'E', 'W');
    let mut out = String::new();
    let _ = write!(
        out,
        "{}",
        finish(&format!(
            "GPGGA,{h:02}{m:02}{s:02}.00,{lat},{lon},1,09,0.9,12.0,M,46.9,M,,"
        ))
    );
    let _ = write!(
        out,
        "{}",
        finish(&format!(
            "GPRMC,{h:02}{m:02}{s:02}.00,A,{lat},{lon},{speed_knots:.1},0.0,{day:02}{month:02}{:02},,,A",
            year % 100
        ))
    );
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as u64, m as u64, d as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provenance_firmware::drivers::nmea::{Sentence, parse};

    #[test]
    fn the_firmware_parses_what_the_simulated_receiver_writes() {
        let p = Point::new(53.533, -1.5197);
        let t = 1_763_719_245_000; // 2025-11-21T10:00:45Z
        let text = fix(p, t, 12.5);
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            match parse(line.as_bytes()).expect(line) {
                Sentence::Gga(g) => {
                    let pos = g.position.expect("fix");
                    assert!((pos.lat_e7 - 535_330_000).abs() < 20, "{pos:?}");
                    assert!((pos.lon_e7 + 15_197_000).abs() < 20, "{pos:?}");
                }
                Sentence::Rmc(r) => {
                    assert_eq!(r.unix_ms, Some(t as i64));
                }
            }
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_413), (2025, 11, 21));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }
}
