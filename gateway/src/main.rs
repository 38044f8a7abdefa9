//! `sharer-gateway`: parses configuration, serves until signalled.

use std::process::ExitCode;

use clap::Parser;
use sharer_core::process::BoxError;
use sharer_gateway::Config;

/// mimalloc: measurably fewer cycles per call than the system allocator under many small
/// allocations (protobuf, HTTP/2 frames).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    sharer_core::telemetry::init();
    let config = Config::parse();
    sharer_core::process::exit_code("gateway", run(config).await)
}

async fn run(config: Config) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    sharer_gateway::server::serve(listener, &config, sharer_core::shutdown::requested()).await
}
