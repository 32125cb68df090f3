//! The web pages in a real headless browser: Debian's Chromium driven through chromedriver
//! (WebDriver, with fantoccini) against a real `provenance serve` holding a consignment's
//! journey submitted over HTTP.
//!
//! It searches for a cell by GTIN and serial, checks its trace page (timeline against the JSON
//! trace, custody findings and verdict, the temperature chart, the route), follows the GS1
//! Digital Link, watches the page update itself when one more event is anchored, opens the
//! customs view, and looks at a consignment whose custody fails. With JavaScript off the same
//! content is there. Full-page screenshots are saved under target/screenshots/ and their paths
//! printed. Skips without Chromium unless PROVENANCE_REQUIRE_ALL (or CI) is set.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use provenance_event::{Epc, Kind, Quantity};
use serde_json::{Value, json};
use support::journey::{CELL, HOUR, PORT, SSCC, Site, With};
use support::{external, free_port};

/// A consignment whose custody fails: too hot, a hard knock and a seal broken at sea.
const BAD_SSCC: &str = "urn:epc:id:sscc:4012345.0000000024";

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

/// Chromium and chromedriver, from Debian's `chromium` and `chromium-driver`.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    Some((
        tool("PROVENANCE_CHROMIUM", "/usr/bin/chromium")?,
        tool("PROVENANCE_CHROMEDRIVER", "/usr/bin/chromedriver")?,
    ))
}

/// A chromedriver process on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(chromedriver: &Path) -> Self {
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session; `javascript: false` turns scripts off.
    async fn session(&self, chromium: &Path, javascript: bool) -> Client {
        let mut opts = json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--lang=en-GB",
            ],
        });
        if !javascript {
            opts["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), opts);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp; the screenshots go beside it.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// A screenshot of the whole page: the window grows to the document's height first.
async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let (w, h) = c.get_window_size().await.expect("window size");
    // The window's size includes what is not page (the difference of outer and inner height).
    let height = c
        .execute(
            "return Math.ceil(document.documentElement.scrollHeight \
             + window.outerHeight - window.innerHeight)",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(h);
    c.set_window_size(w as u32, height.clamp(400, 12_000) as u32)
        .await
        .expect("resize");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = c.screenshot().await.expect("screenshot");
    c.set_window_size(w as u32, h as u32)
        .await
        .expect("resize back");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
    path
}

/// Logs in on the pages with a read token (the form posts it; the server keeps it in an
/// HttpOnly cookie), works without JavaScript.
async fn log_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/login")).await.expect("login page");
    c.find(Locator::Css("input#token"))
        .await
        .expect("token field")
        .send_keys(token)
        .await
        .expect("type");
    c.find(Locator::Css("form.login button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");
    eventually("logged in", Duration::from_secs(10), || async {
        !css(c, "p.reader-tier").await.is_empty()
    })
    .await;
}

async fn css(c: &Client, selector: &str) -> Vec<fantoccini::elements::Element> {
    c.find_all(Locator::Css(selector)).await.expect("find_all")
}

async fn text(c: &Client, selector: &str) -> String {
    c.find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn attr(c: &Client, selector: &str, name: &str) -> String {
    c.find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .attr(name)
        .await
        .expect("attr")
        .unwrap_or_default()
}

/// Polls until `f` holds (a page updating itself, a redirect finishing).
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn json_trace(site: &Site, item: &str) -> Value {
    site.get(&format!("/api/v1/items/{item}/trace"))
        .await
        .json()
        .await
        .expect("json")
}

/// Waits until the trace of `item` holds `n` events (the index follows the log within ms).
async fn trace_with(site: &Site, item: &str, n: usize) -> Value {
    let mut trace = Value::Null;
    for _ in 0..100 {
        trace = json_trace(site, item).await;
        if trace["events"].as_array().map(Vec::len) == Some(n) {
            return trace;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the trace of {item} did not reach {n} events: {trace}");
}

fn verdict_words(v: &Value) -> &'static str {
    match v.as_str() {
        Some("pass") => "PASS",
        Some("warnings") => "PASS WITH WARNINGS",
        _ => "FAIL",
    }
}

/// The consignment that fails: sealed, then 71.5 °C and 14 g at sea, the seal broken before
/// any inspection, arrived.
async fn bad_journey(site: &mut Site) {
    let no = With::default();
    let t = site.at(40);
    let events = vec![
        site.station.sign(Kind::Commissioned, &[BAD_SSCC], t, no),
        site.station.sign(
            Kind::Sealed,
            &[BAD_SSCC],
            t + HOUR,
            With {
                readings: &[(Quantity::SealClosed, 1)],
                ..no
            },
        ),
        site.tracker.sign(
            Kind::Departed,
            &[BAD_SSCC],
            t + 2 * HOUR,
            With {
                fix: Some((519_000_000, 44_000_000)),
                readings: &[(Quantity::Temperature, 22_000)],
                ..no
            },
        ),
        site.tracker.sign(
            Kind::Excursion,
            &[BAD_SSCC],
            t + 8 * HOUR,
            With {
                fix: Some((526_000_000, 36_000_000)),
                readings: &[(Quantity::Temperature, 71_500), (Quantity::Shock, 14_000)],
                ..no
            },
        ),
        site.tracker.sign(
            Kind::SealBroken,
            &[BAD_SSCC],
            t + 12 * HOUR,
            With {
                fix: Some((532_000_000, 29_000_000)),
                readings: &[(Quantity::SealClosed, 0), (Quantity::Temperature, 30_000)],
                ..no
            },
        ),
        site.tracker.sign(
            Kind::Arrived,
            &[BAD_SSCC],
            t + 20 * HOUR,
            With {
                fix: Some((539_000_000, 20_000_000)),
                place: Some(PORT),
                ..no
            },
        ),
    ];
    for e in events {
        site.submit(e).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_finds_an_item_and_reads_its_journey_in_chromium() {
    let Some((chromium, chromedriver)) =
        external("chromium and chromedriver (Debian)", browser_tools())
    else {
        return;
    };
    let mut site = Site::start().await;
    site.journey().await;
    bad_journey(&mut site).await;
    let cell = trace_with(&site, CELL, 14).await;
    trace_with(&site, SSCC, 14).await;
    let base = site.server.http.clone();

    let driver = Driver::start(&chromedriver);
    let c = driver.session(&chromium, true).await;

    // Anonymous, a cell's page shows its public facts only: who made it, where and when.
    c.goto(&format!("{base}/items/{CELL}"))
        .await
        .expect("public page");
    assert!(
        css(&c, "ol.timeline").await.is_empty(),
        "no journey in public"
    );
    let facts = text(&c, "ul.public-facts").await;
    assert!(facts.contains("Commissioned by Acme Cells"), "{facts}");
    assert!(
        !css(&c, "ul.public-facts a[href*='/api/v1/proofs/inclusion']")
            .await
            .is_empty()
    );
    assert!(
        text(&c, "header.top a.reader")
            .await
            .contains("Public view")
    );
    screenshot(&c, "00-public-cell").await;
    // An authority logs in once (the admin token reads as one); the cookie does the rest.
    log_in(&c, &base, &site.server.token()).await;
    assert!(text(&c, "header.top a.reader").await.contains("authority"));

    // The home page: a search box and what the log saw lately.
    c.goto(&format!("{base}/")).await.expect("home");
    assert!(c.title().await.expect("title").contains("Find an item"));
    assert!(!css(&c, "ul.recent li").await.is_empty(), "recently seen");
    screenshot(&c, "01-home").await;

    // Search by GTIN and serial, as printed on a label.
    let gtin = Epc::parse(CELL).expect("epc").gs1_key().to_string();
    let input = c.find(Locator::Css("input#q")).await.expect("search box");
    input
        .send_keys(&format!("{gtin} 1001"))
        .await
        .expect("type");
    c.find(Locator::Css("form.search-big button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    eventually("the trace page", Duration::from_secs(10), || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path() == format!("/items/{CELL}"))
    })
    .await;
    assert_eq!(text(&c, "h1 + p.epc-line code.epc").await, CELL);

    // The timeline: every event of the JSON trace, in its order, with its kind.
    let json_events = cell["events"].as_array().expect("events");
    let items = css(&c, "ol.timeline li.event").await;
    assert_eq!(items.len(), json_events.len());
    for (li, e) in items.iter().zip(json_events) {
        assert_eq!(
            li.attr("data-index").await.expect("attr"),
            Some(e["index"].to_string())
        );
        assert_eq!(
            li.attr("data-kind").await.expect("attr").as_deref(),
            e["event"]["kind"].as_str()
        );
    }
    let kinds: Vec<String> = json_events
        .iter()
        .filter_map(|e| e["event"]["kind"].as_str().map(str::to_string))
        .collect();
    for k in [
        "commissioned",
        "packed",
        "departed",
        "inspected",
        "held",
        "cleared",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    assert_eq!(kinds.first().map(String::as_str), Some("commissioned"));
    assert_eq!(kinds.last().map(String::as_str), Some("arrived"));
    // The container's events are marked as inherited, with the container named.
    let inherited = css(&c, "li.event .badge.inherited").await.len();
    assert_eq!(
        inherited,
        json_events
            .iter()
            .filter(|e| !e["inherited_from"].is_null())
            .count()
    );
    assert!(inherited >= 10, "{inherited}");
    let excursion = text(&c, "li.event[data-kind=excursion]").await;
    assert!(excursion.contains("45.5 °C"), "{excursion}");
    assert!(excursion.contains("3.0 g"), "{excursion}");
    assert!(excursion.contains("Blue Sea Lines"), "{excursion}");

    // Custody: the verdict in words, the findings, who held it.
    let verdict = text(&c, "section.verdict h2").await;
    assert!(
        verdict.contains(verdict_words(&cell["findings"]["verdict"])),
        "{verdict}"
    );
    // Each finding once: warnings and failures in the summary at the top, notes under
    // custody.
    let findings = cell["findings"]["findings"].as_array().expect("findings");
    let notes = findings.iter().filter(|f| f["severity"] == "info").count();
    assert_eq!(css(&c, "#custody ul.findings li").await.len(), notes);
    assert_eq!(
        css(&c, "section.verdict ul.findings > li").await.len(),
        findings.len() - notes
    );
    let holders = text(&c, "table.holders").await;
    for h in ["Acme Cells", "Blue Sea Lines", "Euro Warehouse"] {
        assert!(holders.contains(h), "{holders}");
    }

    // The temperature chart: two readings, both limits drawn.
    assert_eq!(
        css(&c, "svg#chart-temperature circle.sample").await.len(),
        2
    );
    assert_eq!(css(&c, "svg#chart-temperature line.limit").await.len(), 2);
    assert_eq!(css(&c, "svg#chart-shock line.limit").await.len(), 1);
    // The route: one polyline through the five GNSS fixes.
    let points = attr(&c, "svg.route polyline.path", "points").await;
    assert_eq!(points.split_whitespace().count(), 5, "{points}");
    assert_eq!(css(&c, "svg.route circle.fix").await.len(), 5);
    let labels = text(&c, "svg.route").await;
    for l in ["Departed", "Arrived", "Customs"] {
        assert!(labels.contains(l), "{labels}");
    }
    assert!(!css(&c, "svg.qrcode path").await.is_empty(), "QR code");
    screenshot(&c, "02-trace-cell").await;

    // The GS1 Digital Link on the page opens the same page.
    let link = attr(&c, "a.dl", "href").await;
    assert!(link.contains(&format!("/01/{gtin}/21/1001")), "{link}");
    c.goto(&link).await.expect("digital link");
    assert_eq!(text(&c, "h1 + p.epc-line code.epc").await, CELL);
    assert_eq!(
        css(&c, "ol.timeline li.event").await.len(),
        json_events.len()
    );

    // The consignment, found by its SSCC from the header's search box.
    let sscc_digits = Epc::parse(SSCC).expect("epc").gs1_key().to_string();
    let top = c.find(Locator::Css("input#q-top")).await.expect("search");
    top.send_keys(&format!("(00){sscc_digits}"))
        .await
        .expect("type");
    c.find(Locator::Css("form.search-small button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    eventually("the consignment page", Duration::from_secs(10), || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path() == format!("/items/{SSCC}"))
    })
    .await;
    assert_eq!(css(&c, "ol.timeline li.event").await.len(), 14);
    assert!(text(&c, "#containers").await.contains(CELL));
    screenshot(&c, "03-trace-consignment").await;

    // Live: one more event anchored while the page is open appears without a reload.
    eventually("the live script", Duration::from_secs(10), || async {
        !css(&c, "#live-status").await.is_empty()
    })
    .await;
    let marker = c
        .execute("window.__same_page = true; return true", vec![])
        .await
        .expect("mark the page");
    assert_eq!(marker, json!(true));
    let measured = site.warehouse.sign(
        Kind::Measured,
        &[SSCC],
        site.at(34),
        With {
            place: Some(support::journey::WAREHOUSE_DOCK),
            readings: &[(Quantity::Temperature, 21_500), (Quantity::Humidity, 480)],
            ..With::default()
        },
    );
    let index = site.submit(measured).await;
    eventually(
        "the new event on the open page",
        Duration::from_secs(30),
        || async { css(&c, "ol.timeline li.event").await.len() == 15 },
    )
    .await;
    let fresh = format!("li.event[data-index=\"{index}\"]");
    assert!(attr(&c, &fresh, "class").await.contains("new"));
    assert!(text(&c, &fresh).await.contains("21.5 °C"));
    assert!(text(&c, "#live-status").await.contains("1 new event"));
    assert_eq!(
        c.execute("return window.__same_page === true", vec![])
            .await
            .expect("script"),
        json!(true),
        "updated in place, not reloaded"
    );
    screenshot(&c, "04-live-update").await;

    // The customs view: the offline verdict, section by section, and the bundle.
    c.find(Locator::Css("section.verdict a.button"))
        .await
        .expect("customs link")
        .click()
        .await
        .expect("click");
    eventually("the customs view", Duration::from_secs(10), || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path().starts_with("/customs/"))
    })
    .await;
    let verdict = text(&c, "section.verdict h2").await;
    assert!(verdict.contains("PASS"), "{verdict}");
    let checks = css(&c, "table.checks tbody tr").await;
    // Seven checks and the independent witnesses (none here: "not witnessed").
    assert_eq!(checks.len(), 8);
    // Every check passed; the custody one with the excursion warning.
    assert!(css(&c, "table.checks tbody tr.bad").await.is_empty());
    assert_eq!(css(&c, "table.checks tbody tr.ok").await.len(), 7);
    assert!(
        text(&c, "table.checks tbody tr.warn")
            .await
            .contains("passed, with warnings")
    );
    assert!(
        text(&c, "pre.command")
            .await
            .starts_with("provenance verify --bundle ")
    );
    assert!(
        attr(&c, "a.button[download]", "href")
            .await
            .ends_with("/evidence")
    );
    screenshot(&c, "05-customs").await;

    // A consignment whose custody fails, opened by its Digital Link path.
    let bad = Epc::parse(BAD_SSCC).expect("epc").gs1_key().to_string();
    c.goto(&format!("{base}/00/{bad}")).await.expect("bad");
    let verdict = text(&c, "section.verdict h2").await;
    assert!(verdict.contains("FAIL"), "{verdict}");
    assert!(
        !css(&c, "svg#chart-temperature circle.sample.outside")
            .await
            .is_empty()
    );
    assert!(
        !css(&c, "svg#chart-shock circle.sample.outside")
            .await
            .is_empty()
    );
    assert!(!css(&c, "svg.route circle.fix.alert").await.is_empty());
    assert!(!css(&c, "ul.findings li.failure").await.is_empty());
    screenshot(&c, "06-trace-fail").await;

    // A phone.
    c.set_window_size(390, 844).await.expect("phone size");
    c.goto(&format!("{base}/items/{CELL}")).await.expect("cell");
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(overflow, json!(false), "no sideways scrolling on a phone");
    screenshot(&c, "07-trace-phone").await;
    // The failing consignment's customs view at 390 px and 1366 px: every check's result
    // (the FAIL and its problems) lies inside the viewport.
    let bad_customs = format!("{base}/customs/{BAD_SSCC}");
    for (w, h) in [(390u32, 844u32), (1366, 768)] {
        c.set_window_size(w, h).await.expect("size");
        c.goto(&bad_customs)
            .await
            .expect("customs of the failing consignment");
        let outside = c
            .execute(
                "const vw = document.documentElement.clientWidth; \
                 return Array.from(document.querySelectorAll('table.checks td.result, \
                 table.checks td.result li')).filter(e => { const r = e.getBoundingClientRect(); \
                 return r.left < -1 || r.right > vw + 1; }).length",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(outside, json!(0), "a result runs off the screen at {w} px");
        assert!(
            !css(&c, "table.checks tr.bad").await.is_empty(),
            "the failing check is shown at {w} px"
        );
        screenshot(&c, &format!("08-customs-fail-{w}")).await;
        // The item page of the same consignment: its status and every finding lie inside
        // the viewport too.
        c.goto(&format!("{base}/items/{BAD_SSCC}"))
            .await
            .expect("page of the failing consignment");
        let outside = c
            .execute(
                "const vw = document.documentElement.clientWidth; \
                 return Array.from(document.querySelectorAll('section.verdict p.status, \
                 section.verdict ul.findings li, section.verdict ul.findings .msg')).filter(e => \
                 { const r = e.getBoundingClientRect(); return r.left < -1 || r.right > vw + 1; \
                 }).length",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(outside, json!(0), "a finding runs off the screen at {w} px");
        assert!(
            !css(&c, "section.verdict ul.findings li.failure")
                .await
                .is_empty(),
            "the failure is shown at {w} px"
        );
        screenshot(&c, &format!("08-item-fail-{w}")).await;
    }
    c.set_window_size(1280, 900).await.expect("size");

    // A search that names nothing says which forms are accepted.
    c.goto(&format!("{base}/search?q=pallet+42"))
        .await
        .expect("search");
    assert!(text(&c, "p.message").await.contains("not an item ID"));
    assert_eq!(css(&c, "ul.forms li").await.len(), 5);
    screenshot(&c, "08-search-help").await;
    c.close().await.expect("close");

    // Without JavaScript the page holds everything: timeline, verdict, chart, route. (The
    // cell inherited the consignment's new event too.)
    let cell = json_trace(&site, CELL).await;
    let json_events = cell["events"].as_array().expect("events");
    assert_eq!(json_events.len(), 15);
    let plain = driver.session(&chromium, false).await;
    log_in(&plain, &base, &site.server.token()).await;
    plain
        .goto(&format!("{base}/items/{CELL}"))
        .await
        .expect("no-js page");
    assert_eq!(
        css(&plain, "ol.timeline li.event").await.len(),
        json_events.len()
    );
    assert!(
        css(&plain, "#live-status").await.is_empty(),
        "no script ran"
    );
    assert!(
        text(&plain, "section.verdict h2")
            .await
            .contains(verdict_words(&cell["findings"]["verdict"]))
    );
    assert_eq!(
        css(&plain, "svg#chart-temperature circle.sample")
            .await
            .len(),
        3
    );
    assert_eq!(css(&plain, "svg.route circle.fix").await.len(), 5);
    plain.close().await.expect("close");

    // And the HTML as served, with no browser at all.
    let html = site
        .get(&format!("/items/{CELL}"))
        .await
        .text()
        .await
        .expect("html");
    assert_eq!(
        html.matches("<li class=\"event ").count(),
        json_events.len()
    );
    assert!(html.contains("<polyline class=\"path\""));
    drop(driver);
    assert!(site.server.stop(), "serve stops cleanly");
}

/// The trace page of an item the simulator made: the real firmware's events from a plant, a
/// road, a sea leg (sent from flash after it), customs and a warehouse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_container_and_cell_in_chromium() {
    let Some((chromium, chromedriver)) =
        external("chromium and chromedriver (Debian)", browser_tools())
    else {
        return;
    };
    let mut server = support::Server::start(&[]);
    let (http, mqtt, dir) = (
        server.http.clone(),
        server.mqtt_port,
        server.dir.path().to_path_buf(),
    );
    let sim = tokio::task::spawn_blocking(move || {
        support::provenance()
            .args([
                "simulate",
                "--boards",
                "3",
                "--items",
                "8",
                "--speedup",
                "20000",
            ])
            .args([
                "--sea-days",
                "1",
                "--run",
                "432",
                "--no-faults",
                "--drain",
                "60",
            ])
            .args(["--server", &http, "--data"])
            .arg(&dir)
            .args(["--mqtt-url", &format!("mqtt://127.0.0.1:{mqtt}")])
            .output()
            .expect("simulate")
    })
    .await
    .expect("join");
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stdout)
    );
    let container = "urn:epc:id:sscc:4012345.9432000000";
    let cell = "urn:epc:id:sgtin:4012345.012345.43210000000";
    let base = server.http.clone();
    let trace: Value = server
        .http()
        .get(format!("{base}/api/v1/items/{container}/trace"))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    let events = trace["events"].as_array().expect("events").len();
    assert!(events > 30, "a whole journey: {events}");

    let driver = Driver::start(&chromedriver);
    let c = driver.session(&chromium, true).await;
    log_in(&c, &base, &server.token()).await;
    c.goto(&format!("{base}/items/{container}"))
        .await
        .expect("container page");
    assert_eq!(css(&c, "ol.timeline li.event").await.len(), events);
    let fixes = css(&c, "svg.route circle.fix").await.len();
    assert!(fixes > 20, "the route from the GNSS fixes: {fixes}");
    assert!(
        css(&c, "svg#chart-temperature circle.sample").await.len() > 20,
        "temperatures over the journey"
    );
    // Grouped: the legs with their duration and distance, the position reports folded, and
    // the whole page within a desktop height budget.
    let legs = css(&c, "li.leg .leg-head").await;
    assert!(legs.len() >= 2, "legs: {}", legs.len());
    let first_leg = legs[0].text().await.expect("leg text");
    assert!(first_leg.contains(" km along "), "{first_leg}");
    assert!(first_leg.contains('→'), "{first_leg}");
    assert!(
        text(&c, "li.fold summary")
            .await
            .contains("position report"),
        "position reports folded"
    );
    c.set_window_size(1366, 768).await.expect("size");
    let height = c
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .expect("script")
        .as_f64()
        .unwrap_or(f64::MAX);
    assert!(
        height < 6000.0,
        "the container page is {height} px tall at 1366 px"
    );
    // One status, the verdict beside it, and what is inside.
    let status = text(&c, "section.verdict p.status").await;
    assert!(!status.is_empty());
    assert!(
        text(&c, "section.verdict h2")
            .await
            .contains(verdict_words(&trace["findings"]["verdict"]))
    );
    assert!(
        text(&c, "section.verdict dl.summary")
            .await
            .contains("inside now"),
        "the container says what it holds"
    );
    assert!(!css(&c, "#contents ul.contents li").await.is_empty());
    screenshot(&c, "09-simulated-container").await;
    c.set_window_size(390, 844).await.expect("size");
    screenshot(&c, "09-simulated-container-phone").await;
    c.set_window_size(1280, 900).await.expect("size");

    // Every event one click away: ?all=1 opens every fold.
    c.goto(&format!("{base}/items/{container}?all=1"))
        .await
        .expect("container page, all events");
    let timeline = text(&c, "ol.timeline").await;
    for kind in [
        "Sealed",
        "Departed",
        "Position report",
        "Arrived",
        "Inspected",
        "Cleared",
    ] {
        assert!(timeline.contains(kind), "{kind} not on the timeline");
    }
    c.goto(&format!("{base}/items/{cell}?all=1"))
        .await
        .expect("cell page");
    assert!(
        text(&c, "ol.timeline").await.contains("Measured"),
        "the cell's own measurement at the plant"
    );
    screenshot(&c, "10-simulated-cell").await;
    c.close().await.expect("close");
    drop(driver);
    assert!(server.stop(), "{}", server.log());
}

/// One simulated container and one of its cells, whose container overheated at the port, in
/// Chromium as each tier reads them (issue #14): anonymous visitors see the cell's public
/// passport and no journey; the carrier involved (a partner) and an authority see the journey
/// and the excursion in the passport, with the proof of its entry one click away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tier_reads_a_simulated_container_and_passport_in_chromium() {
    let Some((chromium, chromedriver)) =
        external("chromium and chromedriver (Debian)", browser_tools())
    else {
        return;
    };
    let mut server = support::Server::start(&[]);
    let (http, mqtt, dir) = (
        server.http.clone(),
        server.mqtt_port,
        server.dir.path().to_path_buf(),
    );
    let sim = tokio::task::spawn_blocking(move || {
        support::provenance()
            .args(["simulate", "--boards", "3", "--items", "4"])
            .args(["--speedup", "20000", "--sea-days", "1", "--run", "654"])
            .args([
                "--seed",
                "5",
                "--drain",
                "60",
                "--offline",
                "0",
                "--reboots",
                "0",
            ])
            .args([
                "--seal-breaks",
                "0",
                "--heat",
                "1",
                "--drops",
                "0",
                "--holds",
                "0",
            ])
            .args(["--server", &http, "--data"])
            .arg(&dir)
            .args(["--mqtt-url", &format!("mqtt://127.0.0.1:{mqtt}")])
            .output()
            .expect("simulate")
    })
    .await
    .expect("join");
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stdout)
    );
    let container = "urn:epc:id:sscc:4012345.9654000000";
    let cell = "urn:epc:id:sgtin:4012345.012345.65410000000";
    let link = Epc::parse(cell)
        .expect("epc")
        .digital_link_path()
        .to_string();
    let base = server.http.clone();
    let grant: Value = server
        .http()
        .post(format!("{base}/api/v1/access"))
        .json(&json!({ "org": "Blue Sea Lines urn:epc:id:pgln:4012345.00002", "tier": "partner" }))
        .send()
        .await
        .expect("grant")
        .json()
        .await
        .expect("json");
    let partner = grant["token"].as_str().expect("token").to_string();

    let driver = Driver::start(&chromedriver);
    for (tier, token) in [
        ("anonymous", None),
        ("partner", Some(partner.clone())),
        ("authority", Some(server.token())),
    ] {
        let c = driver.session(&chromium, true).await;
        if let Some(t) = &token {
            log_in(&c, &base, t).await;
            assert!(
                text(&c, "p.reader-tier").await.contains(tier),
                "{tier}: the header says the tier"
            );
        }
        // The container: its journey for those involved, nothing of it for the public.
        c.goto(&format!("{base}/items/{container}"))
            .await
            .expect("container page");
        let journey = css(&c, "ol.timeline li.event").await.len();
        if tier == "anonymous" {
            assert_eq!(journey, 0, "no journey for the public");
            let main = text(&c, "main").await;
            assert!(
                main.to_lowercase().contains("log in"),
                "says how to see more: {main}"
            );
        } else {
            assert!(journey > 10, "{tier}: the journey ({journey} events shown)");
        }
        screenshot(&c, &format!("11-container-{tier}")).await;

        // The cell's Digital Link (its QR code) opens its passport.
        c.goto(&format!("{base}{link}")).await.expect("passport");
        let kicker = text(&c, "main p.kicker").await;
        assert!(
            kicker.to_lowercase().contains("battery passport"),
            "{tier}: {kicker}"
        );
        assert!(text(&c, "#general").await.contains("Arnstadt Cell Works"));
        assert!(text(&c, "#characteristics").await.contains("NMC811"));
        assert!(
            !css(&c, "#general td.source a[href*='proofs/inclusion']")
                .await
                .is_empty(),
            "{tier}: each public field links its proof"
        );
        let negative = text(&c, "#negative").await;
        if tier == "anonymous" {
            assert!(negative.contains("legitimate interest"), "{negative}");
            assert!(!text(&c, "main").await.contains("41.0"), "no excursion");
            assert!(!css(&c, "#condition p.withheld").await.is_empty());
        } else {
            assert!(negative.contains("41.0 °C"), "{tier}: {negative}");
            assert!(text(&c, "#condition").await.contains("State of health"));
        }
        screenshot(&c, &format!("12-passport-{tier}")).await;
        if tier == "partner" {
            // The excursion's entry, proved: its inclusion proof is one click away.
            css(&c, "ul.negative li a")
                .await
                .first()
                .expect("the excursion's entry link")
                .clone()
                .click()
                .await
                .expect("click");
            eventually("the proof", Duration::from_secs(10), || async {
                c.source().await.is_ok_and(|s| s.contains("\"hashes\""))
            })
            .await;
        }
        c.close().await.expect("close");
    }
    drop(driver);
    assert!(server.stop(), "{}", server.log());
}
