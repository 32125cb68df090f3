//! NMEA 0183 from a GNSS receiver on a UART: the GGA and RMC sentences, checksummed, with
//! positions in 1e-7 degrees and UTC date and time as Unix milliseconds (SPEC §3's units).
//!
//! [`parse`] is total: any byte string gives a sentence or an [`NmeaError`], never a panic
//! (the `nmea_parse` fuzz target holds it to that). [`NmeaReader`] cuts lines from an
//! `embedded-io` stream without blocking, and [`Gnss`] keeps the newest fix.

use embedded_io::{Read, ReadReady};

/// The longest sentence NMEA 0183 allows, from `$` to the line feed.
pub const MAX_SENTENCE: usize = 82;

/// Why a line is not a usable sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NmeaError {
    /// No `$` at the start, or no `*hh` checksum.
    #[error("not an NMEA sentence")]
    Framing,
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// Longer than 82 characters.
    #[error("sentence longer than 82 characters")]
    TooLong,
    /// A sentence other than GGA or RMC.
    #[error("unsupported sentence")]
    Unsupported,
    /// A field does not parse or is out of range.
    #[error("bad {0} field")]
    Field(&'static str),
}

/// A WGS 84 position in 1e-7 degrees (north and east positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Latitude.
    pub lat_e7: i32,
    /// Longitude.
    pub lon_e7: i32,
}

/// GGA: fix data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gga {
    /// UTC time of day in ms.
    pub time_of_day_ms: Option<u32>,
    /// The position, if the receiver has one.
    pub position: Option<Position>,
    /// Fix quality: 0 invalid, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning.
    pub quality: u8,
    /// Satellites used.
    pub satellites: u8,
    /// Altitude above mean sea level in decimetres.
    pub altitude_dm: Option<i32>,
}

/// RMC: recommended minimum data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rmc {
    /// Status A (valid) rather than V (warning).
    pub valid: bool,
    /// The position.
    pub position: Option<Position>,
    /// Date and time as Unix milliseconds, if both are present.
    pub unix_ms: Option<i64>,
    /// Speed over ground in thousandths of a knot.
    pub speed_milli_knots: Option<u32>,
}

/// A parsed sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sentence {
    /// `$..GGA`.
    Gga(Gga),
    /// `$..RMC`.
    Rmc(Rmc),
}

/// Parses one sentence (`$` to `*hh`, with or without the line end).
pub fn parse(line: &[u8]) -> Result<Sentence, NmeaError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() + 2 > MAX_SENTENCE {
        return Err(NmeaError::TooLong);
    }
    let body = line.strip_prefix(b"$").ok_or(NmeaError::Framing)?;
    let star = body
        .len()
        .checked_sub(3)
        .filter(|&i| body[i] == b'*')
        .ok_or(NmeaError::Framing)?;
    let (data, sum) = (&body[..star], &body[star + 1..]);
    let expected = hex(sum[0]).zip(hex(sum[1])).ok_or(NmeaError::Framing)?;
    if data.iter().fold(0u8, |x, b| x ^ b) != expected.0 << 4 | expected.1 {
        return Err(NmeaError::Checksum);
    }
    let data = core::str::from_utf8(data).map_err(|_| NmeaError::Framing)?;
    let mut fields = data.split(',');
    let address = fields.next().unwrap_or("");
    if address.len() != 5 || !address.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(NmeaError::Unsupported);
    }
    let mut f: [&str; 14] = [""; 14];
    for (slot, field) in f.iter_mut().zip(fields) {
        *slot = field;
    }
    match &address[2..] {
        "GGA" => Ok(Sentence::Gga(Gga {
            time_of_day_ms: time_of_day(f[0])?,
            position: position(f[1], f[2], f[3], f[4])?,
            quality: small_number(f[5], "quality")?.unwrap_or(0),
            satellites: small_number(f[6], "satellites")?.unwrap_or(0),
            altitude_dm: decimal(f[8], 1, "altitude")?
                .map(|v| i32::try_from(v).map_err(|_| NmeaError::Field("altitude")))
                .transpose()?,
        })),
        "RMC" => {
            let valid = match f[1] {
                "A" => true,
                "V" | "" => false,
                _ => return Err(NmeaError::Field("status")),
            };
            let time = time_of_day(f[0])?;
            let unix_ms = match (date_days(f[8])?, time) {
                (Some(days), Some(t)) => Some(days * 86_400_000 + i64::from(t)),
                _ => None,
            };
            let speed = decimal(f[6], 3, "speed")?;
            Ok(Sentence::Rmc(Rmc {
                valid,
                position: position(f[2], f[3], f[4], f[5])?,
                unix_ms,
                speed_milli_knots: speed
                    .map(|v| u32::try_from(v).map_err(|_| NmeaError::Field("speed")))
                    .transpose()?,
            }))
        }
        _ => Err(NmeaError::Unsupported),
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Digits only, as a number (at most 9 digits, so it fits).
fn digits(s: &str, what: &'static str) -> Result<u32, NmeaError> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NmeaError::Field(what));
    }
    Ok(s.bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

fn small_number(s: &str, what: &'static str) -> Result<Option<u8>, NmeaError> {
    if s.is_empty() {
        return Ok(None);
    }
    u8::try_from(digits(s, what)?)
        .map(Some)
        .map_err(|_| NmeaError::Field(what))
}

/// A decimal like `-12.345` scaled by 10^`scale` (extra digits truncated).
fn decimal(s: &str, scale: u32, what: &'static str) -> Result<Option<i64>, NmeaError> {
    if s.is_empty() {
        return Ok(None);
    }
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = &frac[..frac.len().min(scale as usize)];
    let mut v = i64::from(digits(int, what)?) * 10i64.pow(scale);
    if !frac.is_empty() {
        v += i64::from(digits(frac, what)?) * 10i64.pow(scale - frac.len() as u32);
    }
    Ok(Some(if negative { -v } else { v }))
}

/// `hhmmss` or `hhmmss.sss` → ms of the day.
fn time_of_day(s: &str) -> Result<Option<u32>, NmeaError> {
    if s.is_empty() {
        return Ok(None);
    }
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    if hms.len() != 6 || !hms.is_ascii() {
        return Err(NmeaError::Field("time"));
    }
    let (h, m, sec) = (
        digits(&hms[0..2], "time")?,
        digits(&hms[2..4], "time")?,
        digits(&hms[4..6], "time")?,
    );
    // A leap second reads 60.
    if h > 23 || m > 59 || sec > 60 {
        return Err(NmeaError::Field("time"));
    }
    let frac = &frac[..frac.len().min(3)];
    let ms = if frac.is_empty() {
        0
    } else {
        digits(frac, "time")? * 10u32.pow(3 - frac.len() as u32)
    };
    Ok(Some(((h * 60 + m) * 60 + sec) * 1000 + ms))
}

/// `ddmmyy` → days since 1970-01-01 (years 80–99 are 1980–1999, 00–79 are 2000–2079).
fn date_days(s: &str) -> Result<Option<i64>, NmeaError> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() != 6 || !s.is_ascii() {
        return Err(NmeaError::Field("date"));
    }
    let (d, m, y) = (
        digits(&s[0..2], "date")?,
        digits(&s[2..4], "date")?,
        digits(&s[4..6], "date")?,
    );
    let year = if y >= 80 { 1900 + y } else { 2000 + y } as i64;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] {
        return Err(NmeaError::Field("date"));
    }
    Ok(Some(days_from_civil(year, m as i64, d as i64)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `ddmm.mmmm`/`N` and `dddmm.mmmm`/`E` → 1e-7 degrees. Both empty: no position.
fn position(lat: &str, ns: &str, lon: &str, ew: &str) -> Result<Option<Position>, NmeaError> {
    if lat.is_empty() && lon.is_empty() {
        return Ok(None);
    }
    let lat = angle(lat, 2, 90, "latitude")?;
    let lon = angle(lon, 3, 180, "longitude")?;
    let lat_e7 = match ns {
        "N" => lat,
        "S" => -lat,
        _ => return Err(NmeaError::Field("latitude")),
    };
    let lon_e7 = match ew {
        "E" => lon,
        "W" => -lon,
        _ => return Err(NmeaError::Field("longitude")),
    };
    Ok(Some(Position { lat_e7, lon_e7 }))
}

/// Degrees and decimal minutes → 1e-7 degrees, rounded to nearest.
fn angle(
    s: &str,
    degree_digits: usize,
    max_degrees: i64,
    what: &'static str,
) -> Result<i32, NmeaError> {
    if s.len() < degree_digits + 2 || !s.is_ascii() {
        return Err(NmeaError::Field(what));
    }
    let degrees = i64::from(digits(&s[..degree_digits], what)?);
    if s.starts_with('-') || s[degree_digits..].starts_with('-') {
        return Err(NmeaError::Field(what));
    }
    // Minutes in 1e-7 minute.
    let minutes = decimal(&s[degree_digits..], 7, what)?.unwrap_or(0);
    if minutes >= 60 * 10_000_000 {
        return Err(NmeaError::Field(what));
    }
    let e7 = degrees * 10_000_000 + (minutes + 30) / 60;
    if e7 > max_degrees * 10_000_000 {
        return Err(NmeaError::Field(what));
    }
    // At most 1.8e9: fits an i32.
    Ok(e7 as i32)
}

/// Cuts sentences from a UART stream; reads only what is ready, so it never blocks.
pub struct NmeaReader<U> {
    uart: U,
    line: heapless::Vec<u8, MAX_SENTENCE>,
    overlong: bool,
    /// Lines that were not a usable sentence (bad checksum, other sentence types, noise).
    pub skipped: u32,
}

impl<U: Read + ReadReady> NmeaReader<U> {
    /// Reads from `uart`.
    pub fn new(uart: U) -> Self {
        Self {
            uart,
            line: heapless::Vec::new(),
            overlong: false,
            skipped: 0,
        }
    }

    /// The next GGA or RMC sentence among the bytes that have arrived, if any.
    pub fn poll(&mut self) -> Result<Option<Sentence>, U::Error> {
        while self.uart.read_ready()? {
            let mut byte = [0u8];
            if self.uart.read(&mut byte)? == 0 {
                return Ok(None);
            }
            match byte[0] {
                b'\n' => {
                    let result = (!self.overlong).then(|| parse(&self.line));
                    self.line.clear();
                    self.overlong = false;
                    match result {
                        Some(Ok(sentence)) => return Ok(Some(sentence)),
                        _ => self.skipped += 1,
                    }
                }
                b'$' => {
                    // A new sentence starts: whatever came before was noise.
                    self.line.clear();
                    self.overlong = false;
                    let _ = self.line.push(b'$');
                }
                b => {
                    if self.line.push(b).is_err() {
                        self.overlong = true;
                    }
                }
            }
        }
        Ok(None)
    }

    /// The UART (the simulator pushes sentences into its [`crate::sim::SimUart`]).
    pub fn uart_mut(&mut self) -> &mut U {
        &mut self.uart
    }

    /// Gives the UART back.
    pub fn release(self) -> U {
        self.uart
    }
}

/// The newest fix, merged from RMC (validity, date and time) and GGA (fix quality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gnss {
    /// The newest valid position.
    pub position: Option<Position>,
    /// When it came, on the board's clock (ms).
    pub position_at_ms: u64,
    /// UTC from the newest valid RMC, as Unix ms, and the board's clock then.
    pub utc: Option<(i64, u64)>,
    /// Satellites in the newest GGA.
    pub satellites: u8,
}

impl Gnss {
    /// Takes a sentence received at `now_ms` on the board's clock.
    pub fn update(&mut self, sentence: &Sentence, now_ms: u64) {
        match sentence {
            Sentence::Rmc(r) if r.valid => {
                if let Some(p) = r.position {
                    self.position = Some(p);
                    self.position_at_ms = now_ms;
                }
                if let Some(t) = r.unix_ms {
                    self.utc = Some((t, now_ms));
                }
            }
            Sentence::Gga(g) => {
                self.satellites = g.satellites;
                if let (Some(p), 1..) = (g.position, g.quality) {
                    self.position = Some(p);
                    self.position_at_ms = now_ms;
                }
            }
            Sentence::Rmc(_) => {}
        }
    }

    /// UTC now, as Unix ms, from the newest valid RMC carried forward on the board's clock
    /// (`now_ms`, any monotonic milliseconds): what an RTC is set from.
    pub fn utc_now(&self, now_ms: u64) -> Option<i64> {
        let (utc, at) = self.utc?;
        Some(utc + now_ms.saturating_sub(at) as i64)
    }

    /// The position, if one came within `max_age_ms`.
    pub fn fresh_position(&self, now_ms: u64, max_age_ms: u64) -> Option<Position> {
        self.position
            .filter(|_| now_ms.saturating_sub(self.position_at_ms) <= max_age_ms)
    }
}

/// Great-circle distance in metres between two positions (equirectangular approximation,
/// within 0.5 % below a few hundred kilometres, which is all the tracker asks of it).
pub fn distance_m(a: Position, b: Position) -> u32 {
    // Integer maths: 1e-7 degree of latitude is 0.0111 m; longitude shrinks with cos(lat).
    let dlat = i64::from(b.lat_e7) - i64::from(a.lat_e7);
    let dlon = i64::from(b.lon_e7) - i64::from(a.lon_e7);
    let dlon = if dlon > 1_800_000_000 {
        dlon - 3_600_000_000
    } else if dlon < -1_800_000_000 {
        dlon + 3_600_000_000
    } else {
        dlon
    };
    let mid_lat = (i64::from(a.lat_e7) + i64::from(b.lat_e7)) / 2;
    let cos_q16 = i64::from(cos_q16(mid_lat));
    // Metres per 1e-7 degree: 0.011_131_949 → ×1e9 = 11_131_949.
    let y = dlat * 11_131_949 / 1_000_000_000;
    let x = dlon * cos_q16 / 65_536 * 11_131_949 / 1_000_000_000;
    ((x * x + y * y) as u64).isqrt().min(u64::from(u32::MAX)) as u32
}

/// cos(latitude) in Q16 for a latitude in 1e-7 degrees, by a 5th-order Taylor series in
/// radians (error below 0.5 % up to 80° latitude).
fn cos_q16(lat_e7: i64) -> i32 {
    // Radians in Q16: degrees × π/180.
    let r = lat_e7.abs() * 65_536 / 10_000_000 * 31_416 / 1_800_000;
    let r2 = r * r / 65_536;
    let r4 = r2 * r2 / 65_536;
    let r6 = r4 * r2 / 65_536;
    (65_536 - r2 / 2 + r4 / 24 - r6 / 720).clamp(0, 65_536) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gga_from_the_standard_example() {
        // 48°07.038' N, 11°31.000' E (the classic example sentence).
        let s = parse(b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n")
            .unwrap();
        assert_eq!(
            s,
            Sentence::Gga(Gga {
                time_of_day_ms: Some((12 * 3600 + 35 * 60 + 19) * 1000),
                position: Some(Position {
                    lat_e7: 481_173_000,
                    lon_e7: 115_166_667
                }),
                quality: 1,
                satellites: 8,
                altitude_dm: Some(5454),
            })
        );
    }

    #[test]
    fn rmc_gives_unix_time_and_signs() {
        let s = parse(b"$GNRMC,081836.25,A,3751.65,S,14507.36,W,000.0,360.0,130998,011.3,E*47")
            .unwrap();
        let Sentence::Rmc(r) = s else { panic!("{s:?}") };
        assert!(r.valid);
        // 1998-09-13T08:18:36.250Z.
        assert_eq!(r.unix_ms, Some(905_674_716_250));
        assert_eq!(
            r.position,
            Some(Position {
                lat_e7: -378_608_333,
                lon_e7: -1_451_226_667
            })
        );
        assert_eq!(r.speed_milli_knots, Some(0));
        // 2026-11-21T08:15:07Z.
        let s = parse(b"$GPRMC,081507,A,5155.4640,N,00404.0800,E,12.5,90.0,211126,,,A*79").unwrap();
        let Sentence::Rmc(r) = s else { panic!() };
        assert_eq!(r.unix_ms, Some(1_795_248_907_000));
        assert_eq!(
            r.position,
            Some(Position {
                lat_e7: 519_244_000,
                lon_e7: 40_680_000
            })
        );
        assert_eq!(r.speed_milli_knots, Some(12_500));
    }

    #[test]
    fn rejects_what_is_not_a_good_sentence() {
        let good = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
        assert!(parse(good).is_ok());
        let mut bad = *good;
        bad[10] = b'8';
        assert_eq!(parse(&bad), Err(NmeaError::Checksum));
        assert_eq!(parse(b"GPGGA,1*00"), Err(NmeaError::Framing));
        assert_eq!(parse(b"$GPGGA,123519"), Err(NmeaError::Framing));
        assert_eq!(parse(b"$GPGSV,1,1,00*79"), Err(NmeaError::Unsupported));
        // No fix yet: fields empty, quality 0.
        let s = parse(b"$GPGGA,,,,,,0,00,,,M,,M,,*66").unwrap();
        assert!(matches!(
            s,
            Sentence::Gga(Gga {
                position: None,
                quality: 0,
                ..
            })
        ));
        for (line, what) in [
            (
                &b"$GPRMC,081836,A,9100.00,N,00000.00,E,,,130998,,*1B"[..],
                "latitude",
            ),
            (
                b"$GPRMC,081836,A,4560.00,N,00000.00,E,,,130998,,*14",
                "latitude",
            ),
            (
                b"$GPRMC,241836,A,4500.00,N,00000.00,E,,,130998,,*1C",
                "time",
            ),
            (
                b"$GPRMC,081836,A,4500.00,N,00000.00,E,,,310298,,*19",
                "date",
            ),
        ] {
            assert_eq!(
                parse(line),
                Err(NmeaError::Field(what)),
                "{}",
                core::str::from_utf8(line).unwrap()
            );
        }
    }

    #[test]
    fn reader_cuts_lines_and_skips_noise() {
        let stream: &[u8] = b"\x00garbage$GPGSV,1,1,00*79\r\n$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n$GPGGA,1";
        let mut uart = crate::sim::SimUart::<512>::new();
        uart.push(stream);
        let mut r = NmeaReader::new(uart);
        let first = r.poll().unwrap();
        assert!(matches!(first, Some(Sentence::Gga(_))));
        assert_eq!(r.poll().unwrap(), None, "the last line is not complete");
        assert_eq!(r.skipped, 1);
        let mut gnss = Gnss::default();
        gnss.update(&first.unwrap(), 5_000);
        assert_eq!(
            gnss.fresh_position(6_000, 10_000).map(|p| p.lat_e7),
            Some(481_173_000)
        );
        assert_eq!(gnss.fresh_position(20_000, 10_000), None);
        assert_eq!(gnss.utc_now(20_000), None, "GGA carries no date");
        let rmc = parse(b"$GNRMC,081836.25,A,3751.65,S,14507.36,W,000.0,360.0,130998,011.3,E*47")
            .unwrap();
        gnss.update(&rmc, 30_000);
        assert_eq!(gnss.utc_now(31_000), Some(905_674_717_250));
    }

    #[test]
    fn distances() {
        let rotterdam = Position {
            lat_e7: 519_244_000,
            lon_e7: 44_777_000,
        };
        let a_km_north = Position {
            lat_e7: 519_333_832,
            lon_e7: 44_777_000,
        };
        let d = distance_m(rotterdam, a_km_north);
        assert!((995..=1005).contains(&d), "{d}");
        // 0.01° of longitude at 52° N is about 686 m.
        let east = Position {
            lat_e7: 519_244_000,
            lon_e7: 44_877_000,
        };
        let d = distance_m(rotterdam, east);
        assert!((680..=692).contains(&d), "{d}");
        assert_eq!(distance_m(rotterdam, rotterdam), 0);
    }

    proptest::proptest! {
        /// Any position written as a receiver writes it (degrees, minutes with five
        /// decimals) comes back within the rounding of those five decimals.
        #[test]
        fn positions_round_trip(lat in -899_999_999i32..=899_999_999, lon in -1_799_999_999i32..=1_799_999_999) {
            let coord = |v: i32, w: usize, pos: char, neg: char| {
                let a = i64::from(v).abs();
                let minutes_e5 = (a % 10_000_000) * 60 / 100;
                std::format!("{:0w$}{:02}.{:05},{}", a / 10_000_000, minutes_e5 / 100_000, minutes_e5 % 100_000,
                    if v < 0 { neg } else { pos }, w = w)
            };
            let body = std::format!("GNRMC,235959.999,A,{},{},0.0,0.0,311279,,,A", coord(lat, 2, 'N', 'S'), coord(lon, 3, 'E', 'W'));
            let sum = body.bytes().fold(0u8, |x, b| x ^ b);
            let line = std::format!("${body}*{sum:02x}");
            let Ok(Sentence::Rmc(r)) = parse(line.as_bytes()) else { panic!("{line}") };
            let p = r.position.unwrap();
            // 1e-5 minute is 1.67e-7 degree.
            proptest::prop_assert!((i64::from(p.lat_e7) - i64::from(lat)).abs() <= 2, "{line} {p:?}");
            proptest::prop_assert!((i64::from(p.lon_e7) - i64::from(lon)).abs() <= 2, "{line} {p:?}");
            // 2079-12-31T23:59:59.999Z, the last instant ddmmyy can say.
            proptest::prop_assert_eq!(r.unix_ms, Some(3_471_292_799_999));
        }
    }
}
