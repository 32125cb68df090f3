//! The gRPC API of SPEC §2 (tonic): ledger reads and proofs, item traces and the registry
//! (`Ledger`), operator event submission (`Submission`) and registry administration
//! (`Registry`), served with gRPC server reflection and the standard health service.
//!
//! The `.proto` files in `proto/` are the contract; the code is generated at build time by
//! protox (no `protoc` needed). This crate maps ledger results onto messages and ledger errors
//! onto gRPC status codes, and holds no state of its own. Writes need the admin token as
//! metadata `authorization: Bearer <token>`, like the HTTP API's; it is checked before the
//! message is read.

pub mod gate;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use provenance_ingest::admin::{self, AdminError, Registrar};
use provenance_ingest::secrets;
use provenance_ingest::service::{Ingest, Outcome};
use provenance_ingest::validate::Message;
use provenance_ledger::trace::{self, ChainStatus as LedgerChain};
use provenance_ledger::{Ledger, LedgerError};
use tonic::{Request, Response, Status};

/// A server certificate chain and key for TLS (`serve`'s `tls`), built from PEM.
pub use tonic::transport::Identity;

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
    whole_entries: bool,
}

impl LedgerService {
    /// Serves `ledger`; the public gets no entry whole.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self {
            ledger,
            whole_entries: false,
        }
    }

    /// Whether the public may have whole the entries `provenance_access::entry_public` allows
    /// (`serve --public-entries`).
    pub fn whole_entries(mut self, on: bool) -> Self {
        self.whole_entries = on;
        self
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

impl LedgerService {
    /// `None` when `reader` sees the item of `t` whole; else the item's events as the rule
    /// decides, for the public view.
    async fn public_view(
        &self,
        reader: &provenance_access::Reader,
        t: &trace::Trace,
    ) -> Result<Option<Vec<provenance_custody::rules::TraceEvent>>, Status> {
        if reader.tier == provenance_access::Tier::Authority {
            return Ok(None);
        }
        let registry = self.ledger.devices().await.map_err(status)?;
        let events = provenance_ledger::evidence::trace_events(t, &registry);
        Ok(
            match provenance_access::item_access(reader, &t.item, &events) {
                provenance_access::ItemAccess::Full => None,
                provenance_access::ItemAccess::Public => Some(events),
            },
        )
    }
}

/// The public view of a trace: the entries stating the item's public facts, each with its
/// kind, time and index; the entry itself only where it states this item's facts alone
/// ([`provenance_access::entry_public`]) and the operator publishes whole entries, so a
/// public caller can check its signature.
fn public_trace(
    t: trace::Trace,
    events: &[provenance_custody::rules::TraceEvent],
    whole_entries: bool,
) -> pb::Trace {
    use provenance_access::{ItemAccess, Visibility, entry_public, visibility};
    let by_index: std::collections::HashMap<u64, &provenance_custody::rules::TraceEvent> =
        events.iter().map(|e| (e.index, e)).collect();
    let entries = t
        .entries
        .into_iter()
        .filter_map(|e| {
            let ev = by_index.get(&e.index)?;
            if visibility(ItemAccess::Public, ev) == Visibility::Hidden {
                return None;
            }
            let whole = whole_entries && entry_public(&t.item, ev);
            Some(pb::TraceEntry {
                index: e.index,
                data: if whole { e.bytes } else { Vec::new() },
                device: if whole { e.device } else { String::new() },
                seq: if whole { e.seq } else { 0 },
                time_ms: e.time_ms,
                kind: e.kind.name().to_string(),
                inherited: None,
                chain: None,
            })
        })
        .collect();
    pb::Trace {
        item: t.item,
        containers: Vec::new(),
        entries,
        view: "public".into(),
    }
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
            None => self.ledger.published_checkpoint().await,
            Some(size) => self
                .ledger
                .cosigned_checkpoint(size)
                .await
                .map_err(status)?,
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
        let reader = gate::reader_of(&req);
        let item = req.into_inner().item;
        provenance_event::Epc::parse(&item)
            .map_err(|e| Status::invalid_argument(format!("item must be an EPC URI: {e}")))?;
        let t = self.ledger.trace(&item).await.map_err(status)?;
        if let Some(events) = self.public_view(&reader, &t).await? {
            return Ok(Response::new(public_trace(t, &events, self.whole_entries)));
        }
        Ok(Response::new(pb::Trace {
            view: "full".into(),
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

    async fn get_evidence(
        &self,
        req: Request<pb::GetEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let reader = gate::reader_of(&req);
        let item = provenance_event::Epc::parse(&req.into_inner().item)
            .map_err(|e| Status::invalid_argument(format!("item must be an EPC URI: {e}")))?
            .to_string();
        if reader.tier != provenance_access::Tier::Authority {
            let t = self.ledger.trace(&item).await.map_err(status)?;
            if self.public_view(&reader, &t).await?.is_some() {
                return Err(Status::permission_denied(format!(
                    "the evidence bundle is whole or nothing: it goes to the organisations \
                     involved in {item} and to authorities, and you read as {}; the public \
                     proves a battery passport's public fields with GET \
                     /api/v1/items/{{id}}/passport/evidence",
                    reader.tier.name()
                )));
            }
        }
        let bundle = self.ledger.evidence(&item).await.map_err(status)?;
        // The note's text is the checkpoint body the ledger just signed.
        let tree_size = provenance_tlog::note::parse(bundle.checkpoint.as_bytes())
            .ok()
            .and_then(|(text, _)| provenance_tlog::Checkpoint::parse_body(text).ok())
            .map_or(0, |c| c.size);
        Ok(Response::new(pb::Evidence {
            item,
            format: provenance_custody::bundle::FORMAT.to_string(),
            tree_size,
            bundle: bundle.to_json().into_bytes(),
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
            .map(device)
            .collect();
        Ok(Response::new(pb::ListDevicesResponse { devices }))
    }
}

/// What the write services need besides the ledger.
#[derive(Clone)]
pub struct Writes {
    /// The ingest pipeline that submissions go through.
    pub ingest: Ingest,
    /// The admin token every write must carry.
    pub admin_token: Arc<String>,
}

fn require_admin<T>(token: &str, req: &Request<T>) -> Result<(), Status> {
    let given = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // An empty configured token would match a call that sends none.
    if !token.is_empty() && secrets::constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(Status::unauthenticated(
            "send metadata `authorization: Bearer <token>` with the token from DIR/admin.token",
        ))
    }
}

/// Refuses a write without the admin token from its metadata alone. The generated servers
/// decode the whole message before they call a handler, so the handlers' own check would come
/// after a stranger's message was received and parsed; an interceptor runs on the request head,
/// before any of the body is read.
#[derive(Clone)]
struct AdminOnly(Arc<String>);

impl tonic::service::Interceptor for AdminOnly {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        require_admin(&self.0, &req)?;
        Ok(req)
    }
}

fn admin_status(e: AdminError) -> Status {
    match e {
        AdminError::Invalid(m) => Status::invalid_argument(m),
        AdminError::Ledger(e) => status(e),
        AdminError::Randomness(m) => Status::internal(m),
    }
}

/// The `Access` service: read grants (issue #14), as `/api/v1/access` makes them.
#[derive(Clone)]
pub struct AccessService {
    ledger: Arc<Ledger>,
    admin_token: Arc<String>,
}

impl AccessService {
    /// Grants over `ledger`, each call checked against `admin_token` (as well as by [`serve`]'s
    /// interceptor, before the message is read).
    pub fn new(ledger: Arc<Ledger>, admin_token: Arc<String>) -> Self {
        Self {
            ledger,
            admin_token,
        }
    }
}

fn read_grant(g: provenance_ledger::readers::Grant) -> pb::ReadGrant {
    pb::ReadGrant {
        id: g.id,
        org: g.org,
        tier: g.tier,
        items: g.items,
        created_ms: g.created_ms,
        revoked_ms: g.revoked_ms,
    }
}

#[tonic::async_trait]
impl pb::access_server::Access for AccessService {
    async fn grant_read(
        &self,
        req: Request<pb::GrantReadRequest>,
    ) -> Result<Response<pb::GrantReadResponse>, Status> {
        require_admin(&self.admin_token, &req)?;
        let r = req.into_inner();
        let now = provenance_ledger::now_ms();
        let g = admin::grant_read(&self.ledger, &r.org, &r.tier, r.items.as_deref(), now)
            .await
            .map_err(admin_status)?;
        Ok(Response::new(pb::GrantReadResponse {
            grant: Some(pb::ReadGrant {
                id: g.id,
                org: g.org,
                tier: g.tier.name().to_string(),
                items: g.items,
                created_ms: now,
                revoked_ms: None,
            }),
            token: g.token,
        }))
    }

    async fn list_read_grants(
        &self,
        req: Request<pb::ListReadGrantsRequest>,
    ) -> Result<Response<pb::ListReadGrantsResponse>, Status> {
        require_admin(&self.admin_token, &req)?;
        let grants = self.ledger.read_grants().await.map_err(status)?;
        Ok(Response::new(pb::ListReadGrantsResponse {
            grants: grants.into_iter().map(read_grant).collect(),
        }))
    }

    async fn revoke_read(
        &self,
        req: Request<pb::RevokeReadRequest>,
    ) -> Result<Response<pb::RevokeReadResponse>, Status> {
        require_admin(&self.admin_token, &req)?;
        let id = req.into_inner().id;
        if self
            .ledger
            .revoke_read(id, provenance_ledger::now_ms())
            .await
            .map_err(status)?
        {
            Ok(Response::new(pb::RevokeReadResponse {}))
        } else {
            Err(Status::not_found(format!(
                "no active grant {id}; ListReadGrants (or `provenance access list`) shows them"
            )))
        }
    }
}

/// The `Submission` service: operator events through the SPEC §4 pipeline.
#[derive(Clone)]
pub struct SubmissionService {
    writes: Writes,
}

impl SubmissionService {
    /// Submits through `writes`. (`serve` builds it; public so that the handlers can be
    /// driven without a socket, as the `grpc_request` fuzz target does.)
    pub fn new(writes: Writes) -> Self {
        Self { writes }
    }
}

#[tonic::async_trait]
impl pb::submission_server::Submission for SubmissionService {
    async fn submit_event(
        &self,
        req: Request<pb::SubmitEventRequest>,
    ) -> Result<Response<pb::SubmitEventResponse>, Status> {
        require_admin(&self.writes.admin_token, &req)?;
        let received_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let outcome = self
            .writes
            .ingest
            .submit(Message {
                topic: None,
                bytes: req.into_inner().event,
                received_ms,
            })
            .await;
        use pb::submit_event_response::Status as S;
        let mut out = pb::SubmitEventResponse::default();
        match outcome {
            Outcome::Anchored {
                index,
                checkpoint_size,
            } => {
                out.set_status(S::Anchored);
                out.index = Some(index);
                out.checkpoint_size = Some(checkpoint_size);
            }
            Outcome::Duplicate { index } => {
                out.set_status(S::Duplicate);
                out.index = Some(index);
            }
            Outcome::Rejected(r) => {
                out.set_status(S::Rejected);
                out.reason = r.reason.as_str().to_string();
                out.detail = r.detail;
            }
            Outcome::Unavailable(e) => {
                return Err(Status::unavailable(format!(
                    "{e}; nothing was anchored, retry"
                )));
            }
        }
        Ok(Response::new(out))
    }
}

/// The `Registry` service: registration, key rotation, revocation.
#[derive(Clone)]
pub struct RegistryService {
    writes: Writes,
    registrar: Registrar,
}

impl RegistryService {
    /// Administers the registry of `ledger` through `writes`. (Public for the same reason as
    /// [`SubmissionService::new`].)
    pub fn new(ledger: Arc<Ledger>, writes: Writes) -> Self {
        let registrar = Registrar::new(ledger.clone(), writes.ingest.clone());
        Self { writes, registrar }
    }
}

fn device(d: provenance_ledger::registry::DeviceInfo) -> pb::Device {
    pb::Device {
        id: d.id,
        role: d.role.name().to_string(),
        org: d.org,
        public_key: d.public_key.to_vec(),
        registered_index: d.registered_idx,
        key_index: d.key_idx,
        revoked_index: d.revoked_idx,
        suspect: d.suspect,
    }
}

#[tonic::async_trait]
impl pb::registry_server::Registry for RegistryService {
    async fn register_device(
        &self,
        req: Request<pb::RegisterDeviceRequest>,
    ) -> Result<Response<pb::RegisterDeviceResponse>, Status> {
        require_admin(&self.writes.admin_token, &req)?;
        let r = req.into_inner();
        let id = admin::device_id(&r.id).map_err(admin_status)?;
        let role = admin::role(&r.role).map_err(admin_status)?;
        let key = admin::public_key(&r.public_key).map_err(admin_status)?;
        let done = self
            .registrar
            .register(&id, role, &r.org, key)
            .await
            .map_err(admin_status)?;
        Ok(Response::new(pb::RegisterDeviceResponse {
            device: Some(device(done.device)),
            mqtt_password: done.mqtt_password,
            log_index: done.log_index,
        }))
    }

    async fn rotate_key(
        &self,
        req: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RegistryChange>, Status> {
        require_admin(&self.writes.admin_token, &req)?;
        let r = req.into_inner();
        let id = admin::device_id(&r.id).map_err(admin_status)?;
        let key = admin::public_key(&r.public_key).map_err(admin_status)?;
        let log_index = self
            .registrar
            .rotate(&id, key)
            .await
            .map_err(admin_status)?;
        Ok(Response::new(pb::RegistryChange {
            id: r.id,
            log_index,
        }))
    }

    async fn revoke_device(
        &self,
        req: Request<pb::RevokeDeviceRequest>,
    ) -> Result<Response<pb::RegistryChange>, Status> {
        require_admin(&self.writes.admin_token, &req)?;
        let r = req.into_inner();
        let id = admin::device_id(&r.id).map_err(admin_status)?;
        let log_index = self
            .registrar
            .revoke(&id, r.reason.as_deref())
            .await
            .map_err(admin_status)?;
        Ok(Response::new(pb::RegistryChange {
            id: r.id,
            log_index,
        }))
    }
}

/// How long calls in progress may go on after [`serve`]'s shutdown signal; then their
/// connections are closed, so a client that never finishes a call cannot hold a shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A connection the server can cut: once told, reads end and writes fail, so the HTTP/2
/// connection (which always polls its socket) ends at once and its calls are dropped. tonic's
/// graceful shutdown waits for every open call, and its connection tasks cannot be reached
/// from outside any other way.
struct Cuttable<IO> {
    io: IO,
    cut: Pin<Box<dyn Future<Output = ()> + Send>>,
    is_cut: bool,
    /// Whether the client has sent anything: one that sends nothing within
    /// [`FIRST_BYTES_WITHIN`] is cut (HTTP/2 waits for the client's preface forever).
    spoke: Arc<std::sync::atomic::AtomicBool>,
    _place: provenance_ingest::limits::Place,
}

/// How long a new connection may stay silent.
pub const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);
/// Connections at once, and from one address.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections at once from one address.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// Calls at once on one connection (HTTP/2 streams), and how long one call may take to answer.
pub const MAX_CALLS_PER_CONNECTION: usize = 64;
/// How long a call may take to answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl<IO> Cuttable<IO> {
    fn new(
        io: IO,
        mut cut: tokio::sync::watch::Receiver<bool>,
        place: provenance_ingest::limits::Place,
    ) -> Self {
        let spoke = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let heard = spoke.clone();
        Self {
            io,
            // Also cut when the sender is gone: `serve` has returned.
            cut: Box::pin(async move {
                let silent = async {
                    tokio::time::sleep(FIRST_BYTES_WITHIN).await;
                    if heard.load(std::sync::atomic::Ordering::Relaxed) {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    _ = cut.wait_for(|c| *c) => {}
                    () = silent => {}
                }
            }),
            is_cut: false,
            spoke,
            _place: place,
        }
    }

    /// Whether the connection is cut; otherwise `cx` is woken when it is.
    fn is_cut(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.is_cut && self.cut.as_mut().poll(cx).is_ready() {
            self.is_cut = true;
        }
        self.is_cut
    }
}

fn stopping() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the server is stopping",
    )
}

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Cuttable<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.is_cut(cx) {
            // End of stream.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.spoke.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Cuttable<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.is_cut(cx) {
            return Poll::Ready(Err(stopping()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.is_cut(cx) {
            return Poll::Ready(Err(stopping()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.is_cut(cx) {
            return Poll::Ready(Err(stopping()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: tonic::transport::server::Connected> tonic::transport::server::Connected for Cuttable<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Serves the API on `listener` until `shutdown` completes: the `Ledger` service, and with
/// `writes` the `Submission` and `Registry` services (behind the admin token, checked before
/// the message is read), server reflection (v1 and v1alpha) and `grpc.health.v1.Health`
/// reporting each service as serving. Per-item reads serve anonymous callers and the public
/// as `publish` says (`serve --public-tier`, `--public-entries`). With `tls`, over TLS only. After `shutdown`, calls in
/// progress get [`SHUTDOWN_GRACE`] to finish, then their connections are closed.
pub async fn serve(
    ledger: Arc<Ledger>,
    writes: Option<Writes>,
    publish: provenance_access::Publish,
    listener: tokio::net::TcpListener,
    tls: Option<Identity>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::ledger_server::LedgerServer<LedgerService>>()
        .await;
    if writes.is_some() {
        health_reporter
            .set_serving::<pb::submission_server::SubmissionServer<SubmissionService>>()
            .await;
        health_reporter
            .set_serving::<pb::registry_server::RegistryServer<RegistryService>>()
            .await;
        health_reporter
            .set_serving::<pb::access_server::AccessServer<AccessService>>()
            .await;
    }
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
    // Bounds for strangers: calls per connection, time per call, HTTP/2 streams, and dead
    // peers found by keep-alive pings.
    let mut server = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(MAX_CALLS_PER_CONNECTION)
        .max_concurrent_streams(Some(u32::try_from(MAX_CALLS_PER_CONNECTION).unwrap_or(64)))
        .timeout(CALL_TIMEOUT)
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(identity) = tls {
        // As the HTTPS and MQTT listeners: a client that never finishes its handshake is
        // dropped instead of holding a task and a socket.
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(identity)
            .timeout(std::time::Duration::from_secs(10));
        server = server.tls_config(tls)?;
    }
    let read_gate_admin = writes.as_ref().map(|w| w.admin_token.clone());
    let mut router = server.add_service(health).add_service(
        gate::ReadGate::new(
            pb::ledger_server::LedgerServer::new(
                LedgerService::new(ledger.clone()).whole_entries(publish.whole_entries),
            ),
            ledger.clone(),
            read_gate_admin,
        )
        .anonymous(publish.anonymous),
    );
    if let Some(writes) = writes {
        let registrar = Registrar::new(ledger.clone(), writes.ingest.clone());
        let admin = AdminOnly(writes.admin_token.clone());
        router = router
            .add_service(pb::submission_server::SubmissionServer::with_interceptor(
                SubmissionService {
                    writes: writes.clone(),
                },
                admin.clone(),
            ))
            .add_service(pb::access_server::AccessServer::with_interceptor(
                AccessService::new(ledger.clone(), writes.admin_token.clone()),
                admin.clone(),
            ))
            .add_service(pb::registry_server::RegistryServer::with_interceptor(
                RegistryService { writes, registrar },
                admin,
            ));
    }
    if let Ok(r) = reflection {
        router = router.add_service(r);
    }
    if let Ok(r) = reflection_alpha {
        router = router.add_service(r);
    }
    use tokio_stream::StreamExt as _;
    let (cut_tx, cut_rx) = tokio::sync::watch::channel(false);
    let places =
        provenance_ingest::limits::Places::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).filter_map(
        move |conn| match conn {
            Ok(io) => {
                let ip = io.peer_addr().ok().map(|a| a.ip());
                // Full: the connection is dropped (closed) at once.
                let Some(place) = places.take(ip) else {
                    metrics::counter!("provenance_grpc_refused_total").increment(1);
                    return None;
                };
                Some(Ok(Cuttable::new(io, cut_rx.clone(), place)))
            }
            Err(e) => Some(Err(e)),
        },
    );
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let serving = router.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    });
    tokio::pin!(serving, shutdown);
    tokio::select! {
        r = &mut serving => return r,
        () = &mut shutdown => {}
    }
    let _ = stop_tx.send(true);
    if let Ok(r) = tokio::time::timeout(SHUTDOWN_GRACE, &mut serving).await {
        return r;
    }
    tracing::warn!(
        "gRPC calls still open {} s after the stop; closing their connections",
        SHUTDOWN_GRACE.as_secs()
    );
    let _ = cut_tx.send(true);
    serving.await
}
