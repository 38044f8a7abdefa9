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

/// Encoded descriptors of all our protos, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sharer_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    #[test]
    fn descriptor_set_decodes_and_names_every_service() {
        let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let services: Vec<String> = set
            .file
            .iter()
            .flat_map(|file| {
                let package = file.package().to_owned();
                file.service
                    .iter()
                    .map(move |s| format!("{package}.{}", s.name()))
            })
            .collect();

        assert!(services.contains(&"sharer.v1.SecretService".to_owned()));
        assert!(services.contains(&"sharer.crypto.v1.CryptoService".to_owned()));
        assert!(services.contains(&"sharer.storage.v1.StorageService".to_owned()));
    }
}
