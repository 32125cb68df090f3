//! Bundles built from an in-memory log, verified, then tampered with.

use ed25519_dalek::SigningKey;
use provenance_event::registry::{Action, Record, Role};
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, Quantity, sign_event};
use provenance_tlog::merkle::{MemoryTree, inclusion_proof};
use provenance_tlog::{Checkpoint, Signer as NoteSigner, leaf_hash};

use super::*;
use crate::bundle::{BundleEntry, LogInfo, Purpose, TlogProof};
use crate::rules::Rule;

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
const SSCC: &str = "urn:epc:id:sscc:4012345.0000000017";
const CARRIER: &str = "urn:epc:id:pgln:4012345.00002";
const WAREHOUSE: &str = "urn:epc:id:pgln:4012345.00004";
const T0: i64 = 1_763_000_000_000;
const HOUR: i64 = 3_600_000;

struct TestLog {
    note: NoteSigner,
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
}

struct Dev {
    id: DeviceId,
    key: SigningKey,
    seq: u64,
    prev: [u8; 32],
}

#[derive(Default)]
struct Extra<'a> {
    parent: Option<&'a str>,
    party: Option<&'a str>,
    readings: &'a [(Quantity, i64)],
    fix: Option<(i32, i32)>,
}

impl Dev {
    fn new(id: &str, seed: u8) -> Self {
        Self {
            id: DeviceId::new(id).expect("id"),
            key: SigningKey::from_bytes(&[seed; 32]),
            seq: 0,
            prev: [0; 32],
        }
    }

    fn sign(&mut self, kind: Kind, items: &[&str], hour: i64, x: Extra<'_>) -> Vec<u8> {
        self.seq += 1;
        let items: Vec<Epc> = items.iter().map(|s| Epc::parse(s).expect("epc")).collect();
        let parent = x.parent.map(|p| Epc::parse(p).expect("epc"));
        let party = x.party.map(|p| Epc::parse(p).expect("epc"));
        let location = x.fix.map(|(a, b)| Location::fix(a, b));
        let mut d = Draft::new(self.seq, self.prev, T0 + hour * HOUR, kind, &items);
        d.parent = parent.as_ref();
        d.party = party.as_ref();
        d.location = location.as_ref();
        for (q, v) in x.readings {
            d.readings.set(*q, *v).expect("range");
        }
        let mut buf = vec![0u8; 4096];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }
}

impl TestLog {
    fn new() -> Self {
        Self {
            note: NoteSigner::new("test.example/log", &[42; 32]).expect("signer"),
            tree: MemoryTree::new(),
            entries: vec![],
        }
    }

    fn append(&mut self, bytes: Vec<u8>) -> u64 {
        self.tree.push(leaf_hash(&bytes));
        self.entries.push(bytes);
        self.entries.len() as u64 - 1
    }

    fn record(&mut self, device: &Dev, action: Action<'_>) -> u64 {
        let r = Record {
            time: T0,
            device: device.id.clone(),
            action,
        };
        let mut buf = vec![0u8; 1024];
        let n = r
            .sign(self.note.ed25519(), self.note.name(), &mut buf)
            .expect("registry entry");
        buf.truncate(n);
        self.append(buf)
    }

    fn register(&mut self, d: &Dev, role: Role, org: &str) -> u64 {
        let key = d.key.verifying_key().to_bytes();
        self.record(d, Action::Registered { key, role, org })
    }

    fn key(&self) -> Verifier {
        self.note.verifier().clone()
    }

    /// A bundle of every entry of the log, at its current size.
    fn bundle(&self, subject: &str) -> Bundle {
        let size = self.tree.size();
        let cp = Checkpoint {
            origin: "test.example/log".into(),
            size,
            root: self.tree.root_at(size).expect("root"),
            extensions: vec![],
        };
        let note = cp.sign(&self.note).expect("sign");
        let entries = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let mut r = &self.tree;
                BundleEntry {
                    index: i as u64,
                    purpose: Purpose::Event,
                    bytes: bytes.clone(),
                    proof: TlogProof {
                        extra: None,
                        index: i as u64,
                        hashes: inclusion_proof(i as u64, size, &mut r).expect("proof"),
                        checkpoint: note.clone(),
                    },
                }
            })
            .collect();
        Bundle {
            subject: subject.into(),
            log: LogInfo {
                origin: "test.example/log".into(),
                key: self.key().to_string(),
            },
            checkpoint: note,
            created_ms: None,
            entries,
        }
    }
}

struct Journey {
    log: TestLog,
    station: Dev,
    tracker: Dev,
    customs: Dev,
    warehouse: Dev,
}

/// Plant commissions a cell and packs it into a container, hands the container to the carrier,
/// whose tracker seals, departs, reports fixes and arrives; customs inspects and clears; the
/// carrier hands over to a warehouse.
fn journey() -> Journey {
    let mut log = TestLog::new();
    let mut station = Dev::new("station-1", 1);
    let mut tracker = Dev::new("tracker-7", 2);
    let mut customs = Dev::new("customs-rtm", 3);
    let mut warehouse = Dev::new("wh-op", 4);
    log.register(
        &station,
        Role::Station,
        "Acme Cells urn:epc:id:pgln:4012345.00001",
    );
    log.register(
        &tracker,
        Role::Tracker,
        &format!("Blue Sea Lines {CARRIER}"),
    );
    log.register(
        &customs,
        Role::Customs,
        "Dutch Customs urn:epc:id:pgln:4012345.00003",
    );
    log.register(
        &warehouse,
        Role::Operator,
        &format!("Euro Warehouse {WAREHOUSE}"),
    );
    let no = Extra::default;
    let e = station.sign(Kind::Commissioned, &[CELL], 0, no());
    log.append(e);
    // Another cell of the plant: a gap in what concerns CELL, not in the station's chain.
    let e = station.sign(
        Kind::Commissioned,
        &["urn:epc:id:sgtin:4012345.012345.1002"],
        0,
        no(),
    );
    log.append(e);
    let e = station.sign(Kind::Commissioned, &[SSCC], 0, no());
    log.append(e);
    let e = station.sign(
        Kind::Packed,
        &[CELL],
        1,
        Extra {
            parent: Some(SSCC),
            ..no()
        },
    );
    log.append(e);
    let e = station.sign(
        Kind::HandedOver,
        &[SSCC],
        2,
        Extra {
            party: Some(CARRIER),
            ..no()
        },
    );
    log.append(e);
    let e = tracker.sign(
        Kind::Sealed,
        &[SSCC],
        3,
        Extra {
            readings: &[(Quantity::SealClosed, 1)],
            ..no()
        },
    );
    log.append(e);
    let e = tracker.sign(
        Kind::Departed,
        &[SSCC],
        4,
        Extra {
            fix: Some((519_000_000, 44_000_000)),
            ..no()
        },
    );
    log.append(e);
    let e = tracker.sign(
        Kind::Located,
        &[SSCC],
        10,
        Extra {
            fix: Some((515_000_000, 30_000_000)),
            readings: &[(Quantity::Temperature, 24_000)],
            ..no()
        },
    );
    log.append(e);
    let e = tracker.sign(
        Kind::Arrived,
        &[SSCC],
        16,
        Extra {
            fix: Some((510_000_000, 20_000_000)),
            ..no()
        },
    );
    log.append(e);
    let e = customs.sign(Kind::Inspected, &[SSCC], 17, no());
    log.append(e);
    let e = customs.sign(Kind::Cleared, &[SSCC], 18, no());
    log.append(e);
    let e = tracker.sign(
        Kind::HandedOver,
        &[SSCC],
        19,
        Extra {
            party: Some(WAREHOUSE),
            ..no()
        },
    );
    log.append(e);
    let e = warehouse.sign(Kind::Arrived, &[SSCC], 20, no());
    log.append(e);
    Journey {
        log,
        station,
        tracker,
        customs,
        warehouse,
    }
}

fn verify(b: &Bundle, key: &Verifier) -> Report {
    verify_bundle(b.to_json().as_bytes(), key, &Limits::default())
}

fn problems(r: &Report, step: Step) -> Vec<&Problem> {
    r.problems()
        .filter(|(s, _)| *s == step)
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn a_whole_journey_verifies_for_the_cell_and_the_container() {
    let j = journey();
    for subject in [CELL, SSCC] {
        let r = verify(&j.log.bundle(subject), &j.log.key());
        assert!(
            r.problems().next().is_none(),
            "{subject}: {:#?}",
            r.sections
        );
        assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.custody);
        let custody = r.custody.as_ref().expect("custody");
        assert_eq!(custody.custody.len(), 3);
        assert!(custody.journey.cleared);
    }
    let r = verify(&j.log.bundle(CELL), &j.log.key());
    // The cell's own commissioning and packing, and the container's events after packing.
    let kinds: Vec<&str> = r.trace.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "commissioned",
            "packed",
            "handed_over",
            "sealed",
            "departed",
            "located",
            "arrived",
            "inspected",
            "cleared",
            "handed_over",
            "arrived"
        ]
    );
    assert_eq!(r.trace[2].via_container.as_deref(), Some(SSCC));
    assert_eq!(r.checkpoint.as_ref().map(|c| c.size), Some(17));
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["verdict"], "pass");
}

#[test]
fn a_changed_entry_byte_fails_its_inclusion_proof() {
    let j = journey();
    let mut b = j.log.bundle(SSCC);
    let e = &mut b.entries[10];
    let last = e.bytes.len() - 1;
    e.bytes[last] ^= 1;
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Fail);
    let p = problems(&r, Step::Inclusion);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].index, Some(10));
    // The signature fails too (the byte was in the signature).
    assert_eq!(problems(&r, Step::Signatures)[0].index, Some(10));
}

#[test]
fn a_changed_proof_hash_fails() {
    let j = journey();
    let mut b = j.log.bundle(SSCC);
    b.entries[7].proof.hashes[0][3] ^= 0x40;
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Fail);
    let p = problems(&r, Step::Inclusion);
    assert_eq!(p.len(), 1);
    assert!(p[0].message.contains("entry 7"), "{}", p[0].message);
}

#[test]
fn a_changed_checkpoint_fails() {
    let j = journey();
    let mut b = j.log.bundle(SSCC);
    b.checkpoint = b.checkpoint.replacen("\n17\n", "\n18\n", 1);
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(problems(&r, Step::Checkpoint).len(), 1);
    assert!(r.checkpoint.is_none());
    // Another log's key refuses the genuine checkpoint.
    let other = NoteSigner::new("test.example/log", &[7; 32]).expect("signer");
    let r = verify(&j.log.bundle(SSCC), other.verifier());
    assert!(!problems(&r, Step::Checkpoint).is_empty());
    assert!(!problems(&r, Step::Registry).is_empty());
}

#[test]
fn a_removed_event_breaks_the_signer_chain() {
    let j = journey();
    let mut b = j.log.bundle(SSCC);
    // The tracker's `located` event (index 11), between departed and arrived.
    b.entries.retain(|e| e.index != 11);
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Fail);
    let p = problems(&r, Step::Chains);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].device.as_deref(), Some("tracker-7"));
    assert_eq!(p[0].seq, Some(4));
    assert!(p[0].message.contains("missing"), "{}", p[0].message);
}

#[test]
fn a_forged_event_by_an_unregistered_key_fails() {
    let j = journey();
    let mut b = j.log.bundle(SSCC);
    let mut forger = Dev::new("tracker-99", 9);
    let forged = forger.sign(Kind::Cleared, &[SSCC], 18, Extra::default());
    let mut proof = b.entries[16].proof.clone();
    proof.index = 17;
    b.entries.push(BundleEntry {
        index: 17,
        purpose: Purpose::Event,
        bytes: forged,
        proof,
    });
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Fail);
    let reg = problems(&r, Step::Registry);
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].device.as_deref(), Some("tracker-99"));
    assert_eq!(problems(&r, Step::Inclusion).len(), 1);

    // The same, claiming to be a registered device: its signature is not that device's.
    let mut b = j.log.bundle(SSCC);
    let mut impostor = Dev::new("customs-rtm", 9);
    impostor.seq = 2;
    impostor.prev = j.customs.prev;
    let e = impostor.sign(Kind::Cleared, &[SSCC], 18, Extra::default());
    b.entries[14].bytes = e;
    let r = verify(&b, &j.log.key());
    let sig = problems(&r, Step::Signatures);
    assert_eq!(sig.len(), 1);
    assert!(sig[0].message.contains("forged"), "{}", sig[0].message);
}

#[test]
fn key_rotation_and_revocation_are_respected() {
    let mut j = journey();
    let old = j.tracker.key.clone();
    j.tracker.key = SigningKey::from_bytes(&[22; 32]);
    let key = j.tracker.key.verifying_key().to_bytes();
    j.log.record(&j.tracker, Action::KeyRotated { key });
    let e = j.tracker.sign(Kind::Located, &[SSCC], 21, Extra::default());
    j.log.append(e);
    let r = verify(&j.log.bundle(SSCC), &j.log.key());
    assert!(r.problems().next().is_none(), "{:#?}", r.sections);

    // An event signed with the old key after the rotation.
    j.tracker.key = old;
    let e = j.tracker.sign(Kind::Located, &[SSCC], 22, Extra::default());
    let at = j.log.append(e);
    let r = verify(&j.log.bundle(SSCC), &j.log.key());
    let sig = problems(&r, Step::Signatures);
    assert_eq!(sig.len(), 1);
    assert_eq!(sig[0].index, Some(at));

    // After a revocation nothing of the device counts.
    let mut j = journey();
    j.log.record(&j.warehouse, Action::Revoked { reason: None });
    let e = j
        .warehouse
        .sign(Kind::Arrived, &[SSCC], 21, Extra::default());
    let at = j.log.append(e);
    let r = verify(&j.log.bundle(SSCC), &j.log.key());
    let reg = problems(&r, Step::Registry);
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].index, Some(at));
    assert!(reg[0].message.contains("revoked"));
}

#[test]
fn custody_failures_verify_cryptographically_but_fail() {
    let mut j = journey();
    // The seal breaks in transit, and the warehouse hands the container to itself while the
    // carrier holds it.
    let e = j.tracker.sign(
        Kind::SealBroken,
        &[SSCC],
        12,
        Extra {
            readings: &[(Quantity::SealClosed, 0)],
            ..Extra::default()
        },
    );
    j.log.append(e);
    let e = j.warehouse.sign(
        Kind::HandedOver,
        &[SSCC],
        21,
        Extra {
            party: Some(WAREHOUSE),
            ..Extra::default()
        },
    );
    j.log.append(e);
    let r = verify(&j.log.bundle(SSCC), &j.log.key());
    for s in &r.sections {
        if s.step != Step::Custody {
            assert!(s.problems.is_empty(), "{s:#?}");
        }
    }
    assert_eq!(r.verdict, Verdict::Fail);
    let c = r.custody.as_ref().expect("custody");
    assert!(
        c.findings
            .iter()
            .any(|f| f.rule == Rule::SealBrokenBeforeInspection)
    );
    // The carrier handed over to the warehouse at hour 19, so the warehouse holds it and may
    // hand it on; make a third party do it instead.
    let mut j = journey();
    let e = j.station.sign(
        Kind::HandedOver,
        &[SSCC],
        21,
        Extra {
            party: Some(CARRIER),
            ..Extra::default()
        },
    );
    j.log.append(e);
    let r = verify(&j.log.bundle(SSCC), &j.log.key());
    let c = r.custody.as_ref().expect("custody");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        c.findings
            .iter()
            .any(|f| matches!(f.rule, Rule::HandoverByNonHolder { .. }))
    );
}

#[test]
fn garbage_is_a_bundle_failure_not_a_panic() {
    let key = TestLog::new().key();
    for bad in [
        &b""[..],
        b"{}",
        b"[1,2]",
        b"\xff\xfe",
        b"{\"format\":\"provenance-evidence/v1\"}",
    ] {
        let r = verify_bundle(bad, &key, &Limits::default());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(problems(&r, Step::Bundle).len(), 1);
    }
}
