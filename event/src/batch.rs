//! Verifying many Ed25519 signatures at once (needs `alloc`; used by the ingest, never by the
//! firmware), accepting exactly what the one strict rule accepts.
//!
//! SPEC §3 has one rule for a valid signature, [`cose::verify_ed25519`]: RFC 8032's
//! cofactorless check `[S]B = R + [k]A` with `k = SHA-512(R ‖ A ‖ M) mod ℓ`, S below the group
//! order ℓ, R compared in encoded form (so only its canonical encoding passes), A canonically
//! encoded and not of small order. A batch may only ever accept what that rule accepts.
//! ed25519-dalek's `verify_batch` does not: it decompresses R leniently and its random
//! coefficients are derived from the batch itself, so a signer can grind a message until a
//! signature with a small-order component in R (or in its own key) passes the batch but not the
//! rule, and the log would anchor an event that fails its own audit. This module replaces it.
//!
//! # The construction, and why it accepts nothing the strict rule refuses
//!
//! Write `X_i = [S_i]B − R_i − [k_i]A_i` for signature i, R_i and A_i the decoded points. The
//! strict rule accepts exactly when S_i < ℓ, R_i's bytes are the canonical encoding of the point
//! `[S_i]B − [k_i]A_i`, and A_i's bytes are canonical and A_i is not of small order. So with R's
//! and A's bytes canonical, S_i < ℓ and A_i not small, it accepts exactly when `X_i = 0`.
//!
//! 1. **Byte checks first.** Each signature must have S canonical (`Scalar::from_canonical_bytes`),
//!    R canonical ([`cose::is_canonical_point_encoding`]: y below p, no sign bit on x = 0) and
//!    decompressing, and a key whose encoding is canonical and which is not of small order. A
//!    signature failing any of these is refused by the strict rule, and it is handed to the
//!    strict rule (never to the batch), which gives the verdict.
//! 2. **Torsion.** The group is `ℤ/8 × ℤ/ℓ`. If every R_i and every distinct key A is
//!    torsion-free (in the subgroup of order ℓ), so is every X_i (B is), and the multiples
//!    `[k_i mod ℓ]A` the equation below computes are the multiples the strict rule computes. We
//!    establish torsion-freeness of all those points at once with [`TORSION_TESTS`] random
//!    subset sums `P_j = Σ_{i ∈ T_j} Q_i` (each point in each subset with probability 1/2, from
//!    the caller's secret seed), checking `[ℓ]P_j = 0`. `[ℓ]` maps a point to its torsion
//!    component (times ℓ, a unit mod 8), so a test passes iff the torsion components of its
//!    subset sum to 0 in ℤ/8. If some component τ_i is not 0, fix every other membership: the
//!    sum is s or s + τ_i, at most one of them 0, so each test passes with probability at most
//!    1/2, and all of them with probability at most `2^-TORSION_TESTS` = 2^-64. (With at most
//!    that many points each is tested on its own instead, which is exact.)
//! 3. **The cofactorless equation with secret coefficients.** With fresh 128-bit `z_i` expanded
//!    from the seed (SHA-512 in counter mode), we check
//!    `Σ z_i·R_i + Σ_A (Σ_{i signed by A} z_i·k_i)·A − (Σ z_i·S_i)·B = 0`, that is
//!    `Σ z_i X_i = 0`, with the A terms grouped by distinct key (a batch comes from far fewer
//!    devices than events, so this saves most of the key terms of a per-signature equation).
//!    Once all X_i are in the subgroup of prime order ℓ: if some X_i ≠ 0, fix every z but z_i;
//!    then `z_i·X_i` must equal one given point, which at most one z_i mod ℓ does, and z_i is
//!    uniform below 2^128 < ℓ, so the equation holds with probability at most 2^-128.
//!
//! So when the batch accepts, every `X_i = 0` and the strict rule accepts every signature, but
//! with probability at most 2^-64 + 2^-128 over the seed, which the signer must not know (a
//! fresh seed from the operating system for each call, see [`verify_batch`]). Conversely,
//! nothing the strict rule accepts is refused: a valid signature passes the byte checks, and
//! with a torsion-free key its `R = [S]B − [k]A` is torsion-free and its `X = 0`, so honest
//! batches pass whatever the seed. A key with a torsion component (which the strict rule
//! tolerates as long as it is not of small order) fails the torsion test, and then, as on any
//! failure, every signature of the batch is checked one by one with the strict rule, which
//! gives the verdicts. The batch is only ever a shortcut to "all of these are valid".
//!
//! # Cost
//!
//! Per signature: one SHA-512 over the Sig_structure (streamed, no copy), one R decompression,
//! a 128-bit term in one multiscalar multiplication and one point addition per round of the
//! torsion test; per distinct key one full-size term; per batch 64 multiplications by ℓ. The
//! subset sums are bucketed: a round of b tests sorts the points into 2^b buckets by which of
//! the b subsets they are in (one addition each) and takes the b subset sums from the buckets
//! (about 2^(b+1) additions), so 64 tests cost about `64/b · (N + 2^(b+1))` additions instead
//! of `64 · N / 2`. Below [`MIN_BATCH`] signatures the fixed cost exceeds the saving and
//! [`verify_batch`] checks one by one. Everything here is variable-time: the points and scalars
//! are public, and the coefficients are used once and never again.

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::iter::once;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

use crate::cose::{self, SIGNATURE_LEN, Sign1, SignatureInvalid, is_canonical_point_encoding};
use crate::event::{Authenticated, SignedEvent};

/// How many random subset-sum tests prove the points torsion-free: a point with a torsion
/// component survives them all with probability at most 2^-64.
pub const TORSION_TESTS: usize = 64;

/// Below this many signatures [`verify_batch`] checks one by one: the batch's fixed cost (the
/// torsion test's 64 multiplications by ℓ) is then more than it saves (measured with
/// `benches/batch.rs`).
pub const MIN_BATCH: usize = 128;

/// A signed message the batch can hash without assembling it: plain bytes, or a COSE_Sign1
/// whose Sig_structure is streamed.
pub trait Signed {
    /// Feeds the signed bytes to `sink`, piece by piece.
    fn feed(&self, sink: &mut dyn FnMut(&[u8]));
}

impl Signed for [u8] {
    fn feed(&self, sink: &mut dyn FnMut(&[u8])) {
        sink(self);
    }
}

impl Signed for Sign1<'_> {
    fn feed(&self, sink: &mut dyn FnMut(&[u8])) {
        self.to_be_signed(sink);
    }
}

/// One signature to check: a key, the 64 signature bytes `R ‖ S` and the signed message.
#[derive(Debug)]
pub struct Item<'a, M: ?Sized> {
    /// The signer's key.
    pub key: &'a VerifyingKey,
    /// The signature, `R ‖ S`.
    pub signature: &'a [u8; SIGNATURE_LEN],
    /// What was signed.
    pub message: &'a M,
}

impl<M: ?Sized> Clone for Item<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: ?Sized> Copy for Item<'_, M> {}

/// The strict rule itself, the same function `SignedEvent::verify` and
/// [`cose::verify_ed25519`] end in.
fn strict<M: Signed + ?Sized>(item: &Item<'_, M>) -> bool {
    cose::verify_streamed(item.key, &Signature::from_bytes(item.signature), |sink| {
        item.message.feed(sink)
    })
    .is_ok()
}

/// Verifies each event with the key given beside it; the results are in input order.
///
/// `seed` must be fresh, secret randomness for this call (the ingest takes it from the
/// operating system): it decides the batch's coefficients and torsion tests, and a signer who
/// knew it could make invalid signatures cancel out. If the batch fails, each event is checked
/// on its own with the strict rule (`SignedEvent::verify`'s check), which finds the culprits.
pub fn verify_batch<'a>(
    items: Vec<(SignedEvent<'a>, VerifyingKey)>,
    seed: [u8; 32],
) -> Vec<Result<Authenticated<'a>, SignatureInvalid>> {
    if items.len() < MIN_BATCH {
        return items.into_iter().map(|(e, key)| e.verify(&key)).collect();
    }
    let verdicts = {
        // An event without a 64-byte EdDSA signature stays refused, as `Sign1::verify_ed25519`
        // refuses it (`SignedEvent::parse` already lets none through).
        let mut verdicts = vec![false; items.len()];
        let mut batch = Vec::with_capacity(items.len());
        let mut positions = Vec::with_capacity(items.len());
        for (i, (event, key)) in items.iter().enumerate() {
            let sign1 = event.sign1();
            if sign1.ed25519_signature().is_err() {
                continue;
            }
            let Ok(signature) = <&[u8; SIGNATURE_LEN]>::try_from(sign1.signature()) else {
                continue;
            };
            batch.push(Item {
                key,
                signature,
                message: sign1,
            });
            positions.push(i);
        }
        for (i, ok) in positions.into_iter().zip(verify_signatures(&batch, seed)) {
            verdicts[i] = ok;
        }
        verdicts
    };
    items
        .into_iter()
        .zip(verdicts)
        .map(|((event, _), ok)| {
            if ok {
                Ok(event.into_authenticated_by_batch())
            } else {
                Err(SignatureInvalid)
            }
        })
        .collect()
}

/// The batch path on (key, signature, message) items, whatever their number: the byte checks,
/// then the torsion test and the batch equation for those that pass them, then the strict rule
/// for every signature the batch could not vouch for. One verdict per item, in input order,
/// each equal to the strict rule's (but with probability at most 2^-64 over the seed, see the
/// module documentation). `seed` as for [`verify_batch`].
pub fn verify_signatures<M: Signed + ?Sized>(items: &[Item<'_, M>], seed: [u8; 32]) -> Vec<bool> {
    let mut verdicts = vec![false; items.len()];
    let mut keys = Keys::default();
    let mut batch = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match prepare(index, item, &mut keys) {
            Some(p) => batch.push(p),
            // It fails a check the strict rule makes too; the rule says so itself.
            None => verdicts[index] = strict(item),
        }
    }
    if !batch.is_empty() {
        if batch_holds(&batch, &keys.points, &seed) {
            for p in &batch {
                verdicts[p.index] = true;
            }
        } else {
            for p in &batch {
                verdicts[p.index] = strict(&items[p.index]);
            }
        }
    }
    verdicts
}

/// Whether the batch path alone vouches for every item: all pass the byte checks, the torsion
/// test and the batch equation. `true` implies the strict rule accepts each of them (but with
/// probability 2^-64 over the seed); `false` says only that they must be checked one by one.
pub fn batch_accepts<M: Signed + ?Sized>(items: &[Item<'_, M>], seed: [u8; 32]) -> bool {
    let mut keys = Keys::default();
    let mut batch = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match prepare(index, item, &mut keys) {
            Some(p) => batch.push(p),
            None => return false,
        }
    }
    batch_holds(&batch, &keys.points, &seed)
}

/// A signature that passed the byte checks, decoded and hashed.
struct Prepared {
    index: usize,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    key: usize,
}

/// The distinct keys of a batch; each key's bytes map to its place in `points`, or to `None`
/// if the key is refused (non-canonical or of small order).
#[derive(Default)]
struct Keys {
    index: BTreeMap<[u8; 32], Option<usize>>,
    points: Vec<EdwardsPoint>,
}

/// Step 1 of the module documentation: `None` if the strict rule refuses the signature for
/// its bytes alone (S not below ℓ, R not canonical or not a point, key refused).
fn prepare<M: Signed + ?Sized>(
    index: usize,
    item: &Item<'_, M>,
    keys: &mut Keys,
) -> Option<Prepared> {
    let mut r_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&item.signature[..32]);
    s_bytes.copy_from_slice(&item.signature[32..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    if !is_canonical_point_encoding(&r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let key_bytes = item.key.as_bytes();
    let key = match keys.index.get(key_bytes) {
        Some(known) => *known,
        None => {
            // Checked once per distinct key: small order costs three doublings.
            let usable = is_canonical_point_encoding(key_bytes) && !item.key.is_weak();
            let slot = usable.then(|| {
                keys.points.push(item.key.to_edwards());
                keys.points.len() - 1
            });
            keys.index.insert(*key_bytes, slot);
            slot
        }
    }?;
    // k = SHA-512(R ‖ A ‖ M) mod ℓ over the bytes as received, as the strict rule hashes them.
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key_bytes);
    item.message.feed(&mut |chunk| h.update(chunk));
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Some(Prepared {
        index,
        r,
        s,
        k,
        key,
    })
}

/// Steps 2 and 3 of the module documentation on signatures that passed step 1.
fn batch_holds(batch: &[Prepared], keys: &[EdwardsPoint], seed: &[u8; 32]) -> bool {
    // The equation first: a batch with a bad signature usually fails here, and it is the
    // cheaper half.
    let mut z = Expander::new(seed, b"z");
    let mut key_coefficients = vec![Scalar::ZERO; keys.len()];
    let mut r_coefficients = Vec::with_capacity(batch.len());
    let mut b_coefficient = Scalar::ZERO;
    for p in batch {
        let z_i = Scalar::from(u128::from_le_bytes(z.take()));
        b_coefficient -= z_i * p.s;
        key_coefficients[p.key] += z_i * p.k;
        r_coefficients.push(z_i);
    }
    let sum = EdwardsPoint::vartime_multiscalar_mul(
        r_coefficients
            .iter()
            .chain(key_coefficients.iter())
            .chain(once(&b_coefficient)),
        batch
            .iter()
            .map(|p| &p.r)
            .chain(keys.iter())
            .chain(once(&ED25519_BASEPOINT_POINT)),
    );
    sum.is_identity() && all_torsion_free(batch, keys, seed)
}

/// `[ℓ]P = 0`, computed as `[ℓ − 1]P = −P` with ed25519-dalek's variable-time double-base
/// multiplication (ℓ itself is not a `Scalar`); faster than the constant-time
/// `EdwardsPoint::is_torsion_free`, and the point is public.
fn torsion_free(p: &EdwardsPoint) -> bool {
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, p, &Scalar::ZERO) == -p
}

/// Step 2 of the module documentation: whether every R and every key is torsion-free, but
/// with probability at most 2^-64 over the seed.
fn all_torsion_free(batch: &[Prepared], keys: &[EdwardsPoint], seed: &[u8; 32]) -> bool {
    let points = || batch.iter().map(|p| &p.r).chain(keys);
    let n = batch.len() + keys.len();
    if n <= TORSION_TESTS {
        // As many multiplications by ℓ as the random tests would take, and exact.
        return points().all(torsion_free);
    }
    // Bit j of a point's mask: whether it is in subset j.
    let mut bits = Expander::new(seed, b"t");
    let masks: Vec<u64> = (0..n).map(|_| u64::from_le_bytes(bits.take())).collect();
    let width = bucket_bits(n);
    let mut buckets: Vec<Option<EdwardsPoint>> = vec![None; 1 << width];
    let mut first = 0;
    while first < TORSION_TESTS {
        // This round covers subsets first..first + b.
        let b = width.min(TORSION_TESTS - first);
        let buckets = &mut buckets[..1 << b];
        buckets.fill(None);
        for (point, mask) in points().zip(&masks) {
            let pattern = ((mask >> first) as usize) & ((1 << b) - 1);
            if pattern != 0 {
                accumulate(&mut buckets[pattern], point);
            }
        }
        // The subset sum of the round's top bit is the sum of the upper half of the buckets;
        // folding the upper half onto the lower leaves buckets indexed by the lower bits only.
        let mut len = buckets.len();
        while len > 1 {
            let half = len / 2;
            let mut subset_sum = None;
            for q in 0..half {
                if let Some(upper) = buckets[half + q] {
                    accumulate(&mut subset_sum, &upper);
                    // Bucket 0 (in none of the remaining subsets) is never read.
                    if q != 0 {
                        accumulate(&mut buckets[q], &upper);
                    }
                }
            }
            if let Some(p) = subset_sum {
                if !torsion_free(&p) {
                    return false;
                }
            }
            len = half;
        }
        first += b;
    }
    true
}

/// `slot += p`, where an empty slot is the identity (so the first point costs nothing).
fn accumulate(slot: &mut Option<EdwardsPoint>, p: &EdwardsPoint) {
    *slot = Some(match slot {
        Some(sum) => *sum + p,
        None => *p,
    });
}

/// How many subsets one round of the torsion test covers: the b minimising the point
/// additions of the rounds, `⌈64/b⌉ · (n − filled + 2^(b+1))`, where the first point into each
/// filled bucket is free and about three quarters of min(n, 2^b) buckets fill. (Within a few
/// per cent of the best b in an exact count for 100 to 2000 points: 5 for 128, 6 for 228,
/// 8 for 600.)
fn bucket_bits(n: usize) -> usize {
    (1..=12)
        .min_by_key(|&b| TORSION_TESTS.div_ceil(b) * (n - 3 * n.min(1 << b) / 4 + (2 << b)))
        .unwrap_or(6)
}

/// The caller's seed expanded with SHA-512 in counter mode, one stream per purpose:
/// block i is `SHA-512("provenance batch" ‖ purpose ‖ seed ‖ i)`.
struct Expander<'s> {
    seed: &'s [u8; 32],
    purpose: &'static [u8],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl<'s> Expander<'s> {
    fn new(seed: &'s [u8; 32], purpose: &'static [u8]) -> Self {
        Self {
            seed,
            purpose,
            counter: 0,
            block: [0; 64],
            used: 64,
        }
    }

    /// The next N bytes of the stream (N divides 64, so a value never straddles two blocks).
    fn take<const N: usize>(&mut self) -> [u8; N] {
        if self.used + N > self.block.len() {
            let mut h = Sha512::new();
            h.update(b"provenance batch");
            h.update(self.purpose);
            h.update(self.seed);
            h.update(self.counter.to_le_bytes());
            self.block = h.finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.block[self.used..self.used + N]);
        self.used += N;
        out
    }
}
