//! Per-signature cost of the ingest's signature check, for 500 events from 100 devices (one
//! validation chunk of a full 1000-event batch on a two-core machine):
//!
//! - `strict_single`: the one rule, `SignedEvent::verify`, event by event;
//! - `dalek_verify_batch`: the batch path this crate used before (ed25519-dalek's
//!   `verify_batch` over assembled Sig_structures), which accepts more than the rule;
//! - `verify_batch`: `provenance_event::batch::verify_batch`.
//!
//! Throughput is in signatures; divide the time per iteration by 500 for the cost of one.
//! Run: `cargo bench -p provenance-event --features batch --bench batch`.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use provenance_event::batch::{self, Item, MIN_BATCH};
use provenance_event::{DeviceId, Draft, Epc, Kind, MAX_MESSAGE, SignedEvent, sign_event};

const EVENTS: usize = 500;
const KEYS: usize = 100;

/// `EVENTS` signed events, round robin over `KEYS` devices, each with its key.
fn events() -> Vec<(Vec<u8>, VerifyingKey)> {
    let keys: Vec<SigningKey> = (0..KEYS)
        .map(|k| {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(k as u64 + 1).to_le_bytes());
            SigningKey::from_bytes(&secret)
        })
        .collect();
    let items = [
        Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").expect("epc"),
        Epc::parse("urn:epc:id:sgtin:4012345.012345.1002").expect("epc"),
    ];
    (0..EVENTS)
        .map(|i| {
            let k = i % KEYS;
            let device = DeviceId::new(&format!("station-{k}")).expect("device id");
            let seq = (i / KEYS + 1) as u64;
            let prev = if seq == 1 { [0; 32] } else { [7; 32] };
            let draft = Draft::new(
                seq,
                prev,
                1_700_000_000_000 + i as i64,
                Kind::Commissioned,
                &items,
            );
            let mut buf = vec![0u8; MAX_MESSAGE];
            let n = sign_event(&keys[k], &device, &draft, &mut buf).expect("signs");
            buf.truncate(n);
            (buf, keys[k].verifying_key())
        })
        .collect()
}

/// The batch path as it was: ed25519-dalek's `verify_batch` over copies of the Sig_structures,
/// falling back to the strict check.
fn dalek_batch(items: &[(SignedEvent<'_>, VerifyingKey)]) -> bool {
    let mut messages = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for (event, key) in items {
        let sig: Signature = event.sign1().ed25519_signature().expect("EdDSA");
        let mut m = Vec::with_capacity(event.bytes().len() + 16);
        event.sign1().to_be_signed(|c| m.extend_from_slice(c));
        messages.push(m);
        signatures.push(sig);
        keys.push(*key);
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok()
}

fn bench(c: &mut Criterion) {
    let owned = events();
    let parsed: Vec<(SignedEvent<'_>, VerifyingKey)> = owned
        .iter()
        .map(|(bytes, key)| (SignedEvent::parse(bytes).expect("parses"), *key))
        .collect();
    let seed = [42u8; 32];

    let mut g = c.benchmark_group("500 signatures, 100 keys");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("strict_single", |b| {
        b.iter(|| {
            for (event, key) in &parsed {
                black_box(event.clone().verify(key)).expect("valid");
            }
        })
    });
    g.bench_function("dalek_verify_batch", |b| {
        b.iter(|| assert!(dalek_batch(black_box(&parsed))))
    });
    g.bench_function("verify_batch", |b| {
        b.iter_batched(
            || parsed.clone(),
            |items| {
                let out = batch::verify_batch(black_box(items), seed);
                assert!(out.iter().all(Result::is_ok));
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Where the batch starts to pay: the batch path (forced, whatever the size) against
    // single checks, for small batches from a few keys.
    let mut g = c.benchmark_group("small batches");
    for n in [MIN_BATCH / 2, MIN_BATCH, 2 * MIN_BATCH] {
        let part = &parsed[..n];
        let items: Vec<Item<'_, _>> = part
            .iter()
            .map(|(event, key)| Item {
                key,
                signature: event
                    .sign1()
                    .signature()
                    .try_into()
                    .expect("64-byte signature"),
                message: event.sign1(),
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("batch_path_{n}"), |b| {
            b.iter(|| {
                assert!(
                    batch::verify_signatures(black_box(&items), seed)
                        .iter()
                        .all(|ok| *ok)
                )
            })
        });
        g.bench_function(format!("strict_single_{n}"), |b| {
            b.iter(|| {
                for (event, key) in part {
                    black_box(event.clone().verify(key)).expect("valid");
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
