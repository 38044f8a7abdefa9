//! A load generator for a running system: concurrent create + reveal pairs over gRPC against
//! the gateway, for a fixed time; prints pairs per second and latency percentiles.
//!
//! `cargo run --release -p sharer-gateway --example load -- --url http://127.0.0.1:8080`

use std::time::{Duration, Instant};

use clap::Parser;
use sharer_core::proto::public::secret_service_client::SecretServiceClient;
use sharer_core::proto::public::{CreateSecretRequest, RevealSecretRequest};
use tonic::transport::Channel;

#[derive(Debug, Parser)]
struct Options {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Pairs in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections to spread them over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Bytes of content per secret.
    #[arg(long, default_value_t = 64)]
    size: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let mut clients = Vec::new();
    for _ in 0..options.connections.max(1) {
        let channel = Channel::from_shared(options.url.clone())?.connect().await?;
        clients.push(SecretServiceClient::new(channel));
    }

    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let workers = (0..options.concurrency).map(|worker| {
        let mut client = clients[worker % clients.len()].clone();
        let content = vec![b'x'; options.size.max(1)];
        tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0_u64);
            while Instant::now() < deadline {
                let started = Instant::now();
                let request = CreateSecretRequest {
                    content: content.clone(),
                    ttl: None,
                };
                let outcome = match client.create_secret(request).await {
                    Ok(created) => {
                        let id = created.into_inner().id;
                        client
                            .reveal_secret(RevealSecretRequest { id })
                            .await
                            .map(|_| ())
                    }
                    Err(status) => Err(status),
                };
                match outcome {
                    Ok(()) => latencies.push(started.elapsed()),
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        })
    });

    let started = Instant::now();
    let (mut latencies, mut failures) = (Vec::new(), 0);
    for worker in futures::future::join_all(workers).await {
        let (worker_latencies, worker_failures) = worker?;
        latencies.extend(worker_latencies);
        failures += worker_failures;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();

    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "pairs={} failures={failures} seconds={elapsed:.1} pairs_per_second={:.0} \
         p50_ms={:.2} p99_ms={:.2} max_ms={:.2} concurrency={} connections={} size={}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        percentile(1.0),
        options.concurrency,
        options.connections,
        options.size,
    );
    Ok(())
}
