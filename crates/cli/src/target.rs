//! The store a command works on: a PostgreSQL schema or a SQLite file.

use std::path::PathBuf;
use std::process::ExitCode;

use eventblocks_core::EventStore;
use eventblocks_postgres::deadpool_postgres::Object;
use eventblocks_postgres::PostgresAdapter;
use eventblocks_sqlite::rusqlite::{Connection, OpenFlags};
use eventblocks_sqlite::SqliteAdapter;

use crate::failure::{Failure, OrFail};

pub(crate) enum Backend {
    Postgres {
        adapter: PostgresAdapter,
        /// The schema, checked by the adapter (letters, digits, `_`).
        schema: String,
    },
    Sqlite {
        adapter: SqliteAdapter,
        path: PathBuf,
    },
}

pub(crate) struct Target {
    pub(crate) store: EventStore,
    pub(crate) backend: Backend,
}

impl Target {
    /// Opens `address`. A SQLite file must exist unless `creates` (for
    /// `migrate`): a mistyped path is an error, not a new empty store.
    pub(crate) async fn open(address: &str, schema: &str, creates: bool) -> Result<Self, Failure> {
        if address.starts_with("postgres://") || address.starts_with("postgresql://") {
            return Self::postgres(address, schema);
        }
        if let Some((scheme, _)) = address.split_once("://") {
            return Err(Failure::usage(format!(
                "unsupported store address scheme {scheme:?}: use postgres://… for PostgreSQL, or sqlite:path or a file path for SQLite"
            )));
        }
        let path = PathBuf::from(address.strip_prefix("sqlite:").unwrap_or(address));
        Self::sqlite(path, creates).await
    }

    fn postgres(url: &str, schema: &str) -> Result<Self, Failure> {
        let adapter = PostgresAdapter::builder()
            .url(url)
            .schema(schema)
            .pool_size(4)
            .build()
            .map_err(|error| {
                Failure::usage(format!(
                    "the PostgreSQL store address or schema is not valid: {error}"
                ))
            })?;
        Ok(Self {
            store: EventStore::new(adapter.clone()),
            backend: Backend::Postgres {
                adapter,
                schema: schema.to_owned(),
            },
        })
    }

    async fn sqlite(path: PathBuf, creates: bool) -> Result<Self, Failure> {
        if path.as_os_str().is_empty() {
            return Err(Failure::usage("the SQLite store address names no file"));
        }
        if !creates && !path.is_file() {
            return Err(Failure::usage(format!(
                "no SQLite store at {}: check the path, or create one with `eventblocks --store {} migrate`",
                path.display(),
                path.display()
            )));
        }
        let adapter = SqliteAdapter::open(&path)
            .await
            .map_err(|error| Failure::usage(format!("cannot open the SQLite store: {error}")))?;
        Ok(Self {
            store: EventStore::new(adapter.clone()),
            backend: Backend::Sqlite { adapter, path },
        })
    }

    pub(crate) async fn migrate(&self) -> Result<ExitCode, Failure> {
        let applied = match &self.backend {
            Backend::Postgres { adapter, .. } => adapter.migrate().await,
            Backend::Sqlite { adapter, .. } => adapter.migrate().await,
        }
        .or_fail("migrating the schema")?;
        let mut out = crate::output::Out::new();
        out.line(&format!("migrated: {applied} migration(s) applied"))?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }

    /// A PostgreSQL connection from the adapter's pool.
    pub(crate) async fn postgres_client(adapter: &PostgresAdapter) -> Result<Object, Failure> {
        adapter.pool().get().await.map_err(|error| {
            Failure::failed(format!(
                "connecting to PostgreSQL failed: {error}; check that the server is running and the URL is right"
            ))
        })
    }

    /// A read-only connection to the SQLite file.
    pub(crate) fn sqlite_reader(path: &PathBuf) -> Result<Connection, Failure> {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| Failure::failed(format!("reading {} failed: {error}", path.display())))
    }
}

/// A PostgreSQL failure of `what`, on one line.
pub(crate) fn pg_failed(
    what: &str,
) -> impl Fn(eventblocks_postgres::tokio_postgres::Error) -> Failure + '_ {
    move |error| {
        let detail = match error.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => error.to_string(),
        };
        let hint = if detail.contains("does not exist") {
            "; run `eventblocks migrate` against this store first"
        } else {
            ""
        };
        Failure::failed(format!("{what} failed: {detail}{hint}"))
    }
}

/// A SQLite failure of `what`, on one line.
pub(crate) fn sqlite_failed(
    what: &str,
) -> impl Fn(eventblocks_sqlite::rusqlite::Error) -> Failure + '_ {
    move |error| {
        let detail = error.to_string();
        let hint = if detail.contains("no such table") {
            "; run `eventblocks migrate` against this store first"
        } else {
            ""
        };
        Failure::failed(format!("{what} failed: {detail}{hint}"))
    }
}
