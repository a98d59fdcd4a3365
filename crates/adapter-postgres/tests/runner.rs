//! The projection runner on PostgreSQL: events, projections, checkpoints and
//! leases all in one fresh schema per case.

mod common;

eventblocks_testkit::runner_suite!(|| async { common::runner_fixture(16).await.0 });
