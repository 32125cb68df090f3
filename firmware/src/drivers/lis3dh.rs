//! LIS3DH 3-axis accelerometer (STMicroelectronics, DocID17530), used for peak shock.
//!
//! Set to ±16 g, high-resolution (12 bits, 12 mg per digit), 100 Hz, with the 32-sample FIFO
//! in stream mode: each poll drains the FIFO, so a board polling at least every 320 ms sees
//! every sample. (A knock shorter than 10 ms can fall between samples; a board that must
//! catch those would add the INT1 threshold interrupt.)

use embedded_hal::i2c::I2c;

use super::SensorError;

/// The address with SDO/SA0 to ground (0x19 with SA0 high).
pub const ADDRESS: u8 = 0x18;

/// Register addresses (datasheet Table 17).
pub mod reg {
    /// Reads 0x33.
    pub const WHO_AM_I: u8 = 0x0F;
    /// Output data rate, low-power mode, axis enables.
    pub const CTRL_REG1: u8 = 0x20;
    /// High-pass filter.
    pub const CTRL_REG2: u8 = 0x21;
    /// Interrupts on INT1.
    pub const CTRL_REG3: u8 = 0x22;
    /// Block data update, full scale, high resolution.
    pub const CTRL_REG4: u8 = 0x23;
    /// Reboot, FIFO enable, interrupt latching.
    pub const CTRL_REG5: u8 = 0x24;
    /// Data-ready and overrun flags.
    pub const STATUS_REG: u8 = 0x27;
    /// X low byte; X high, Y low, Y high, Z low and Z high follow.
    pub const OUT_X_L: u8 = 0x28;
    /// FIFO mode and watermark.
    pub const FIFO_CTRL_REG: u8 = 0x2E;
    /// FIFO watermark, overrun, empty flags and sample count.
    pub const FIFO_SRC_REG: u8 = 0x2F;
}

const WHO_AM_I_VALUE: u8 = 0x33;
/// The sub-address MSB asks for auto-increment in a multi-byte read.
const AUTO_INCREMENT: u8 = 0x80;
/// ODR = 0101 (100 Hz), LPen = 0, Zen = Yen = Xen = 1.
const CTRL_REG1_100HZ_XYZ: u8 = 0x57;
/// BDU = 1, FS = 11 (±16 g), HR = 1.
const CTRL_REG4_BDU_16G_HR: u8 = 0xB8;
/// FIFO_EN = 1.
const CTRL_REG5_FIFO_EN: u8 = 0x40;
/// FM = 10: stream mode (the oldest sample is overwritten).
const FIFO_STREAM: u8 = 0x80;
/// ±16 g, high-resolution: 12 mg per digit of the 12-bit, left-justified value.
const MG_PER_DIGIT: i32 = 12;

/// A LIS3DH on an I2C bus.
pub struct Lis3dh<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Lis3dh<I> {
    /// Checks WHO_AM_I and configures the chip for shock logging.
    pub fn new(mut i2c: I, address: u8) -> Result<Self, SensorError<I::Error>> {
        let mut id = [0u8];
        i2c.write_read(address, &[reg::WHO_AM_I], &mut id)
            .map_err(SensorError::Bus)?;
        if id[0] != WHO_AM_I_VALUE {
            return Err(SensorError::WrongChip(u16::from(id[0])));
        }
        for (register, value) in [
            (reg::CTRL_REG1, CTRL_REG1_100HZ_XYZ),
            (reg::CTRL_REG4, CTRL_REG4_BDU_16G_HR),
            (reg::CTRL_REG5, CTRL_REG5_FIFO_EN),
            (reg::FIFO_CTRL_REG, FIFO_STREAM),
        ] {
            i2c.write(address, &[register, value])
                .map_err(SensorError::Bus)?;
        }
        Ok(Self { i2c, address })
    }

    /// Drains the FIFO; the largest acceleration magnitude among its samples, in milli-g
    /// (gravity included: about 1000 at rest), or `None` if no sample was waiting.
    pub fn peak_mg(&mut self) -> Result<Option<u32>, SensorError<I::Error>> {
        let mut src = [0u8];
        self.i2c
            .write_read(self.address, &[reg::FIFO_SRC_REG], &mut src)
            .map_err(SensorError::Bus)?;
        // OVRN_FIFO: all 32 slots hold samples; otherwise FSS counts them.
        let samples = if src[0] & 0x40 != 0 {
            32
        } else {
            src[0] & 0x1F
        };
        let mut peak = None;
        for _ in 0..samples {
            let mg = self.sample_mg()?;
            peak = Some(peak.unwrap_or(0).max(mg));
        }
        Ok(peak)
    }

    /// One sample's magnitude in milli-g.
    fn sample_mg(&mut self) -> Result<u32, SensorError<I::Error>> {
        let mut b = [0u8; 6];
        self.i2c
            .write_read(self.address, &[reg::OUT_X_L | AUTO_INCREMENT], &mut b)
            .map_err(SensorError::Bus)?;
        let axis = |i: usize| {
            i64::from((i32::from(i16::from_le_bytes([b[i], b[i + 1]])) >> 4) * MG_PER_DIGIT)
        };
        let (x, y, z) = (axis(0), axis(2), axis(4));
        // At most 3 × 24576² fits an u64 easily; the root fits an u32.
        Ok((x * x + y * y + z * z).unsigned_abs().isqrt() as u32)
    }

    /// The bus (a simulator reaches its chip model through it).
    pub fn bus_mut(&mut self) -> &mut I {
        &mut self.i2c
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::vec;
    use std::vec::Vec;

    use super::*;

    fn init() -> Vec<T> {
        vec![
            T::write_read(ADDRESS, vec![reg::WHO_AM_I], vec![0x33]),
            T::write(ADDRESS, vec![reg::CTRL_REG1, 0x57]),
            T::write(ADDRESS, vec![reg::CTRL_REG4, 0xB8]),
            T::write(ADDRESS, vec![reg::CTRL_REG5, 0x40]),
            T::write(ADDRESS, vec![reg::FIFO_CTRL_REG, 0x80]),
        ]
    }

    /// An axis value in mg as the chip reports it: 12-bit, left-justified, little-endian.
    fn raw(mg: i32) -> [u8; 2] {
        (((mg / 12) << 4) as i16).to_le_bytes()
    }

    #[test]
    fn peak_of_the_fifo() {
        let sample = |x: i32, y: i32, z: i32| {
            let mut v = vec![];
            for a in [x, y, z] {
                v.extend_from_slice(&raw(a));
            }
            T::write_read(ADDRESS, vec![reg::OUT_X_L | 0x80], v)
        };
        let mut t = init();
        t.extend([
            T::write_read(ADDRESS, vec![reg::FIFO_SRC_REG], vec![0x02]),
            sample(0, 0, 1_008),
            // A knock: 3.6, 4.8 and 14.4 g: |a| = 15.6 g.
            sample(3_600, -4_800, 14_400),
            T::write_read(ADDRESS, vec![reg::FIFO_SRC_REG], vec![0x20]),
        ]);
        let mut i2c = Mock::new(&t);
        let mut acc = Lis3dh::new(i2c.clone(), ADDRESS).unwrap();
        assert_eq!(acc.peak_mg().unwrap(), Some(15_600));
        assert_eq!(acc.peak_mg().unwrap(), None, "FIFO empty");
        i2c.done();
    }

    #[test]
    fn overrun_reads_all_32() {
        let mut t = init();
        t.push(T::write_read(ADDRESS, vec![reg::FIFO_SRC_REG], vec![0x5F]));
        for _ in 0..32 {
            t.push(T::write_read(
                ADDRESS,
                vec![reg::OUT_X_L | 0x80],
                vec![0, 0, 0, 0, 0xC0, 0x3F],
            ));
        }
        let mut i2c = Mock::new(&t);
        let mut acc = Lis3dh::new(i2c.clone(), ADDRESS).unwrap();
        // 0x3FC0 >> 4 = 1020 digits = 12240 mg.
        assert_eq!(acc.peak_mg().unwrap(), Some(12_240));
        i2c.done();
    }

    #[test]
    fn refuses_another_chip() {
        let mut i2c = Mock::new(&[T::write_read(ADDRESS, vec![reg::WHO_AM_I], vec![0x32])]);
        assert_eq!(
            Lis3dh::new(i2c.clone(), ADDRESS).err(),
            Some(SensorError::WrongChip(0x32))
        );
        i2c.done();
    }
}
