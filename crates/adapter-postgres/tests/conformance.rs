//! The PostgreSQL adapter runs the whole event-store conformance suite, under
//! each serialisation guarantee, each test in a fresh schema.

mod common;

use eventblocks_core::{EventStore, SerialisationGuarantee};

async fn store_with(guarantee: SerialisationGuarantee) -> EventStore {
    let adapter = common::adapter_with(|b| b.serialisation_guarantee(guarantee).page_size(7)).await;
    EventStore::new(adapter)
}

mod stream_guarantee {
    use super::*;
    eventblocks_testkit::event_store_suite!(|| store_with(SerialisationGuarantee::Stream));
}

mod category_guarantee {
    use super::*;
    eventblocks_testkit::event_store_suite!(|| store_with(SerialisationGuarantee::Category));
}

mod log_guarantee {
    use super::*;
    eventblocks_testkit::event_store_suite!(|| store_with(SerialisationGuarantee::Log));
}
