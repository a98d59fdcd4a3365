//! Sorting projections by similarity on PostgreSQL: `pg_trgm` reads every
//! character as the in-memory store does; `migrate()` installs the extension
//! where the role may, migrates everything else where it may not, and a
//! similarity search then says how to enable it; a database whose `LC_CTYPE`
//! is C refuses similarity sorts rather than order otherwise.

mod common;

use eventblocks_core::{Error, EventStore, NewEvent, StreamIdentifier, WriteCondition};
use eventblocks_postgres::deadpool_postgres::{
    self, Manager, ManagerConfig, Pool, RecyclingMethod,
};
use eventblocks_postgres::testing::PrivateServer;
use eventblocks_postgres::{PostgresAdapter, PostgresProjectionStore};
use eventblocks_projection::query::{similarity, Field, Search, Sort};
use eventblocks_projection::{Projection, ProjectionStore};
use serde_json::json;

/// Every character PostgreSQL's `pg_trgm` takes for part of a word (through
/// the function `migrate()` writes), and only those, is one for the in-memory
/// similarity, lower-cased alike: all 1,114,111 of them, against this server.
#[tokio::test]
async fn every_character_is_read_as_the_server_reads_it() {
    let test = common::adapter().await;
    let client = test.adapter.pool().get().await.unwrap();
    let function = format!("\"{}\".events_similarity", test.schema);
    let rows = client
        .query(
            &format!(
                "SELECT c, lower(chr(c)) FROM generate_series(1, 1114111) AS c
                  WHERE c NOT BETWEEN 55296 AND 57343 AND {function}(chr(c), chr(c)) > 0"
            ),
            &[],
        )
        .await
        .unwrap();
    let server: Vec<(u32, String)> = rows
        .iter()
        .map(|row| (u32::try_from(row.get::<_, i32>(0)).unwrap(), row.get(1)))
        .collect();
    let memory: Vec<u32> = (1..=0x10_FFFF_u32)
        .filter_map(char::from_u32)
        .filter(|c| similarity(&c.to_string(), &c.to_string()) > 0.0)
        .map(u32::from)
        .collect();
    let on_server: Vec<u32> = server.iter().map(|(c, _)| *c).collect();
    let differ: Vec<String> = symmetric_difference(&on_server, &memory)
        .take(10)
        .map(|c| format!("U+{c:04X}"))
        .collect();
    assert!(
        differ.is_empty(),
        "letters and digits differ from the server's (first ones: {differ:?})"
    );
    let lowered_otherwise: Vec<String> = server
        .iter()
        .filter(|(c, lower)| {
            let c = char::from_u32(*c).unwrap_or_default().to_string();
            similarity(&c, lower) != 1.0
        })
        .take(10)
        .map(|(c, lower)| format!("U+{c:04X} -> {lower:?}"))
        .collect();
    assert!(
        lowered_otherwise.is_empty(),
        "lower-cased otherwise than on the server: {lowered_otherwise:?}"
    );
}

fn symmetric_difference<'a>(left: &'a [u32], right: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    let only = |these: &'a [u32], those: &'a [u32]| {
        these
            .iter()
            .copied()
            .filter(move |c| those.binary_search(c).is_err())
    };
    only(left, right).chain(only(right, left))
}

/// A private server (so that creating databases, which waits for
/// checkpoints, holds back no other test's reads) with a database of the
/// given `LC_CTYPE`, where `pg_trgm` is not installed.
struct Server {
    server: PrivateServer,
    database: &'static str,
}

impl Server {
    fn start(ctype: &str) -> Self {
        let server = PrivateServer::start().expect("a private PostgreSQL server");
        let database = "similarity";
        server
            .psql(&format!(
                "CREATE DATABASE {database} TEMPLATE template0 ENCODING 'UTF8' \
                 LC_COLLATE 'C' LC_CTYPE '{ctype}'"
            ))
            .expect("create the test's database");
        Self { server, database }
    }

    /// A pool on the test's database for `role`.
    fn pool(&self, role: &str) -> Pool {
        let mut config: tokio_postgres::Config = self.server.url().parse().unwrap();
        config.user(role).dbname(self.database);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(2)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .unwrap()
    }

    /// A superuser's session on the test's database.
    async fn superuser(&self) -> tokio_postgres::Client {
        let mut config: tokio_postgres::Config = self.server.url().parse().unwrap();
        config.dbname(self.database);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

fn adapter(pool: Pool, schema: &str) -> PostgresAdapter {
    PostgresAdapter::builder()
        .pool(pool)
        .schema(schema)
        .build()
        .unwrap()
}

async fn save_names(projections: &ProjectionStore, names: &[&str]) {
    for (index, name) in names.iter().enumerate() {
        let id = format!("p{index}");
        let projection = Projection {
            source: StreamIdentifier::new("people", id.as_str()).unwrap().into(),
            id,
            name: "person".to_owned(),
            state: json!({ "name": name }),
            metadata: json!({}),
        };
        projections.save(&projection).await.unwrap();
    }
}

fn by_similarity(text: &str) -> Search {
    Search::new().sort(Sort::descending(Field::state("name").unwrap()).similar_to(text))
}

async fn unsupported(projections: &ProjectionStore, text: &str) -> String {
    match projections.search(&by_similarity(text)).await {
        Err(Error::Unsupported { what }) => what.into_owned(),
        other => panic!("a similarity sort where it cannot run: {other:?}"),
    }
}

/// A role that owns its schema but may not create extensions migrates
/// everything else; its stores work; a similarity sort fails saying how to
/// install `pg_trgm`, and works once it is installed and `migrate()` ran again.
#[tokio::test]
async fn a_role_that_may_not_install_pg_trgm_migrates_and_is_told_how() {
    let server = Server::start("C.UTF-8");
    let setup = server.superuser().await;
    setup
        .batch_execute(
            "CREATE ROLE owner LOGIN;
             REVOKE CREATE ON DATABASE similarity FROM PUBLIC;
             CREATE SCHEMA app AUTHORIZATION owner;",
        )
        .await
        .unwrap();
    let owner = adapter(server.pool("owner"), "app");
    owner.migrate().await.expect("migrates without pg_trgm");

    let events = EventStore::new(owner.clone());
    let stream = events.stream("people", "ann").unwrap();
    let event = NewEvent::new("named", &json!({})).unwrap();
    let published = stream.publish([event], WriteCondition::StreamIsEmpty).await;
    assert_eq!(published.map(|events| events.len()).ok(), Some(1));
    let projections = ProjectionStore::new(PostgresProjectionStore::new(&owner));
    save_names(&projections, &["Ann Smith", "Anna Smyth", "Bob"]).await;
    let plain = projections.search(&Search::new()).await.unwrap();
    assert_eq!(
        plain.projections.len(),
        3,
        "searches without similarity work"
    );

    let how = unsupported(&projections, "ann smith").await;
    assert!(how.contains("CREATE EXTENSION pg_trgm"), "{how}");
    assert!(how.contains("migrate()"), "{how}");

    setup
        .batch_execute("CREATE EXTENSION pg_trgm")
        .await
        .unwrap();
    let how = unsupported(&projections, "ann smith").await;
    assert!(how.contains("run migrate() again"), "{how}");
    owner.migrate().await.unwrap();
    let page = projections
        .search(&by_similarity("ann smith"))
        .await
        .unwrap();
    let names: Vec<_> = page.projections.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(names, ["p0", "p1", "p2"], "sorted by similarity");
}

/// In a database whose `LC_CTYPE` is C, `pg_trgm` splits words at every letter
/// beyond ASCII: similarity sorts are refused, saying why, rather than
/// ordered otherwise than in memory.
#[tokio::test]
async fn a_database_whose_ctype_is_c_refuses_similarity_sorts() {
    let server = Server::start("C");
    let owner = adapter(server.pool("postgres"), "app");
    owner.migrate().await.unwrap();
    let projections = ProjectionStore::new(PostgresProjectionStore::new(&owner));
    save_names(&projections, &["café"]).await;
    let why = unsupported(&projections, "cafe").await;
    assert!(why.contains("LC_CTYPE"), "{why}");
}
