//! JSON numbers on PostgreSQL: `jsonb` keeps numbers as `numeric` and writes
//! them back in full without an exponent, so what comes back is spelt
//! differently from what was given; it must still be the same value, decode
//! into the same `f64`, and be recognised by a retry. And core must refuse
//! exactly the numbers `jsonb` cannot store, so every adapter accepts the same
//! documents.

mod common;

use eventblocks_core::{Json, NewEvent, WriteCondition};
use eventblocks_testkit::conformance::{numbers_that_are_refused, numbers_that_round_trip};
use serde_json::value::RawValue;
use tokio_postgres::NoTls;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

#[tokio::test]
async fn numbers_come_back_spelt_differently_as_the_same_values() {
    let store = common::store().await;
    let handle = store.stream("numbers", "respelt").unwrap();
    let given = "[1e2,1E+2,0.1e1,-0,-0.0,1e16,1.7976931348623157e308,5e-324]";
    let event = NewEvent::new("numbers", &raw(given)).unwrap();
    let published = handle
        .publish([event.clone()], WriteCondition::NoCondition)
        .await
        .unwrap();
    let read = handle.read().await.unwrap();
    let stored = &read[0].payload;
    assert!(
        !stored.as_str().contains('e'),
        "PostgreSQL writes numbers without exponents: {stored:.80}"
    );
    assert!(stored.as_str().len() > 309, "f64::MAX is written in full");
    assert_eq!(*stored, *event.payload(), "the same value");
    let floats = read[0].payload_as::<Vec<f64>>().unwrap();
    let expected = [100.0, 100.0, 1.0, 0.0, 0.0, 1e16, f64::MAX, 5e-324];
    assert_eq!(floats, expected, "decoded as given");
    let retried = handle
        .publish([event], WriteCondition::StreamIsEmpty)
        .await
        .expect("the retry is recognised, not an id conflict");
    assert_eq!(retried, published);
}

/// Whether `jsonb` takes `text`.
async fn postgres_stores(client: &tokio_postgres::Client, text: &str) -> bool {
    client
        .query_one("SELECT $1::text::jsonb", &[&text])
        .await
        .is_ok()
}

#[tokio::test]
async fn core_refuses_exactly_the_numbers_jsonb_cannot_store_and_those_beyond_f64() {
    let (client, connection) = tokio_postgres::connect(&common::database_url(), NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    // Refused by core although jsonb would store them: they would not decode
    // into an f64 or a serde_json::Value.
    let beyond_f64 = [
        "1e400",
        "-1e400",
        "1.8e308",
        "1e131071",
        &format!("1{}", "0".repeat(400)),
    ]
    .map(String::from);
    let boundaries = [
        "1e131072",
        "1e-16383",
        "1e-16384",
        "10e-16384",
        "1.00e-16382",
        "0e1073741822",
        "0e1073741823",
        "0e-1073741822",
        "-0e-16383",
    ]
    .map(String::from);
    let probes = numbers_that_round_trip()
        .into_iter()
        .chain(numbers_that_are_refused())
        .chain(boundaries)
        .chain(beyond_f64.clone());
    for text in probes {
        let core = Json::from_text("payload", text.as_str()).is_ok();
        let postgres = postgres_stores(&client, &text).await;
        if beyond_f64.contains(&text) {
            assert!(
                !core && postgres,
                "{text:.40}: beyond f64, refused by core only"
            );
        } else {
            assert_eq!(
                core, postgres,
                "{text:.40}: core accepts it: {core}, jsonb: {postgres}"
            );
        }
    }
}
