//! A private primary and its hot standby, for the tests of reads on replicas
//! and of failover.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use eventblocks_postgres::testing::{PrivateServer, Replication};
use eventblocks_postgres::{PostgresAdapter, PostgresAdapterBuilder};
use tokio_postgres::Client;

/// A primary and one standby of it, each a private server.
pub struct Pair {
    pub primary: Arc<PrivateServer>,
    pub standby: Arc<PrivateServer>,
}

impl Pair {
    /// Starts a primary, migrates the event store's schema on it, and makes
    /// a standby of it.
    pub async fn start(replication: Replication) -> Self {
        let primary = tokio::task::spawn_blocking(PrivateServer::start)
            .await
            .unwrap()
            .expect("a private primary");
        PostgresAdapter::connect(primary.url())
            .unwrap()
            .migrate()
            .await
            .unwrap();
        let primary = Arc::new(primary);
        let standby = tokio::task::spawn_blocking({
            let primary = primary.clone();
            move || primary.start_standby(replication)
        })
        .await
        .unwrap()
        .expect("a standby");
        Self {
            primary,
            standby: Arc::new(standby),
        }
    }

    /// A builder writing to the primary, with the standby as its replica.
    pub fn builder(&self) -> PostgresAdapterBuilder {
        PostgresAdapter::builder()
            .url(self.primary.url())
            .replica_url(self.standby.url())
            .pool_size(24)
            .horizon_wait(Duration::from_secs(5))
    }

    /// A URL naming both servers, that connects to whichever takes writes.
    pub fn failover_url(&self) -> String {
        format!(
            "postgres://postgres@{},{}/postgres?target_session_attrs=read-write",
            self.primary.address(),
            self.standby.address()
        )
    }

    /// Runs `change` on a blocking thread (the server programs block).
    pub async fn on_server(
        server: &Arc<PrivateServer>,
        change: impl FnOnce(&PrivateServer) -> std::io::Result<()> + Send + 'static,
    ) {
        let server = server.clone();
        tokio::task::spawn_blocking(move || change(&server))
            .await
            .unwrap()
            .expect("the server change");
    }
}

/// A plain client of `server`.
pub async fn client(server: &PrivateServer) -> Client {
    let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// Opens a transaction on `server` that takes a sequence number for one event
/// of `category`/`stream` and stays open until the caller commits it: a later
/// number will commit first.
pub async fn write_in_flight(
    server: &PrivateServer,
    category: &str,
    stream: &str,
) -> (Client, u64) {
    let client = client(server).await;
    client.batch_execute("BEGIN").await.unwrap();
    let row = client
        .query_one(
            "INSERT INTO eventblocks.events
                 (sequence_number, id, category, stream, position, name, payload, metadata,
                  occurred_at, observed_at, tags)
             VALUES (eventblocks.events_allocate(1), gen_random_uuid(), $1, $2, 0, 'slow',
                     '{}', '{}', now(), now(), '{}')
             RETURNING sequence_number",
            &[&category, &stream],
        )
        .await
        .unwrap();
    let number: i64 = row.get(0);
    (client, u64::try_from(number).unwrap())
}
