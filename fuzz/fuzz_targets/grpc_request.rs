//! gRPC requests: arbitrary bytes decoded as the request messages of `provenance.v1` (prost),
//! and those that decode handed to the real service implementations (`Ledger`, `Submission`,
//! `Registry`, `Access` of `provenance_proto`) over a real ledger and ingest (see `server`).
//!
//! The input is a method selector byte, an authorization selector byte, then the protobuf
//! message. Nothing may panic; every message that decodes re-encodes to one that decodes to
//! itself; a handler's error is a status that blames the request (INVALID_ARGUMENT,
//! NOT_FOUND, OUT_OF_RANGE, UNAUTHENTICATED, PERMISSION_DENIED (an item read the public
//! view refuses: the services are called without the read gate, so as the public), or
//! FAILED_PRECONDITION for the registry's state only), never INTERNAL, UNKNOWN or
//! UNAVAILABLE; a write without the admin token is refused as UNAUTHENTICATED.
#![no_main]

mod server;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use prost::Message;
use provenance_proto::pb;
use provenance_proto::pb::access_server::Access as _;
use provenance_proto::pb::ledger_server::Ledger as _;
use provenance_proto::pb::registry_server::Registry as _;
use provenance_proto::pb::submission_server::Submission as _;
use provenance_proto::{AccessService, LedgerService, RegistryService, SubmissionService, Writes};
use server::{Auth, TOKEN, Write, registry_appended, registry_state_conflict, world};
use tonic::{Code, Request};

struct Services {
    ledger: LedgerService,
    submission: SubmissionService,
    registry: RegistryService,
    access: AccessService,
}

fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let w = world();
        let writes = Writes {
            ingest: w.ingest.clone(),
            admin_token: Arc::new(TOKEN.into()),
        };
        Services {
            ledger: LedgerService::new(w.ledger.clone()),
            submission: SubmissionService::new(writes.clone()),
            access: AccessService::new(w.ledger.clone(), writes.admin_token.clone()),
            registry: RegistryService::new(w.ledger.clone(), writes),
        }
    })
}

/// Decoding then encoding then decoding gives the first message back.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(m) = M::decode(bytes) {
        let again = M::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
}

fuzz_target!(|data: &[u8]| {
    let [method, auth, body @ ..] = data else {
        return;
    };
    round_trip::<pb::GetCheckpointRequest>(body);
    round_trip::<pb::GetLogKeyRequest>(body);
    round_trip::<pb::GetEntriesRequest>(body);
    round_trip::<pb::GetInclusionProofRequest>(body);
    round_trip::<pb::GetConsistencyProofRequest>(body);
    round_trip::<pb::TraceItemRequest>(body);
    round_trip::<pb::GetEvidenceRequest>(body);
    round_trip::<pb::ListDevicesRequest>(body);
    round_trip::<pb::SubmitEventRequest>(body);
    round_trip::<pb::RegisterDeviceRequest>(body);
    round_trip::<pb::RotateKeyRequest>(body);
    round_trip::<pb::RevokeDeviceRequest>(body);
    round_trip::<pb::GrantReadRequest>(body);
    round_trip::<pb::ListReadGrantsRequest>(body);
    round_trip::<pb::RevokeReadRequest>(body);

    let method = method % 15;
    let write = match method {
        0..=7 => Write::Nothing,
        8 => Write::Submission,
        9..=11 => Write::Registry,
        _ => Write::Grant,
    };
    let is_write = write != Write::Nothing;
    let s = services();

    // Decodes the body as the method's request (or ends the run), adds the authorization,
    // calls the handler; gives its answer and whether the token was the valid one.
    macro_rules! call {
        ($svc:expr, $rpc:ident, $ty:ty) => {{
            let Ok(msg) = <$ty>::decode(body) else {
                return;
            };
            let mut req = Request::new(msg);
            let authorization = Auth::from_byte(*auth).header(write);
            if let Some(v) = &authorization {
                req.metadata_mut()
                    .insert("authorization", v.parse().expect("ASCII"));
            }
            let answer = $svc.$rpc(req).await.map(|_| ());
            (answer, Auth::is_valid(authorization.as_deref()))
        }};
    }

    let w = world();
    w.rt.block_on(async move {
        let size = || async { w.ledger.latest_checkpoint().await.checkpoint.size };
        let before = size().await;
        let (answer, valid) = match method {
            0 => call!(s.ledger, get_checkpoint, pb::GetCheckpointRequest),
            1 => call!(s.ledger, get_log_key, pb::GetLogKeyRequest),
            2 => call!(s.ledger, get_entries, pb::GetEntriesRequest),
            3 => call!(s.ledger, get_inclusion_proof, pb::GetInclusionProofRequest),
            4 => call!(
                s.ledger,
                get_consistency_proof,
                pb::GetConsistencyProofRequest
            ),
            5 => call!(s.ledger, trace_item, pb::TraceItemRequest),
            6 => call!(s.ledger, get_evidence, pb::GetEvidenceRequest),
            7 => call!(s.ledger, list_devices, pb::ListDevicesRequest),
            8 => call!(s.submission, submit_event, pb::SubmitEventRequest),
            9 => call!(s.registry, register_device, pb::RegisterDeviceRequest),
            10 => call!(s.registry, rotate_key, pb::RotateKeyRequest),
            11 => call!(s.registry, revoke_device, pb::RevokeDeviceRequest),
            12 => call!(s.access, grant_read, pb::GrantReadRequest),
            13 => call!(s.access, list_read_grants, pb::ListReadGrantsRequest),
            _ => call!(s.access, revoke_read, pb::RevokeReadRequest),
        };
        if write == Write::Registry {
            registry_appended(before, size().await);
        }
        let Err(status) = answer else {
            assert!(
                !is_write || valid,
                "method {method} wrote without the token"
            );
            return;
        };
        assert!(
            matches!(
                status.code(),
                Code::InvalidArgument
                    | Code::NotFound
                    | Code::OutOfRange
                    | Code::FailedPrecondition
                    | Code::Unauthenticated
                    | Code::PermissionDenied
            ),
            "method {method}: {status:?} (bad input must be the client's error)"
        );
        assert!(!status.message().is_empty(), "{status:?} says nothing");
        if status.code() == Code::FailedPrecondition {
            assert!(
                registry_state_conflict(status.message()),
                "method {method}: FAILED_PRECONDITION for a malformed request: {status:?}"
            );
        }
        if is_write && !valid {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        }
    });
});
