//! What a read waits for before its first page, on whichever server serves
//! it: writes in flight to settle (log and category reads), the server to have
//! made visible every event the read must see (a floor), and a check that a
//! reader resuming after a sequence number is not ahead of the store.
//!
//! One statement answers all three: the horizon queries return, besides the
//! newest committed and settled events, the snapshot's frontier
//! (`base + xmin × 65536`: every event below it is visible and settled) and
//! the number below which every event the server knows of lies
//! (`base + xmax × 65536`).

use std::time::Duration;

use eventblocks_core::{Error, EventSourceIdentifier, LogIdentifier, Result};
use tokio::time::{sleep, Instant};

use super::Route;
use crate::adapter::Inner;
use crate::{horizon, scan};

/// The longest pause between two looks at a server that is not there yet.
const MAX_PAUSE: Duration = Duration::from_millis(25);

/// What a read must wait for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    /// The log or category whose writes in flight a read waits out, up to
    /// the horizon wait; `None` for a stream scan.
    pub(crate) settled: Option<&'a EventSourceIdentifier>,
    /// A forwards scan resuming after this sequence number, which the
    /// primary must have handed out.
    pub(crate) resuming_after: Option<u64>,
}

/// One look at a server's horizon.
struct Horizon {
    committed: Option<i64>,
    settled: Option<i64>,
    frontier: i64,
    numbered_below: i64,
}

/// Waits until the route's server can serve the read: the read's floor is
/// visible there (within the replica wait on a replica, then the route moves
/// to the primary or the read fails, as configured; within the horizon wait
/// on the primary, then the read goes on with what is settled) and, for log
/// and category reads, writes in flight have settled (within the horizon
/// wait).
///
/// # Errors
/// [`Error::Timeout`] for a replica that stays behind when the read may not
/// use the primary; [`Error::Corrupt`] when a scan resumes after a number the
/// primary never handed out; backend failures.
pub(crate) async fn settle(inner: &Inner, route: &mut Route, wanted: Wanted<'_>) -> Result<()> {
    if wanted.settled.is_none() && route.reads.floor.is_none() {
        return Ok(());
    }
    let target = wanted
        .settled
        .cloned()
        .unwrap_or_else(|| LogIdentifier.into());
    let mut deadlines = Deadlines::new(inner, route);
    let mut pause = Duration::from_millis(1);
    let (started, mut slept) = (Instant::now(), false);
    loop {
        let horizon = look(inner, route, &target).await?;
        if let Some(after) = wanted.resuming_after {
            check_not_ahead(route, after, horizon.numbered_below)?;
        }
        let now = Instant::now();
        let floor = route
            .reads
            .floor
            .map(|floor| i64::try_from(floor).unwrap_or(i64::MAX));
        let floor_met = floor.is_none_or(|floor| horizon.frontier >= floor);
        if !floor_met && now >= deadlines.floor {
            if !route.on_replica() {
                tracing::debug!(
                    ?floor,
                    "the primary's horizon is held back; reading what is settled"
                );
                return Ok(());
            }
            route.behind(inner, route.reads.floor.unwrap_or_default())?;
            deadlines = Deadlines::new(inner, route);
            pause = Duration::from_millis(1);
            continue;
        }
        let settled = wanted.settled.is_none()
            || horizon.committed == horizon.settled
            || now >= deadlines.settled;
        if floor_met && settled {
            if horizon.committed != horizon.settled {
                let waited = now.saturating_duration_since(started);
                horizon::stalled(inner, waited, horizon.committed, horizon.settled).await;
            } else if slept {
                eventblocks_core::metrics::record_horizon_stall(now - started);
            }
            return Ok(());
        }
        let until = if floor_met {
            deadlines.settled
        } else {
            deadlines.floor
        };
        sleep(pause.min(until.saturating_duration_since(now))).await;
        (pause, slept) = ((pause * 2).min(MAX_PAUSE), true);
    }
}

struct Deadlines {
    floor: Instant,
    settled: Instant,
}

impl Deadlines {
    fn new(inner: &Inner, route: &Route) -> Self {
        let now = Instant::now();
        let floor_wait = if route.on_replica() {
            inner.replicas.wait
        } else {
            inner.settings.horizon_wait
        };
        Self {
            floor: now + floor_wait,
            settled: now + inner.settings.horizon_wait,
        }
    }
}

/// A reader resuming after a number the primary has not handed out saw
/// events this store does not have: after a failover to a standby that had
/// not received them, or from another store. Resuming would silently skip
/// the events the new primary numbers in their place. (A replica that has
/// not replayed that far is only behind; its reads wait.)
fn check_not_ahead(route: &Route, after: u64, numbered_below: i64) -> Result<()> {
    let numbered_below = u64::try_from(numbered_below).unwrap_or(0);
    if route.on_replica() || after < numbered_below {
        return Ok(());
    }
    Err(Error::corrupt(format!(
        "a reader resumes after sequence number {after}, but this store has handed out only numbers below {numbered_below}: \
         the events it saw up to there are not in the store (lost by a failover to a standby that had not received them, \
         or read from another store); rebuild what was made from them, or resume deliberately from the store's head"
    )))
}

async fn look(inner: &Inner, route: &mut Route, target: &EventSourceIdentifier) -> Result<Horizon> {
    let what = "reading the read horizon";
    let rows = match target.category() {
        None => scan::read_on(inner, route, &inner.sql.events.horizon_log, &[], what).await?,
        Some(category) => {
            let sql = &inner.sql.events.horizon_category;
            scan::read_on(inner, route, sql, &[&category.as_str()], what).await?
        }
    };
    let row = rows
        .first()
        .ok_or_else(|| Error::corrupt("the read horizon query returned no row"))?;
    Ok(Horizon {
        committed: row.get(0),
        settled: row.get(1),
        frontier: row.get(2),
        numbered_below: row.get(3),
    })
}
