//! The gRPC API of SPEC §2 (tonic): ledger reads and proofs, item traces and the registry,
//! served with gRPC server reflection and the standard health service.
//!
//! The `.proto` files in `proto/` are the contract; the code is generated at build time by
//! protox (no `protoc` needed). This crate maps ledger results onto messages and ledger errors
//! onto gRPC status codes, and holds no state of its own.

use std::sync::Arc;

use provenance_ledger::trace::{self, ChainStatus as LedgerChain};
use provenance_ledger::{Ledger, LedgerError};
use tonic::{Request, Response, Status};

/// Generated messages, clients and servers of `provenance.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod pb {
    tonic::include_proto!("provenance.v1");

    /// The encoded descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("provenance_descriptor");
}

/// The most entries one `GetEntries` returns.
pub const MAX_ENTRIES_PER_CALL: u64 = 1000;

/// The `Ledger` service over an open ledger.
#[derive(Clone)]
pub struct LedgerService {
    ledger: Arc<Ledger>,
}

impl LedgerService {
    /// Serves `ledger`.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self { ledger }
    }
}

fn status(e: LedgerError) -> Status {
    match e {
        LedgerError::NoCheckpoint(_) => Status::not_found(e.to_string()),
        LedgerError::Proof(_) => Status::out_of_range(e.to_string()),
        LedgerError::Registry(_) => Status::failed_precondition(e.to_string()),
        LedgerError::Entry { .. } => Status::invalid_argument(e.to_string()),
        other => {
            tracing::error!(error = %other, "ledger failure behind gRPC");
            Status::internal("the ledger failed; see the server log")
        }
    }
}

fn chain(c: LedgerChain) -> pb::ChainStatus {
    use pb::chain_status::State;
    let mut out = pb::ChainStatus::default();
    match c {
        LedgerChain::First => out.set_state(State::First),
        LedgerChain::Linked => out.set_state(State::Linked),
        LedgerChain::PrevMismatch => out.set_state(State::PrevMismatch),
        LedgerChain::Gap {
            from,
            to,
            explained,
        } => {
            out.set_state(State::Gap);
            out.missing_from = from;
            out.missing_to = to;
            out.explained = explained;
        }
    }
    out
}

fn window(w: trace::Window) -> pb::Window {
    pb::Window {
        container: w.container,
        from_ms: w.from_ms,
        until_ms: w.until_ms,
        via: w.via,
    }
}

#[tonic::async_trait]
impl pb::ledger_server::Ledger for LedgerService {
    async fn get_checkpoint(
        &self,
        req: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::SignedCheckpoint>, Status> {
        let cp = match req.into_inner().size {
            None => self.ledger.latest_checkpoint().await,
            Some(size) => self.ledger.checkpoint(size).await.map_err(status)?,
        };
        Ok(Response::new(pb::SignedCheckpoint {
            origin: cp.checkpoint.origin,
            size: cp.checkpoint.size,
            root_hash: cp.checkpoint.root.to_vec(),
            note: cp.note,
        }))
    }

    async fn get_log_key(
        &self,
        _: Request<pb::GetLogKeyRequest>,
    ) -> Result<Response<pb::LogKey>, Status> {
        let v = self.ledger.verifier();
        Ok(Response::new(pb::LogKey {
            vkey: v.to_string(),
            origin: self.ledger.origin().to_string(),
            public_key: v.public_key().to_bytes().to_vec(),
        }))
    }

    async fn get_entries(
        &self,
        req: Request<pb::GetEntriesRequest>,
    ) -> Result<Response<pb::GetEntriesResponse>, Status> {
        let r = req.into_inner();
        if r.end <= r.start {
            return Err(Status::invalid_argument("end must be greater than start"));
        }
        let end = r.end.min(r.start.saturating_add(MAX_ENTRIES_PER_CALL));
        let entries = self
            .ledger
            .entries(r.start, end)
            .await
            .map_err(status)?
            .into_iter()
            .map(|(index, data)| pb::Entry { index, data })
            .collect();
        Ok(Response::new(pb::GetEntriesResponse { entries }))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let r = req.into_inner();
        let hashes = self
            .ledger
            .inclusion_proof(r.index, r.tree_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Proof {
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let r = req.into_inner();
        let hashes = self
            .ledger
            .consistency_proof(r.from_size, r.to_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Proof {
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn trace_item(
        &self,
        req: Request<pb::TraceItemRequest>,
    ) -> Result<Response<pb::Trace>, Status> {
        let item = req.into_inner().item;
        provenance_event::Epc::parse(&item)
            .map_err(|e| Status::invalid_argument(format!("item must be an EPC URI: {e}")))?;
        let t = self.ledger.trace(&item).await.map_err(status)?;
        Ok(Response::new(pb::Trace {
            item: t.item,
            containers: t.containers.into_iter().map(window).collect(),
            entries: t
                .entries
                .into_iter()
                .map(|e| pb::TraceEntry {
                    index: e.index,
                    data: e.bytes,
                    device: e.device,
                    seq: e.seq,
                    time_ms: e.time_ms,
                    kind: e.kind.name().to_string(),
                    inherited: e.inherited.map(window),
                    chain: Some(chain(e.chain)),
                })
                .collect(),
        }))
    }

    async fn list_devices(
        &self,
        _: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        let devices = self
            .ledger
            .devices()
            .await
            .map_err(status)?
            .into_iter()
            .map(|d| pb::Device {
                id: d.id,
                role: d.role.name().to_string(),
                org: d.org,
                public_key: d.public_key.to_vec(),
                registered_index: d.registered_idx,
                key_index: d.key_idx,
                revoked_index: d.revoked_idx,
                suspect: d.suspect,
            })
            .collect();
        Ok(Response::new(pb::ListDevicesResponse { devices }))
    }
}

/// Serves the API on `listener` until `shutdown` completes: the `Ledger` service, server
/// reflection (v1 and v1alpha) and `grpc.health.v1.Health` reporting `provenance.v1.Ledger`
/// as serving.
pub async fn serve(
    ledger: Arc<Ledger>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::ledger_server::LedgerServer<LedgerService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| {
            tracing::error!(error = %e, "reflection descriptors");
            e
        });
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha();
    let mut router = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(pb::ledger_server::LedgerServer::new(LedgerService::new(
            ledger,
        )));
    if let Ok(r) = reflection {
        router = router.add_service(r);
    }
    if let Ok(r) = reflection_alpha {
        router = router.add_service(r);
    }
    router
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}
