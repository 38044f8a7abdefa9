//! Throwaway certificates for development runs and tests: a CA made at start whose private key
//! never touches disk, and one certificate per workload with its Linkerd-style identity.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use zeroize::Zeroizing;

use crate::TlsError;
use crate::identity::{NAMESPACE, linkerd_identity};

/// The workloads that take part in mutual TLS.
pub const WORKLOADS: [&str; 3] = ["gateway", "crypto", "storage"];

/// A certificate authority that lives only in memory.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevCa(..)")
    }
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate").finish_non_exhaustive()
    }
}

impl DevCa {
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Secret Sharer {name} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(generate_error)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(generate_error)?;
        Ok(Self { issuer })
    }

    pub fn certificate_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `identity`, valid from a day ago for a year.
    pub fn issue(&self, identity: &str) -> Result<IssuedCertificate, TlsError> {
        let now = time_now();
        self.issue_valid(identity, now - 86_400, now + 365 * 86_400)
    }

    /// A certificate for `identity` valid between two Unix times (tests make expired ones).
    pub fn issue_valid(
        &self,
        identity: &str,
        not_before_unix: i64,
        not_after_unix: i64,
    ) -> Result<IssuedCertificate, TlsError> {
        let mut params =
            CertificateParams::new(vec![identity.to_owned()]).map_err(generate_error)?;
        params.distinguished_name.push(DnType::CommonName, identity);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = unix_to_offset(not_before_unix)?;
        params.not_after = unix_to_offset(not_after_unix)?;

        let key = KeyPair::generate().map_err(generate_error)?;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(generate_error)?;
        Ok(IssuedCertificate {
            certificate_pem: certificate.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }
}

impl IssuedCertificate {
    pub fn certificate_der(&self) -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(self.certificate_pem.as_bytes())
            .unwrap_or_else(|_| CertificateDer::from(Vec::new()))
    }

    /// Writes `<stem>.pem` and `<stem>.key` (mode 0600) into `folder`, replacing each file
    /// atomically so a reader never sees half of one.
    pub fn write(&self, folder: &Path, stem: &str) -> Result<(), TlsError> {
        write_atomically(
            &folder.join(format!("{stem}.pem")),
            self.certificate_pem.as_bytes(),
        )?;
        write_atomically(&folder.join(format!("{stem}.key")), self.key_pem.as_bytes())
    }
}

/// Makes a fresh CA and a certificate for every workload in `folder`: `ca.pem`, and
/// `<workload>.pem` + `<workload>.key`. The CA's key is discarded.
pub fn write_dev_certificates(folder: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(folder).map_err(|e| read_error(folder, &e))?;
    let ca = DevCa::new("development")?;
    write_atomically(&folder.join("ca.pem"), ca.certificate_pem().as_bytes())?;
    for workload in WORKLOADS {
        ca.issue(&linkerd_identity(workload, NAMESPACE))?
            .write(folder, workload)?;
    }
    Ok(())
}

/// Writes through a temporary file and a rename; the file is private to its owner.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;

    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .map_err(|e| read_error(&temporary, &e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| read_error(&temporary, &e))?;
    std::fs::rename(&temporary, path).map_err(|e| read_error(path, &e))
}

fn read_error(path: &Path, error: &std::io::Error) -> TlsError {
    TlsError::Read {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

fn generate_error(error: rcgen::Error) -> TlsError {
    TlsError::Generate(error.to_string())
}

fn time_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    })
}

fn unix_to_offset(unix: i64) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| TlsError::Generate(e.to_string()))
}
