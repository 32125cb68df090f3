//! MAX17048 1-cell fuel gauge with ModelGauge (Analog Devices / Maxim, datasheet 19-6171).
//!
//! Registers are 16 bits, big-endian, read with a repeated start after the register address.

use embedded_hal::i2c::I2c;

use super::SensorError;

/// The fixed 7-bit address.
pub const ADDRESS: u8 = 0x36;

/// Register addresses (datasheet Table 2).
pub mod reg {
    /// Cell voltage, 78.125 µV per LSB.
    pub const VCELL: u8 = 0x02;
    /// State of charge, 1/256 % per LSB.
    pub const SOC: u8 = 0x04;
    /// Quick-start and sleep control.
    pub const MODE: u8 = 0x06;
    /// Production version, `0x001_` on a MAX17048/9.
    pub const VERSION: u8 = 0x08;
    /// Hibernate thresholds.
    pub const HIBRT: u8 = 0x0A;
    /// Compensation, sleep, alert threshold.
    pub const CONFIG: u8 = 0x0C;
    /// Voltage alert window.
    pub const VALRT: u8 = 0x14;
    /// Charge or discharge rate, 0.208 %/h per LSB, signed.
    pub const CRATE: u8 = 0x16;
    /// Reset threshold and chip ID.
    pub const VRESET_ID: u8 = 0x18;
    /// Alert flags.
    pub const STATUS: u8 = 0x1A;
    /// Command register (0x5400: power-on reset).
    pub const CMD: u8 = 0xFE;
}

/// A MAX17048 on an I2C bus.
pub struct Max17048<I> {
    i2c: I,
}

impl<I: I2c> Max17048<I> {
    /// Takes the bus and checks that a MAX17048/9 answers (VERSION `0x001_`).
    pub fn new(mut i2c: I) -> Result<Self, SensorError<I::Error>> {
        let version = read(&mut i2c, reg::VERSION)?;
        if version & 0xFFF0 != 0x0010 {
            return Err(SensorError::WrongChip(version));
        }
        Ok(Self { i2c })
    }

    /// Cell voltage in millivolts (VCELL × 78.125 µV).
    pub fn voltage_mv(&mut self) -> Result<u32, SensorError<I::Error>> {
        Ok(u32::from(read(&mut self.i2c, reg::VCELL)?) * 78_125 / 1_000_000)
    }

    /// State of charge in per mille (SOC / 256 %), at most 1000: the gauge reports a little
    /// over 100 % right after a full charge.
    pub fn soc_permille(&mut self) -> Result<u16, SensorError<I::Error>> {
        let raw = u32::from(read(&mut self.i2c, reg::SOC)?);
        Ok((raw * 10 / 256).min(1000) as u16)
    }

    /// Charge (+) or discharge (−) rate in thousandths of a percent per hour.
    pub fn rate_milli_percent_per_hour(&mut self) -> Result<i32, SensorError<I::Error>> {
        Ok(i32::from(read(&mut self.i2c, reg::CRATE)? as i16) * 208)
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

fn read<I: I2c>(i2c: &mut I, register: u8) -> Result<u16, SensorError<I::Error>> {
    let mut b = [0u8; 2];
    i2c.write_read(ADDRESS, &[register], &mut b)
        .map_err(SensorError::Bus)?;
    Ok(u16::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::vec;

    use super::*;

    #[test]
    fn reads_voltage_soc_and_rate() {
        let mut i2c = Mock::new(&[
            T::write_read(ADDRESS, vec![reg::VERSION], vec![0x00, 0x12]),
            // 3.7 V = 47360 × 78.125 µV.
            T::write_read(ADDRESS, vec![reg::VCELL], vec![0xB9, 0x00]),
            // 87.5 % = 0x5780 / 256.
            T::write_read(ADDRESS, vec![reg::SOC], vec![0x57, 0x80]),
            // Just after a full charge: 100.4 %.
            T::write_read(ADDRESS, vec![reg::SOC], vec![0x64, 0x66]),
            T::write_read(ADDRESS, vec![reg::CRATE], vec![0xFF, 0xF6]),
        ]);
        let mut gauge = Max17048::new(i2c.clone()).unwrap();
        assert_eq!(gauge.voltage_mv().unwrap(), 3_700);
        assert_eq!(gauge.soc_permille().unwrap(), 875);
        assert_eq!(gauge.soc_permille().unwrap(), 1000);
        assert_eq!(gauge.rate_milli_percent_per_hour().unwrap(), -2_080);
        i2c.done();
    }

    #[test]
    fn refuses_another_chip() {
        let mut i2c = Mock::new(&[T::write_read(ADDRESS, vec![reg::VERSION], vec![0x00, 0x03])]);
        assert_eq!(
            Max17048::new(i2c.clone()).err(),
            Some(SensorError::WrongChip(3))
        );
        i2c.done();
    }
}
