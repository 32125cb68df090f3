//! Property tests: what holds for every event, not just the examples.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use provenance_event::{
    DeviceId, Draft, Epc, Kind, Location, MAX_MESSAGE, Quantity, Readings, SEQ_LIMIT, SignedEvent,
    TIME_END_MS, TIME_MIN_MS, sign_event,
};

fn serial() -> impl Strategy<Value = String> {
    // GS1's 82-character set, escapes included.
    proptest::string::string_regex("[A-Za-z0-9!\"%&'()*+,./:;<=>?_-]{1,20}").expect("regex")
}

fn sgtin() -> impl Strategy<Value = Epc> {
    (6usize..=12, serial(), any::<u64>()).prop_map(|(cp_len, serial, n)| {
        let digits = format!("{:013}", n % 10_000_000_000_000);
        Epc::sgtin(&digits[..cp_len], &digits[cp_len..], &serial).expect("valid sgtin")
    })
}

fn sscc() -> impl Strategy<Value = Epc> {
    (6usize..=12, any::<u64>()).prop_map(|(cp_len, n)| {
        let digits = format!("{:017}", n % 100_000_000_000_000_000);
        Epc::sscc(&digits[..cp_len], &digits[cp_len..]).expect("valid sscc")
    })
}

fn item() -> impl Strategy<Value = Epc> {
    prop_oneof![sgtin(), sscc()]
}

fn sgln() -> impl Strategy<Value = Epc> {
    (
        6usize..=12,
        any::<u64>(),
        prop_oneof![Just("0".to_string()), serial()],
    )
        .prop_map(|(cp_len, n, ext)| {
            let digits = format!("{:012}", n % 1_000_000_000_000);
            Epc::sgln(&digits[..cp_len], &digits[cp_len..], &ext).expect("valid sgln")
        })
}

fn readings() -> impl Strategy<Value = Readings> {
    proptest::collection::vec((0usize..9, any::<i64>()), 0..9).prop_map(|pairs| {
        let mut r = Readings::new();
        for (i, raw) in pairs {
            let q = Quantity::ALL[i];
            let range = q.range();
            let span = (range.end() - range.start() + 1) as u64;
            let v = range.start() + (raw as u64 % span) as i64;
            r.set(q, v).expect("in range");
        }
        r
    })
}

#[derive(Debug, Clone)]
struct Case {
    seq: u64,
    prev: [u8; 32],
    time: i64,
    kind: Kind,
    items: Vec<Epc>,
    parent: Option<Epc>,
    location: Option<Location>,
    readings: Readings,
    party: Option<Epc>,
    doc: Option<String>,
    dropped: Option<u64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u64..SEQ_LIMIT,
        any::<[u8; 32]>(),
        TIME_MIN_MS..TIME_END_MS,
        0usize..15,
        proptest::collection::btree_set(item(), 1..8),
        proptest::option::of(item()),
        proptest::option::of((
            proptest::option::of((
                -900_000_000i32..=900_000_000,
                -1_800_000_000i32..=1_800_000_000,
            )),
            proptest::option::of(sgln()),
        )),
        readings(),
        proptest::option::of(sgln()),
        proptest::option::of("[ -~]{1,40}"),
        proptest::option::of(1u64..SEQ_LIMIT),
    )
        .prop_map(
            |(seq, prev, time, k, items, parent, loc, mut readings, party, doc, dropped)| {
                let kind = Kind::ALL[k];
                let prev = if seq == 1 { [0; 32] } else { prev };
                // SPEC §3: items distinct (a set), none the parent, dropped at most seq - 1.
                let parent = parent.filter(|p| !items.contains(p));
                let mut items: Vec<Epc> = items.into_iter().collect();
                let dropped = dropped.and_then(|d| (seq > 1).then(|| 1 + d % (seq - 1)));
                // Satisfy the per-kind requirements so every case is a valid event.
                let parent = match kind {
                    Kind::Packed | Kind::Unpacked => parent.or_else(|| {
                        // The aggregate is taken out of the items it would contain.
                        (items.len() > 1).then(|| items.remove(0)).or_else(|| {
                            Some(Epc::sscc("4012345", "0000000001").expect("valid sscc"))
                                .filter(|p| !items.contains(p))
                        })
                    }),
                    _ => parent,
                };
                let party = match kind {
                    Kind::HandedOver => {
                        party.or_else(|| Some(Epc::pgln("4012345", "00001").expect("valid pgln")))
                    }
                    _ => party,
                };
                if matches!(kind, Kind::Measured | Kind::Excursion) && readings.is_empty() {
                    readings
                        .set(Quantity::Temperature, 21_000)
                        .expect("in range");
                }
                let location = loc.and_then(|(lat_lon, sgln)| {
                    (lat_lon.is_some() || sgln.is_some()).then_some(Location { lat_lon, sgln })
                });
                Case {
                    seq,
                    prev,
                    time,
                    kind,
                    items,
                    parent,
                    location,
                    readings,
                    party,
                    doc,
                    dropped,
                }
            },
        )
}

fn sign(c: &Case, key: &SigningKey, device: &DeviceId) -> Vec<u8> {
    let mut d = Draft::new(c.seq, c.prev, c.time, c.kind, &c.items);
    d.parent = c.parent.as_ref();
    d.location = c.location.as_ref();
    d.readings = c.readings;
    d.party = c.party.as_ref();
    d.doc = c.doc.as_deref();
    d.dropped = c.dropped;
    let mut buf = vec![0u8; MAX_MESSAGE + 256];
    let n = sign_event(key, device, &d, &mut buf).expect("a valid draft signs");
    buf.truncate(n);
    buf
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_decode_round_trip(c in case(), seed in any::<[u8; 32]>()) {
        let key = SigningKey::from_bytes(&seed);
        let device = DeviceId::new("station-1.line-2").expect("valid id");
        let bytes = sign(&c, &key, &device);
        let signed = SignedEvent::parse(&bytes).expect("parses");
        prop_assert_eq!(signed.device(), &device);
        let v = signed.verify(&key.verifying_key()).expect("verifies").decode().expect("decodes");
        let e = v.event();
        prop_assert_eq!(e.seq, c.seq);
        prop_assert_eq!(e.prev, c.prev);
        prop_assert_eq!(e.time, c.time);
        prop_assert_eq!(e.kind, c.kind);
        let items: Vec<String> = c.items.iter().map(ToString::to_string).collect();
        let got: Vec<&str> = e.items.iter().collect();
        prop_assert_eq!(got, items.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(&e.parent, &c.parent);
        prop_assert_eq!(&e.location, &c.location);
        prop_assert_eq!(e.readings, c.readings);
        prop_assert_eq!(&e.party, &c.party);
        prop_assert_eq!(e.doc, c.doc.as_deref());
        prop_assert_eq!(e.dropped, c.dropped);
    }

    #[test]
    fn any_one_byte_change_fails_verification(
        c in case(),
        seed in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let key = SigningKey::from_bytes(&seed);
        let device = DeviceId::new("tracker-7").expect("valid id");
        let mut bytes = sign(&c, &key, &device);
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        let verified = SignedEvent::parse(&bytes)
            .ok()
            .and_then(|s| s.verify(&key.verifying_key()).ok());
        prop_assert!(verified.is_none(), "byte {} changed and it still verifies", i);
    }

    #[test]
    fn epc_uri_round_trip(e in prop_oneof![sgtin(), sscc(), sgln()]) {
        let uri = e.to_string();
        prop_assert_eq!(Epc::parse(&uri).expect("parses"), e.clone());
        let path = e.digital_link_path().to_string();
        let dl = provenance_event::DigitalLink::parse(&path).expect("DL parses");
        prop_assert_eq!(dl.to_epc(e.company_prefix().len()).expect("to epc"), e);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedEvent::parse(&bytes);
        let _ = provenance_event::Event::decode(&bytes);
        let _ = provenance_event::cose::Sign1::parse(&bytes);
    }
}

#[test]
fn truncations_of_a_valid_message_never_panic_and_never_verify() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let device = DeviceId::new("station-1").expect("valid id");
    let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").expect("epc")];
    let c = Case {
        seq: 1,
        prev: [0; 32],
        time: 1_763_719_200_000,
        kind: Kind::Commissioned,
        items: items.to_vec(),
        parent: None,
        location: Some(Location::fix(519_244_000, 41_400_000)),
        readings: Readings::new(),
        party: None,
        doc: None,
        dropped: None,
    };
    let bytes = sign(&c, &key, &device);
    for n in 0..bytes.len() {
        let ok = SignedEvent::parse(&bytes[..n])
            .ok()
            .and_then(|s| s.verify(&key.verifying_key()).ok());
        assert!(ok.is_none(), "prefix of {n} bytes verified");
    }
}
