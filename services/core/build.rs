//! Compiles `proto/` into Rust with a pure-Rust protobuf compiler, so no `protoc` is needed.

use std::path::PathBuf;

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const PROTO_FILES: &[&str] = &[
    "sharer/v1/secret_service.proto",
    "sharer/crypto/v1/crypto_service.proto",
    "sharer/storage/v1/storage_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let file_descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("sharer_descriptor.bin"),
        file_descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure().compile_fds(file_descriptors)?;
    Ok(())
}
