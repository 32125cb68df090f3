//! Who is reading, and whether the route lets them: the one place the web applies
//! [`provenance_access`]'s route table. Every route passes through [`gate`] after routing; a
//! route the table does not name is refused (fail closed), so a route added without a rule
//! answers nobody.
//!
//! A reader is found from `Authorization: Bearer <token>` (the JSON API) or the
//! `provenance_token` cookie (the pages): the admin token reads as an authority; any other
//! token is looked up by its hash on every request, so a revoked one stops at once. Without
//! a token a visitor is anonymous, and reads what `serve --public-tier` gives anonymous
//! visitors. Handlers of per-item routes find the [`Reader`] in the request's extensions.

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use provenance_access::routes::{self, Rule};
use provenance_access::{Anonymous, ItemAccess, Reader, Tier};
use provenance_custody::rules::TraceEvent;

use crate::api::AppState;
use crate::auth;

tokio::task_local! {
    /// The reader of the request being handled, for the pages' header (`None`: anonymous).
    static CURRENT: Option<Reader>;
    /// The reader a per-item route serves (an anonymous visitor's public reader included).
    static SERVING: Reader;
}

/// The reader the per-item route being handled serves; outside the gate, a public visitor
/// (fail closed: a handler reached some other way shows public facts only).
pub fn serving() -> Reader {
    SERVING.try_with(Clone::clone).unwrap_or(Reader {
        tier: Tier::Public,
        org: None,
        shared: Vec::new(),
    })
}

/// What the reader being served may see of `item`, given its history.
pub fn item_access(item: &str, events: &[TraceEvent]) -> ItemAccess {
    provenance_access::item_access(&serving(), item, events)
}

/// For the views that are whole or nothing (evidence bundles, EPCIS, the customs view): `Err`
/// with a 403 saying why unless the reader sees `item` whole.
pub async fn require_full(s: &AppState, item: &str) -> Result<(), Response> {
    let reader = serving();
    if reader.tier == Tier::Authority {
        return Ok(());
    }
    let failed = |e: provenance_ledger::LedgerError| {
        tracing::error!(error = %e, "reading a trace for an access check");
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the ledger failed; see the server log",
        )
    };
    let trace = s.ledger.trace(item).await.map_err(failed)?;
    let registry = s.ledger.devices().await.map_err(failed)?;
    let events = provenance_ledger::evidence::trace_events(&trace, &registry);
    match provenance_access::item_access(&reader, item, &events) {
        ItemAccess::Full => Ok(()),
        ItemAccess::Public => Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "the whole history of {item} is shown to the organisations involved in it and to \
                 authorities; you read as {}{}. Send a read token (`Authorization: Bearer …`) \
                 or log in at /login",
                reader.tier.name(),
                reader
                    .org
                    .as_deref()
                    .map(|o| format!(" for {o}"))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// The reader of the request being handled (`None`: anonymous, or outside a request).
pub fn current() -> Option<Reader> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// The cookie the pages keep a reader's token in (HttpOnly, SameSite=Strict).
pub const COOKIE: &str = "provenance_token";

/// What anonymous visitors get, as `serve --public-tier` set it; given to the site as an
/// `Extension` (absent: [`Anonymous::Public`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicTier(pub Anonymous);

fn refuse(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = (
        status,
        axum::Json(serde_json::json!({ "error": msg.into() })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"provenance\""),
        );
    }
    r
}

/// The token a request carries: its bearer token, else its cookie.
fn token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.trim())
    })
}

/// The reader behind a request: `Ok(None)` for an anonymous visitor, `Err` with the answer
/// for a token that is not (or no longer) valid.
pub async fn reader(s: &AppState, headers: &HeaderMap) -> Result<Option<Reader>, Response> {
    let Some(token) = token(headers).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !s.admin_token.is_empty()
        && auth::constant_time_eq(token.as_bytes(), s.admin_token.as_bytes())
    {
        return Ok(Some(Reader {
            tier: Tier::Authority,
            org: None,
            shared: Vec::new(),
        }));
    }
    let found = s
        .ledger
        .reader_by_token(&auth::password_hash(token))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading grants");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the ledger failed; see the server log",
            )
        })?;
    let Some((grant, shared)) = found else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "this token is not valid: it was revoked or mistyped; ask the operator for a new \
             one (`provenance access grant`)",
        ));
    };
    let tier = Tier::parse(&grant.tier).map_err(|_| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a stored grant names no known tier; see `provenance access list`",
        )
    })?;
    Ok(Some(Reader {
        tier,
        org: Some(grant.org),
        shared,
    }))
}

/// The route table applied: after routing (a `route_layer`), before the handler.
pub async fn gate(
    State(s): State<AppState>,
    public: Option<Extension<PublicTier>>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(path) = matched else {
        return next.run(req).await;
    };
    let Some(rule) = routes::http(req.method().as_str(), path.as_str()) else {
        tracing::error!(
            route = path.as_str(),
            "a route without an access rule was refused"
        );
        return refuse(
            StatusCode::FORBIDDEN,
            "this route has no access rule, so nobody may use it (a server defect: report it)",
        );
    };
    let anonymous = public.map(|Extension(p)| p.0).unwrap_or_default();
    match rule {
        // The admin routes check the admin token themselves, before reading a body.
        Rule::Admin => next.run(req).await,
        // Open to all; the pages still say who is reading (a bad cookie reads as nobody).
        // Open to all; a page still says who is reading, from its login cookie. Bearer
        // tokens on open routes (tile readers, witnesses) cost no lookup: nothing there
        // depends on the reader.
        Rule::Open => {
            let r = if req.headers().contains_key(header::COOKIE) {
                reader(&s, req.headers()).await.ok().flatten()
            } else {
                None
            };
            CURRENT.scope(r, next.run(req)).await
        }
        Rule::AtLeast(_) | Rule::PerItem => {
            let r = match reader(&s, req.headers()).await {
                Ok(r) => r.or_else(|| Reader::anonymous(anonymous)),
                Err(answer) => return answer,
            };
            let Some(r) = r else {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "this server shows nothing to anonymous visitors: send \
                     `Authorization: Bearer <token>` (a read token from the operator, \
                     `provenance access grant`), or log in on the pages",
                );
            };
            if let Rule::AtLeast(t) = rule {
                if r.tier < t {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        format!(
                            "this needs the {} tier; yours is {} (ask the operator for a grant \
                             at that tier)",
                            t.name(),
                            r.tier.name()
                        ),
                    );
                }
            }
            req.extensions_mut().insert(r.clone());
            let signed_in = r.org.is_some() || r.tier != Tier::Public;
            let shown = signed_in.then(|| r.clone());
            SERVING.scope(r, CURRENT.scope(shown, next.run(req))).await
        }
    }
}
