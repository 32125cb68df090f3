//! Administration shared by the HTTP and gRPC surfaces. Registry changes: each is a log entry
//! signed by the log key (through the ledger), then the ingest's registry cache is reloaded so
//! the next message is judged by the new state; registration also issues the device's MQTT
//! password, of which only the hash is kept. Read grants (issue #14): checked as
//! `provenance-access` says, their token shown once and kept as a hash.

use std::sync::Arc;

use provenance_event::DeviceId;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_event::registry::{Role, TEXT_MAX};
use provenance_ledger::registry::DeviceInfo;
use provenance_ledger::{Ledger, LedgerError};

use crate::secrets;
use crate::service::Ingest;

/// Why an administrative change failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request was wrong; the message says what to send instead.
    #[error("{0}")]
    Invalid(String),
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The operating system gave no randomness for the password.
    #[error("no randomness for a secret (MQTT password or read token): {0}")]
    Randomness(String),
}

/// A registration's answer.
#[derive(Debug)]
pub struct Registered {
    /// The registry row as it now stands.
    pub device: DeviceInfo,
    /// The device's MQTT password: shown once, never stored.
    pub mqtt_password: String,
    /// Log index of the registration entry.
    pub log_index: u64,
}

/// Registers, rotates and revokes, keeping the ingest's view current.
#[derive(Clone)]
pub struct Registrar {
    ledger: Arc<Ledger>,
    ingest: Ingest,
}

/// Parses a device ID, saying what a valid one looks like.
pub fn device_id(id: &str) -> Result<DeviceId, AdminError> {
    DeviceId::new(id).map_err(|e| AdminError::Invalid(format!("id: {e}")))
}

/// Parses a role name, listing the valid ones.
pub fn role(name: &str) -> Result<Role, AdminError> {
    Role::from_name(name).ok_or_else(|| {
        AdminError::Invalid(format!(
            "role {name:?} is not one of station, tracker, carrier, inspector, customs, operator"
        ))
    })
}

/// Checks that `key` is a 32-byte Ed25519 public key that can verify: a curve point, not of
/// small order (the ledger refuses the others too, but as a conflict with the registry; this
/// says it is the request that is wrong).
pub fn public_key(key: &[u8]) -> Result<[u8; 32], AdminError> {
    let key = <[u8; 32]>::try_from(key).map_err(|_| {
        AdminError::Invalid(
            "public_key must be a 32-byte Ed25519 key, base64 in JSON (`provenance keygen` prints one)"
                .into(),
        )
    })?;
    match VerifyingKey::from_bytes(&key) {
        Ok(k) if !k.is_weak() => Ok(key),
        _ => Err(AdminError::Invalid(
            "public_key is not a usable Ed25519 key (not a curve point, or of small order); \
             send the public key `provenance keygen` prints"
                .into(),
        )),
    }
}

/// Checks a text the registry entry carries (`org`, a revocation `reason`): what the entry's
/// format allows, at most [`TEXT_MAX`] characters and no control characters (a blank one is
/// refused by the caller, who knows what to say about it).
pub fn text(field: &str, value: &str) -> Result<(), AdminError> {
    if value.chars().count() > TEXT_MAX {
        return Err(AdminError::Invalid(format!(
            "{field} has {} characters; at most {TEXT_MAX} fit in the registry entry",
            value.chars().count()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "{field} must be one line of text without control characters (no newlines or tabs)"
        )));
    }
    Ok(())
}

impl Registrar {
    /// Administers the registry of `ledger`, as seen by `ingest`.
    pub fn new(ledger: Arc<Ledger>, ingest: Ingest) -> Self {
        Self { ledger, ingest }
    }

    /// Registers a device or operator and issues its MQTT password.
    pub async fn register(
        &self,
        id: &DeviceId,
        role: Role,
        org: &str,
        key: [u8; 32],
    ) -> Result<Registered, AdminError> {
        if org.trim().is_empty() {
            return Err(AdminError::Invalid(
                "org must name the organisation that operates the device".into(),
            ));
        }
        text("org", org)?;
        if id.as_str().starts_with(crate::gate::RESERVED_PREFIX) {
            return Err(AdminError::Invalid(format!(
                "device IDs starting with {} are reserved for the ingest's own MQTT session; \
                 choose another ID",
                crate::gate::RESERVED_PREFIX
            )));
        }
        // The password first: a failure here must not leave a registered device without one.
        let password = secrets::new_secret().map_err(|e| AdminError::Randomness(e.to_string()))?;
        let appended = self.ledger.register(id, role, org, key).await?;
        self.ledger
            .set_mqtt_password_hash(id.as_str(), &secrets::password_hash(&password))
            .await?;
        self.ingest.reload_registry(&self.ledger).await?;
        let device = self.ledger.device(id.as_str()).await?.ok_or_else(|| {
            AdminError::Invalid(format!("{id} was registered but cannot be read back"))
        })?;
        Ok(Registered {
            device,
            mqtt_password: password,
            log_index: appended.first_index,
        })
    }

    /// Makes `key` the device's current key; returns the log index of the rotation entry.
    pub async fn rotate(&self, id: &DeviceId, key: [u8; 32]) -> Result<u64, AdminError> {
        let appended = self.ledger.rotate_key(id, key).await?;
        self.ingest.reload_registry(&self.ledger).await?;
        Ok(appended.first_index)
    }

    /// Revokes the device from now on; returns the log index of the revocation entry.
    pub async fn revoke(&self, id: &DeviceId, reason: Option<&str>) -> Result<u64, AdminError> {
        if let Some(r) = reason {
            if r.trim().is_empty() {
                return Err(AdminError::Invalid(
                    "reason must not be blank; to give no reason, leave it out".into(),
                ));
            }
            text("reason", r)?;
        }
        let appended = self.ledger.revoke(id, reason).await?;
        self.ingest.reload_registry(&self.ledger).await?;
        // Its connections close now, not at its next login.
        self.ingest.credentials_ended(id.as_str());
        Ok(appended.first_index)
    }

    /// Replaces the device's MQTT password (a leaked one, or routine rotation): the old one
    /// stops working at once and the device's open sessions are closed; returns the new
    /// password, shown once (only its hash is kept).
    pub async fn new_mqtt_password(&self, id: &DeviceId) -> Result<String, AdminError> {
        let device = self
            .ledger
            .device(id.as_str())
            .await?
            .ok_or_else(|| LedgerError::Registry(format!("{id} is not registered")))?;
        if device.revoked_idx.is_some() {
            return Err(LedgerError::Registry(format!(
                "{id} is revoked; a revoked device gets no new password"
            ))
            .into());
        }
        let password = secrets::new_secret().map_err(|e| AdminError::Randomness(e.to_string()))?;
        self.ledger
            .set_mqtt_password_hash(id.as_str(), &secrets::password_hash(&password))
            .await?;
        self.ingest.credentials_ended(id.as_str());
        Ok(password)
    }

    /// The registry.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, AdminError> {
        Ok(self.ledger.devices().await?)
    }
}

/// A read grant just made.
#[derive(Debug)]
pub struct ReadGranted {
    /// Its number, for revoking it.
    pub id: i64,
    /// The organisation, as checked.
    pub org: String,
    /// The tier.
    pub tier: provenance_access::Tier,
    /// The item prefix shared with it.
    pub items: Option<String>,
    /// The read token: shown once, never stored.
    pub token: String,
}

/// Grants `org` reads at `tier` (`public`, `partner`, `authority`), sharing the items under
/// `items` with it; every value checked by `provenance-access`, the token kept as a hash.
pub async fn grant_read(
    ledger: &Ledger,
    org: &str,
    tier: &str,
    items: Option<&str>,
    now_ms: i64,
) -> Result<ReadGranted, AdminError> {
    let invalid = |e: provenance_access::AccessError| AdminError::Invalid(e.to_string());
    let org = provenance_access::check_org(org).map_err(invalid)?;
    let tier = provenance_access::Tier::parse(tier).map_err(invalid)?;
    let items = items
        .map(provenance_access::check_prefix)
        .transpose()
        .map_err(invalid)?;
    let token = secrets::new_secret().map_err(|e| AdminError::Randomness(e.to_string()))?;
    let id = ledger
        .grant_read(
            org,
            tier.name(),
            items,
            &secrets::password_hash(&token),
            now_ms,
        )
        .await?;
    Ok(ReadGranted {
        id,
        org: org.to_string(),
        tier,
        items: items.map(str::to_string),
        token,
    })
}
