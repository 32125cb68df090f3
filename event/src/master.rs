//! A battery's master data (payload key 13, `master`): what the EU battery passport's static
//! fields need and no other field of SPEC §3 can say — category, chemistry, rated capacity,
//! voltages, mass, carbon footprint, expected cycles. Carried only by a `commissioned` event,
//! signed by whoever commissions the battery, so each value is the maker's signed statement.
//!
//! The map, its keys and units are specified in `docs/PASSPORT.md`; this module is that table
//! in code. Every value has a range a real battery can have, so nothing in it can make a
//! reader allocate or compute more than the map's own size.

use core::fmt;

use heapless::String;

use crate::cbor::{CborError, Reader, SliceEncoder};

/// The longest chemistry text (`NMC811`, `LFP`, `LMFP`, `Na-ion` …).
pub const CHEMISTRY_MAX: usize = 32;

/// The regulation's battery categories (2023/1542 Art. 3), as the Battery Pass data model
/// names them (`batteryCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Light means of transport (e-bikes, scooters).
    Lmt,
    /// Electric vehicle.
    Ev,
    /// Industrial.
    Industrial,
    /// Stationary energy storage (an industrial battery the model names apart).
    Stationary,
}

impl Category {
    /// Every category, in the order of the table.
    pub const ALL: [Category; 4] = [
        Category::Lmt,
        Category::Ev,
        Category::Industrial,
        Category::Stationary,
    ];

    /// The name on the wire and in the Battery Pass data model.
    pub const fn name(self) -> &'static str {
        match self {
            Category::Lmt => "lmt",
            Category::Ev => "ev",
            Category::Industrial => "industrial",
            Category::Stationary => "stationary",
        }
    }

    /// The category with this name.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A battery's master data. Every field is optional: a maker states what it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Master {
    /// Key 1: the category.
    pub category: Option<Category>,
    /// Key 2: the chemistry, 1 to 32 printable characters.
    pub chemistry: Option<String<CHEMISTRY_MAX>>,
    /// Key 3: rated capacity, mAh.
    pub rated_capacity_mah: Option<u32>,
    /// Key 4: nominal voltage, mV.
    pub nominal_voltage_mv: Option<u32>,
    /// Key 5: minimum voltage, mV.
    pub minimum_voltage_mv: Option<u32>,
    /// Key 6: maximum voltage, mV.
    pub maximum_voltage_mv: Option<u32>,
    /// Key 7: mass, g.
    pub mass_g: Option<u32>,
    /// Key 8: carbon footprint, g CO₂-equivalent per kWh of total energy over the life cycle.
    pub carbon_footprint_g_per_kwh: Option<u32>,
    /// Key 9: carbon footprint performance class, `A` (best) to `E`.
    pub carbon_class: Option<char>,
    /// Key 10: expected lifetime in full charge-discharge cycles.
    pub expected_cycles: Option<u32>,
}

/// What is wrong with a `master` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MasterError {
    /// Not a CBOR map, or an entry of the wrong CBOR type.
    #[error("master: {0}")]
    Cbor(#[from] CborError),
    /// An empty map.
    #[error("master must not be empty when present")]
    Empty,
    /// A key the table does not have.
    #[error("unknown master key {0} (keys are 1 to 10, see docs/PASSPORT.md)")]
    UnknownKey(u64),
    /// A category that is not one of the four.
    #[error("master category must be lmt, ev, industrial or stationary")]
    Category,
    /// An empty, overlong or non-printable chemistry.
    #[error("master chemistry must be 1 to 32 printable characters, e.g. NMC811 or LFP")]
    Chemistry,
    /// A class other than A to E.
    #[error("master carbon class must be one letter from A to E")]
    CarbonClass,
    /// A number outside what a real battery can have.
    #[error("master {name} must be {min} to {max} {unit}")]
    OutOfRange {
        /// The field.
        name: &'static str,
        /// Its unit.
        unit: &'static str,
        /// Smallest value.
        min: u32,
        /// Largest value.
        max: u32,
    },
    /// Master data on an event that is not `commissioned`.
    #[error("master data belongs on a commissioned event only")]
    NotCommissioned,
    /// A field name [`Master::set`] does not know.
    #[error(
        "unknown master field: give one of category, chemistry, rated_capacity_mah, \
         nominal_voltage_mv, minimum_voltage_mv, maximum_voltage_mv, mass_g, \
         carbon_footprint_g_per_kwh, carbon_class, expected_cycles"
    )]
    UnknownField,
}

/// The fields by name (as `provenance sign --master NAME=VALUE` and docs/PASSPORT.md write
/// them) and their keys.
pub const FIELDS: [(&str, u64); 10] = [
    ("category", 1),
    ("chemistry", 2),
    ("rated_capacity_mah", 3),
    ("nominal_voltage_mv", 4),
    ("minimum_voltage_mv", 5),
    ("maximum_voltage_mv", 6),
    ("mass_g", 7),
    ("carbon_footprint_g_per_kwh", 8),
    ("carbon_class", 9),
    ("expected_cycles", 10),
];

/// The numeric keys: (key, name, unit, range).
const NUMBERS: [(u64, &str, &str, u32, u32); 7] = [
    (3, "rated capacity", "mAh", 1, 1_000_000_000),
    (4, "nominal voltage", "mV", 1, 2_000_000),
    (5, "minimum voltage", "mV", 1, 2_000_000),
    (6, "maximum voltage", "mV", 1, 2_000_000),
    (7, "mass", "g", 1, 100_000_000),
    (8, "carbon footprint", "g CO2e/kWh", 0, 100_000_000),
    (10, "expected cycles", "cycles", 1, 1_000_000),
];

/// A field's value as the wire or a command line gives it, before its rule is applied.
enum Given<'a> {
    Text(&'a str),
    Number(u64),
}

/// Whether `key` holds text (category, chemistry, class) rather than a number.
const fn is_text(key: u64) -> bool {
    matches!(key, 1 | 2 | 9)
}

impl Master {
    /// Sets the field `name` (see [`FIELDS`]) from its text, with the rules decoding applies.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), MasterError> {
        let key = FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or(MasterError::UnknownField)?
            .1;
        let given = if is_text(key) {
            Given::Text(value)
        } else {
            // Not a number at all: the range error says what is.
            Given::Number(value.trim().parse::<u64>().unwrap_or(u64::MAX))
        };
        self.put(key, given)
    }

    /// The one place each field's rule is applied, for the wire and for [`Master::set`].
    fn put(&mut self, key: u64, given: Given<'_>) -> Result<(), MasterError> {
        match (key, given) {
            (1, Given::Text(s)) => {
                self.category = Some(Category::from_name(s).ok_or(MasterError::Category)?);
            }
            (2, Given::Text(s)) => {
                let printable =
                    !s.is_empty() && s.chars().all(|c| !c.is_control()) && s.trim() == s;
                self.chemistry = Some(
                    String::try_from(s)
                        .ok()
                        .filter(|_| printable)
                        .ok_or(MasterError::Chemistry)?,
                );
            }
            (9, Given::Text(s)) => {
                let mut cs = s.chars();
                self.carbon_class = match (cs.next(), cs.next()) {
                    (Some(c @ 'A'..='E'), None) => Some(c),
                    _ => return Err(MasterError::CarbonClass),
                };
            }
            (key, Given::Number(v)) => {
                let &(_, name, unit, min, max) = NUMBERS
                    .iter()
                    .find(|n| n.0 == key)
                    .ok_or(MasterError::UnknownKey(key))?;
                let v = u32::try_from(v)
                    .ok()
                    .filter(|v| (min..=max).contains(v))
                    .ok_or(MasterError::OutOfRange {
                        name,
                        unit,
                        min,
                        max,
                    })?;
                let slot = match key {
                    3 => &mut self.rated_capacity_mah,
                    4 => &mut self.nominal_voltage_mv,
                    5 => &mut self.minimum_voltage_mv,
                    6 => &mut self.maximum_voltage_mv,
                    7 => &mut self.mass_g,
                    8 => &mut self.carbon_footprint_g_per_kwh,
                    _ => &mut self.expected_cycles,
                };
                *slot = Some(v);
            }
            (key, Given::Text(_)) => return Err(MasterError::UnknownKey(key)),
        }
        Ok(())
    }

    /// Whether nothing is stated.
    pub fn is_empty(&self) -> bool {
        *self == Master::default()
    }

    fn numbers(&self) -> [(u64, Option<u32>); 7] {
        [
            (3, self.rated_capacity_mah),
            (4, self.nominal_voltage_mv),
            (5, self.minimum_voltage_mv),
            (6, self.maximum_voltage_mv),
            (7, self.mass_g),
            (8, self.carbon_footprint_g_per_kwh),
            (10, self.expected_cycles),
        ]
    }

    fn len(&self) -> u64 {
        u64::from(self.category.is_some())
            + u64::from(self.chemistry.is_some())
            + u64::from(self.carbon_class.is_some())
            + self.numbers().iter().filter(|(_, v)| v.is_some()).count() as u64
    }

    /// Reads the map at `r`'s position.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MasterError> {
        let n = r.map()?;
        if n == 0 {
            return Err(MasterError::Empty);
        }
        let mut m = Master::default();
        let mut last = None;
        for _ in 0..n {
            let key = r.key_after(last)?;
            last = Some(key);
            if !(1..=10).contains(&key) {
                return Err(MasterError::UnknownKey(key));
            }
            let given = if is_text(key) {
                Given::Text(r.str()?)
            } else {
                Given::Number(r.u64()?)
            };
            m.put(key, given)?;
        }
        Ok(m)
    }

    /// Writes the map, keys in ascending order.
    pub(crate) fn encode(
        &self,
        e: &mut SliceEncoder<'_>,
    ) -> Result<(), minicbor::encode::Error<minicbor::encode::write::EndOfSlice>> {
        e.map(self.len())?;
        if let Some(c) = self.category {
            e.u8(1)?.str(c.name())?;
        }
        if let Some(c) = &self.chemistry {
            e.u8(2)?.str(c)?;
        }
        let numbers = self.numbers();
        for (key, v) in numbers.iter().filter(|(k, _)| *k < 9) {
            if let Some(v) = v {
                e.u64(*key)?.u32(*v)?;
            }
        }
        if let Some(c) = self.carbon_class {
            let mut buf = [0u8; 4];
            e.u8(9)?.str(c.encode_utf8(&mut buf))?;
        }
        for (key, v) in numbers.iter().filter(|(k, _)| *k > 9) {
            if let Some(v) = v {
                e.u64(*key)?.u32(*v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Draft, Epc, Event, EventError, Kind};

    fn cell() -> [Epc; 1] {
        [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").unwrap()]
    }

    fn sample() -> Master {
        Master {
            category: Some(Category::Ev),
            chemistry: Some(String::try_from("NMC811").unwrap()),
            rated_capacity_mah: Some(5_000),
            nominal_voltage_mv: Some(3_600),
            minimum_voltage_mv: Some(2_500),
            maximum_voltage_mv: Some(4_200),
            mass_g: Some(70),
            carbon_footprint_g_per_kwh: Some(61_500),
            carbon_class: Some('B'),
            expected_cycles: Some(1_500),
        }
    }

    fn encode(kind: Kind, m: &Master) -> Result<heapless::Vec<u8, 1024>, EventError> {
        let items = cell();
        let mut d = Draft::new(1, [0; 32], 1_700_000_000_000, kind, &items);
        d.master = Some(m);
        let mut buf = [0u8; 1024];
        let n = d.encode(&mut buf).map_err(|e| match e {
            crate::EncodeError::Invalid(e) => e,
            other => panic!("{other}"),
        })?;
        Ok(heapless::Vec::from_slice(&buf[..n]).unwrap())
    }

    #[test]
    fn round_trips_every_field() {
        let m = sample();
        let bytes = encode(Kind::Commissioned, &m).unwrap();
        let e = Event::decode(&bytes).unwrap();
        assert_eq!(e.master, Some(m));
        let one = Master {
            carbon_class: Some('A'),
            ..Master::default()
        };
        let bytes = encode(Kind::Commissioned, &one).unwrap();
        assert_eq!(Event::decode(&bytes).unwrap().master, Some(one));
    }

    #[test]
    fn set_by_name_follows_the_decoding_rules() {
        let mut m = Master::default();
        for (name, value) in [
            ("category", "ev"),
            ("chemistry", "NMC811"),
            ("rated_capacity_mah", "5000"),
            ("nominal_voltage_mv", "3600"),
            ("minimum_voltage_mv", "2500"),
            ("maximum_voltage_mv", "4200"),
            ("mass_g", "70"),
            ("carbon_footprint_g_per_kwh", "61500"),
            ("carbon_class", "B"),
            ("expected_cycles", "1500"),
        ] {
            m.set(name, value).unwrap();
        }
        assert_eq!(m, sample());
        assert_eq!(m.set("colour", "red"), Err(MasterError::UnknownField));
        assert!(matches!(
            m.set("mass_g", "0"),
            Err(MasterError::OutOfRange { .. })
        ));
        assert_eq!(m.set("carbon_class", "AA"), Err(MasterError::CarbonClass));
    }

    #[test]
    fn belongs_on_commissioned_only() {
        assert_eq!(
            encode(Kind::Arrived, &sample()).unwrap_err(),
            EventError::Master(MasterError::NotCommissioned)
        );
    }

    #[test]
    fn refuses_what_no_battery_has() {
        let zero = Master {
            rated_capacity_mah: Some(0),
            ..Master::default()
        };
        assert!(matches!(
            encode(Kind::Commissioned, &zero),
            Err(EventError::Master(MasterError::OutOfRange {
                name: "rated capacity",
                ..
            }))
        ));
        let class = Master {
            carbon_class: Some('F'),
            ..Master::default()
        };
        assert_eq!(
            encode(Kind::Commissioned, &class).unwrap_err(),
            EventError::Master(MasterError::CarbonClass)
        );
        assert_eq!(
            encode(Kind::Commissioned, &Master::default()).unwrap_err(),
            EventError::Master(MasterError::Empty)
        );
    }

    #[test]
    fn refuses_unknown_keys_and_bad_text() {
        // {13: {11: 1}} spliced by hand: the encoder cannot write an unknown key.
        let base = encode(Kind::Commissioned, &sample()).unwrap();
        let e = Event::decode(&base).unwrap();
        assert!(e.master.is_some());
        let mut r = Reader::new(&[0xa1, 0x0b, 0x01]);
        assert_eq!(Master::decode(&mut r), Err(MasterError::UnknownKey(11)));
        let mut r = Reader::new(&[0xa1, 0x02, 0x61, 0x0a]);
        assert_eq!(Master::decode(&mut r), Err(MasterError::Chemistry));
        let mut r = Reader::new(&[0xa1, 0x01, 0x62, b'u', b'p']);
        assert_eq!(Master::decode(&mut r), Err(MasterError::Category));
    }
}
