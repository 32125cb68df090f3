//! The battery passport page: `GET /passport/{id}`, and what a battery's GS1 Digital Link (the
//! QR code on it) opens. The EU Battery Regulation's fields (Annex XIII), clustered as DIN DKE
//! SPEC 99100 does, each with the log entry that states it and that entry's inclusion proof.
//!
//! The page shows what [`crate::passport::gather`] derived for the reader: a public reader the
//! public fields, with a note where the rest is withheld; a partner involved in the battery
//! or an authority every field.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use provenance_access::ItemAccess;
use provenance_custody::passport::Stated;
use provenance_custody::rules::Severity;
use provenance_event::{Epc, Scheme};
use provenance_ledger::places::Places;

use super::PageError;
use super::layout::{Footer, page};
use super::trace::{encode, heading, link_base, org_name, qr};
use crate::PublicUrl;
use crate::api::AppState;
use crate::format;
use crate::lookup;
use crate::passport::{Gathered, gather};

/// `GET /passport/{id}`.
pub async fn passport(
    State(s): State<AppState>,
    Path(id): Path<String>,
    public: Option<Extension<PublicUrl>>,
    whole: Option<Extension<crate::passport::PublicEntries>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let epc = Epc::parse(id.trim()).map_err(|e| {
        PageError::BadRequest(format!(
            "“{id}” is not an EPC URI ({e}). Passports are at /passport/ followed by the \
             battery's EPC URI, e.g. /passport/urn:epc:id:sgtin:4012345.012345.1001, or at its \
             GS1 Digital Link (/01/{{gtin}}/21/{{serial}})."
        ))
    })?;
    if !lookup::is_item(&epc) {
        return Err(PageError::BadRequest(format!(
            "{epc} names a place or a party, not a battery."
        )));
    }
    let root = link_base(public.map(|Extension(p)| p).as_ref(), &headers);
    let whole = whole.is_some_and(|Extension(crate::passport::PublicEntries(on))| on);
    let g = gather(&s, &epc, root, whole).await?;
    if !g.passport.is_known() {
        return Err(PageError::NotFound(format!(
            "The log holds no commissioning of {epc}, so it has no passport yet: a passport \
             starts with the maker's signed commissioned event."
        )));
    }
    render(&s, &g).await
}

/// The page of a gathered passport.
pub(crate) async fn render(s: &AppState, g: &Gathered) -> Result<Response, PageError> {
    let places = s.ledger.places().await?;
    let footer = Footer {
        size: g.size,
        key: s.ledger.verifier().to_string(),
    };
    let title = format!("Battery passport {}", g.passport.item);
    let body = body(g, &places);
    Ok((StatusCode::OK, page(&title, true, Some(&footer), body)).into_response())
}

/// The entry stating a field: its index, linked to its inclusion proof, and when.
fn source<T>(g: &Gathered, s: &Stated<T>) -> Markup {
    html! {
        td.source data-index=(s.index) {
            a href=(g.proof_url(s.index)) title="Inclusion proof of this entry in the log" {
                "entry " (s.index)
            }
            @if g.whole.contains(&s.index) { " · signed entry in the bundle" }
            span.small { " · " (format::date(s.time_ms)) }
        }
    }
}

fn row<T>(g: &Gathered, name: &str, value: Markup, s: &Stated<T>) -> Markup {
    html! { tr { th scope="row" { (name) } td { (value) } (source(g, s)) } }
}

fn withheld(what: &str) -> Markup {
    html! {
        p.withheld {
            strong { (what) } ": shown to persons with a legitimate interest (repairers, \
            recyclers, second-life operators: an organisation involved in this battery, or one \
            it was shared with) and to authorities. "
            a href="/login" { "Log in with a read token" } "."
        }
    }
}

fn body(g: &Gathered, places: &Places) -> Markup {
    let p = &g.passport;
    let epc = &g.epc;
    let name = |uri: &str| places.name_of(uri).unwrap_or(uri).to_string();
    let restricted = g.access == ItemAccess::Public;
    let m = p.master.as_ref();
    let mv = |v: Option<u32>| v.map(|x| format!("{:.2} V", f64::from(x) / 1000.0));
    let characteristics: Vec<(&str, Option<String>)> = match m {
        None => vec![],
        Some(m) => {
            let v = &m.value;
            vec![
                ("Category", v.category.map(|c| category(c).to_string())),
                ("Chemistry", v.chemistry.as_ref().map(|c| c.to_string())),
                (
                    "Rated capacity",
                    v.rated_capacity_mah
                        .map(|c| format!("{:.2} Ah", f64::from(c) / 1000.0)),
                ),
                ("Nominal voltage", mv(v.nominal_voltage_mv)),
                ("Minimum voltage", mv(v.minimum_voltage_mv)),
                ("Maximum voltage", mv(v.maximum_voltage_mv)),
                (
                    "Mass",
                    v.mass_g.map(|g| format!("{:.3} kg", f64::from(g) / 1000.0)),
                ),
                (
                    "Expected lifetime",
                    v.expected_cycles.map(|c| format!("{c} full cycles")),
                ),
                (
                    "Carbon footprint",
                    v.carbon_footprint_g_per_kwh
                        .map(|g| format!("{:.1} kg CO₂e per kWh", f64::from(g) / 1000.0)),
                ),
                (
                    "Carbon footprint class",
                    v.carbon_class.map(|c| c.to_string()),
                ),
            ]
        }
    };
    html! {
        main #content .passport {
            section.identity aria-labelledby="passport-title" {
                div.id-text {
                    p.kicker { "Battery passport" }
                    h1 #passport-title { (heading(epc)) }
                    p.epc-line { "EPC " code.epc { (p.item) } }
                    dl.facts {
                        dt { "Passport identifier (GS1 Digital Link)" }
                        dd { a.dl href=(g.link) { (g.link) } }
                        dt { "Full history" }
                        dd { a href={"/items/" (encode(&p.item))} { "trace page" } }
                    }
                    p.tier-note {
                        @match (restricted, crate::access::serving().tier) {
                            (true, _) => { "You see the public part of this passport. " }
                            (false, provenance_access::Tier::Authority) => { "You read as an authority: every field." }
                            (false, _) => { "You read with a legitimate interest in this battery: every field." }
                        }
                    }
                }
                @if let Some(qr) = qr(&g.link) {
                    figure.qr { (qr) figcaption { "Scan to open this passport" } }
                }
            }
            section.panel #general aria-labelledby="general-h" {
                h2 #general-h { "Identity and manufacturer" }
                table.passport {
                    thead { tr { th { "Field" } th { "Value" } th { "Stated by" } } }
                    tbody {
                        @if let Some(s) = &p.manufacturer {
                            (row(g, "Manufacturer", html! { (org_name(&s.value).0) }, s))
                        }
                        @if let Some(s) = &p.manufacturing_place {
                            (row(g, "Manufacturing place", html! { (name(&s.value)) br; code.small { (s.value) } }, s))
                        }
                        @if let Some(s) = &p.manufacturing_date {
                            (row(g, "Manufacturing date", html! { (format::utc(s.value)) }, s))
                        }
                        @if let Some(s) = &p.status {
                            (row(g, "Status", html! { (s.value.name()) }, s))
                        }
                    }
                }
            }
            section.panel #characteristics aria-labelledby="char-h" {
                h2 #char-h { "Characteristics" }
                @match m {
                    None => p { "The maker's commissioning states no master data (docs/PASSPORT.md lists the fields it can carry)." },
                    Some(m) => table.passport {
                        thead { tr { th { "Field" } th { "Value" } th { "Stated by" } } }
                        tbody {
                            @for (label, value) in &characteristics {
                                @if let Some(v) = value { (row(g, label, html! { (v) }, m)) }
                            }
                        }
                    }
                }
            }
            section.panel #condition aria-labelledby="cond-h" {
                h2 #cond-h { "State of health and use" }
                @if restricted {
                    (withheld("State of health, charge cycles and state of charge"))
                } @else if p.state_of_health.is_none() && p.charge_cycles.is_none() && p.state_of_charge.is_none() {
                    p { "No measurement of this battery states them yet." }
                } @else {
                    table.passport {
                        thead { tr { th { "Field" } th { "Value" } th { "Measured" } } }
                        tbody {
                            @if let Some(s) = &p.state_of_health {
                                (row(g, "State of health", html! { (format!("{:.1} %", s.value as f64 / 10.0)) }, s))
                            }
                            @if let Some(s) = &p.charge_cycles {
                                (row(g, "Charge cycles", html! { (s.value) }, s))
                            }
                            @if let Some(s) = &p.state_of_charge {
                                (row(g, "State of charge", html! { (format!("{:.1} %", s.value as f64 / 10.0)) }, s))
                            }
                        }
                    }
                }
            }
            section.panel #negative aria-labelledby="neg-h" {
                h2 #neg-h { "Negative events" }
                @if restricted {
                    (withheld("What happened to it (excursions, seal breaks, shocks, customs holds)"))
                } @else if p.negative_events.is_empty() {
                    p.ok-line { "None recorded: no excursion, seal break, shock or customs hold in its history." }
                } @else {
                    ul.negative {
                        @for n in &p.negative_events {
                            li class=(match n.severity { Severity::Failure => "fail", Severity::Warning => "warn", Severity::Info => "info" })
                                data-index=(n.indexes.first().copied().unwrap_or_default()) {
                                (n.what)
                                " · "
                                @for (k, i) in n.indexes.iter().take(5).enumerate() {
                                    @if k > 0 { ", " }
                                    a href=(g.proof_url(*i)) { "entry " (i) }
                                }
                                @if n.indexes.len() > 5 { " and " (n.indexes.len() - 5) " more" }
                            }
                        }
                    }
                }
            }
            section.panel #custody aria-labelledby="cust-h" {
                h2 #cust-h { "Custody history" }
                @if restricted {
                    (withheld("Who held it, and when"))
                } @else {
                    table.passport {
                        thead { tr { th { "Holder" } th { "From" } th { "Until" } th { "Stated by" } } }
                        tbody {
                            @for c in &p.custody {
                                tr {
                                    td { (places.name_of(&c.holder).unwrap_or(org_name(&c.holder).0)) }
                                    td { (format::utc(c.from_ms)) }
                                    td { (c.until_ms.map_or("now".to_string(), format::utc)) }
                                    td.source data-index=(c.from_index) { a href=(g.proof_url(c.from_index)) { "entry " (c.from_index) } }
                                }
                            }
                        }
                    }
                }
            }
            section.panel #verify aria-labelledby="verify-h" {
                h2 #verify-h { "Check this passport yourself" }
                p {
                    "Every field names the log entry that states it; its inclusion proof shows the entry is in the log at size "
                    (g.size) ", under a checkpoint anyone can check with the log's key."
                }
                @if restricted {
                    p {
                        "The public evidence bundle holds the entries stated here that concern this battery alone, whole, with their signers' registrations: "
                        code { "provenance verify --bundle --passport" } " checks their signatures and that every field is what they state. "
                        "An entry that also names other items (a batch commissioned at once) is proved in the log by its hash only."
                    }
                } @else {
                    p { "The evidence bundle holds every entry of this battery's history: " code { "provenance verify --bundle --passport" } " checks every field against it." }
                }
                ul.downloads {
                    li { a href={"/api/v1/items/" (encode(&p.item)) "/passport"} { "Passport (JSON, Battery Pass data model field names)" } }
                    li { a href=(g.evidence_url()) { "Evidence bundle for this passport" } }
                    li { a href="/api/v1/log/key" { "The log's public key" } }
                }
                pre.command { "provenance verify --bundle "
                    (provenance_custody::epcis::file_stem(&p.item)) ".passport-evidence.json \\\n  --passport "
                    (provenance_custody::epcis::file_stem(&p.item)) ".passport.json --log-key <key>" }
            }
        }
    }
}

fn category(c: provenance_event::Category) -> &'static str {
    use provenance_event::Category;
    match c {
        Category::Lmt => "LMT battery (light means of transport)",
        Category::Ev => "Electric vehicle battery",
        Category::Industrial => "Industrial battery",
        Category::Stationary => "Stationary energy storage battery",
    }
}

/// Whether an item's Digital Link opens its passport rather than its trace page: a battery
/// (an SGTIN) whose commissioning carries master data.
pub(crate) fn is_battery(g: &Gathered) -> bool {
    g.epc.scheme() == Scheme::Sgtin && g.passport.master.is_some()
}
