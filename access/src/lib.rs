//! Who may see what (issue #14): the read tiers, a reader, and the one rule that decides what
//! of an item's history a reader sees. Every HTTP route, gRPC method and page asks this crate,
//! so no route can apply a rule of its own or forget one.
//!
//! # Tiers
//!
//! The EU Battery Regulation (2023/1542, Art. 77 and Annex XIII) gives a battery passport
//! three audiences; the log's readers are the same three:
//!
//! - [`Tier::Public`]: anyone. Sees which entries state an item's public facts — who made it,
//!   where and when (its `commissioned` and `decommissioned` events) — and nothing of its
//!   journey: no places, positions, readings, parties or documents of other events.
//! - [`Tier::Partner`]: an organisation with a legitimate interest. Sees everything of the
//!   items it is involved in — it signed an event about them, custody was handed to one of
//!   its GLNs, or the operator shared them with it (`--items PREFIX`) — and the public view of
//!   every other item.
//! - [`Tier::Authority`]: customs, market surveillance, notified bodies. Sees everything.
//!
//! What every tier sees whatever it is: checkpoints, the log key and the hash tiles. They
//! reveal the log's size and nothing else, and they are what makes the rest verifiable.
//!
//! It must never do I/O or look at a request: the web and gRPC find the reader (a token, a
//! cookie), the ledger the events; this crate decides.

use provenance_custody::rules::{TraceEvent, gln_key, org_parties};
use provenance_event::Kind;
use serde::{Deserialize, Serialize};

pub mod routes;

/// How much of the log a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Anyone: the public facts of each item.
    Public,
    /// An organisation with a legitimate interest: all of the items it is involved in.
    Partner,
    /// Customs, market surveillance, notified bodies: everything.
    Authority,
}

impl Tier {
    /// The tier with this name (`public`, `partner`, `authority`).
    pub fn parse(name: &str) -> Result<Self, AccessError> {
        match name.trim() {
            "public" => Ok(Tier::Public),
            "partner" => Ok(Tier::Partner),
            "authority" => Ok(Tier::Authority),
            other => Err(AccessError::UnknownTier(other.to_string())),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Partner => "partner",
            Tier::Authority => "authority",
        }
    }
}

/// Why a grant cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// Not one of the three tiers.
    #[error("{0:?} is not a tier: give public, partner or authority")]
    UnknownTier(String),
    /// An item prefix that is not the start of an EPC URI.
    #[error(
        "{0:?} is not an item prefix: give the start of an EPC URI, e.g. \
         urn:epc:id:sgtin:4012345.012345. (one product) or urn:epc:id:sscc:4012345. (a \
         company's consignments)"
    )]
    BadPrefix(String),
    /// An empty or overlong organisation.
    #[error(
        "an organisation is 1 to 200 printable characters, e.g. \"Recycling GmbH urn:epc:id:pgln:4012345.00009\""
    )]
    BadOrg,
}

/// What anonymous visitors get (`serve --public-tier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anonymous {
    /// The public tier.
    #[default]
    Public,
    /// Nothing beyond checkpoints, the log key and tiles: every other read needs a token.
    None,
}

impl Anonymous {
    /// `public` or `none`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "public" => Some(Anonymous::Public),
            "none" => Some(Anonymous::None),
            _ => None,
        }
    }
}

/// What the operator publishes to those without a token's rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Publish {
    /// What anonymous visitors get (`serve --public-tier`).
    pub anonymous: Anonymous,
    /// Whether the public may have whole the entries [`entry_public`] allows, to check their
    /// signatures (`serve --public-entries`). Off by default: a whole entry shows its
    /// signer's device ID and sequence number.
    pub whole_entries: bool,
}

/// Someone reading: their tier, their organisation (as the registry names organisations,
/// with its GLNs in the name), and the item prefixes the operator shared with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    /// The tier.
    pub tier: Tier,
    /// The organisation, `None` for an anonymous visitor.
    pub org: Option<String>,
    /// Item prefixes shared with the organisation.
    pub shared: Vec<String>,
}

impl Reader {
    /// An anonymous visitor under `anonymous`; `None` when anonymous reads are off.
    pub fn anonymous(anonymous: Anonymous) -> Option<Self> {
        (anonymous == Anonymous::Public).then(|| Reader {
            tier: Tier::Public,
            org: None,
            shared: Vec::new(),
        })
    }

    /// Whether this reader signed `e` or receives custody in it, as the custody rules tie an
    /// organisation to a GS1 party (its registered name carries the GLN).
    fn party_to(&self, e: &TraceEvent) -> bool {
        let Some(org) = self.org.as_deref() else {
            return false;
        };
        if e.signer.org.as_deref() == Some(org) {
            return true;
        }
        let ours = org_parties(org);
        let is_ours = |uri: &str| gln_key(uri).is_some_and(|k| ours.contains(&k));
        e.party.as_deref().is_some_and(is_ours)
            || e.signer
                .org
                .as_deref()
                .is_some_and(|s| org_parties(s).iter().any(|k| ours.contains(k)))
    }
}

/// Checks an organisation name for a grant.
pub fn check_org(org: &str) -> Result<&str, AccessError> {
    let org = org.trim();
    let n = org.chars().count();
    if n == 0 || n > 200 || org.chars().any(char::is_control) {
        return Err(AccessError::BadOrg);
    }
    Ok(org)
}

/// Checks an item prefix for a grant: the start of an EPC URI of an item.
pub fn check_prefix(prefix: &str) -> Result<&str, AccessError> {
    let p = prefix.trim();
    let ok = ["urn:epc:id:sgtin:", "urn:epc:id:sscc:"]
        .iter()
        .any(|s| p.starts_with(s) && p.len() > s.len())
        && p.len() <= 100
        && p.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(p)
    } else {
        Err(AccessError::BadPrefix(prefix.to_string()))
    }
}

/// What a reader may see of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemAccess {
    /// Everything: an authority, or a partner involved in the item.
    Full,
    /// The public facts only.
    Public,
}

/// What a reader may see of `item`, given its history `events` (as the custody rules get it:
/// the item's own events and those inherited from its containers).
pub fn item_access(reader: &Reader, item: &str, events: &[TraceEvent]) -> ItemAccess {
    match reader.tier {
        Tier::Authority => ItemAccess::Full,
        Tier::Public => ItemAccess::Public,
        Tier::Partner => {
            let shared = reader.shared.iter().any(|p| item.starts_with(p.as_str()));
            if shared || events.iter().any(|e| reader.party_to(e)) {
                ItemAccess::Full
            } else {
                ItemAccess::Public
            }
        }
    }
}

/// How much of one event a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// All of it.
    Full,
    /// It exists, with its kind, time and signer, and the public facts it states (the place
    /// and readings of the item's making); nothing of its journey.
    Public,
    /// Not shown at all.
    Hidden,
}

/// The one rule: what of event `e` of an item a reader with `access` to that item sees.
pub fn visibility(access: ItemAccess, e: &TraceEvent) -> Visibility {
    match access {
        ItemAccess::Full => Visibility::Full,
        ItemAccess::Public if is_public_fact(e) => Visibility::Public,
        ItemAccess::Public => Visibility::Hidden,
    }
}

/// Whether an event states one of an item's public facts: its making or its end of life,
/// when the item itself is named (not inherited through a container).
pub fn is_public_fact(e: &TraceEvent) -> bool {
    e.inherited.is_none() && matches!(e.kind, Kind::Commissioned | Kind::Decommissioned)
}

/// Whether a public reader may have the entry of `e` itself, bytes and all, to check its
/// signature: a public fact about `item` alone, carrying nothing of a journey (no other item,
/// container, counterparty, position or dropped count). A commissioning of a whole batch in
/// one event names the batch's other serials, a maker's volumes, so it stays hidden; the
/// public proves it is in the log by its hash, and its fields by a partner's bundle.
///
/// Only when the operator publishes whole entries at all (`serve --public-entries`): a whole
/// entry also shows its signer's device ID and sequence number, and a station's sequence
/// numbers count what it made.
pub fn entry_public(item: &str, e: &TraceEvent) -> bool {
    is_public_fact(e)
        && e.items.len() == 1
        && e.items[0] == item
        && e.parent.is_none()
        && e.party.is_none()
        && e.position.is_none()
        && e.dropped.is_none()
        && e.doc.is_none()
        // The making's readings are public facts; those at the end of life are the battery's
        // condition, a legitimate interest's business.
        && (e.kind == Kind::Commissioned || e.readings.is_empty())
}

/// `e` as a reader with `v` may see it: `None` when hidden; the journey's details taken out
/// of a public view (position, party, document, the readings of anything but the making,
/// the other items named, the signer's device ID, sequence number and chain; its
/// organisation stays, it is who made the item).
pub fn redact(e: &TraceEvent, v: Visibility) -> Option<TraceEvent> {
    match v {
        Visibility::Full => Some(e.clone()),
        Visibility::Hidden => None,
        Visibility::Public => {
            let mut out = e.clone();
            out.position = None;
            out.party = None;
            out.doc = None;
            out.dropped = None;
            out.parent = None;
            out.items.clear();
            if out.kind != Kind::Commissioned {
                out.readings.clear();
            }
            out.signer.id.clear();
            out.signer.registered_at = None;
            out.signer.revoked_at = None;
            out.seq = 0;
            out.chain = provenance_custody::ChainStatus::Linked;
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests;
