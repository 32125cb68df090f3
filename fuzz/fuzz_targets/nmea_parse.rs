//! Bytes from a GNSS receiver's UART (a noisy line, a faulty or hostile receiver) through the
//! NMEA parser and the line reader. Nothing may panic, and whatever parses must be in range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provenance_firmware::drivers::nmea::{Gnss, NmeaReader, Sentence, parse};
use provenance_firmware::sim::SimUart;

fn check(s: &Sentence) {
    let position = match s {
        Sentence::Gga(g) => {
            assert!(g.time_of_day_ms.is_none_or(|t| t < 86_401_000));
            g.position
        }
        Sentence::Rmc(r) => {
            // ddmmyy with years 1980–2079.
            assert!(
                r.unix_ms
                    .is_none_or(|t| (315_532_800_000..3_471_292_801_000).contains(&t))
            );
            r.position
        }
    };
    if let Some(p) = position {
        assert!((-900_000_000..=900_000_000).contains(&p.lat_e7));
        assert!((-1_800_000_000..=1_800_000_000).contains(&p.lon_e7));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse(data) {
        check(&s);
    }
    let mut uart = SimUart::<4096>::new();
    uart.push(data);
    let mut reader = NmeaReader::new(uart);
    let mut gnss = Gnss::default();
    while let Ok(Some(s)) = reader.poll() {
        check(&s);
        gnss.update(&s, 0);
    }
});
