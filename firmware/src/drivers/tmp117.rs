//! TMP117 digital temperature sensor (Texas Instruments, SNOSD82), ±0.1 °C.
//!
//! Registers are 16 bits, big-endian. The board uses one-shot conversions: the sensor sleeps
//! between readings, which matters on a tracker that runs for weeks on a battery.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::SensorError;

/// The address with ADD0 tied to ground (0x49 to V+, 0x4A to SDA, 0x4B to SCL).
pub const ADDRESS: u8 = 0x48;

/// Register addresses (datasheet Table 7-3).
pub mod reg {
    /// The last conversion, 7.8125 m°C per LSB, two's complement.
    pub const TEMP_RESULT: u8 = 0x00;
    /// Conversion mode, averaging, alert flags, data ready.
    pub const CONFIGURATION: u8 = 0x01;
    /// High alert limit.
    pub const THIGH_LIMIT: u8 = 0x02;
    /// Low alert limit.
    pub const TLOW_LIMIT: u8 = 0x03;
    /// EEPROM unlock.
    pub const EEPROM_UL: u8 = 0x04;
    /// Offset added to every result.
    pub const TEMP_OFFSET: u8 = 0x07;
    /// Device ID (bits 11:0 are 0x117) and revision.
    pub const DEVICE_ID: u8 = 0x0F;
}

/// CONFIGURATION: MOD[1:0] = 11 (one-shot), CONV = 000, AVG[1:0] = 00 (no averaging).
const ONE_SHOT: u16 = 0b11 << 10;
/// A one-shot conversion without averaging takes 15.5 ms.
const CONVERSION_MS: u32 = 16;

/// A TMP117 on an I2C bus.
pub struct Tmp117<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Tmp117<I> {
    /// Takes the bus and checks DEVICE_ID.
    pub fn new(mut i2c: I, address: u8) -> Result<Self, SensorError<I::Error>> {
        let id = read(&mut i2c, address, reg::DEVICE_ID)?;
        if id & 0x0FFF != 0x0117 {
            return Err(SensorError::WrongChip(id));
        }
        Ok(Self { i2c, address })
    }

    /// Starts a one-shot conversion, waits for it, and returns the temperature in m°C.
    pub fn measure_mc(&mut self, delay: &mut impl DelayNs) -> Result<i32, SensorError<I::Error>> {
        let [hi, lo] = ONE_SHOT.to_be_bytes();
        self.i2c
            .write(self.address, &[reg::CONFIGURATION, hi, lo])
            .map_err(SensorError::Bus)?;
        delay.delay_ms(CONVERSION_MS);
        self.temperature_mc()
    }

    /// The last conversion in m°C (7.8125 m°C per LSB).
    pub fn temperature_mc(&mut self) -> Result<i32, SensorError<I::Error>> {
        let raw = read(&mut self.i2c, self.address, reg::TEMP_RESULT)? as i16;
        Ok(i32::from(raw) * 78_125 / 10_000)
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

fn read<I: I2c>(i2c: &mut I, address: u8, register: u8) -> Result<u16, SensorError<I::Error>> {
    let mut b = [0u8; 2];
    i2c.write_read(address, &[register], &mut b)
        .map_err(SensorError::Bus)?;
    Ok(u16::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as D};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::vec;

    use super::*;

    #[test]
    fn one_shot_conversion() {
        let mut i2c = Mock::new(&[
            T::write_read(ADDRESS, vec![reg::DEVICE_ID], vec![0x01, 0x17]),
            T::write(ADDRESS, vec![reg::CONFIGURATION, 0x0C, 0x00]),
            // 25 °C = 3200 × 7.8125 m°C (datasheet Table 7-1).
            T::write_read(ADDRESS, vec![reg::TEMP_RESULT], vec![0x0C, 0x80]),
            // −25 °C.
            T::write_read(ADDRESS, vec![reg::TEMP_RESULT], vec![0xF3, 0x80]),
            // The smallest step.
            T::write_read(ADDRESS, vec![reg::TEMP_RESULT], vec![0x00, 0x01]),
        ]);
        let mut delay = CheckedDelay::new(&[D::delay_ms(16)]);
        let mut t = Tmp117::new(i2c.clone(), ADDRESS).unwrap();
        assert_eq!(t.measure_mc(&mut delay).unwrap(), 25_000);
        assert_eq!(t.temperature_mc().unwrap(), -25_000);
        assert_eq!(t.temperature_mc().unwrap(), 7);
        i2c.done();
        delay.done();
    }

    #[test]
    fn refuses_another_chip() {
        let mut i2c = Mock::new(&[T::write_read(
            ADDRESS,
            vec![reg::DEVICE_ID],
            vec![0x01, 0x19],
        )]);
        assert_eq!(
            Tmp117::new(i2c.clone(), ADDRESS).err(),
            Some(SensorError::WrongChip(0x119))
        );
        i2c.done();
    }
}
