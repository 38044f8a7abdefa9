//! Workload identities: Linkerd-style DNS names carried in certificates.

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The namespace the services run in.
pub const NAMESPACE: &str = "sharer";

/// The identity Linkerd gives pods of `service_account` in `namespace`.
pub fn linkerd_identity(service_account: &str, namespace: &str) -> String {
    format!("{service_account}.{namespace}.serviceaccount.identity.linkerd.cluster.local")
}

/// The gateway's identity in the default namespace: what crypto and storage admit by default.
pub const GATEWAY_IDENTITY: &str = "gateway.sharer.serviceaccount.identity.linkerd.cluster.local";
/// The identity crypto's certificate proves in the default namespace.
pub const CRYPTO_IDENTITY: &str = "crypto.sharer.serviceaccount.identity.linkerd.cluster.local";
/// The identity storage's certificate proves in the default namespace.
pub const STORAGE_IDENTITY: &str = "storage.sharer.serviceaccount.identity.linkerd.cluster.local";

/// The DNS names in a certificate's subject alternative names: the identities it proves.
pub fn dns_names(certificate: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = X509Certificate::from_der(certificate.as_ref()) else {
        return Vec::new();
    };
    let Ok(Some(names)) = parsed.subject_alternative_name() else {
        return Vec::new();
    };
    names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_follow_linkerds_form() {
        assert_eq!(
            linkerd_identity("gateway", "sharer"),
            "gateway.sharer.serviceaccount.identity.linkerd.cluster.local"
        );
        assert_eq!(GATEWAY_IDENTITY, linkerd_identity("gateway", NAMESPACE));
        assert_eq!(CRYPTO_IDENTITY, linkerd_identity("crypto", NAMESPACE));
        assert_eq!(STORAGE_IDENTITY, linkerd_identity("storage", NAMESPACE));
    }

    #[test]
    fn dns_names_come_from_the_certificate() {
        let ca = crate::dev_certs::DevCa::new("test").expect("ca");
        let issued = ca
            .issue(&linkerd_identity("crypto", "sharer"))
            .expect("issue");
        let der = issued.certificate_der();

        assert_eq!(dns_names(&der), vec![linkerd_identity("crypto", "sharer")]);
        assert!(dns_names(&CertificateDer::from(vec![1, 2, 3])).is_empty());
    }
}
