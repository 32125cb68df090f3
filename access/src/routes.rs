//! The rule of every HTTP route and gRPC method, in one table. The web and gRPC servers look a
//! request's route up here before its handler runs and refuse a route the table does not
//! name (fail closed), so a route added without a rule answers nobody; the tests walk the
//! table tier by tier.

use crate::Tier;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, whatever `serve --public-tier` says: what makes the log verifiable and reveals
    /// only its size (checkpoints, the log key, tiles, proofs), and the site's own files.
    Open,
    /// A reader (an anonymous visitor counts when `--public-tier public`): each item's history
    /// is shown as [`crate::item_access`] and [`crate::visibility`] decide.
    PerItem,
    /// A reader of at least this tier; the answer is whole, so no lower tier gets any of it.
    AtLeast(Tier),
    /// The operator's admin token.
    Admin,
}

/// Every HTTP route: (method, path as axum writes it, rule).
pub const HTTP: &[(&str, &str, Rule)] = &[
    // The pages.
    ("GET", "/", Rule::Open),
    ("GET", "/search", Rule::PerItem),
    ("GET", "/items/{id}", Rule::PerItem),
    ("GET", "/items/{id}/live", Rule::PerItem),
    ("GET", "/customs/{id}", Rule::PerItem),
    ("GET", "/passport/{id}", Rule::PerItem),
    ("GET", "/login", Rule::Open),
    ("POST", "/login", Rule::Open),
    ("POST", "/logout", Rule::Open),
    ("GET", "/static/style.css", Rule::Open),
    ("GET", "/static/live.js", Rule::Open),
    // The GS1 resolver.
    ("GET", "/01/{gtin}", Rule::PerItem),
    ("GET", "/01/{gtin}/21/{serial}", Rule::PerItem),
    ("GET", "/01/{gtin}/10/{lot}/21/{serial}", Rule::PerItem),
    ("GET", "/01/{gtin}/22/{cpv}/21/{serial}", Rule::PerItem),
    (
        "GET",
        "/01/{gtin}/22/{cpv}/10/{lot}/21/{serial}",
        Rule::PerItem,
    ),
    ("GET", "/00/{sscc}", Rule::PerItem),
    ("GET", "/.well-known/gs1resolver", Rule::Open),
    // What makes the log verifiable.
    ("GET", "/api/v1/checkpoint", Rule::Open),
    ("GET", "/api/v1/log/key", Rule::Open),
    ("GET", "/api/v1/proofs/inclusion", Rule::Open),
    ("GET", "/api/v1/proofs/consistency", Rule::Open),
    ("GET", "/checkpoint", Rule::Open),
    ("GET", "/tile/{*path}", Rule::Open),
    // Entry bundles are the entries themselves, not hashes.
    (
        "GET",
        "/tile/entries/{*path}",
        Rule::AtLeast(Tier::Authority),
    ),
    ("GET", "/api/v1/audit", Rule::Open),
    // Items.
    ("GET", "/api/v1/items/{id}/trace", Rule::PerItem),
    ("GET", "/api/v1/items/{id}/evidence", Rule::PerItem),
    ("GET", "/api/v1/items/{id}/epcis", Rule::PerItem),
    ("GET", "/api/v1/items/{id}/passport", Rule::PerItem),
    ("GET", "/api/v1/items/{id}/passport/evidence", Rule::PerItem),
    // Raw entries carry every field of every event: only the whole view may have them.
    ("GET", "/api/v1/log/entries", Rule::AtLeast(Tier::Authority)),
    // Who the log's parties are is a partner's business, not the public's.
    ("GET", "/api/v1/devices", Rule::AtLeast(Tier::Partner)),
    ("GET", "/api/v1/places", Rule::AtLeast(Tier::Partner)),
    ("GET", "/metrics", Rule::AtLeast(Tier::Authority)),
    // The operator.
    ("GET", "/api/v1/rejections", Rule::Admin),
    ("POST", "/api/v1/devices", Rule::Admin),
    ("POST", "/api/v1/devices/{id}/rotate", Rule::Admin),
    ("POST", "/api/v1/devices/{id}/revoke", Rule::Admin),
    ("POST", "/api/v1/devices/{id}/password", Rule::Admin),
    ("POST", "/api/v1/events", Rule::Admin),
    ("PUT", "/api/v1/places/{gln}", Rule::Admin),
    ("DELETE", "/api/v1/places/{gln}", Rule::Admin),
    ("POST", "/api/v1/access", Rule::Admin),
    ("GET", "/api/v1/access", Rule::Admin),
    ("DELETE", "/api/v1/access/{id}", Rule::Admin),
];

/// Every gRPC method: (full method path, rule).
pub const GRPC: &[(&str, Rule)] = &[
    ("/provenance.v1.Ledger/GetCheckpoint", Rule::Open),
    ("/provenance.v1.Ledger/GetLogKey", Rule::Open),
    ("/provenance.v1.Ledger/GetInclusionProof", Rule::Open),
    ("/provenance.v1.Ledger/GetConsistencyProof", Rule::Open),
    (
        "/provenance.v1.Ledger/GetEntries",
        Rule::AtLeast(Tier::Authority),
    ),
    ("/provenance.v1.Ledger/TraceItem", Rule::PerItem),
    ("/provenance.v1.Ledger/GetEvidence", Rule::PerItem),
    (
        "/provenance.v1.Ledger/ListDevices",
        Rule::AtLeast(Tier::Partner),
    ),
    ("/grpc.health.v1.Health/Check", Rule::Open),
    ("/grpc.health.v1.Health/Watch", Rule::Open),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Rule::Open,
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Rule::Open,
    ),
    ("/provenance.v1.Submission/SubmitEvent", Rule::Admin),
    ("/provenance.v1.Registry/RegisterDevice", Rule::Admin),
    ("/provenance.v1.Registry/RotateKey", Rule::Admin),
    ("/provenance.v1.Registry/RevokeDevice", Rule::Admin),
    ("/provenance.v1.Access/GrantRead", Rule::Admin),
    ("/provenance.v1.Access/ListReadGrants", Rule::Admin),
    ("/provenance.v1.Access/RevokeRead", Rule::Admin),
];

/// The rule of an HTTP route (`path` as axum's `MatchedPath` gives it); `None`: no rule, so
/// the route must be refused.
pub fn http(method: &str, path: &str) -> Option<Rule> {
    // HEAD is GET without the body.
    let method = if method == "HEAD" { "GET" } else { method };
    HTTP.iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, r)| *r)
}

/// The rule of a gRPC method; `None`: refuse it.
pub fn grpc(path: &str) -> Option<Rule> {
    GRPC.iter().find(|(p, _)| *p == path).map(|(_, r)| *r)
}
