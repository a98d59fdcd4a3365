//! Scans: one page of events copied per read-lock acquisition.

use std::sync::Arc;

use eventblocks_core::{Direction, EventSourceIdentifier, EventStream, ScanRequest, StoredEvent};
use futures::{stream, StreamExt};

use crate::log::{Log, Targeted};
use crate::Shared;

/// Where a scan has got to.
struct Cursor {
    shared: Arc<Shared>,
    request: ScanRequest,
    /// The last sequence number examined (exclusive bound for the next page).
    bound: Option<u64>,
    remaining: Option<u64>,
    done: bool,
}

/// The lazily paged stream of `request`'s events.
pub(crate) fn pages(shared: Arc<Shared>, request: ScanRequest) -> EventStream {
    let cursor = Cursor {
        shared,
        bound: request.after(),
        remaining: request.limit(),
        request,
        done: false,
    };
    stream::unfold(cursor, |mut cursor| async move {
        let page = cursor.next_page()?;
        Some((page, cursor))
    })
    .flat_map(|page| stream::iter(page.into_iter().map(Ok)))
    .boxed()
}

impl Cursor {
    fn next_page(&mut self) -> Option<Vec<StoredEvent>> {
        if self.done || self.remaining == Some(0) {
            return None;
        }
        let shared = self.shared.clone();
        let log = shared.log.read();
        let targeted = log.targeted(self.request.target());
        let want = self.page_len();
        let page = match self.request.direction() {
            Direction::Forwards => self.forwards(&log, &targeted, want),
            Direction::Backwards => self.backwards(&log, &targeted, want),
        };
        if let Some(remaining) = &mut self.remaining {
            *remaining -= page.len() as u64;
        }
        Some(page)
    }

    fn page_len(&self) -> usize {
        let limit = self.remaining.map_or(usize::MAX, |left| {
            usize::try_from(left).unwrap_or(usize::MAX)
        });
        self.shared.page_size.min(limit)
    }

    /// The position bound of a stream scan, as an index into the stream's list.
    fn position_index(&self) -> Option<usize> {
        match self.request.target() {
            EventSourceIdentifier::Stream(_) => self
                .request
                .from_position()
                .map(|position| usize::try_from(position).unwrap_or(usize::MAX)),
            _ => None,
        }
    }

    fn forwards(&mut self, log: &Log, targeted: &Targeted<'_>, want: usize) -> Vec<StoredEvent> {
        let mut index = self.bound.map_or(0, |bound| targeted.first_after(bound));
        index = index.max(self.position_index().unwrap_or(0));
        let mut page = Vec::with_capacity(want.min(targeted.len().saturating_sub(index)));
        let mut examined = 0;
        while index < targeted.len() && page.len() < want && examined < self.shared.page_size * 4 {
            if !self.take(log, targeted.get(index), &mut page) {
                return page;
            }
            index += 1;
            examined += 1;
        }
        self.done = index >= targeted.len();
        page
    }

    fn backwards(&mut self, log: &Log, targeted: &Targeted<'_>, want: usize) -> Vec<StoredEvent> {
        let mut end = match self.bound {
            Some(0) => 0,
            Some(bound) => targeted.first_after(bound - 1),
            None => targeted.len(),
        };
        if let Some(from) = self.position_index() {
            end = end.min(from.saturating_add(1));
        }
        let mut page = Vec::with_capacity(want.min(end));
        let mut examined = 0;
        while end > 0 && page.len() < want && examined < self.shared.page_size * 4 {
            end -= 1;
            if !self.take(log, targeted.get(end), &mut page) {
                return page;
            }
            examined += 1;
        }
        self.done = end == 0;
        page
    }

    /// Adds the event at `sequence_number` to `page` if it matches; `false`
    /// (and the scan done) once past the request's `before` bound.
    fn take(&mut self, log: &Log, sequence_number: u64, page: &mut Vec<StoredEvent>) -> bool {
        if self.request.is_past_end(sequence_number) {
            self.done = true;
            return false;
        }
        self.bound = Some(sequence_number);
        let event = log.stored(sequence_number);
        if self.request.matches(&event) {
            page.push(event);
        }
        true
    }
}
