//! `GET /`: the search box, what it accepts, and what the log has seen lately.
//! `GET /search?q=`: the item a search names, as a redirect to its trace page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use provenance_event::{Event, SignedEvent};
use serde::Deserialize;

use super::layout::{Footer, page};
use super::{PageError, accepted_forms};
use crate::api::AppState;
use crate::format;
use crate::lookup::{self, Query as Search};

/// How many of the newest log entries the home page reads for its "recently seen" list:
/// one small read, whatever the size of the log.
const RECENT_ENTRIES: u64 = 200;
/// How many items it lists.
const RECENT_ITEMS: usize = 8;

/// An item the log saw lately.
struct Seen {
    item: String,
    kind: &'static str,
    time_ms: i64,
    index: u64,
}

/// The newest events' items, newest first, each once.
async fn recently_seen(s: &AppState, size: u64) -> Result<Vec<Seen>, PageError> {
    let start = size.saturating_sub(RECENT_ENTRIES);
    if start == size {
        return Ok(Vec::new());
    }
    let mut seen: Vec<Seen> = Vec::new();
    for (index, bytes) in s.ledger.entries(start, size).await?.into_iter().rev() {
        // Registry entries are not events; they do not parse as one and are skipped.
        let Ok(signed) = SignedEvent::parse(&bytes) else {
            continue;
        };
        let Ok(event) = Event::decode(signed.sign1().payload()) else {
            continue;
        };
        for item in event.items.iter() {
            if seen.len() < RECENT_ITEMS && !seen.iter().any(|x| x.item == item) {
                seen.push(Seen {
                    item: item.to_string(),
                    kind: format::kind(event.kind),
                    time_ms: event.time,
                    index,
                });
            }
        }
        if seen.len() >= RECENT_ITEMS {
            break;
        }
    }
    Ok(seen)
}

pub(crate) fn item_href(item: &str) -> String {
    format!("/items/{}", crate::pages::trace::encode(item))
}

fn search_form(value: &str) -> Markup {
    html! {
        form.search-big action="/search" method="get" role="search" {
            label for="q" { "Item ID" }
            div.search-row {
                input #q name="q" type="search" value=(value) autocomplete="off" autofocus
                    placeholder="urn:epc:id:sgtin:… or 04012345123456 1001 or an SSCC"
                    aria-describedby="q-help";
                button type="submit" { "Find" }
            }
            p #q-help.hint { "Type or scan the ID printed on the label: an EPC, a GS1 Digital Link (the QR code), a GTIN with its serial, or a pallet's or container's SSCC." }
        }
    }
}

/// `GET /`.
pub async fn home(State(s): State<AppState>) -> Result<Markup, PageError> {
    let cp = s.ledger.latest_checkpoint().await;
    let size = cp.checkpoint.size;
    let devices = s.ledger.devices().await?;
    let recent = recently_seen(&s, size).await?;
    let footer = Footer {
        size,
        key: s.ledger.verifier().to_string(),
    };
    Ok(page(
        "Find an item",
        false,
        Some(&footer),
        html! {
            main #content.narrow {
                h1 { "Where has it been, and who held it?" }
                p.lead { "Find a battery cell, pack, pallet or container to see its journey, who held it, the conditions on the way, and whether every record is genuine." }
                (search_form(""))
                details.accepts {
                    summary { "Which IDs can I type?" }
                    (accepted_forms())
                }
                section aria-labelledby="recent" {
                    h2 #recent { "Recently seen" }
                    @if recent.is_empty() {
                        p { "No events yet. They appear here as devices report them." }
                    } @else {
                        ul.recent {
                            @for r in &recent {
                                li {
                                    a href=(item_href(&r.item)) { code { (r.item) } }
                                    span.meta { (r.kind) " · " time datetime=(format::rfc3339(r.time_ms)) { (format::utc(r.time_ms)) } " · log #" (r.index) }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="log" {
                    h2 #log { "The log" }
                    dl.facts {
                        dt { "Entries" } dd { (size) " signed entries in the newest checkpoint" }
                        dt { "Devices and operators" } dd { (devices.len()) " registered" }
                        dt { "Checkpoint" } dd { pre.note { (cp.note) } }
                    }
                }
            }
        },
    ))
}

/// The query of `GET /search`.
#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

/// `GET /search?q=`: a redirect to the trace page, or the home page's form with what is
/// wrong and what is accepted.
pub async fn search(
    State(s): State<AppState>,
    Query(p): Query<SearchParams>,
) -> Result<Response, PageError> {
    if p.q.trim().is_empty() {
        return Ok(Redirect::to("/").into_response());
    }
    let (status, problem) = match lookup::parse(&p.q) {
        Ok(query) => match lookup::resolve(&s.ledger, &query).await? {
            Some(epc) if lookup::is_item(&epc) => {
                return Ok(Redirect::to(&item_href(&epc.to_string())).into_response());
            }
            Some(epc) => (
                StatusCode::BAD_REQUEST,
                format!(
                    "{epc} names a place or a party, not an item; search for a cell, pack, \
                     pallet or container."
                ),
            ),
            None => (
                StatusCode::NOT_FOUND,
                match query {
                    Search::Key(key) => format!(
                        "The log holds no item with this GS1 key ({}).",
                        describe(&key)
                    ),
                    Search::Epc(epc) => format!("The log holds nothing about {epc}."),
                },
            ),
        },
        Err(e) => (StatusCode::BAD_REQUEST, format!("“{}”: {e}.", p.q.trim())),
    };
    let cp = s.ledger.latest_checkpoint().await;
    let footer = Footer {
        size: cp.checkpoint.size,
        key: s.ledger.verifier().to_string(),
    };
    let body = page(
        "Search",
        false,
        Some(&footer),
        html! {
            main #content.narrow {
                h1 { "Find an item" }
                p.message role="alert" { (problem) }
                (search_form(&p.q))
                h2 { "Search accepts" }
                (accepted_forms())
            }
        },
    );
    Ok((status, body).into_response())
}

/// A GS1 key in words.
pub(crate) fn describe(key: &provenance_event::DigitalLink) -> String {
    use provenance_event::DigitalLink;
    match key {
        DigitalLink::Sgtin { gtin, serial } => format!("GTIN {gtin}, serial {serial}"),
        DigitalLink::Sscc { sscc } => format!("SSCC {sscc}"),
        DigitalLink::Sgln { gln, .. } => format!("GLN {gln}"),
        DigitalLink::Pgln { gln } => format!("GLN {gln}"),
    }
}
