//! GetEvidence over a real TCP connection: the bundle verifies offline with the log key.

use std::sync::Arc;

use provenance_custody::rules::{Limits, Verdict};
use provenance_custody::verify::verify_bundle;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ledger::{Config, Ledger};
use provenance_proto::pb;
use provenance_proto::pb::ledger_client::LedgerClient;
use provenance_tlog::Verifier;
use tonic::Code;

/// A read as an authority: a grant made in the ledger, its token sent as metadata (this file
/// is about what the service answers; the tiers are tested in `read_tiers`).
const READ_TOKEN: &str = "an-authority-read-token-for-the-tests";

fn authed<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {READ_TOKEN}").parse().expect("ascii"),
    );
    req
}

async fn grant_authority(ledger: &provenance_ledger::Ledger) {
    ledger
        .grant_read(
            "Customs",
            "authority",
            None,
            &provenance_ingest::secrets::password_hash(READ_TOKEN),
            0,
        )
        .await
        .expect("grant");
}

#[tokio::test]
async fn get_evidence_returns_a_bundle_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(
        Ledger::open(&Config {
            database_url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        })
        .await
        .expect("open"),
    );
    let key = SigningKey::from_bytes(&[4; 32]);
    let id = DeviceId::new("station-1").expect("id");
    ledger
        .register(
            &id,
            Role::Station,
            "Cell plant",
            key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    let sscc = "urn:epc:id:sscc:4012345.0000000017";
    let items = [Epc::parse(sscc).expect("epc")];
    let mut prev = [0u8; 32];
    let mut events = vec![];
    for (seq, kind) in [
        (1, Kind::Commissioned),
        (2, Kind::Sealed),
        (3, Kind::Departed),
    ] {
        let d = Draft::new(seq, prev, 1_763_719_200_000 + seq as i64, kind, &items);
        let mut buf = vec![0u8; 1024];
        let n = sign_event(&key, &id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        prev = message_hash(&buf);
        events.push(buf);
    }
    ledger.append(&events).await.expect("append");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    grant_authority(&ledger).await;
    let server = tokio::spawn(provenance_proto::serve(
        ledger.clone(),
        None,
        provenance_access::Publish::default(),
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let mut client = LedgerClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let vkey = client
        .get_log_key(pb::GetLogKeyRequest {})
        .await
        .expect("log key")
        .into_inner()
        .vkey;
    let evidence = client
        .get_evidence(authed(pb::GetEvidenceRequest { item: sscc.into() }))
        .await
        .expect("evidence")
        .into_inner();
    assert_eq!(evidence.format, "provenance-evidence/v1");
    assert_eq!(evidence.tree_size, 4);
    let report = verify_bundle(
        &evidence.bundle,
        &Verifier::parse(&vkey).expect("vkey"),
        &Limits::default(),
    );
    assert!(report.problems().next().is_none(), "{:#?}", report.sections);
    assert_eq!(report.verdict, Verdict::Pass);
    assert_eq!(report.trace.len(), 3);

    let e = client
        .get_evidence(authed(pb::GetEvidenceRequest {
            item: "not an epc".into(),
        }))
        .await
        .expect_err("bad item");
    assert_eq!(e.code(), Code::InvalidArgument);
    let _ = stop.send(());
    let _ = server.await;
}
