//! The items of one GTIN, by EPC URI prefix (what a product page lists), on every backend:
//! the range stops exactly at the prefix, pages on with `after`, honours its limit, and counts
//! up to a cap.

mod backends;

use backends::Signer;
use provenance_event::Kind;
use provenance_ledger::Ledger;

#[tokio::test]
async fn items_of_a_gtin_are_listed_by_prefix() {
    for b in backends::all("items_prefix").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut station = Signer::new("station-1", 1);
        let product = "urn:epc:id:sgtin:4012345.012345.";
        let mine: Vec<String> = ["1", "10", "2", "A-7", "Z"]
            .iter()
            .map(|s| format!("{product}{s}"))
            .collect();
        // Neighbours on both sides of the range, and items whose URI differs from the prefix
        // only in punctuation a language collation would ignore.
        let others = [
            "urn:epc:id:sgtin:4012345.012344.1",
            "urn:epc:id:sgtin:4012345.012346.1",
            "urn:epc:id:sgtin:401234.5012345.1",
            "urn:epc:id:sgtin:40123450.12345.1",
            "urn:epc:id:sscc:4012345.0000000017",
        ];
        let all: Vec<&str> = mine
            .iter()
            .map(String::as_str)
            .chain(others.iter().copied())
            .collect();
        let t = 1_763_000_000_000;
        let events = vec![
            station.event(Kind::Commissioned, &all, None, t),
            // A second event naming some again: each item is listed once.
            station.event(Kind::Located, &[&mine[0], &mine[3]], None, t + 1000),
        ];
        let a = ledger.append(&events).await.expect("append");
        ledger
            .wait_indexed(a.checkpoint.checkpoint.size)
            .await
            .expect("indexed");

        let listed = ledger
            .items_with_prefix(product, None, 100)
            .await
            .expect("list");
        let mut want = mine.clone();
        want.sort();
        assert_eq!(listed, want, "{}", b.name);

        let first = ledger
            .items_with_prefix(product, None, 2)
            .await
            .expect("list");
        assert_eq!(first, want[..2], "{}", b.name);
        let rest = ledger
            .items_with_prefix(product, first.last().map(String::as_str), 100)
            .await
            .expect("list");
        assert_eq!(rest, want[2..], "{}", b.name);

        assert_eq!(
            ledger
                .count_items_with_prefix(product, 100)
                .await
                .expect("count"),
            5,
            "{}",
            b.name
        );
        assert_eq!(
            ledger
                .count_items_with_prefix(product, 3)
                .await
                .expect("count"),
            3,
            "the count stops at its cap ({})",
            b.name
        );
        assert!(
            ledger
                .items_with_prefix("urn:epc:id:sgtin:999999.", None, 10)
                .await
                .expect("list")
                .is_empty()
        );
        assert!(
            ledger
                .items_with_prefix("", None, 10)
                .await
                .expect("list")
                .is_empty(),
            "an empty prefix lists nothing rather than everything"
        );
        ledger.close().await;
        b.cleanup().await;
    }
}
