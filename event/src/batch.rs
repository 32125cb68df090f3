//! Verifying many signatures at once (needs `alloc`): ed25519-dalek's batch verification over
//! the events' Sig_structures, with a fall-back to one-by-one checks to find the culprit when
//! a batch fails. Used by the ingest, never by the firmware.
//!
//! Batch verification checks the cofactored equation, single verification the cofactorless
//! one; they differ only for signatures built with small-order components, which no honest
//! signer produces and which registration's refusal of small-order keys narrows further.

extern crate alloc;

use alloc::vec::Vec;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::cose::SignatureInvalid;
use crate::event::{Authenticated, SignedEvent};

/// Verifies each event with the key given beside it. The results are in input order.
pub fn verify_batch<'a>(
    items: Vec<(SignedEvent<'a>, VerifyingKey)>,
) -> Vec<Result<Authenticated<'a>, SignatureInvalid>> {
    if items.is_empty() {
        return Vec::new();
    }
    let mut messages: Vec<Vec<u8>> = Vec::with_capacity(items.len());
    let mut signatures: Vec<Signature> = Vec::with_capacity(items.len());
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(items.len());
    let mut usable = true;
    for (event, key) in &items {
        match event.sign1().ed25519_signature() {
            Ok(sig) if !key.is_weak() => {
                let mut m = Vec::with_capacity(event.bytes().len() + 16);
                event.sign1().to_be_signed(|c| m.extend_from_slice(c));
                messages.push(m);
                signatures.push(sig);
                keys.push(*key);
            }
            _ => usable = false,
        }
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let all_good = usable && ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok();
    items
        .into_iter()
        .map(|(event, key)| {
            if all_good {
                Ok(event.into_authenticated_by_batch())
            } else {
                event.verify(&key)
            }
        })
        .collect()
}
