//! The web marks the events that storage tampering affects (issue #7). A real `provenance
//! serve` anchors a consignment journey and enough further events to fill a Merkle tile; it is
//! stopped and started again on the untouched log (its audit finds nothing, no page shows a
//! mark); then it is stopped, its SQLite database is tampered with the ways
//! tests/verify_data.rs uses (an entry edited, one deleted, two swapped, one forged and
//! inserted with its index rows, a stored leaf hash edited, a checkpoint edited), and started
//! again: its storage audit must mark exactly the affected events on the trace page, in the
//! JSON trace and in `GET /api/v1/audit`, put a banner on every page, and agree with
//! `provenance verify --data`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use provenance_event::Kind;
use serde_json::Value;
use support::journey::{CELL, Signer, Site, With};
use support::{provenance, sgtin, tamper};

/// Filler events after the journey: with them the tree is over 256 entries, so the journey's
/// entries lie in a complete tile, which the server does not read when it starts (an edited
/// hash in the newest, partial tile stops the server from starting at all).
const FILLERS: u64 = 260;

/// Waits until the server's storage audit has run, and returns `GET /api/v1/audit`.
async fn audited(http: &reqwest::Client, base: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = http
            .get(format!("{base}/api/v1/audit"))
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        if v["runs"].as_u64().unwrap_or(0) >= 1 && v["running"] == false {
            return v;
        }
        assert!(Instant::now() < deadline, "no audit finished in time: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn page(http: &reqwest::Client, url: &str) -> String {
    let r = http.get(url).send().await.expect("page");
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.expect("html")
}

/// The marked events of a trace page: log index → the words of its `data-tampered`.
fn marks(html: &str) -> BTreeMap<u64, BTreeSet<String>> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[start..].split('"').next()?.to_string())
    };
    html.split("<li ")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            let index = attr(tag, "data-index")?.parse().ok()?;
            let words = attr(tag, "data-tampered")?;
            Some((index, words.split(' ').map(str::to_string).collect()))
        })
        .collect()
}

/// The affected entries `GET /api/v1/audit` lists: index → finding kinds.
fn affected(audit: &Value) -> BTreeMap<u64, BTreeSet<String>> {
    audit["last"]["affected_entries"]
        .as_array()
        .expect("affected entries")
        .iter()
        .map(|e| {
            let kinds = e["kinds"]
                .as_array()
                .expect("kinds")
                .iter()
                .map(|k| k.as_str().expect("kind").to_string())
                .collect();
            (e["index"].as_u64().expect("index"), kinds)
        })
        .collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_marks_exactly_the_events_storage_tampering_affects() {
    let begun = Instant::now();
    let mut site = Site::start().await;
    let ix = site.journey().await;
    for n in 0..FILLERS {
        let e = site.station.sign(
            Kind::Commissioned,
            &[&sgtin(5000 + n)],
            site.at(40) + n as i64,
            With::default(),
        );
        site.submit(e).await;
    }
    let t0 = site.t0;
    let Site {
        server,
        http,
        station,
        ..
    } = site;
    let size = ix[14] + 1 + FILLERS;
    let cell_page = |base: &str| format!("{base}/items/{CELL}");

    // The untouched log, audited at start: nothing to report, no banner, no mark.
    let mut server = server;
    assert!(server.stop(), "stops:\n{}", server.log());
    let mut server = server.restart(&[]);
    let audit = audited(&http, &server.http).await;
    assert_eq!(audit["state"], "ok", "{audit}");
    assert_eq!(audit["last"]["tree_size"], size, "{audit}");
    assert_eq!(audit["last"]["entries_checked"], size, "{audit}");
    assert_eq!(audit["last"]["findings_total"], 0, "{audit}");
    let html = page(&http, &cell_page(&server.http)).await;
    assert!(html.contains(&format!("id=\"ev-{}\"", ix[10])), "{html}");
    assert!(marks(&html).is_empty(), "{:?}", marks(&html));
    assert!(!html.contains("tamper-banner"));
    assert!(!html.contains("tampered"));
    assert!(server.stop(), "stops:\n{}", server.log());

    // Tampering, the server stopped. The journey's indexes: 5 departed, 6 located, 7 excursion,
    // 10 inspected, 11 held.
    let dir = server.dir.path().to_path_buf();
    let (departed, located, excursion, inspected, held) = (ix[5], ix[6], ix[7], ix[10], ix[11]);
    tamper::edit_entry(
        &dir,
        inspected,
        b"MRN-26NL0000000000042",
        b"MRN-26NL0000000000043",
    )
    .await;
    tamper::delete_entry(&dir, held).await;
    tamper::swap_entries(&dir, located, excursion).await;
    tamper::zero_tile_hash(&dir, 0, departed / 256, (departed % 256) as usize).await;
    // The second registration's checkpoint: not tied to any event.
    tamper::edit_checkpoint(&dir, 2).await;
    // A forged event about the cell, in station-1's name (not its key), stored past the end
    // and indexed so that the cell's page shows it.
    let mut forger = Signer::new("station-1", 99);
    forger.seq = station.seq;
    forger.prev = station.prev;
    let forged = forger.sign(
        Kind::Decommissioned,
        &[CELL],
        t0 + 60 * support::journey::HOUR,
        With::default(),
    );
    tamper::insert_entry(&dir, size, &forged).await;
    tamper::index_event(&dir, size, &forged, &[CELL]).await;

    let server = server.restart(&[]);
    let base = server.http.clone();
    let audit = audited(&http, &base).await;
    assert_eq!(audit["state"], "tampered", "{audit}");
    let expected = BTreeMap::from([
        (departed, set(&["hash_changed"])),
        (located, set(&["entry_moved"])),
        (excursion, set(&["entry_moved"])),
        (inspected, set(&["entry_changed", "bad_event_signature"])),
        (held, set(&["entry_missing"])),
        (size, set(&["entries_uncovered", "bad_event_signature"])),
    ]);
    assert_eq!(affected(&audit), expected, "{audit:#}");
    assert_eq!(audit["last"]["affected_entries_total"], 6);
    let unplaced: BTreeSet<&str> = audit["last"]["not_tied_to_entries"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| f["kind"].as_str().expect("kind"))
        .collect();
    assert!(unplaced.contains("bad_checkpoint"), "{audit:#}");
    assert!(
        unplaced
            .iter()
            .all(|k| ["bad_checkpoint", "root_mismatch"].contains(k)),
        "only the checkpoint and the roots the edits broke: {audit:#}"
    );
    let reasons = audit["last"]["affected_entries"].to_string();
    assert!(
        reasons.contains(&format!("anchored as log #{excursion}")),
        "{reasons}"
    );

    // The cell's page: exactly those events marked, each with its reason; the deleted one a gap.
    let html = page(&http, &cell_page(&base)).await;
    let expected_marks = BTreeMap::from([
        (departed, set(&["hash"])),
        (located, set(&["moved"])),
        (excursion, set(&["moved"])),
        (inspected, set(&["edited", "signature"])),
        (held, set(&["deleted"])),
        (size, set(&["inserted", "signature"])),
    ]);
    assert_eq!(marks(&html), expected_marks);
    assert!(html.contains("Missing event"), "the deleted event is a gap");
    assert!(html.contains(&format!(
        "was anchored as log #{excursion}, so what is shown here is not what the log signed"
    )));
    assert!(html.contains("Edited in storage after it was anchored"));
    assert!(html.contains("Inserted into storage: no signed checkpoint covers it"));
    assert!(html.contains("Its hash in the stored Merkle tree was edited"));
    assert!(html.contains("Its signature does not verify"));
    // The banner: what was found, what no single event carries, what to run.
    for words in [
        "The stored log was tampered with",
        "1 entry edited after anchoring",
        "2 entries moved to another position",
        "1 entry deleted",
        "1 entry inserted that no checkpoint covers",
        "Not tied to single events",
        "1 stored checkpoint does not verify with the log's key",
        "2 signatures do not verify",
        "provenance verify --data DIR",
    ] {
        assert!(html.contains(words), "banner lacks {words:?}");
    }
    assert!(html.contains("events of this history are affected by tampering"));

    // Every page has the banner; a page of an untouched item has no mark.
    let home = page(&http, &format!("{base}/")).await;
    assert!(home.contains("tamper-banner"), "home page banner");
    let other = page(&http, &format!("{base}/items/{}", sgtin(5007))).await;
    assert!(other.contains("tamper-banner"));
    assert!(marks(&other).is_empty(), "{:?}", marks(&other));

    // The JSON trace says the same, and lists the deleted entry.
    let trace: Value = http
        .get(format!("{base}/api/v1/items/{CELL}/trace"))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    let flagged: BTreeSet<u64> = trace["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| !e["tampering"].as_array().expect("list").is_empty())
        .map(|e| e["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(
        flagged,
        BTreeSet::from([departed, located, excursion, inspected, size])
    );
    assert_eq!(trace["missing"][0]["index"], held, "{trace:#}");
    assert_eq!(trace["missing"][0]["tampering"][0]["kind"], "entry_missing");

    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(server.token())
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let findings = metrics
        .lines()
        .find(|l| l.starts_with("provenance_audit_findings "))
        .unwrap_or_else(|| panic!("no findings gauge:\n{metrics}"));
    let n: f64 = findings
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("value");
    assert_eq!(
        n as u64,
        audit["last"]["findings_total"].as_u64().expect("n")
    );
    assert!(
        metrics.contains("provenance_audit_affected_entries 6"),
        "{metrics}"
    );

    // The command line names the same entries.
    let mut server = server;
    assert!(server.stop(), "stops:\n{}", server.log());
    let out = provenance()
        .args(["verify", "--data"])
        .arg(&dir)
        .output()
        .expect("verify runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    for words in [
        format!("entry {inspected}: changed since it was anchored (its hash"),
        format!("entry {held}: missing (deleted)"),
        format!(
            "entry {located}: changed since it was anchored: it holds the entry anchored at {excursion} (moved)"
        ),
        format!(
            "entry {excursion}: changed since it was anchored: it holds the entry anchored at {located} (moved)"
        ),
        format!(
            "stored hash {} of tile 0/{}",
            departed % 256,
            departed / 256
        ),
        format!("entries {size}..={size}: stored after the newest checkpoint"),
        "checkpoint 2:".to_string(),
    ] {
        assert!(text.contains(&words), "verify lacks {words:?}:\n{text}");
    }
    eprintln!("took {:?}", begun.elapsed());
}
