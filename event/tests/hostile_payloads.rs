//! Payloads a registered signer can sign that must never reach the log (issue #12, SPEC §3):
//! each is refused at decode as `invalid_event`, whatever else is right about it.

use provenance_event::{Event, EventError, SEQ_LIMIT, TIME_END_MS, TIME_MIN_MS};

/// A minimal deterministic CBOR writer for payloads the project's own encoder refuses to
/// produce (it decodes what it encodes).
struct Cbor(Vec<u8>);

impl Cbor {
    fn head(&mut self, major: u8, n: u64) -> &mut Self {
        let m = major << 5;
        match n {
            0..=23 => self.0.push(m | n as u8),
            24..=0xff => self.0.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                self.0.push(m | 25);
                self.0.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.0.push(m | 26);
                self.0.extend((n as u32).to_be_bytes());
            }
            _ => {
                self.0.push(m | 27);
                self.0.extend(n.to_be_bytes());
            }
        }
        self
    }
    fn uint(&mut self, n: u64) -> &mut Self {
        self.head(0, n)
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
}

const CELL_A: &str = "urn:epc:id:sgtin:4012345.011111.1";
const CELL_B: &str = "urn:epc:id:sgtin:4012345.011111.2";
const T: u64 = 1_750_000_000_000;

/// Fields: seq, time, kind, items, optional parent, optional dropped.
fn payload(
    seq: u64,
    time: u64,
    kind: u64,
    items: &[&str],
    parent: Option<&str>,
    dropped: Option<u64>,
) -> Vec<u8> {
    let mut c = Cbor(Vec::new());
    let n = 6 + u64::from(parent.is_some()) + u64::from(dropped.is_some());
    c.head(5, n);
    c.uint(1).uint(1);
    c.uint(2).uint(seq);
    let prev = if seq == 1 { [0u8; 32] } else { [7u8; 32] };
    c.uint(3).bytes(&prev);
    c.uint(4).uint(time);
    c.uint(5).uint(kind);
    c.uint(6).head(4, items.len() as u64);
    for i in items {
        c.text(i);
    }
    if let Some(p) = parent {
        c.uint(7).text(p);
    }
    if let Some(d) = dropped {
        c.uint(12).uint(d);
    }
    c.0
}

const PACKED: u64 = 2;
const LOCATED: u64 = 6;
const SSCC: &str = "urn:epc:id:sscc:4012345.0000000001";

#[test]
fn a_well_formed_payload_decodes() {
    let p = payload(5, T, PACKED, &[CELL_A, CELL_B], Some(SSCC), Some(4));
    Event::decode(&p).expect("valid");
}

#[test]
fn an_item_named_twice_is_refused() {
    let p = payload(5, T, LOCATED, &[CELL_A, CELL_B, CELL_A], None, None);
    assert!(matches!(
        Event::decode(&p),
        Err(EventError::DuplicateItem {
            first: 0,
            second: 2
        })
    ));
}

#[test]
fn a_child_packed_twice_is_refused() {
    let p = payload(5, T, PACKED, &[CELL_B, CELL_B], Some(SSCC), None);
    assert!(matches!(
        Event::decode(&p),
        Err(EventError::DuplicateItem {
            first: 0,
            second: 1
        })
    ));
}

#[test]
fn an_aggregate_packed_into_itself_is_refused() {
    let p = payload(5, T, PACKED, &[CELL_A, SSCC], Some(SSCC), None);
    assert!(matches!(
        Event::decode(&p),
        Err(EventError::ItemIsParent { index: 1 })
    ));
}

#[test]
fn more_than_256_items_are_refused_before_reading_them() {
    // The count alone decides: the array's elements are never read.
    let mut c = Cbor(Vec::new());
    c.head(5, 6);
    c.uint(1).uint(1).uint(2).uint(1).uint(3).bytes(&[0; 32]);
    c.uint(4).uint(T).uint(5).uint(LOCATED).uint(6).head(4, 257);
    c.text(CELL_A);
    assert!(matches!(Event::decode(&c.0), Err(EventError::TooManyItems)));
}

#[test]
fn seq_at_or_above_2_pow_53_is_refused() {
    for seq in [SEQ_LIMIT, SEQ_LIMIT + 1, 1 << 63, u64::MAX] {
        let p = payload(seq, T, LOCATED, &[CELL_A], None, None);
        assert!(
            matches!(Event::decode(&p), Err(EventError::SeqTooLarge)),
            "seq {seq}"
        );
    }
    let p = payload(SEQ_LIMIT - 1, T, LOCATED, &[CELL_A], None, None);
    Event::decode(&p).expect("the largest seq is valid");
}

#[test]
fn dropped_above_seq_minus_one_is_refused() {
    // The ingest once allocated one set entry per reported loss: 2^40 of them.
    for (seq, dropped) in [(5, 5), (1, 1), (10, 1 << 40), (10, u64::MAX)] {
        let p = payload(seq, T, LOCATED, &[CELL_A], None, Some(dropped));
        assert!(
            matches!(Event::decode(&p), Err(EventError::DroppedTooMany { .. })),
            "seq {seq} dropped {dropped}"
        );
    }
    let p = payload(5, T, LOCATED, &[CELL_A], None, Some(4));
    Event::decode(&p).expect("dropped = seq - 1 is valid");
}

#[test]
fn time_outside_2000_to_2100_is_refused() {
    for time in [0, TIME_MIN_MS as u64 - 1, TIME_END_MS as u64, u64::MAX >> 1] {
        let p = payload(5, time, LOCATED, &[CELL_A], None, None);
        assert!(
            matches!(Event::decode(&p), Err(EventError::TimeOutOfRange)),
            "time {time}"
        );
    }
    for time in [TIME_MIN_MS as u64, TIME_END_MS as u64 - 1] {
        Event::decode(&payload(5, time, LOCATED, &[CELL_A], None, None)).expect("in range");
    }
}
