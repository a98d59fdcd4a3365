//! The reference implementation of searches: the query language's rules applied
//! in the most direct way, to compare adapters with.

use eventblocks_projection::query::{Cursor, Paging, Search};
use eventblocks_projection::StoredProjection;

/// Every projection of `all` that `search` selects, in result order,
/// ignoring paging.
pub fn reference_results(all: &[StoredProjection], search: &Search) -> Vec<StoredProjection> {
    let mut found: Vec<StoredProjection> = all
        .iter()
        .filter(|projection| search.matches(projection))
        .cloned()
        .collect();
    found.sort_by(|left, right| {
        search.order(
            &Cursor::of(left, search.sort_keys()),
            &Cursor::of(right, search.sort_keys()),
        )
    });
    found
}

/// The page of `search` over `all`, by the reference rules.
pub fn reference_page(all: &[StoredProjection], search: &Search) -> Vec<StoredProjection> {
    let found = reference_results(all, search);
    let limit = search.page_size() as usize;
    let cursor = |p: &StoredProjection| Cursor::of(p, search.sort_keys());
    match search.paging() {
        Paging::Offset(offset) => found
            .into_iter()
            .skip(usize::try_from(*offset).unwrap_or(usize::MAX))
            .take(limit)
            .collect(),
        Paging::After(after) => found
            .into_iter()
            .filter(|p| {
                after
                    .as_ref()
                    .is_none_or(|a| search.order(&cursor(p), a).is_gt())
            })
            .take(limit)
            .collect(),
        Paging::Before(before) => {
            let earlier: Vec<_> = found
                .into_iter()
                .filter(|p| search.order(&cursor(p), before).is_lt())
                .collect();
            let skip = earlier.len().saturating_sub(limit);
            earlier.into_iter().skip(skip).collect()
        }
        _ => unreachable!("the testkit knows every paging mode"),
    }
}
