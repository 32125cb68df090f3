//! The frame every page shares: head (one stylesheet, served by the app), a header with the
//! search box, the storage audit's banner when the last audit found tampering, the page's own
//! content, and a footer naming the log.

use maud::{DOCTYPE, Markup, html};

use crate::audit::{self, ADVICE, Outcome};
use crate::format;

/// The stylesheet's URL; the version changes it when the app changes, so caches refresh.
pub const STYLE: &str = concat!("/static/style.css?v=", env!("CARGO_PKG_VERSION"));
/// The live-update script's URL.
pub const SCRIPT: &str = concat!("/static/live.js?v=", env!("CARGO_PKG_VERSION"));

/// What the footer says about the log.
pub struct Footer {
    /// Entries in the newest checkpoint.
    pub size: u64,
    /// The log's verifier key.
    pub key: String,
}

/// A whole page. `search` puts the search box in the header (every page but the home page,
/// whose search box is its main content).
pub fn page(title: &str, search: bool, footer: Option<&Footer>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Provenance" }
                link rel="stylesheet" href=(STYLE);
                script src=(SCRIPT) defer {}
            }
            body {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/" { span.logo aria-hidden="true" { "◆" } " Provenance" }
                    @match crate::access::current() {
                        Some(r) => {
                            a.reader href="/login" title="Your read access" {
                                (r.tier.name())
                                @if let Some(o) = &r.org { " · " (crate::pages::trace::org_name(o).0) }
                            }
                        }
                        None => { a.reader href="/login" { "Public view · log in" } }
                    }
                    @if search {
                        form.search-small action="/search" method="get" role="search" {
                            label.visually-hidden for="q-top" { "Find an item" }
                            input #q-top name="q" type="search" autocomplete="off"
                                placeholder="EPC, Digital Link, GTIN + serial or SSCC";
                            button type="submit" { "Find" }
                        }
                    }
                }
                (audit_banner())
                (main)
                footer.bottom {
                    @if let Some(f) = footer {
                        p {
                            "Every record on these pages is a signed entry in a transparency log of "
                            (f.size) " entries. Log key: " code { (f.key) }
                        }
                    }
                    p {
                        a href="/api/v1/checkpoint" { "Newest checkpoint" } " · "
                        a href="/api/v1/log/key" { "Log key" } " · "
                        a href="/tile/0/000" { "Hash tiles" }
                    }
                }
            }
        }
    }
}

/// What the latest storage audit found, when it found something: on every page, above the
/// page's own content (outside `<main>`, which the live script swaps).
fn audit_banner() -> Markup {
    let status = audit::current();
    match status.last.as_deref() {
        Some(Outcome::Done(a)) if !a.ok() => {
            let (placed, unplaced) = audit::summary(a);
            html! {
                section #tampering.tamper-banner role="alert" aria-labelledby="tampering-h" {
                    h2 #tampering-h {
                        span aria-hidden="true" { "✘ " }
                        "The stored log was tampered with"
                    }
                    p {
                        "The server's storage audit of " (format::utc(a.started_ms)) " checked "
                        (a.report.entries) " log entries against the log's signed checkpoints and found:"
                    }
                    @if !placed.is_empty() {
                        ul.placed { @for s in &placed { li { (s) } } }
                        p { "Events whose stored entries are affected are marked in red on their pages, with the reason." }
                    }
                    @if !unplaced.is_empty() {
                        p { "Not tied to single events:" }
                        ul.unplaced { @for s in &unplaced { li { (s) } } }
                    }
                    p {
                        "Run " code { (ADVICE) } " for the full report, or see "
                        a href="/api/v1/audit" { "the audit's result" } "."
                    }
                }
            }
        }
        Some(Outcome::Failed { finished_ms, .. }) => html! {
            section #tampering.audit-failed role="status" {
                p {
                    strong { "The storage audit could not complete" } " (" (format::utc(*finished_ms))
                    "); the server log has the details. Run " code { (ADVICE) } " to check the stored log."
                }
            }
        },
        _ => html! {},
    }
}
