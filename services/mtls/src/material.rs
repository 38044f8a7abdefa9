//! Reading a workload's certificate, key and CA bundle from PEM files.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{TlsError, TlsFiles};

/// What one reading of the files gave.
pub(crate) struct Material {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) roots: RootCertStore,
    /// A digest of all three files, to notice when any of them changes.
    pub(crate) fingerprint: [u8; 32],
}

impl Material {
    pub(crate) async fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        let chain_pem = read(&files.certificate).await?;
        let key_pem = Zeroizing::new(read(&files.key).await?);
        let ca_pem = read(&files.ca).await?;

        let chain = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|chain| !chain.is_empty())
            .ok_or_else(|| pem_error(&files.certificate, "certificate"))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|_| pem_error(&files.key, "private key"))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&ca_pem) {
            let ca = ca.map_err(|_| pem_error(&files.ca, "CA certificate"))?;
            roots
                .add(ca)
                .map_err(|_| pem_error(&files.ca, "CA certificate"))?;
        }
        if roots.is_empty() {
            return Err(pem_error(&files.ca, "CA certificate"));
        }

        let fingerprint = fingerprint(&chain_pem, &key_pem, &ca_pem);
        Ok(Self {
            chain,
            key,
            roots,
            fingerprint,
        })
    }

    /// The digest of the files as they are now, without parsing them.
    pub(crate) async fn current_fingerprint(files: &TlsFiles) -> Result<[u8; 32], TlsError> {
        let chain_pem = read(&files.certificate).await?;
        let key_pem = Zeroizing::new(read(&files.key).await?);
        let ca_pem = read(&files.ca).await?;
        Ok(fingerprint(&chain_pem, &key_pem, &ca_pem))
    }
}

fn fingerprint(chain: &[u8], key: &[u8], ca: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [chain, key, ca] {
        digest.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        digest.update(part);
    }
    digest.finalize().into()
}

async fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path).await.map_err(|error| TlsError::Read {
        path: path.display().to_string(),
        reason: error.to_string(),
    })
}

fn pem_error(path: &Path, what: &'static str) -> TlsError {
    TlsError::Pem {
        path: path.display().to_string(),
        what,
    }
}
