//! The read tiers on gRPC (issue #14): every call to the `Ledger` service passes the route
//! table of `provenance-access` before the service sees it. The reader comes from the
//! `authorization: Bearer <token>` metadata (the admin token reads as an authority; any other
//! token is looked up by its hash on every call, so a revoked one stops at once).
//!
//! Per-item methods (`TraceItem`, `GetEvidence`) get the reader (an anonymous caller's
//! public reader included, unless `serve --public-tier none`) in the request's extensions,
//! and the service applies [`provenance_access::item_access`] to each item, as the HTTP
//! routes do.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use provenance_access::routes::{self, Rule};
use provenance_access::{Anonymous, Reader, Tier};
use provenance_ledger::Ledger;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;

/// A service behind the read gate.
#[derive(Clone)]
pub struct ReadGate<S> {
    inner: S,
    ledger: Arc<Ledger>,
    admin_token: Option<Arc<String>>,
    anonymous: Anonymous,
}

impl<S> ReadGate<S> {
    /// `inner` behind the gate; `admin_token` reads as an authority; anonymous callers get
    /// the public tier.
    pub fn new(inner: S, ledger: Arc<Ledger>, admin_token: Option<Arc<String>>) -> Self {
        Self {
            inner,
            ledger,
            admin_token,
            anonymous: Anonymous::Public,
        }
    }

    /// What anonymous callers get (`serve --public-tier`).
    pub fn anonymous(mut self, anonymous: Anonymous) -> Self {
        self.anonymous = anonymous;
        self
    }
}

/// The reader a per-item call serves, as the gate found it; a service reached without the
/// gate serves the public facts only (fail closed).
pub fn reader_of<T>(req: &tonic::Request<T>) -> Reader {
    req.extensions().get::<Reader>().cloned().unwrap_or(Reader {
        tier: Tier::Public,
        org: None,
        shared: Vec::new(),
    })
}

impl<S: NamedService> NamedService for ReadGate<S> {
    const NAME: &'static str = S::NAME;
}

fn token(req: &http::Request<Body>) -> Option<String> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The reader of a call's token: `Ok(None)` without one, `Err` for one that is not valid.
async fn reader(
    ledger: &Ledger,
    admin: Option<&str>,
    token: Option<String>,
) -> Result<Option<Reader>, Status> {
    let Some(token) = token else {
        return Ok(None);
    };
    if let Some(a) = admin.filter(|a| !a.is_empty()) {
        if provenance_ingest::secrets::constant_time_eq(token.as_bytes(), a.as_bytes()) {
            return Ok(Some(Reader {
                tier: Tier::Authority,
                org: None,
                shared: Vec::new(),
            }));
        }
    }
    let hash = provenance_ingest::secrets::password_hash(&token);
    match ledger.reader_by_token(&hash).await {
        Ok(Some((g, shared))) => Tier::parse(&g.tier)
            .map(|tier| {
                Some(Reader {
                    tier,
                    org: Some(g.org),
                    shared,
                })
            })
            .map_err(|_| Status::internal("a stored grant names no known tier")),
        Ok(None) => Err(Status::unauthenticated(
            "this token is not valid: it was revoked or mistyped; ask the operator for a new \
             one (`provenance access grant`)",
        )),
        Err(e) => {
            tracing::error!(error = %e, "reading grants");
            Err(Status::internal("the ledger failed; see the server log"))
        }
    }
}

impl<S> tower_service::Service<http::Request<Body>> for ReadGate<S>
where
    S: tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The clone that was made ready serves this call; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let ledger = self.ledger.clone();
        let admin = self.admin_token.clone();
        let anonymous = self.anonymous;
        Box::pin(async move {
            let mut req = req;
            let refuse = |s: Status| Ok(s.into_http());
            let Some(rule) = routes::grpc(req.uri().path()) else {
                return refuse(Status::permission_denied(
                    "this method has no access rule, so nobody may call it (a server defect)",
                ));
            };
            let needed = match rule {
                Rule::Open | Rule::Admin => return inner.call(req).await,
                Rule::AtLeast(t) => t,
                Rule::PerItem => Tier::Public,
            };
            let have =
                match reader(&ledger, admin.as_deref().map(String::as_str), token(&req)).await {
                    Ok(Some(r)) => Some(r),
                    Ok(None) if rule == Rule::PerItem => Reader::anonymous(anonymous),
                    Ok(None) => None,
                    Err(s) => return refuse(s),
                };
            match have {
                Some(r) if r.tier >= needed => {
                    req.extensions_mut().insert(r);
                    inner.call(req).await
                }
                Some(r) => refuse(Status::permission_denied(format!(
                    "this needs the {} tier over gRPC; yours is {}",
                    needed.name(),
                    r.tier.name()
                ))),
                None => refuse(Status::unauthenticated(format!(
                    "this needs a read token of the {} tier: send metadata `authorization: \
                     Bearer <token>` (`provenance access grant`)",
                    needed.name()
                ))),
            }
        })
    }
}
