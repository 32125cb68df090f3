//! The frame every page shares: head (one stylesheet, served by the app), a header with the
//! search box, the page's own content, and a footer naming the log.

use maud::{DOCTYPE, Markup, html};

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
                    @if search {
                        form.search-small action="/search" method="get" role="search" {
                            label.visually-hidden for="q-top" { "Find an item" }
                            input #q-top name="q" type="search" autocomplete="off"
                                placeholder="EPC, Digital Link, GTIN + serial or SSCC";
                            button type="submit" { "Find" }
                        }
                    }
                }
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
                        a href="/api/v1/devices" { "Registered devices" } " · "
                        a href="/api/v1/rejections" { "Rejected messages" }
                    }
                }
            }
        }
    }
}
