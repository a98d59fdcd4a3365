//! Proptest strategies for events, for property tests of your own.

use eventblocks_core::NewEvent;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Event names: short, printable, sometimes with spaces or non-ASCII letters.
pub fn event_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,15}( [a-zé]{1,4})?"
}

/// Stream or category names.
pub fn identifier_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{0,11}"
}

/// JSON values of every type, nested a little, without NUL characters.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|n| json!(n)),
        "[^\u{0}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// JSON objects, for payloads and metadata.
pub fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..5)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

/// Valid new events with random names, payloads and metadata.
pub fn new_event() -> impl Strategy<Value = NewEvent> {
    (event_name(), json_object(), json_object()).prop_map(|(name, payload, metadata)| {
        NewEvent::new(&name, &payload)
            .and_then(|event| event.with_metadata(&metadata))
            .expect("the strategy makes valid events")
    })
}
