//! The event payload (SPEC §3): decoding with every rule checked, encoding into a fixed
//! buffer, and the path from received bytes to a [`VerifiedEvent`].
//!
//! The stages follow SPEC §4's order, and each stage is a type:
//! bytes → [`SignedEvent::parse`] (`too_large`, `malformed`) → [`SignedEvent::device`] to look
//! up the key (`unknown_device`, `topic_mismatch`, `revoked` are the caller's) →
//! [`SignedEvent::verify`] (`bad_signature`) → [`Authenticated::decode`] (`invalid_event`) →
//! [`VerifiedEvent`]. Only `Authenticated` can make a `VerifiedEvent`, and only a good
//! signature makes an `Authenticated`.

use core::fmt::Write as _;

use ed25519_dalek::{SigningKey, VerifyingKey};
use minicbor::data::Type;
use sha2::{Digest, Sha256};

use crate::cbor::{CborError, Reader, SliceEncoder, encoder};
use crate::cose::{self, ContentType, CoseError, Sign1, SignatureInvalid};
use crate::device::{DeviceId, DeviceIdError};
use crate::epc::{Epc, EpcError, Scheme};
use crate::kind::Kind;
use crate::master::{Master, MasterError};
use crate::reading::{OutOfRange, Quantity, Readings};

/// The largest message ingest accepts (SPEC §4: 4 KiB).
pub const MAX_MESSAGE: usize = 4096;
/// The payload format version this crate speaks.
pub const VERSION: u64 = 1;
/// The content type of an event (protected header label 3).
pub const CONTENT_TYPE: &str = "application/vnd.provenance.event+cbor";
/// The longest `doc` text accepted.
pub const DOC_MAX: usize = 256;
/// The longest EPC URI this crate writes (an SGTIN with a fully escaped 20-character serial).
pub const EPC_URI_MAX: usize = 96;
/// Unix milliseconds that an event time may be ahead of the receiver's clock (SPEC §4).
pub const MAX_CLOCK_AHEAD_MS: i64 = 5 * 60 * 1000;
/// SPEC §3: seq is below 2^53, so every store and every JSON reader holds it exactly.
pub const SEQ_LIMIT: u64 = 1 << 53;
/// SPEC §3: at most this many items in one event.
pub const ITEMS_MAX: usize = 256;
/// SPEC §3: the earliest event time, 2000-01-01T00:00:00Z in Unix milliseconds.
pub const TIME_MIN_MS: i64 = 946_684_800_000;
/// SPEC §3: the end of the event time range (exclusive), 2100-01-01T00:00:00Z.
pub const TIME_END_MS: i64 = 4_102_444_800_000;

/// The SHA-256 of a message: what the next event's `prev` holds.
pub fn message_hash(message: &[u8]) -> [u8; 32] {
    Sha256::digest(message).into()
}

/// The `seq` of a payload, read without checking anything else: for a log that must know an
/// entry's place in its signer's chain quickly and has had the entry validated already.
pub fn peek_seq(payload: &[u8]) -> Option<u64> {
    let mut r = Reader::new(payload);
    let n = r.map().ok()?;
    for _ in 0..n {
        match r.u64().ok()? {
            2 => return r.u64().ok(),
            1 => {
                r.u64().ok()?;
            }
            _ => return None,
        }
    }
    None
}

/// A position: WGS 84 latitude and longitude in units of 1e-7 degree, a place (SGLN), or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Latitude and longitude in 1e-7 degrees.
    pub lat_lon: Option<(i32, i32)>,
    /// The place, as an SGLN.
    pub sgln: Option<Epc>,
}

impl Location {
    /// A GNSS fix in 1e-7 degrees.
    pub fn fix(lat: i32, lon: i32) -> Self {
        Self {
            lat_lon: Some((lat, lon)),
            sgln: None,
        }
    }
}

/// A field of the payload, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Key 1.
    Version,
    /// Key 2.
    Seq,
    /// Key 3.
    Prev,
    /// Key 4.
    Time,
    /// Key 5.
    Kind,
    /// Key 6.
    Items,
    /// Key 7.
    Parent,
    /// Key 8.
    Where,
    /// Key 9.
    Readings,
    /// Key 10.
    Party,
    /// Key 11.
    Doc,
    /// Key 12.
    Dropped,
    /// Key 13 (additive, docs/PASSPORT.md): a battery's master data.
    Master,
}

impl Field {
    fn from_key(k: u64) -> Option<Field> {
        Some(match k {
            1 => Field::Version,
            2 => Field::Seq,
            3 => Field::Prev,
            4 => Field::Time,
            5 => Field::Kind,
            6 => Field::Items,
            7 => Field::Parent,
            8 => Field::Where,
            9 => Field::Readings,
            10 => Field::Party,
            11 => Field::Doc,
            12 => Field::Dropped,
            13 => Field::Master,
            _ => return None,
        })
    }

    /// The field's name in SPEC §3.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Version => "v",
            Field::Seq => "seq",
            Field::Prev => "prev",
            Field::Time => "time",
            Field::Kind => "kind",
            Field::Items => "items",
            Field::Parent => "parent",
            Field::Where => "where",
            Field::Readings => "readings",
            Field::Party => "party",
            Field::Doc => "doc",
            Field::Dropped => "dropped",
            Field::Master => "master",
        }
    }
}

impl core::fmt::Display for Field {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a payload is not a valid event (SPEC §4 reason `invalid_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not deterministic CBOR, or a field of the wrong CBOR type.
    #[error("payload: {0}")]
    Cbor(#[from] CborError),
    /// A field of the wrong CBOR type.
    #[error("field {field}: {source}")]
    FieldCbor {
        /// The field.
        field: Field,
        /// What is wrong.
        source: CborError,
    },
    /// The payload is not a map.
    #[error("the payload must be a CBOR map with integer keys")]
    NotMap,
    /// An unknown key.
    #[error("unknown payload key {0} (keys are 1 to 13)")]
    UnknownKey(u64),
    /// A required field is absent.
    #[error("required field {0} is missing")]
    Missing(Field),
    /// Version other than 1.
    #[error("format version {0} is not supported (this receiver speaks version 1)")]
    Version(u64),
    /// seq 0.
    #[error("seq starts at 1")]
    SeqZero,
    /// prev not 32 bytes.
    #[error("prev must be 32 bytes (a SHA-256), found {0}")]
    PrevLength(usize),
    /// seq 1 with a prev that is not all zeros.
    #[error("the first event (seq 1) must have prev = 32 zero bytes")]
    FirstPrevNotZero,
    /// An unknown kind code.
    #[error("unknown kind {0} (kinds are 1 to 15)")]
    UnknownKind(u64),
    /// An empty items array.
    #[error("items must name at least one item")]
    NoItems,
    /// An item that is not an EPC URI.
    #[error("item {index}: {error}")]
    Item {
        /// Position in `items`.
        index: usize,
        /// What is wrong.
        error: EpcError,
    },
    /// An EPC of a scheme not allowed in this field.
    #[error("{field} must be {allowed}")]
    Scheme {
        /// The field.
        field: Field,
        /// What is allowed there.
        allowed: &'static str,
    },
    /// A bad EPC in parent, party or where.
    #[error("{field}: {error}")]
    Epc {
        /// The field.
        field: Field,
        /// What is wrong.
        error: EpcError,
    },
    /// Latitude or longitude out of range, or only one of them.
    #[error(
        "where: give both latitude (key 1, -900000000..=900000000) and longitude (key 2, \
         -1800000000..=1800000000) in 1e-7 degrees"
    )]
    Position,
    /// An empty `where` map or `readings` map.
    #[error("{0} must not be empty when present")]
    Empty(Field),
    /// An unknown reading key.
    #[error("unknown reading key {0} (keys are 1 to 9)")]
    UnknownReading(u64),
    /// A reading out of its physical range.
    #[error(transparent)]
    Reading(#[from] OutOfRange),
    /// doc too long or with control characters.
    #[error("doc must be 1 to 256 characters without control characters")]
    Doc,
    /// dropped = 0.
    #[error("dropped must be at least 1 when present (leave it out for none)")]
    DroppedZero,
    /// dropped larger than the number of events before this one.
    #[error("dropped is {dropped} but only {before} events come before seq {seq}")]
    DroppedTooMany {
        /// The reported count.
        dropped: u64,
        /// seq - 1.
        before: u64,
        /// The event's seq.
        seq: u64,
    },
    /// seq at or above 2^53.
    #[error("seq must be below 2^53 (9007199254740992)")]
    SeqTooLarge,
    /// time outside [2000-01-01, 2100-01-01).
    #[error(
        "time must be Unix milliseconds from 2000-01-01 (946684800000) to before 2100-01-01 (4102444800000)"
    )]
    TimeOutOfRange,
    /// More than [`ITEMS_MAX`] items.
    #[error("items may name at most 256 items")]
    TooManyItems,
    /// The same item twice.
    #[error("items {first} and {second} name the same item")]
    DuplicateItem {
        /// Position of the first naming.
        first: usize,
        /// Position of the repeat.
        second: usize,
    },
    /// An item that is also the event's parent.
    #[error("item {index} is the parent itself (an aggregate cannot contain itself)")]
    ItemIsParent {
        /// Position in `items`.
        index: usize,
    },
    /// A field this kind requires is absent.
    #[error("a {kind} event needs {field}")]
    KindNeeds {
        /// The kind.
        kind: Kind,
        /// The missing field.
        field: Field,
    },
    /// A bad `master` map.
    #[error(transparent)]
    Master(#[from] MasterError),
    /// The event is dated too far in the future.
    #[error("time is {ahead_ms} ms ahead of the receiver's clock (at most 300000 allowed)")]
    FromTheFuture {
        /// How far ahead.
        ahead_ms: i64,
    },
}

/// The items an event is about: EPC URIs (SGTIN or SSCC), checked at decode time.
#[derive(Debug, Clone, Copy)]
pub struct Items<'a> {
    encoded: &'a [u8],
    len: usize,
}

impl<'a> Items<'a> {
    /// How many items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none (never true for a decoded event).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item URIs, in the order the device wrote them.
    pub fn iter(&self) -> ItemsIter<'a> {
        ItemsIter {
            r: Reader::new(self.encoded),
            left: self.len,
        }
    }
}

impl<'a> IntoIterator for Items<'a> {
    type Item = &'a str;
    type IntoIter = ItemsIter<'a>;
    fn into_iter(self) -> ItemsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Items`].
pub struct ItemsIter<'a> {
    r: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for ItemsIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Decoding already read these exact bytes successfully.
        self.r.str().ok()
    }
}

/// A decoded event payload. Every field has passed SPEC §3's rules; the time has not yet been
/// compared with a clock (see [`Event::check_time`]).
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Per-device sequence number, from 1.
    pub seq: u64,
    /// SHA-256 of the device's previous message; zeros for seq 1.
    pub prev: [u8; 32],
    /// The device clock, Unix milliseconds UTC.
    pub time: i64,
    /// What happened.
    pub kind: Kind,
    /// What it happened to.
    pub items: Items<'a>,
    /// The aggregate, for packed and unpacked.
    pub parent: Option<Epc>,
    /// Where.
    pub location: Option<Location>,
    /// Sensor readings.
    pub readings: Readings,
    /// The counterparty receiving custody.
    pub party: Option<Epc>,
    /// A business document reference.
    pub doc: Option<&'a str>,
    /// Events this device discarded since it last reported.
    pub dropped: Option<u64>,
    /// A battery's master data (commissioned events only).
    pub master: Option<Master>,
}

fn field_err(field: Field) -> impl Fn(CborError) -> EventError {
    move |source| EventError::FieldCbor { field, source }
}

fn epc_field(
    r: &mut Reader<'_>,
    field: Field,
    allowed: &[Scheme],
    allowed_text: &'static str,
) -> Result<Epc, EventError> {
    let s = r.str().map_err(field_err(field))?;
    let epc = Epc::parse(s).map_err(|error| EventError::Epc { field, error })?;
    if !allowed.contains(&epc.scheme()) {
        return Err(EventError::Scheme {
            field,
            allowed: allowed_text,
        });
    }
    Ok(epc)
}

const ITEM_SCHEMES: &[Scheme] = &[Scheme::Sgtin, Scheme::Sscc];
const ITEM_SCHEMES_TEXT: &str = "an SGTIN or SSCC EPC URI";

impl<'a> Event<'a> {
    /// Decodes and checks a payload. Rejects anything that is not deterministic CBOR.
    pub fn decode(payload: &'a [u8]) -> Result<Self, EventError> {
        let mut r = Reader::new(payload);
        if r.peek()? != Type::Map {
            return Err(EventError::NotMap);
        }
        let n = r.map()?;
        let mut version = None;
        let mut seq = None;
        let mut prev = None;
        let mut time = None;
        let mut kind = None;
        let mut items = None;
        let mut parent = None;
        let mut location = None;
        let mut readings = Readings::new();
        let mut has_readings = false;
        let mut party = None;
        let mut doc = None;
        let mut dropped = None;
        let mut master = None;
        let mut last = None;
        for _ in 0..n {
            let key = r.key_after(last)?;
            last = Some(key);
            let field = Field::from_key(key).ok_or(EventError::UnknownKey(key))?;
            let fe = field_err(field);
            match field {
                Field::Version => version = Some(r.u64().map_err(fe)?),
                Field::Seq => seq = Some(r.u64().map_err(fe)?),
                Field::Prev => {
                    let b = r.bytes().map_err(fe)?;
                    let p: [u8; 32] = b.try_into().map_err(|_| EventError::PrevLength(b.len()))?;
                    prev = Some(p);
                }
                Field::Time => time = Some(r.i64().map_err(fe)?),
                Field::Kind => {
                    let k = r.u64().map_err(fe)?;
                    kind = Some(Kind::from_code(k).ok_or(EventError::UnknownKind(k))?);
                }
                Field::Items => {
                    let count = r.array().map_err(fe)?;
                    if count > ITEMS_MAX as u64 {
                        return Err(EventError::TooManyItems);
                    }
                    let start = r.position();
                    for index in 0..count {
                        let index = index as usize;
                        let s = r.str().map_err(field_err(Field::Items))?;
                        let epc =
                            Epc::parse(s).map_err(|error| EventError::Item { index, error })?;
                        if !ITEM_SCHEMES.contains(&epc.scheme()) {
                            return Err(EventError::Scheme {
                                field: Field::Items,
                                allowed: ITEM_SCHEMES_TEXT,
                            });
                        }
                    }
                    if count == 0 {
                        return Err(EventError::NoItems);
                    }
                    items = Some(Items {
                        encoded: &r.input()[start..r.position()],
                        len: count as usize,
                    });
                }
                Field::Parent => {
                    parent = Some(epc_field(&mut r, field, ITEM_SCHEMES, ITEM_SCHEMES_TEXT)?)
                }
                Field::Where => location = Some(decode_where(&mut r)?),
                Field::Readings => {
                    let count = r.map().map_err(fe)?;
                    if count == 0 {
                        return Err(EventError::Empty(Field::Readings));
                    }
                    let mut last_q = None;
                    for _ in 0..count {
                        let k = r.key_after(last_q)?;
                        last_q = Some(k);
                        let q = Quantity::from_key(k).ok_or(EventError::UnknownReading(k))?;
                        let v = r.i64().map_err(field_err(Field::Readings))?;
                        readings.set(q, v)?;
                    }
                    has_readings = true;
                }
                Field::Party => {
                    party = Some(epc_field(
                        &mut r,
                        field,
                        &[Scheme::Sgln, Scheme::Pgln],
                        "an SGLN or PGLN EPC URI",
                    )?)
                }
                Field::Doc => {
                    let d = r.str().map_err(fe)?;
                    if d.is_empty()
                        || d.chars().count() > DOC_MAX
                        || d.chars().any(char::is_control)
                    {
                        return Err(EventError::Doc);
                    }
                    doc = Some(d);
                }
                Field::Dropped => {
                    let d = r.u64().map_err(fe)?;
                    if d == 0 {
                        return Err(EventError::DroppedZero);
                    }
                    dropped = Some(d);
                }
                Field::Master => master = Some(Master::decode(&mut r)?),
            }
        }
        r.finish()?;

        let version = version.ok_or(EventError::Missing(Field::Version))?;
        if version != VERSION {
            return Err(EventError::Version(version));
        }
        let seq = seq.ok_or(EventError::Missing(Field::Seq))?;
        if seq == 0 {
            return Err(EventError::SeqZero);
        }
        if seq >= SEQ_LIMIT {
            return Err(EventError::SeqTooLarge);
        }
        if let Some(d) = dropped {
            if d > seq - 1 {
                return Err(EventError::DroppedTooMany {
                    dropped: d,
                    before: seq - 1,
                    seq,
                });
            }
        }
        let prev = prev.ok_or(EventError::Missing(Field::Prev))?;
        if seq == 1 && prev != [0u8; 32] {
            return Err(EventError::FirstPrevNotZero);
        }
        let time = time.ok_or(EventError::Missing(Field::Time))?;
        if !(TIME_MIN_MS..TIME_END_MS).contains(&time) {
            return Err(EventError::TimeOutOfRange);
        }
        let kind = kind.ok_or(EventError::Missing(Field::Kind))?;
        let items = items.ok_or(EventError::Missing(Field::Items))?;
        check_distinct(&items, parent.as_ref())?;
        let needs = match kind {
            Kind::Packed | Kind::Unpacked if parent.is_none() => Some(Field::Parent),
            Kind::HandedOver if party.is_none() => Some(Field::Party),
            Kind::Measured | Kind::Excursion if !has_readings => Some(Field::Readings),
            _ => None,
        };
        if let Some(field) = needs {
            return Err(EventError::KindNeeds { kind, field });
        }
        if master.is_some() && kind != Kind::Commissioned {
            return Err(MasterError::NotCommissioned.into());
        }
        Ok(Event {
            seq,
            prev,
            time,
            kind,
            items,
            parent,
            location,
            readings,
            party,
            doc,
            dropped,
            master,
        })
    }

    /// SPEC §4: an event dated more than five minutes after `now_ms` (the receiver's clock,
    /// Unix milliseconds) is invalid.
    pub fn check_time(&self, now_ms: i64) -> Result<(), EventError> {
        let ahead_ms = self.time.saturating_sub(now_ms);
        if ahead_ms > MAX_CLOCK_AHEAD_MS {
            Err(EventError::FromTheFuture { ahead_ms })
        } else {
            Ok(())
        }
    }
}

/// SPEC §3: items pairwise distinct, none equal to the parent. EPC URIs are canonical (one
/// spelling per item), so comparing the text compares the items. Quadratic in the number of
/// items, which the 4 KiB message bounds (at most about 130 URIs): no allocation needed.
fn check_distinct(items: &Items<'_>, parent: Option<&Epc>) -> Result<(), EventError> {
    for (second, b) in items.iter().enumerate() {
        if parent.is_some_and(|p| Epc::parse(b).is_ok_and(|item| &item == p)) {
            return Err(EventError::ItemIsParent { index: second });
        }
        if let Some(first) = items.iter().take(second).position(|a| a == b) {
            return Err(EventError::DuplicateItem { first, second });
        }
    }
    Ok(())
}

fn decode_where(r: &mut Reader<'_>) -> Result<Location, EventError> {
    let fe = field_err(Field::Where);
    let n = r.map().map_err(&fe)?;
    if n == 0 {
        return Err(EventError::Empty(Field::Where));
    }
    let mut lat = None;
    let mut lon = None;
    let mut sgln = None;
    let mut last = None;
    for _ in 0..n {
        let k = r.key_after(last)?;
        last = Some(k);
        match k {
            1 => lat = Some(r.i64().map_err(&fe)?),
            2 => lon = Some(r.i64().map_err(&fe)?),
            3 => {
                sgln = Some(epc_field(
                    r,
                    Field::Where,
                    &[Scheme::Sgln],
                    "an SGLN EPC URI",
                )?)
            }
            _ => return Err(EventError::Position),
        }
    }
    let lat_lon = match (lat, lon) {
        (None, None) => None,
        (Some(lat), Some(lon))
            if (-900_000_000..=900_000_000).contains(&lat)
                && (-1_800_000_000..=1_800_000_000).contains(&lon) =>
        {
            // In range, so both fit an i32.
            Some((lat as i32, lon as i32))
        }
        _ => return Err(EventError::Position),
    };
    Ok(Location { lat_lon, sgln })
}

/// An event to encode: what a board or an operator fills in before signing.
#[derive(Debug, Clone)]
pub struct Draft<'d> {
    /// Sequence number, from 1.
    pub seq: u64,
    /// SHA-256 of the previous message; zeros for seq 1.
    pub prev: [u8; 32],
    /// Unix milliseconds UTC.
    pub time: i64,
    /// What happened.
    pub kind: Kind,
    /// What it happened to (SGTIN or SSCC).
    pub items: &'d [Epc],
    /// The aggregate (packed, unpacked).
    pub parent: Option<&'d Epc>,
    /// Where.
    pub location: Option<&'d Location>,
    /// Readings.
    pub readings: Readings,
    /// Who receives custody (SGLN or PGLN).
    pub party: Option<&'d Epc>,
    /// Business document reference.
    pub doc: Option<&'d str>,
    /// Events discarded since the last report.
    pub dropped: Option<u64>,
    /// A battery's master data (commissioned only).
    pub master: Option<&'d Master>,
}

impl<'d> Draft<'d> {
    /// A draft with the required fields and nothing else.
    pub fn new(seq: u64, prev: [u8; 32], time: i64, kind: Kind, items: &'d [Epc]) -> Self {
        Self {
            seq,
            prev,
            time,
            kind,
            items,
            parent: None,
            location: None,
            readings: Readings::new(),
            party: None,
            doc: None,
            dropped: None,
            master: None,
        }
    }
}

/// Encoding a draft failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The buffer cannot hold the payload.
    #[error("the event does not fit the buffer (events are at most 4096 bytes signed)")]
    BufferTooSmall,
    /// The draft breaks a rule of SPEC §3.
    #[error("{0}")]
    Invalid(#[from] EventError),
}

type EncResult = Result<(), minicbor::encode::Error<minicbor::encode::write::EndOfSlice>>;

fn write_epc(e: &mut SliceEncoder<'_>, epc: &Epc) -> EncResult {
    let mut s = heapless::String::<EPC_URI_MAX>::new();
    // EPC_URI_MAX bounds every URI Epc can produce.
    let _ = write!(s, "{epc}");
    e.str(&s)?;
    Ok(())
}

fn encode_fields(d: &Draft<'_>, e: &mut SliceEncoder<'_>) -> EncResult {
    let n = 6
        + u64::from(d.parent.is_some())
        + u64::from(d.location.is_some())
        + u64::from(!d.readings.is_empty())
        + u64::from(d.party.is_some())
        + u64::from(d.doc.is_some())
        + u64::from(d.dropped.is_some())
        + u64::from(d.master.is_some());
    e.map(n)?;
    e.u8(1)?.u64(VERSION)?;
    e.u8(2)?.u64(d.seq)?;
    e.u8(3)?.bytes(&d.prev)?;
    e.u8(4)?.i64(d.time)?;
    e.u8(5)?.u8(d.kind.code())?;
    e.u8(6)?.array(d.items.len() as u64)?;
    for item in d.items {
        write_epc(e, item)?;
    }
    if let Some(p) = d.parent {
        e.u8(7)?;
        write_epc(e, p)?;
    }
    if let Some(loc) = d.location {
        e.u8(8)?;
        e.map(2 * u64::from(loc.lat_lon.is_some()) + u64::from(loc.sgln.is_some()))?;
        if let Some((lat, lon)) = loc.lat_lon {
            e.u8(1)?.i32(lat)?;
            e.u8(2)?.i32(lon)?;
        }
        if let Some(s) = &loc.sgln {
            e.u8(3)?;
            write_epc(e, s)?;
        }
    }
    if !d.readings.is_empty() {
        e.u8(9)?.map(d.readings.len() as u64)?;
        for (q, v) in d.readings.iter() {
            e.u8(q.key())?.i64(v)?;
        }
    }
    if let Some(p) = d.party {
        e.u8(10)?;
        write_epc(e, p)?;
    }
    if let Some(doc) = d.doc {
        e.u8(11)?.str(doc)?;
    }
    if let Some(n) = d.dropped {
        e.u8(12)?.u64(n)?;
    }
    if let Some(m) = d.master {
        e.u8(13)?;
        m.encode(e)?;
    }
    Ok(())
}

impl Draft<'_> {
    /// Encodes the payload as deterministic CBOR into `out`, then decodes it again so that a
    /// draft breaking any rule is refused here rather than by the receiver.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = {
            let mut e = encoder(out);
            encode_fields(self, &mut e).map_err(|_| EncodeError::BufferTooSmall)?;
            e.writer().position()
        };
        Event::decode(&out[..len])?;
        Ok(len)
    }
}

/// Encodes `draft`, signs it as `device` and writes the COSE_Sign1 message into `out`,
/// returning its length. Needs no buffer beyond `out`.
pub fn sign_event(
    key: &SigningKey,
    device: &DeviceId,
    draft: &Draft<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut protected = [0u8; cose::PROTECTED_MAX];
    let p = cose::protected_header(CONTENT_TYPE, device.as_str().as_bytes(), &mut protected)
        .ok_or(EncodeError::BufferTooSmall)?;
    let n =
        cose::sign1(key, &protected[..p], out, |buf| draft.encode(buf)).map_err(|e| match e {
            cose::SignError::BufferTooSmall => EncodeError::BufferTooSmall,
            cose::SignError::Payload(e) => e,
        })?;
    if n > MAX_MESSAGE {
        return Err(EncodeError::BufferTooSmall);
    }
    Ok(n)
}

/// Signs `payload` as it is, as `device`, into `out`: a correctly signed envelope around bytes
/// that need not be an event SPEC §3 accepts. For tests, fuzz targets and tools that must show
/// what the log does with a hostile signer's message (the ingest refuses it at decoding, and
/// an entry already in a log is a finding, never a stop); [`sign_event`] is the way to sign
/// an event. Returns the message's length.
pub fn sign_payload(
    key: &SigningKey,
    device: &DeviceId,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut protected = [0u8; cose::PROTECTED_MAX];
    let p = cose::protected_header(CONTENT_TYPE, device.as_str().as_bytes(), &mut protected)
        .ok_or(EncodeError::BufferTooSmall)?;
    cose::sign1(key, &protected[..p], out, |buf| {
        buf.get_mut(..payload.len())
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(payload);
        Ok::<_, EncodeError>(payload.len())
    })
    .map_err(|e| match e {
        cose::SignError::BufferTooSmall => EncodeError::BufferTooSmall,
        cose::SignError::Payload(e) => e,
    })
}

/// Why received bytes are not a well-formed signed event (SPEC §4 reasons `too_large` and
/// `malformed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// More than 4 KiB.
    #[error("message is {0} bytes; at most 4096 are accepted")]
    TooLarge(usize),
    /// Not a COSE_Sign1 of the right shape.
    #[error(transparent)]
    Cose(#[from] CoseError),
    /// No kid in the protected header.
    #[error("the protected header must carry the device ID as kid (label 4)")]
    MissingKid,
    /// kid is not a device ID.
    #[error("kid is not a device ID: {0}")]
    Kid(DeviceIdError),
    /// Content type is missing or not the event's.
    #[error("content type (label 3) must be \"application/vnd.provenance.event+cbor\"")]
    ContentType,
    /// Unprotected header not empty.
    #[error("the unprotected header must be an empty map")]
    Unprotected,
}

impl EnvelopeError {
    /// The SPEC §4 reason word for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            EnvelopeError::TooLarge(_) => "too_large",
            _ => "malformed",
        }
    }
}

/// A well-formed signed event whose signature is not yet checked.
#[derive(Debug, Clone)]
pub struct SignedEvent<'a> {
    sign1: Sign1<'a>,
    device: DeviceId,
}

impl<'a> SignedEvent<'a> {
    /// Checks size and envelope: SPEC §4 step 1.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let sign1 = Sign1::parse(bytes)?;
        if !sign1.is_tagged() {
            return Err(CoseError::Tag { found: None }.into());
        }
        sign1.ed25519_signature()?;
        let h = sign1.protected();
        let kid = h.kid.ok_or(EnvelopeError::MissingKid)?;
        let device = DeviceId::from_bytes(kid).map_err(EnvelopeError::Kid)?;
        if h.content_type != Some(ContentType::Text(CONTENT_TYPE)) {
            return Err(EnvelopeError::ContentType);
        }
        if *sign1.unprotected() != cose::Header::default() {
            return Err(EnvelopeError::Unprotected);
        }
        Ok(Self { sign1, device })
    }

    /// The device that claims to have signed it (the kid).
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The message as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.sign1.bytes()
    }

    /// The COSE parts.
    pub fn sign1(&self) -> &Sign1<'a> {
        &self.sign1
    }

    /// Only for `batch::verify_batch`, after its batch path (the batch equation, or the strict
    /// single check it falls back to) accepted this event's signature.
    #[cfg(feature = "batch")]
    pub(crate) fn into_authenticated_by_batch(self) -> Authenticated<'a> {
        Authenticated { inner: self }
    }

    /// Checks the signature with the device's registered key: SPEC §4 step 3.
    pub fn verify(self, key: &VerifyingKey) -> Result<Authenticated<'a>, SignatureInvalid> {
        self.sign1.verify_ed25519(key)?;
        Ok(Authenticated { inner: self })
    }
}

/// A signed event whose signature verified; the payload is not yet decoded.
#[derive(Debug, Clone)]
pub struct Authenticated<'a> {
    inner: SignedEvent<'a>,
}

impl<'a> Authenticated<'a> {
    /// The signer.
    pub fn device(&self) -> &DeviceId {
        &self.inner.device
    }

    /// The message as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.inner.bytes()
    }

    /// Decodes and checks the payload: SPEC §4 step 4, all but the clock check, which needs
    /// the receiver's clock ([`VerifiedEvent::check_time`]).
    pub fn decode(self) -> Result<VerifiedEvent<'a>, EventError> {
        let event = Event::decode(self.inner.sign1.payload())?;
        Ok(VerifiedEvent {
            device: self.inner.device,
            bytes: self.inner.sign1.bytes(),
            event,
        })
    }
}

/// An event whose signature verified with its device's key and whose payload follows SPEC §3.
/// Only [`Authenticated::decode`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedEvent<'a> {
    device: DeviceId,
    bytes: &'a [u8],
    event: Event<'a>,
}

impl<'a> VerifiedEvent<'a> {
    /// The signer.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The COSE_Sign1 message exactly as received: what the ledger stores.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The event.
    pub fn event(&self) -> &Event<'a> {
        &self.event
    }

    /// SHA-256 of the message, the value the device's next `prev` should hold.
    pub fn hash(&self) -> [u8; 32] {
        message_hash(self.bytes)
    }

    /// The clock rule of SPEC §4.
    pub fn check_time(&self, now_ms: i64) -> Result<(), EventError> {
        self.event.check_time(now_ms)
    }
}
