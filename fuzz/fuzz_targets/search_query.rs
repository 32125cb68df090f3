//! What people type into the web view's search box (and what the search URL carries): EPC
//! URIs, Digital Link URLs, GTIN + serial, element strings, SSCCs — or anything else. Nothing
//! may panic, and whatever parses as an item resolves to valid EPCs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provenance_web::lookup::{Query, candidates, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse(&text) {
        Ok(Query::Epc(e)) => {
            assert!(provenance_event::Epc::parse(&e.to_string()).is_ok());
        }
        Ok(Query::Key(k)) => {
            for e in candidates(&k) {
                assert!(provenance_event::Epc::parse(&e.to_string()).is_ok());
            }
        }
        Err(_) => {}
    }
});
