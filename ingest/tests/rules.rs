//! SPEC §4 steps 1–4, one test per rule, plus a mixed batch keeping input order.

use provenance_event::cose::{self, protected_header};
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{CONTENT_TYPE, DeviceId, Draft, Epc, Kind, sign_event};
use provenance_ingest::validate::{Holder, Message, Reason, check_batch};

const NOW: i64 = 1_763_719_200_000;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn event(device: &str, seed: u8, seq: u64, time: i64) -> Vec<u8> {
    let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1").expect("epc")];
    let prev = if seq == 1 { [0; 32] } else { [9; 32] };
    let d = Draft::new(seq, prev, time, Kind::Commissioned, &items);
    let mut buf = vec![0u8; 4096];
    let n = sign_event(
        &key(seed),
        &DeviceId::new(device).expect("id"),
        &d,
        &mut buf,
    )
    .expect("sign");
    buf.truncate(n);
    buf
}

/// A correctly signed message whose payload is `payload` (which may break SPEC §3).
fn signed_payload(device: &str, seed: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = [0u8; cose::PROTECTED_MAX];
    let pl = protected_header(CONTENT_TYPE, device.as_bytes(), &mut p).expect("header");
    let mut out = vec![0u8; 4096];
    let n = cose::sign1::<()>(&key(seed), &p[..pl], &mut out, |buf| {
        buf[..payload.len()].copy_from_slice(payload);
        Ok(payload.len())
    })
    .expect("sign");
    out.truncate(n);
    out
}

fn registry(id: &str) -> Option<Holder> {
    match id {
        "station-1" => Some(Holder {
            key: key(1).verifying_key(),
            revoked: false,
        }),
        "station-2" => Some(Holder {
            key: key(2).verifying_key(),
            revoked: false,
        }),
        "old-3" => Some(Holder {
            key: key(3).verifying_key(),
            revoked: true,
        }),
        _ => None,
    }
}

fn mqtt(device: &str, bytes: Vec<u8>) -> Message {
    Message {
        topic: Some(format!("prov/v1/dev/{device}/ev")),
        bytes,
        received_ms: NOW,
    }
}

fn one(
    m: Message,
) -> Result<provenance_ingest::validate::Valid, provenance_ingest::validate::Rejection> {
    check_batch(&[m], &registry, NOW).remove(0)
}

#[test]
fn accepts_a_valid_event() {
    let v = one(mqtt("station-1", event("station-1", 1, 1, NOW))).expect("valid");
    assert_eq!((v.device.as_str(), v.seq), ("station-1", 1));
}

#[test]
fn too_large() {
    let e = one(mqtt("station-1", vec![0u8; 4097])).expect_err("too large");
    assert_eq!(e.reason, Reason::TooLarge);
}

#[test]
fn malformed() {
    for bytes in [
        vec![0xd2, 0x84],
        b"hello".to_vec(),
        event("station-1", 1, 1, NOW)[1..].to_vec(),
    ] {
        let e = one(mqtt("station-1", bytes)).expect_err("malformed");
        assert_eq!(e.reason, Reason::Malformed, "{}", e.detail);
    }
}

#[test]
fn unknown_device() {
    let e = one(mqtt("ghost", event("ghost", 1, 1, NOW))).expect_err("unknown");
    assert_eq!(e.reason, Reason::UnknownDevice);
    assert_eq!(e.seq, Some(1), "the seq is still reported back");
}

#[test]
fn topic_mismatch() {
    let e = one(mqtt("station-2", event("station-1", 1, 1, NOW))).expect_err("mismatch");
    assert_eq!(e.reason, Reason::TopicMismatch);
    // The HTTP API has no topic: nothing to mismatch.
    let m = Message {
        topic: None,
        bytes: event("station-1", 1, 1, NOW),
        received_ms: NOW,
    };
    assert!(one(m).is_ok());
}

#[test]
fn revoked() {
    let e = one(mqtt("old-3", event("old-3", 3, 1, NOW))).expect_err("revoked");
    assert_eq!(e.reason, Reason::Revoked);
}

#[test]
fn bad_signature() {
    // station-1's ID, station-2's key.
    let e = one(mqtt("station-1", event("station-1", 2, 1, NOW))).expect_err("forged");
    assert_eq!(e.reason, Reason::BadSignature);
}

#[test]
fn invalid_event() {
    // A payload without items, correctly signed.
    let no_items = [0xa5, 0x01, 0x01, 0x02, 0x01, 0x03, 0x58, 0x20]
        .iter()
        .copied()
        .chain([0u8; 32])
        .chain([0x04, 0x1b])
        .chain(NOW.to_be_bytes())
        .chain([0x05, 0x01])
        .collect::<Vec<u8>>();
    let e = one(mqtt("station-1", signed_payload("station-1", 1, &no_items))).expect_err("invalid");
    assert_eq!(e.reason, Reason::InvalidEvent);
    assert!(e.detail.contains("items"), "{}", e.detail);
    // From more than five minutes in the future.
    let e = one(mqtt("station-1", event("station-1", 1, 1, NOW + 301_000))).expect_err("future");
    assert_eq!(e.reason, Reason::InvalidEvent);
    assert!(e.detail.contains("ahead"), "{}", e.detail);
    assert!(one(mqtt("station-1", event("station-1", 1, 1, NOW + 299_000))).is_ok());
}

#[test]
fn a_mixed_batch_keeps_order_and_one_forgery_does_not_sink_the_rest() {
    let batch = vec![
        mqtt("station-1", event("station-1", 1, 1, NOW)),
        mqtt("station-1", event("station-1", 2, 2, NOW)),
        mqtt("station-2", event("station-2", 2, 1, NOW)),
        mqtt("station-1", vec![1, 2, 3]),
        mqtt("station-2", event("station-2", 2, 2, NOW)),
    ];
    let r = check_batch(&batch, &registry, NOW);
    let summary: Vec<Result<u64, Reason>> = r
        .into_iter()
        .map(|x| x.map(|v| v.seq).map_err(|e| e.reason))
        .collect();
    assert_eq!(
        summary,
        vec![
            Ok(1),
            Err(Reason::BadSignature),
            Ok(1),
            Err(Reason::Malformed),
            Ok(2)
        ]
    );
}
