//! Consistency boundaries in memory: the events a query matches, found through
//! the name and tag indexes, for query reads and query conditions.

use std::sync::Arc;

use eventblocks_core::{
    Direction, EventSourceIdentifier, Head, Name, Query, QueryCheck, QueryRead, QueryRequest,
    StoredEvent,
};
use futures::{stream, StreamExt};

use crate::log::Log;
use crate::Shared;

/// Where the events a query may match are: every event, or the union of
/// these increasing lists of sequence numbers.
enum Candidates<'a> {
    All,
    Lists(Vec<&'a [u64]>),
}

impl Log {
    /// The lists holding every event `query` may match: for an item with tags,
    /// the shortest list of one of its tags; for an item with names only, the
    /// list of each name.
    fn candidates(&self, query: &Query) -> Candidates<'_> {
        if query.is_all() {
            return Candidates::All;
        }
        let mut lists = Vec::new();
        for item in query.items() {
            if item.tag_set().is_empty() {
                let names = item.name_set().iter();
                lists.extend(
                    names
                        .filter_map(|name| self.by_name.get(name))
                        .map(Vec::as_slice),
                );
                continue;
            }
            let shortest = item
                .tag_set()
                .iter()
                .map(|tag| self.by_tag.get(tag).map_or(&[][..], Vec::as_slice))
                .min_by_key(|list| list.len());
            lists.extend(shortest);
        }
        Candidates::Lists(lists)
    }

    /// Whether the event at `sequence_number` matches `query` (and lies in
    /// `category`, if given).
    fn matches(&self, sequence_number: u64, query: &Query, category: Option<&Name>) -> bool {
        let record = self.record(sequence_number);
        if category.is_some_and(|category| self.category_of(record.stream) != category) {
            return false;
        }
        query.items().is_empty()
            || query.items().iter().any(|item| {
                (item.name_set().is_empty() || item.name_set().contains(&record.name))
                    && item
                        .tag_set()
                        .iter()
                        .all(|tag| record.tags.binary_search(tag).is_ok())
            })
    }

    /// An event matching `check`, at or above its head's frontier: the answer
    /// a query condition needs.
    ///
    /// The first match of each item, found in its shortest index list by a
    /// binary search, without allocating: this runs under the write lock of
    /// every query-conditioned save.
    pub(crate) fn first_match(&self, check: &QueryCheck) -> Option<u64> {
        let from = check.after.map_or(1, |head| head.frontier()).max(1);
        if check.query.is_all() {
            return (from <= self.len()).then_some(from);
        }
        check
            .query
            .items()
            .iter()
            .filter_map(|item| {
                if item.tag_set().is_empty() {
                    return item
                        .name_set()
                        .iter()
                        .filter_map(|name| first_from(self.by_name.get(name)?, from))
                        .min();
                }
                let shortest = item
                    .tag_set()
                    .iter()
                    .map(|tag| self.by_tag.get(tag).map_or(&[][..], Vec::as_slice))
                    .min_by_key(|list| list.len())?;
                let start = shortest.partition_point(|&sequence| sequence < from);
                shortest[start..].iter().copied().find(|&sequence| {
                    let record = self.record(sequence);
                    (item.name_set().is_empty() || item.name_set().contains(&record.name))
                        && item
                            .tag_set()
                            .iter()
                            .all(|tag| record.tags.binary_search(tag).is_ok())
                })
            })
            .min()
    }

    /// Up to `limit` sequence numbers of events matching `query` beyond
    /// `bound` (exclusive) in `direction`, in that order.
    fn page(
        &self,
        query: &Query,
        category: Option<&Name>,
        bound: u64,
        direction: Direction,
        limit: usize,
    ) -> Vec<u64> {
        let lists = match self.candidates(query) {
            Candidates::All => return self.page_of_all(query, category, bound, direction, limit),
            Candidates::Lists(lists) => lists,
        };
        let mut cursors: Vec<usize> = lists
            .iter()
            .map(|list| match direction {
                Direction::Forwards => list.partition_point(|&sequence| sequence <= bound),
                Direction::Backwards => list.partition_point(|&sequence| sequence < bound),
            })
            .collect();
        let mut page = Vec::new();
        let mut last = None;
        while page.len() < limit {
            let Some(next) = next_of(&lists, &mut cursors, direction) else {
                break;
            };
            if last != Some(next) && self.matches(next, query, category) {
                page.push(next);
            }
            last = Some(next);
        }
        page
    }

    fn page_of_all(
        &self,
        query: &Query,
        category: Option<&Name>,
        bound: u64,
        direction: Direction,
        limit: usize,
    ) -> Vec<u64> {
        let forwards = bound.saturating_add(1)..=self.len();
        let backwards = (1..bound.min(self.len() + 1)).rev();
        let sequences: Box<dyn Iterator<Item = u64>> = match direction {
            Direction::Forwards => Box::new(forwards),
            Direction::Backwards => Box::new(backwards),
        };
        sequences
            .filter(|&sequence| self.matches(sequence, query, category))
            .take(limit)
            .collect()
    }
}

/// The first sequence number in `list` (increasing) at or above `from`.
fn first_from(list: &[u64], from: u64) -> Option<u64> {
    list.get(list.partition_point(|&sequence| sequence < from))
        .copied()
}

/// The next sequence number of the merged lists in `direction`, advancing
/// its list's cursor (cursors point past what was taken, backwards: at it).
fn next_of(lists: &[&[u64]], cursors: &mut [usize], direction: Direction) -> Option<u64> {
    let mut best: Option<(usize, u64)> = None;
    for (index, list) in lists.iter().enumerate() {
        let candidate = match direction {
            Direction::Forwards => list.get(cursors[index]).copied(),
            Direction::Backwards => cursors[index].checked_sub(1).map(|at| list[at]),
        };
        let Some(candidate) = candidate else { continue };
        let better = best.is_none_or(|(_, current)| match direction {
            Direction::Forwards => candidate < current,
            Direction::Backwards => candidate > current,
        });
        if better {
            best = Some((index, candidate));
        }
    }
    let (index, next) = best?;
    match direction {
        Direction::Forwards => cursors[index] += 1,
        Direction::Backwards => cursors[index] -= 1,
    }
    // Equal numbers in other lists are passed over by the caller.
    Some(next)
}

/// A query read: the head is the next sequence number when the read begins
/// (every event is visible once its save returns); pages of matching events
/// below it follow, one read lock per page.
pub(crate) fn read(shared: Arc<Shared>, request: QueryRequest) -> QueryRead {
    let frontier = shared.log.read().len() + 1;
    let head = Head::new(shared.store_id, frontier);
    let lower = request
        .after()
        .map_or(0, |after| after.frontier().saturating_sub(1));
    let bound = match request.direction() {
        Direction::Forwards => lower,
        Direction::Backwards => frontier,
    };
    let category = match request.target() {
        EventSourceIdentifier::Category(category) => Some(category.category.clone()),
        _ => None,
    };
    let cursor = ReadCursor {
        shared,
        request,
        category,
        bound,
        lower,
        frontier,
        done: false,
    };
    let limit = cursor.request.limit().map_or(usize::MAX, |limit| {
        usize::try_from(limit).unwrap_or(usize::MAX)
    });
    let events = stream::unfold(cursor, |mut cursor| async move {
        let page = cursor.next_page()?;
        Some((page, cursor))
    })
    .flat_map(|page| stream::iter(page.into_iter().map(Ok)))
    .take(limit);
    QueryRead {
        head,
        events: events.boxed(),
    }
}

struct ReadCursor {
    shared: Arc<Shared>,
    request: QueryRequest,
    category: Option<Name>,
    /// The last sequence number passed (exclusive bound of the next page).
    bound: u64,
    /// Events at or below this are before the read's `after` head.
    lower: u64,
    /// Events at or above this were not visible when the read began.
    frontier: u64,
    done: bool,
}

impl ReadCursor {
    fn next_page(&mut self) -> Option<Vec<StoredEvent>> {
        if self.done {
            return None;
        }
        let want = self.shared.page_size;
        let log = self.shared.log.read();
        let direction = self.request.direction();
        let query = self.request.query();
        let numbers = log.page(query, self.category.as_ref(), self.bound, direction, want);
        let full = numbers.len() == want;
        let inside: Vec<u64> = numbers
            .into_iter()
            .take_while(|&sequence| sequence > self.lower && sequence < self.frontier)
            .collect();
        self.done = !full || inside.len() < want;
        if let Some(&last) = inside.last() {
            self.bound = last;
        }
        Some(
            inside
                .into_iter()
                .map(|sequence| log.stored(sequence))
                .collect(),
        )
    }
}
