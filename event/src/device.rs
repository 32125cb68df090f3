//! Device IDs (SPEC §3): 1–64 characters of `[a-z0-9._-]`, assigned at provisioning.

use core::fmt;

/// The longest device ID.
pub const DEVICE_ID_MAX: usize = 64;

/// A syntactically valid device ID. It says nothing about registration.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(heapless::String<DEVICE_ID_MAX>);

/// Why a string is not a device ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    /// The empty string.
    #[error("a device ID cannot be empty; use 1 to 64 characters of a-z 0-9 . _ -")]
    Empty,
    /// More than 64 characters.
    #[error("a device ID has at most 64 characters, this one has {0}")]
    TooLong(usize),
    /// A character outside `[a-z0-9._-]`.
    #[error(
        "a device ID may only hold a-z 0-9 . _ - (lower case); character {position} is {found:?}"
    )]
    BadChar {
        /// Byte offset of the offending character.
        position: usize,
        /// The character found there.
        found: char,
    },
}

/// Checks `s` against the device ID grammar without building anything.
pub fn check_device_id(s: &str) -> Result<(), DeviceIdError> {
    if s.is_empty() {
        return Err(DeviceIdError::Empty);
    }
    if s.len() > DEVICE_ID_MAX {
        return Err(DeviceIdError::TooLong(s.chars().count()));
    }
    for (position, found) in s.char_indices() {
        if !matches!(found, 'a'..='z' | '0'..='9' | '.' | '_' | '-') {
            return Err(DeviceIdError::BadChar { position, found });
        }
    }
    Ok(())
}

impl DeviceId {
    /// Parses a device ID.
    pub fn new(s: &str) -> Result<Self, DeviceIdError> {
        check_device_id(s)?;
        let mut out = heapless::String::new();
        // Cannot fail: the length was checked above.
        out.push_str(s)
            .map_err(|_| DeviceIdError::TooLong(s.len()))?;
        Ok(Self(out))
    }

    /// Parses a device ID from raw bytes, such as a COSE `kid`.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DeviceIdError> {
        match core::str::from_utf8(b) {
            Ok(s) => Self::new(s),
            Err(e) => {
                let position = e.valid_up_to();
                Err(DeviceIdError::BadChar {
                    position,
                    found: char::REPLACEMENT_CHARACTER,
                })
            }
        }
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::str::FromStr for DeviceId {
    type Err = DeviceIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({:?})", self.0.as_str())
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert!(DeviceId::new("station-7.line_2").is_ok());
        assert!(DeviceId::new(&"a".repeat(64)).is_ok());
        assert_eq!(DeviceId::new(""), Err(DeviceIdError::Empty));
        assert_eq!(
            DeviceId::new(&"a".repeat(65)),
            Err(DeviceIdError::TooLong(65))
        );
        assert_eq!(
            DeviceId::new("Station"),
            Err(DeviceIdError::BadChar {
                position: 0,
                found: 'S'
            })
        );
        assert!(DeviceId::from_bytes(&[0xff]).is_err());
    }
}
