//! The chain journal: the board's seq and hash chain as snapshots in a log of fixed slots.
//!
//! Every snapshot holds the whole [`Chain`] state with a generation number and a CRC; the
//! newest complete one wins. Slots are written once, in order, sector after sector around the
//! region, and a sector is erased only just before its first slot is written, which is never
//! the sector holding the newest snapshot. So a power cut at any point leaves either the new
//! snapshot complete, or the previous one intact.

use embedded_storage::nor_flash::NorFlash;

use crate::flash::{FlashError, Region, crc32, dev, is_erased};

/// Bytes per snapshot slot (a multiple of [`crate::flash::ALIGN`]).
pub(crate) const SLOT: u32 = 96;
const MAGIC: u32 = u32::from_le_bytes(*b"PJ01");
const CRC_AT: usize = 92;

/// The persistent chain state of a board.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// The highest seq ever reserved (0: none). No seq at or below it is used again.
    pub last_seq: u64,
    /// SHA-256 of the newest event stored in the queue (zeros: none yet): the next `prev`.
    /// While `in_flight`, the `prev` of the in-flight event.
    pub prev: [u8; 32],
    /// `last_seq` is reserved, perhaps signed, and not yet known to be in the queue.
    pub in_flight: bool,
    /// The `dropped` count written into the in-flight event (already added to
    /// `reported_total`; taken back if that event turns out lost).
    pub in_flight_dropped: u64,
    /// The highest seq the ingest acknowledged, as last persisted.
    pub acked: u64,
    /// Unacknowledged events at or below this seq were discarded (queue full).
    pub dropped_upto: u64,
    /// Events discarded since the board was provisioned: queue full, or lost to a power cut
    /// between reserving their seq and storing them.
    pub dropped_total: u64,
    /// The sum of the `dropped` fields of the events stored so far.
    pub reported_total: u64,
    /// The board role's own state (a tracker's journey), 24 bits, saved with each
    /// reservation so that a reboot in transit does not forget the shipment is sealed.
    pub policy_state: u32,
}

impl Chain {
    fn encode(&self, generation: u32) -> [u8; SLOT as usize] {
        let mut b = [0u8; SLOT as usize];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&generation.to_le_bytes());
        b[8..16].copy_from_slice(&self.last_seq.to_le_bytes());
        b[16..48].copy_from_slice(&self.prev);
        b[48..56].copy_from_slice(&self.acked.to_le_bytes());
        b[56..64].copy_from_slice(&self.dropped_upto.to_le_bytes());
        b[64..72].copy_from_slice(&self.dropped_total.to_le_bytes());
        b[72..80].copy_from_slice(&self.reported_total.to_le_bytes());
        b[80..88].copy_from_slice(&self.in_flight_dropped.to_le_bytes());
        b[88] = u8::from(self.in_flight);
        b[89..92].copy_from_slice(&self.policy_state.to_le_bytes()[..3]);
        let crc = crc32(&b[..CRC_AT]);
        b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8; SLOT as usize]) -> Option<(u32, Chain)> {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        if u32_at(0) != MAGIC || u32_at(CRC_AT) != crc32(&b[..CRC_AT]) || b[88] > 1 {
            return None;
        }
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&b[16..48]);
        Some((
            u32_at(4),
            Chain {
                last_seq: u64_at(8),
                prev,
                acked: u64_at(48),
                dropped_upto: u64_at(56),
                dropped_total: u64_at(64),
                reported_total: u64_at(72),
                in_flight_dropped: u64_at(80),
                in_flight: b[88] == 1,
                policy_state: u32::from_le_bytes([b[89], b[90], b[91], 0]),
            },
        ))
    }
}

/// Where the next snapshot goes.
pub(crate) struct Journal {
    region: Region,
    sector: u32,
    generation: u32,
    next: u32,
}

impl Journal {
    /// Finds the newest complete snapshot in `region` (at least two sectors).
    pub(crate) fn open<F: NorFlash>(
        flash: &mut F,
        region: Region,
    ) -> Result<(Journal, Option<Chain>), FlashError> {
        region.check(flash, 2)?;
        let sector = F::ERASE_SIZE as u32;
        if sector < SLOT {
            return Err(FlashError::Layout("journal sectors must hold a snapshot"));
        }
        let per_sector = sector / SLOT;
        let mut best: Option<(u32, u32, Chain)> = None;
        let mut s = region.start;
        while s < region.end {
            for i in 0..per_sector {
                let at = s + i * SLOT;
                let mut b = [0u8; SLOT as usize];
                flash.read(at, &mut b).map_err(dev)?;
                if let Some((generation, chain)) = Chain::decode(&b) {
                    if best.as_ref().is_none_or(|(g, _, _)| generation > *g) {
                        best = Some((generation, at, chain));
                    }
                }
            }
            s += sector;
        }
        let mut journal = Journal {
            region,
            sector,
            generation: 0,
            next: 0,
        };
        let Some((generation, at, chain)) = best else {
            journal.next = journal.region.start;
            return Ok((journal, None));
        };
        journal.generation = generation;
        // The slot after the newest one, past any slot a cut write left torn.
        journal.next = journal.advance(at);
        while journal.next % sector != 0 && !is_erased(flash, journal.next, SLOT)? {
            journal.next = journal.advance(journal.next);
        }
        Ok((journal, Some(chain)))
    }

    fn advance(&self, at: u32) -> u32 {
        let next = at + SLOT;
        let sector_end = (at / self.sector + 1) * self.sector;
        if next + SLOT > sector_end {
            // The next sector, around the region.
            if sector_end >= self.region.end {
                self.region.start
            } else {
                sector_end
            }
        } else {
            next
        }
    }

    /// Makes `chain` the newest snapshot. When this returns Ok the snapshot is durable.
    pub(crate) fn write<F: NorFlash>(
        &mut self,
        flash: &mut F,
        chain: &Chain,
    ) -> Result<(), FlashError> {
        let at = self.next;
        if at % self.sector == 0 {
            // Never the sector of the newest snapshot: that one is behind us.
            flash.erase(at, at + self.sector).map_err(dev)?;
        }
        let generation = self.generation.wrapping_add(1);
        flash.write(at, &chain.encode(generation)).map_err(dev)?;
        self.generation = generation;
        self.next = self.advance(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RamFlash;

    #[test]
    fn newest_snapshot_wins_across_sectors() {
        let mut flash = RamFlash::<{ 3 * 4096 }>::new();
        let region = Region::new(0..2 * 4096);
        let (mut j, none) = Journal::open(&mut flash, region.clone()).unwrap();
        assert!(none.is_none());
        let mut chain = Chain::default();
        // Several times around the two sectors.
        for seq in 1..=200 {
            chain.last_seq = seq;
            chain.prev = [seq as u8; 32];
            j.write(&mut flash, &chain).unwrap();
            let (_, got) = Journal::open(&mut flash, region.clone()).unwrap();
            assert_eq!(got.as_ref(), Some(&chain));
        }
        assert_eq!(flash.overwrites(), 0);
        assert!(
            flash.as_bytes()[2 * 4096..].iter().all(|&b| b == 0xFF),
            "stays in its region"
        );
    }

    #[test]
    fn a_cut_write_leaves_the_previous_snapshot() {
        let region = Region::new(0..2 * 4096);
        for cut in 0..120u64 {
            let mut flash = RamFlash::<{ 2 * 4096 }>::new();
            let (mut j, _) = Journal::open(&mut flash, region.clone()).unwrap();
            let mut written = Chain::default();
            flash.cut_power_at(cut);
            for seq in 1..=100 {
                let next = Chain {
                    last_seq: seq,
                    ..Chain::default()
                };
                if j.write(&mut flash, &next).is_err() {
                    break;
                }
                written = next;
            }
            flash.restore_power();
            let (mut j, got) = Journal::open(&mut flash, region.clone()).unwrap();
            let got = got.unwrap_or_default();
            // The cut write itself may or may not have become durable.
            assert!(
                got.last_seq == written.last_seq || got.last_seq == written.last_seq + 1,
                "cut {cut}"
            );
            let after = Chain {
                last_seq: 1000,
                ..Chain::default()
            };
            j.write(&mut flash, &after).unwrap();
            assert_eq!(
                Journal::open(&mut flash, region.clone()).unwrap().1,
                Some(after)
            );
            assert_eq!(flash.overwrites(), 0, "cut {cut}");
        }
    }
}
