//! The gRPC API over a real ledger and a real TCP connection: reads, proofs that verify,
//! traces, the registry, error codes, the health service and server reflection.

use std::sync::Arc;

use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ledger::{Config, Ledger};
use provenance_proto::pb;
use provenance_proto::pb::ledger_client::LedgerClient;
use provenance_tlog::merkle::{verify_consistency, verify_inclusion};
use provenance_tlog::{Checkpoint, Verifier, leaf_hash};
use tonic::Code;

/// A read as an authority: a grant made in the ledger, its token sent as metadata (this file
/// is about what the service answers; the tiers are tested in `read_tiers`).
const READ_TOKEN: &str = "an-authority-read-token-for-the-tests";

fn authed<T>(msg: T) -> tonic::Request<T> {
    with_token(msg, READ_TOKEN)
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

fn events(key: &SigningKey, id: &DeviceId, n: u64) -> Vec<Vec<u8>> {
    let mut prev = [0u8; 32];
    (1..=n)
        .map(|seq| {
            let items =
                [Epc::parse(&format!("urn:epc:id:sgtin:4012345.012345.{seq}")).expect("epc")];
            let d = Draft::new(
                seq,
                prev,
                1_763_719_200_000 + seq as i64,
                Kind::Commissioned,
                &items,
            );
            let mut buf = vec![0u8; 1024];
            let len = sign_event(key, id, &d, &mut buf).expect("sign");
            buf.truncate(len);
            prev = message_hash(&buf);
            buf
        })
        .collect()
}

#[tokio::test]
async fn grpc_reads_proofs_trace_registry_health_and_reflection() {
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
    let evs = events(&key, &id, 40);
    ledger.append(&evs[..15]).await.expect("append");
    ledger.append(&evs[15..]).await.expect("append");
    ledger.wait_indexed(41).await.expect("indexed");

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
    let url = format!("http://{addr}");
    let mut client = LedgerClient::connect(url.clone()).await.expect("connect");

    let key_msg = client
        .get_log_key(pb::GetLogKeyRequest {})
        .await
        .expect("log key")
        .into_inner();
    let vkey = Verifier::parse(&key_msg.vkey).expect("vkey");
    let cp = client
        .get_checkpoint(pb::GetCheckpointRequest { size: None })
        .await
        .expect("checkpoint")
        .into_inner();
    assert_eq!(cp.size, 41);
    let (opened, _) = Checkpoint::open(cp.note.as_bytes(), &vkey, Some("provenance.test/log"))
        .expect("note verifies");
    assert_eq!(opened.root.to_vec(), cp.root_hash);

    let entries = client
        .get_entries(authed(pb::GetEntriesRequest { start: 0, end: 100 }))
        .await
        .expect("entries")
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 41);
    assert_eq!(entries[1].data, evs[0]);

    let proof = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            index: 7,
            tree_size: 41,
        })
        .await
        .expect("proof")
        .into_inner();
    let hashes: Vec<[u8; 32]> = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().expect("32"))
        .collect();
    verify_inclusion(&leaf_hash(&entries[7].data), 7, 41, &hashes, &opened.root)
        .expect("inclusion");

    let older = client
        .get_checkpoint(pb::GetCheckpointRequest { size: Some(16) })
        .await
        .expect("older")
        .into_inner();
    let proof = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            from_size: 16,
            to_size: 41,
        })
        .await
        .expect("consistency")
        .into_inner();
    let hashes: Vec<[u8; 32]> = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().expect("32"))
        .collect();
    let old_root: [u8; 32] = older.root_hash.as_slice().try_into().expect("32");
    verify_consistency(16, 41, &hashes, &old_root, &opened.root).expect("consistent");

    let trace = client
        .trace_item(authed(pb::TraceItemRequest {
            item: "urn:epc:id:sgtin:4012345.012345.3".into(),
        }))
        .await
        .expect("trace")
        .into_inner();
    assert_eq!(trace.entries.len(), 1);
    assert_eq!(trace.entries[0].kind, "commissioned");
    assert_eq!(
        trace.entries[0].chain.as_ref().map(|c| c.state()),
        Some(pb::chain_status::State::Linked)
    );

    let devices = client
        .list_devices(authed(pb::ListDevicesRequest {}))
        .await
        .expect("devices")
        .into_inner()
        .devices;
    assert_eq!(devices.len(), 1);
    assert_eq!(
        (devices[0].id.as_str(), devices[0].role.as_str()),
        ("station-1", "station")
    );

    // Errors carry codes a client can act on.
    let e = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            index: 0,
            tree_size: 999,
        })
        .await
        .expect_err("beyond the log");
    assert_eq!(e.code(), Code::OutOfRange);
    let e = client
        .trace_item(authed(pb::TraceItemRequest {
            item: "not an epc".into(),
        }))
        .await
        .expect_err("bad item");
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = client
        .get_checkpoint(pb::GetCheckpointRequest { size: Some(5) })
        .await
        .expect_err("never signed");
    assert_eq!(e.code(), Code::NotFound);

    // The standard health service.
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .expect("url")
        .connect()
        .await
        .expect("channel");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "provenance.v1.Ledger".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        h.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // Server reflection lists the service, as grpcurl would see it.
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"provenance.v1.Ledger".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );

    let _ = stop.send(());
    server.await.expect("join").expect("server");
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    req
}

/// The write services: registry changes and operator events through the real ingest pipeline,
/// all refused without the admin token.
#[tokio::test]
async fn grpc_registers_submits_rotates_and_revokes_with_the_admin_token() {
    use pb::registry_client::RegistryClient;
    use pb::submission_client::SubmissionClient;
    use pb::submit_event_response::Status as S;
    use provenance_ingest::service::{Config as IngestConfig, Ingest, NoAcks};

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
    let token = "the-admin-token";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(provenance_proto::serve(
        ledger.clone(),
        Some(provenance_proto::Writes {
            ingest,
            admin_token: Arc::new(token.into()),
        }),
        provenance_access::Publish::default(),
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let mut registry = RegistryClient::connect(url.clone()).await.expect("connect");
    let mut submission = SubmissionClient::connect(url).await.expect("connect");

    let key = SigningKey::from_bytes(&[9; 32]);
    let register = pb::RegisterDeviceRequest {
        id: "customs-rtm".into(),
        role: "customs".into(),
        org: "Dutch Customs".into(),
        public_key: key.verifying_key().to_bytes().to_vec(),
    };
    let e = registry
        .register_device(register.clone())
        .await
        .expect_err("no token");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("admin.token"), "{}", e.message());
    let e = registry
        .register_device(with_token(register.clone(), "wrong"))
        .await
        .expect_err("wrong token");
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = registry
        .register_device(with_token(
            pb::RegisterDeviceRequest {
                role: "smuggler".into(),
                ..register.clone()
            },
            token,
        ))
        .await
        .expect_err("bad role");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("customs"), "{}", e.message());

    let done = registry
        .register_device(with_token(register.clone(), token))
        .await
        .expect("register")
        .into_inner();
    assert_eq!(done.log_index, 0);
    assert!(done.mqtt_password.len() >= 32);
    assert_eq!(
        done.device.as_ref().map(|d| d.role.as_str()),
        Some("customs")
    );
    let again = registry
        .register_device(with_token(register, token))
        .await
        .expect_err("IDs are never reused");
    assert_eq!(again.code(), Code::FailedPrecondition);

    // An inspection event, signed by the registered key, goes through SPEC §4 and is anchored.
    let id = DeviceId::new("customs-rtm").expect("id");
    let evs = events(&key, &id, 2);
    let e = submission
        .submit_event(pb::SubmitEventRequest {
            event: evs[0].clone(),
        })
        .await
        .expect_err("no token");
    assert_eq!(e.code(), Code::Unauthenticated);
    let first = submission
        .submit_event(with_token(
            pb::SubmitEventRequest {
                event: evs[0].clone(),
            },
            token,
        ))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(first.status(), S::Anchored);
    assert_eq!((first.index, first.checkpoint_size), (Some(1), Some(2)));
    let dup = submission
        .submit_event(with_token(
            pb::SubmitEventRequest {
                event: evs[0].clone(),
            },
            token,
        ))
        .await
        .expect("duplicate")
        .into_inner();
    assert_eq!((dup.status(), dup.index), (S::Duplicate, Some(1)));
    let mut forged = evs[1].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let bad = submission
        .submit_event(with_token(pb::SubmitEventRequest { event: forged }, token))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(
        (bad.status(), bad.reason.as_str()),
        (S::Rejected, "bad_signature")
    );
    let rejections = ledger
        .rejections(&provenance_ledger::rejections::RejectionQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("rejections");
    assert_eq!(
        rejections.len(),
        1,
        "the forged event is kept with its reason"
    );

    // Rotation: the old key no longer signs; revocation: nothing signs.
    let new_key = SigningKey::from_bytes(&[10; 32]);
    let rotated = registry
        .rotate_key(with_token(
            pb::RotateKeyRequest {
                id: "customs-rtm".into(),
                public_key: new_key.verifying_key().to_bytes().to_vec(),
            },
            token,
        ))
        .await
        .expect("rotate")
        .into_inner();
    assert_eq!(rotated.log_index, 2);
    let old = submission
        .submit_event(with_token(
            pb::SubmitEventRequest {
                event: evs[1].clone(),
            },
            token,
        ))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(old.reason, "bad_signature");
    registry
        .revoke_device(with_token(
            pb::RevokeDeviceRequest {
                id: "customs-rtm".into(),
                reason: Some("badge lost".into()),
            },
            token,
        ))
        .await
        .expect("revoke");
    let after = submission
        .submit_event(with_token(
            pb::SubmitEventRequest {
                event: events(&new_key, &id, 2)[1].clone(),
            },
            token,
        ))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(after.reason, "revoked");

    let _ = stop.send(());
    server.await.expect("join").expect("server");
}

const CELL: &str = "urn:epc:id:sgtin:4012345.012345.7001";
const CARRIER: &str = "Blue Sea Lines urn:epc:id:pgln:4012345.00002";

/// A cell's making (alone in its entry), a position report and a handover to the carrier.
async fn cell_history(ledger: &Ledger) {
    let key = SigningKey::from_bytes(&[4; 32]);
    let id = DeviceId::new("plant-1").expect("id");
    ledger
        .register(
            &id,
            Role::Station,
            "Acme Cells urn:epc:id:pgln:4012345.00001",
            key.verifying_key().to_bytes(),
        )
        .await
        .expect("register");
    let items = [Epc::parse(CELL).expect("epc")];
    let carrier = Epc::parse("urn:epc:id:pgln:4012345.00002").expect("pgln");
    let fix = provenance_event::Location {
        lat_lon: Some((519_000_000, 44_000_000)),
        sgln: None,
    };
    let mut prev = [0u8; 32];
    let mut out = Vec::new();
    for (seq, kind) in [
        (1, Kind::Commissioned),
        (2, Kind::Located),
        (3, Kind::HandedOver),
    ] {
        let mut d = Draft::new(seq, prev, 1_763_719_200_000 + seq as i64, kind, &items);
        if kind == Kind::Located {
            d.location = Some(&fix);
        }
        if kind == Kind::HandedOver {
            d.party = Some(&carrier);
        }
        let mut buf = vec![0u8; 1024];
        let len = sign_event(&key, &id, &d, &mut buf).expect("sign");
        buf.truncate(len);
        prev = message_hash(&buf);
        out.push(buf);
    }
    ledger.append(&out).await.expect("append");
    ledger.wait_indexed(4).await.expect("indexed");
}

/// The read tiers on gRPC: checkpoints open to all, entries for authorities, a revoked
/// token refused at the next call, and item reads filtered as on HTTP: the public (and a
/// partner not involved) get the public facts only, the entry whole where it states this
/// item alone; the carrier the cell was handed to and an authority get the whole trace;
/// evidence bundles are whole or nothing.
#[tokio::test]
async fn read_tiers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(
        Ledger::open(&Config {
            database_url: format!("sqlite://{}", dir.path().join("l.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        })
        .await
        .expect("open"),
    );
    cell_history(&ledger).await;
    grant_authority(&ledger).await;
    let partner = "a-partner-read-token-for-the-tests";
    let carrier = "the-carrier-read-token-for-the-tests";
    for (org, token) in [("Second Life Recycling", partner), (CARRIER, carrier)] {
        ledger
            .grant_read(
                org,
                "partner",
                None,
                &provenance_ingest::secrets::password_hash(token),
                0,
            )
            .await
            .expect("grant");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(provenance_proto::serve(
        ledger.clone(),
        None,
        provenance_access::Publish {
            anonymous: provenance_access::Anonymous::Public,
            whole_entries: true,
        },
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let mut client = LedgerClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    client
        .get_checkpoint(pb::GetCheckpointRequest { size: None })
        .await
        .expect("open to all");
    let entries = || pb::GetEntriesRequest { start: 0, end: 1 };
    let e = client.get_entries(entries()).await.expect_err("anonymous");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = client
        .get_entries(with_token(entries(), partner))
        .await
        .expect_err("partner");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("authority"), "{e:?}");

    // The cell's trace, tier by tier.
    let trace = || pb::TraceItemRequest { item: CELL.into() };
    for (who, req) in [
        ("anonymous", tonic::Request::new(trace())),
        ("a partner not involved", with_token(trace(), partner)),
    ] {
        let t = client.trace_item(req).await.expect(who).into_inner();
        assert_eq!(t.view, "public", "{who}");
        let kinds: Vec<&str> = t.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["commissioned"], "{who}: the making only");
        let made = &t.entries[0];
        assert!(
            !made.data.is_empty(),
            "{who}: the entry names this cell alone"
        );
        assert!(t.containers.is_empty());
        let e = client
            .get_evidence(match who {
                "anonymous" => tonic::Request::new(pb::GetEvidenceRequest { item: CELL.into() }),
                _ => with_token(pb::GetEvidenceRequest { item: CELL.into() }, partner),
            })
            .await
            .expect_err("whole or nothing");
        assert_eq!(e.code(), Code::PermissionDenied, "{who}: {e:?}");
        assert!(e.message().contains("passport/evidence"), "{e:?}");
    }
    for (who, req) in [
        ("the carrier", with_token(trace(), carrier)),
        ("an authority", authed(trace())),
    ] {
        let t = client.trace_item(req).await.expect(who).into_inner();
        assert_eq!(t.view, "full", "{who}");
        assert_eq!(t.entries.len(), 3, "{who}");
    }
    let bundle = client
        .get_evidence(with_token(
            pb::GetEvidenceRequest { item: CELL.into() },
            carrier,
        ))
        .await
        .expect("the carrier's bundle")
        .into_inner();
    assert!(!bundle.bundle.is_empty());

    // An authority reads; once revoked, the next call is refused.
    let e = client.get_entries(authed(entries())).await;
    assert!(
        e.as_ref().is_ok()
            || e.as_ref().is_err_and(
                |s| s.code() != Code::PermissionDenied && s.code() != Code::Unauthenticated
            ),
        "{e:?}"
    );
    let grants = ledger.read_grants().await.expect("grants");
    let id = grants
        .iter()
        .find(|g| g.tier == "authority")
        .expect("grant")
        .id;
    assert!(ledger.revoke_read(id, 1).await.expect("revoke"));
    let e = client
        .get_entries(authed(entries()))
        .await
        .expect_err("revoked");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let _ = stop.send(());
    let _ = server.await;
}

/// Read grants over gRPC, as `/api/v1/access` makes them: admin token only, the token shown
/// once and never listed, a revoked token refused at its next call.
#[tokio::test]
async fn read_grants_are_administered_over_grpc() {
    use pb::access_client::AccessClient;
    use provenance_ingest::service::{Config as IngestConfig, Ingest, NoAcks};
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(
        Ledger::open(&Config {
            database_url: format!("sqlite://{}", dir.path().join("l.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        })
        .await
        .expect("open"),
    );
    cell_history(&ledger).await;
    let (ingest, _task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), IngestConfig::default())
        .await
        .expect("ingest");
    let admin = "the-admin-token";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(provenance_proto::serve(
        ledger.clone(),
        Some(provenance_proto::Writes {
            ingest,
            admin_token: Arc::new(admin.into()),
        }),
        provenance_access::Publish {
            anonymous: provenance_access::Anonymous::None,
            whole_entries: false,
        },
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let mut access = AccessClient::connect(url.clone()).await.expect("connect");
    let mut ledger_client = LedgerClient::connect(url).await.expect("connect");
    let grant = || pb::GrantReadRequest {
        org: CARRIER.into(),
        tier: "partner".into(),
        items: None,
    };
    let e = access.grant_read(grant()).await.expect_err("no token");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = access
        .grant_read(with_token(
            pb::GrantReadRequest {
                tier: "admin".into(),
                ..grant()
            },
            admin,
        ))
        .await
        .expect_err("no such tier");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("public, partner or authority"),
        "{e:?}"
    );
    let made = access
        .grant_read(with_token(grant(), admin))
        .await
        .expect("grant")
        .into_inner();
    let token = made.token.clone();
    assert!(token.len() >= 32);
    let listed = access
        .list_read_grants(with_token(pb::ListReadGrantsRequest {}, admin))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.grants.len(), 1);
    assert!(!format!("{listed:?}").contains(&token), "never listed");
    // With `--public-tier none` anonymous callers get nothing per item; the token reads.
    let trace = || pb::TraceItemRequest { item: CELL.into() };
    let e = ledger_client
        .trace_item(trace())
        .await
        .expect_err("anonymous");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let t = ledger_client
        .trace_item(with_token(trace(), &token))
        .await
        .expect("the carrier reads")
        .into_inner();
    assert_eq!(t.view, "full");
    let id = made.grant.expect("grant").id;
    access
        .revoke_read(with_token(pb::RevokeReadRequest { id }, admin))
        .await
        .expect("revoke");
    let e = ledger_client
        .trace_item(with_token(trace(), &token))
        .await
        .expect_err("revoked");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = access
        .revoke_read(with_token(pb::RevokeReadRequest { id }, admin))
        .await
        .expect_err("twice");
    assert_eq!(e.code(), Code::NotFound);
    let _ = stop.send(());
    let _ = server.await;
}

/// Every method of every `provenance.v1` service has a rule in the access table: a method
/// added without one would be refused to everyone by the gate (fail closed), and this test
/// says which.
#[test]
fn every_grpc_method_has_an_access_rule() {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut methods = 0;
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                assert!(
                    provenance_access::routes::grpc(&path).is_some(),
                    "{path} has no rule in provenance_access::routes::GRPC"
                );
                methods += 1;
            }
        }
    }
    assert!(methods >= 15, "{methods} methods");
}
