//! Generated bindings for every package in `proto/`, re-exported under short names.

#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]

/// The public API that browsers and gRPC clients call on the gateway.
pub mod sharer {
    pub mod v1 {
        tonic::include_proto!("sharer.v1");
    }

    /// The internal crypto service.
    pub mod crypto {
        pub mod v1 {
            tonic::include_proto!("sharer.crypto.v1");
        }
    }

    /// The internal storage service.
    pub mod storage {
        pub mod v1 {
            tonic::include_proto!("sharer.storage.v1");
        }
    }
}

pub use sharer::crypto::v1 as crypto;
pub use sharer::storage::v1 as storage;
pub use sharer::v1 as public;

/// Encoded descriptors of the public API, for the gateway's gRPC server reflection.
pub const PUBLIC_FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("public_descriptor");
/// Encoded descriptors of the crypto API, for crypto's reflection.
pub const CRYPTO_FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("crypto_descriptor");
/// Encoded descriptors of the storage API, for storage's reflection.
pub const STORAGE_FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("storage_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    fn services_in(descriptor_set: &[u8]) -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(descriptor_set).expect("decodes");
        set.file
            .iter()
            .flat_map(|file| {
                let package = file.package().to_owned();
                file.service
                    .iter()
                    .map(move |s| format!("{package}.{}", s.name()))
            })
            .collect()
    }

    #[test]
    fn each_descriptor_set_names_its_own_service_only() {
        assert_eq!(
            services_in(super::PUBLIC_FILE_DESCRIPTOR_SET),
            ["sharer.v1.SecretService"]
        );
        assert_eq!(
            services_in(super::CRYPTO_FILE_DESCRIPTOR_SET),
            ["sharer.crypto.v1.CryptoService"]
        );
        assert_eq!(
            services_in(super::STORAGE_FILE_DESCRIPTOR_SET),
            ["sharer.storage.v1.StorageService"]
        );
    }
}
