//! Compiles `proto/` into Rust with a pure-Rust protobuf compiler, so no `protoc` is needed.

use std::path::PathBuf;

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const PROTO_FILES: &[&str] = &[
    "sharer/v1/secret_service.proto",
    "sharer/crypto/v1/crypto_service.proto",
    "sharer/storage/v1/storage_service.proto",
];

const DESCRIPTOR_NAMES: [&str; 3] = [
    "public_descriptor",
    "crypto_descriptor",
    "storage_descriptor",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let file_descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    // One descriptor set per service, so each server's reflection shows its own API only.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    for (file, descriptor) in PROTO_FILES.iter().zip(DESCRIPTOR_NAMES) {
        let one_service = protox::compile([file], [PROTO_ROOT])?;
        std::fs::write(
            out_dir.join(format!("{descriptor}.bin")),
            one_service.encode_to_vec(),
        )?;
    }

    tonic_prost_build::configure().compile_fds(file_descriptors)?;
    Ok(())
}
