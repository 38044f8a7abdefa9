//! Mutual TLS between Secret Sharer's services, with identities that a Linkerd mesh shares.
//!
//! A workload's identity is a DNS name in its certificate's subject alternative names, in the
//! form Linkerd gives meshed pods:
//! `<serviceaccount>.<namespace>.serviceaccount.identity.linkerd.cluster.local`. Servers admit
//! only clients on their allow-list; clients check that the server has the identity they meant
//! to reach. Certificates, keys and the CA bundle are read from files and re-read when they
//! change, without a restart and without dropping connections. In mesh mode the services speak
//! plaintext and leave mTLS to the mesh's proxy.

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod dev_certs;
pub mod error;
pub mod identity;
mod material;
mod reloading;
pub mod server;

pub use config::{ClientTlsArgs, ServerTlsArgs, TlsFiles, TlsMode};
pub use error::TlsError;
pub use identity::linkerd_identity;

/// The one crypto provider for every TLS configuration of the services (aws-lc, which the
/// Azure SDK brings too), chosen explicitly so no process-wide default is needed.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The CA certificates in a PEM bundle, or `None` if it holds none or anything unreadable.
pub fn root_store_from_pem(pem: &[u8]) -> Option<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        roots.add(certificate.ok()?).ok()?;
    }
    (!roots.is_empty()).then_some(roots)
}
