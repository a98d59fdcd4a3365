//! How a suite's one list of cases becomes tests: every suite macro
//! ([`event_store_suite!`](crate::event_store_suite),
//! [`event_store_cancellation_suite!`](crate::event_store_cancellation_suite),
//! [`cancellation_suite!`](crate::cancellation_suite),
//! [`projection_store_suite!`](crate::projection_store_suite),
//! [`runner_suite!`](crate::runner_suite)) hands its case list to
//! `__suite_tests!`, which writes one test per case, each on a fresh fixture
//! from the caller's factory.
//!
//! The tests are plain `#[test]` functions that build their runtime here, so
//! the crate that runs a suite needs no tokio dependency of its own (a
//! `#[tokio::test]` would need the caller's crate to depend on tokio with its
//! `macros` feature).

use std::future::Future;

/// Runs `case` to its end on a fresh multi-threaded runtime, as
/// `#[tokio::test(flavor = "multi_thread")]` would.
///
/// # Panics
/// If the runtime cannot be built, or `case` panics (a failed case).
#[doc(hidden)]
pub fn run_case(worker_threads: usize, case: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("building the runtime for a case failed: {error}"));
    // On the heap: a case's future can be larger than a test thread's stack.
    runtime.block_on(Box::pin(case));
}

/// `__suite_tests!(Fixture, [path::of::the::cases], worker_threads, factory;
/// case, case, …)` expands to one `#[test]` per case: it awaits a fresh
/// `Fixture` from `factory()` and passes it to `path::of::the::cases::case`.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    ($fixture:ty, $cases:tt, $workers:expr, $factory:expr ; $($case:ident),* $(,)?) => {
        $( $crate::__suite_test!($fixture, $cases, $workers, $factory, $case); )*
    };
}

/// One test of `__suite_tests!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_test {
    ($fixture:ty, [$($cases:tt)+], $workers:expr, $factory:expr, $case:ident) => {
        #[test]
        fn $case() {
            $crate::__reexports::run_case($workers, async {
                let fixture: $fixture = ($factory)().await;
                $($cases)+::$case(fixture).await;
            });
        }
    };
}
