//! The GS1 resolver over a real server (`provenance_web::resolver`): GS1's own Digital Link
//! examples resolve to the items they name, a GTIN alone answers its product page, linksets,
//! `linkType` redirects and `Link` headers follow the GS1-Conformant Resolver standard, the
//! resolver describes itself at `/.well-known/gs1resolver`, and a hostile `Host` header never
//! reaches a link.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Extension;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, sign_event};
use provenance_ingest::service::{Config, Ingest, NoAcks};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::{AppState, PublicUrl, site};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Requests as an authority (the admin token reads as one): this file is about what the views
/// show, not who may see them (`tests/access.rs` is).
fn authority() -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_static("Bearer s3cret"),
    );
    h
}

const PUBLIC: &str = "https://trace.example.com";
const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
const GTIN: &str = "04012345123456";
const SSCC_URN: &str = "urn:epc:id:sscc:4012345.0000000017";
const SSCC: &str = "040123450000000177";
const EVIL: &str = "evil.example";

fn testdata(rel: &str) -> PathBuf {
    let base = std::env::var_os("PROVENANCE_TESTDATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
        PathBuf::from,
    );
    base.join(rel)
}

fn json_file(rel: &str) -> Value {
    let path = testdata(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set PROVENANCE_TESTDATA)", path.display()));
    serde_json::from_str(&text).expect("test vector is JSON")
}

struct Server {
    base: String,
    ledger: Arc<Ledger>,
    http: reqwest::Client,
    signer: Signer,
    _dir: tempfile::TempDir,
}

struct Signer {
    key: SigningKey,
    id: DeviceId,
    seq: u64,
    prev: [u8; 32],
}

/// A server on a temporary ledger, with the public URL given (as `serve --public-url` sets
/// it) or none (the web crate on its own).
async fn server(public: Option<&str>) -> Server {
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
        admin_token: Arc::new("s3cret".into()),
        metrics: None,
    };
    let mut app = site(state);
    if let Some(p) = public {
        app = app.layer(Extension(PublicUrl::new(p).expect("public url")));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let signer = Signer {
        key: SigningKey::from_bytes(&[7; 32]),
        id: DeviceId::new("station-1").expect("id"),
        seq: 0,
        prev: [0; 32],
    };
    ledger
        .register(
            &signer.id,
            Role::Station,
            "Acme Cells",
            signer.key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    Server {
        base,
        ledger,
        // No redirects followed: the tests look at them.
        http: reqwest::Client::builder()
            .default_headers(authority())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        signer,
        _dir: dir,
    }
}

impl Server {
    /// One signed event commissioning `items`, anchored and indexed.
    async fn commission(&mut self, items: &[String]) {
        let s = &mut self.signer;
        s.seq += 1;
        let epcs: Vec<Epc> = items
            .iter()
            .map(|i| Epc::parse(i).unwrap_or_else(|e| panic!("{i}: {e}")))
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let d = Draft::new(s.seq, s.prev, now - 3_600_000, Kind::Commissioned, &epcs);
        let mut buf = vec![0u8; 64 * 1024];
        let n = sign_event(&s.key, &s.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        s.prev = provenance_event::message_hash(&buf);
        let a = self.ledger.append(&[buf]).await.expect("append");
        self.ledger
            .wait_indexed(a.checkpoint.checkpoint.size)
            .await
            .expect("indexed");
    }

    /// `GET path` with `Host: evil.example` and the headers given.
    async fn get(&self, path: &str, accept: Option<&str>) -> reqwest::Response {
        let mut r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("host", EVIL);
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        r.send().await.unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
}

/// Every `Link` header of an answer, as one list (an answer may send several).
fn links(h: &HeaderMap) -> String {
    let all: Vec<&str> = h
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(!all.is_empty(), "no link header in {h:?}");
    all.join(", ")
}

/// Every header of an answer, as one text to search.
fn headers_text(h: &HeaderMap) -> String {
    h.iter()
        .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

/// `https://host/stem/01/…?q#f` → the path from its primary key on, and the query: this
/// resolver's root has no stem, and a client never sends the fragment.
fn key_path(uri: &str) -> Option<(String, String)> {
    let uri = uri.split('#').next()?;
    let (rest, query) = uri.split_once('?').unwrap_or((uri, ""));
    let path = &rest[rest.find("://")? + 3..];
    let path = &path[path.find('/')?..];
    let at = path
        .rfind("/01/")
        .into_iter()
        .chain(path.rfind("/00/"))
        .max()?;
    Some((path[at..].to_string(), query.to_string()))
}

/// What a Digital Link path names, by GS1's rules, written out here independently of the
/// crate's own converter: company prefix of 7 digits, indicator or extension digit moved
/// behind it, check digit dropped (the Tag Data Standard's SGTIN and SSCC layouts).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    Item(String),
    Product(String),
}

fn named(path: &str) -> Option<Named> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let pad = |g: &str| format!("{g:0>14}");
    match segs.as_slice() {
        ["00", s] if s.len() == 18 => Some(Named::Item(format!(
            "urn:epc:id:sscc:{}.{}{}",
            &s[1..8],
            &s[..1],
            &s[8..17]
        ))),
        ["01", g] => Some(Named::Product(pad(g))),
        ["01", g, rest @ ..] => {
            let serial = match rest {
                ["21", ser]
                | ["10", _, "21", ser]
                | ["22", _, "21", ser]
                | ["22", _, "10", _, "21", ser] => *ser,
                _ => return None,
            };
            // Serials with punctuation escape differently in URNs; GS1's examples use none.
            if !serial.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            let g = pad(g);
            Some(Named::Item(format!(
                "urn:epc:id:sgtin:{}.{}{}.{serial}",
                &g[1..8],
                &g[..1],
                &g[8..13]
            )))
        }
        _ => None,
    }
}

/// One request the GS1 examples make of the resolver, and what should answer.
#[derive(Debug)]
struct Case {
    path: String,
    query: String,
    named: Named,
}

/// The valid examples of GS1's reference engine that name an item or a product, with the
/// options this resolver has (zero-suppressed GTINs in the path are padded).
fn parse_cases() -> Vec<Case> {
    let doc = json_file("gs1/dl-uri-parse-cases.json");
    let mut out = Vec::new();
    for c in doc["cases"].as_array().expect("cases") {
        if c["valid"] != true {
            continue;
        }
        let options_ok = c.get("options").is_none_or(|o| {
            o.as_object().is_some_and(|m| {
                m.iter()
                    .all(|(k, v)| k == "permitZeroSuppressedGTINinDLuris" && v == true)
            })
        });
        let Some(uri) = c["uri"].as_str() else {
            continue;
        };
        let Some((path, query)) = key_path(uri) else {
            continue;
        };
        if !options_ok {
            continue;
        }
        if let Some(named) = named(&path) {
            out.push(Case { path, query, named });
        }
    }
    out
}

/// The EPC URN ↔ Digital Link pairs (OpenEPCIS's cases, re-checked by the collector) for
/// SGTINs, SSCCs and GTIN patterns: (urn, path).
fn urn_cases() -> Vec<(String, String)> {
    let doc = json_file("gs1/epc-urn-digital-link-cases.json");
    let mut out = Vec::new();
    for c in doc["cases"].as_array().expect("cases") {
        let (Some(urn), Some(dl)) = (c["urn"].as_str(), c["dl"].as_str()) else {
            continue;
        };
        if c["valid"] != true {
            continue;
        }
        let wanted = [
            "urn:epc:id:sgtin:",
            "urn:epc:id:sscc:",
            "urn:epc:idpat:sgtin:",
        ];
        if !wanted.iter().any(|w| urn.starts_with(w)) {
            continue;
        }
        if let Some((path, _)) = key_path(dl) {
            out.push((urn.to_string(), path));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs1_examples_resolve_to_their_items_and_products() {
    let mut srv = server(Some(PUBLIC)).await;
    let parse = parse_cases();
    let pairs = urn_cases();

    // The items the examples name, in the log. A Digital Link does not say how long its
    // company prefix is: when two URNs share one (OpenEPCIS's 387583.7784374.9302932 and
    // 387583784374.7.9302932), only the first is put in the log, which then answers it.
    let mut items: Vec<String> = Vec::new();
    let mut by_path: BTreeMap<String, String> = BTreeMap::new();
    let mut products: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &parse {
        if let Named::Item(urn) = &c.named {
            items.push(urn.clone());
        }
    }
    for (urn, path) in &pairs {
        match urn.strip_prefix("urn:epc:idpat:sgtin:") {
            // A GTIN pattern: one item of the product, so its page lists something.
            Some(pattern) => items.push(format!(
                "urn:epc:id:sgtin:{}1",
                pattern.trim_end_matches('*')
            )),
            None => {
                if !by_path.contains_key(path) {
                    by_path.insert(path.clone(), urn.clone());
                    items.push(urn.clone());
                }
            }
        }
    }
    items.sort();
    items.dedup();
    for i in &items {
        if i.starts_with("urn:epc:id:sgtin:") {
            let gtin = Epc::parse(i).expect("epc").gs1_key().to_string();
            products.entry(gtin).or_default().push(i.clone());
        }
    }
    srv.commission(&items).await;

    let (mut item_cases, mut product_cases, mut absent) = (0, 0, 0);
    // GS1's reference-engine examples: each names the item (or product) we derived from it.
    for c in &parse {
        let path = if c.query.is_empty() {
            c.path.clone()
        } else {
            format!("{}?{}", c.path, c.query)
        };
        let r = srv.get(&path, None).await;
        let status = r.status();
        let link = r
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let body = r.text().await.expect("body");
        match &c.named {
            Named::Item(urn) => {
                item_cases += 1;
                assert_eq!(status, 200, "{path}");
                assert!(body.contains(urn.as_str()), "{path} shows {urn}");
                assert!(
                    link.as_deref()
                        .is_some_and(|l| l.contains("rel=\"linkset\"")),
                    "{path}: {link:?}"
                );
            }
            Named::Product(gtin) => match products.get(gtin) {
                Some(of_it) => {
                    product_cases += 1;
                    assert_eq!(status, 200, "{path}");
                    assert!(
                        body.contains(&format!("GTIN <code>{gtin}</code>")),
                        "{path}"
                    );
                    for urn in of_it {
                        assert!(
                            body.contains(&format!("href=\"/items/{urn}\"")),
                            "{path} lists {urn}"
                        );
                    }
                }
                None => {
                    absent += 1;
                    assert_eq!(status, 404, "{path}");
                    assert!(
                        body.contains(&format!("The log holds no item of GTIN {gtin}")),
                        "{path}: {body}"
                    );
                }
            },
        }
    }
    assert!(item_cases >= 8, "{item_cases} item examples");
    assert!(product_cases >= 3, "{product_cases} product examples");
    assert!(absent >= 3, "{absent} unknown products");

    // OpenEPCIS's URN ↔ Digital Link pairs, custom stems removed.
    let mut pair_cases = 0;
    for (urn, path) in &pairs {
        let r = srv.get(path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().await.expect("body");
        match urn.strip_prefix("urn:epc:idpat:sgtin:") {
            Some(pattern) => {
                let item = format!("urn:epc:id:sgtin:{}1", pattern.trim_end_matches('*'));
                assert!(body.contains(&format!("href=\"/items/{item}\"")), "{path}");
            }
            None => {
                let want = &by_path[path];
                assert!(body.contains(want.as_str()), "{path} shows {want}");
            }
        }
        pair_cases += 1;
    }
    assert!(pair_cases >= 12, "{pair_cases} URN pairs");

    // A wrong check digit is a bad request, not an unknown item.
    for bad in [
        "/01/12312312312334/21/XYZ",
        "/00/006141411234567891",
        "/01/12312312312334",
    ] {
        assert_eq!(srv.get(bad, None).await.status(), 400, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gtin_alone_lists_its_items_within_bounds() {
    let mut srv = server(Some(PUBLIC)).await;
    let mut items: Vec<String> = (0..105)
        .map(|n| format!("urn:epc:id:sgtin:4012345.012345.{n}"))
        .collect();
    items.push("urn:epc:id:sgtin:4012345.012346.1".into());
    srv.commission(&items).await;
    let gtin13 = GTIN.trim_start_matches('0');
    for path in [format!("/01/{GTIN}"), format!("/01/{gtin13}")] {
        let r = srv.get(&path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(r.headers(), "content-type").starts_with("text/html"));
        let link = links(r.headers()).to_string();
        assert!(
            link.contains(&format!(
                "<{PUBLIC}/01/{GTIN}?linkType=all>; rel=\"linkset\""
            )),
            "{link}"
        );
        let html = r.text().await.expect("html");
        assert!(
            html.contains(&format!("GTIN <code>{GTIN}</code>")),
            "{html}"
        );
        assert!(html.contains("<strong>105</strong> items"), "{html}");
        let listed = html
            .matches("href=\"/items/urn:epc:id:sgtin:4012345.012345.")
            .count();
        assert_eq!(listed, 100, "the first 100 of 105");
        assert!(html.contains("href=\"/items/urn:epc:id:sgtin:4012345.012345.0\""));
        assert!(
            !html.contains("href=\"/items/urn:epc:id:sgtin:4012345.012345.99\""),
            "serials sort as text: 99 is past the first 100"
        );
        assert!(
            !html.contains("012346.1"),
            "another GTIN's item is not listed"
        );
    }
    // The item pages the list links to are there.
    let r = srv
        .get("/items/urn:epc:id:sgtin:4012345.012345.7", None)
        .await;
    assert_eq!(r.status(), 200);

    // A GTIN the log does not know: a page with a sentence; a wrong one: why.
    let r = srv.get("/01/00012345678905", None).await;
    assert_eq!(r.status(), 404);
    let html = r.text().await.expect("html");
    assert!(
        html.contains("The log holds no item of GTIN 00012345678905"),
        "{html}"
    );
    let r = srv.get("/01/04012345123457", None).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("the last digit should be 6")
    );
    let r = srv.get("/01/hello", None).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("html").contains("is not a GTIN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linksets_link_types_and_link_headers() {
    let mut srv = server(Some(PUBLIC)).await;
    srv.commission(&[CELL.to_string(), SSCC_URN.to_string()])
        .await;
    let item = format!("/01/{GTIN}/21/1001");
    let anchor = format!("{PUBLIC}{item}");

    // The page at every Digital Link of the item names its linkset and canonical URI.
    let gtin13 = GTIN.trim_start_matches('0');
    for path in [
        item.clone(),
        format!("/01/{gtin13}/21/1001"),
        format!("/01/{GTIN}/10/LOT7/21/1001"),
        format!("/01/{gtin13}/22/2A/10/LOT7/21/1001?17=261231"),
    ] {
        let r = srv.get(&path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(r.headers(), "content-type").starts_with("text/html"));
        let link = links(r.headers());
        assert!(
            link.contains(&format!(
                "<{anchor}?linkType=all>; rel=\"linkset\"; type=\"application/linkset+json\""
            )),
            "{path}: {link}"
        );
        assert!(
            link.contains(&format!("<{anchor}>; rel=\"owl:sameAs\"")),
            "{link}"
        );
        assert!(header(r.headers(), "vary").contains("Accept"));
    }

    // The linkset, asked three ways.
    let mut linkset = Value::Null;
    for (path, accept) in [
        (format!("{item}?linkType=all"), None),
        (format!("{item}?linkType=linkset"), None),
        (item.clone(), Some("application/linkset+json")),
    ] {
        let r = srv.get(&path, accept).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            header(r.headers(), "content-type"),
            "application/linkset+json"
        );
        let link = links(r.headers());
        assert!(
            link.contains("rel=\"http://www.w3.org/ns/json-ld#context\""),
            "{link}"
        );
        assert!(link.contains("rel=\"linkset\""), "{link}");
        let v: Value = r.json().await.expect("json");
        if !linkset.is_null() {
            assert_eq!(v, linkset, "{path}");
        }
        linkset = v;
    }
    let sets = linkset["linkset"].as_array().expect("linkset array");
    assert_eq!(sets.len(), 1);
    let ctx = sets[0].as_object().expect("link context");
    assert_eq!(ctx["anchor"], anchor.as_str());
    assert!(
        ctx["description"]
            .as_str()
            .is_some_and(|d| d.contains(CELL))
    );
    let own = format!("{PUBLIC}/voc/evidence");
    let epcis_href = format!("{PUBLIC}/api/v1/items/{CELL}/epcis");
    for rel in [
        "https://gs1.org/voc/defaultLink",
        "https://gs1.org/voc/traceability",
        "https://gs1.org/voc/epcis",
        "https://gs1.org/voc/pip",
        own.as_str(),
    ] {
        let targets = ctx[rel]
            .as_array()
            .unwrap_or_else(|| panic!("{rel} in {ctx:?}"));
        assert!(!targets.is_empty());
        for t in targets {
            assert!(
                t["href"].as_str().is_some_and(|h| h.starts_with(PUBLIC)),
                "{t}"
            );
            assert!(t["title"].as_str().is_some_and(|s| !s.is_empty()), "{t}");
            assert!(t["type"].is_string(), "{t}");
        }
    }
    assert_eq!(
        ctx["https://gs1.org/voc/epcis"][0]["href"],
        epcis_href.as_str()
    );
    assert!(
        ctx.get(&format!("{PUBLIC}/voc/customs")).is_none(),
        "an item has no customs view"
    );
    // Every link leads somewhere on this server.
    for (rel, targets) in ctx.iter().filter(|(k, _)| k.starts_with("http")) {
        for t in targets.as_array().expect("targets") {
            let href = t["href"].as_str().expect("href");
            let path = href.strip_prefix(PUBLIC).expect("public");
            assert_eq!(srv.get(path, None).await.status(), 200, "{rel}: {href}");
        }
    }

    // One link type: a redirect there, the query string passed on.
    let redirects = [
        ("linkType=gs1:epcis", None, epcis_href.clone()),
        (
            "linkType=https%3A%2F%2Fgs1.org%2Fvoc%2Fepcis&17=261231",
            None,
            epcis_href.clone(),
        ),
        (
            "linkType=https://ref.gs1.org/voc/epcis",
            None,
            epcis_href.clone(),
        ),
        (
            "linkType=gs1:traceability",
            None,
            format!("{PUBLIC}/items/{CELL}"),
        ),
        (
            "linkType=gs1:traceability",
            Some("application/json"),
            format!("{PUBLIC}/api/v1/items/{CELL}/trace"),
        ),
        ("linkType=gs1:pip", None, format!("{PUBLIC}/01/{GTIN}")),
        (
            "linkType=provenance:evidence",
            None,
            format!("{PUBLIC}/api/v1/items/{CELL}/evidence"),
        ),
    ];
    for (query, accept, target) in redirects {
        let r = srv.get(&format!("{item}?{query}"), accept).await;
        assert_eq!(r.status(), 307, "{query}");
        assert_eq!(
            header(r.headers(), "location"),
            format!("{target}?{query}"),
            "{query}"
        );
        assert!(links(r.headers()).contains("rel=\"linkset\""));
    }
    // A link type we have no link of: 404, with the ones we have.
    let r = srv
        .get(&format!("{item}?linkType=gs1:recipeInfo"), None)
        .await;
    assert_eq!(r.status(), 404);
    let html = r.text().await.expect("html");
    assert!(html.contains("gs1:recipeInfo"), "{html}");
    for t in [
        "gs1:epcis",
        "gs1:traceability",
        "gs1:pip",
        "provenance:evidence",
    ] {
        assert!(html.contains(t), "{t} listed: {html}");
    }

    // A consignment: the customs view too, and no product page.
    let r = srv.get(&format!("/00/{SSCC}?linkType=all"), None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    let ctx = &v["linkset"][0];
    assert_eq!(ctx["anchor"], format!("{PUBLIC}/00/{SSCC}").as_str());
    assert_eq!(
        ctx[&format!("{PUBLIC}/voc/customs")][0]["href"],
        format!("{PUBLIC}/customs/{SSCC_URN}").as_str()
    );
    assert!(ctx.get("https://gs1.org/voc/pip").is_none());
    let r = srv
        .get(&format!("/00/{SSCC}?linkType=provenance:customs"), None)
        .await;
    assert_eq!(r.status(), 307);
    assert_eq!(
        header(r.headers(), "location"),
        format!("{PUBLIC}/customs/{SSCC_URN}?linkType=provenance:customs")
    );

    // A product: its own page is its default link, answered in place.
    let r = srv.get(&format!("/01/{GTIN}?linkType=all"), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(r.headers(), "content-type"),
        "application/linkset+json"
    );
    let v: Value = r.json().await.expect("json");
    let product = format!("{PUBLIC}/01/{GTIN}");
    assert_eq!(v["linkset"][0]["anchor"], product.as_str());
    assert_eq!(
        v["linkset"][0]["https://gs1.org/voc/pip"][0]["href"],
        product.as_str()
    );
    let r = srv.get(&format!("/01/{GTIN}?linkType=gs1:pip"), None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains(&format!("href=\"/items/{CELL}\""))
    );
    assert_eq!(
        srv.get(&format!("/01/{GTIN}?linkType=gs1:epcis"), None)
            .await
            .status(),
        404
    );

    // Nothing known: 404 whatever is asked.
    for q in ["", "?linkType=all", "?linkType=gs1:epcis"] {
        let path = format!("/01/{GTIN}/21/999{q}");
        assert_eq!(srv.get(&path, None).await.status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_describes_itself() {
    let srv = server(Some(PUBLIC)).await;
    let r = srv.get("/.well-known/gs1resolver", None).await;
    assert_eq!(r.status(), 200);
    assert!(header(r.headers(), "content-type").starts_with("application/json"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["resolverRoot"], PUBLIC);
    assert!(v["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(v["supportedPrimaryKeys"], serde_json::json!(["01", "00"]));
    let types = v["supportedLinkType"].as_array().expect("link types");
    assert!(
        types
            .iter()
            .any(|t| t["namespace"] == "https://gs1.org/voc/" && t["prefix"] == "gs1:")
    );
    assert!(types.iter().any(
        |t| t["namespace"] == format!("{PUBLIC}/voc/").as_str() && t["prefix"] == "provenance:"
    ));
    assert_eq!(v["linkTypeDefaultCanBeLinkset"], false);
    assert!(
        v["jsonLdContextLocation"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://ref.gs1.org/"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_host_never_reaches_a_link() {
    // Without --public-url, only a loopback Host is believed (the request's own works) …
    let mut srv = server(None).await;
    srv.commission(&[CELL.to_string(), SSCC_URN.to_string()])
        .await;
    let own = srv
        .http
        .get(format!("{}/.well-known/gs1resolver", srv.base))
        .send()
        .await
        .expect("well-known");
    let v: Value = own.json().await.expect("json");
    assert_eq!(
        v["resolverRoot"],
        srv.base.as_str(),
        "a loopback Host is this machine"
    );

    // … and `Host: evil.example` (every request of `get`) is not.
    let item = format!("/01/{GTIN}/21/1001");
    let answers = [
        ("/.well-known/gs1resolver".to_string(), None),
        (item.clone(), None),
        (format!("{item}?linkType=all"), None),
        (item.clone(), Some("application/linkset+json")),
        (format!("{item}?linkType=gs1:epcis"), None),
        (format!("{item}?linkType=gs1:nothing"), None),
        (format!("/00/{SSCC}?linkType=all"), None),
        (format!("/01/{GTIN}"), None),
        (format!("/01/{GTIN}?linkType=all"), None),
        (format!("/items/{CELL}"), None),
    ];
    for (path, accept) in answers {
        let r = srv.get(&path, accept).await;
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
        let heads = headers_text(r.headers());
        let body = r.text().await.expect("body");
        assert!(!heads.contains(EVIL), "{path} headers: {heads}");
        assert!(!body.contains(EVIL), "{path} body: {body}");
    }
    let r = srv.get("/.well-known/gs1resolver", None).await;
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["resolverRoot"], "http://localhost");
    let r = srv.get(&format!("{item}?linkType=gs1:epcis"), None).await;
    assert!(header(r.headers(), "location").starts_with("http://localhost/api/v1/items/"));
    let r = srv.get(&item, None).await;
    assert!(links(r.headers()).contains(&format!("<http://localhost{item}>; rel=\"owl:sameAs\"")));
}
