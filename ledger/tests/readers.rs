//! Read grants and place names on every backend: a grant is found by its token's hash with
//! the organisation's shared prefixes, a revoked one is not, and names resolve by GLN.

mod backends;

use provenance_ledger::Ledger;

#[tokio::test]
async fn grants_are_found_by_token_hash_until_revoked() {
    for b in backends::all("readers").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let org = "Second Life Recycling urn:epc:id:pgln:4012345.00009";
        let a = ledger
            .grant_read(
                org,
                "partner",
                Some("urn:epc:id:sgtin:4012345.012345."),
                "sha256:aa",
                1,
            )
            .await
            .expect("grant");
        let b2 = ledger
            .grant_read(
                org,
                "partner",
                Some("urn:epc:id:sscc:4012345."),
                "sha256:bb",
                2,
            )
            .await
            .expect("grant");
        ledger
            .grant_read("Customs", "authority", None, "sha256:cc", 3)
            .await
            .expect("grant");
        let (g, shared) = ledger
            .reader_by_token("sha256:aa")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(
            (g.id, g.org.as_str(), g.tier.as_str()),
            (a, org, "partner"),
            "{}",
            b.name
        );
        assert_eq!(
            shared,
            [
                "urn:epc:id:sgtin:4012345.012345.",
                "urn:epc:id:sscc:4012345."
            ],
            "{}",
            b.name
        );
        assert!(
            ledger
                .reader_by_token("sha256:zz")
                .await
                .expect("lookup")
                .is_none()
        );
        // The same token hash twice is refused (the column is unique).
        assert!(
            ledger
                .grant_read(org, "partner", None, "sha256:aa", 4)
                .await
                .is_err()
        );
        assert!(ledger.revoke_read(b2, 5).await.expect("revoke"));
        assert!(!ledger.revoke_read(b2, 6).await.expect("revoke"), "once");
        let (_, shared) = ledger
            .reader_by_token("sha256:aa")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(shared, ["urn:epc:id:sgtin:4012345.012345."], "{}", b.name);
        assert_eq!(ledger.revoke_org_reads(org, 7).await.expect("revoke"), 1);
        assert!(
            ledger
                .reader_by_token("sha256:aa")
                .await
                .expect("lookup")
                .is_none()
        );
        let all = ledger.read_grants().await.expect("list");
        assert_eq!(all.len(), 3, "{}", b.name);
        assert_eq!(all.iter().filter(|g| g.revoked_ms.is_none()).count(), 1);
    }
}

#[tokio::test]
async fn place_names_resolve_by_gln() {
    for b in backends::all("places").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        ledger
            .set_place("urn:epc:id:pgln:4012345.00001", "Arnstadt Cell Works", 1)
            .await
            .expect("set");
        ledger
            .set_place("urn:epc:id:sgln:4012345.00001.7", "Arnstadt, dock 7", 1)
            .await
            .expect("set");
        // Setting again renames.
        ledger
            .set_place(
                "urn:epc:id:sgln:4012345.00001.0",
                "Arnstadt Cell Works GmbH",
                2,
            )
            .await
            .expect("set");
        let p = ledger.places().await.expect("places");
        assert_eq!(
            p.name_of("urn:epc:id:sgln:4012345.00001.0"),
            Some("Arnstadt Cell Works GmbH"),
            "{}",
            b.name
        );
        assert_eq!(
            p.name_of("urn:epc:id:sgln:4012345.00001.7"),
            Some("Arnstadt, dock 7")
        );
        assert!(
            ledger
                .set_place("urn:epc:id:sscc:4012345.0000000017", "x", 3)
                .await
                .is_err()
        );
        assert!(
            ledger
                .remove_place("urn:epc:id:sgln:4012345.00001.7")
                .await
                .expect("remove")
        );
        assert_eq!(
            ledger
                .places()
                .await
                .expect("places")
                .name_of("urn:epc:id:sgln:4012345.00001.7"),
            Some("Arnstadt Cell Works GmbH"),
            "falls back to the GLN's name"
        );
    }
}
