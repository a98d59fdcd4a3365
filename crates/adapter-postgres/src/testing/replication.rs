//! Streaming replication between private servers: a hot standby made with
//! `pg_basebackup -R`, synchronous or asynchronous, whose replay can be
//! paused, which can be cut off from its primary, and which can be promoted.
//! Nothing but PostgreSQL's own replication.

use std::io;
use std::time::{Duration, Instant};

use super::server::{free_port, run, PrivateServer};

/// How a primary waits for its standby when it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replication {
    /// The primary acknowledges a commit only once the standby has flushed
    /// it to disk (`synchronous_standby_names` names the standby, with the
    /// default `synchronous_commit = on`): a promotion loses nothing
    /// acknowledged.
    Synchronous,
    /// The primary acknowledges at once and the standby follows as fast as
    /// it can: a promotion may lose what it had not received yet.
    Asynchronous,
}

/// How long a standby may take to start streaming.
const STREAMING_WAIT: Duration = Duration::from_secs(30);

impl PrivateServer {
    /// Makes a hot standby of this server with `pg_basebackup -R`, starts it
    /// on a free port and waits until it streams (for
    /// [`Replication::Synchronous`], until the primary counts it as its
    /// synchronous standby).
    ///
    /// # Errors
    /// If the PostgreSQL programs fail or the standby does not stream within
    /// 30 s.
    pub fn start_standby(&self, replication: Replication) -> io::Result<PrivateServer> {
        let port = free_port()?;
        let data = Self::data_folder(port);
        let data_arg = data.to_string_lossy().into_owned();
        let source_port = self.port.to_string();
        run(
            &self.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &source_port,
                "-U",
                "postgres",
                "-D",
                &data_arg,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        )?;
        let standby = Self::at(self.bin.clone(), data, port);
        standby.restart()?;
        let state = match replication {
            Replication::Synchronous => {
                self.psql(&format!(
                    "ALTER SYSTEM SET synchronous_standby_names = '\"{}\"'",
                    standby.name
                ))?;
                self.psql("SELECT pg_reload_conf()")?;
                "sync"
            }
            Replication::Asynchronous => "async",
        };
        self.wait_for_standby(&standby.name, state)?;
        Ok(standby)
    }

    /// Waits until the standby `name` streams from this server in `state`
    /// (`sync` or `async`).
    fn wait_for_standby(&self, name: &str, state: &str) -> io::Result<()> {
        let deadline = Instant::now() + STREAMING_WAIT;
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication
              WHERE application_name = '{name}' AND state = 'streaming' AND sync_state = '{state}'"
        );
        while Instant::now() < deadline {
            if self.psql(&query)?.trim() == "1" {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::other(format!(
            "standby {name} did not stream ({state}) within {STREAMING_WAIT:?}"
        )))
    }

    /// Promotes this standby to a primary (`pg_ctl promote`) and waits until
    /// it accepts writes.
    ///
    /// # Errors
    /// If `pg_ctl` fails (this server is not a standby, say).
    pub fn promote(&self) -> io::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        run(&self.bin.join("pg_ctl"), &["-D", &data, "-w", "promote"])?;
        Ok(())
    }

    /// Pauses this standby's replay (`pg_wal_replay_pause()`): it keeps
    /// receiving WAL, but readers on it see nothing newer until
    /// [`resume_replay`](Self::resume_replay).
    ///
    /// # Errors
    /// If this server is not a standby.
    pub fn pause_replay(&self) -> io::Result<()> {
        self.psql("SELECT pg_wal_replay_pause()")?;
        let deadline = Instant::now() + STREAMING_WAIT;
        while self.psql("SELECT pg_get_wal_replay_pause_state()")?.trim() != "paused" {
            if Instant::now() > deadline {
                return Err(io::Error::other("replay did not pause"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Resumes a paused replay.
    ///
    /// # Errors
    /// If this server is not a standby.
    pub fn resume_replay(&self) -> io::Result<()> {
        self.psql("SELECT pg_wal_replay_resume()")?;
        Ok(())
    }

    /// Cuts this standby off from its primary (its `primary_conninfo`
    /// emptied), as a network partition would: it keeps what it received and
    /// receives nothing more. The primary of an asynchronous standby goes on
    /// acknowledging commits; that of a synchronous one waits.
    ///
    /// # Errors
    /// If the setting cannot be changed or streaming does not stop.
    pub fn detach_from_primary(&self) -> io::Result<()> {
        self.psql("ALTER SYSTEM SET primary_conninfo = ''")?;
        self.psql("SELECT pg_reload_conf()")?;
        let deadline = Instant::now() + STREAMING_WAIT;
        while self
            .psql("SELECT count(*) FROM pg_stat_wal_receiver")?
            .trim()
            != "0"
        {
            if Instant::now() > deadline {
                return Err(io::Error::other("the standby went on streaming"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Whether this server is a standby (in recovery).
    ///
    /// # Errors
    /// If `psql` fails.
    pub fn is_standby(&self) -> io::Result<bool> {
        Ok(self.psql("SELECT pg_is_in_recovery()")?.trim() == "t")
    }
}
