//! Requests that are the caller's mistake get a status that says so (INVALID_ARGUMENT, with
//! what to send), not FAILED_PRECONDITION as if the registry's state were in the way, nor
//! INTERNAL; and nothing is appended. The handlers are called directly, as the
//! `grpc_request` fuzz target (which found these) calls them.

use std::sync::Arc;

use provenance_event::ed25519_dalek::SigningKey;
use provenance_ingest::service::{Config as IngestConfig, Ingest, NoAcks};
use provenance_ledger::{Config, Ledger};
use provenance_proto::pb;
use provenance_proto::pb::ledger_server::Ledger as _;
use provenance_proto::pb::registry_server::Registry as _;
use provenance_proto::{LedgerService, RegistryService, Writes};
use tonic::Code;

const TOKEN: &str = "the-admin-token";

fn with_token<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    req
}

#[tokio::test]
async fn malformed_registry_requests_are_invalid_arguments() {
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
    let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), IngestConfig::default())
        .await
        .expect("ingest");
    let registry = RegistryService::new(
        ledger.clone(),
        Writes {
            ingest,
            admin_token: Arc::new(TOKEN.into()),
        },
    );
    let good_key = SigningKey::from_bytes(&[9; 32])
        .verifying_key()
        .to_bytes()
        .to_vec();
    // The identity point: a curve point, but of small order.
    let mut weak_key = vec![0u8; 32];
    weak_key[0] = 1;
    let register = pb::RegisterDeviceRequest {
        id: "carrier-1".into(),
        role: "carrier".into(),
        org: "Maersk Line".into(),
        public_key: good_key.clone(),
    };

    for (req, says) in [
        (
            pb::RegisterDeviceRequest {
                org: "M".repeat(129),
                ..register.clone()
            },
            "at most 128",
        ),
        (
            pb::RegisterDeviceRequest {
                org: "Maersk\u{7}Line".into(),
                ..register.clone()
            },
            "control characters",
        ),
        (
            pb::RegisterDeviceRequest {
                public_key: weak_key.clone(),
                ..register.clone()
            },
            "not a usable Ed25519 key",
        ),
    ] {
        let e = registry
            .register_device(with_token(req))
            .await
            .expect_err("malformed");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(says), "{e:?}");
    }
    registry
        .register_device(with_token(register))
        .await
        .expect("register");

    let e = registry
        .rotate_key(with_token(pb::RotateKeyRequest {
            id: "carrier-1".into(),
            public_key: weak_key,
        }))
        .await
        .expect_err("weak key");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    for (reason, says) in [
        (String::new(), "leave it out"),
        ("r".repeat(200), "at most 128"),
        ("lost\nat sea".into(), "control characters"),
    ] {
        let e = registry
            .revoke_device(with_token(pb::RevokeDeviceRequest {
                id: "carrier-1".into(),
                reason: Some(reason),
            }))
            .await
            .expect_err("malformed reason");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(says), "{e:?}");
    }
    let devices = LedgerService::new(ledger.clone())
        .list_devices(tonic::Request::new(pb::ListDevicesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .devices;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].revoked_index, None);
    assert_eq!(
        ledger.latest_checkpoint().await.checkpoint.size,
        1,
        "only the good registration was appended"
    );
    registry
        .revoke_device(with_token(pb::RevokeDeviceRequest {
            id: "carrier-1".into(),
            reason: Some("lost at sea".into()),
        }))
        .await
        .expect("revoke");
}
