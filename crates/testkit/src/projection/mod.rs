//! The projection-store conformance suite, the projection-runner suite
//! ([`runner`]), and a harness for projector tests.
//!
//! Run the suite with one macro in a test file of your adapter's crate; each
//! case becomes its own test with a fresh, empty store from your factory:
//!
//! ```ignore
//! use eventblocks_projection::{MemoryProjectionStore, ProjectionStore};
//!
//! eventblocks_testkit::projection_store_suite!(|| async {
//!     ProjectionStore::new(MemoryProjectionStore::new())
//! });
//! ```
//!
//! Test your projectors with [`given`]`(events).when(projector).then(state)`.

mod cases;
mod dialect;
mod harness;
mod model;
mod reference;
mod replacement;
pub mod runner;
mod similarity;

pub use cases::*;
pub use dialect::*;
pub use harness::{given, Given, When};
pub use model::random_searches_match_the_reference;
pub use reference::{reference_page, reference_results};
pub use replacement::{
    a_save_replaces_the_projection_of_its_source,
    an_id_naming_another_sources_projection_is_refused,
    concurrent_saves_of_one_source_leave_one_projection, saves_under_an_older_fence_are_refused,
};
pub use similarity::{
    find_one_finds_the_single_match, similarity_inputs_are_refused_before_any_io,
    similarity_pages_cover_every_result_once, similarity_sorts_order_as_pg_trgm_does,
    similarity_texts, similarity_ties_break_alike,
};

/// Calls `$callback!($($args)*; case, case, …)` with the name of every
/// projection-store case.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_projection_store_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)* ;
            saves_load_and_replace,
            every_operator_on_every_kind,
            the_rules_hold_for_nulls_missing_paths_and_numbers,
            id_name_and_source_filters,
            sorts_on_several_fields,
            pages_cover_every_result_once,
            bad_input_is_rejected,
            regexes_mean_the_same_with_line_feeds,
            numbers_compare_exactly,
            array_index_segments_read_alike,
            limits_are_refused_alike_before_any_io,
            random_searches_match_the_reference,
            a_save_replaces_the_projection_of_its_source,
            an_id_naming_another_sources_projection_is_refused,
            concurrent_saves_of_one_source_leave_one_projection,
            saves_under_an_older_fence_are_refused,
            find_one_finds_the_single_match,
            similarity_sorts_order_as_pg_trgm_does,
            similarity_ties_break_alike,
            similarity_pages_cover_every_result_once,
            similarity_inputs_are_refused_before_any_io,
        }
    };
}

/// Expands to one test per projection-store case, each running against a
/// fresh, empty store from `$factory` (a closure returning a future of a
/// [`ProjectionStore`](eventblocks_projection::ProjectionStore)).
///
/// The tests run on a multi-threaded runtime of the testkit's own; the crate
/// that calls this needs no tokio dependency.
#[macro_export]
macro_rules! projection_store_suite {
    ($factory:expr) => {
        $crate::__with_projection_store_cases!(__suite_tests!(
            $crate::__reexports::ProjectionStore,
            [$crate::projection],
            2,
            $factory
        ));
    };
}
