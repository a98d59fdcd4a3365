//! How the adapter opens connections: where to, and whether over TLS. The
//! pool, the wake-up listener and every lease connect the same way, so a
//! setting made once (a certificate authority, say) holds for all of them.

use std::fmt;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use eventblocks_core::{Error, Result};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, CancelToken, Client, Connection, NoTls};

#[cfg(feature = "tls")]
pub use tls::Tls;

/// Connection settings and the transport to use them with.
#[derive(Clone)]
pub(crate) struct Connector {
    config: tokio_postgres::Config,
    transport: Transport,
    /// Bounds a whole connect (TCP, TLS handshake, start-up), which the
    /// client's own connect timeout does not.
    connect_timeout: std::time::Duration,
}

#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    #[cfg(feature = "tls")]
    Tls(Tls),
}

impl Transport {
    /// Asks the server to cancel the statement the connection of `token` is
    /// running, on a connection of its own opened this way.
    pub(crate) async fn cancel(&self, token: &CancelToken) -> Result<(), tokio_postgres::Error> {
        match self {
            Transport::Plain => token.cancel_query(NoTls).await,
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => token.cancel_query(tls.connector()).await,
        }
    }
}

/// A dedicated (unpooled) connection: its client, and the task driving it,
/// which ends with the connection.
pub(crate) struct Dedicated {
    pub(crate) client: Client,
    pub(crate) driver: JoinHandle<Result<(), tokio_postgres::Error>>,
}

/// How large the pool is and how long it may wait.
pub(crate) struct PoolLimits {
    pub(crate) size: usize,
    pub(crate) wait: std::time::Duration,
    pub(crate) connect: std::time::Duration,
}

impl Connector {
    /// Connects as `config` says, over `transport`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the connection string's `sslmode`
    /// contradicts the transport.
    pub(crate) fn new(
        config: tokio_postgres::Config,
        transport: Transport,
        connect_timeout: std::time::Duration,
    ) -> Result<Self> {
        let mode = config.get_ssl_mode();
        match &transport {
            Transport::Plain if mode == SslMode::Require => {
                return Err(Error::invalid(
                    "url",
                    "sslmode=require needs TLS: enable the `tls` feature and set PostgresAdapterBuilder::tls",
                ));
            }
            Transport::Plain => {}
            #[cfg(feature = "tls")]
            Transport::Tls(_) if mode == SslMode::Disable => {
                return Err(Error::invalid(
                    "url",
                    "sslmode=disable contradicts the TLS setting",
                ));
            }
            #[cfg(feature = "tls")]
            Transport::Tls(_) if has_socket_path(&config) => {
                return Err(Error::invalid(
                    "url",
                    "TLS needs a host name to verify; a Unix socket path has none",
                ));
            }
            #[cfg(feature = "tls")]
            Transport::Tls(_) => {
                let mut config = config;
                // Never fall back to plaintext.
                config.ssl_mode(SslMode::Require);
                return Ok(Self {
                    config,
                    transport,
                    connect_timeout,
                });
            }
        }
        Ok(Self {
            config,
            transport,
            connect_timeout,
        })
    }

    /// A pool opening its connections this way.
    pub(crate) fn pool(&self, limits: &PoolLimits) -> std::result::Result<Pool, String> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let config = self.config.clone();
        let manager = match &self.transport {
            Transport::Plain => Manager::from_config(config, NoTls, manager_config),
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => Manager::from_config(config, tls.connector(), manager_config),
        };
        Pool::builder(manager)
            .max_size(limits.size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(limits.wait))
            .create_timeout(Some(limits.connect))
            .recycle_timeout(Some(limits.connect))
            .build()
            .map_err(|error| error.to_string())
    }

    /// Opens a connection of its own; `on_notification` runs for every
    /// `NOTIFY` it receives, with its payload.
    ///
    /// # Errors
    /// [`Error::Timeout`] past the connect timeout; otherwise as the client
    /// reports, mapped by `failed`.
    pub(crate) async fn dedicated(
        &self,
        on_notification: impl Fn(&str) + Send + 'static,
        failed: impl FnOnce(tokio_postgres::Error) -> Error,
    ) -> Result<Dedicated> {
        let connecting = self.connect(on_notification);
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(connected) => connected.map_err(failed),
            Err(_) => Err(Error::Timeout {
                outcome: eventblocks_core::WriteOutcome::NotWritten,
                message: "opening a connection took longer than the connect timeout".into(),
                source: None,
            }),
        }
    }

    async fn connect(
        &self,
        on_notification: impl Fn(&str) + Send + 'static,
    ) -> std::result::Result<Dedicated, tokio_postgres::Error> {
        let (client, driver) = match &self.transport {
            Transport::Plain => {
                let (client, connection) = self.config.connect(NoTls).await?;
                (client, tokio::spawn(drive(connection, on_notification)))
            }
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => {
                let (client, connection) = self.config.connect(tls.connector()).await?;
                (client, tokio::spawn(drive(connection, on_notification)))
            }
        };
        Ok(Dedicated { client, driver })
    }
}

impl fmt::Debug for Connector {
    /// Leaves out the connection settings: they may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = !matches!(self.transport, Transport::Plain);
        f.debug_struct("Connector")
            .field("tls", &tls)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tls")]
fn has_socket_path(config: &tokio_postgres::Config) -> bool {
    config
        .get_hosts()
        .iter()
        .any(|host| matches!(host, tokio_postgres::config::Host::Unix(_)))
}

/// Reads the connection's messages until it closes, passing on notifications.
async fn drive<S, T>(
    mut connection: Connection<S, T>,
    on_notification: impl Fn(&str),
) -> std::result::Result<(), tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(notification) = message? {
            on_notification(notification.payload());
        }
    }
    Ok(())
}

#[cfg(feature = "tls")]
mod tls {
    use std::fmt;
    use std::sync::Arc;

    use eventblocks_core::{Error, Result};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use rustls::{ClientConfig, RootCertStore};
    use tokio_postgres_rustls::MakeRustlsConnect;

    /// TLS for every connection the adapter opens (pool, wake-up listener,
    /// leases), with rustls. Set it with
    /// [`PostgresAdapterBuilder::tls`](crate::PostgresAdapterBuilder::tls).
    ///
    /// The server's certificate must chain to a trusted authority and name the
    /// host connected to (what libpq calls `sslmode=verify-full`), and a server
    /// that does not offer TLS is refused rather than used in plaintext.
    ///
    /// ```no_run
    /// use eventblocks_postgres::{PostgresAdapter, Tls};
    ///
    /// let ca_pem = std::fs::read("/etc/app/database-ca.pem")?;
    /// let adapter = PostgresAdapter::builder()
    ///     .url("postgres://app@db.internal:5432/app")
    ///     .tls(Tls::with_root_certificates_pem(&ca_pem)?)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Clone)]
    pub struct Tls {
        connector: MakeRustlsConnect,
    }

    impl Tls {
        /// Trusts exactly the certificate authorities in `pem` (one or more
        /// `CERTIFICATE` blocks), and no others.
        ///
        /// # Errors
        /// [`Error::InvalidInput`] if `pem` holds no certificate or one that
        /// cannot be read.
        pub fn with_root_certificates_pem(pem: &[u8]) -> Result<Self> {
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|error| {
                    Error::invalid("tls", format!("cannot read the PEM certificates: {error}"))
                })?;
                roots.add(certificate).map_err(|error| {
                    Error::invalid("tls", format!("cannot trust a certificate: {error}"))
                })?;
            }
            if roots.is_empty() {
                return Err(Error::invalid(
                    "tls",
                    "the PEM text holds no certificate to trust",
                ));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|error| Error::invalid("tls", error.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Self::from_rustls(config))
        }

        /// Uses a rustls configuration of the caller's: other roots, client
        /// certificates, another crypto provider.
        pub fn from_rustls(config: ClientConfig) -> Self {
            Self {
                connector: MakeRustlsConnect::new(config),
            }
        }

        pub(crate) fn connector(&self) -> MakeRustlsConnect {
            self.connector.clone()
        }
    }

    impl fmt::Debug for Tls {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Tls").finish_non_exhaustive()
        }
    }
}
