//! Read grants through the admin API (issue #14): made with a token shown once, checked
//! (tier, organisation, item prefix), listed without tokens, revoked.

use std::sync::Arc;

use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::{AppState, site};
use serde_json::{Value, json};

async fn server() -> (String, Arc<Ledger>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(
        Ledger::open(&LedgerConfig {
            database_url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        })
        .await
        .expect("open"),
    );
    let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), Config::default())
        .await
        .expect("ingest");
    let state = AppState {
        ledger: ledger.clone(),
        ingest,
        admin_token: Arc::new("s3cret-admin-token-for-the-tests-only".into()),
        metrics: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, site(state)).await });
    (base, ledger, dir)
}

const ADMIN: &str = "s3cret-admin-token-for-the-tests-only";
const RECYCLER: &str = "Second Life Recycling urn:epc:id:pgln:4012345.00009";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_made_once_listed_without_tokens_and_revoked() {
    let (base, ledger, _dir) = server().await;
    let http = reqwest::Client::new();
    let grant = |body: Value, token: Option<&'static str>| {
        let mut r = http.post(format!("{base}/api/v1/access")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let body =
        json!({ "org": RECYCLER, "tier": "partner", "items": "urn:epc:id:sgtin:4012345.012345." });
    assert_eq!(grant(body.clone(), None).await.expect("post").status(), 401);
    let r = grant(body, Some(ADMIN)).await.expect("post");
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.expect("json");
    let token = made["token"].as_str().expect("token").to_string();
    assert!(token.len() >= 32, "{token}");
    assert_eq!(made["tier"], "partner");

    // Refused with what to give instead.
    for (body, words) in [
        (
            json!({ "org": RECYCLER, "tier": "admin" }),
            "public, partner or authority",
        ),
        (
            json!({ "org": " ", "tier": "partner" }),
            "organisation is 1 to 200",
        ),
        (
            json!({ "org": RECYCLER, "tier": "partner", "items": "urn:epc:id:sgln:4012345." }),
            "not an item prefix",
        ),
    ] {
        let r = grant(body, Some(ADMIN)).await.expect("post");
        assert_eq!(r.status(), 400);
        let text = r.text().await.expect("text");
        assert!(text.contains(words), "{words}: {text}");
    }

    // Listed, never with the token; stored as a hash only.
    let list: Value = http
        .get(format!("{base}/api/v1/access"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["grants"].as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains(&token));
    let (g, shared) = ledger
        .reader_by_token(&provenance_web::auth::password_hash(&token))
        .await
        .expect("lookup")
        .expect("the grant");
    assert_eq!(g.org, RECYCLER);
    assert_eq!(shared, ["urn:epc:id:sgtin:4012345.012345."]);

    // Revoked: gone at once; a second revocation is a 404 that says where to look.
    let id = made["id"].as_i64().expect("id");
    let r = http
        .delete(format!("{base}/api/v1/access/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert!(
        ledger
            .reader_by_token(&provenance_web::auth::password_hash(&token))
            .await
            .expect("lookup")
            .is_none()
    );
    let r = http
        .delete(format!("{base}/api/v1/access/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("provenance access list")
    );
}
