//! TLS against a private server with `ssl=on` and a test certificate
//! authority: the trusted authority and the right host name connect, for every
//! connection the adapter opens; another authority, another name, or a server
//! without TLS are refused, never used in plaintext.
#![cfg(feature = "tls")]

use std::time::Duration;

use eventblocks_core::{Error, EventStore, Leases, Name, WriteCondition};
use eventblocks_postgres::testing::PrivateServer;
use eventblocks_postgres::{PostgresAdapter, PostgresLeases, Tls};
use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// The name the server's certificate is issued for.
const SERVER_NAME: &str = "db.eventblocks.test";

/// A certificate authority of the test's own.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn trusted(&self) -> Tls {
        Tls::with_root_certificates_pem(self.issuer.pem().as_bytes()).unwrap()
    }

    /// A server certificate and its key, in PEM, for `names`.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// Connects by `host` (the name the certificate is checked against) to the
/// server's address.
fn url(server: &PrivateServer, host: &str) -> String {
    let address = server.address();
    format!(
        "host={host} hostaddr={} port={} user=postgres dbname=postgres",
        address.ip(),
        address.port()
    )
}

fn adapter(url: &str, tls: Tls) -> PostgresAdapter {
    PostgresAdapter::builder()
        .url(url)
        .schema("tls")
        .tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Connecting fails with a non-retryable error whose message says why.
async fn assert_refused(adapter: &PostgresAdapter, why: &str) {
    let error = adapter.migrate().await.unwrap_err();
    assert!(
        matches!(error, Error::Backend { .. }),
        "a refused server is a setting to fix, not an outage: {error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(why), "{message:?} does not say {why:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_trusted_authority_and_the_right_name_connect() {
    let server = PrivateServer::start().expect("a private PostgreSQL server");
    let authority = Authority::new("eventblocks test CA");
    let (certificate, key) = authority.issue(&[SERVER_NAME]);
    server.serve_tls(&certificate, &key).unwrap();

    let trusted = adapter(&url(&server, SERVER_NAME), authority.trusted());
    trusted.migrate().await.unwrap();
    every_connection_is_encrypted(&server, &trusted).await;
    a_dropped_search_is_cancelled(&server, &trusted).await;

    let stranger = Authority::new("another CA");
    let untrusted = adapter(&url(&server, SERVER_NAME), stranger.trusted());
    assert_refused(&untrusted, "UnknownIssuer").await;

    let by_address = adapter(&url(&server, "127.0.0.1"), authority.trusted());
    assert_refused(&by_address, "not valid for name").await;
}

/// Saves, a live subscription's listener and a lease all go over TLS.
async fn every_connection_is_encrypted(server: &PrivateServer, adapter: &PostgresAdapter) {
    let store = EventStore::new(adapter.clone());
    let mut subscription = store
        .log()
        .subscribe(Default::default())
        .expect("valid options");
    let lease = PostgresLeases::new(adapter)
        .try_acquire(&Name::new("consumer", "tls").unwrap(), 0)
        .await
        .unwrap()
        .expect("a free partition");
    let published = store
        .stream("secrets", "s-1")
        .unwrap()
        .publish(
            eventblocks_testkit::builders::events("kept-secret", 1),
            WriteCondition::NoCondition,
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("the subscription delivers")
        .expect("an item")
        .unwrap();
    assert!(
        matches!(first, eventblocks_core::SubscriptionMessage::Event(ref e) if e.id == published[0].id)
    );

    // The pool, the lease and the wake-up listener: three sessions at least.
    let sessions = "SELECT count(*) || ' ' || count(*) FILTER (WHERE s.ssl) \
                    FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                    WHERE a.application_name = 'eventblocks'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counts = server.psql(sessions).unwrap();
        let (all, encrypted) = counts.trim().split_once(' ').unwrap();
        let all: u32 = all.parse().unwrap();
        assert_eq!(
            all.to_string(),
            encrypted,
            "an unencrypted session: {counts}"
        );
        if all >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {all} sessions opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(lease);
}

/// A projection search dropped by its caller is cancelled on the server:
/// the cancel request goes over TLS, as the pool's connections do.
async fn a_dropped_search_is_cancelled(server: &PrivateServer, adapter: &PostgresAdapter) {
    use eventblocks_core::{EventSourceIdentifier, StreamIdentifier};
    use eventblocks_postgres::PostgresProjectionStore;
    use eventblocks_projection::query::{Field, Filter, Operator, Search};
    use eventblocks_projection::{Projection, ProjectionStore};
    use rand::{Rng, SeedableRng};

    let store = ProjectionStore::new(PostgresProjectionStore::new(adapter));
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // Random letters make the pattern below cost tens of milliseconds a row.
    for index in 0..200 {
        let letters: String = (0..6000)
            .map(|_| if rng.random_bool(0.5) { 'a' } else { 'b' })
            .collect();
        let id = format!("slow-{index}");
        let source = StreamIdentifier::new("slow", id.as_str()).unwrap();
        let projection = Projection {
            source: EventSourceIdentifier::Stream(source),
            id,
            name: "slow".to_owned(),
            state: serde_json::json!({ "t": letters }),
            metadata: serde_json::json!({}),
        };
        store.save(&projection).await.unwrap();
    }
    let pattern = "(?:a.{70}){70}c";
    let filter = Filter::new(Field::state("t"), Operator::Matches, pattern);
    let search = Search::new().filter(filter);
    let dropped =
        tokio::time::timeout(Duration::from_millis(300), store.search_stored(&search)).await;
    assert!(dropped.is_err(), "the search takes seconds");
    let active = "SELECT count(*) FROM pg_stat_activity \
                  WHERE application_name = 'eventblocks' AND state = 'active'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while server.psql(active).unwrap().trim() != "0" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dropped search still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn required_tls_is_never_given_up_for_plaintext() {
    let server = PrivateServer::start().expect("a private PostgreSQL server");
    let authority = Authority::new("eventblocks test CA");
    let plaintext_only = adapter(&url(&server, SERVER_NAME), authority.trusted());
    assert_refused(&plaintext_only, "does not support TLS").await;
}

#[test]
fn settings_that_contradict_tls_are_invalid() {
    let tls = || Authority::new("eventblocks test CA").trusted();
    let disabled = PostgresAdapter::builder()
        .url("postgres://app@db.eventblocks.test/app?sslmode=disable")
        .tls(tls())
        .build();
    assert!(
        matches!(disabled, Err(Error::InvalidInput { ref field, .. }) if field == "url"),
        "{disabled:?}"
    );
    let required_without = PostgresAdapter::builder()
        .url("postgres://app@db.eventblocks.test/app?sslmode=require")
        .build();
    assert!(
        matches!(required_without, Err(Error::InvalidInput { ref field, .. }) if field == "url"),
        "{required_without:?}"
    );
    for pem in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let refused = Tls::with_root_certificates_pem(pem.as_bytes());
        assert!(
            matches!(refused, Err(Error::InvalidInput { ref field, .. }) if field == "tls"),
            "{pem:?} was accepted"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn libpq_verification_modes_are_accepted_and_verified() {
    let server = PrivateServer::start().expect("a private PostgreSQL server");
    let authority = Authority::new("eventblocks test CA");
    let (certificate, key) = authority.issue(&[SERVER_NAME]);
    server.serve_tls(&certificate, &key).unwrap();
    for mode in ["verify-full", "verify-ca"] {
        let right_name = format!("{} sslmode={mode}", url(&server, SERVER_NAME));
        adapter(&right_name, authority.trusted())
            .migrate()
            .await
            .unwrap();
        // Even verify-ca checks the name: rustls always does.
        let wrong_name = format!("{} sslmode={mode}", url(&server, "127.0.0.1"));
        assert_refused(
            &adapter(&wrong_name, authority.trusted()),
            "not valid for name",
        )
        .await;
    }
}

#[test]
fn a_socket_path_cannot_be_verified() {
    let tls = Authority::new("eventblocks test CA").trusted();
    let socket = PostgresAdapter::builder()
        .url("host=/var/run/postgresql user=app dbname=app")
        .tls(tls)
        .build();
    assert!(
        matches!(socket, Err(Error::InvalidInput { ref field, .. }) if field == "url"),
        "{socket:?}"
    );
}
