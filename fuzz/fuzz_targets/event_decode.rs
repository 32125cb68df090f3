//! Untrusted bytes from MQTT or HTTP through every stage of event decoding. Nothing may panic,
//! and anything that decodes must encode back to the same payload bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provenance_event::cose::Sign1;
use provenance_event::{Draft, Event, SignedEvent};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Sign1::parse(data) {
        let mut n = 0usize;
        m.to_be_signed(|c| n += c.len());
        let _ = m.ed25519_signature();
    }
    if let Ok(signed) = SignedEvent::parse(data) {
        let _ = signed.device();
    }
    if let Ok(e) = Event::decode(data) {
        // Deterministic CBOR means one encoding per event: re-encoding gives the input back.
        let items: Vec<provenance_event::Epc> = e
            .items
            .iter()
            .map(|s| provenance_event::Epc::parse(s).expect("decoded items are valid EPCs"))
            .collect();
        let mut d = Draft::new(e.seq, e.prev, e.time, e.kind, &items);
        d.parent = e.parent.as_ref();
        d.location = e.location.as_ref();
        d.readings = e.readings;
        d.party = e.party.as_ref();
        d.doc = e.doc;
        d.dropped = e.dropped;
        let mut buf = vec![0u8; data.len() + 64];
        let n = d.encode(&mut buf).expect("a decoded event encodes");
        assert_eq!(&buf[..n], data, "decode→encode is not the identity");
    }
});
