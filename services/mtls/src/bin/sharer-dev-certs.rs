//! `sharer-dev-certs FOLDER`: writes a throwaway CA and one certificate per workload, for
//! `make run`. The CA's private key is never written, so no one can issue more.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let folder = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from(".data/tls"), PathBuf::from);
    match sharer_mtls::dev_certs::write_dev_certificates(&folder) {
        Ok(()) => {
            eprintln!(
                "sharer-dev-certs: wrote a throwaway CA and certificates to {}",
                folder.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sharer-dev-certs: {error}");
            ExitCode::FAILURE
        }
    }
}
