//! The board's durable state: the seq and hash chain (a journal of snapshots, `journal.rs`)
//! and the store-and-forward ring of signed events (`queue.rs`) on one NOR flash.
//!
//! # The guarantee, across a power cut at any instant
//!
//! 1. **No seq is used twice.** [`Store::reserve`] makes the new seq durable before it returns,
//!    so nothing can be signed with a seq the flash does not already count as used.
//! 2. **The chain is never broken by the board.** The `prev` of every event is the SHA-256 of
//!    the newest event that was *stored* before it, whether or not that one has been sent or
//!    acknowledged since. An event is stored when its record in the ring is complete; one
//!    signed but cut before that never existed outside RAM, and was never published, because
//!    the board publishes only what is stored.
//! 3. **Every gap is explained.** A seq reserved but never stored (cut between reserving and
//!    storing) and an unacknowledged event discarded to make room (ring full: the oldest goes,
//!    the newest stays) are counted, together with the `dropped` count each discarded event
//!    itself carried; the next reservation puts that count into the event's `dropped` field.
//!    So for the events the ingest receives, the sum of their `dropped` fields equals the
//!    number of seqs it will never see (a seq gap always comes with its explanation).
//! 4. **Nothing unacknowledged is discarded except to make room**, and then it is counted as
//!    in 3. Acknowledged events stay in flash until their block is reused, but are not sent.
//!
//! The count in 3 can be too high in one case: the ingest acknowledged events, power was cut
//! while that ack was being written to flash, and the ring overflowed over those events
//! before the board reconnected and heard the ack again (see [`ACK_PERSIST_EVERY`]).
//!
//! After any flash error the store reloads itself from flash before the next operation, so a
//! failed write never leaves RAM believing something the flash does not hold.

use embedded_storage::nor_flash::NorFlash;
use provenance_event::{MAX_MESSAGE, message_hash};

use crate::flash::{FlashError, Region};
use crate::journal::{Chain, Journal};
use crate::queue::{Queue, Record};

/// How many acknowledged seqs may pass before the ack watermark is written to flash: 1, every
/// ack that advances it. Not for the re-sends a lagging watermark causes after a reboot (the
/// ingest absorbs those), but because of `dropped`: an event the ingest has settled but the
/// board believes unacknowledged would, if the ring then overflowed, be counted as dropped,
/// and the ingest applies a `dropped` count to its oldest *unsettled* seqs, which could then
/// include events still waiting on the board. What remains is a power cut during the very
/// write of an ack snapshot, followed by the ring overflowing before the board reconnects.
pub const ACK_PERSIST_EVERY: u64 = 1;

/// Where the journal and the queue live on the flash.
///
/// Wear: every event writes one 96-byte journal snapshot and every ack that advances one
/// more, so a 4 KiB sector (42 snapshots) is erased every 21 to 42 events, and each of `n`
/// journal sectors every `21 n` events at worst. At 100,000 erase cycles two sectors last 4
/// million events, sixteen (64 KiB) 33 million: give a station that records an event a
/// second sixteen or more. The queue wears evenly (a ring), one block erase per
/// blockful of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The chain journal: at least two sectors.
    pub journal: Region,
    /// The event ring: at least two blocks (a block is the sectors the largest event needs;
    /// two 4 KiB sectors on a flash with 4 KiB sectors).
    pub queue: Region,
}

/// Errors of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The flash failed; the store reloads itself from flash on the next call.
    #[error(transparent)]
    Flash(#[from] FlashError),
    /// [`Store::commit`] with a reservation that is not the current one.
    #[error("commit of seq {0}, which is not the reserved seq")]
    NotReserved(u64),
    /// The message is empty or longer than 4096 bytes.
    #[error("a stored event must be 1 to 4096 bytes")]
    Size,
}

/// A seq made durable by [`Store::reserve`], with what the event must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The event's seq.
    pub seq: u64,
    /// The event's prev.
    pub prev: [u8; 32],
    /// The event's `dropped` field.
    pub dropped: Option<u64>,
}

/// A stored event waiting to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    record: Record,
}

impl Pending {
    /// Its seq.
    pub fn seq(&self) -> u64 {
        self.record.seq
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.record.len)
    }

    /// Never true: stored events are at least one byte.
    pub fn is_empty(&self) -> bool {
        self.record.len == 0
    }
}

/// What the store holds, for status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStatus {
    /// The highest seq reserved.
    pub last_seq: u64,
    /// The highest seq acknowledged by the ingest.
    pub acked: u64,
    /// Events discarded since provisioning (ring full, or lost to a power cut), including
    /// the counts discarded events carried.
    pub dropped_total: u64,
    /// Of those, not yet reported in a stored event's `dropped` field.
    pub unreported: u64,
    /// Events stored since this store was opened.
    pub stored: u64,
    /// How many events of 400 bytes the ring holds.
    pub capacity_400: u32,
}

/// The seq/hash chain and the event ring on one flash. See the module documentation for
/// what it guarantees across power cuts.
pub struct Store<F> {
    flash: F,
    layout: Layout,
    journal: Journal,
    queue: Queue,
    chain: Chain,
    acked_persisted: u64,
    stored: u64,
    hint: Option<Record>,
    reload: bool,
}

impl<F: NorFlash> Store<F> {
    /// Opens the store on `flash`, recovering from whatever a power cut left.
    pub fn open(mut flash: F, layout: Layout) -> Result<Self, FlashError> {
        if layout.journal.end > layout.queue.start && layout.queue.end > layout.journal.start {
            return Err(FlashError::Layout("journal and queue overlap"));
        }
        let (journal, _) = Journal::open(&mut flash, layout.journal.clone())?;
        let queue = Queue::open(&mut flash, layout.queue.clone())?;
        let mut store = Store {
            flash,
            layout,
            journal,
            queue,
            chain: Chain::default(),
            acked_persisted: 0,
            stored: 0,
            hint: None,
            reload: true,
        };
        // A read error now is retried at the next operation.
        let _ = store.reload_if_needed();
        Ok(store)
    }

    fn reload_if_needed(&mut self) -> Result<(), FlashError> {
        if !self.reload {
            return Ok(());
        }
        let (journal, chain) = Journal::open(&mut self.flash, self.layout.journal.clone())?;
        let queue = Queue::open(&mut self.flash, self.layout.queue.clone())?;
        let mut chain = chain.unwrap_or_default();
        let newest = queue.newest();
        if chain.in_flight {
            match newest {
                Some(r) if r.seq == chain.last_seq => {
                    chain.prev = queue.hash(&mut self.flash, &r)?
                }
                // Reserved, perhaps signed, never stored: a gap to explain.
                _ => chain.dropped_total += 1 + chain.in_flight_dropped,
            }
            chain.in_flight = false;
            chain.in_flight_dropped = 0;
        }
        // A ring newer than the journal (whose region was lost or erased by hand) still must
        // not make the board reuse a seq.
        if let Some(r) = newest.filter(|r| r.seq > chain.last_seq) {
            chain.last_seq = r.seq;
            chain.prev = queue.hash(&mut self.flash, &r)?;
        }
        // Not written back: recovering again from the same flash gives the same answer, and
        // the next reservation writes it.
        self.acked_persisted = chain.acked;
        self.chain = chain;
        self.journal = journal;
        self.queue = queue;
        self.hint = None;
        self.reload = false;
        Ok(())
    }

    /// Runs `f`; on error, the next call reloads from flash.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.reload_if_needed()?;
        let r = f(self);
        if matches!(r, Err(StoreError::Flash(_))) {
            self.reload = true;
        }
        r
    }

    fn persist(&mut self, chain: Chain) -> Result<(), FlashError> {
        self.journal.write(&mut self.flash, &chain)?;
        self.acked_persisted = chain.acked;
        self.chain = chain;
        Ok(())
    }

    /// Reserves the next seq durably and says what the event must carry. Sign the event with
    /// these values, then [`Store::commit`] it. A reservation never committed (a signing
    /// error, or a reboot) is counted as a dropped event.
    pub fn reserve(&mut self) -> Result<Reservation, StoreError> {
        let policy_state = self.chain.policy_state;
        self.reserve_with(policy_state)
    }

    /// [`Store::reserve`], saving the board role's state (24 bits) with the reservation.
    pub fn reserve_with(&mut self, policy_state: u32) -> Result<Reservation, StoreError> {
        self.guarded(|s| {
            let mut next = s.chain.clone();
            next.policy_state = policy_state & 0x00FF_FFFF;
            if next.in_flight {
                next.dropped_total += 1 + next.in_flight_dropped;
            }
            let dropped = next.dropped_total - next.reported_total;
            next.last_seq += 1;
            next.in_flight = true;
            next.in_flight_dropped = dropped;
            next.reported_total += dropped;
            let prev = next.prev;
            s.persist(next)?;
            Ok(Reservation {
                seq: s.chain.last_seq,
                prev,
                dropped: (dropped > 0).then_some(dropped),
            })
        })
    }

    /// Stores the signed event of `reservation`. When this returns Ok the event is durable and
    /// may be published; it stays until acknowledged, or until the ring is full and it is the
    /// oldest (then it is counted as dropped).
    pub fn commit(&mut self, reservation: &Reservation, message: &[u8]) -> Result<(), StoreError> {
        self.guarded(|s| {
            if !s.chain.in_flight || s.chain.last_seq != reservation.seq {
                return Err(StoreError::NotReserved(reservation.seq));
            }
            if message.is_empty() || message.len() > MAX_MESSAGE {
                return Err(StoreError::Size);
            }
            while let Some(block) = s.queue.block_to_recycle(message.len()) {
                let floor = s.chain.acked.max(s.chain.dropped_upto);
                let (mut count, mut upto) = (0u64, 0u64);
                s.queue.for_each_in_block(&mut s.flash, block, |r| {
                    if r.seq > floor {
                        count += 1 + u64::from(r.dropped);
                        upto = upto.max(r.seq);
                    }
                })?;
                if count > 0 {
                    // Counted durably before the events go, so a cut erase cannot lose them.
                    let mut next = s.chain.clone();
                    next.dropped_upto = upto;
                    next.dropped_total += count;
                    s.persist(next)?;
                }
                s.queue.recycle(&mut s.flash, block)?;
                s.hint = None;
            }
            let dropped = u32::try_from(reservation.dropped.unwrap_or(0)).unwrap_or(u32::MAX);
            s.queue
                .append(&mut s.flash, reservation.seq, dropped, message)?;
            s.chain.in_flight = false;
            s.chain.in_flight_dropped = 0;
            s.chain.prev = message_hash(message);
            s.stored += 1;
            Ok(())
        })
    }

    /// The ingest acknowledged every seq up to `seq` (SPEC §5 `ack`). Returns whether that
    /// is news.
    pub fn ack(&mut self, seq: u64) -> Result<bool, StoreError> {
        self.guarded(|s| {
            let stored_upto = s.chain.last_seq - u64::from(s.chain.in_flight);
            let seq = seq.min(stored_upto);
            if seq <= s.chain.acked {
                return Ok(false);
            }
            s.chain.acked = seq;
            if seq - s.acked_persisted >= ACK_PERSIST_EVERY {
                s.persist(s.chain.clone())?;
            }
            Ok(true)
        })
    }

    /// The oldest stored event above `after` that is neither acknowledged nor dropped.
    pub fn next_unsent(&mut self, after: u64) -> Result<Option<Pending>, StoreError> {
        self.guarded(|s| {
            let floor = after.max(s.chain.acked).max(s.chain.dropped_upto);
            let found = s.queue.next_after(&mut s.flash, floor, s.hint)?;
            if let Some(r) = found {
                s.hint = Some(r);
            }
            Ok(found.map(|record| Pending { record }))
        })
    }

    /// Copies a pending event into `out` (at least [`Pending::len`] bytes). `None` if its
    /// block was reused meanwhile or it reads back damaged.
    pub fn read<'b>(
        &mut self,
        pending: &Pending,
        out: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, StoreError> {
        self.guarded(|s| Ok(s.queue.read(&mut s.flash, &pending.record, out)?))
    }

    /// Counters for status reports.
    pub fn status(&self) -> StoreStatus {
        StoreStatus {
            last_seq: self.chain.last_seq,
            acked: self.chain.acked,
            dropped_total: self.chain.dropped_total,
            unreported: self.chain.dropped_total - self.chain.reported_total,
            stored: self.stored,
            capacity_400: self.queue.capacity_for(400),
        }
    }

    /// The role state saved with the newest reservation (0 on a new board).
    pub fn policy_state(&self) -> u32 {
        self.chain.policy_state
    }

    /// The flash (the simulator cuts power through it).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back (a reboot: open a new store on it).
    pub fn into_flash(self) -> F {
        self.flash
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::vec::Vec;

    use super::*;
    use crate::sim::RamFlash;

    /// Two journal sectors and four queue blocks of 8 KiB.
    const SIZE: usize = 2 * 4096 + 4 * 8192;
    type Flash = RamFlash<SIZE>;

    fn layout() -> Layout {
        Layout {
            journal: Region::new(0..8192),
            queue: Region::new(8192..SIZE as u32),
        }
    }

    /// A stand-in for a signed event that carries what the test checks: seq, prev, dropped,
    /// and filler of varying length (60 to 700 bytes).
    fn message(r: &Reservation, i: u64) -> Vec<u8> {
        let len = 60 + (i * 373 % 640) as usize;
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&r.seq.to_le_bytes());
        m.extend_from_slice(&r.prev);
        m.extend_from_slice(&r.dropped.unwrap_or(0).to_le_bytes());
        while m.len() < len {
            m.push((i as u8).wrapping_mul(31) ^ m.len() as u8);
        }
        m
    }

    fn fields(m: &[u8]) -> (u64, [u8; 32], u64) {
        let seq = u64::from_le_bytes(m[0..8].try_into().unwrap());
        let prev = m[8..40].try_into().unwrap();
        let dropped = u64::from_le_bytes(m[40..48].try_into().unwrap());
        (seq, prev, dropped)
    }

    /// What the rest of the world saw: every event that ever existed in flash, and what the
    /// ingest received.
    #[derive(Default)]
    struct World {
        existed: BTreeMap<u64, ([u8; 32], [u8; 32])>,
        delivered: BTreeMap<u64, u64>,
        /// Delivered events whose ack a power cut may have taken back: the board may count
        /// them as dropped later (over-reporting, never under-reporting).
        at_risk: u64,
    }

    impl World {
        fn learn(&mut self, m: &[u8]) {
            let (seq, prev, _) = fields(m);
            let hash = message_hash(m);
            if let Some((h, _)) = self.existed.insert(seq, (hash, prev)) {
                assert_eq!(h, hash, "seq {seq} used for two different events");
            }
        }

        /// The ingest receives everything unsent and acknowledges the newest.
        fn deliver(&mut self, store: &mut Store<Flash>) -> Result<(), StoreError> {
            let mut buf = [0u8; MAX_MESSAGE];
            let mut after = 0;
            while let Some(p) = store.next_unsent(after)? {
                after = p.seq();
                if let Some(m) = store.read(&p, &mut buf)? {
                    self.learn(m);
                    self.delivered.insert(p.seq(), fields(m).2);
                }
            }
            if after > 0 {
                store.ack(after)?;
            }
            Ok(())
        }

        /// Learns what a reboot finds in the ring (an event whose commit was cut may be there).
        fn reboot(&mut self, flash: Flash) -> Store<Flash> {
            let mut store = Store::open(flash, layout()).unwrap();
            let acked = store.status().acked;
            self.at_risk += self.delivered.keys().filter(|&&s| s > acked).count() as u64;
            let mut buf = [0u8; MAX_MESSAGE];
            let mut after = 0;
            while let Some(p) = store.next_unsent(after).unwrap() {
                after = p.seq();
                if let Some(m) = store.read(&p, &mut buf).unwrap() {
                    self.learn(m);
                }
            }
            store
        }

        /// Runs events `from..to`, online a third of the time (offline spells of 100 events
        /// overfill the ring, about 60 events).
        fn run(
            &mut self,
            store: &mut Store<Flash>,
            events: core::ops::Range<u64>,
        ) -> Result<(), StoreError> {
            for i in events {
                let r = store.reserve()?;
                let m = message(&r, i);
                store.commit(&r, &m)?;
                self.learn(&m);
                if (i / 50) % 3 == 0 {
                    self.deliver(store)?;
                }
            }
            Ok(())
        }

        /// The guarantees of the module documentation.
        fn check(&self, store: &Store<Flash>, context: &str) {
            // The chain: each event's prev is the hash of the newest event that existed
            // before it (seq uniqueness was checked by `learn`).
            let mut last = [0u8; 32];
            for (seq, (hash, prev)) in &self.existed {
                assert_eq!(*prev, last, "{context}: seq {seq} breaks the chain");
                last = *hash;
            }
            // Every seq the ingest never received is explained by a `dropped` count.
            let status = store.status();
            let missing = status.last_seq - self.delivered.len() as u64;
            let explained = self.delivered.values().sum::<u64>() + status.unreported;
            assert!(
                explained >= missing,
                "{context}: {missing} missing, {explained} explained"
            );
            assert!(
                explained <= missing + self.at_risk,
                "{context}: {explained} explained but only {missing} missing"
            );
        }
    }

    #[test]
    fn ring_full_keeps_the_newest_and_counts_the_rest() {
        let mut world = World::default();
        let mut store = Store::open(Flash::new(), layout()).unwrap();
        world.run(&mut store, 0..400).unwrap();
        world.deliver(&mut store).unwrap();
        assert!(store.next_unsent(0).unwrap().is_none());
        let status = store.status();
        assert_eq!(status.last_seq, 400);
        assert!(status.dropped_total > 0, "offline spells overfill the ring");
        assert!(world.delivered.len() > 200);
        world.check(&store, "no cut");
        // Exactly: with no power cut nothing is over-reported.
        let missing = status.last_seq - world.delivered.len() as u64;
        assert_eq!(
            world.delivered.values().sum::<u64>() + status.unreported,
            missing
        );
        // And a reboot changes nothing.
        let flash = store.into_flash();
        assert_eq!(flash.overwrites(), 0);
        let store = world.reboot(flash);
        assert_eq!(store.status().last_seq, 400);
    }

    /// Cuts power during every write and erase of a long run (the write in progress left
    /// partly programmed, the erase partly done), reboots, goes on, and checks that no seq is
    /// reused, the chain is unbroken and every gap is explained. Every fifth run is cut a
    /// second time, during the first operations after the reboot.
    #[test]
    fn power_cut_at_every_flash_operation() {
        let total = {
            let mut world = World::default();
            let mut store = Store::open(Flash::new(), layout()).unwrap();
            world.run(&mut store, 0..200).unwrap();
            store.flash_mut().ops()
        };
        assert!(total > 500, "a long run: {total} operations");
        for cut in 0..total {
            let context = std::format!("cut at operation {cut}");
            let mut world = World::default();
            let mut flash = Flash::new();
            flash.cut_power_at(cut);
            let mut store = Store::open(flash, layout()).unwrap();
            assert!(
                world.run(&mut store, 0..200).is_err(),
                "{context}: the cut happens"
            );
            let mut flash = store.into_flash();
            flash.restore_power();
            let mut store = world.reboot(flash);
            if cut % 5 == 0 {
                let again = store.flash_mut().ops() + cut % 7;
                store.flash_mut().cut_power_at(again);
                let _ = world.run(&mut store, 200..210);
                let mut flash = store.into_flash();
                flash.restore_power();
                store = world.reboot(flash);
            }
            world.run(&mut store, 300..400).unwrap();
            world.deliver(&mut store).unwrap();
            world.check(&store, &context);
            assert_eq!(store.into_flash().overwrites(), 0, "{context}");
        }
    }
}
