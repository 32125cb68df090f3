//! Names of places and parties: an operator-maintained table from GLN (an SGLN's location, a
//! PGLN's party) to the name people know it by, set through the admin API.
//!
//! A label, not evidence: it is not in the log, no verdict reads it, and the pages show the
//! GLN beside the name, so a wrong name misleads no one who checks. An SGLN with an extension
//! (a dock, a berth) can have its own name; otherwise it takes its GLN's name, which is also
//! the name of the PGLN with the same company prefix and reference.

use std::collections::HashMap;

use provenance_event::{Epc, Scheme};

use crate::store::on_pool;
use crate::{Ledger, LedgerError};

/// The most names the table holds: every place a company ships through, not a gazetteer.
pub const MAX_PLACES: i64 = 10_000;
/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// Why a place name cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaceError {
    /// Not an SGLN or PGLN EPC URI.
    #[error(
        "{0:?} is not a place or party: give an SGLN or PGLN EPC URI, e.g. \
         urn:epc:id:sgln:4012345.00001.0 or urn:epc:id:pgln:4012345.00001"
    )]
    NotAGln(String),
    /// Empty, too long, or with control characters.
    #[error("a place name is 1 to {MAX_NAME_CHARS} printable characters")]
    BadName,
    /// The table is full.
    #[error("the table of place names is full ({MAX_PLACES} names); remove some first")]
    Full,
}

/// The key of a GLN: `prefix.reference`, plus `.extension` for an SGLN with one.
pub fn gln_key(uri: &str) -> Result<String, PlaceError> {
    let epc = Epc::parse(uri.trim()).map_err(|_| PlaceError::NotAGln(uri.to_string()))?;
    let base = format!("{}.{}", epc.company_prefix(), epc.reference());
    match epc.scheme() {
        Scheme::Pgln => Ok(base),
        Scheme::Sgln if epc.serial() == "0" || epc.serial().is_empty() => Ok(base),
        Scheme::Sgln => Ok(format!("{base}.{}", epc.serial())),
        _ => Err(PlaceError::NotAGln(uri.to_string())),
    }
}

fn check_name(name: &str) -> Result<&str, PlaceError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(PlaceError::BadName);
    }
    Ok(name)
}

/// The names, for looking up many GLNs on one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places(HashMap<String, String>);

impl Places {
    /// The name of a place or party URI: its own (SGLN extension), else its GLN's.
    pub fn name_of(&self, uri: &str) -> Option<&str> {
        let key = gln_key(uri).ok()?;
        if let Some(n) = self.0.get(&key) {
            return Some(n);
        }
        // An SGLN with its own extension falls back to its GLN's name.
        let (base, _) = key
            .rsplit_once('.')
            .filter(|_| key.matches('.').count() == 2)?;
        self.0.get(base).map(String::as_str)
    }

    /// Every (GLN key, name), sorted by key.
    pub fn list(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(k, n)| (k.as_str(), n.as_str()))
            .collect();
        v.sort_unstable();
        v
    }
}

impl FromIterator<(String, String)> for Places {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        Places(iter.into_iter().collect())
    }
}

impl Ledger {
    /// Sets the name of a place or party (an SGLN or PGLN URI); returns its GLN key.
    pub async fn set_place(
        &self,
        uri: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<String, LedgerError> {
        let key = gln_key(uri)?;
        let name = check_name(name)?;
        let count: i64 = on_pool!(&self.store, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM places WHERE gln <> $1")
                .bind(&key)
                .fetch_one(p)
                .await?
        });
        if count >= MAX_PLACES {
            return Err(PlaceError::Full.into());
        }
        on_pool!(&self.store, p => {
            sqlx::query(
                "INSERT INTO places (gln, name, updated_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (gln) DO UPDATE SET name = excluded.name, updated_ms = excluded.updated_ms",
            )
            .bind(&key)
            .bind(name)
            .bind(now_ms)
            .execute(p)
            .await?;
        });
        Ok(key)
    }

    /// Removes a name; whether there was one.
    pub async fn remove_place(&self, uri: &str) -> Result<bool, LedgerError> {
        let key = gln_key(uri)?;
        let n = on_pool!(&self.store, p => {
            sqlx::query("DELETE FROM places WHERE gln = $1")
                .bind(&key)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Every name (at most [`MAX_PLACES`]).
    pub async fn places(&self) -> Result<Places, LedgerError> {
        let rows: Vec<(String, String)> = on_pool!(&self.store, p => {
            sqlx::query_as("SELECT gln, name FROM places ORDER BY gln LIMIT $1")
                .bind(MAX_PLACES)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sgln_takes_its_own_name_else_its_glns() {
        let p: Places = [
            (
                "4012345.00001".to_string(),
                "Arnstadt Cell Works".to_string(),
            ),
            (
                "4012345.00003.7".to_string(),
                "Felixstowe, berth 7".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            p.name_of("urn:epc:id:sgln:4012345.00001.0"),
            Some("Arnstadt Cell Works")
        );
        assert_eq!(
            p.name_of("urn:epc:id:sgln:4012345.00001.9"),
            Some("Arnstadt Cell Works")
        );
        assert_eq!(
            p.name_of("urn:epc:id:pgln:4012345.00001"),
            Some("Arnstadt Cell Works")
        );
        assert_eq!(
            p.name_of("urn:epc:id:sgln:4012345.00003.7"),
            Some("Felixstowe, berth 7")
        );
        assert_eq!(p.name_of("urn:epc:id:pgln:4012345.00003"), None);
        assert_eq!(p.name_of("urn:epc:id:sgtin:4012345.012345.1"), None);
    }

    #[test]
    fn keys_and_names_are_checked() {
        assert_eq!(
            gln_key("urn:epc:id:sgln:4012345.00001.0").as_deref(),
            Ok("4012345.00001")
        );
        assert_eq!(
            gln_key("urn:epc:id:sgln:4012345.00001.12").as_deref(),
            Ok("4012345.00001.12")
        );
        assert!(gln_key("urn:epc:id:sscc:4012345.0000000017").is_err());
        assert!(gln_key("Rotterdam").is_err());
        assert_eq!(check_name("  Port of Rotterdam "), Ok("Port of Rotterdam"));
        assert!(check_name("").is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert!(check_name(&"x".repeat(121)).is_err());
    }
}
