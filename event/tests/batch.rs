//! The batch path accepts only what the strict rule (`cose::verify_ed25519`) accepts: every
//! Wycheproof and CCTV vector, the attacks that ed25519-dalek's `verify_batch` falls for, and
//! random batches with random corruptions.
#![cfg(feature = "batch")]

use std::path::PathBuf;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use proptest::prelude::*;
use provenance_event::batch::{self, Item, MIN_BATCH, batch_accepts, verify_signatures};
use provenance_event::cose;
use provenance_event::{DeviceId, Draft, Epc, Kind, MAX_MESSAGE, SignedEvent, sign_event};
use serde_json::Value;
use sha2::{Digest, Sha512};

fn testdata(rel: &str) -> PathBuf {
    let base = std::env::var_os("PROVENANCE_TESTDATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
        PathBuf::from,
    );
    base.join(rel)
}

fn json(rel: &str) -> Value {
    let path = testdata(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set PROVENANCE_TESTDATA)", path.display()));
    serde_json::from_str(&text).expect("test vector is JSON")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))).expect("hex")
}

fn signing_key(i: u64) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&(i + 1).to_le_bytes());
    secret[31] = 0x5a;
    SigningKey::from_bytes(&secret)
}

/// A fixed seed: the tests must pass for any seed, and a fixed one makes a failure repeatable.
const SEED: [u8; 32] = [0x5e; 32];

/// One vector: key, signature, message, and the strict rule's verdict.
struct Vector {
    name: String,
    key: VerifyingKey,
    signature: [u8; 64],
    message: Vec<u8>,
    strict: bool,
}

/// Every Wycheproof and CCTV Ed25519 vector whose key decodes and whose signature is 64 bytes
/// (the others cannot even be put to a verifier taking a key and 64 bytes; the strict rule
/// refuses them, see conformance.rs), and how many were left out.
fn vectors() -> (Vec<Vector>, usize) {
    let mut out = Vec::new();
    let mut left_out = 0;
    let mut push = |name: String, key: &[u8], sig: &[u8], message: Vec<u8>| {
        let key = <[u8; 32]>::try_from(key)
            .ok()
            .and_then(|k| VerifyingKey::from_bytes(&k).ok());
        let signature = <[u8; 64]>::try_from(sig).ok();
        match (key, signature) {
            (Some(key), Some(signature)) => {
                let strict = cose::verify_ed25519(&key, &message, &signature).is_ok();
                out.push(Vector {
                    name,
                    key,
                    signature,
                    message,
                    strict,
                });
            }
            _ => left_out += 1,
        }
    };
    let w = json("cose/wycheproof/ed25519_test.json");
    for group in w["testGroups"].as_array().expect("groups") {
        let pk = hex::decode(group["publicKey"]["pk"].as_str().expect("pk")).expect("hex");
        for t in group["tests"].as_array().expect("tests") {
            push(
                format!("wycheproof {}", t["tcId"]),
                &pk,
                &hex_field(t, "sig"),
                hex_field(t, "msg"),
            );
        }
    }
    let c = json("cose/cctv/ed25519vectors.json");
    for t in c.as_array().expect("list") {
        push(
            format!("cctv {}", t["number"]),
            &hex_field(t, "key"),
            &hex_field(t, "sig"),
            t["msg"].as_str().expect("msg").as_bytes().to_vec(),
        );
    }
    (out, left_out)
}

fn item(v: &Vector) -> Item<'_, [u8]> {
    Item {
        key: &v.key,
        signature: &v.signature,
        message: &v.message,
    }
}

/// `count` honest signatures from `keys` keys over distinct messages.
fn honest(count: usize, keys: u64) -> Vec<Vector> {
    (0..count)
        .map(|i| {
            let sk = signing_key(i as u64 % keys);
            let message = format!("honest event {i}").into_bytes();
            Vector {
                name: format!("honest {i}"),
                key: sk.verifying_key(),
                signature: sk.sign(&message).to_bytes(),
                message,
                strict: true,
            }
        })
        .collect()
}

#[test]
fn batch_path_agrees_with_the_strict_rule_on_every_wycheproof_and_cctv_vector() {
    let (vectors, left_out) = vectors();
    // 151 Wycheproof + 914 CCTV; a handful of Wycheproof keys or signatures do not decode.
    assert_eq!(vectors.len() + left_out, 151 + 914);
    assert!(vectors.len() > 1000, "{} usable vectors", vectors.len());

    // Each alone, as a batch of one.
    for v in &vectors {
        let alone = [item(v)];
        assert_eq!(
            verify_signatures(&alone, SEED),
            [v.strict],
            "{}: batch path disagrees with the strict rule",
            v.name
        );
        let vouched = batch_accepts(&alone, SEED);
        assert!(
            !vouched || v.strict,
            "{}: the batch equation vouched for a signature the rule refuses",
            v.name
        );
        // Completeness: the batch itself (not the fall-back) accepts every valid signature
        // under a torsion-free key.
        if v.strict && v.key.to_edwards().is_torsion_free() {
            assert!(vouched, "{}: valid, but the batch fell back", v.name);
        }
    }

    // All of them in one big batch, mixed with valid signatures.
    let mut mixed: Vec<Vector> = honest(300, 7);
    let mut vs = vectors.into_iter();
    // Interleave: a vector after every honest signature, the rest at the end.
    let mut all = Vec::new();
    for h in mixed.drain(..) {
        all.push(h);
        if let Some(v) = vs.next() {
            all.push(v);
        }
    }
    all.extend(vs);
    let items: Vec<Item<'_, [u8]>> = all.iter().map(item).collect();
    let verdicts = verify_signatures(&items, SEED);
    for (v, got) in all.iter().zip(&verdicts) {
        assert_eq!(*got, v.strict, "{} in the mixed batch", v.name);
    }

    // Only the valid ones, under torsion-free keys: the batch vouches for all of them at once;
    // add any single invalid vector and it does not.
    let valid: Vec<&Vector> = all
        .iter()
        .filter(|v| v.strict && v.key.to_edwards().is_torsion_free())
        .collect();
    assert!(valid.len() > 300 + 50, "{} valid", valid.len());
    let valid_items: Vec<Item<'_, [u8]>> = valid.iter().map(|v| item(v)).collect();
    assert!(batch_accepts(&valid_items, SEED));
    let base: Vec<Item<'_, [u8]>> = valid_items[..80].to_vec();
    for v in all.iter().filter(|v| !v.strict) {
        let mut with_bad = base.clone();
        with_bad.insert(40, item(v));
        assert!(
            !batch_accepts(&with_bad, SEED),
            "{}: vouched for inside a batch of valid signatures",
            v.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The attacks on ed25519-dalek's batch verification, built with real keys as real events.

/// A signed event of `device` (seq `seq`), as its bytes.
fn event(key: &SigningKey, device: &str, seq: u64) -> Vec<u8> {
    let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").expect("epc")];
    let prev = if seq == 1 { [0; 32] } else { [9; 32] };
    let draft = Draft::new(
        seq,
        prev,
        1_700_000_000_000 + seq as i64,
        Kind::Commissioned,
        &items,
    );
    let device = DeviceId::new(device).expect("device id");
    let mut buf = vec![0u8; MAX_MESSAGE];
    let n = sign_event(key, &device, &draft, &mut buf).expect("signs");
    buf.truncate(n);
    buf
}

/// The Sig_structure of an event: what its signature signs.
fn to_be_signed(bytes: &[u8]) -> Vec<u8> {
    let signed = SignedEvent::parse(bytes).expect("parses");
    let mut tbs = Vec::new();
    signed.sign1().to_be_signed(|c| tbs.extend_from_slice(c));
    tbs
}

/// The same event with another signature (the last 64 bytes of the message).
fn with_signature(mut bytes: Vec<u8>, signature: &[u8; 64]) -> Vec<u8> {
    let n = bytes.len();
    bytes[n - 64..].copy_from_slice(signature);
    bytes
}

/// k = SHA-512(R ‖ A ‖ M) mod ℓ.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(message);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn signature(r: &[u8; 32], s: &Scalar) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// What ed25519-dalek's batch verification (this crate's batch path before issue #12) says
/// about one signature.
fn dalek_batch_accepts(key: &VerifyingKey, message: &[u8], sig: &[u8; 64]) -> bool {
    ed25519_dalek::verify_batch(&[message], &[Signature::from_bytes(sig)], &[*key]).is_ok()
}

/// The order-2 point (0, −1).
fn order_two() -> EdwardsPoint {
    let mut y = [0xff; 32];
    y[0] = 0xec;
    y[31] = 0x7f;
    let t = CompressedEdwardsY(y)
        .decompress()
        .expect("(0, -1) is on the curve");
    assert!(t.is_small_order() && t != EdwardsPoint::default());
    t
}

/// `MIN_BATCH` honest events from a few devices, as (bytes, key), so `verify_batch` takes
/// the batch equation rather than single checks.
fn honest_events() -> Vec<(Vec<u8>, VerifyingKey)> {
    (0..MIN_BATCH as u64 + 8)
        .map(|i| {
            let sk = signing_key(100 + i % 4);
            (
                event(&sk, &format!("honest-{}", i % 4), 1 + i / 4),
                sk.verifying_key(),
            )
        })
        .collect()
}

/// `verify_batch` over the honest events with `extra` in the middle: the verdicts of all.
fn verify_among_honest(extra: (&[u8], VerifyingKey)) -> (bool, bool) {
    let honest = honest_events();
    let mut items: Vec<(SignedEvent<'_>, VerifyingKey)> = honest
        .iter()
        .map(|(b, k)| (SignedEvent::parse(b).expect("parses"), *k))
        .collect();
    let at = items.len() / 2;
    items.insert(at, (SignedEvent::parse(extra.0).expect("parses"), extra.1));
    assert!(items.len() >= MIN_BATCH);
    let verdicts = batch::verify_batch(items, SEED);
    let honest_ok = verdicts
        .iter()
        .enumerate()
        .all(|(i, v)| i == at || v.is_ok());
    (verdicts[at].is_ok(), honest_ok)
}

#[test]
fn batch_refuses_non_canonical_identity_r() {
    let sk = signing_key(1);
    let vk = sk.verifying_key();
    let a = sk.to_scalar();
    // The identity's canonical encoding is y = 1, sign 0. Two other byte strings decompress
    // to it: y = 1 + p (= 2^255 − 18) and "negative zero", y = 1 with the sign bit set.
    let mut one_plus_p = [0xff; 32];
    one_plus_p[0] = 0xee;
    one_plus_p[31] = 0x7f;
    let mut negative_zero = [0u8; 32];
    negative_zero[0] = 1;
    negative_zero[31] = 0x80;
    for (what, r) in [("1 + p", one_plus_p), ("negative zero", negative_zero)] {
        let decoded = CompressedEdwardsY(r).decompress().expect("decompresses");
        assert_eq!(
            decoded,
            EdwardsPoint::default(),
            "{what} decodes to the identity"
        );
        let bytes = event(&sk, "attacker", 1);
        let tbs = to_be_signed(&bytes);
        // S = k·a: then [S]B − [k]A is the identity, which R decodes to.
        let k = challenge(&r, vk.as_bytes(), &tbs);
        let sig = signature(&r, &(k * a));
        let forged = with_signature(bytes, &sig);

        // Today's path accepted it …
        assert!(dalek_batch_accepts(&vk, &tbs, &sig), "{what}: dalek batch");
        // … the rule refuses it (R is compared encoded) …
        assert!(
            cose::verify_ed25519(&vk, &tbs, &sig).is_err(),
            "{what}: strict"
        );
        let signed = SignedEvent::parse(&forged).expect("parses");
        assert!(
            signed.clone().verify(&vk).is_err(),
            "{what}: strict on the event"
        );
        // … and so does the batch path, alone and among honest events.
        let item = Item {
            key: &vk,
            signature: &sig,
            message: signed.sign1(),
        };
        assert!(!batch_accepts(&[item], SEED), "{what}: batch equation");
        assert_eq!(verify_signatures(&[item], SEED), [false], "{what}");
        let (verdict, honest_ok) = verify_among_honest((&forged, vk));
        assert!(!verdict, "{what}: verify_batch accepted it");
        assert!(honest_ok, "{what}: honest events refused");
    }
}

#[test]
fn batch_refuses_r_with_small_order_component() {
    let sk = signing_key(2);
    let vk = sk.verifying_key();
    let a = sk.to_scalar();
    let t = order_two();
    let mut dalek_accepted = None;
    for seq in 1..=64 {
        let bytes = event(&sk, "attacker", seq);
        let tbs = to_be_signed(&bytes);
        // R' = [r]B + T; S = r + k'·a with k' over R'. Then [S]B − R' − [k']A = −T: the
        // cofactorless batch equation holds whenever its coefficient for it is even, which
        // ed25519-dalek derives from the inputs, so the signer can grind for it.
        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&tbs).into());
        let r_point = EdwardsPoint::mul_base(&r) + t;
        let r_bytes = r_point.compress().to_bytes();
        let k = challenge(&r_bytes, vk.as_bytes(), &tbs);
        let sig = signature(&r_bytes, &(r + k * a));
        assert!(
            cose::verify_ed25519(&vk, &tbs, &sig).is_err(),
            "strict, seq {seq}"
        );
        if dalek_batch_accepts(&vk, &tbs, &sig) {
            dalek_accepted = Some((with_signature(bytes, &sig), sig));
            break;
        }
    }
    let (forged, sig) = dalek_accepted.expect("dalek's batch accepts one of 64 (each 1/2)");
    let signed = SignedEvent::parse(&forged).expect("parses");
    assert!(signed.clone().verify(&vk).is_err(), "strict on the event");
    let item = Item {
        key: &vk,
        signature: &sig,
        message: signed.sign1(),
    };
    // Whatever the seed: the torsion test catches R's component.
    for seed in 0..8u8 {
        assert!(!batch_accepts(&[item], [seed; 32]), "seed {seed}");
    }
    assert_eq!(verify_signatures(&[item], SEED), [false]);
    let (verdict, honest_ok) = verify_among_honest((&forged, vk));
    assert!(!verdict, "verify_batch accepted it");
    assert!(honest_ok, "honest events refused");
}

#[test]
fn batch_refuses_signature_under_key_with_torsion_component() {
    // A' = A + T is of mixed order: not small, so the rule takes it as a key, and the signer
    // knows a. With R = [r]B and S = r + k·a, [S]B − R − [k]A' = −[k]T: zero when k is even
    // (a valid signature), T when k is odd (invalid), which dalek's batch accepts when its
    // coefficient z·k mod ℓ is even.
    let sk = signing_key(3);
    let a = sk.to_scalar();
    let t = order_two();
    let a_prime = (EdwardsPoint::mul_base(&a) + t).compress().to_bytes();
    let vk = VerifyingKey::from_bytes(&a_prime).expect("decodes");
    assert!(!vk.is_weak() && !vk.to_edwards().is_torsion_free());
    let mut refused_by_rule = None;
    let mut accepted_by_rule = None;
    for seq in 1..=64 {
        let bytes = event(&sk, "torsioned", seq);
        let tbs = to_be_signed(&bytes);
        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&tbs).into());
        let r_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = challenge(&r_bytes, &a_prime, &tbs);
        let sig = signature(&r_bytes, &(r + k * a));
        let strict = cose::verify_ed25519(&vk, &tbs, &sig).is_ok();
        assert_eq!(strict, k.as_bytes()[0] & 1 == 0, "seq {seq}");
        if !strict && refused_by_rule.is_none() && dalek_batch_accepts(&vk, &tbs, &sig) {
            refused_by_rule = Some((with_signature(bytes, &sig), sig));
        } else if strict && accepted_by_rule.is_none() {
            accepted_by_rule = Some((with_signature(bytes, &sig), sig));
        }
        if refused_by_rule.is_some() && accepted_by_rule.is_some() {
            break;
        }
    }
    let (forged, sig) = refused_by_rule.expect("dalek's batch accepts an invalid one");
    let signed = SignedEvent::parse(&forged).expect("parses");
    assert!(signed.clone().verify(&vk).is_err());
    let item = Item {
        key: &vk,
        signature: &sig,
        message: signed.sign1(),
    };
    assert!(!batch_accepts(&[item], SEED));
    assert_eq!(verify_signatures(&[item], SEED), [false]);
    let (verdict, honest_ok) = verify_among_honest((&forged, vk));
    assert!(!verdict && honest_ok);

    // The valid one: the rule accepts it, the batch cannot vouch for it (the key fails the
    // torsion test), and the fall-back to the rule accepts it.
    let (valid, sig) = accepted_by_rule.expect("about half the signatures are valid");
    let signed = SignedEvent::parse(&valid).expect("parses");
    assert!(signed.clone().verify(&vk).is_ok());
    let item = Item {
        key: &vk,
        signature: &sig,
        message: signed.sign1(),
    };
    assert!(!batch_accepts(&[item], SEED));
    assert_eq!(verify_signatures(&[item], SEED), [true]);
    let (verdict, honest_ok) = verify_among_honest((&valid, vk));
    assert!(verdict && honest_ok);
}

#[test]
fn non_canonical_key_encoding_is_refused_everywhere() {
    // y + p for a y whose point is not of small order: the same point as y, another encoding.
    let p_plus = |y: u8| {
        let mut b = [0xff; 32];
        b[0] = 0xed + y;
        b[31] = 0x7f;
        b
    };
    let Some((bytes, key)) = (2..19u8).find_map(|y| {
        let b = p_plus(y);
        VerifyingKey::from_bytes(&b)
            .ok()
            .filter(|k| !k.is_weak())
            .map(|k| (b, k))
    }) else {
        panic!("some y below 19 is on the curve");
    };
    assert!(!cose::is_canonical_point_encoding(&bytes));
    let message = b"any message";
    let sig = [7u8; 64];
    assert!(cose::verify_ed25519(&key, message, &sig).is_err());
    let items = [Item {
        key: &key,
        signature: &sig,
        message: &message[..],
    }];
    assert!(!batch_accepts(&items, SEED));
    assert_eq!(verify_signatures(&items, SEED), [false]);
}

// ---------------------------------------------------------------------------------------------
// Random batches.

#[derive(Debug, Clone, Copy)]
enum Corruption {
    /// Flip one bit of the message.
    Message(usize),
    /// Flip one bit of the signature.
    Signature(usize),
    /// Another key of the batch.
    OtherKey,
    /// S + ℓ: the same residue, not canonical.
    SPlusL,
    /// R + T for an order-2 T, S recomputed (attack b).
    TorsionInR,
    /// R = the identity encoded as y = 1 + p, S = k·a (attack a).
    NonCanonicalIdentityR,
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        (0usize..256).prop_map(Corruption::Message),
        (0usize..512).prop_map(Corruption::Signature),
        Just(Corruption::OtherKey),
        Just(Corruption::SPlusL),
        Just(Corruption::TorsionInR),
        Just(Corruption::NonCanonicalIdentityR),
    ]
}

/// ℓ, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

fn corrupt(v: &mut Vector, how: Corruption, keys: &[SigningKey]) {
    match how {
        Corruption::Message(bit) => {
            let i = (bit / 8) % v.message.len();
            v.message[i] ^= 1 << (bit % 8);
        }
        Corruption::Signature(bit) => v.signature[bit / 8] ^= 1 << (bit % 8),
        Corruption::OtherKey => {
            let other = keys
                .iter()
                .map(SigningKey::verifying_key)
                .find(|k| *k != v.key)
                .unwrap_or_else(|| signing_key(999).verifying_key());
            v.key = other;
        }
        Corruption::SPlusL => {
            let s: [u8; 32] = v.signature[32..].try_into().expect("32");
            v.signature[32..].copy_from_slice(&add_le(&s, &ELL));
        }
        Corruption::TorsionInR => {
            // Only the signer can build it; after `OtherKey` there may be none.
            let Some(sk) = keys.iter().find(|k| k.verifying_key() == v.key) else {
                return;
            };
            let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&v.message).into());
            let r_bytes = (EdwardsPoint::mul_base(&r) + order_two())
                .compress()
                .to_bytes();
            let k = challenge(&r_bytes, v.key.as_bytes(), &v.message);
            v.signature = signature(&r_bytes, &(r + k * sk.to_scalar()));
        }
        Corruption::NonCanonicalIdentityR => {
            let Some(sk) = keys.iter().find(|k| k.verifying_key() == v.key) else {
                return;
            };
            let mut r = [0xff; 32];
            r[0] = 0xee;
            r[31] = 0x7f;
            let k = challenge(&r, v.key.as_bytes(), &v.message);
            v.signature = signature(&r, &(k * sk.to_scalar()));
        }
    }
    v.strict = cose::verify_ed25519(&v.key, &v.message, &v.signature).is_ok();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batch_verdicts_equal_single_checks(
        keys in 1u64..6,
        size in 1usize..90,
        corruptions in proptest::collection::vec((any::<prop::sample::Index>(), corruption()), 0..4),
        seed in any::<[u8; 32]>(),
    ) {
        let signers: Vec<SigningKey> = (0..keys).map(|i| signing_key(200 + i)).collect();
        let mut batch: Vec<Vector> = (0..size)
            .map(|i| {
                let sk = &signers[i % signers.len()];
                let message = format!("event {i} of a random batch").into_bytes();
                Vector {
                    name: format!("{i}"),
                    key: sk.verifying_key(),
                    signature: sk.sign(&message).to_bytes(),
                    message,
                    strict: true,
                }
            })
            .collect();
        for (at, how) in &corruptions {
            let i = at.index(batch.len());
            corrupt(&mut batch[i], *how, &signers);
        }
        let items: Vec<Item<'_, [u8]>> = batch.iter().map(item).collect();
        let verdicts = verify_signatures(&items, seed);
        for (v, got) in batch.iter().zip(&verdicts) {
            prop_assert_eq!(*got, v.strict, "item {}", v.name);
        }
        let all_valid = batch.iter().all(|v| v.strict);
        prop_assert_eq!(batch_accepts(&items, seed), all_valid);
    }
}

#[test]
fn honest_batches_pass_the_batch_equation_for_any_seed() {
    let batch = honest(200, 9);
    let items: Vec<Item<'_, [u8]>> = batch.iter().map(item).collect();
    for s in 0..4u8 {
        assert!(batch_accepts(&items, [s; 32]));
    }
    // One identity-R signature (valid under the rule: R = 01 00…00 encodes [S]B − [k]A when
    // S = k·a) is not special to the batch either.
    let sk = signing_key(0);
    let message = b"identity R".to_vec();
    let mut r = [0u8; 32];
    r[0] = 1;
    let k = challenge(&r, sk.verifying_key().as_bytes(), &message);
    let v = Vector {
        name: "identity R".into(),
        key: sk.verifying_key(),
        signature: signature(&r, &(k * sk.to_scalar())),
        message,
        strict: true,
    };
    assert!(cose::verify_ed25519(&v.key, &v.message, &v.signature).is_ok());
    let mut items = items;
    items.push(item(&v));
    assert!(batch_accepts(&items, SEED));
}
