//! How storage opens a PostgreSQL connection: the password re-read from a file at each new
//! connection (a rotated Key Vault CSI mount is picked up without a restart), and TLS with full
//! certificate and host-name verification when the URL says `sslmode=require`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use deadpool_postgres::Connect;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

use crate::StorageError;
use crate::postgres::PostgresOptions;

type ConnectFuture<'a> = Pin<
    Box<dyn Future<Output = Result<(Client, JoinHandle<()>), tokio_postgres::Error>> + Send + 'a>,
>;

/// Opens connections for the pool.
pub(crate) struct Connector {
    password_file: Option<PathBuf>,
    tls: Option<MakeRustlsConnect>,
}

impl Connector {
    pub(crate) fn new(
        pg_config: &tokio_postgres::Config,
        options: &PostgresOptions,
    ) -> Result<Self, StorageError> {
        let tls = match pg_config.get_ssl_mode() {
            SslMode::Require => Some(MakeRustlsConnect::new(tls_config(options)?)),
            _ => None,
        };
        Ok(Self {
            password_file: options.password_file.clone(),
            tls,
        })
    }
}

fn tls_config(options: &PostgresOptions) -> Result<rustls::ClientConfig, StorageError> {
    let roots = match &options.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| StorageError::Setup(format!("{}: {e}", path.display())))?;
            sharer_mtls::root_store_from_pem(&pem).ok_or_else(|| {
                StorageError::Setup(format!(
                    "{}: holds no usable CA certificate",
                    path.display()
                ))
            })?
        }
        None => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
    };
    Ok(
        rustls::ClientConfig::builder_with_provider(sharer_mtls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| StorageError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

impl Connect for Connector {
    fn connect(&self, pg_config: &tokio_postgres::Config) -> ConnectFuture<'_> {
        let mut pg_config = pg_config.clone();
        Box::pin(async move {
            if let Some(path) = &self.password_file {
                match tokio::fs::read(path).await {
                    Ok(password) => {
                        let password = Zeroizing::new(password);
                        let end = password
                            .iter()
                            .rposition(|byte| !byte.is_ascii_whitespace())
                            .map_or(0, |last| last + 1);
                        pg_config.password(&password[..end]);
                    }
                    Err(error) => tracing::warn!(
                        path = %path.display(),
                        %error,
                        "cannot read the database password file"
                    ),
                }
            }

            let task = match &self.tls {
                Some(tls) => {
                    let (client, connection) = pg_config.connect(tls.clone()).await?;
                    (client, tokio::spawn(drive(connection)))
                }
                None => {
                    let (client, connection) = pg_config.connect(NoTls).await?;
                    (client, tokio::spawn(drive(connection)))
                }
            };
            Ok(task)
        })
    }
}

async fn drive<F>(connection: F)
where
    F: Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(error) = connection.await {
        tracing::warn!(%error, "database connection closed");
    }
}
