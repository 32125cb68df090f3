//! Bytes a device sends to the embedded broker's topic gate: framing, the CONNECT's user name,
//! and the topic checks. Nothing may panic, a framed packet never exceeds what was read or
//! the gate's bound, and a packet the gate lets through names only the device's own topics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provenance_ingest::gate::{MAX_PACKET, check, connect_user, next_packet};

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    let mut first = true;
    while let Ok(Some(n)) = next_packet(&data[at..]) {
        assert!(n >= 2 && n <= data.len() - at && n <= MAX_PACKET);
        let packet = &data[at..at + n];
        if first {
            let _ = connect_user(packet);
            first = false;
        } else if check(packet, "tracker-7").is_ok() && packet[0] >> 4 == 3 {
            // An allowed PUBLISH carries exactly the device's own topic.
            assert!(packet.windows(24).any(|w| w == b"prov/v1/dev/tracker-7/ev"));
        }
        at += n;
    }
});
