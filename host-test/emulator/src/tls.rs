//! `--tls`: the emulator over HTTPS, with a throwaway CA it makes at start
//! (certificate for `localhost` and 127.0.0.1), so the end-to-end tests run
//! the host's real TLS path with a private CA. A plain-HTTP request to the
//! TLS port gets no answer: the handshake fails and the connection closes.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The CA (PEM, for the client's trust) and the server's TLS configuration.
pub struct Tls {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

impl Tls {
    pub fn generate() -> Result<Tls, String> {
        let failed = |e: rcgen::Error| format!("cannot make the emulator's TLS certificates: {e}");
        let ca_key = KeyPair::generate().map_err(failed)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "sentinel-emulator throwaway CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
        let leaf_key = KeyPair::generate().map_err(failed)?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).map_err(failed)?;
        leaf.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().map_err(|_| "127.0.0.1".to_owned())?));
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(failed)?;
        let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(|e| e.to_string())?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
            .map_err(|e| e.to_string())?;
        Ok(Tls { ca_pem: ca_cert.pem(), acceptor: TlsAcceptor::from(Arc::new(config)) })
    }
}

/// A listener whose connections are TLS: axum serves it as it serves TCP.
pub struct TlsListener {
    pub tcp: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else { continue };
            // A failed handshake (plain HTTP, an untrusting client) closes that connection only.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
