//! The device registry: changes are log entries signed with the log's key (so an offline
//! verifier can check them with nothing but that key); the `devices` table is their current
//! state.

use provenance_event::DeviceId;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_event::registry::{Action, Record, Role};

use crate::store::on_pool;
use crate::{Appended, Ledger, LedgerError, now_ms};

/// A key holder as the registry knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device or operator ID.
    pub id: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org: String,
    /// The key in force.
    pub public_key: [u8; 32],
    /// Log index of the registration.
    pub registered_idx: u64,
    /// Log index of the entry that made the current key current.
    pub key_idx: u64,
    /// Log index of the revocation, if revoked.
    pub revoked_idx: Option<u64>,
    /// Flagged for equivocation (two different events with one seq).
    pub suspect: bool,
}

type DeviceRow = (String, String, String, Vec<u8>, i64, i64, Option<i64>, i64);

fn to_info(r: DeviceRow) -> Result<DeviceInfo, LedgerError> {
    let (id, role, org, key, reg, key_idx, revoked, suspect) = r;
    Ok(DeviceInfo {
        role: Role::from_name(&role)
            .ok_or_else(|| LedgerError::Corrupt(format!("device {id} has role {role:?}")))?,
        public_key: key
            .try_into()
            .map_err(|_| LedgerError::Corrupt(format!("device {id} key length")))?,
        id,
        org,
        registered_idx: reg as u64,
        key_idx: key_idx as u64,
        revoked_idx: revoked.map(|r| r as u64),
        suspect: suspect != 0,
    })
}

const DEVICE_COLUMNS: &str =
    "id, role, org, public_key, registered_idx, key_idx, revoked_idx, suspect";

fn checked_key(key: [u8; 32]) -> Result<(), LedgerError> {
    match VerifyingKey::from_bytes(&key) {
        Ok(k) if !k.is_weak() => Ok(()),
        _ => Err(LedgerError::Registry(
            "the public key is not a usable Ed25519 key (not a curve point, or of small order)"
                .into(),
        )),
    }
}

impl Ledger {
    async fn append_record(&self, record: Record<'_>) -> Result<Appended, LedgerError> {
        let mut buf = vec![0u8; 1024];
        let n = record
            .sign(self.signer.ed25519(), self.signer.name(), &mut buf)
            .map_err(|e| LedgerError::Registry(format!("cannot encode the registry entry: {e}")))?;
        buf.truncate(n);
        self.append(&[buf]).await
    }

    /// Registers a key holder. IDs are never reused, even after revocation.
    pub async fn register(
        &self,
        id: &DeviceId,
        role: Role,
        org: &str,
        public_key: [u8; 32],
    ) -> Result<Appended, LedgerError> {
        checked_key(public_key)?;
        if self.device(id.as_str()).await?.is_some() {
            return Err(LedgerError::Registry(format!(
                "{id} is already registered; to change its key use `provenance device rotate`"
            )));
        }
        self.append_record(Record {
            time: now_ms(),
            device: id.clone(),
            action: Action::Registered {
                key: public_key,
                role,
                org,
            },
        })
        .await
    }

    /// Replaces a holder's key from the new entry on.
    pub async fn rotate_key(
        &self,
        id: &DeviceId,
        public_key: [u8; 32],
    ) -> Result<Appended, LedgerError> {
        checked_key(public_key)?;
        let d = self.active(id).await?;
        if d.public_key == public_key {
            return Err(LedgerError::Registry(format!("{id} already has this key")));
        }
        self.append_record(Record {
            time: now_ms(),
            device: id.clone(),
            action: Action::KeyRotated { key: public_key },
        })
        .await
    }

    /// Revokes a holder: no event of it is accepted after this entry.
    pub async fn revoke(
        &self,
        id: &DeviceId,
        reason: Option<&str>,
    ) -> Result<Appended, LedgerError> {
        self.active(id).await?;
        self.append_record(Record {
            time: now_ms(),
            device: id.clone(),
            action: Action::Revoked { reason },
        })
        .await
    }

    async fn active(&self, id: &DeviceId) -> Result<DeviceInfo, LedgerError> {
        match self.device(id.as_str()).await? {
            None => Err(LedgerError::Registry(format!(
                "{id} is not registered; see `provenance device list`"
            ))),
            Some(d) if d.revoked_idx.is_some() => {
                Err(LedgerError::Registry(format!("{id} is revoked")))
            }
            Some(d) => Ok(d),
        }
    }

    /// Every key holder, by ID.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, LedgerError> {
        let rows: Vec<DeviceRow> = on_pool!(&self.store, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id")))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(to_info).collect()
    }

    /// One key holder.
    pub async fn device(&self, id: &str) -> Result<Option<DeviceInfo>, LedgerError> {
        let row: Option<DeviceRow> = on_pool!(&self.store, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1")))
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        row.map(to_info).transpose()
    }

    /// Every key a holder has had, with the index of the entry that made it current.
    pub async fn device_keys(&self, id: &str) -> Result<Vec<(u64, [u8; 32])>, LedgerError> {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(&self.store, p => {
            sqlx::query_as("SELECT idx, public_key FROM device_keys WHERE device = $1 ORDER BY idx")
                .bind(id)
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(i, k)| {
                Ok((
                    i as u64,
                    k.try_into()
                        .map_err(|_| LedgerError::Corrupt("key length".into()))?,
                ))
            })
            .collect()
    }

    /// Marks a holder as suspect (it signed two different events with one seq).
    pub async fn flag_suspect(&self, id: &str) -> Result<(), LedgerError> {
        on_pool!(&self.store, p => {
            sqlx::query("UPDATE devices SET suspect = 1 WHERE id = $1").bind(id).execute(p).await?;
        });
        Ok(())
    }

    /// Stores the hash of a device's MQTT password (never the password).
    pub async fn set_mqtt_password_hash(&self, id: &str, hash: &str) -> Result<(), LedgerError> {
        on_pool!(&self.store, p => {
            sqlx::query("UPDATE devices SET mqtt_password_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(hash)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The stored hash of a device's MQTT password.
    pub async fn mqtt_password_hash(&self, id: &str) -> Result<Option<String>, LedgerError> {
        let h: Option<Option<String>> = on_pool!(&self.store, p => {
            sqlx::query_scalar("SELECT mqtt_password_hash FROM devices WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(h.flatten())
    }
}
