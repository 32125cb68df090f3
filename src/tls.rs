//! TLS for the server's listeners (`serve --tls-cert FILE --tls-key FILE`): one certificate for
//! the web view and HTTP API, the gRPC API and the devices' MQTT port, and the `--cacert` trust
//! root the command-line clients use to reach such a server.
//!
//! Handshakes run in their own tasks, so a client that opens a connection and says nothing
//! holds up nobody else; one that takes longer than [`HANDSHAKE_TIMEOUT`] is dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files of `--tls-cert` and `--tls-key`, read and checked once at start.
#[derive(Clone)]
pub struct Identity {
    /// The certificate chain, leaf first, as PEM.
    pub cert_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1) as PEM.
    pub key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl Identity {
    /// Reads and checks the certificate chain and key, with errors that say what to fix.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let cert_pem = std::fs::read(cert)
            .with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
        let key_pem =
            std::fs::read(key).with_context(|| format!("reading the TLS key {}", key.display()))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
        if chain.is_empty() {
            bail!(
                "{} holds no certificate (expected \"-----BEGIN CERTIFICATE-----\" blocks, the \
                 server's own first)",
                cert.display()
            );
        }
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).with_context(|| {
            format!(
                "{} holds no private key in PEM (PKCS#8, RSA or EC); it must be the key of {}",
                key.display(),
                cert.display()
            )
        })?;
        let identity = Self {
            cert_pem,
            key_pem,
            chain,
            key: Arc::new(key_der),
        };
        // Fails here, not at the first client, when the key does not match the certificate.
        identity.server_config(&[])?;
        Ok(identity)
    }

    /// A rustls server configuration offering these ALPN protocols.
    fn server_config(&self, alpn: &[&[u8]]) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .context("the TLS key does not fit the certificate (or is of a kind rustls refuses)")?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// A listener that yields connections whose TLS handshake has finished: for `axum::serve` and
/// for the MQTT gate.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp`, offering `alpn` (e.g. `h2` and `http/1.1` for the web; none for MQTT).
    pub fn new(tcp: TcpListener, identity: &Identity, alpn: &[&[u8]]) -> anyhow::Result<Self> {
        let acceptor = tokio_rustls::TlsAcceptor::from(identity.server_config(alpn)?);
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, %local, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("provenance_tls_handshake_failed_total").increment(1);
                            tracing::info!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            metrics::counter!("provenance_tls_handshake_failed_total").increment(1);
                            tracing::info!(%peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }

    /// The next connection with a finished handshake (pending forever once the listener is gone).
    pub async fn next(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.next().await
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// What the pages need to know of a request that came over our own TLS: links they print
/// (the Digital Link in a QR code) must say `https`, and HTTP/2 clients send the host as
/// `:authority` (in the URI), not as a `Host` header.
pub async fn as_served_over_tls(mut req: axum::extract::Request) -> axum::extract::Request {
    use axum::http::{HeaderValue, header};
    req.headers_mut()
        .insert("x-forwarded-proto", HeaderValue::from_static("https"));
    if !req.headers().contains_key(header::HOST) {
        if let Some(host) = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(header::HOST, host);
        }
    }
    req
}

/// `--cacert`: trust this certificate (PEM) for an `https://` server, besides nothing else.
#[derive(clap::Args, Clone, Default)]
pub struct ClientTls {
    /// A PEM certificate to trust for an https:// --server (the server's own self-signed
    /// certificate, or the CA that issued it).
    #[arg(long, value_name = "FILE", env = "PROVENANCE_CACERT")]
    pub cacert: Option<PathBuf>,
}

impl ClientTls {
    /// An HTTP client that trusts `--cacert` (and, for plain http://, needs nothing).
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(path) = &self.cacert {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading --cacert {}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().context("building the HTTP client")
    }
}

/// rustls needs one process-wide choice of cryptography; ours is aws-lc-rs, as tonic's.
pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
