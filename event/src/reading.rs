//! Sensor readings (SPEC §3): which quantity each key carries, its unit, and the range a real
//! measurement can fall in. A value outside its range makes the event invalid.

use core::fmt;
use core::ops::RangeInclusive;

macro_rules! quantities {
    ($($(#[$doc:meta])* $variant:ident = $key:literal, $name:literal, $unit:literal, $range:expr;)*) => {
        /// A measured quantity: key of the `readings` map.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Quantity {
            $($(#[$doc])* $variant = $key,)*
        }

        impl Quantity {
            /// Every quantity, in key order.
            pub const ALL: &'static [Quantity] = &[$(Quantity::$variant,)*];

            /// The quantity with this key, if any.
            pub const fn from_key(key: u64) -> Option<Quantity> {
                match key {
                    $($key => Some(Quantity::$variant),)*
                    _ => None,
                }
            }

            /// The name used on command lines and in JSON (`voltage`, `temperature`, …).
            pub const fn name(self) -> &'static str {
                match self { $(Quantity::$variant => $name,)* }
            }

            /// The unit of the integer value (`mV`, `m°C`, …).
            pub const fn unit(self) -> &'static str {
                match self { $(Quantity::$variant => $unit,)* }
            }

            /// The values a real measurement can take.
            pub const fn range(self) -> RangeInclusive<i64> {
                match self { $(Quantity::$variant => $range,)* }
            }
        }
    };
}

quantities! {
    /// Voltage in millivolts: a cell (about 3,700 mV) up to a 1,500 V pack.
    Voltage = 1, "voltage", "mV", 0..=2_000_000;
    /// Current in milliamperes, negative while charging; up to ±2,000 A.
    Current = 2, "current", "mA", -2_000_000..=2_000_000;
    /// State of charge in per mille.
    StateOfCharge = 3, "soc", "‰", 0..=1_000;
    /// State of health in per mille.
    StateOfHealth = 4, "soh", "‰", 0..=1_000;
    /// Temperature in millidegrees Celsius: not below absolute zero, not above 1,000 °C
    /// (thermal runaway stays below that).
    Temperature = 5, "temperature", "m°C", -273_150..=1_000_000;
    /// Charge cycles counted by the battery management system.
    ChargeCycles = 6, "cycles", "cycles", 0..=1_000_000;
    /// Relative humidity in per mille.
    Humidity = 7, "humidity", "‰", 0..=1_000;
    /// Peak shock in milli-g, up to 1,000 g.
    Shock = 8, "shock", "milli-g", 0..=1_000_000;
    /// Seal loop closed (1) or open (0).
    SealClosed = 9, "seal", "1/0", 0..=1;
}

impl Quantity {
    /// The key in the `readings` map.
    pub const fn key(self) -> u8 {
        self as u8
    }

    /// The quantity with this name, or `None`.
    pub fn from_name(name: &str) -> Option<Quantity> {
        Quantity::ALL
            .iter()
            .copied()
            .find(|q| q.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of readings, at most one per quantity. Fixed size: no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Readings {
    values: [Option<i64>; 9],
}

/// A reading outside the range of its quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{quantity} reading {value} {unit} is outside {min}..={max}", unit = quantity.unit(), min = quantity.range().start(), max = quantity.range().end())]
pub struct OutOfRange {
    /// The quantity.
    pub quantity: Quantity,
    /// The value given.
    pub value: i64,
}

impl Readings {
    /// No readings.
    pub const fn new() -> Self {
        Self { values: [None; 9] }
    }

    /// Sets a reading after checking its range.
    pub fn set(&mut self, quantity: Quantity, value: i64) -> Result<(), OutOfRange> {
        if !quantity.range().contains(&value) {
            return Err(OutOfRange { quantity, value });
        }
        self.values[usize::from(quantity.key()) - 1] = Some(value);
        Ok(())
    }

    /// The reading of `quantity`, if present.
    pub fn get(&self, quantity: Quantity) -> Option<i64> {
        self.values[usize::from(quantity.key()) - 1]
    }

    /// Whether there are no readings.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// How many readings are present.
    pub fn len(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }

    /// The readings present, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Quantity, i64)> + '_ {
        Quantity::ALL
            .iter()
            .zip(self.values.iter())
            .filter_map(|(q, v)| v.map(|v| (*q, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut r = Readings::new();
        assert!(r.set(Quantity::Temperature, -273_151).is_err());
        assert!(r.set(Quantity::SealClosed, 2).is_err());
        r.set(Quantity::Temperature, 21_500).unwrap();
        r.set(Quantity::Voltage, 3_700).unwrap();
        let got: heapless::Vec<(Quantity, i64), 9> = r.iter().collect();
        assert_eq!(
            got.as_slice(),
            &[(Quantity::Voltage, 3_700), (Quantity::Temperature, 21_500)]
        );
        for (i, q) in Quantity::ALL.iter().enumerate() {
            assert_eq!(usize::from(q.key()), i + 1);
            assert_eq!(Quantity::from_name(q.name()), Some(*q));
        }
    }
}
