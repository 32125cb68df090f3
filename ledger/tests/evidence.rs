//! Evidence bundles assembled by the ledger verify offline, on every backend.

mod backends;

use backends::{Signer, sgtin, sscc};
use provenance_custody::bundle::Purpose;
use provenance_custody::rules::{Limits, Verdict};
use provenance_custody::verify::{Step, verify_bundle};
use provenance_event::Kind;
use provenance_event::registry::Role;
use provenance_ledger::Ledger;

#[tokio::test]
async fn a_cell_bundle_carries_its_containers_and_verifies() {
    for b in backends::all("evidence").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut station = Signer::new("station-1", 1);
        let mut tracker = Signer::new("tracker-7", 2);
        ledger
            .register(
                &station.id,
                Role::Station,
                "Acme Cells",
                station.public_key(),
            )
            .await
            .expect("register");
        ledger
            .register(
                &tracker.id,
                Role::Tracker,
                "Blue Sea Lines urn:epc:id:pgln:4012345.00002",
                tracker.public_key(),
            )
            .await
            .expect("register");
        let (cell, pallet, container) = (sgtin(1), sscc(1), sscc(2));
        let t = 1_763_000_000_000;
        let events = vec![
            station.event(Kind::Commissioned, &[&cell], None, t),
            station.event(Kind::Commissioned, &[&pallet, &container], None, t),
            // The pallet is loaded before the cell is packed onto it: that packing is not in
            // the cell's trace, but the bundle needs it for the container's window.
            station.event(Kind::Packed, &[&pallet], Some(&container), t + 1000),
            station.event(Kind::Packed, &[&cell], Some(&pallet), t + 2000),
            station.event(Kind::Commissioned, &[&sgtin(2)], None, t + 2500),
            station.event(Kind::HandedOver, &[&container], None, t + 3000),
            tracker.event(Kind::Sealed, &[&container], None, t + 4000),
            tracker.event(Kind::Departed, &[&container], None, t + 5000),
        ];
        let appended = ledger.append(&events).await.expect("append");
        let loading = appended.first_index + 2;

        let bundle = ledger.evidence(&cell).await.expect("bundle");
        assert_eq!(bundle.subject, cell);
        let purpose = |i: u64| {
            bundle
                .entries
                .iter()
                .find(|e| e.index == i)
                .map(|e| e.purpose)
        };
        assert_eq!(purpose(loading), Some(Purpose::Aggregation), "{}", b.name);
        assert_eq!(purpose(0), Some(Purpose::Registry));
        assert_eq!(purpose(1), Some(Purpose::Registry));
        // The other cell's commissioning links the handover into the station's chain.
        assert_eq!(purpose(appended.first_index + 4), Some(Purpose::ChainLink));

        let report = verify_bundle(
            bundle.to_json().as_bytes(),
            ledger.verifier(),
            &Limits::default(),
        );
        assert!(
            report.problems().next().is_none(),
            "{}: {:#?}",
            b.name,
            report.sections
        );
        assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.custody);
        let kinds: Vec<&str> = report.trace.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "commissioned",
                "packed",
                "handed_over",
                "sealed",
                "departed"
            ],
            "{}",
            b.name
        );

        // A lost tracker event is an unexplained break in the bundle too.
        tracker.lose(1);
        ledger
            .append(&[tracker.event(Kind::Arrived, &[&container], None, t + 9000)])
            .await
            .expect("append");
        let bundle = ledger.evidence(&cell).await.expect("bundle");
        let report = verify_bundle(
            bundle.to_json().as_bytes(),
            ledger.verifier(),
            &Limits::default(),
        );
        assert_eq!(report.verdict, Verdict::Fail);
        let chain: Vec<_> = report
            .problems()
            .filter(|(s, _)| *s == Step::Chains)
            .collect();
        assert_eq!(chain.len(), 1, "{chain:#?}");
        assert_eq!(chain[0].1.seq, Some(4));
        ledger.close().await;
        b.cleanup().await;
    }
}
