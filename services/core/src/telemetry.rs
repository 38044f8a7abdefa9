//! Logging set-up shared by every binary: `RUST_LOG` filters, `SHARER_LOG_FORMAT=json` switches
//! to one JSON object per line for log collectors.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("SHARER_LOG_FORMAT").is_ok_and(|format| format == "json");

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
