//! A TCP proxy between a PostgreSQL client and server that injects network
//! faults: it can black-hole traffic, cut every connection, or cut a connection
//! exactly around a commit: an explicit `COMMIT`, or the `Sync` that ends an
//! autocommit statement the test names.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// A one-shot fault, armed with [`FaultProxy::arm`]; it strikes the next
/// commit any client sends through the proxy: a `COMMIT`, or the end of an
/// autocommit statement chosen with [`FaultProxy::commit_on_statements_containing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitFault {
    /// Close the connection instead of forwarding the `COMMIT`: the server
    /// never commits.
    CutBeforeCommit,
    /// Forward the `COMMIT`, wait for the server's answer (so the commit has
    /// happened), then close the client's connection without relaying it.
    CutAfterCommit,
}

/// A fault-injecting TCP proxy in front of a PostgreSQL server.
///
/// Point clients at [`FaultProxy::address`]. Every connection is relayed to the
/// upstream server until a fault is injected. Dropping the proxy closes it.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    /// While true, bytes are neither read nor forwarded in either direction.
    black_hole: watch::Sender<bool>,
    /// Every relayed connection waits on this and closes when notified.
    cut_all: Notify,
    generation: Mutex<u64>,
    armed: Mutex<Option<CommitFault>>,
    struck: Notify,
    strikes: AtomicU64,
    /// Text marking the autocommit statements whose end counts as a commit.
    autocommit_marker: Mutex<Option<String>>,
    refusing: AtomicBool,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port, relaying to `upstream`.
    ///
    /// # Errors
    /// If no port can be bound.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            black_hole: watch::channel(false).0,
            cut_all: Notify::new(),
            generation: Mutex::new(0),
            armed: Mutex::new(None),
            struck: Notify::new(),
            strikes: AtomicU64::new(0),
            autocommit_marker: Mutex::new(None),
            refusing: AtomicBool::new(false),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            address,
            shared,
            accept,
        })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops forwarding in both directions without closing anything, like a
    /// network partition; new connections hang too.
    pub fn black_hole(&self) {
        self.shared.black_hole.send_replace(true);
    }

    /// Ends a black hole: bytes flow again.
    pub fn heal(&self) {
        self.shared.black_hole.send_replace(false);
    }

    /// Closes every open connection at once.
    pub fn cut_all(&self) {
        *self.shared.generation.lock() += 1;
        self.shared.cut_all.notify_waiters();
    }

    /// Refuses (closes at once) new connections while `refuse` is true.
    pub fn refuse_connections(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
    }

    /// Arms a one-shot fault for the next `COMMIT` through the proxy.
    pub fn arm(&self, fault: CommitFault) {
        *self.shared.armed.lock() = Some(fault);
    }

    /// Waits until an armed fault has struck.
    pub async fn struck(&self) {
        self.shared.struck.notified().await;
    }

    /// How many armed faults have struck so far.
    pub fn strikes(&self) -> u64 {
        self.shared.strikes.load(Ordering::SeqCst)
    }

    /// Whether a fault is armed and has not yet been taken by a commit (a
    /// cut after the commit then strikes once the server has answered; see
    /// [`strikes`](Self::strikes)).
    pub fn is_armed(&self) -> bool {
        self.shared.armed.lock().is_some()
    }

    /// Makes the end (the `Sync`) of every prepared statement whose text
    /// contains `marker` count as a commit, as it is for a statement run
    /// outside an explicit transaction. Applies to connections opened
    /// afterwards.
    pub fn commit_on_statements_containing(&self, marker: impl Into<String>) {
        *self.shared.autocommit_marker.lock() = Some(marker.into());
    }
}

impl Shared {
    fn strike(&self) {
        self.strikes.fetch_add(1, Ordering::SeqCst);
        self.struck.notify_waiters();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        if shared.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        tokio::spawn(relay(client, shared.clone()));
    }
}

async fn relay(client: TcpStream, shared: Arc<Shared>) {
    let generation = *shared.generation.lock();
    let Ok(server) = TcpStream::connect(shared.upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let cut = shared.cut_all.notified();
    tokio::pin!(cut);
    if *shared.generation.lock() != generation {
        return;
    }
    let commit_seen = Arc::new(Notify::new());
    let upstream = client_to_server(
        client_read,
        server_write,
        shared.clone(),
        commit_seen.clone(),
    );
    let downstream = server_to_client(server_read, client_write, shared.clone(), commit_seen);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        () = &mut cut => {}
    }
    // Dropping the halves closes both sockets.
}

/// Waits while the proxy is a black hole.
async fn pass_black_hole(shared: &Shared) {
    let mut state = shared.black_hole.subscribe();
    let _ = state.wait_for(|black| !black).await;
}

async fn client_to_server(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
    commit_seen: Arc<Notify>,
) -> io::Result<()> {
    let mut framer = Framer::new(shared.autocommit_marker.lock().clone());
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        pass_black_hole(&shared).await;
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        pass_black_hole(&shared).await;
        let chunk = &buffer[..read];
        if framer.feed(chunk) {
            let fault = shared.armed.lock().take();
            match fault {
                Some(CommitFault::CutBeforeCommit) => {
                    shared.strike();
                    return Ok(());
                }
                Some(CommitFault::CutAfterCommit) => {
                    // Told before the server can answer, so the answer is
                    // never relayed.
                    commit_seen.notify_one();
                    to.write_all(chunk).await?;
                    // Keep the server side open until its answer has been read.
                    std::future::pending::<()>().await;
                }
                None => {}
            }
        }
        to.write_all(chunk).await?;
    }
}

async fn server_to_client(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
    commit_seen: Arc<Notify>,
) -> io::Result<()> {
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut replies = ReplyFramer::default();
    let mut awaiting_commit_answer = false;
    loop {
        pass_black_hole(&shared).await;
        let read = tokio::select! {
            biased;
            () = commit_seen.notified(), if !awaiting_commit_answer => {
                awaiting_commit_answer = true;
                continue;
            }
            read = from.read(&mut buffer) => read?,
        };
        if read == 0 {
            return Ok(());
        }
        let ready = replies.feed(&buffer[..read]);
        if awaiting_commit_answer {
            if ready {
                // The server is ready again after the commit: it has
                // committed. Drop the answer.
                shared.strike();
                return Ok(());
            }
            continue;
        }
        pass_black_hole(&shared).await;
        to.write_all(&buffer[..read]).await?;
    }
}

/// Splits the server's byte stream (typed messages only: the proxy relays
/// plaintext sessions) and spots `ReadyForQuery`.
#[derive(Debug, Default)]
struct ReplyFramer {
    pending: Vec<u8>,
}

impl ReplyFramer {
    /// Takes a chunk; whether it completes a `ReadyForQuery`.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        self.pending.extend_from_slice(chunk);
        let mut ready = false;
        while let Some(length) = read_u32(&self.pending, 1).map(|length| length as usize + 1) {
            if self.pending.len() < length {
                break;
            }
            ready |= self.pending[0] == b'Z';
            self.pending.drain(..length);
        }
        ready
    }
}

/// Splits the client's byte stream into protocol messages and spots commits.
#[derive(Debug, Default)]
struct Framer {
    started: bool,
    pending: Vec<u8>,
    /// Text marking statements that commit when they end.
    autocommit_marker: Option<String>,
    /// Names of the prepared statements holding the marker.
    autocommitting: HashSet<Vec<u8>>,
    /// Whether a marked statement was bound since the last `Sync`.
    bound_marked: bool,
    /// Whether the client opened an explicit transaction: then only its
    /// `COMMIT` commits.
    in_transaction: bool,
}

/// The protocol codes of the untyped requests that precede a startup message.
const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;

impl Framer {
    fn new(autocommit_marker: Option<String>) -> Self {
        Self {
            autocommit_marker,
            ..Self::default()
        }
    }

    /// Takes a chunk; whether it completes a message that commits.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        self.pending.extend_from_slice(chunk);
        let mut commits = false;
        while let Some(length) = self.next_length() {
            let message = self.pending.drain(..length).collect::<Vec<u8>>();
            commits |= self.commits(&message);
        }
        commits
    }

    /// The length of the next complete message.
    fn next_length(&mut self) -> Option<usize> {
        if !self.started {
            let length = read_u32(&self.pending, 0)? as usize;
            if self.pending.len() < length {
                return None;
            }
            let code = read_u32(&self.pending, 4)?;
            self.started = code != SSL_REQUEST && code != GSS_REQUEST;
            // Untyped: never a commit, and too short to look like one.
            return Some(length);
        }
        let length = read_u32(&self.pending, 1)? as usize + 1;
        (self.pending.len() >= length).then_some(length)
    }

    /// Whether `message` (a whole typed message) commits.
    fn commits(&mut self, message: &[u8]) -> bool {
        let (Some(&kind), Some(body)) = (message.first(), message.get(5..)) else {
            return false;
        };
        match kind {
            b'Q' => self.transaction_control(body),
            b'P' => {
                let mut fields = body.split(|byte| *byte == 0);
                let name = fields.next().unwrap_or_default().to_vec();
                let text = fields.next().unwrap_or_default();
                if self.is_marked(text) {
                    self.autocommitting.insert(name);
                } else {
                    self.autocommitting.remove(&name);
                }
                self.transaction_control(body)
            }
            b'B' => {
                let mut fields = body.split(|byte| *byte == 0);
                let statement = fields.nth(1).unwrap_or_default();
                self.bound_marked |= self.autocommitting.contains(statement);
                false
            }
            b'S' => std::mem::take(&mut self.bound_marked) && !self.in_transaction,
            _ => false,
        }
    }

    /// Follows `BEGIN`, `COMMIT` and `ROLLBACK` in a query's text; whether it
    /// commits.
    fn transaction_control(&mut self, body: &[u8]) -> bool {
        match statement_kind(body) {
            Some(Control::Begin) => {
                self.in_transaction = true;
                false
            }
            Some(Control::Commit) => {
                self.in_transaction = false;
                true
            }
            Some(Control::Rollback) => {
                self.in_transaction = false;
                false
            }
            None => false,
        }
    }

    fn is_marked(&self, text: &[u8]) -> bool {
        let Some(marker) = &self.autocommit_marker else {
            return false;
        };
        String::from_utf8_lossy(text).contains(marker.as_str())
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes(slice.try_into().ok()?))
}

/// Statements that open or end an explicit transaction.
enum Control {
    Begin,
    Commit,
    Rollback,
}

/// Which transaction control statement, if any, a simple query or a parse
/// message's text holds.
fn statement_kind(body: &[u8]) -> Option<Control> {
    let text = String::from_utf8_lossy(body).to_ascii_uppercase();
    text.split(['\0', ';'])
        .find_map(|statement| match statement.trim() {
            "COMMIT" | "END" | "COMMIT TRANSACTION" | "COMMIT WORK" => Some(Control::Commit),
            "BEGIN" | "START TRANSACTION" | "BEGIN TRANSACTION" | "BEGIN WORK" => {
                Some(Control::Begin)
            }
            "ROLLBACK" | "ABORT" | "ROLLBACK TRANSACTION" | "ROLLBACK WORK" => {
                Some(Control::Rollback)
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, text: &str) -> Vec<u8> {
        let mut bytes = vec![kind];
        let length = u32::try_from(text.len() + 5).unwrap();
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(0);
        bytes
    }

    fn startup() -> Vec<u8> {
        let mut bytes = 8_u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&196_608_u32.to_be_bytes());
        bytes
    }

    #[test]
    fn spots_commit_across_chunks() {
        let mut framer = Framer::default();
        assert!(!framer.feed(&startup()));
        assert!(!framer.feed(&message(b'Q', "INSERT INTO x VALUES (1)")));
        let commit = message(b'Q', "COMMIT");
        assert!(!framer.feed(&commit[..3]));
        assert!(framer.feed(&commit[3..]));
    }

    /// Parse: name, text, no parameter types. Bind: portal, statement, no
    /// formats or values.
    fn extended(kind: u8, first: &str, second: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for field in [first, second] {
            body.extend_from_slice(field.as_bytes());
            body.push(0);
        }
        body.extend_from_slice(&[0, 0]);
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }

    fn sync() -> Vec<u8> {
        vec![b'S', 0, 0, 0, 4]
    }

    #[test]
    fn spots_the_end_of_a_marked_autocommit_statement() {
        let mut framer = Framer::new(Some("save(".to_owned()));
        framer.feed(&startup());
        assert!(!framer.feed(&extended(b'P', "s1", "SELECT * FROM save($1)")));
        assert!(!framer.feed(&extended(b'P', "s2", "SELECT * FROM events")));
        assert!(!framer.feed(&sync()));
        let read = [extended(b'B', "", "s2"), sync()].concat();
        assert!(!framer.feed(&read));
        let save = [extended(b'B', "", "s1"), sync()].concat();
        assert!(!framer.feed(&save[..save.len() - 2]));
        assert!(framer.feed(&save[save.len() - 2..]));
        assert!(!framer.feed(&sync()), "one commit per bound statement");
    }

    #[test]
    fn inside_an_explicit_transaction_only_commit_commits() {
        let mut framer = Framer::new(Some("save(".to_owned()));
        framer.feed(&startup());
        framer.feed(&extended(b'P', "s1", "SELECT * FROM save($1)"));
        assert!(!framer.feed(&message(b'Q', "BEGIN")));
        let save = [extended(b'B', "", "s1"), sync()].concat();
        assert!(!framer.feed(&save), "the save runs inside BEGIN");
        assert!(framer.feed(&message(b'Q', "COMMIT")));
        assert!(framer.feed(&save), "outside a transaction it commits again");
    }

    #[test]
    fn a_statement_parsed_again_without_the_marker_is_unmarked() {
        let mut framer = Framer::new(Some("save(".to_owned()));
        framer.feed(&startup());
        framer.feed(&extended(b'P', "", "SELECT * FROM save($1)"));
        framer.feed(&extended(b'P', "", "SELECT 1"));
        assert!(!framer.feed(&[extended(b'B', "", ""), sync()].concat()));
    }

    #[test]
    fn spots_ready_for_query_across_chunks() {
        let mut replies = ReplyFramer::default();
        let answer = [message(b'C', "SELECT 1"), vec![b'Z', 0, 0, 0, 5, b'I']].concat();
        assert!(!replies.feed(&answer[..answer.len() - 3]));
        assert!(replies.feed(&answer[answer.len() - 3..]));
    }

    #[test]
    fn ignores_commit_inside_other_text() {
        let mut framer = Framer::default();
        framer.feed(&startup());
        assert!(!framer.feed(&message(b'Q', "SELECT 'COMMIT'")));
        assert!(!framer.feed(&message(b'D', "COMMIT")));
    }
}
