//! The pages people open (SPEC §9, issue #6): search, the trace page of an item (also under
//! its GS1 Digital Link paths), the customs view of a consignment, a battery's passport (what
//! its Digital Link opens, issue #14), logging in with a read token, and a server-sent event
//! stream that tells an open trace page when the log holds something new about its item.
//!
//! Pages are rendered on the server and complete without JavaScript; `live.js` only swaps in a
//! fresh copy of the page when the stream says so. Everything an event carries (item IDs,
//! organisation names, document references) is attacker-controllable and goes through maud's
//! escaping; no page builds HTML from strings.

mod customs;
mod history;
mod home;
pub(crate) mod layout;
pub(crate) mod live;
mod login;
pub(crate) mod passport;
pub(crate) mod trace;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use provenance_ledger::LedgerError;

use crate::api::AppState;
use crate::lookup::ACCEPTED;
use crate::resolver;

pub use layout::Footer;

/// The page routes.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(home::search))
        .route("/items/{id}", get(trace::item))
        .route("/items/{id}/live", get(live::live))
        // The GS1 resolver (`crate::resolver`): a product, an item with the key qualifiers GS1
        // Digital Link allows before the serial (CPV 22, lot 10, in that order), a consignment.
        .route("/01/{gtin}", get(resolver::product))
        .route("/01/{gtin}/21/{serial}", get(resolver::item))
        .route("/01/{gtin}/10/{lot}/21/{serial}", get(resolver::item))
        .route("/01/{gtin}/22/{cpv}/21/{serial}", get(resolver::item))
        .route(
            "/01/{gtin}/22/{cpv}/10/{lot}/21/{serial}",
            get(resolver::item),
        )
        .route("/00/{sscc}", get(resolver::item))
        .route("/.well-known/gs1resolver", get(resolver::description))
        .route("/customs/{id}", get(customs::customs))
        .route("/passport/{id}", get(passport::passport))
        .route("/login", get(login::form).post(login::login))
        .route("/logout", axum::routing::post(login::logout))
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(script))
        // After routing, before any handler: the route table of `provenance-access`.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::access::gate,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Defence in depth behind maud's escaping: pages load nothing but this server's own
/// stylesheet and script, run no inline script, and cannot be framed.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn style() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    )
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/live.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The URL carries the app's version, so an hour of caching is safe.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Why a page cannot be shown; rendered as a page that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The request names nothing we can look up (400).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing in the log (404).
    #[error("{0}")]
    NotFound(String),
    /// The reader's tier does not show this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The ledger failed (500; the details go to the server log).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The forms of item ID the search accepts, as a list with examples.
pub(crate) fn accepted_forms() -> Markup {
    html! {
        ul.forms {
            @for (form, example) in ACCEPTED {
                li { strong { (form) } ": " code { (example) } }
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Not an item ID", m.clone()),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone()),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not for this tier", m.clone()),
            PageError::Ledger(e) => {
                tracing::error!(error = %e, "ledger failure behind a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The log could not be read just now; the server log has the details. \
                     Try again in a moment."
                        .to_string(),
                )
            }
        };
        let body = layout::page(
            heading,
            true,
            None,
            html! {
                main #content.narrow {
                    h1 { (heading) }
                    p.message role="alert" { (message) }
                    @if status != StatusCode::INTERNAL_SERVER_ERROR {
                        h2 { "Search accepts" }
                        (accepted_forms())
                        p { a href="/" { "Back to search" } }
                    }
                }
            },
        );
        (status, body).into_response()
    }
}
