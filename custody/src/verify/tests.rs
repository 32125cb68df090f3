//! Bundles built from an in-memory log, verified, then tampered with.

use ed25519_dalek::SigningKey;
use provenance_event::registry::{Action, Record, Role};
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, Quantity, sign_event};
use provenance_tlog::cosignature::CosignatureSigner;
use provenance_tlog::merkle::{MemoryTree, inclusion_proof};
use provenance_tlog::policy::Policy;
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
        self.cosigned_bundle(subject, &[])
    }

    /// As [`TestLog::bundle`], its checkpoint cosigned by each witness at its time (seconds),
    /// in the bundle and in every proof, as the log publishes it.
    fn cosigned_bundle(&self, subject: &str, cosigners: &[(&CosignatureSigner, u64)]) -> Bundle {
        let size = self.tree.size();
        let cp = Checkpoint {
            origin: "test.example/log".into(),
            size,
            root: self.tree.root_at(size).expect("root"),
            extensions: vec![],
        };
        let mut note = cp.sign(&self.note).expect("sign");
        for (w, t) in cosigners {
            note.push_str(&w.sign(&cp.body(), *t).expect("cosign"));
        }
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
            scope: Default::default(),
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

// Witnesses and policies.

/// Three witnesses, `w1.test/witness` … `w3.test/witness`.
fn witness_signers() -> [CosignatureSigner; 3] {
    [1u8, 2, 3].map(|n| {
        CosignatureSigner::new(&format!("w{n}.test/witness"), &[100 + n; 32]).expect("witness")
    })
}

/// A policy trusting the test log (if `with_log`) and the three witnesses, with `quorum`
/// lines (`group g 2 w1 w2 w3\nquorum g\n`).
fn policy(log: &TestLog, w: &[CosignatureSigner; 3], with_log: bool, quorum: &str) -> Policy {
    let log_line = if with_log {
        format!("log {}\n", log.key())
    } else {
        String::new()
    };
    let text = format!(
        "# who we trust\n{log_line}witness w1 {}\nwitness w2 {}\nwitness w3 {}\n{quorum}",
        w[0].vkey(),
        w[1].vkey(),
        w[2].vkey()
    );
    Policy::parse(text.as_bytes()).expect("policy")
}

const TWO_OF_THREE: &str = "group g 2 w1 w2 w3\nquorum g\n";
const ALL_THREE: &str = "group g all w1 w2 w3\nquorum g\n";

/// Seconds since the Epoch at `hour` of the journey.
fn at_hour(hour: i64) -> u64 {
    u64::try_from((T0 + hour * HOUR) / 1000).expect("time")
}

fn verify_with(b: &Bundle, key: Option<&Verifier>, policy: &Policy) -> Report {
    verify_bundle_with(
        b.to_json().as_bytes(),
        key,
        &Limits::default(),
        Some(policy),
    )
}

fn dated_after(r: &Report) -> Vec<u64> {
    r.custody
        .iter()
        .flat_map(|c| &c.findings)
        .filter(|f| matches!(f.rule, Rule::DatedAfterWitnessed { .. }))
        .flat_map(|f| f.indexes.clone())
        .collect()
}

#[test]
fn a_checkpoint_cosigned_by_two_of_three_satisfies_a_two_of_three_policy() {
    let j = journey();
    let w = witness_signers();
    let (t1, t3) = (at_hour(21), at_hour(21) + 7);
    let b = j.log.cosigned_bundle(SSCC, &[(&w[0], t1), (&w[2], t3)]);
    let p = policy(&j.log, &w, true, TWO_OF_THREE);
    let r = verify_with(&b, Some(&j.log.key()), &p);
    assert!(r.problems().next().is_none(), "{:#?}", r.sections);
    assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.custody);
    assert!(r.ok());
    let s = &r.sections[2];
    assert_eq!(s.step, Step::Witnesses);
    assert_eq!(s.count, 2);
    assert!(s.checked.contains("quorum g: 2 of 3"), "{}", s.checked);
    let wi = r.witnesses.as_ref().expect("witnesses");
    assert!(wi.policy);
    assert_eq!(wi.quorum_met, Some(true));
    // The second of the two is when the group of two was witnessed.
    assert_eq!(wi.witnessed_by, Some(t3));
    let names: Vec<(&str, Option<&str>, Option<u64>, bool)> = wi
        .cosignatures
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.policy_name.as_deref(),
                c.timestamp,
                c.verified,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("w1.test/witness", Some("w1"), Some(t1), true),
            ("w3.test/witness", Some("w3"), Some(t3), true)
        ]
    );
    assert_eq!(
        wi.summary(),
        format!(
            "witnessed: w1.test/witness at {}, w3.test/witness at {}; policy quorum g met (2 of 3)",
            utc_seconds(t1),
            utc_seconds(t3)
        )
    );
    assert_eq!(
        wi.anchored(),
        Some(format!(
            "anchored by {}, witnessed by w1.test/witness and w3.test/witness",
            utc_seconds(t3)
        ))
    );
    assert_eq!(utc_seconds(1_796_670_062), "2026-12-07 19:01:02 UTC");
    assert_eq!(
        r.checkpoint.as_ref().map(|c| c.key.clone()),
        Some(j.log.key().to_string())
    );
    // Every event is dated before the witnesses saw the checkpoint.
    assert!(dated_after(&r).is_empty());
    // The log's key may come from the policy alone.
    let r = verify_with(&b, None, &p);
    assert!(r.problems().next().is_none(), "{:#?}", r.sections);
    assert_eq!(
        r.checkpoint.as_ref().map(|c| c.key.clone()),
        Some(j.log.key().to_string())
    );
    // Or from --log-key with a policy that lists no logs.
    let r = verify_with(
        &b,
        Some(&j.log.key()),
        &policy(&j.log, &w, false, TWO_OF_THREE),
    );
    assert!(r.problems().next().is_none(), "{:#?}", r.sections);
}

#[test]
fn a_three_of_three_policy_fails_naming_the_missing_witness() {
    let j = journey();
    let w = witness_signers();
    let b = j
        .log
        .cosigned_bundle(SSCC, &[(&w[0], at_hour(21)), (&w[2], at_hour(21))]);
    let r = verify_with(&b, Some(&j.log.key()), &policy(&j.log, &w, true, ALL_THREE));
    assert_eq!(r.verdict, Verdict::Fail);
    let p = problems(&r, Step::Witnesses);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0].message,
        "quorum g not met: g has 2 of the 3 it needs (witnessed by w1, w3; missing w2)"
    );
    // Nothing else is wrong.
    assert_eq!(r.problems().count(), 1);
    let wi = r.witnesses.as_ref().expect("witnesses");
    assert_eq!(wi.quorum_met, Some(false));
    assert_eq!(wi.witnessed_by, None);
    assert_eq!(wi.cosignatures.len(), 2);
    assert!(
        wi.summary().ends_with(
            "; policy not satisfied: quorum g not met: g has 2 of the 3 it needs (witnessed by \
             w1, w3; missing w2)"
        ),
        "{}",
        wi.summary()
    );
    assert_eq!(wi.anchored(), None);
    // No time is vouched for, so no event is judged by it.
    assert!(dated_after(&r).is_empty());

    // Not witnessed at all.
    let r = verify_with(
        &j.log.bundle(SSCC),
        Some(&j.log.key()),
        &policy(&j.log, &w, true, TWO_OF_THREE),
    );
    assert_eq!(r.verdict, Verdict::Fail);
    let p = problems(&r, Step::Witnesses);
    assert!(
        p[0].message.contains("missing w1, w2, w3"),
        "{}",
        p[0].message
    );
    let summary = r.witnesses.as_ref().expect("witnesses").summary();
    assert!(
        summary.starts_with("not witnessed by any witness of the policy; "),
        "{summary}"
    );
}

#[test]
fn an_altered_cosignature_fails() {
    let j = journey();
    let w = witness_signers();
    let b = j.log.cosigned_bundle(
        SSCC,
        &[
            (&w[0], at_hour(21)),
            (&w[1], at_hour(21)),
            (&w[2], at_hour(21)),
        ],
    );
    let p = policy(&j.log, &w, true, TWO_OF_THREE);
    // One character of w1's signature, everywhere it appears.
    let line = b
        .checkpoint
        .lines()
        .find(|l| l.starts_with("\u{2014} w1.test/witness "))
        .expect("w1's line")
        .to_string();
    let mut chars: Vec<char> = line.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    let json = b.to_json().replace(&line, &altered);
    assert_ne!(json, b.to_json());
    let r = verify_bundle_with(
        json.as_bytes(),
        Some(&j.log.key()),
        &Limits::default(),
        Some(&p),
    );
    assert_eq!(r.verdict, Verdict::Fail);
    let problems = problems(&r, Step::Witnesses);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].message.contains("w1.test/witness")
            && problems[0].message.contains("does not verify"),
        "{}",
        problems[0].message
    );
    // The log's own signature and every proof still hold: only the witnesses fail.
    assert_eq!(r.problems().count(), 1, "{:#?}", r.sections);
    // Without a policy the altered line is not checked: listed by name, unverified.
    let r = verify_bundle(json.as_bytes(), &j.log.key(), &Limits::default());
    assert!(r.ok(), "{:#?}", r.sections);
    let wi = r.witnesses.as_ref().expect("witnesses");
    assert!(!wi.policy);
    assert!(
        wi.cosignatures
            .iter()
            .all(|c| !c.verified && c.timestamp.is_none())
    );
}

#[test]
fn without_a_policy_cosignature_lines_are_listed_by_name_unverified() {
    let j = journey();
    let w = witness_signers();
    let b = j
        .log
        .cosigned_bundle(SSCC, &[(&w[1], at_hour(21)), (&w[2], at_hour(21))]);
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Pass);
    let s = &r.sections[2];
    assert_eq!(s.step, Step::Witnesses);
    assert!(s.problems.is_empty());
    assert!(
        s.checked
            .contains("w2.test/witness, w3.test/witness according to its signature lines")
            && s.checked.contains("not verified"),
        "{}",
        s.checked
    );
    let wi = r.witnesses.as_ref().expect("witnesses");
    assert_eq!(
        wi.summary(),
        "cosignature lines by w2.test/witness, w3.test/witness (names only, not verified: no \
         witness policy given)"
    );
    assert_eq!(wi.witnessed_by, None);
    let r = verify(&j.log.bundle(SSCC), &j.log.key());
    let wi = r.witnesses.as_ref().expect("witnesses");
    assert!(wi.cosignatures.is_empty());
    assert_eq!(
        wi.summary(),
        "not witnessed: the checkpoint carries the log's signature only"
    );
    assert!(r.sections[2].checked.starts_with("not witnessed"));
}

#[test]
fn events_dated_after_the_witnessed_time_are_warnings() {
    let j = journey();
    let w = witness_signers();
    // The witnesses saw the whole log at hour 18; the last two events say hours 19 and 20.
    let b = j
        .log
        .cosigned_bundle(SSCC, &[(&w[0], at_hour(18)), (&w[2], at_hour(18) - 60)]);
    let r = verify_with(
        &b,
        Some(&j.log.key()),
        &policy(&j.log, &w, true, TWO_OF_THREE),
    );
    assert!(r.problems().next().is_none(), "{:#?}", r.sections);
    assert_eq!(r.verdict, Verdict::Warnings);
    assert!(r.ok());
    assert_eq!(dated_after(&r), [15, 16]);
    let f = r
        .custody
        .as_ref()
        .expect("custody")
        .findings
        .iter()
        .find(|f| f.indexes == [16] && matches!(f.rule, Rule::DatedAfterWitnessed { .. }))
        .expect("finding");
    assert_eq!(f.severity, rules::Severity::Warning);
    assert!(
        f.message
            .starts_with("wh-op's event at log index 16: device time ")
            && f.message
                .contains(" is 2 h after the witnesses saw the checkpoint"),
        "{}",
        f.message
    );
    // Within the clock skew allowance: no finding.
    let b = j.log.cosigned_bundle(
        SSCC,
        &[(&w[0], at_hour(20) - 240), (&w[2], at_hour(20) - 240)],
    );
    let r = verify_with(
        &b,
        Some(&j.log.key()),
        &policy(&j.log, &w, true, TWO_OF_THREE),
    );
    assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.custody);
    assert!(dated_after(&r).is_empty());
    // Without a policy, no time is vouched for.
    let b = j
        .log
        .cosigned_bundle(SSCC, &[(&w[0], at_hour(1)), (&w[2], at_hour(1))]);
    let r = verify(&b, &j.log.key());
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(dated_after(&r).is_empty());
}

#[test]
fn the_log_must_be_one_the_policy_accepts() {
    let j = journey();
    let w = witness_signers();
    let b = j
        .log
        .cosigned_bundle(SSCC, &[(&w[0], at_hour(21)), (&w[2], at_hour(21))]);
    // A policy for another log, with --log-key of this one.
    let other = TestLog {
        note: NoteSigner::new("other.example/log", &[43; 32]).expect("signer"),
        tree: MemoryTree::new(),
        entries: vec![],
    };
    let p = policy(&other, &w, true, TWO_OF_THREE);
    let r = verify_with(&b, Some(&j.log.key()), &p);
    assert_eq!(r.verdict, Verdict::Fail);
    let problems_w = problems(&r, Step::Witnesses);
    assert!(
        problems_w[0]
            .message
            .contains("is not one of the policy's logs"),
        "{}",
        problems_w[0].message
    );
    assert!(problems(&r, Step::Checkpoint).is_empty());
    // Without --log-key the policy's log does not sign this checkpoint.
    let r = verify_with(&b, None, &p);
    assert_eq!(r.verdict, Verdict::Fail);
    let cp = problems(&r, Step::Checkpoint);
    assert!(
        cp[0].message.contains("not signed by a log of the policy")
            && cp[0].message.contains("other.example/log"),
        "{}",
        cp[0].message
    );
    assert!(r.checkpoint.is_none());
    assert!(!problems(&r, Step::Witnesses).is_empty());
    // Neither a key nor a policy log.
    let r = verify_with(&b, None, &policy(&j.log, &w, false, TWO_OF_THREE));
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        problems(&r, Step::Checkpoint)[0]
            .message
            .contains("the policy lists no logs")
    );
}

#[test]
fn every_proof_must_carry_the_bundles_checkpoint_note() {
    let j = journey();
    let w = witness_signers();
    let cosigned = j
        .log
        .cosigned_bundle(SSCC, &[(&w[0], at_hour(21)), (&w[2], at_hour(21))]);
    // Proofs against the same tree head, but the note without its cosignatures: the bundle's
    // checkpoint is not what each proof stands on.
    let mut b = j.log.bundle(SSCC);
    b.checkpoint = cosigned.checkpoint.clone();
    let r = verify_with(
        &b,
        Some(&j.log.key()),
        &policy(&j.log, &w, true, TWO_OF_THREE),
    );
    assert_eq!(r.verdict, Verdict::Fail);
    let p = problems(&r, Step::Inclusion);
    assert_eq!(p.len(), b.entries.len());
    assert!(
        p[0].message.contains("another checkpoint"),
        "{}",
        p[0].message
    );
    assert!(problems(&r, Step::Witnesses).is_empty());
}
