//! Test support: a fresh PostgreSQL schema per test, on the server named by
//! `SHARER_TEST_DATABASE_URL`, else `DATABASE_URL`, else 127.0.0.1:5432.

use std::time::Duration;

use tokio_postgres::NoTls;

use crate::postgres::PostgresOptions;
use crate::{PostgresStore, StorageError};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server tests use.
pub fn test_database_url() -> String {
    std::env::var("SHARER_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A schema of its own for one test; [`TestSchema::drop_schema`] removes it.
#[derive(Debug)]
pub struct TestSchema {
    pub name: String,
    pub url: String,
    admin: tokio_postgres::Client,
}

impl TestSchema {
    /// Creates a uniquely named schema; panics with a clear message when no server answers.
    pub async fn create() -> Self {
        let base_url = test_database_url();
        let (admin, connection) = tokio_postgres::connect(&base_url, NoTls).await.unwrap_or_else(|error| {
            panic!(
                "tests need PostgreSQL: cannot connect to {} ({error}); set SHARER_TEST_DATABASE_URL \
                 or run `make test`, which finds or starts a server",
                redact(&base_url)
            )
        });
        tokio::spawn(connection);

        let mut suffix = [0_u8; 8];
        getrandom::fill(&mut suffix).expect("random");
        let name = format!(
            "test_{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create test schema");

        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-c%20search_path%3D{name}");
        Self { name, url, admin }
    }

    /// A store in this schema.
    pub async fn store(&self, pool_size: usize) -> Result<PostgresStore, StorageError> {
        PostgresStore::connect(&PostgresOptions {
            url: self.url.clone(),
            password_file: None,
            ca_file: None,
            pool_size,
            connect_timeout: Duration::from_secs(5),
        })
        .await
    }

    /// Runs SQL in this schema, for tests that inspect rows.
    pub fn admin(&self) -> &tokio_postgres::Client {
        &self.admin
    }

    pub async fn drop_schema(self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await;
    }
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_and_user, host)) => match scheme_and_user.rsplit_once(':') {
            Some((before, _password)) if before.contains("//") => format!("{before}:***@{host}"),
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
