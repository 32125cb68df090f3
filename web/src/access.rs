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
use provenance_access::{Anonymous, Reader, Tier};

use crate::api::AppState;
use crate::auth;

tokio::task_local! {
    /// The reader of the request being handled, for the pages' header.
    static CURRENT: Option<Reader>;
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
        Rule::Open => {
            let r = reader(&s, req.headers()).await.ok().flatten();
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
            CURRENT.scope(signed_in.then_some(r), next.run(req)).await
        }
    }
}
