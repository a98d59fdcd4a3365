//! A gate a projector's handler stops at until the test opens it: a stalled
//! handler, on demand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::StoredEvent;
use parking_lot::{Condvar, Mutex};

/// Which events a [`Gate`] holds.
type Holds = Arc<dyn Fn(&StoredEvent) -> bool + Send + Sync>;

/// Holds the handler of every event `holds` picks, blocking its thread (as a
/// slow or stuck handler would) until [`Gate::open`].
#[derive(Clone)]
pub(crate) struct Gate {
    holds: Holds,
    state: Arc<State>,
}

struct State {
    open: Mutex<bool>,
    opened: Condvar,
    held: AtomicU64,
    passed: AtomicU64,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("open", &*self.state.open.lock())
            .field("held", &self.state.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A closed gate holding the events `holds` picks.
    pub(crate) fn closed(holds: impl Fn(&StoredEvent) -> bool + Send + Sync + 'static) -> Self {
        Self {
            holds: Arc::new(holds),
            state: Arc::new(State {
                open: Mutex::new(false),
                opened: Condvar::new(),
                held: AtomicU64::new(0),
                passed: AtomicU64::new(0),
            }),
        }
    }

    /// Called by the handler: returns at once for an event the gate does not
    /// hold, or once the gate is open.
    pub(crate) fn pass(&self, event: &StoredEvent) {
        if !(self.holds)(event) {
            return;
        }
        self.state.held.fetch_add(1, Ordering::SeqCst);
        // The handler's thread blocks, but the runtime's other tasks move to
        // another thread, as they would around any blocking handler.
        tokio::task::block_in_place(|| {
            let mut open = self.state.open.lock();
            while !*open {
                self.state.opened.wait(&mut open);
            }
        });
        self.state.passed.fetch_add(1, Ordering::SeqCst);
    }

    /// How many handlers the gate has held.
    pub(crate) fn held(&self) -> u64 {
        self.state.held.load(Ordering::SeqCst)
    }

    pub(crate) fn open(&self) {
        *self.state.open.lock() = true;
        self.state.opened.notify_all();
    }

    /// A guard that opens the gate when dropped, so a failing test does not
    /// leave a handler's thread blocked (the runtime would wait for it).
    pub(crate) fn opened_on_drop(&self) -> OpenOnDrop {
        OpenOnDrop(self.clone())
    }

    /// Waits until a handler is held at the gate.
    pub(crate) async fn until_held(&self, timeout: Duration) {
        wait_for(timeout, "a handler to reach the gate", || {
            self.state.held.load(Ordering::SeqCst) > 0
        })
        .await;
    }

    /// Waits until every held handler has gone through the open gate.
    pub(crate) async fn until_passed(&self, timeout: Duration) {
        wait_for(timeout, "the held handlers to go on", || {
            self.state.passed.load(Ordering::SeqCst) >= self.state.held.load(Ordering::SeqCst)
        })
        .await;
    }
}

/// Opens its gate when dropped.
#[derive(Debug)]
pub(crate) struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Polls `done` until it holds, panicking after `timeout`.
pub(crate) async fn wait_for(timeout: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
