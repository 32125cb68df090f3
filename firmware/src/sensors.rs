//! The sensors of each role, read into a [`Sample`] for the policy. A read that fails leaves
//! its value out of the sample and is counted; it never stops the board.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_hal::i2c::I2c;
use embedded_io::{Read, ReadReady};

use crate::drivers::PackBms;
use crate::drivers::lis3dh::Lis3dh;
use crate::drivers::max17048::Max17048;
use crate::drivers::nmea::{Gnss, NmeaReader};
use crate::drivers::seal::SealLoop;
use crate::drivers::tmp117::Tmp117;
use crate::policy::Sample;

/// A board's sensors.
pub trait Sensors {
    /// Work for every poll, between samples (draining the GNSS UART and the accelerometer
    /// FIFO, so that nothing is missed).
    fn service(&mut self, _now_ms: u64) {}

    /// Reads everything fitted.
    fn sample(&mut self, now_ms: u64) -> Sample;

    /// Sensor reads that failed since start.
    fn errors(&self) -> u64 {
        0
    }
}

fn counted<T, E>(errors: &mut u64, r: Result<T, E>) -> Option<T> {
    r.map_err(|_| *errors += 1).ok()
}

/// A plant station: the fuel gauge and the BMS of the item on the test fixture, and a
/// temperature sensor on the fixture. Each chip may sit on its own bus or share one through
/// `embedded-hal-bus`.
pub struct StationSensors<G, T, B, D> {
    gauge: Max17048<G>,
    thermometer: Tmp117<T>,
    bms: B,
    delay: D,
    errors: u64,
}

impl<G: I2c, T: I2c, B: PackBms, D: DelayNs> StationSensors<G, T, B, D> {
    /// The station's sensors.
    pub fn new(gauge: Max17048<G>, thermometer: Tmp117<T>, bms: B, delay: D) -> Self {
        Self {
            gauge,
            thermometer,
            bms,
            delay,
            errors: 0,
        }
    }
}

impl<G, T, B, D> StationSensors<G, T, B, D> {
    /// The fuel gauge.
    pub fn gauge_mut(&mut self) -> &mut Max17048<G> {
        &mut self.gauge
    }

    /// The temperature sensor.
    pub fn thermometer_mut(&mut self) -> &mut Tmp117<T> {
        &mut self.thermometer
    }

    /// The BMS of the item on the fixture.
    pub fn bms_mut(&mut self) -> &mut B {
        &mut self.bms
    }
}

impl<G: I2c, T: I2c, B: PackBms, D: DelayNs> Sensors for StationSensors<G, T, B, D> {
    fn sample(&mut self, _now_ms: u64) -> Sample {
        let e = &mut self.errors;
        let health = counted(e, self.bms.health());
        Sample {
            voltage_mv: counted(e, self.gauge.voltage_mv()),
            soc_permille: counted(e, self.gauge.soc_permille()),
            soh_permille: health.map(|h| h.soh_permille),
            cycles: health.map(|h| h.cycles),
            temperature_mc: counted(e, self.thermometer.measure_mc(&mut self.delay)),
            ..Sample::default()
        }
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

/// A shipment tracker: temperature, accelerometer, GNSS and the seal loop.
pub struct TrackerSensors<T, A, U, P, D> {
    thermometer: Tmp117<T>,
    accelerometer: Lis3dh<A>,
    gnss_uart: NmeaReader<U>,
    gnss: Gnss,
    seal: SealLoop<P>,
    delay: D,
    peak_mg: Option<u32>,
    max_fix_age_ms: u64,
    errors: u64,
}

impl<T: I2c, A: I2c, U: Read + ReadReady, P: InputPin, D: DelayNs> TrackerSensors<T, A, U, P, D> {
    /// The tracker's sensors; a GNSS position older than `max_fix_age_ms` is not used.
    pub fn new(
        thermometer: Tmp117<T>,
        accelerometer: Lis3dh<A>,
        gnss_uart: NmeaReader<U>,
        seal: SealLoop<P>,
        delay: D,
        max_fix_age_ms: u64,
    ) -> Self {
        Self {
            thermometer,
            accelerometer,
            gnss_uart,
            gnss: Gnss::default(),
            seal,
            delay,
            peak_mg: None,
            max_fix_age_ms,
            errors: 0,
        }
    }

    /// The newest GNSS state (UTC for the board's clock, satellites).
    pub fn gnss(&self) -> &Gnss {
        &self.gnss
    }

    /// The GNSS UART (the simulator pushes NMEA sentences into it).
    pub fn gnss_uart_mut(&mut self) -> &mut NmeaReader<U> {
        &mut self.gnss_uart
    }

    /// The temperature sensor.
    pub fn thermometer_mut(&mut self) -> &mut Tmp117<T> {
        &mut self.thermometer
    }

    /// The accelerometer.
    pub fn accelerometer_mut(&mut self) -> &mut Lis3dh<A> {
        &mut self.accelerometer
    }

    /// The seal loop.
    pub fn seal_mut(&mut self) -> &mut SealLoop<P> {
        &mut self.seal
    }
}

impl<U, T: I2c, A: I2c, P: InputPin, D: DelayNs> Sensors for TrackerSensors<T, A, U, P, D>
where
    U: Read + ReadReady,
{
    fn service(&mut self, now_ms: u64) {
        loop {
            match self.gnss_uart.poll() {
                Ok(Some(sentence)) => self.gnss.update(&sentence, now_ms),
                Ok(None) => break,
                Err(_) => {
                    self.errors += 1;
                    break;
                }
            }
        }
        if let Some(peak) = counted(&mut self.errors, self.accelerometer.peak_mg()).flatten() {
            self.peak_mg = Some(self.peak_mg.unwrap_or(0).max(peak));
        }
    }

    fn sample(&mut self, now_ms: u64) -> Sample {
        self.service(now_ms);
        let e = &mut self.errors;
        Sample {
            temperature_mc: counted(e, self.thermometer.measure_mc(&mut self.delay)),
            shock_mg: self.peak_mg.take(),
            seal_closed: counted(e, self.seal.poll()),
            position: self.gnss.fresh_position(now_ms, self.max_fix_age_ms),
            ..Sample::default()
        }
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}
