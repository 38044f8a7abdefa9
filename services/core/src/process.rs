//! What every binary's `main` ends with: success, or one error line naming the service.

use std::process::ExitCode;

/// Any error a service's start-up or serving can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns how a service ended into the process's exit code, logging a failure once.
pub fn exit_code(service: &'static str, outcome: Result<(), BoxError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(service, %error, "service failed");
            ExitCode::FAILURE
        }
    }
}
