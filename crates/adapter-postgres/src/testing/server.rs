//! A private PostgreSQL server for tests that must crash or restart one.
//!
//! It runs `initdb` and `pg_ctl` from the machine's PostgreSQL installation in
//! a fresh directory, on its own port, with trust authentication on loopback
//! only. Those programs refuse to run as root, so as root they are run as the
//! `postgres` user through `runuser`.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A PostgreSQL server of the test's own; stopped and deleted on drop.
#[derive(Debug)]
pub struct PrivateServer {
    pub(super) bin: PathBuf,
    pub(super) data: PathBuf,
    pub(super) port: u16,
    /// The server's `cluster_name`, which a standby also gives its primary as
    /// its name (for `synchronous_standby_names`).
    pub(super) name: String,
}

/// Where PostgreSQL's server programs are looked for, newest first, unless
/// `EVENTBLOCKS_PG_BIN` names the folder.
pub(super) fn find_bin() -> io::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("EVENTBLOCKS_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql; install postgresql or set EVENTBLOCKS_PG_BIN",
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// Runs a PostgreSQL program, as `postgres` when we are root.
pub(super) fn run(program: &Path, args: &[&str]) -> io::Result<Output> {
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args)
            .output()?
    } else {
        Command::new(program).args(args).output()?
    };
    if output.status.success() {
        return Ok(output);
    }
    Err(io::Error::other(format!(
        "{} {} failed: {}{}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// Makes `path` the `postgres` user's when we are root, so the server
/// (which runs as that user) can use it.
pub(super) fn hand_to_postgres(path: &Path) -> io::Result<()> {
    if !is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(path)
        .status()?;
    if status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "cannot hand {} to the postgres user",
        path.display()
    )))
}

pub(super) fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl PrivateServer {
    /// Creates and starts a server on a free port.
    ///
    /// # Errors
    /// If the PostgreSQL programs are missing or fail.
    pub fn start() -> io::Result<Self> {
        let bin = find_bin()?;
        let port = free_port()?;
        let data = Self::data_folder(port);
        std::fs::create_dir_all(&data)?;
        hand_to_postgres(&data)?;
        let data_arg = data.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data_arg,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let server = Self::at(bin, data, port);
        server.restart()?;
        Ok(server)
    }

    /// A server whose data folder is `data`, to run on `port`.
    pub(super) fn at(bin: PathBuf, data: PathBuf, port: u16) -> Self {
        Self {
            bin,
            data,
            port,
            name: format!("eventblocks_{port}"),
        }
    }

    /// A folder for a new server's data on `port`, not yet created.
    pub(super) fn data_folder(port: u16) -> PathBuf {
        std::env::temp_dir().join(format!("eventblocks-pg-{}-{port}", std::process::id()))
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A connection URL for the `postgres` database as user `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// (Re)starts the server and waits until it accepts connections.
    ///
    /// # Errors
    /// If `pg_ctl` fails.
    pub fn restart(&self) -> io::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data} -c cluster_name={}",
            self.port, self.name
        );
        let log = self.data.join("server.log").to_string_lossy().into_owned();
        run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        )?;
        Ok(())
    }

    /// Kills the server the hard way (`pg_ctl stop -m immediate`): no clean
    /// shutdown, crash recovery on the next start.
    ///
    /// # Errors
    /// If `pg_ctl` fails.
    pub fn crash(&self) -> io::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        )?;
        Ok(())
    }

    /// Turns TLS on with the certificate chain and private key given in PEM,
    /// and waits until new connections are offered it. Plaintext connections
    /// stay allowed, so a client can be shown to refuse them.
    ///
    /// # Errors
    /// If the files cannot be written or the server does not take them.
    pub fn serve_tls(&self, certificate_pem: &str, key_pem: &str) -> io::Result<()> {
        // PostgreSQL refuses a key others can read, and reads both files as its
        // own user.
        for (name, text) in [("server.crt", certificate_pem), ("server.key", key_pem)] {
            let path = self.data.join(name);
            std::fs::write(&path, text)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            hand_to_postgres(&path)?;
        }
        self.psql("ALTER SYSTEM SET ssl = on")?;
        self.psql("SELECT pg_reload_conf()")?;
        for _ in 0..100 {
            if self.psql("SHOW ssl")?.trim() == "on" {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(io::Error::other(
            "the server did not turn TLS on; see server.log in its data folder",
        ))
    }

    /// Runs SQL through `psql` as `postgres` (for setting up roles, say).
    ///
    /// # Errors
    /// If `psql` fails.
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        let port = self.port.to_string();
        let output = run(
            &self.bin.join("psql"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
        )?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.crash();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
