//! GS1 identifiers: EPC pure-identity URIs (GS1 EPC Tag Data Standard §6.3) for SGTIN, SSCC,
//! SGLN and PGLN, the GS1 keys inside them (GTIN-14, SSCC-18, GLN-13) with their mod-10 check
//! digit, and GS1 Digital Link URI paths (`/01/{gtin}/21/{serial}`, `/00/{sscc}`,
//! `/414/{gln}[/254/{ext}]`, `/417/{gln}`).
//!
//! An EPC URI does not say where its company prefix ends once it is turned into a GS1 key, so
//! turning a Digital Link back into an EPC takes the company prefix length as an argument.

use core::fmt::{self, Write as _};

/// Longest serial number (AI 21) or GLN extension (AI 254): 20 characters.
pub const SERIAL_MAX: usize = 20;

/// The EPC schemes this project speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Serialised Global Trade Item Number: one cell, module or pack.
    Sgtin,
    /// Serial Shipping Container Code: a pallet or container.
    Sscc,
    /// Global Location Number with or without extension: a place.
    Sgln,
    /// Party Global Location Number: an organisation.
    Pgln,
}

impl Scheme {
    /// The scheme's name as written in the URI (`sgtin`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Sgtin => "sgtin",
            Scheme::Sscc => "sscc",
            Scheme::Sgln => "sgln",
            Scheme::Pgln => "pgln",
        }
    }

    /// How many digits company prefix and reference add up to.
    const fn digits(self) -> usize {
        match self {
            Scheme::Sgtin => 13,
            Scheme::Sscc => 17,
            Scheme::Sgln | Scheme::Pgln => 12,
        }
    }
}

/// Why a string is not an EPC URI or a GS1 Digital Link this project accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EpcError {
    /// Not `urn:epc:id:{sgtin|sscc|sgln|pgln}:…`.
    #[error(
        "not an EPC pure-identity URI; write e.g. urn:epc:id:sgtin:4012345.012345.1001 (SGTIN), \
         urn:epc:id:sscc:4012345.0000000001 (SSCC) or urn:epc:id:sgln:4012345.00001.0 (SGLN)"
    )]
    NotEpcUri,
    /// The scheme is one this project does not use (e.g. `grai`, `lgtin`).
    #[error("EPC scheme not supported here; use sgtin, sscc, sgln or pgln")]
    UnsupportedScheme,
    /// Wrong number of `.`-separated fields for the scheme.
    #[error("an {scheme} URI has {expected} dot-separated fields after the scheme")]
    FieldCount {
        /// The scheme.
        scheme: &'static str,
        /// How many fields it has.
        expected: usize,
    },
    /// The company prefix is not 6 to 12 digits.
    #[error("the GS1 company prefix must be 6 to 12 digits")]
    CompanyPrefix,
    /// Company prefix and reference do not add up to the scheme's digit count.
    #[error("company prefix and reference of an {scheme} must be {digits} digits together")]
    ReferenceLength {
        /// The scheme.
        scheme: &'static str,
        /// How many digits they must have together.
        digits: usize,
    },
    /// A non-digit where digits belong.
    #[error("only digits are allowed in the company prefix and reference")]
    NotDigits,
    /// A serial or extension that is empty, too long or has characters outside GS1's
    /// 82-character set.
    #[error(
        "a serial number (or GLN extension) is 1 to 20 characters of GS1's set: \
         A-Z a-z 0-9 and ! \" % & ' ( ) * + , - . / : ; < = > ? _"
    )]
    Serial,
    /// A percent-escape that is malformed or not in its canonical form.
    #[error(
        "bad percent-escape in the serial; in an EPC URI write \" % & / < > ? as %22 %25 %26 %2F %3C %3E %3F and nothing else escaped"
    )]
    Escape,
    /// The string does not hold a GS1 Digital Link path this project resolves.
    #[error(
        "not a GS1 Digital Link for an item; write e.g. /01/{{gtin14}}/21/{{serial}} or \
         /00/{{sscc18}}"
    )]
    NotDigitalLink,
    /// A GS1 key whose length is wrong.
    #[error("a GTIN has 14 digits, an SSCC 18 and a GLN 13")]
    KeyLength,
    /// A GS1 key whose check digit does not match.
    #[error("the GS1 check digit is wrong: the last digit should be {expected}")]
    CheckDigit {
        /// The check digit the other digits call for.
        expected: u8,
    },
}

/// The GS1 mod-10 check digit of `digits` (all but the check digit itself): weights 3 and 1
/// alternating from the right.
pub fn check_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let v = u32::from(d.wrapping_sub(b'0'));
        sum += if i % 2 == 0 { 3 * v } else { v };
    }
    ((10 - sum % 10) % 10) as u8
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// A character of GS1's AI encodable character set 82.
fn in_cset82(c: u8) -> bool {
    matches!(c,
        b'!' | b'"' | b'%' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'-' | b'.'
        | b'/' | b'0'..=b'9' | b':' | b';' | b'<' | b'=' | b'>' | b'?' | b'A'..=b'Z' | b'_'
        | b'a'..=b'z')
}

/// Characters that an EPC URI writes as `%HH` (TDS §5, Table 5-1 / A-1).
fn urn_escaped(c: u8) -> bool {
    matches!(c, b'"' | b'%' | b'&' | b'/' | b'<' | b'>' | b'?')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes the serial component of an EPC URI, accepting only its canonical form.
fn urn_unescape(s: &str) -> Result<heapless::String<SERIAL_MAX>, EpcError> {
    let b = s.as_bytes();
    let mut out = heapless::String::<SERIAL_MAX>::new();
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) else {
                return Err(EpcError::Escape);
            };
            // Canonical: upper-case hex, and only for the characters that must be escaped.
            let c = h * 16 + l;
            if !urn_escaped(c) || b[i + 1].is_ascii_lowercase() || b[i + 2].is_ascii_lowercase() {
                return Err(EpcError::Escape);
            }
            i += 3;
            c
        } else {
            let c = b[i];
            if urn_escaped(c) {
                return Err(EpcError::Escape);
            }
            i += 1;
            c
        };
        if !in_cset82(c) {
            return Err(EpcError::Serial);
        }
        out.push(c as char).map_err(|_| EpcError::Serial)?;
    }
    if out.is_empty() {
        return Err(EpcError::Serial);
    }
    Ok(out)
}

fn check_serial(s: &str) -> Result<heapless::String<SERIAL_MAX>, EpcError> {
    if s.is_empty() || !s.bytes().all(in_cset82) {
        return Err(EpcError::Serial);
    }
    heapless::String::try_from(s).map_err(|_| EpcError::Serial)
}

/// An EPC pure identity: one of the schemes above with its fields.
///
/// Text fields hold digits (company prefix, reference) and the unescaped serial or
/// extension; the URI and Digital Link forms are produced on demand.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epc {
    scheme: Scheme,
    company_prefix: heapless::String<12>,
    reference: heapless::String<12>,
    serial: heapless::String<SERIAL_MAX>,
}

impl Epc {
    /// Parses `urn:epc:id:{scheme}:…`, accepting only the canonical form (the form
    /// [`fmt::Display`] writes back), so that one item always has one spelling.
    pub fn parse(uri: &str) -> Result<Self, EpcError> {
        let rest = uri.strip_prefix("urn:epc:id:").ok_or(EpcError::NotEpcUri)?;
        let (scheme, body) = rest.split_once(':').ok_or(EpcError::NotEpcUri)?;
        let scheme = match scheme {
            "sgtin" => Scheme::Sgtin,
            "sscc" => Scheme::Sscc,
            "sgln" => Scheme::Sgln,
            "pgln" => Scheme::Pgln,
            _ => return Err(EpcError::UnsupportedScheme),
        };
        let fields_expected = match scheme {
            Scheme::Sgtin | Scheme::Sgln => 3,
            Scheme::Sscc | Scheme::Pgln => 2,
        };
        let mut fields = body.splitn(3, '.');
        let cp = fields.next().unwrap_or("");
        let reference = fields.next();
        let third = fields.next();
        let field_count_err = EpcError::FieldCount {
            scheme: scheme.name(),
            expected: fields_expected,
        };
        let Some(reference) = reference else {
            return Err(field_count_err);
        };
        // For two-field schemes a third field can only be a stray dot.
        match (fields_expected, third) {
            (3, None) => return Err(field_count_err),
            (2, Some(_)) => return Err(field_count_err),
            _ => {}
        }
        let serial = match third {
            Some(s) => urn_unescape(s)?,
            None => heapless::String::new(),
        };
        Self::from_parts(scheme, cp, reference, serial)
    }

    fn from_parts(
        scheme: Scheme,
        cp: &str,
        reference: &str,
        serial: heapless::String<SERIAL_MAX>,
    ) -> Result<Self, EpcError> {
        if !all_digits(cp) || !all_digits(reference) {
            return Err(EpcError::NotDigits);
        }
        if !(6..=12).contains(&cp.len()) {
            return Err(EpcError::CompanyPrefix);
        }
        if cp.len() + reference.len() != scheme.digits() {
            return Err(EpcError::ReferenceLength {
                scheme: scheme.name(),
                digits: scheme.digits(),
            });
        }
        let (Ok(company_prefix), Ok(reference)) = (
            heapless::String::try_from(cp),
            heapless::String::try_from(reference),
        ) else {
            return Err(EpcError::CompanyPrefix);
        };
        Ok(Self {
            scheme,
            company_prefix,
            reference,
            serial,
        })
    }

    /// Builds an SGTIN from its URI fields: company prefix, item reference with indicator
    /// digit, and the unescaped serial.
    pub fn sgtin(company_prefix: &str, item_ref: &str, serial: &str) -> Result<Self, EpcError> {
        Self::from_parts(
            Scheme::Sgtin,
            company_prefix,
            item_ref,
            check_serial(serial)?,
        )
    }

    /// Builds an SSCC from company prefix and serial reference (extension digit first).
    pub fn sscc(company_prefix: &str, serial_ref: &str) -> Result<Self, EpcError> {
        Self::from_parts(
            Scheme::Sscc,
            company_prefix,
            serial_ref,
            heapless::String::new(),
        )
    }

    /// Builds an SGLN; `extension` `"0"` means the GLN itself with no extension.
    pub fn sgln(
        company_prefix: &str,
        location_ref: &str,
        extension: &str,
    ) -> Result<Self, EpcError> {
        Self::from_parts(
            Scheme::Sgln,
            company_prefix,
            location_ref,
            check_serial(extension)?,
        )
    }

    /// Builds a PGLN from company prefix and party reference.
    pub fn pgln(company_prefix: &str, party_ref: &str) -> Result<Self, EpcError> {
        Self::from_parts(
            Scheme::Pgln,
            company_prefix,
            party_ref,
            heapless::String::new(),
        )
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The GS1 company prefix (6–12 digits).
    pub fn company_prefix(&self) -> &str {
        &self.company_prefix
    }

    /// The item, serial, location or party reference, as written in the URI.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The serial number of an SGTIN, or the extension of an SGLN (`"0"` for none), unescaped.
    /// Empty for SSCC and PGLN.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The GS1 key in this EPC, check digit included: a GTIN-14 for an SGTIN, an SSCC-18 for an
    /// SSCC, a GLN-13 for an SGLN or PGLN.
    pub fn gs1_key(&self) -> heapless::String<18> {
        let mut digits = heapless::Vec::<u8, 18>::new();
        let cp = self.company_prefix.as_bytes();
        let r = self.reference.as_bytes();
        // Capacity is 18 and the digit counts are bounded by from_parts, so pushes cannot fail.
        match self.scheme {
            // The indicator (SGTIN) or extension digit (SSCC) moves to the front.
            Scheme::Sgtin | Scheme::Sscc => {
                let _ = digits.push(r[0]);
                let _ = digits.extend_from_slice(cp);
                let _ = digits.extend_from_slice(&r[1..]);
            }
            Scheme::Sgln | Scheme::Pgln => {
                let _ = digits.extend_from_slice(cp);
                let _ = digits.extend_from_slice(r);
            }
        }
        let c = check_digit(&digits);
        let _ = digits.push(b'0' + c);
        let mut out = heapless::String::new();
        for d in digits {
            let _ = out.push(d as char);
        }
        out
    }

    /// The path of this EPC's GS1 Digital Link URI (RFC 3986 percent-escaping for the serial).
    pub fn digital_link_path(&self) -> DigitalLinkPath<'_> {
        DigitalLinkPath(self)
    }
}

impl fmt::Display for Epc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "urn:epc:id:{}:{}.{}",
            self.scheme.name(),
            self.company_prefix,
            self.reference
        )?;
        if matches!(self.scheme, Scheme::Sgtin | Scheme::Sgln) {
            f.write_char('.')?;
            for c in self.serial.bytes() {
                if urn_escaped(c) {
                    write!(f, "%{c:02X}")?;
                } else {
                    f.write_char(c as char)?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Epc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epc({self})")
    }
}

impl core::str::FromStr for Epc {
    type Err = EpcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes `s` percent-escaped as a Digital Link path segment: only RFC 3986 unreserved
/// characters stay literal.
fn write_dl_escaped(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            f.write_char(c as char)?;
        } else {
            write!(f, "%{c:02X}")?;
        }
    }
    Ok(())
}

/// The Digital Link path of an [`Epc`], written by its `Display`.
pub struct DigitalLinkPath<'a>(&'a Epc);

impl fmt::Display for DigitalLinkPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epc = self.0;
        let key = epc.gs1_key();
        match epc.scheme {
            Scheme::Sgtin => {
                write!(f, "/01/{key}/21/")?;
                write_dl_escaped(f, &epc.serial)
            }
            Scheme::Sscc => write!(f, "/00/{key}"),
            Scheme::Sgln => {
                write!(f, "/414/{key}")?;
                if epc.serial.as_str() != "0" {
                    f.write_str("/254/")?;
                    write_dl_escaped(f, &epc.serial)?;
                }
                Ok(())
            }
            Scheme::Pgln => write!(f, "/417/{key}"),
        }
    }
}

/// The GS1 key of a Digital Link URI, its check digit verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigitalLink {
    /// `/01/{gtin14}/21/{serial}` (key qualifiers `/22/` and `/10/` may stand between).
    Sgtin {
        /// GTIN-14 digits with check digit.
        gtin: heapless::String<14>,
        /// Serial number, unescaped.
        serial: heapless::String<SERIAL_MAX>,
    },
    /// `/00/{sscc18}`.
    Sscc {
        /// SSCC-18 digits with check digit.
        sscc: heapless::String<18>,
    },
    /// `/414/{gln}[/254/{extension}]`.
    Sgln {
        /// GLN-13 digits with check digit.
        gln: heapless::String<13>,
        /// The extension, `"0"` when absent.
        extension: heapless::String<SERIAL_MAX>,
    },
    /// `/417/{gln}`: a party.
    Pgln {
        /// GLN-13 digits with check digit.
        gln: heapless::String<13>,
    },
}

fn gs1_key<const N: usize>(s: &str) -> Result<heapless::String<N>, EpcError> {
    if s.len() != N || !all_digits(s) {
        return Err(if all_digits(s) {
            EpcError::KeyLength
        } else {
            EpcError::NotDigits
        });
    }
    let b = s.as_bytes();
    let expected = check_digit(&b[..N - 1]);
    if b[N - 1] - b'0' != expected {
        return Err(EpcError::CheckDigit { expected });
    }
    heapless::String::try_from(s).map_err(|_| EpcError::KeyLength)
}

/// Decodes one Digital Link path segment (RFC 3986 percent-escapes; `%00` is refused).
fn dl_unescape(s: &str) -> Result<heapless::String<SERIAL_MAX>, EpcError> {
    let b = s.as_bytes();
    let mut out = heapless::String::<SERIAL_MAX>::new();
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) else {
                return Err(EpcError::Escape);
            };
            i += 3;
            h * 16 + l
        } else {
            i += 1;
            b[i - 1]
        };
        if !in_cset82(c) {
            return Err(EpcError::Serial);
        }
        out.push(c as char).map_err(|_| EpcError::Serial)?;
    }
    if out.is_empty() {
        return Err(EpcError::Serial);
    }
    Ok(out)
}

impl DigitalLink {
    /// Parses a GS1 Digital Link URI or bare path. Any scheme, host and path prefix before the
    /// primary key is accepted (GS1 allows custom stems); a query string is ignored.
    pub fn parse(uri: &str) -> Result<Self, EpcError> {
        let path = match uri.split_once("://") {
            Some((_, after)) => after.find('/').map_or("", |i| &after[i..]),
            None => uri,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut segs: heapless::Vec<&str, 32> = heapless::Vec::new();
        for s in path.split('/').filter(|s| !s.is_empty()) {
            segs.push(s).map_err(|_| EpcError::NotDigitalLink)?;
        }
        // The primary key is the first of its AIs followed by a value; a stem may precede it.
        for start in 0..segs.len() {
            if let Some(dl) = Self::from_segments(&segs[start..])? {
                return Ok(dl);
            }
        }
        Err(EpcError::NotDigitalLink)
    }

    fn from_segments(s: &[&str]) -> Result<Option<Self>, EpcError> {
        Ok(Some(match s {
            ["01", gtin, rest @ ..] => {
                // Key qualifiers in GS1's order: 22 (CPV), 10 (lot), 21 (serial).
                let serial = match rest {
                    ["21", ser]
                    | ["10", _, "21", ser]
                    | ["22", _, "21", ser]
                    | ["22", _, "10", _, "21", ser] => ser,
                    _ => return Ok(None),
                };
                DigitalLink::Sgtin {
                    gtin: gs1_key::<14>(gtin)?,
                    serial: dl_unescape(serial)?,
                }
            }
            ["00", sscc] => DigitalLink::Sscc {
                sscc: gs1_key::<18>(sscc)?,
            },
            ["414", gln] => DigitalLink::Sgln {
                gln: gs1_key::<13>(gln)?,
                extension: heapless::String::try_from("0").map_err(|_| EpcError::Serial)?,
            },
            ["414", gln, "254", ext] => DigitalLink::Sgln {
                gln: gs1_key::<13>(gln)?,
                extension: dl_unescape(ext)?,
            },
            ["417", gln] => DigitalLink::Pgln {
                gln: gs1_key::<13>(gln)?,
            },
            _ => return Ok(None),
        }))
    }

    /// The EPC with this key, given the length of the GS1 company prefix (6–12), which the key
    /// itself does not record.
    pub fn to_epc(&self, company_prefix_len: usize) -> Result<Epc, EpcError> {
        if !(6..=12).contains(&company_prefix_len) {
            return Err(EpcError::CompanyPrefix);
        }
        let n = company_prefix_len;
        let mut reference = heapless::String::<12>::new();
        match self {
            DigitalLink::Sgtin { gtin, serial } => {
                let g = gtin.as_str();
                push(&mut reference, &g[..1])?;
                push(&mut reference, &g[1 + n..13])?;
                Epc::sgtin(&g[1..1 + n], &reference, serial)
            }
            DigitalLink::Sscc { sscc } => {
                let s = sscc.as_str();
                push(&mut reference, &s[..1])?;
                push(&mut reference, &s[1 + n..17])?;
                Epc::sscc(&s[1..1 + n], &reference)
            }
            DigitalLink::Sgln { gln, extension } => Epc::sgln(&gln[..n], &gln[n..12], extension),
            DigitalLink::Pgln { gln } => Epc::pgln(&gln[..n], &gln[n..12]),
        }
    }
}

fn push(s: &mut heapless::String<12>, part: &str) -> Result<(), EpcError> {
    s.push_str(part).map_err(|_| EpcError::KeyLength)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn check_digits() {
        assert_eq!(check_digit(b"123456789012"), 8); // EAN-13 1234567890128
        assert_eq!(check_digit(b"1234567890123"), 1);
        assert_eq!(check_digit(b"01234566663868985"), 2);
    }

    #[test]
    fn sgtin_round_trip() {
        let e = Epc::parse("urn:epc:id:sgtin:0614141.812345.6789").unwrap();
        assert_eq!(e.gs1_key().as_str(), "80614141123458");
        assert_eq!(
            e.digital_link_path().to_string(),
            "/01/80614141123458/21/6789"
        );
        assert_eq!(e.to_string(), "urn:epc:id:sgtin:0614141.812345.6789");
    }

    #[test]
    fn escapes() {
        let e = Epc::parse("urn:epc:id:sgtin:0614141.812345.A%2FB").unwrap();
        assert_eq!(e.serial(), "A/B");
        assert_eq!(e.to_string(), "urn:epc:id:sgtin:0614141.812345.A%2FB");
        assert_eq!(
            e.digital_link_path().to_string(),
            "/01/80614141123458/21/A%2FB"
        );
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.812345.A%2fB"),
            Err(EpcError::Escape)
        );
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.812345.%41"),
            Err(EpcError::Escape)
        );
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.812345.A/B"),
            Err(EpcError::Escape)
        );
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.812345.a#b"),
            Err(EpcError::Serial)
        );
    }

    #[test]
    fn wrong_shapes() {
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.812345"),
            Err(EpcError::FieldCount {
                scheme: "sgtin",
                expected: 3
            })
        );
        assert_eq!(
            Epc::parse("urn:epc:id:sscc:0614141.1234567890.1"),
            Err(EpcError::FieldCount {
                scheme: "sscc",
                expected: 2
            })
        );
        assert_eq!(
            Epc::parse("urn:epc:id:grai:0614141.12345.400"),
            Err(EpcError::UnsupportedScheme)
        );
        assert_eq!(
            Epc::parse("https://id.gs1.org/01/1"),
            Err(EpcError::NotEpcUri)
        );
    }

    #[test]
    fn digital_link_needs_right_check_digit() {
        assert_eq!(
            DigitalLink::parse("https://id.gs1.org/01/80614141123459/21/6789"),
            Err(EpcError::CheckDigit { expected: 8 })
        );
        let dl = DigitalLink::parse("/01/80614141123458/21/6789?linkType=all").unwrap();
        assert_eq!(
            dl.to_epc(7).unwrap().to_string(),
            "urn:epc:id:sgtin:0614141.812345.6789"
        );
    }
}
