//! Reading a workload's certificate, key and CA bundle from PEM files.

use std::path::Path;
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::{TlsError, TlsFiles};

/// What one reading of the files gave.
pub(crate) struct Material {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) roots: RootCertStore,
    /// What the three files looked like on disk when read, to notice when any changes.
    pub(crate) fingerprint: Fingerprint,
}

impl Material {
    pub(crate) async fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        // Taken before reading: a change made while we read shows up at the next comparison.
        let fingerprint = Fingerprint::of(files).await?;
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
        let roots = crate::root_store_from_pem(&ca_pem)
            .ok_or_else(|| pem_error(&files.ca, "CA certificate"))?;

        Ok(Self {
            chain,
            key,
            roots,
            fingerprint,
        })
    }
}

/// Size, modification time and inode of each file: compared every second, so the files
/// themselves (the private key among them) are read only when they change. Following
/// symlinks, it also sees Kubernetes' atomic swaps of projected volumes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([(u64, Option<SystemTime>, u64); 3]);

impl Fingerprint {
    pub(crate) async fn of(files: &TlsFiles) -> Result<Self, TlsError> {
        let mut parts = [(0, None, 0); 3];
        for (part, path) in parts
            .iter_mut()
            .zip([&files.certificate, &files.key, &files.ca])
        {
            let metadata = tokio::fs::metadata(path)
                .await
                .map_err(|error| TlsError::Read {
                    path: path.display().to_string(),
                    reason: error.to_string(),
                })?;
            *part = (metadata.len(), metadata.modified().ok(), inode(&metadata));
        }
        Ok(Self(parts))
    }
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
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
