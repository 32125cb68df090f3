//! The store-and-forward ring: signed events in flash, oldest first, in blocks.
//!
//! The region is cut into blocks of whole sectors, each big enough for the largest event. A
//! block starts with a header (magic, generation, CRC) and holds records one after another:
//! `magic u16 | len u16 | crc32 u32 | seq u64 | dropped u32 | 12 bytes 0xFF | message, padded
//! to 16 bytes`, where `dropped` repeats the event's own `dropped` field (so that discarding the
//! event can count what it reported). The CRC covers seq, dropped and message, so a record torn
//! by a power cut reads as absent. Blocks are filled in ring
//! order with increasing generations; the oldest block is erased only to make room, and which
//! of its events were still unacknowledged is the store's business ([`crate::store`]).
//!
//! Writes go only into erased bytes, in order; after a cut, the rest of a block that is not
//! erased makes the block closed (the next record opens a new block).

use embedded_storage::nor_flash::NorFlash;
use provenance_event::MAX_MESSAGE;
use sha2::{Digest, Sha256};

use crate::flash::{
    ALIGN, FlashError, Region, crc32, crc32_update, dev, is_erased, padded, write_padded,
};

const BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"PQB1");
const RECORD_MAGIC: u16 = u16::from_le_bytes(*b"EV");
/// Bytes of a block header.
pub(crate) const BLOCK_HEADER: u32 = 16;
/// Bytes of a record header.
pub(crate) const RECORD_HEADER: u32 = 32;

/// Where a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// The event's seq.
    pub seq: u64,
    /// Absolute flash offset of the record header.
    pub at: u32,
    /// Length of the message.
    pub len: u16,
    /// The `dropped` field of the event.
    pub dropped: u32,
    pub(crate) crc: u32,
}

impl Record {
    fn end(&self) -> u32 {
        self.at + RECORD_HEADER + padded(usize::from(self.len)) as u32
    }

    fn body(&self) -> u32 {
        self.at + RECORD_HEADER
    }

    /// The CRC state after the header fields it covers.
    fn crc_start(&self) -> u32 {
        let c = crc32_update(0xFFFF_FFFF, &self.seq.to_le_bytes());
        crc32_update(c, &self.dropped.to_le_bytes())
    }
}

/// The write head.
#[derive(Debug, Clone, Copy)]
struct Head {
    block: u32,
    generation: u32,
    /// Absolute offset of the next record; `None` once the block cannot take more.
    next: Option<u32>,
}

pub(crate) struct Queue {
    region: Region,
    block_size: u32,
    blocks: u32,
    head: Option<Head>,
    newest: Option<Record>,
}

impl Queue {
    /// Scans the region (at least two blocks).
    pub(crate) fn open<F: NorFlash>(flash: &mut F, region: Region) -> Result<Queue, FlashError> {
        let sector = F::ERASE_SIZE as u32;
        let block_size =
            (BLOCK_HEADER + RECORD_HEADER + MAX_MESSAGE as u32).div_ceil(sector) * sector;
        region.check(flash, 2 * (block_size / sector))?;
        let mut q = Queue {
            blocks: region.len() / block_size,
            region,
            block_size,
            head: None,
            newest: None,
        };
        for block in 0..q.blocks {
            if let Some(generation) = q.block_generation(flash, block)? {
                if q.head.is_none_or(|h| generation > h.generation) {
                    q.head = Some(Head {
                        block,
                        generation,
                        next: None,
                    });
                }
            }
        }
        if let Some(mut head) = q.head {
            let mut last = None;
            let mut at = q.block_start(head.block) + BLOCK_HEADER;
            while let Some(r) = q.record_at(flash, at)? {
                last = Some(r);
                at = r.end();
            }
            let block_end = q.block_start(head.block) + q.block_size;
            // Torn bytes after the last record close the block.
            if at >= block_end || is_erased(flash, at, block_end - at)? {
                head.next = Some(at);
            }
            q.head = Some(head);
            if let Some(r) = last {
                if q.verify(flash, &r)? {
                    q.newest = Some(r);
                }
            }
        }
        Ok(q)
    }

    fn block_start(&self, block: u32) -> u32 {
        self.region.start + block * self.block_size
    }

    fn block_generation<F: NorFlash>(
        &self,
        flash: &mut F,
        block: u32,
    ) -> Result<Option<u32>, FlashError> {
        let mut h = [0u8; BLOCK_HEADER as usize];
        flash.read(self.block_start(block), &mut h).map_err(dev)?;
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Ok((word(0) == BLOCK_MAGIC && word(12) == crc32(&h[..12])).then(|| word(4)))
    }

    /// The record header at `at`, if one is there and fits its block (the CRC is not checked).
    fn record_at<F: NorFlash>(&self, flash: &mut F, at: u32) -> Result<Option<Record>, FlashError> {
        // `at` may be the end of its block (after a full block's last record).
        let block_end =
            self.block_start((at - 1 - self.region.start) / self.block_size) + self.block_size;
        if at + RECORD_HEADER > block_end {
            return Ok(None);
        }
        let mut h = [0u8; RECORD_HEADER as usize];
        flash.read(at, &mut h).map_err(dev)?;
        let len = u16::from_le_bytes([h[2], h[3]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&h[8..16]);
        let r = Record {
            seq: u64::from_le_bytes(seq),
            at,
            len,
            dropped: u32::from_le_bytes([h[16], h[17], h[18], h[19]]),
            crc: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
        };
        let fits = len != 0 && usize::from(len) <= MAX_MESSAGE && r.end() <= block_end;
        Ok((u16::from_le_bytes([h[0], h[1]]) == RECORD_MAGIC && fits).then_some(r))
    }

    /// Whether the record is complete (its CRC matches).
    pub(crate) fn verify<F: NorFlash>(
        &self,
        flash: &mut F,
        r: &Record,
    ) -> Result<bool, FlashError> {
        let mut crc = r.crc_start();
        self.stream(flash, r, |chunk| crc = crc32_update(crc, chunk))?;
        Ok(crc ^ 0xFFFF_FFFF == r.crc)
    }

    /// SHA-256 of the record's message (what the next event's prev must hold).
    pub(crate) fn hash<F: NorFlash>(
        &self,
        flash: &mut F,
        r: &Record,
    ) -> Result<[u8; 32], FlashError> {
        let mut h = Sha256::new();
        self.stream(flash, r, |chunk| h.update(chunk))?;
        Ok(h.finalize().into())
    }

    fn stream<F: NorFlash>(
        &self,
        flash: &mut F,
        r: &Record,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), FlashError> {
        let mut chunk = [0u8; 64];
        let mut done = 0usize;
        let len = usize::from(r.len);
        while done < len {
            // Reads stay READ_SIZE-aligned: whole chunks of the padded body.
            let n = (padded(len) - done).min(chunk.len());
            flash
                .read(r.body() + done as u32, &mut chunk[..n])
                .map_err(dev)?;
            let used = n.min(len - done);
            f(&chunk[..used]);
            done += n;
        }
        Ok(())
    }

    /// Copies the record's message into `out` and checks its CRC; `None` if torn.
    pub(crate) fn read<'b, F: NorFlash>(
        &self,
        flash: &mut F,
        r: &Record,
        out: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, FlashError> {
        let len = usize::from(r.len);
        let Some(dst) = out.get_mut(..len) else {
            return Err(FlashError::Layout("read buffer smaller than the record"));
        };
        let whole = len / ALIGN * ALIGN;
        flash.read(r.body(), &mut dst[..whole]).map_err(dev)?;
        if whole < len {
            let mut last = [0u8; ALIGN];
            flash
                .read(r.body() + whole as u32, &mut last)
                .map_err(dev)?;
            dst[whole..].copy_from_slice(&last[..len - whole]);
        }
        let crc = crc32_update(r.crc_start(), dst) ^ 0xFFFF_FFFF;
        Ok((crc == r.crc).then_some(&*dst))
    }

    /// The newest complete record.
    pub(crate) fn newest(&self) -> Option<Record> {
        self.newest
    }

    /// The block an append of `len` bytes must recycle first, if the head has no room.
    pub(crate) fn block_to_recycle(&self, len: usize) -> Option<u32> {
        let need = RECORD_HEADER + padded(len) as u32;
        match self.head {
            Some(Head {
                block,
                next: Some(next),
                ..
            }) if next + need <= self.block_start(block) + self.block_size => None,
            Some(h) => Some((h.block + 1) % self.blocks),
            None => Some(0),
        }
    }

    /// Calls `f` with every complete record of `block`, in order.
    pub(crate) fn for_each_in_block<F: NorFlash>(
        &self,
        flash: &mut F,
        block: u32,
        mut f: impl FnMut(&Record),
    ) -> Result<(), FlashError> {
        if self.block_generation(flash, block)?.is_none() {
            return Ok(());
        }
        let mut at = self.block_start(block) + BLOCK_HEADER;
        while let Some(r) = self.record_at(flash, at)? {
            if self.verify(flash, &r)? {
                f(&r);
            }
            at = r.end();
        }
        Ok(())
    }

    /// Erases `block` and makes it the head. Its events are gone.
    pub(crate) fn recycle<F: NorFlash>(
        &mut self,
        flash: &mut F,
        block: u32,
    ) -> Result<(), FlashError> {
        let start = self.block_start(block);
        let generation = self.head.map_or(1, |h| h.generation.wrapping_add(1));
        // Forget the head first: if the erase is cut, nothing points into a half-erased block.
        self.head = None;
        flash.erase(start, start + self.block_size).map_err(dev)?;
        let mut h = [0xFFu8; BLOCK_HEADER as usize];
        h[0..4].copy_from_slice(&BLOCK_MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&generation.to_le_bytes());
        let crc = crc32(&h[..12]);
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        flash.write(start, &h).map_err(dev)?;
        self.head = Some(Head {
            block,
            generation,
            next: Some(start + BLOCK_HEADER),
        });
        if self
            .newest
            .is_some_and(|r| (r.at - self.region.start) / self.block_size == block)
        {
            self.newest = None;
        }
        Ok(())
    }

    /// Appends a record; the head must have room ([`Queue::block_to_recycle`] is `None`).
    pub(crate) fn append<F: NorFlash>(
        &mut self,
        flash: &mut F,
        seq: u64,
        dropped: u32,
        message: &[u8],
    ) -> Result<Record, FlashError> {
        let Some(Head { next: Some(at), .. }) = self.head else {
            return Err(FlashError::Layout("append without room"));
        };
        let len =
            u16::try_from(message.len()).map_err(|_| FlashError::Layout("message too long"))?;
        let mut r = Record {
            seq,
            at,
            len,
            dropped,
            crc: 0,
        };
        r.crc = crc32_update(r.crc_start(), message) ^ 0xFFFF_FFFF;
        let mut h = [0xFFu8; RECORD_HEADER as usize];
        h[0..2].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        h[2..4].copy_from_slice(&len.to_le_bytes());
        h[4..8].copy_from_slice(&r.crc.to_le_bytes());
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        h[16..20].copy_from_slice(&dropped.to_le_bytes());
        // Whatever happens next, these bytes are no longer erased.
        if let Some(head) = self.head.as_mut() {
            head.next = None;
        }
        flash.write(at, &h).map_err(dev)?;
        write_padded(flash, r.body(), message)?;
        if let Some(head) = self.head.as_mut() {
            head.next = Some(r.end());
        }
        self.newest = Some(r);
        Ok(r)
    }

    /// The first complete record with seq above `after`, in ring order from the oldest block,
    /// starting the search at `hint` (a record returned before) when it is still valid.
    pub(crate) fn next_after<F: NorFlash>(
        &self,
        flash: &mut F,
        after: u64,
        hint: Option<Record>,
    ) -> Result<Option<Record>, FlashError> {
        // The head block is the newest; the ring starts after it.
        let last = self.head.map_or(self.blocks - 1, |h| h.block);
        // A hint is valid if the record there still reads the same.
        if let Some(h) = hint {
            if self.record_at(flash, h.at)? == Some(h) && h.seq <= after {
                let mut at = h.end();
                let block = (h.at - self.region.start) / self.block_size;
                while let Some(r) = self.record_at(flash, at)? {
                    if r.seq > after && self.verify(flash, &r)? {
                        return Ok(Some(r));
                    }
                    at = r.end();
                }
                if block == last {
                    return Ok(None);
                }
                return self.scan_from(flash, (block + 1) % self.blocks, last, after);
            }
        }
        self.scan_from(flash, (last + 1) % self.blocks, last, after)
    }

    /// Scans blocks `first` up to and including `last` in ring order.
    fn scan_from<F: NorFlash>(
        &self,
        flash: &mut F,
        first: u32,
        last: u32,
        after: u64,
    ) -> Result<Option<Record>, FlashError> {
        let mut block = first;
        loop {
            if self.block_generation(flash, block)?.is_some() {
                let mut at = self.block_start(block) + BLOCK_HEADER;
                while let Some(r) = self.record_at(flash, at)? {
                    if r.seq > after && self.verify(flash, &r)? {
                        return Ok(Some(r));
                    }
                    at = r.end();
                }
            }
            if block == last {
                return Ok(None);
            }
            block = (block + 1) % self.blocks;
        }
    }

    /// How many events the ring holds at most when they are `len` bytes long.
    pub(crate) fn capacity_for(&self, len: usize) -> u32 {
        let per_block = (self.block_size - BLOCK_HEADER) / (RECORD_HEADER + padded(len) as u32);
        // The block being recycled is empty, so one block less is ever full.
        per_block * (self.blocks - 1)
    }
}
