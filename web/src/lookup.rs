//! What people type into the search box, and which item it names.
//!
//! Accepted: an EPC pure-identity URI, a GS1 Digital Link URL (or its path), a GTIN and a
//! serial (`04012345123456 1001`, a GS1 element string `(01)04012345123456(21)1001`, or the
//! same without brackets as a barcode scanner sends it), or an SSCC (18 digits, with or
//! without `(00)`). [`parse`] is pure; [`resolve`] asks the ledger which EPC a GS1 key means,
//! because a key does not record how long its company prefix is.

use std::fmt::Write as _;

use provenance_event::{DigitalLink, Epc, Scheme};
use provenance_ledger::{Ledger, LedgerError};

/// What a search names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// An EPC URI: the item itself.
    Epc(Epc),
    /// A GS1 key (GTIN + serial, or SSCC), check digit verified.
    Key(DigitalLink),
}

/// Why a search text names no item, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing typed.
    #[error("type an item's ID to search for it")]
    Empty,
    /// It looks like one of the accepted forms but is not valid.
    #[error("{what} is not valid: {why}")]
    Invalid {
        /// Which form it looked like.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A GTIN names a product, not one item.
    #[error("a GTIN names a product, not one item: add the item's serial number after it")]
    GtinWithoutSerial,
    /// None of the accepted forms.
    #[error("this is not an item ID in any of the accepted forms")]
    Unrecognised,
}

fn invalid(what: &'static str, why: impl ToString) -> QueryError {
    QueryError::Invalid {
        what,
        why: why.to_string(),
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A GTIN-8, -12, -13 or -14 as a GTIN-14 (leading zeros), as GS1 prescribes.
fn gtin14(s: &str) -> Option<String> {
    (digits(s) && matches!(s.len(), 8 | 12 | 13 | 14)).then(|| format!("{s:0>14}"))
}

/// The Digital Link path of a GTIN and serial, the serial percent-escaped so any GS1
/// character (`/`, `%`, …) survives.
pub(crate) fn sgtin_path(gtin: &str, serial: &str) -> String {
    let mut path = format!("/01/{gtin}/21/");
    for b in serial.bytes() {
        if b.is_ascii_alphanumeric() {
            path.push(char::from(b));
        } else {
            let _ = write!(path, "%{b:02X}");
        }
    }
    path
}

fn key(path: &str, what: &'static str) -> Result<Query, QueryError> {
    DigitalLink::parse(path)
        .map(Query::Key)
        .map_err(|e| invalid(what, e))
}

/// A GS1 element string: `(01)…(21)…`, `(00)…`, or unbracketed `01…21…` / `00…`, where a
/// scanner may have left an ASCII group separator (GS, 0x1D) before the serial's AI.
fn element_string(q: &str) -> Option<Result<Query, QueryError>> {
    const WHAT: &str = "this GS1 element string";
    if let Some(rest) = q.strip_prefix("(00)") {
        return Some(key(&format!("/00/{}", rest.trim()), WHAT));
    }
    if let Some(rest) = q.strip_prefix("(01)") {
        let (gtin, serial) = rest.split_once("(21)")?;
        return Some(key(&sgtin_path(gtin.trim(), serial.trim()), WHAT));
    }
    let flat: String = q.chars().filter(|c| *c != '\u{1d}').collect();
    if flat.len() == 20 && digits(&flat) && flat.starts_with("00") {
        return Some(key(&format!("/00/{}", &flat[2..]), WHAT));
    }
    if flat.len() > 18 && flat.starts_with("01") && flat.get(16..18) == Some("21") {
        let (gtin, serial) = (flat.get(2..16)?, flat.get(18..)?);
        if digits(gtin) {
            return Some(key(&sgtin_path(gtin, serial), WHAT));
        }
    }
    None
}

/// Reads a search text.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let q = text.trim();
    if q.is_empty() {
        return Err(QueryError::Empty);
    }
    if q.len() > 512 {
        return Err(QueryError::Unrecognised);
    }
    if q.to_ascii_lowercase().starts_with("urn:epc:") {
        return Epc::parse(q)
            .map(Query::Epc)
            .map_err(|e| invalid("this EPC URI", e));
    }
    if q.contains("://") || q.starts_with('/') {
        return key(q, "this GS1 Digital Link");
    }
    if let Some(found) = element_string(q) {
        return found;
    }
    let words: Vec<&str> = q.split_whitespace().collect();
    match words.as_slice() {
        [sscc] if digits(sscc) && sscc.len() == 18 => key(&format!("/00/{sscc}"), "this SSCC"),
        [gtin] if gtin14(gtin).is_some() => Err(QueryError::GtinWithoutSerial),
        [gtin, serial] => match gtin14(gtin) {
            Some(g) => key(&sgtin_path(&g, serial), "this GTIN and serial"),
            None => Err(QueryError::Unrecognised),
        },
        _ => Err(QueryError::Unrecognised),
    }
}

/// The forms [`parse`] accepts, with an example of each, for help texts.
pub const ACCEPTED: &[(&str, &str)] = &[
    ("EPC URI", "urn:epc:id:sgtin:4012345.012345.1001"),
    (
        "GS1 Digital Link URL",
        "https://id.example.com/01/04012345123456/21/1001",
    ),
    ("GTIN and serial", "04012345123456 1001"),
    ("GS1 element string", "(01)04012345123456(21)1001"),
    ("SSCC (18 digits)", "040123450000000177"),
];

/// The EPCs a GS1 key can stand for: one per company-prefix length GS1 allows (6–12).
pub fn candidates(key: &DigitalLink) -> Vec<Epc> {
    (6..=12).filter_map(|n| key.to_epc(n).ok()).collect()
}

/// Whether the EPC names an item or consignment (not a location or party).
pub fn is_item(epc: &Epc) -> bool {
    matches!(epc.scheme(), Scheme::Sgtin | Scheme::Sscc)
}

/// The EPC a query names: an EPC as given; a GS1 key as the candidate the log knows, or
/// `None` when the log knows none of them.
pub async fn resolve(ledger: &Ledger, query: &Query) -> Result<Option<Epc>, LedgerError> {
    match query {
        Query::Epc(epc) => Ok(Some(epc.clone())),
        Query::Key(key) => {
            for epc in candidates(key) {
                let trace = ledger.trace_with_gaps(&epc.to_string()).await?;
                if !trace.entries.is_empty() || !trace.missing.is_empty() {
                    return Ok(Some(epc));
                }
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epc_of(q: &str, prefix_len: usize) -> String {
        match parse(q).unwrap_or_else(|e| panic!("{q}: {e}")) {
            Query::Epc(e) => e.to_string(),
            Query::Key(k) => k.to_epc(prefix_len).expect("epc").to_string(),
        }
    }

    const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
    const SSCC: &str = "urn:epc:id:sscc:4012345.0000000017";

    #[test]
    fn every_accepted_form_names_the_same_item() {
        for q in [
            CELL,
            "  urn:epc:id:sgtin:4012345.012345.1001 ",
            "https://id.example.com/01/04012345123456/21/1001",
            "http://127.0.0.1:8080/01/04012345123456/21/1001?linkType=all",
            "/01/04012345123456/21/1001",
            "04012345123456 1001",
            "4012345123456 1001",
            "(01)04012345123456(21)1001",
            "0104012345123456211001",
            "0104012345123456\u{1d}211001",
        ] {
            assert_eq!(epc_of(q, 7), CELL, "{q}");
        }
        for q in [
            SSCC,
            "040123450000000177",
            "(00)040123450000000177",
            "00040123450000000177",
            "https://example.com/00/040123450000000177",
        ] {
            assert_eq!(epc_of(q, 7), SSCC, "{q}");
        }
    }

    #[test]
    fn the_examples_in_the_help_parse() {
        for (_, example) in ACCEPTED {
            assert!(parse(example).is_ok(), "{example}");
        }
    }

    #[test]
    fn serials_with_gs1_punctuation_survive() {
        let q = parse("(01)04012345123456(21)A/B%1").expect("parses");
        let Query::Key(DigitalLink::Sgtin { serial, .. }) = q else {
            panic!("{q:?}")
        };
        assert_eq!(serial.as_str(), "A/B%1");
    }

    #[test]
    fn mistakes_get_a_reason() {
        assert_eq!(parse("   "), Err(QueryError::Empty));
        assert_eq!(parse("04012345123456"), Err(QueryError::GtinWithoutSerial));
        assert_eq!(parse("hello world"), Err(QueryError::Unrecognised));
        // A wrong check digit names the form and the digit expected.
        let e = parse("04012345123457 1001").expect_err("check digit");
        assert!(
            matches!(
                &e,
                QueryError::Invalid {
                    what: "this GTIN and serial",
                    ..
                }
            ),
            "{e}"
        );
        let e = parse("040123450000000178").expect_err("check digit");
        assert!(e.to_string().starts_with("this SSCC is not valid"), "{e}");
        let e = parse("urn:epc:id:sgtin:4012345.012345").expect_err("no serial");
        assert!(
            e.to_string().starts_with("this EPC URI is not valid"),
            "{e}"
        );
        assert!(parse(&"9".repeat(600)).is_err());
    }

    #[test]
    fn a_key_has_one_candidate_per_prefix_length() {
        let Ok(Query::Key(k)) = parse("040123450000000177") else {
            panic!("sscc")
        };
        let c = candidates(&k);
        assert_eq!(c.len(), 7);
        assert!(c.iter().any(|e| e.to_string() == SSCC));
        assert!(c.iter().all(is_item));
    }
}
