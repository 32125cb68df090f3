//! Kept rejections (SPEC §4) on both backends: whole, with their reason, and one row per
//! distinct (topic, reason, bytes) however often it arrives.

mod backends;

use provenance_ledger::Ledger;
use provenance_ledger::rejections::{Rejected, RejectionQuery};

fn rejected(topic: &str, reason: &str, data: &[u8], at: i64) -> Rejected {
    Rejected {
        received_ms: at,
        topic: Some(topic.to_string()),
        reason: reason.to_string(),
        detail: "test".to_string(),
        device: Some("mallory-1".to_string()),
        seq: None,
        data: data.to_vec(),
        times: 1,
        last_received_ms: at,
    }
}

#[tokio::test]
async fn the_same_message_again_is_counted_not_stored_twice() {
    for b in backends::all("rejections").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let topic = "prov/v1/dev/mallory-1/ev";
        // Within one batch (PostgreSQL refuses to touch a row twice in one statement) …
        ledger
            .record_rejections(&[
                rejected(topic, "malformed", b"junk", 1),
                rejected(topic, "malformed", b"junk", 2),
                rejected(topic, "malformed", b"other junk", 3),
            ])
            .await
            .expect(b.name);
        // … and across batches.
        ledger
            .record_rejections(&[rejected(topic, "malformed", b"junk", 9)])
            .await
            .expect(b.name);
        // Another topic or another reason is another rejection.
        ledger
            .record_rejections(&[
                rejected("prov/v1/dev/other/ev", "malformed", b"junk", 10),
                rejected(topic, "too_large", b"junk", 11),
            ])
            .await
            .expect(b.name);
        let all = ledger
            .rejections(&RejectionQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect(b.name);
        assert_eq!(all.len(), 4, "{}: {all:?}", b.name);
        let junk = all
            .iter()
            .map(|(_, r)| r)
            .find(|r| {
                r.data == b"junk" && r.reason == "malformed" && r.topic.as_deref() == Some(topic)
            })
            .expect("kept");
        assert_eq!(
            (junk.times, junk.received_ms, junk.last_received_ms),
            (3, 1, 9),
            "{}",
            b.name
        );
        assert_eq!(
            ledger.rejection_counts().await.expect(b.name),
            vec![("malformed".to_string(), 3), ("too_large".to_string(), 1)]
        );
        ledger.close().await;
        b.cleanup().await;
    }
}

/// Junk must not fill the disk forever: rejections older than the retention time go, and
/// what they were stays counted per reason.
#[tokio::test]
async fn old_rejections_expire_and_their_count_stays() {
    for b in backends::all("expire").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let topic = "prov/v1/dev/mallory-1/ev";
        ledger
            .record_rejections(&[
                rejected(topic, "malformed", b"a", 100),
                rejected(topic, "malformed", b"a", 150),
                rejected(topic, "malformed", b"b", 200),
                rejected(topic, "bad_signature", b"c", 300),
                rejected(topic, "malformed", b"d", 5_000),
            ])
            .await
            .expect(b.name);
        assert_eq!(ledger.expire_rejections(1_000).await.expect(b.name), 3);
        // Again: nothing more is old enough, and counting does not double.
        assert_eq!(ledger.expire_rejections(1_000).await.expect(b.name), 0);
        let left = ledger
            .rejections(&RejectionQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect(b.name);
        assert_eq!(left.len(), 1, "{}", b.name);
        assert_eq!(left[0].1.data, b"d");
        assert_eq!(
            ledger.expired_rejection_counts().await.expect(b.name),
            vec![
                ("bad_signature".to_string(), 1, 1),
                ("malformed".to_string(), 2, 3)
            ],
            "{}",
            b.name
        );
        ledger.close().await;
        b.cleanup().await;
    }
}
