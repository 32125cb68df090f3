//! The GS1 resolver (GS1 Digital Link 1.4, GS1-Conformant Resolver 1.1; issue #18): what this
//! server answers at the GS1 Digital Link URIs of the items in its log, and the resolver
//! description at `/.well-known/gs1resolver`.
//!
//! It owns the Digital Link paths: an item's (`/01/{gtin}[/22/{cpv}][/10/{lot}]/21/{serial}`,
//! `/00/{sscc}`), which answer the item's trace page (`pages::trace` renders it), and a
//! product's (`/01/{gtin}` alone), which answers a page listing the items of that GTIN the log
//! knows. A GTIN may be given as GTIN-8, -12, -13 or -14; it is padded to 14 digits and its
//! check digit verified. On each of them:
//!
//! - `?linkType=all` (or `linkset`, or `Accept: application/linkset+json`) answers the links
//!   this server has for the identifier as an RFC 9264 linkset (`application/linkset+json`);
//! - `?linkType=gs1:epcis` (a CURIE or the full URI) redirects (307) to that link, passing the
//!   query string on as the standard asks; a link type we do not have is a 404 that lists the
//!   ones we have;
//! - every answer about a known identifier carries a `Link` header: the linkset
//!   (`rel="linkset"`) and the identifier's canonical Digital Link URI (`rel="owl:sameAs"`).
//!
//! Every absolute URL here (linkset anchors and targets, `Link` headers, redirects,
//! `resolverRoot`) starts with the server's public URL (`serve --public-url`), never with a
//! `Host` header that does not name this machine (see `pages::trace::link_base`), so a hostile
//! `Host` cannot send a scanner elsewhere. Nothing from the request reaches a header but the
//! identifier as the parser canonicalised it and, on a redirect, the query string as received.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use provenance_event::{DigitalLink, Epc, Scheme};
use serde_json::{Map, Value, json};

use crate::PublicUrl;
use crate::api::AppState;
use crate::lookup::{self, Query};
use crate::pages::PageError;
use crate::pages::layout::{Footer, page};
use crate::pages::trace::{encode, link_base, render_with};

/// The media type of an RFC 9264 JSON linkset.
pub const LINKSET_JSON: &str = "application/linkset+json";
/// The GS1 web vocabulary, as the linksets write its link types.
pub const GS1_VOC: &str = "https://gs1.org/voc/";
/// The spellings of the GS1 web vocabulary a `linkType` may use: the resolver standard asks a
/// resolver to recognise them all.
const GS1_VOC_ALIASES: &[&str] = &[
    "https://gs1.org/voc/",
    "http://gs1.org/voc/",
    "https://www.gs1.org/voc/",
    "https://ref.gs1.org/voc/",
];
/// The JSON-LD context GS1 publishes for linksets (announced in a `Link` header and the
/// resolver description, so a client can read a linkset as JSON-LD).
pub const LINKSET_CONTEXT: &str = "https://ref.gs1.org/standards/resolver/linkset-context";
/// Where this server's own link types live, below its public URL: the evidence bundle and the
/// customs view have no GS1 link type.
const OWN_VOC_PATH: &str = "/voc/";
/// The CURIE prefix of this server's own link types.
const OWN_PREFIX: &str = "provenance:";
/// How many items a product page lists.
pub const PRODUCT_ITEMS_SHOWN: usize = 100;
/// How far a product page counts its items before it says "more than".
pub const PRODUCT_ITEMS_COUNTED: u32 = 10_000;
/// Longest `linkType` value read: a longer one is no link type we have.
const LINK_TYPE_MAX: usize = 256;

/// A link type this server can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// `gs1:defaultLink`: where the identifier leads when nothing else is asked for.
    Default,
    /// `gs1:pip`: the product information page (a GTIN's page here).
    Pip,
    /// `gs1:traceability`: the trace page and the JSON trace.
    Traceability,
    /// `gs1:epcis`: the history as an EPCIS 2.0 document.
    Epcis,
    /// `provenance:evidence`: the evidence bundle, verifiable offline.
    Evidence,
    /// `provenance:customs`: the customs view of a consignment.
    Customs,
    /// `provenance:passport`: the EU battery passport of a cell, module or pack.
    Passport,
}

impl LinkType {
    /// Every link type, in the order linksets and error pages list them.
    pub const ALL: [LinkType; 7] = [
        LinkType::Default,
        LinkType::Pip,
        LinkType::Traceability,
        LinkType::Epcis,
        LinkType::Evidence,
        LinkType::Customs,
        LinkType::Passport,
    ];

    fn term(self) -> &'static str {
        match self {
            LinkType::Default => "defaultLink",
            LinkType::Pip => "pip",
            LinkType::Traceability => "traceability",
            LinkType::Epcis => "epcis",
            LinkType::Evidence => "evidence",
            LinkType::Customs => "customs",
            LinkType::Passport => "passport",
        }
    }

    fn is_gs1(self) -> bool {
        !matches!(
            self,
            LinkType::Evidence | LinkType::Customs | LinkType::Passport
        )
    }

    /// The short form: `gs1:epcis`, `provenance:evidence`.
    pub fn curie(self) -> String {
        let prefix = if self.is_gs1() { "gs1:" } else { OWN_PREFIX };
        format!("{prefix}{}", self.term())
    }

    /// The full URI, as a linkset's relation type; `root` is the server's public URL.
    pub fn uri(self, root: &str) -> String {
        if self.is_gs1() {
            format!("{GS1_VOC}{}", self.term())
        } else {
            format!("{root}{OWN_VOC_PATH}{}", self.term())
        }
    }

    /// Reads a `linkType` value: a CURIE or a full URI in any spelling of its vocabulary.
    pub fn parse(value: &str, root: &str) -> Option<LinkType> {
        let own = format!("{root}{OWN_VOC_PATH}");
        let term = value
            .strip_prefix("gs1:")
            .or_else(|| GS1_VOC_ALIASES.iter().find_map(|v| value.strip_prefix(v)))
            .map(|t| (t, true))
            .or_else(|| {
                value
                    .strip_prefix(OWN_PREFIX)
                    .or_else(|| value.strip_prefix(own.as_str()))
                    .map(|t| (t, false))
            })?;
        LinkType::ALL
            .into_iter()
            .find(|l| l.is_gs1() == term.1 && l.term() == term.0)
    }
}

/// One link of a linkset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its type.
    pub rel: LinkType,
    /// Absolute URL.
    pub href: String,
    /// What a person sees.
    pub title: &'static str,
    /// The media type of what it answers.
    pub media: &'static str,
}

/// What the identifier is, with the links we have for it.
#[derive(Debug, Clone)]
struct Links {
    /// The canonical Digital Link URI (no key qualifiers, GTIN-14): the linkset's anchor.
    anchor: String,
    /// A sentence about the identifier, for the linkset.
    description: String,
    links: Vec<Link>,
}

impl Links {
    /// The links of `rel`, first the one whose media type the client accepts best.
    fn pick(&self, rel: LinkType, headers: &HeaderMap) -> Option<&Link> {
        let accept = header_str(headers, header::ACCEPT);
        let mut of_type = self.links.iter().filter(|l| l.rel == rel);
        let first = of_type.next()?;
        Some(
            std::iter::once(first)
                .chain(of_type)
                .find(|l| accept.contains(l.media))
                .unwrap_or(first),
        )
    }

    /// The linkset (RFC 9264 §4.2) of these links.
    fn linkset(&self, root: &str) -> Value {
        let mut context = Map::new();
        context.insert("anchor".into(), Value::String(self.anchor.clone()));
        // `itemDescription` is the name the resolver standard's first linkset schema used.
        context.insert(
            "description".into(),
            Value::String(self.description.clone()),
        );
        context.insert(
            "itemDescription".into(),
            Value::String(self.description.clone()),
        );
        for rel in LinkType::ALL {
            let targets: Vec<Value> = self
                .links
                .iter()
                .filter(|l| l.rel == rel)
                .map(|l| {
                    let mut t = json!({ "href": l.href, "title": l.title, "type": l.media });
                    if l.media == "text/html" {
                        t["hreflang"] = json!(["en"]);
                    }
                    t
                })
                .collect();
            if !targets.is_empty() {
                context.insert(rel.uri(root), Value::Array(targets));
            }
        }
        json!({ "linkset": [Value::Object(context)] })
    }

    /// The `Link` header: the linkset, and the canonical URI of the identifier.
    fn header(&self) -> Option<HeaderValue> {
        let a = &self.anchor;
        HeaderValue::from_str(&format!(
            "<{a}?linkType=all>; rel=\"linkset\"; type=\"{LINKSET_JSON}\", \
             <{a}>; rel=\"owl:sameAs\", <{a}>; rel=\"canonical\""
        ))
        .ok()
    }
}

/// The links of an item (an SGTIN or SSCC the log knows).
fn item_links(root: &str, epc: &Epc) -> Links {
    let enc = encode(&epc.to_string());
    let page = format!("{root}/items/{enc}");
    let api = format!("{root}/api/v1/items/{enc}");
    let mut links = vec![
        Link {
            rel: LinkType::Default,
            href: page.clone(),
            title: "Trace page",
            media: "text/html",
        },
        Link {
            rel: LinkType::Traceability,
            href: page,
            title: "Trace page: the verified history and chain of custody",
            media: "text/html",
        },
        Link {
            rel: LinkType::Traceability,
            href: format!("{api}/trace"),
            title: "JSON trace: every event with signer, place, readings and log index",
            media: "application/json",
        },
        Link {
            rel: LinkType::Epcis,
            href: format!("{api}/epcis"),
            title: "EPCIS 2.0 events (JSON-LD)",
            media: "application/ld+json",
        },
        Link {
            rel: LinkType::Evidence,
            href: format!("{api}/evidence"),
            title: "Evidence bundle, verifiable offline with provenance verify --bundle",
            media: "application/json",
        },
    ];
    match epc.scheme() {
        Scheme::Sscc => links.push(Link {
            rel: LinkType::Customs,
            href: format!("{root}/customs/{enc}"),
            title: "Customs view: the offline verification of the evidence bundle",
            media: "text/html",
        }),
        _ => links.extend([
            Link {
                rel: LinkType::Pip,
                href: format!("{root}/01/{}", epc.gs1_key()),
                title: "Product page: the items of this GTIN in the log",
                media: "text/html",
            },
            Link {
                rel: LinkType::Passport,
                href: format!("{root}/passport/{enc}"),
                title: "Battery passport (EU 2023/1542 Annex XIII), each field with its proof",
                media: "text/html",
            },
            Link {
                rel: LinkType::Passport,
                href: format!("{api}/passport"),
                title: "Battery passport as JSON (Battery Pass data model field names)",
                media: "application/json",
            },
        ]),
    }
    let description = match epc.scheme() {
        Scheme::Sscc => format!("Consignment {epc} (SSCC {})", epc.gs1_key()),
        _ => format!(
            "Item {epc} (GTIN {}, serial {})",
            epc.gs1_key(),
            epc.serial()
        ),
    };
    Links {
        anchor: format!("{root}{}", epc.digital_link_path()),
        description,
        links,
    }
}

/// The links of a product (a GTIN without serial): its own page, which this resolver answers
/// at the anchor itself.
fn product_links(root: &str, gtin: &str) -> Links {
    let anchor = format!("{root}/01/{gtin}");
    let here = |rel| Link {
        rel,
        href: anchor.clone(),
        title: "Product page: the items of this GTIN in the log",
        media: "text/html",
    };
    Links {
        description: format!("Product GTIN {gtin}"),
        links: vec![here(LinkType::Default), here(LinkType::Pip)],
        anchor,
    }
}

/// What the request asks of a Digital Link URI.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ask {
    /// The page (no `linkType`).
    Page,
    /// The linkset (`linkType=all` or `linkset`, or `Accept: application/linkset+json`).
    Linkset,
    /// One link type, as given.
    Link(String),
}

fn ask(query: Option<&str>, headers: &HeaderMap) -> Ask {
    match query.and_then(|q| query_param(q, "linkType")) {
        Some(v) if v == "all" || v == "linkset" => Ask::Linkset,
        Some(v) => Ask::Link(v),
        None if header_str(headers, header::ACCEPT).contains(LINKSET_JSON) => Ask::Linkset,
        None => Ask::Page,
    }
}

/// `?all` (any value but `0` or `false`), as `pages::trace::PageQuery` reads it.
fn all_folds(query: Option<&str>) -> bool {
    query
        .and_then(|q| query_param(q, "all"))
        .is_some_and(|a| a != "0" && a != "false")
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

/// The first value of `name` in a query string, percent-decoded (`+` is a space, as in forms).
/// A value longer than [`LINK_TYPE_MAX`] is cut there: no link type is that long.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            let end = v
                .char_indices()
                .nth(LINK_TYPE_MAX)
                .map_or(v.len(), |(i, _)| i);
            percent_decode(&v[..end])
        })
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match b[i] {
            b'%' => match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A GTIN as GS1 Digital Link allows it in a path (GTIN-8, -12, -13 or -14) as the 14 digits
/// of the key: shorter forms are padded with leading zeros. Anything else is left for the
/// parser to refuse.
fn gtin14(gtin: &str) -> String {
    if matches!(gtin.len(), 8 | 12 | 13) && gtin.bytes().all(|b| b.is_ascii_digit()) {
        format!("{gtin:0>14}")
    } else {
        gtin.to_string()
    }
}

/// The request's raw path with its GTIN as 14 digits. Raw, so that a serial keeps its
/// percent-escapes (`A%2FB`) for the Digital Link parser.
fn normalised_path(uri: &Uri) -> String {
    let path = uri.path();
    match path.strip_prefix("/01/") {
        Some(rest) => match rest.split_once('/') {
            Some((gtin, tail)) => format!("/01/{}/{tail}", gtin14(gtin)),
            None => format!("/01/{}", gtin14(rest)),
        },
        None => path.to_string(),
    }
}

/// The public URL this request's links start with (see `pages::trace::link_base`).
fn root(public: Option<Extension<PublicUrl>>, headers: &HeaderMap) -> String {
    link_base(public.map(|Extension(p)| p).as_ref(), headers)
}

/// `GET /01/{gtin}[/22/{cpv}][/10/{lot}]/21/{serial}` and `GET /00/{sscc}`: an item's Digital
/// Link (what the QR code on its label holds). The key qualifiers are accepted as given: the
/// serial (or the SSCC) alone names the item.
pub async fn item(
    State(s): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    public: Option<Extension<PublicUrl>>,
    whole: Option<Extension<crate::passport::PublicEntries>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let root = root(public, &headers);
    let path = normalised_path(&uri);
    let key = DigitalLink::parse(&path).map_err(|e| {
        PageError::BadRequest(format!("{path} is not a valid GS1 Digital Link: {e}."))
    })?;
    let Some(epc) = lookup::resolve(&s.ledger, &Query::Key(key.clone())).await? else {
        return Err(PageError::NotFound(format!(
            "The log holds no item with {}.",
            describe(&key)
        )));
    };
    let links = item_links(&root, &epc);
    let response = match ask(query.as_deref(), &headers) {
        // `?all=1` opens every fold of the journey, as on `/items/{id}` (the page links it
        // relative to itself, so it comes back here).
        Ask::Page => {
            let whole = whole.is_some_and(|Extension(crate::passport::PublicEntries(on))| on);
            item_page(&s, &epc, root.clone(), all_folds(query.as_deref()), whole).await?
        }
        Ask::Linkset => linkset(&links, &root),
        Ask::Link(asked) => follow(&s, &links, &root, &asked, query.as_deref(), &headers).await?,
    };
    Ok(with_links(response, &links))
}

/// What an item's Digital Link opens: a battery's passport (an SGTIN whose commissioning
/// carries master data, as the Battery Regulation asks of the QR code on a battery), else the
/// trace page.
async fn item_page(
    s: &AppState,
    epc: &Epc,
    root: String,
    all: bool,
    whole: bool,
) -> Result<Response, PageError> {
    if epc.scheme() == Scheme::Sgtin {
        let g = crate::passport::gather(s, epc, root.clone(), whole).await?;
        if crate::pages::passport::is_battery(&g) {
            return crate::pages::passport::render(s, &g).await;
        }
        // Not a battery: its trace page, from what was read.
        return crate::pages::trace::render_loaded(s, epc, root, all, g.trace, g.registry).await;
    }
    render_with(s, epc, root, all).await
}

/// `GET /01/{gtin}`: a product, the items of that GTIN the log knows.
pub async fn product(
    State(s): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    public: Option<Extension<PublicUrl>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let root = root(public, &headers);
    let path = normalised_path(&uri);
    let gtin = path.strip_prefix("/01/").unwrap_or_default();
    check_gtin(gtin).map_err(PageError::BadRequest)?;
    // What this reader may see listed, read once; whether the product has items at all, for
    // the others, with one row per prefix at most.
    let reader = crate::access::serving();
    let listing = ProductItems::read(&s, &listed_prefixes(gtin, &reader)).await?;
    if listing.items.is_empty() && !ProductItems::exist(&s, gtin).await? {
        return Err(PageError::NotFound(format!(
            "The log holds no item of GTIN {gtin}: no event has named one yet. A GTIN names a \
             product; its items appear here once a station commissions them."
        )));
    }
    let links = product_links(&root, gtin);
    let response = match ask(query.as_deref(), &headers) {
        Ask::Page => product_page(&s, gtin, &listing, &reader).await,
        Ask::Linkset => linkset(&links, &root),
        Ask::Link(asked) => {
            match LinkType::parse(&asked, &root).and_then(|rel| links.pick(rel, &headers)) {
                // Every link of a product is its own page: answer it here, not by a redirect
                // to the same URL.
                Some(_) => product_page(&s, gtin, &listing, &reader).await,
                None => no_such_link(&s, &links, &root, &asked).await,
            }
        }
    };
    Ok(with_links(response, &links))
}

/// Why a GTIN in a path is not one, in words; `Ok` for 14 digits with a good check digit.
fn check_gtin(gtin: &str) -> Result<(), String> {
    if gtin.len() != 14 || !gtin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "“{gtin}” is not a GTIN: a GTIN has 8, 12, 13 or 14 digits. Product pages are at \
             /01/ followed by the GTIN, such as /01/04012345123456."
        ));
    }
    let (body, check) = gtin.split_at(13);
    let expected = provenance_event::epc::check_digit(body.as_bytes());
    if check.as_bytes() != [b'0' + expected] {
        return Err(format!(
            "GTIN {gtin} is not valid: the GS1 check digit is wrong, the last digit should be \
             {expected}."
        ));
    }
    Ok(())
}

/// The EPC URI prefixes a GTIN-14 can stand for, one per company-prefix length GS1 allows
/// (6–12): `urn:epc:id:sgtin:<company prefix>.<indicator><item reference>.`.
fn sgtin_prefixes(gtin: &str) -> Vec<String> {
    (6..=12)
        .filter_map(|n| {
            let (indicator, cp, item_ref) =
                (gtin.get(..1)?, gtin.get(1..1 + n)?, gtin.get(1 + n..13)?);
            Some(format!("urn:epc:id:sgtin:{cp}.{indicator}{item_ref}."))
        })
        .collect()
}

/// Which of a product's items a reader may see listed: an authority all of them, a partner
/// those under the prefixes the operator shared with it (`--items`), the public none. How
/// many items a product has and their serials are a maker's volumes (issue #14); a partner
/// reaches the items it is involved in through their own pages.
fn listed_prefixes(gtin: &str, reader: &provenance_access::Reader) -> Vec<String> {
    use provenance_access::Tier;
    let product = sgtin_prefixes(gtin);
    match reader.tier {
        Tier::Authority => product,
        Tier::Public => Vec::new(),
        Tier::Partner => {
            let mut out: Vec<String> = product
                .iter()
                .flat_map(|p| {
                    reader.shared.iter().filter_map(move |s| {
                        if s.starts_with(p.as_str()) {
                            Some(s.clone())
                        } else if p.starts_with(s.as_str()) {
                            Some(p.clone())
                        } else {
                            None
                        }
                    })
                })
                .collect();
            out.sort();
            out.dedup();
            out
        }
    }
}

/// The items of a GTIN a product page shows, with how many there are.
struct ProductItems {
    /// At most [`PRODUCT_ITEMS_SHOWN`], in EPC URI order.
    items: Vec<Epc>,
    /// How many the log knows, counted up to [`PRODUCT_ITEMS_COUNTED`] per prefix.
    count: u64,
    /// The count stopped at its bound.
    count_capped: bool,
}

impl ProductItems {
    /// Whether the log knows any item of `gtin`.
    async fn exist(s: &AppState, gtin: &str) -> Result<bool, PageError> {
        for p in sgtin_prefixes(gtin) {
            if !s.ledger.items_with_prefix(&p, None, 1).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The items under `prefixes` (EPC URI prefixes of one product).
    async fn read(s: &AppState, prefixes: &[String]) -> Result<Self, PageError> {
        // One more than shown, to know whether there are more without counting.
        let want = PRODUCT_ITEMS_SHOWN + 1;
        let mut found: Vec<String> = Vec::new();
        let mut with_items: Vec<&str> = Vec::new();
        for p in prefixes {
            let left = want.saturating_sub(found.len());
            if left == 0 {
                break;
            }
            let limit = u32::try_from(left).unwrap_or(u32::MAX);
            let got = s.ledger.items_with_prefix(p, None, limit).await?;
            if !got.is_empty() {
                with_items.push(p);
            }
            found.extend(got);
        }
        let (count, count_capped) = if found.len() <= PRODUCT_ITEMS_SHOWN {
            (found.len() as u64, false)
        } else {
            // Only now count, and only up to a bound: a page for a million items must cost
            // what one for a thousand does. (Later prefixes are rare: one company prefix per
            // GTIN is the rule; a log naming one GTIN two ways shows both.)
            let mut n = 0u64;
            let mut capped = false;
            for p in prefixes {
                let c = s
                    .ledger
                    .count_items_with_prefix(p, PRODUCT_ITEMS_COUNTED)
                    .await?;
                capped |= c >= u64::from(PRODUCT_ITEMS_COUNTED);
                n += c;
            }
            (n, capped)
        };
        let items = found
            .iter()
            .take(PRODUCT_ITEMS_SHOWN)
            // The index holds what the event decoder accepted, so every row parses; a row that
            // does not is left out rather than shown half.
            .filter_map(|u| Epc::parse(u).ok())
            .collect();
        Ok(ProductItems {
            items,
            count,
            count_capped,
        })
    }
}

/// A product's page: the items `listing` holds (what `reader` may see listed).
async fn product_page(
    s: &AppState,
    gtin: &str,
    listing: &ProductItems,
    reader: &provenance_access::Reader,
) -> Response {
    let cp = s.ledger.latest_checkpoint().await;
    let footer = Footer {
        size: cp.checkpoint.size,
        key: s.ledger.verifier().to_string(),
    };
    if listing.items.is_empty() {
        let body = html! {
            main #content.narrow {
                p.kicker { "Product" }
                h1 { "GTIN " code { (gtin) } }
                p.lead {
                    "The log holds items of this product. Each item's page (its label's QR code) shows its public facts, and all of it to the organisations involved in it. "
                    "The list of a product's items is a maker's volumes: authorities see it, and a partner the items the operator shared with it"
                    @if reader.tier == provenance_access::Tier::Public { ": " a href="/login" { "log in with a read token" } }
                    "."
                }
            }
        };
        return page(&format!("Product GTIN {gtin}"), true, Some(&footer), body).into_response();
    }
    let whose = if reader.tier == provenance_access::Tier::Authority {
        ""
    } else {
        " shared with you"
    };
    let shown = listing.items.len();
    let count = if listing.count_capped {
        format!("more than {}", listing.count)
    } else {
        listing.count.to_string()
    };
    let body = html! {
        main #content.narrow {
            p.kicker { "Product" }
            h1 { "GTIN " code { (gtin) } }
            p.lead {
                "The log knows " strong { (count) } " "
                (if listing.count == 1 && !listing.count_capped { "item" } else { "items" })
                " of this product" (whose) "."
                @if (shown as u64) < listing.count || listing.count_capped {
                    " The first " (shown) " by serial are listed; search for a serial to find another."
                }
            }
            h2 { "Items" }
            ul.items {
                @for epc in &listing.items {
                    li {
                        a href={"/items/" (encode(&epc.to_string()))} {
                            "Serial " code { (epc.serial()) }
                        }
                        " " span.urn { (epc.to_string()) }
                    }
                }
            }
        }
    };
    page(&format!("Product GTIN {gtin}"), true, Some(&footer), body).into_response()
}

/// The linkset answer.
fn linkset(links: &Links, root: &str) -> Response {
    let body = serde_json::to_string_pretty(&links.linkset(root)).unwrap_or_default();
    let mut r = ([(header::CONTENT_TYPE, LINKSET_JSON)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "<{LINKSET_CONTEXT}>; rel=\"http://www.w3.org/ns/json-ld#context\"; \
         type=\"application/ld+json\""
    )) {
        r.headers_mut().append(header::LINK, v);
    }
    r
}

/// `?linkType=…` on an item: a redirect to that link, or a 404 listing the ones we have.
async fn follow(
    s: &AppState,
    links: &Links,
    root: &str,
    asked: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let Some(link) = LinkType::parse(asked, root).and_then(|rel| links.pick(rel, headers)) else {
        return Ok(no_such_link(s, links, root, asked).await);
    };
    // The resolver standard asks for the whole query string to be passed on; it came in the
    // request line, so it is already URI text (and is dropped if a header cannot carry it).
    let with_query = query
        .filter(|q| !q.is_empty())
        .map(|q| format!("{}?{q}", link.href));
    let location = with_query
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
        .or_else(|| HeaderValue::from_str(&link.href).ok());
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Some(l) = location {
        r.headers_mut().insert(header::LOCATION, l);
    }
    Ok(r)
}

/// 404 for a link type the identifier has no link of, with the ones it has.
async fn no_such_link(s: &AppState, links: &Links, root: &str, asked: &str) -> Response {
    let cp = s.ledger.latest_checkpoint().await;
    let footer = Footer {
        size: cp.checkpoint.size,
        key: s.ledger.verifier().to_string(),
    };
    let body = html! {
        main #content.narrow {
            h1 { "No such link" }
            p.message role="alert" {
                "This server has no link of type “" (asked) "” for " (links.description) "."
            }
            h2 { "Links it has" }
            (link_list(links, root))
            p {
                "All of them as a linkset: "
                a href={(links.anchor) "?linkType=all"} { code { "?linkType=all" } } "."
            }
        }
    };
    (
        StatusCode::NOT_FOUND,
        page("No such link", true, Some(&footer), body),
    )
        .into_response()
}

fn link_list(links: &Links, root: &str) -> Markup {
    html! {
        ul.links {
            @for l in &links.links {
                li {
                    code { (l.rel.curie()) } " (" code { (l.rel.uri(root)) } "): "
                    a href=(l.href) { (l.title) } " " span.small { "(" (l.media) ")" }
                }
            }
        }
    }
}

/// Adds the `Link` header of a Digital Link answer, and `Vary: Accept`, since the linkset and
/// the choice between a link's targets depend on it.
fn with_links(mut response: Response, links: &Links) -> Response {
    let h = response.headers_mut();
    if let Some(v) = links.header() {
        h.append(header::LINK, v);
    }
    h.append(header::VARY, HeaderValue::from_static("Accept"));
    response
}

fn describe(key: &DigitalLink) -> String {
    match key {
        DigitalLink::Sgtin { gtin, serial } => format!("GTIN {gtin}, serial {serial}"),
        DigitalLink::Sscc { sscc } => format!("SSCC {sscc}"),
        DigitalLink::Sgln { gln, .. } | DigitalLink::Pgln { gln } => format!("GLN {gln}"),
    }
}

/// `GET /.well-known/gs1resolver`: the resolver description file of the GS1-Conformant
/// Resolver standard (section 3; field names as in GS1's description-file schema).
pub async fn description(public: Option<Extension<PublicUrl>>, headers: HeaderMap) -> Response {
    let root = root(public, &headers);
    let own = format!("{root}{OWN_VOC_PATH}");
    let doc = json!({
        "name": "Provenance: a supply-chain transparency log",
        "resolverRoot": root,
        "supportedPrimaryKeys": ["01", "00"],
        "supportedLinkType": [
            { "namespace": GS1_VOC, "prefix": "gs1:" },
            { "namespace": own, "prefix": OWN_PREFIX },
        ],
        // The default answer is the page itself; the linkset is one request away.
        "linkTypeDefaultCanBeLinkset": false,
        "jsonLdContextLocation": LINKSET_CONTEXT,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "https://trace.example.com";

    #[test]
    fn short_gtins_are_padded_to_fourteen_digits() {
        assert_eq!(gtin14("4012345123456"), "04012345123456");
        assert_eq!(gtin14("012345678905"), "00012345678905");
        assert_eq!(gtin14("40123455"), "00000040123455");
        assert_eq!(gtin14("04012345123456"), "04012345123456");
        assert_eq!(gtin14("40123451234"), "40123451234", "11 digits is no GTIN");
        assert_eq!(gtin14("4012345x23456"), "4012345x23456");
        let uri: Uri = "/01/4012345123456/10/L%2F1/21/A%2FB?x=1"
            .parse()
            .expect("uri");
        assert_eq!(
            normalised_path(&uri),
            "/01/04012345123456/10/L%2F1/21/A%2FB"
        );
        let uri: Uri = "/01/4012345123456".parse().expect("uri");
        assert_eq!(normalised_path(&uri), "/01/04012345123456");
    }

    #[test]
    fn gtins_are_checked() {
        assert_eq!(check_gtin("04012345123456"), Ok(()));
        assert!(
            check_gtin("04012345123457")
                .expect_err("check digit")
                .contains("should be 6")
        );
        assert!(check_gtin("0401234512345").is_err());
        assert!(check_gtin("0401234512345x").is_err());
    }

    #[test]
    fn a_gtin_has_one_prefix_per_company_prefix_length() {
        let p = sgtin_prefixes("04012345123456");
        assert_eq!(p.len(), 7);
        assert!(p.contains(&"urn:epc:id:sgtin:4012345.012345.".to_string()));
        let cell = Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").expect("epc");
        assert!(p.iter().any(|p| cell.to_string().starts_with(p.as_str())));
    }

    #[test]
    fn link_types_are_read_in_every_spelling() {
        for v in [
            "gs1:epcis",
            "https://gs1.org/voc/epcis",
            "http://gs1.org/voc/epcis",
            "https://www.gs1.org/voc/epcis",
            "https://ref.gs1.org/voc/epcis",
        ] {
            assert_eq!(LinkType::parse(v, ROOT), Some(LinkType::Epcis), "{v}");
        }
        assert_eq!(
            LinkType::parse("provenance:evidence", ROOT),
            Some(LinkType::Evidence)
        );
        assert_eq!(
            LinkType::parse("https://trace.example.com/voc/customs", ROOT),
            Some(LinkType::Customs)
        );
        for v in [
            "gs1:evidence",
            "provenance:epcis",
            "epcis",
            "gs1:",
            "gs1:nothing",
            "",
        ] {
            assert_eq!(LinkType::parse(v, ROOT), None, "{v}");
        }
        for l in LinkType::ALL {
            assert_eq!(LinkType::parse(&l.curie(), ROOT), Some(l));
            assert_eq!(LinkType::parse(&l.uri(ROOT), ROOT), Some(l));
        }
    }

    #[test]
    fn the_query_says_what_is_asked() {
        let none = HeaderMap::new();
        assert_eq!(ask(None, &none), Ask::Page);
        assert_eq!(ask(Some("linkType=all"), &none), Ask::Linkset);
        assert_eq!(ask(Some("17=201225&linkType=linkset"), &none), Ask::Linkset);
        assert_eq!(
            ask(Some("linkType=gs1%3Aepcis&x"), &none),
            Ask::Link("gs1:epcis".into())
        );
        assert_eq!(
            ask(Some("linkType=https%3A%2F%2Fgs1.org%2Fvoc%2Fepcis"), &none),
            Ask::Link("https://gs1.org/voc/epcis".into())
        );
        assert_eq!(
            ask(Some("linktype=all"), &none),
            Ask::Page,
            "names are case-sensitive"
        );
        let mut accept = HeaderMap::new();
        accept.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/linkset+json"),
        );
        assert_eq!(ask(None, &accept), Ask::Linkset);
        assert_eq!(
            ask(Some("linkType=gs1:pip"), &accept),
            Ask::Link("gs1:pip".into()),
            "an explicit link type wins"
        );
        assert_eq!(percent_decode("a%2x%zz%4"), "a%2x%zz%4");
        assert_eq!(percent_decode("%C3%A9+b"), "é b");
        let long = format!("linkType={}", "x".repeat(1000));
        assert_eq!(
            query_param(&long, "linkType").map(|v| v.len()),
            Some(LINK_TYPE_MAX)
        );
    }

    #[test]
    fn an_item_links_to_its_trace_exports_and_product() {
        let cell = Epc::parse("urn:epc:id:sgtin:4012345.012345.A%2FB").expect("epc");
        let l = item_links(ROOT, &cell);
        assert_eq!(
            l.anchor,
            "https://trace.example.com/01/04012345123456/21/A%2FB"
        );
        let ls = l.linkset(ROOT);
        let ctx = &ls["linkset"][0];
        assert_eq!(ctx["anchor"], l.anchor.as_str());
        assert_eq!(
            ctx["https://gs1.org/voc/epcis"][0]["href"],
            "https://trace.example.com/api/v1/items/urn:epc:id:sgtin:4012345.012345.A%252FB/epcis"
        );
        assert_eq!(
            ctx["https://gs1.org/voc/pip"][0]["href"],
            "https://trace.example.com/01/04012345123456"
        );
        assert_eq!(
            ctx["https://gs1.org/voc/traceability"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(ctx.get("https://trace.example.com/voc/customs").is_none());
        let sscc = Epc::parse("urn:epc:id:sscc:4012345.0000000017").expect("epc");
        let ls = item_links(ROOT, &sscc).linkset(ROOT);
        assert!(ls["linkset"][0]["https://trace.example.com/voc/customs"][0]["href"].is_string());
        assert!(ls["linkset"][0].get("https://gs1.org/voc/pip").is_none());
        let header = l.header().expect("header");
        let header = header.to_str().expect("ascii");
        assert!(header.contains(
            "<https://trace.example.com/01/04012345123456/21/A%2FB?linkType=all>; rel=\"linkset\""
        ));
        assert!(header.contains("rel=\"owl:sameAs\""));
    }

    #[test]
    fn a_link_is_picked_by_what_the_client_accepts() {
        let cell = Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").expect("epc");
        let l = item_links(ROOT, &cell);
        let mut h = HeaderMap::new();
        let pick = |h: &HeaderMap| l.pick(LinkType::Traceability, h).map(|l| l.media);
        assert_eq!(pick(&h), Some("text/html"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(pick(&h), Some("application/json"));
        assert_eq!(l.pick(LinkType::Customs, &h), None);
    }
}
