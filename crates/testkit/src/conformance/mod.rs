//! The event-store conformance suite: every behaviour the adapter contract
//! ([`eventblocks_core::StorageAdapter`]) promises, as
//! cases any adapter runs.
//!
//! Run it with one macro in a test file of your adapter's crate; each case
//! becomes its own test with a fresh store from your factory:
//!
//! ```ignore
//! use eventblocks_core::EventStore;
//! use eventblocks_memory::MemoryAdapter;
//!
//! eventblocks_testkit::event_store_suite!(|| async { EventStore::new(MemoryAdapter::new()) });
//! ```
//!
//! or call [`run_all`] to run every case and get the failures back. A case
//! panics with a message saying what differed.

mod bad_input;
mod boundaries;
mod catalogue;
mod concurrency;
mod conditions;
mod decisions;
mod idempotency;
mod input_table;
mod model;
mod numbers;
mod reads;
mod subscriptions;
mod support;
mod wide;
mod writes;

use std::future::Future;
use std::panic::AssertUnwindSafe;

use eventblocks_core::EventStore;
use futures::future::BoxFuture;
use futures::FutureExt;

pub use bad_input::*;
pub use boundaries::*;
pub use catalogue::*;
pub use concurrency::*;
pub use conditions::*;
pub use decisions::*;
pub use idempotency::*;
pub use input_table::*;
pub use model::*;
pub use numbers::*;
pub use reads::*;
pub use subscriptions::*;
pub use wide::*;
pub use writes::*;

/// Calls `$callback!($($args)*; case, case, …)` with the name of every case:
/// the one list of cases, used by [`event_store_suite!`](crate::event_store_suite)
/// and [`CASES`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_event_store_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)* ;
            round_trip_keeps_every_field,
            a_publish_is_stored_contiguously,
            sequence_numbers_increase_across_streams,
            a_category_publish_writes_every_stream,
            no_condition_always_holds,
            position_is_checks_the_last_position,
            stream_is_empty_checks_for_no_events,
            and_needs_both_conditions,
            or_needs_either_condition,
            category_conditions_hold_per_stream,
            a_failed_category_publish_writes_no_stream,
            empty_targets_have_nothing,
            latest_of_every_target,
            a_log_scan_resumes_after_a_sequence_number,
            a_category_scan_keeps_to_its_category,
            a_stream_scan_starts_from_a_position,
            scans_run_backwards,
            a_limit_caps_a_scan,
            a_name_filter_keeps_only_those_names,
            query_options_combine,
            before_bounds_a_window,
            name_prefixes_and_exclusions_filter_names,
            a_sparse_name_filter_pages_through_many_events,
            a_scan_starts_from_the_latest_event_of_a_name,
            reads_see_the_writer_own_writes,
            scans_page_through_many_events,
            one_of_many_conditional_writers_wins,
            retrying_writers_fill_every_position_once,
            concurrent_writers_lose_nothing,
            tailing_readers_see_every_event_in_order,
            saves_of_thousands_of_streams_succeed,
            a_save_beyond_the_event_limit_is_refused,
            wide_and_narrow_saves_race_without_breaking_conditions,
            wide_saves_in_opposite_orders_do_not_deadlock,
            a_wide_save_is_not_starved_by_a_busy_stream,
            stream_decisions_keep_an_invariant_under_concurrency,
            boundary_decisions_keep_an_invariant_across_streams,
            a_retry_returns_the_stored_events,
            a_retry_of_a_category_publish_returns_the_stored_events,
            reusing_an_id_with_other_content_is_rejected,
            reusing_an_id_in_another_stream_is_rejected,
            bad_names_are_rejected,
            nul_characters_in_json_are_rejected,
            repeated_keys_in_json_are_rejected,
            metadata_must_be_an_object,
            duplicate_ids_in_one_publish_are_rejected,
            a_nil_id_is_rejected,
            an_empty_publish_is_rejected,
            positions_beyond_i64_are_rejected,
            a_limit_of_zero_is_rejected,
            bad_input_writes_nothing,
            every_input_in_the_table_is_handled_alike,
            numbers_come_back_as_they_were_encoded,
            a_retry_with_numbers_spelt_differently_is_the_same_event,
            random_operations_match_a_reference_model,
            a_live_subscription_receives_a_new_event_promptly,
            catch_up_then_live_never_skips_or_repeats,
            a_subscription_resumes_after_a_checkpoint,
            tags_come_back_as_a_sorted_set,
            invalid_tags_are_refused_before_anything_is_written,
            tags_count_in_retry_equality,
            query_reads_match_by_the_dcb_rule,
            query_reads_page_lazily_in_log_order,
            a_query_read_after_a_head_returns_only_what_is_new,
            a_category_query_keeps_to_its_category,
            heads_round_trip_as_text_and_json,
            a_head_from_another_store_or_malformed_is_refused,
            a_query_read_and_its_head_are_one_snapshot,
            a_query_read_starts_from_the_latest_event_of_a_name,
            none_match_after_holds_until_a_matching_event_follows_the_head,
            none_match_guards_uniqueness_and_is_reported_distinctly,
            query_conditions_compose_with_stream_conditions,
            stream_is_not_empty_and_last_event_is_check_the_stream,
            reads_and_conditions_share_the_matching_rule,
            a_log_publish_is_atomic_across_categories,
            a_tracked_publish_records_its_position_and_writes_a_replay_once,
            retries_of_boundary_publishes_return_the_stored_events,
            oversized_queries_and_tags_are_refused_before_the_adapter_sees_them,
            a_subscription_after_a_head_starts_right_after_it,
            racers_on_one_boundary_win_one_at_a_time,
            racers_on_disjoint_boundaries_never_conflict,
            check_then_insert_racers_have_one_winner,
            decisions_count_every_event_before_them,
            random_boundary_operations_match_a_reference_model,
            an_empty_catalogue_lists_nothing,
            the_catalogue_lists_what_is_stored,
            catalogue_pages_follow_prefix_and_token,
            bad_catalogue_queries_are_refused,
            the_catalogue_follows_saves,
        }
    };
}

/// Expands to one test per conformance case, each running against a fresh
/// store from `$factory` (a closure returning a future of an [`EventStore`]).
///
/// The tests run on a multi-threaded runtime of the testkit's own; the crate
/// that calls this needs no tokio dependency.
#[macro_export]
macro_rules! event_store_suite {
    ($factory:expr) => {
        $crate::__with_event_store_cases!(__suite_tests!(
            $crate::__reexports::EventStore,
            [$crate::conformance],
            4,
            $factory
        ));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __event_store_case_table {
    ( ; $($case:ident),* $(,)?) => {
        /// Every conformance case by name, in the order the suite runs them.
        pub const CASES: &[(&str, Case)] = &[
            $( (stringify!($case), |store| Box::pin($case(store))) ),*
        ];
    };
}

/// A conformance case: takes a fresh store, panics if the adapter differs.
pub type Case = fn(EventStore) -> BoxFuture<'static, ()>;

crate::__with_event_store_cases!(__event_store_case_table!());

/// A case that failed, and why.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The case's name.
    pub case: &'static str,
    /// The panic message.
    pub message: String,
}

/// Runs every case, one after another, each with a fresh store from
/// `factory`, and returns the failures (empty when the adapter conforms).
pub async fn run_all<F, Fut>(factory: F) -> Vec<Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = EventStore>,
{
    let mut failures = Vec::new();
    for (case, run) in CASES {
        let store = factory().await;
        if let Err(panic) = AssertUnwindSafe(run(store)).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned());
            failures.push(Failure { case, message });
        }
    }
    failures
}
