//! JSON numbers on PostgreSQL: event payloads and metadata are kept as the
//! text given (`json`), so numbers come back spelt as they were sent, decode
//! into the same `f64`, and a retry spelling them differently is still the
//! same event. Projections are `jsonb`, which keeps numbers as `numeric`:
//! core refuses exactly the numbers `jsonb` cannot store, so every adapter
//! accepts the same documents.

mod common;

use eventblocks_core::{Json, NewEvent, WriteCondition};
use eventblocks_testkit::conformance::{numbers_that_are_refused, numbers_that_round_trip};
use serde_json::value::RawValue;
use tokio_postgres::NoTls;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

#[tokio::test]
async fn numbers_come_back_as_given_and_respelt_retries_are_recognised() {
    let store = common::store().await;
    let handle = store.stream("numbers", "respelt").unwrap();
    let given = "[1e2,1E+2,0.1e1,-0,-0.0,1e16,1.7976931348623157e308,5e-324,0e-16383]";
    let event = NewEvent::new("numbers", &raw(given)).unwrap();
    let published = handle
        .publish([event.clone()], WriteCondition::NoCondition)
        .await
        .unwrap();
    let read = handle.read().await.unwrap();
    assert_eq!(read[0].payload.as_str(), given, "kept as the text given");
    let floats = read[0].payload_as::<Vec<f64>>().unwrap();
    let expected = [100.0, 100.0, 1.0, 0.0, 0.0, 1e16, f64::MAX, 5e-324, 0.0];
    assert_eq!(floats, expected, "decoded as given");
    let respelt = "[100,100,1,0,0,10000000000000000,1.7976931348623157E+308,5E-324,0]";
    let retry = NewEvent::new("numbers", &raw(respelt))
        .unwrap()
        .with_id(event.id());
    let retried = handle
        .publish([retry], WriteCondition::StreamIsEmpty)
        .await
        .expect("a retry spelling the numbers differently is recognised, not an id conflict");
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
