//! A TLS configuration rebuilt whenever its files change on disk. New handshakes take the new
//! configuration; connections already open keep theirs.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::material::{Fingerprint, Material};
use crate::{TlsError, TlsFiles};

/// How often the files are compared with what was loaded.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The current configuration built from the files.
#[derive(Debug)]
pub(crate) struct Reloading<T> {
    current: Arc<RwLock<Arc<T>>>,
}

impl<T> Clone for Reloading<T> {
    fn clone(&self) -> Self {
        Self {
            current: Arc::clone(&self.current),
        }
    }
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Builds the first configuration (an error here stops start-up), then watches the files
    /// for as long as the returned value or a clone of it lives.
    pub(crate) async fn start(
        files: TlsFiles,
        build: impl Fn(Material) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let material = Material::read(&files).await?;
        let mut loaded = material.fingerprint;
        let current = Arc::new(RwLock::new(Arc::new(build(material)?)));

        let watched = Arc::downgrade(&current);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(RELOAD_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(current) = watched.upgrade() else {
                    return;
                };
                match Fingerprint::of(&files).await {
                    Ok(fingerprint) if fingerprint == loaded => continue,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "cannot re-read TLS files; keeping the loaded ones");
                        continue;
                    }
                }
                match Material::read(&files).await.and_then(|material| {
                    let fingerprint = material.fingerprint;
                    build(material).map(|config| (config, fingerprint))
                }) {
                    Ok((config, fingerprint)) => {
                        if let Ok(mut slot) = current.write() {
                            *slot = Arc::new(config);
                        }
                        loaded = fingerprint;
                        tracing::info!(certificate = %files.certificate.display(), "reloaded TLS files");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "changed TLS files are not usable yet; keeping the loaded ones");
                    }
                }
            }
        });
        Ok(Self { current })
    }

    pub(crate) fn current(&self) -> Arc<T> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}
