//! Untrusted evidence bundles (a file a customs officer was handed) through parsing and the
//! whole offline verification. Nothing may panic; anything that parses must write back to a
//! bundle that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provenance_custody::bundle::{Bundle, TlogProof};
use provenance_custody::rules::Limits;
use provenance_custody::verify::verify_bundle;
use provenance_tlog::Signer;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = TlogProof::parse(text) {
            assert_eq!(
                TlogProof::parse(&p.to_text()),
                Ok(p),
                "tlog proof round trip"
            );
        }
    }
    if let Ok(b) = Bundle::parse(data) {
        let again = Bundle::parse(b.to_json().as_bytes()).expect("a written bundle parses");
        assert_eq!(again, b, "bundle round trip");
    }
    let key = Signer::new("fuzz.example/log", &[7; 32]).expect("key");
    let report = verify_bundle(data, key.verifier(), &Limits::default());
    let _ = serde_json::to_string(&report);
});
