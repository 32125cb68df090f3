//! Simulated parts shared by the tests, the link check and the host simulator: a NOR flash in
//! RAM that can lose power in the middle of any write or erase.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};

/// A NOR flash of `SIZE` bytes in RAM with the semantics of the real thing: erase sets a
/// 4 KiB sector to `0xFF`, a write (4-byte words) can only clear bits, and writing into bytes
/// that were not erased is counted as a firmware bug ([`RamFlash::overwrites`]).
///
/// [`RamFlash::cut_power_at`] makes operation number `n` (counting writes and erases from 0)
/// stop part way: a write completes some words and leaves the word in progress with only some
/// of its bits programmed; an erase resets only a prefix of the sector. From then on every
/// operation fails with [`RamFlashError::PowerCut`] until [`RamFlash::restore_power`], which is
/// the reboot.
pub struct RamFlash<const SIZE: usize> {
    bytes: [u8; SIZE],
    ops: u64,
    cut_at: Option<u64>,
    powered: bool,
    overwrites: u64,
}

/// A failed [`RamFlash`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamFlashError {
    /// Power is off: the operation did not happen, or happened in part.
    PowerCut,
    /// Outside the flash.
    OutOfBounds,
    /// Not aligned to the write or erase size.
    NotAligned,
}

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RamFlashError::PowerCut => NorFlashErrorKind::Other,
            RamFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            RamFlashError::NotAligned => NorFlashErrorKind::NotAligned,
        }
    }
}

impl<const SIZE: usize> Default for RamFlash<SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SIZE: usize> RamFlash<SIZE> {
    /// A fully erased flash.
    pub const fn new() -> Self {
        Self {
            bytes: [0xFF; SIZE],
            ops: 0,
            cut_at: None,
            powered: true,
            overwrites: 0,
        }
    }

    /// Writes and erases performed so far (the numbering [`RamFlash::cut_power_at`] uses).
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Power fails during operation number `op`.
    pub fn cut_power_at(&mut self, op: u64) {
        self.cut_at = Some(op);
    }

    /// Whether power is on.
    pub fn powered(&self) -> bool {
        self.powered
    }

    /// Power comes back (the board reboots); no cut is scheduled any more.
    pub fn restore_power(&mut self) {
        self.powered = true;
        self.cut_at = None;
    }

    /// Bytes written that were not erased: always 0 unless the firmware has a bug.
    pub fn overwrites(&self) -> u64 {
        self.overwrites
    }

    /// The raw contents.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Counts an operation; `Some(seed)` when power fails during it.
    fn begin(&mut self) -> Result<Option<u64>, RamFlashError> {
        if !self.powered {
            return Err(RamFlashError::PowerCut);
        }
        let op = self.ops;
        self.ops += 1;
        if self.cut_at == Some(op) {
            self.powered = false;
            // A deterministic "random" amount of progress, different for each op.
            Ok(Some(op.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)))
        } else {
            Ok(None)
        }
    }
}

impl<const SIZE: usize> ErrorType for RamFlash<SIZE> {
    type Error = RamFlashError;
}

impl<const SIZE: usize> ReadNorFlash for RamFlash<SIZE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !self.powered {
            return Err(RamFlashError::PowerCut);
        }
        check_read(self, offset, bytes.len()).map_err(|_| RamFlashError::OutOfBounds)?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl<const SIZE: usize> NorFlash for RamFlash<SIZE> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to).map_err(|e| match e.kind() {
            NorFlashErrorKind::NotAligned => RamFlashError::NotAligned,
            _ => RamFlashError::OutOfBounds,
        })?;
        let cut = self.begin()?;
        let (from, to) = (from as usize, to as usize);
        match cut {
            None => self.bytes[from..to].fill(0xFF),
            Some(seed) => {
                // A cut erase leaves some prefix erased and the rest as it was.
                let done = (seed % (to - from + 1) as u64) as usize;
                self.bytes[from..from + done].fill(0xFF);
                return Err(RamFlashError::PowerCut);
            }
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len()).map_err(|e| match e.kind() {
            NorFlashErrorKind::NotAligned => RamFlashError::NotAligned,
            _ => RamFlashError::OutOfBounds,
        })?;
        let cut = self.begin()?;
        let at = offset as usize;
        let words = bytes.len() / Self::WRITE_SIZE;
        let (full_words, torn) = match cut {
            None => (words, None),
            // The word in progress is one of the words of this write.
            Some(seed) => ((seed % words.max(1) as u64) as usize, Some(seed)),
        };
        for (i, &b) in bytes[..full_words * Self::WRITE_SIZE].iter().enumerate() {
            let cell = &mut self.bytes[at + i];
            if *cell != 0xFF && b != 0xFF {
                self.overwrites += 1;
            }
            *cell &= b;
        }
        if let Some(seed) = torn {
            // The word in progress gets only some of its bits programmed.
            let start = full_words * Self::WRITE_SIZE;
            let end = (start + Self::WRITE_SIZE).min(bytes.len());
            let mask = (seed >> 32) as u8 | 0x11;
            for (cell, &b) in self.bytes[at + start..at + end]
                .iter_mut()
                .zip(&bytes[start..end])
            {
                *cell &= b | mask;
            }
            return Err(RamFlashError::PowerCut);
        }
        Ok(())
    }
}

/// A UART receive line in RAM: the simulator (or a test) pushes bytes, the firmware reads them
/// through `embedded-io`. Holds up to `N` bytes; what does not fit is lost, as on a real UART
/// whose FIFO overflows.
pub struct SimUart<const N: usize> {
    bytes: heapless::Deque<u8, N>,
    /// Bytes lost to overflow.
    pub overflowed: u64,
}

impl<const N: usize> Default for SimUart<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> SimUart<N> {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            bytes: heapless::Deque::new(),
            overflowed: 0,
        }
    }

    /// Bytes arrive on the line.
    pub fn push(&mut self, data: &[u8]) {
        for &b in data {
            if self.bytes.push_back(b).is_err() {
                self.overflowed += 1;
            }
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl<const N: usize> embedded_io::ErrorType for SimUart<N> {
    type Error = core::convert::Infallible;
}

impl<const N: usize> embedded_io::Read for SimUart<N> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut n = 0;
        while n < buf.len() {
            match self.bytes.pop_front() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}

impl<const N: usize> embedded_io::ReadReady for SimUart<N> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.bytes.is_empty())
    }
}

/// An I2C bus in RAM with register-mapped chips on it: a write sets the register pointer
/// (and stores any data bytes), a read returns the register's value. Unknown addresses are
/// not acknowledged. The `set_*` helpers write physical values in the chips' own encodings
/// (the inverse of the drivers), so a simulator can model a cell or a reefer and let the real
/// drivers read it.
pub struct SimI2c {
    registers: heapless::Vec<SimRegister, 24>,
    pointer: (u8, u8),
    /// Bus transactions so far.
    pub transactions: u64,
}

struct SimRegister {
    address: u8,
    register: u8,
    value: [u8; 6],
}

impl Default for SimI2c {
    fn default() -> Self {
        Self::new()
    }
}

impl SimI2c {
    /// A bus with no chips.
    pub const fn new() -> Self {
        Self {
            registers: heapless::Vec::new(),
            pointer: (0, 0),
            transactions: 0,
        }
    }

    /// Sets a register's value (up to 6 bytes, as the chip sends them). False if the bus
    /// holds 24 registers already.
    pub fn set(&mut self, address: u8, register: u8, value: &[u8]) -> bool {
        let mut v = [0u8; 6];
        let n = value.len().min(6);
        v[..n].copy_from_slice(&value[..n]);
        if let Some(r) = self
            .registers
            .iter_mut()
            .find(|r| r.address == address && r.register == register)
        {
            r.value = v;
            return true;
        }
        self.registers
            .push(SimRegister {
                address,
                register,
                value: v,
            })
            .is_ok()
    }

    /// The register's value.
    pub fn get(&self, address: u8, register: u8) -> Option<[u8; 6]> {
        self.registers
            .iter()
            .find(|r| r.address == address && r.register == register)
            .map(|r| r.value)
    }

    /// A MAX17048 holding `voltage_mv` and `soc_permille`.
    pub fn set_cell(&mut self, voltage_mv: u32, soc_permille: u16) {
        use crate::drivers::max17048::{ADDRESS, reg};
        let vcell = (u64::from(voltage_mv) * 1_000_000)
            .div_ceil(78_125)
            .min(0xFFFF) as u16;
        let soc = (u32::from(soc_permille) * 256).div_ceil(10).min(0xFFFF) as u16;
        self.set(ADDRESS, reg::VERSION, &[0x00, 0x12]);
        self.set(ADDRESS, reg::VCELL, &vcell.to_be_bytes());
        self.set(ADDRESS, reg::SOC, &soc.to_be_bytes());
    }

    /// A TMP117 (address 0x48) reading `mc` m°C.
    pub fn set_temperature_mc(&mut self, mc: i32) {
        use crate::drivers::tmp117::{ADDRESS, reg};
        let raw = (i64::from(mc) * 10_000 / 78_125).clamp(-32_768, 32_767) as i16;
        self.set(ADDRESS, reg::DEVICE_ID, &[0x01, 0x17]);
        self.set(ADDRESS, reg::TEMP_RESULT, &raw.to_be_bytes());
    }

    /// A LIS3DH (address 0x18) whose FIFO holds samples of this acceleration (milli-g).
    pub fn set_acceleration_mg(&mut self, x: i32, y: i32, z: i32) {
        use crate::drivers::lis3dh::{ADDRESS, reg};
        let axis = |mg: i32| ((mg / 12).clamp(-2048, 2047) << 4) as i16;
        let mut v = [0u8; 6];
        for (i, a) in [x, y, z].into_iter().enumerate() {
            v[2 * i..2 * i + 2].copy_from_slice(&axis(a).to_le_bytes());
        }
        self.set(ADDRESS, reg::WHO_AM_I, &[0x33]);
        self.set(ADDRESS, reg::FIFO_SRC_REG, &[0x01]);
        self.set(ADDRESS, reg::OUT_X_L | 0x80, &v);
    }
}

impl embedded_hal::i2c::ErrorType for SimI2c {
    type Error = embedded_hal::i2c::ErrorKind;
}

impl embedded_hal::i2c::I2c for SimI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [embedded_hal::i2c::Operation<'_>],
    ) -> Result<(), Self::Error> {
        use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource, Operation};
        self.transactions += 1;
        if !self.registers.iter().any(|r| r.address == address) {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    if let Some((&register, data)) = bytes.split_first() {
                        self.pointer = (address, register);
                        if !data.is_empty() {
                            self.set(address, register, data);
                        }
                    }
                }
                Operation::Read(buf) => {
                    let value = if self.pointer.0 == address {
                        self.get(address, self.pointer.1).unwrap_or([0; 6])
                    } else {
                        [0; 6]
                    };
                    for (b, v) in buf
                        .iter_mut()
                        .zip(value.iter().chain(core::iter::repeat(&0)))
                    {
                        *b = *v;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A GPIO input whose level the simulator sets (the seal loop: low while closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimPin {
    /// The level is high.
    pub high: bool,
}

impl embedded_hal::digital::ErrorType for SimPin {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(self.high)
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.high)
    }
}

/// A delay that returns at once (simulated time is the caller's `now_ms`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A pack BMS whose answers the simulator sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimBms(pub crate::drivers::PackHealth);

impl crate::drivers::PackBms for SimBms {
    type Error = core::convert::Infallible;
    fn health(&mut self) -> Result<crate::drivers::PackHealth, Self::Error> {
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nor_semantics_and_power_cut() {
        let mut f = RamFlash::<8192>::new();
        f.write(0, &[0x0F, 0xF0, 0x00, 0xFF]).unwrap();
        f.write(0, &[0xFF, 0xFF, 0xFF, 0x00]).unwrap();
        assert_eq!(&f.as_bytes()[..4], &[0x0F, 0xF0, 0x00, 0x00]);
        assert_eq!(f.overwrites(), 0);
        f.write(0, &[0x00, 0xFF, 0xFF, 0xFF]).unwrap();
        assert_eq!(
            f.overwrites(),
            1,
            "writing into a programmed byte is counted"
        );
        assert_eq!(f.write(1, &[0; 4]), Err(RamFlashError::NotAligned));
        f.erase(0, 4096).unwrap();
        assert!(f.as_bytes()[..4096].iter().all(|&b| b == 0xFF));

        f.cut_power_at(f.ops());
        assert_eq!(f.write(0, &[0; 64]), Err(RamFlashError::PowerCut));
        assert!(!f.powered());
        assert_eq!(f.read(0, &mut [0; 4]), Err(RamFlashError::PowerCut));
        f.restore_power();
        let mut b = [0; 64];
        f.read(0, &mut b).unwrap();
        assert_ne!(b, [0; 64], "a cut write is incomplete");
    }

    #[test]
    fn sim_chips_read_back_through_the_drivers() {
        use crate::drivers::lis3dh::{self, Lis3dh};
        use crate::drivers::max17048::Max17048;
        use crate::drivers::tmp117::{self, Tmp117};
        let mut bus = SimI2c::new();
        bus.set_cell(3_712, 512);
        bus.set_temperature_mc(-18_250);
        bus.set_acceleration_mg(0, 3_000, 4_000);
        let mut gauge = Max17048::new(bus).unwrap();
        assert_eq!(gauge.voltage_mv().unwrap(), 3_712);
        assert_eq!(gauge.soc_permille().unwrap(), 512);
        let mut t = Tmp117::new(gauge.release(), tmp117::ADDRESS).unwrap();
        assert_eq!(t.measure_mc(&mut NoDelay).unwrap(), -18_250);
        let mut a = Lis3dh::new(t.release(), lis3dh::ADDRESS).unwrap();
        // 4 g quantised to 12 mg digits is 3.996 g: |(0, 3000, 3996)| = 4996 mg.
        assert_eq!(a.peak_mg().unwrap(), Some(4_996));
        assert!(
            Tmp117::new(SimI2c::new(), tmp117::ADDRESS).is_err(),
            "nobody at 0x48"
        );
    }
}
