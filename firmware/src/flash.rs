//! What the journal and the queue share about NOR flash: regions, alignment, and the CRC that
//! tells a complete record from one torn by a power cut.
//!
//! NOR flash semantics (embedded-storage `NorFlash`): erasing sets a whole sector to `0xFF`,
//! writing can only clear bits, writes are `WRITE_SIZE`-aligned and erases `ERASE_SIZE`-aligned.
//! A power cut can leave any write or erase half done; every reader here treats bytes it cannot
//! prove complete (CRC) as absent, and no writer ever writes twice into the same bytes.

use core::ops::Range;

use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};

/// Every record is aligned to, and padded to a multiple of, this many bytes, so it works with
/// any flash whose `WRITE_SIZE` and `READ_SIZE` divide 16 (1, 2, 4, 8 or 16: SPI NOR, STM32,
/// nRF52, RP2040 …).
pub const ALIGN: usize = 16;

/// What can go wrong with the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlashError {
    /// The flash driver failed (or, in the simulator, power was cut).
    #[error("flash: {0:?}")]
    Device(NorFlashErrorKind),
    /// The layout does not fit the flash: a region not sector-aligned, too small, or a flash
    /// whose write or read size does not divide 16.
    #[error("flash layout does not fit this flash: {0}")]
    Layout(&'static str),
}

pub(crate) fn dev<E: NorFlashError>(e: E) -> FlashError {
    FlashError::Device(e.kind())
}

/// A byte range of the flash given to one user (the journal or the queue). Sector-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Region {
    /// The region `range`.
    pub const fn new(range: Range<u32>) -> Self {
        Self {
            start: range.start,
            end: range.end,
        }
    }

    /// Its length in bytes.
    pub const fn len(&self) -> u32 {
        self.end - self.start
    }

    /// Whether it is empty.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub(crate) fn check<F: NorFlash>(&self, flash: &F, min_sectors: u32) -> Result<(), FlashError> {
        let erase = F::ERASE_SIZE as u32;
        if ALIGN % F::WRITE_SIZE != 0 || ALIGN % F::READ_SIZE != 0 {
            return Err(FlashError::Layout(
                "WRITE_SIZE and READ_SIZE must divide 16",
            ));
        }
        if self.start % erase != 0 || self.end % erase != 0 {
            return Err(FlashError::Layout(
                "regions must start and end on a sector boundary",
            ));
        }
        if self.end as usize > flash.capacity() {
            return Err(FlashError::Layout("region beyond the end of the flash"));
        }
        if self.end < self.start || self.len() / erase < min_sectors {
            return Err(FlashError::Layout("region too small"));
        }
        Ok(())
    }
}

/// `n` rounded up to a multiple of [`ALIGN`].
pub(crate) const fn padded(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// CRC-32/ISO-HDLC (the zlib CRC), bitwise: records are rare and small enough that a table
/// would cost more flash than the loop costs time.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, data) ^ 0xFFFF_FFFF
}

pub(crate) fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    crc
}

/// Whether `flash[offset..offset + len]` is erased (all `0xFF`).
pub(crate) fn is_erased<F: NorFlash>(
    flash: &mut F,
    offset: u32,
    len: u32,
) -> Result<bool, FlashError> {
    let mut chunk = [0u8; 64];
    let mut at = offset;
    let end = offset + len;
    while at < end {
        let n = (end - at).min(chunk.len() as u32) as usize;
        flash.read(at, &mut chunk[..n]).map_err(dev)?;
        if chunk[..n].iter().any(|&b| b != 0xFF) {
            return Ok(false);
        }
        at += n as u32;
    }
    Ok(true)
}

/// Writes `data` at `offset` (aligned), padding the last partial chunk with `0xFF` (which
/// leaves those bytes erased).
pub(crate) fn write_padded<F: NorFlash>(
    flash: &mut F,
    offset: u32,
    data: &[u8],
) -> Result<(), FlashError> {
    let whole = data.len() / ALIGN * ALIGN;
    if whole > 0 {
        flash.write(offset, &data[..whole]).map_err(dev)?;
    }
    let rest = &data[whole..];
    if !rest.is_empty() {
        let mut last = [0xFFu8; ALIGN];
        last[..rest.len()].copy_from_slice(rest);
        flash.write(offset + whole as u32, &last).map_err(dev)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The catalogue check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(padded(0), 0);
        assert_eq!(padded(1), 16);
        assert_eq!(padded(16), 16);
        assert_eq!(padded(17), 32);
    }
}
