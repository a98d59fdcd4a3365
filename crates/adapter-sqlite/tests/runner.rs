//! The projection runner on SQLite: events, projections, checkpoints and
//! leases all in one new file per case.

mod common;

eventblocks_testkit::runner_suite!(common::runner_fixture);
