//! Drivers for the board's chips, each a small struct over an `embedded-hal` 1.0 trait with
//! its registers named as in the maker's datasheet. Integer arithmetic only: values come out
//! in SPEC §3's units (mV, ‰, m°C, milli-g, 1e-7 degrees), with no floating point, so they
//! cost the same on a Cortex-M0 as on an M4F.

pub mod lis3dh;
pub mod max17048;
pub mod nmea;
pub mod seal;
pub mod tmp117;

/// What can go wrong talking to a chip on a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SensorError<E: core::fmt::Debug> {
    /// The bus failed (no acknowledge, arbitration lost, …).
    #[error("bus error: {0:?}")]
    Bus(E),
    /// The chip answered its identity register with another value: a different or missing
    /// part.
    #[error("unexpected chip identity {0:#06x}")]
    WrongChip(u16),
}

/// The pack's battery management system, which knows what a fuel gauge cannot: state of
/// health and charge cycles. A station reads it from the item under test (over CAN, SMBus or
/// a test fixture); the host simulator models it.
pub trait PackBms {
    /// The transport's error.
    type Error: core::fmt::Debug;

    /// State of health in per mille of the rated capacity, and completed charge cycles.
    fn health(&mut self) -> Result<PackHealth, Self::Error>;
}

/// What a [`PackBms`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackHealth {
    /// State of health, ‰.
    pub soh_permille: u16,
    /// Completed charge cycles.
    pub cycles: u32,
}

impl<T: PackBms> PackBms for &mut T {
    type Error = T::Error;
    fn health(&mut self) -> Result<PackHealth, Self::Error> {
        (**self).health()
    }
}
