//! The ingest loop over a real ledger: anchoring, duplicates acknowledged again without a second
//! entry, equivocation refused and flagged, every rejection kept, acks only over settled seqs.

use std::sync::{Arc, Mutex};

use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ingest::service::{Ack, Acknowledger, Config, Ingest, Outcome};
use provenance_ingest::validate::{Message, Reason};
use provenance_ledger::rejections::RejectionQuery;
use provenance_ledger::{Config as LedgerConfig, Ledger};

#[derive(Default)]
struct Collect {
    acks: Mutex<Vec<(String, Ack)>>,
    rejs: Mutex<Vec<(String, Option<u64>, Reason)>>,
}

impl Acknowledger for Collect {
    fn ack(&self, device: &str, ack: Ack) {
        self.acks
            .lock()
            .expect("lock")
            .push((device.to_string(), ack));
    }
    fn reject(&self, device: &str, seq: Option<u64>, reason: Reason) {
        self.rejs
            .lock()
            .expect("lock")
            .push((device.to_string(), seq, reason));
    }
}

struct Dev {
    id: DeviceId,
    key: SigningKey,
    prev: [u8; 32],
}

impl Dev {
    fn new(id: &str, seed: u8) -> Self {
        Self {
            id: DeviceId::new(id).expect("id"),
            key: SigningKey::from_bytes(&[seed; 32]),
            prev: [0; 32],
        }
    }
    fn event(&mut self, seq: u64, serial: &str) -> Vec<u8> {
        let items =
            [Epc::parse(&format!("urn:epc:id:sgtin:4012345.012345.{serial}")).expect("epc")];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let d = Draft::new(
            seq,
            if seq == 1 { [0; 32] } else { self.prev },
            now,
            Kind::Measured,
            &items,
        );
        let mut d = d;
        d.readings
            .set(provenance_event::Quantity::Temperature, 20_000)
            .expect("range");
        let mut buf = vec![0u8; 2048];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = message_hash(&buf);
        buf
    }
    fn mqtt(&self, bytes: Vec<u8>) -> Message {
        Message {
            topic: Some(format!("prov/v1/dev/{}/ev", self.id)),
            bytes,
            received_ms: 0,
        }
    }
}

/// A ledger on SQLite in `dir`.
async fn open_ledger(dir: &tempfile::TempDir) -> Arc<Ledger> {
    Arc::new(
        Ledger::open(&LedgerConfig {
            database_url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        })
        .await
        .expect("open"),
    )
}

async fn submit_all(ingest: &Ingest, messages: Vec<Message>) -> Vec<Outcome> {
    let futures: Vec<_> = messages
        .into_iter()
        .map(|m| {
            let i = ingest.clone();
            tokio::spawn(async move { i.submit(m).await })
        })
        .collect();
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn anchors_dedupes_refuses_equivocation_and_keeps_rejections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open_ledger(&dir).await;
    let mut a = Dev::new("tracker-1", 1);
    ledger
        .register(
            &a.id,
            Role::Tracker,
            "Maersk",
            a.key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    let collect = Arc::new(Collect::default());
    let (ingest, _task) = Ingest::start(ledger.clone(), collect.clone(), Config::default())
        .await
        .expect("start");

    let e1 = a.event(1, "1");
    let e2 = a.event(2, "2");
    let e3 = a.event(3, "3");
    let out = submit_all(
        &ingest,
        vec![a.mqtt(e1.clone()), a.mqtt(e2.clone()), a.mqtt(e3.clone())],
    )
    .await;
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Anchored { .. })),
        "{out:?}"
    );
    let size = ledger.latest_checkpoint().await.checkpoint.size;
    assert_eq!(size, 4, "registration + 3 events");

    // The same bytes again: acknowledged, not anchored twice.
    let out = submit_all(&ingest, vec![a.mqtt(e2.clone())]).await;
    assert!(matches!(out[0], Outcome::Duplicate { index: 2 }), "{out:?}");
    assert_eq!(ledger.latest_checkpoint().await.checkpoint.size, 4);

    // Different bytes for seq 2: equivocation, the device becomes suspect.
    let mut b = Dev::new("tracker-1", 1);
    let _ = b.event(1, "1");
    let forged_seq2 = b.event(2, "999");
    let out = submit_all(&ingest, vec![a.mqtt(forged_seq2)]).await;
    assert!(
        matches!(&out[0], Outcome::Rejected(r) if r.reason == Reason::Equivocation),
        "{out:?}"
    );
    assert!(
        ledger
            .device("tracker-1")
            .await
            .expect("q")
            .expect("known")
            .suspect
    );

    // A stranger and garbage: rejected and kept whole.
    let mut stranger = Dev::new("ghost", 9);
    let ghost = stranger.event(1, "5");
    let out = submit_all(
        &ingest,
        vec![stranger.mqtt(ghost.clone()), a.mqtt(vec![0xff; 10])],
    )
    .await;
    assert!(matches!(&out[0], Outcome::Rejected(r) if r.reason == Reason::UnknownDevice));
    assert!(matches!(&out[1], Outcome::Rejected(r) if r.reason == Reason::Malformed));
    let kept = ledger
        .rejections(&RejectionQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    let reasons: Vec<&str> = kept.iter().map(|(_, r)| r.reason.as_str()).collect();
    assert_eq!(reasons, vec!["malformed", "unknown_device", "equivocation"]);
    assert_eq!(kept[1].1.data, ghost, "kept byte for byte");
    assert_eq!(kept[1].1.topic.as_deref(), Some("prov/v1/dev/ghost/ev"));

    // Acks: tracker-1 is settled through seq 3, with the tree size of a durable checkpoint.
    let acks = collect.acks.lock().expect("lock").clone();
    let last = acks
        .iter()
        .rfind(|(d, _)| d == "tracker-1")
        .expect("acked")
        .1;
    assert_eq!(last.seq, 3);
    assert!(last.tree_size >= 4);
    let rejs = collect.rejs.lock().expect("lock").clone();
    assert!(rejs.contains(&("tracker-1".to_string(), Some(2), Reason::Equivocation)));

    // A gap: seq 5 arrives before 4; the ack waits for 4.
    let e4 = a.event(4, "4");
    let e5 = a.event(5, "5");
    submit_all(&ingest, vec![a.mqtt(e5)]).await;
    assert_eq!(
        collect
            .acks
            .lock()
            .expect("lock")
            .last()
            .expect("ack")
            .1
            .seq,
        3
    );
    submit_all(&ingest, vec![a.mqtt(e4)]).await;
    assert_eq!(
        collect
            .acks
            .lock()
            .expect("lock")
            .last()
            .expect("ack")
            .1
            .seq,
        5
    );
}

/// A key rotation that lands between an event's signature check and its anchoring (here: the
/// ingest's registry cache is fresh, so it checks with the old key, and the rotation is
/// appended behind its back): the event is checked again against the new registry and
/// refused, so no event signed with a retired key is anchored after the rotation.
#[tokio::test]
async fn a_rotation_between_check_and_anchoring_is_not_missed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open_ledger(&dir).await;
    let mut old = Dev::new("tracker-9", 9);
    ledger
        .register(
            &old.id,
            Role::Tracker,
            "Maersk",
            old.key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    let collect = Arc::new(Collect::default());
    let (ingest, _task) = Ingest::start(ledger.clone(), collect.clone(), Config::default())
        .await
        .expect("start");
    let e1 = old.event(1, "1");
    let out = submit_all(&ingest, vec![old.mqtt(e1)]).await;
    assert!(matches!(out[0], Outcome::Anchored { .. }), "{out:?}");

    // The rotation, without telling the ingest (as from another task, a moment early).
    let new = Dev::new("tracker-9", 10);
    ledger
        .rotate_key(&old.id, new.key.verifying_key().to_bytes())
        .await
        .expect("rotate");
    let size = ledger.latest_checkpoint().await.checkpoint.size;
    let e2 = old.event(2, "2");
    let out = submit_all(&ingest, vec![old.mqtt(e2)]).await;
    match &out[0] {
        Outcome::Rejected(r) => assert_eq!(r.reason, Reason::BadSignature, "{r:?}"),
        o => panic!("an event signed with the retired key was not refused: {o:?}"),
    }
    assert_eq!(ledger.latest_checkpoint().await.checkpoint.size, size);
}
