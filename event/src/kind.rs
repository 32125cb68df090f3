//! Event kinds (SPEC §3's table).

use core::fmt;

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $n:literal, $name:literal;)*) => {
        /// What happened, as one of SPEC §3's fifteen kinds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Kind {
            $($(#[$doc])* $variant = $n,)*
        }

        impl Kind {
            /// Every kind, in code order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The kind with this code, if any.
            pub const fn from_code(code: u64) -> Option<Kind> {
                match code {
                    $($n => Some(Kind::$variant),)*
                    _ => None,
                }
            }

            /// The kind's name in SPEC §3 (`commissioned`, `seal_broken`, …).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }
        }
    };
}

kinds! {
    /// A cell, module, pack or container comes into existence.
    Commissioned = 1, "commissioned";
    /// Items put into a parent (aggregation added).
    Packed = 2, "packed";
    /// Items taken out of a parent (aggregation deleted).
    Unpacked = 3, "unpacked";
    /// A sensor measurement.
    Measured = 4, "measured";
    /// A shipment leaves.
    Departed = 5, "departed";
    /// A position fix in transit.
    Located = 6, "located";
    /// A condition outside its limits (temperature, shock, humidity).
    Excursion = 7, "excursion";
    /// A seal is applied.
    Sealed = 8, "sealed";
    /// A seal is found broken.
    SealBroken = 9, "seal_broken";
    /// A shipment arrives.
    Arrived = 10, "arrived";
    /// Custody passes to `party`.
    HandedOver = 11, "handed_over";
    /// Inspected (customs or third party).
    Inspected = 12, "inspected";
    /// Held (customs).
    Held = 13, "held";
    /// Cleared: customs release.
    Cleared = 14, "cleared";
    /// Taken out of use.
    Decommissioned = 15, "decommissioned";
}

impl Kind {
    /// The numeric code (key 5 of the payload).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with this name, accepting `-` for `_` and any case, as people type it.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| {
            let n = k.name();
            n.len() == name.len()
                && n.bytes()
                    .zip(name.bytes())
                    .all(|(a, b)| a == b.to_ascii_lowercase() || (a == b'_' && b == b'-'))
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names() {
        assert_eq!(Kind::ALL.len(), 15);
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(usize::from(k.code()), i + 1);
            assert_eq!(Kind::from_code(u64::from(k.code())), Some(*k));
            assert_eq!(Kind::from_name(k.name()), Some(*k));
        }
        assert_eq!(Kind::from_name("Seal-Broken"), Some(Kind::SealBroken));
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(16), None);
    }
}
