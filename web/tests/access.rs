//! Read grants through the admin API (issue #14): made with a token shown once, checked
//! (tier, organisation, item prefix), listed without tokens, revoked.

use std::sync::Arc;

use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::{AppState, site};
use serde_json::{Value, json};

async fn server() -> (String, Arc<Ledger>, tempfile::TempDir) {
    server_with(provenance_access::Anonymous::Public).await
}

async fn server_with(
    anonymous: provenance_access::Anonymous,
) -> (String, Arc<Ledger>, tempfile::TempDir) {
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
    let app = site(state).layer(axum::Extension(provenance_web::access::PublicTier(
        anonymous,
    )));
    tokio::spawn(async move { axum::serve(listener, app).await });
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

async fn token_for(base: &str, org: &str, tier: &str) -> (i64, String) {
    let made: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/access"))
        .bearer_auth(ADMIN)
        .json(&json!({ "org": org, "tier": tier }))
        .send()
        .await
        .expect("grant")
        .json()
        .await
        .expect("json");
    (
        made["id"].as_i64().expect("id"),
        made["token"].as_str().expect("token").to_string(),
    )
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    let mut r = reqwest::Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("get").status().as_u16()
}

/// The route table applied: what is open stays open, the whole entries need an authority,
/// a token stops at the next request once revoked, and the pages keep a token in a cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_answers_each_tier_as_the_table_says() {
    let (base, _ledger, _dir) = server().await;
    // One registry entry, so the log has an entry to read.
    use base64::Engine as _;
    let key = provenance_event::ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/devices"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "id": "station-1", "role": "station", "org": RECYCLER,
            "public_key": base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes()),
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let (_, partner) = token_for(&base, RECYCLER, "partner").await;
    let (customs_id, customs) = token_for(&base, "Dutch Customs", "authority").await;
    // (path, anonymous, partner, authority)
    let table = [
        ("/api/v1/checkpoint", 200, 200, 200),
        ("/api/v1/log/key", 200, 200, 200),
        ("/checkpoint", 200, 200, 200),
        ("/api/v1/log/entries?start=0&end=1", 403, 403, 200),
        ("/api/v1/devices", 403, 200, 200),
        ("/api/v1/places", 403, 200, 200),
        ("/metrics", 403, 403, 200),
        ("/login", 200, 200, 200),
    ];
    for (path, anonymous, as_partner, as_authority) in table {
        let url = format!("{base}{path}");
        assert_eq!(status(&url, None).await, anonymous, "anonymous {path}");
        assert_eq!(
            status(&url, Some(&partner)).await,
            as_partner,
            "partner {path}"
        );
        assert_eq!(
            status(&url, Some(&customs)).await,
            as_authority,
            "authority {path}"
        );
    }
    // The refusal says what would do.
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/log/entries?start=0&end=1"))
        .bearer_auth(&partner)
        .send()
        .await
        .expect("get");
    let text = r.text().await.expect("text");
    assert!(
        text.contains("needs the authority tier; yours is partner"),
        "{text}"
    );
    // A mistyped token is not read as anonymous: it is refused, saying so.
    assert_eq!(
        status(&format!("{base}/api/v1/devices"), Some("nonsense")).await,
        401
    );

    // Revoked mid-session: the very next request is refused.
    let entries = format!("{base}/api/v1/log/entries?start=0&end=1");
    assert_eq!(status(&entries, Some(&customs)).await, 200);
    let r = reqwest::Client::new()
        .delete(format!("{base}/api/v1/access/{customs_id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 204);
    assert_eq!(status(&entries, Some(&customs)).await, 401);

    // The pages: a token kept in an HttpOnly, SameSite=Strict cookie, the tier shown.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let bad = http
        .post(format!("{base}/login"))
        .form(&[("token", "nonsense")])
        .send()
        .await
        .expect("login");
    assert_eq!(bad.status(), 401);
    let ok = http
        .post(format!("{base}/login"))
        .form(&[("token", partner.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(ok.status(), 303);
    let cookie = ok
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    let page = http
        .get(format!("{base}/login"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("You read as <strong>partner</strong>"),
        "the tier shown"
    );
    let home = http
        .get(format!("{base}/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(home.contains("Public view · log in"));
    let devices = http
        .get(format!("{base}/api/v1/devices"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("devices");
    assert_eq!(devices.status(), 200, "the cookie reads as the token");
}

/// `serve --public-tier none`: anonymous visitors get checkpoints, the key and tiles only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_public_tier_anonymous_visitors_get_only_what_verifies_the_log() {
    let (base, _ledger, _dir) = server_with(provenance_access::Anonymous::None).await;
    let (_, partner) = token_for(&base, RECYCLER, "partner").await;
    for (path, anonymous) in [
        ("/api/v1/checkpoint", 200),
        ("/checkpoint", 200),
        ("/api/v1/items/urn:epc:id:sgtin:4012345.012345.1/trace", 401),
        ("/items/urn:epc:id:sgtin:4012345.012345.1", 401),
    ] {
        assert_eq!(
            status(&format!("{base}{path}"), None).await,
            anonymous,
            "{path}"
        );
    }
    assert_eq!(
        status(
            &format!("{base}/api/v1/items/urn:epc:id:sgtin:4012345.012345.1/trace"),
            Some(&partner)
        )
        .await,
        200
    );
}

/// Every path the web's source registers has a rule in the route table: a route added without
/// one fails here (and is refused at run time by the gate).
#[test]
fn every_route_in_the_source_has_a_rule() {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut all,
    );
    let mut seen = 0;
    for f in all {
        let text = std::fs::read_to_string(&f).expect("read");
        for (at, _) in text.match_indices(".route(") {
            let rest = &text[at..];
            let Some(start) = rest.find('"') else {
                continue;
            };
            let Some(len) = rest[start + 1..].find('"') else {
                continue;
            };
            let path = &rest[start + 1..start + 1 + len];
            seen += 1;
            assert!(
                provenance_access::routes::HTTP
                    .iter()
                    .any(|(_, p, _)| *p == path),
                "{path} ({}) has no access rule in provenance_access::routes::HTTP",
                f.display()
            );
        }
    }
    assert!(seen >= 30, "the scan found the routes: {seen}");
}

/// One cell, three readers: the public sees its making only (on the page and in the JSON,
/// with the proof of that entry), a partner not involved in it the same, the carrier it was
/// handed to and an authority all of it; the whole-or-nothing views refuse the public view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tier_sees_what_the_rule_gives_it_of_one_cell() {
    use base64::Engine as _;
    use provenance_event::ed25519_dalek::SigningKey;
    use provenance_event::{DeviceId, Draft, Epc, Kind, Location, sign_event};
    const CELL: &str = "urn:epc:id:sgtin:4012345.012345.3001";
    const PLANT: &str = "Acme Cells urn:epc:id:pgln:4012345.00001";
    const CARRIER: &str = "Blue Sea Lines urn:epc:id:pgln:4012345.00002";
    let (base, _ledger, _dir) = server().await;
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[5; 32]);
    let r = http
        .post(format!("{base}/api/v1/devices"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "id": "plant-1", "role": "station", "org": PLANT,
            "public_key": base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes()),
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let id = DeviceId::new("plant-1").expect("id");
    let items = [Epc::parse(CELL).expect("epc")];
    let site = Location {
        lat_lon: Some((508_350_000, 109_460_000)),
        sgln: Some(Epc::parse("urn:epc:id:sgln:4012345.00001.0").expect("sgln")),
    };
    let carrier = Epc::parse("urn:epc:id:pgln:4012345.00002").expect("pgln");
    let mut prev = [0u8; 32];
    let t0 = 1_763_000_000_000;
    for (seq, kind) in [
        (1, Kind::Commissioned),
        (2, Kind::Located),
        (3, Kind::HandedOver),
    ] {
        let mut d = Draft::new(seq, prev, t0 + seq as i64 * 60_000, kind, &items);
        d.location = Some(&site);
        d.doc = Some("PO-4711");
        if kind == Kind::HandedOver {
            d.party = Some(&carrier);
        }
        let mut buf = vec![0u8; 2048];
        let n = sign_event(&key, &id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        prev = provenance_event::message_hash(&buf);
        let r = http
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/cose")
            .body(buf)
            .send()
            .await
            .expect("submit");
        assert!(r.status().is_success());
    }
    let (_, carrier_token) = token_for(&base, CARRIER, "partner").await;
    let (_, recycler_token) = token_for(&base, RECYCLER, "partner").await;
    let trace = |token: Option<String>| {
        let mut r = http.get(format!("{base}/api/v1/items/{CELL}/trace"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            r.send()
                .await
                .expect("trace")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    for (who, token) in [
        ("anonymous", None),
        ("recycler", Some(recycler_token.clone())),
    ] {
        let t = trace(token).await;
        assert_eq!(t["access"], "public", "{who}: {t}");
        let events = t["events"].as_array().expect("events");
        assert_eq!(events.len(), 1, "{who}: the making only");
        assert_eq!(events[0]["kind"], "commissioned");
        assert!(
            events[0]["proof"]
                .as_str()
                .is_some_and(|p| p.contains("inclusion?index="))
        );
        let text = t.to_string();
        for hidden in [
            "PO-4711",
            "508350000",
            "pgln:4012345.00002",
            "\"findings\":",
        ] {
            assert!(!text.contains(hidden), "{who} sees {hidden}: {text}");
        }
    }
    for (who, token) in [
        ("carrier", carrier_token.clone()),
        ("authority", ADMIN.to_string()),
    ] {
        let t = trace(Some(token)).await;
        assert!(t["access"].is_null(), "{who}: the whole trace");
        assert_eq!(t["events"].as_array().map(Vec::len), Some(3), "{who}");
        assert!(t.to_string().contains("PO-4711"), "{who}");
    }
    // The page: public facts with their proof, the journey only for those who may see it.
    let page = |token: Option<String>| {
        let mut r = http.get(format!("{base}/items/{CELL}"));
        if let Some(t) = token {
            r = r.header("cookie", format!("provenance_token={t}"));
        }
        async move { r.send().await.expect("page").text().await.expect("html") }
    };
    // The product page: no count and no serials for the public; an authority gets the list.
    let product = |token: Option<&'static str>| {
        let mut r = http.get(format!("{base}/01/04012345123456"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.expect("product").text().await.expect("html") }
    };
    let product_as = |token: String| {
        let r = http
            .get(format!("{base}/01/04012345123456"))
            .bearer_auth(token);
        async move { r.send().await.expect("product").text().await.expect("html") }
    };
    let public_product = product(None).await;
    assert!(
        public_product.contains("log in with a read token"),
        "{public_product}"
    );
    assert!(!public_product.contains(CELL), "no serials in public");
    assert!(
        product(Some(ADMIN)).await.contains(CELL),
        "the list for an authority"
    );
    // A partner: no list of a product it was not given; the items shared with it.
    let carrier_product = product_as(carrier_token.clone()).await;
    assert!(
        !carrier_product.contains(CELL),
        "involved in one item, not the list"
    );
    let shared: Value = http
        .post(format!("{base}/api/v1/access"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "org": "Third Party Repairs urn:epc:id:pgln:4012345.00007",
            "tier": "partner",
            "items": "urn:epc:id:sgtin:4012345.012345.3",
        }))
        .send()
        .await
        .expect("grant")
        .json()
        .await
        .expect("json");
    let shared_product = product_as(shared["token"].as_str().expect("token").to_string()).await;
    assert!(
        shared_product.contains(CELL) && shared_product.contains("shared with you"),
        "{shared_product}"
    );
    let public = page(None).await;
    assert!(public.contains("Public facts") && public.contains("Acme Cells"));
    assert!(!public.contains("PO-4711") && !public.contains("class=\"timeline\""));
    let full = page(Some(carrier_token.clone())).await;
    assert!(full.contains("class=\"timeline\"") && full.contains("PO-4711"));
    // Whole-or-nothing views.
    for route in ["evidence", "epcis"] {
        let url = format!("{base}/api/v1/items/{CELL}/{route}");
        assert_eq!(status(&url, None).await, 403, "anonymous {route}");
        assert_eq!(
            status(&url, Some(&recycler_token)).await,
            403,
            "recycler {route}"
        );
        assert_eq!(
            status(&url, Some(&carrier_token)).await,
            200,
            "carrier {route}"
        );
    }
}
