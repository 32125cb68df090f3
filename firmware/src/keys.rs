//! Where the board's Ed25519 key comes from.
//!
//! The key is provisioned once (the public half is registered with `POST /api/v1/devices`)
//! and never leaves the board. [`KeyStore`] lends it for one signature at a time, so an
//! implementation can keep it in a protected flash page, in an MCU's key storage, or unwrap
//! it from a secure element for the duration of the call.

use ed25519_dalek::SigningKey;
use embedded_storage::nor_flash::NorFlash;

use crate::flash::{FlashError, crc32, dev};

/// The source of the device key.
pub trait KeyStore {
    /// Why the key is not available.
    type Error: core::fmt::Debug;

    /// Calls `f` with the key.
    fn with_key<R>(&mut self, f: impl FnOnce(&SigningKey) -> R) -> Result<R, Self::Error>;
}

/// A key held in RAM (loaded at boot by [`load_key`], or given by the simulator).
pub struct StaticKey(SigningKey);

impl StaticKey {
    /// Holds `key`.
    pub fn new(key: SigningKey) -> Self {
        Self(key)
    }

    /// The public key to register.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.0.verifying_key()
    }
}

impl KeyStore for StaticKey {
    type Error = core::convert::Infallible;

    fn with_key<R>(&mut self, f: impl FnOnce(&SigningKey) -> R) -> Result<R, Self::Error> {
        Ok(f(&self.0))
    }
}

/// Bytes of a key record in flash: `"PK01" | seed (32) | crc32 | 0xFF × 24`.
pub const KEY_RECORD: usize = 64;
const KEY_MAGIC: &[u8; 4] = b"PK01";

/// Why no key could be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The flash failed.
    #[error(transparent)]
    Flash(#[from] FlashError),
    /// No complete key record at that offset: the board is not provisioned.
    #[error("no device key provisioned")]
    NotProvisioned,
}

/// Writes the key record at `offset` (in an erased, sector-aligned page of its own).
pub fn provision_key<F: NorFlash>(
    flash: &mut F,
    offset: u32,
    seed: &[u8; 32],
) -> Result<(), KeyError> {
    let erase = F::ERASE_SIZE as u32;
    flash.erase(offset, offset + erase).map_err(dev)?;
    let mut record = [0xFFu8; KEY_RECORD];
    record[..4].copy_from_slice(KEY_MAGIC);
    record[4..36].copy_from_slice(seed);
    let crc = crc32(&record[..36]);
    record[36..40].copy_from_slice(&crc.to_le_bytes());
    flash.write(offset, &record).map_err(dev)?;
    Ok(())
}

/// Reads the key record at `offset`.
pub fn load_key<F: NorFlash>(flash: &mut F, offset: u32) -> Result<SigningKey, KeyError> {
    let mut record = [0u8; KEY_RECORD];
    flash.read(offset, &mut record).map_err(dev)?;
    if &record[..4] != KEY_MAGIC || record[36..40] != crc32(&record[..36]).to_le_bytes() {
        return Err(KeyError::NotProvisioned);
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&record[4..36]);
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RamFlash;

    #[test]
    fn provision_then_load() {
        let mut flash = RamFlash::<8192>::new();
        assert_eq!(
            load_key(&mut flash, 4096).err(),
            Some(KeyError::NotProvisioned)
        );
        provision_key(&mut flash, 4096, &[9; 32]).unwrap();
        let key = load_key(&mut flash, 4096).unwrap();
        assert_eq!(key.to_bytes(), [9; 32]);
        let mut store = StaticKey::new(key);
        let public = store.verifying_key();
        assert_eq!(store.with_key(|k| k.verifying_key()).unwrap(), public);
    }
}
