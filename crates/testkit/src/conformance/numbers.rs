//! JSON numbers: what every adapter stores and gives back as the same value,
//! decodable into the type it was encoded from, and what every adapter
//! refuses. A backend may spell a number differently on the way back
//! (a backend may write `1e2` as `100`); idempotent retries still recognise the
//! event.

use eventblocks_core::{Error, EventStore, Json, NewEvent, StoredEvent, WriteCondition};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::support::{assert_invalid, log, stream};
use crate::builders::event;

/// Number texts every adapter accepts, each stored and given back as the same
/// value: other spellings of plain numbers, the extremes of `f64`, `i64` and
/// `u64`, integers beyond them, decimals beyond `f64`'s precision, and the
/// limits of what PostgreSQL's `numeric` holds.
pub fn numbers_that_round_trip() -> Vec<String> {
    let owned = |texts: &[&str]| {
        texts
            .iter()
            .map(|&text| text.to_owned())
            .collect::<Vec<_>>()
    };
    let mut numbers = owned(&[
        "1e2",
        "1E+2",
        "0.1e1",
        "100.0e-2",
        "1.50",
        "-0",
        "-0.0",
        "0.000",
        "1e16",
        "1.2345678901234567e18",
        "1e308",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "2.2250738585072014e-308",
        "5e-324",
        "2.4703282292062328e-324",
        "1e-400",
        "9007199254740993",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551617123",
        "123456789012345678901234567890.123456789012345678901234567890",
        "1e-16383",
        "0e-16383",
        "1.5e-16382",
        "0e1073741822",
    ]);
    numbers.push(format!("17976931348623157{}", "0".repeat(292)));
    numbers.push(format!("0.{}1", "0".repeat(16_382)));
    numbers
}

/// Number texts every adapter refuses, as [`Error::InvalidInput`] on the field
/// that holds them: beyond the range of `f64` (they would not decode into a
/// `serde_json::Value`), more than 16383 digits after the decimal point once
/// written without the exponent, or an exponent of 1073741823 or more.
pub fn numbers_that_are_refused() -> Vec<String> {
    let owned = |texts: &[&str]| {
        texts
            .iter()
            .map(|&text| text.to_owned())
            .collect::<Vec<_>>()
    };
    let mut numbers = owned(&[
        "1e400",
        "-1e400",
        "1.8e308",
        "1e-16384",
        "1.0e-16383",
        "100e-16385",
        "0e-16384",
        "1e-20000",
        "0e-99999",
        "0e1073741823",
        "0e-1073741823",
        "1e-99999999999999999999",
    ]);
    numbers.push(format!("1{}", "0".repeat(400)));
    numbers.push(format!("0.{}1", "0".repeat(16_383)));
    numbers
}

/// `text` as a payload and as a metadata member is stored, read back equal by
/// value, decodes as the text did, and a retry of it returns the stored event.
pub(crate) async fn round_trip_number(store: &EventStore, text: &str) {
    let given = raw_event("number", text).unwrap_or_else(|e| panic!("{text:.40} is storable: {e}"));
    let handle = stream(store, "numbers", "round-trip");
    let published = handle
        .publish([given.clone()], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("publishing {text:.40}: {e}"));
    let read = handle.read().await.unwrap_or_else(|e| panic!("{e}"));
    let stored = read.last().unwrap_or_else(|| panic!("nothing read"));
    assert_eq!(stored, &published[0], "{text:.40} changed on the way");
    assert_eq!(stored.payload, *given.payload(), "{text:.40} changed value");
    assert_decodes_alike(text, stored.payload.as_str());
    let retried = handle
        .publish([given], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("retrying {text:.40}: {e}"));
    assert_eq!(retried, published, "the retry of {text:.40}");
}

/// The stored text decodes to the same `f64` and `serde_json::Value` (by
/// value) as the given text.
fn assert_decodes_alike(given: &str, stored: &str) {
    let float = |text: &str| serde_json::from_str::<f64>(text);
    let given_float = float(given).unwrap_or_else(|e| panic!("{given:.40}: {e}"));
    let stored_float = float(stored).unwrap_or_else(|e| panic!("{stored:.40}: {e}"));
    assert!(
        same_float(stored_float, given_float),
        "{given:.40} decoded to {given_float:e}, its stored form to {stored_float:e}"
    );
    let value = serde_json::from_str::<Value>(stored)
        .unwrap_or_else(|e| panic!("{stored:.40} as a Value: {e}"));
    assert_eq!(value.as_f64(), Some(given_float), "{given:.40} as a Value");
}

/// Numbers every adapter refuses are [`Error::InvalidInput`] naming the
/// payload or the metadata; how many inputs were tried.
pub(crate) fn refused_numbers() -> usize {
    let mut tried = 0;
    for text in numbers_that_are_refused() {
        assert_invalid(raw_event("e", &text), "payload");
        let metadata = raw(&format!(r#"{{"n":{text}}}"#));
        let with_metadata = event("e").build().with_metadata(&metadata);
        assert_invalid(with_metadata, "metadata");
        tried += 2;
    }
    tried
}

/// An event whose payload is `text` and whose metadata holds it as `n`, both
/// given as raw JSON text (so [`Json`]'s checks are what refuses it).
fn raw_event(name: &str, text: &str) -> eventblocks_core::Result<NewEvent> {
    NewEvent::new(name, &raw(text))?.with_metadata(&raw(&format!(r#"{{"n":{text}}}"#)))
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap_or_else(|e| panic!("{text:.40}: {e}"))
}

/// Equal as `f64`s, and bit for bit unless zero: a backend may give a
/// negative zero back as a zero, which compares equal.
fn same_float(a: f64, b: f64) -> bool {
    a == b && (a == 0.0 || a.to_bits() == b.to_bits())
}

/// A payload of the three number types serde writes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Numbers {
    float: f64,
    signed: i64,
    unsigned: u64,
}

fn extreme_numbers() -> Vec<Numbers> {
    let floats = [
        0.0,
        -0.0,
        0.1,
        1e16,
        1e21,
        1.234_567_890_123_456_7e18,
        f64::MAX,
        f64::MIN,
        1.7e308,
        f64::MIN_POSITIVE,
        5e-324,
        -1.5e-300,
        9_007_199_254_740_993.0,
    ];
    let integers = [
        (i64::MIN, u64::MAX),
        (i64::MAX, 0),
        (-1, 9_007_199_254_740_993),
    ];
    let pairs = integers.iter().cycle();
    floats
        .iter()
        .zip(pairs)
        .map(|(&float, &(signed, unsigned))| Numbers {
            float,
            signed,
            unsigned,
        })
        .collect()
}

/// Payloads encoded by serde from `f64`, `i64` and `u64` values at their
/// extremes come back equal by value and decode into the same values, as a
/// struct, a bare `f64` and a `serde_json::Value`; a retry returns them.
pub async fn numbers_come_back_as_they_were_encoded(store: EventStore) {
    let handle = stream(&store, "numbers", "extremes");
    let numbers = extreme_numbers();
    let mut events = Vec::new();
    for n in &numbers {
        events.push(event("numbers").payload(json!(n)).build());
        events.push(NewEvent::new("float", &n.float).unwrap_or_else(|e| panic!("{e}")));
        events.push(event("value").payload(json!({ "v": n.float })).build());
    }
    let published = handle
        .publish(events.clone(), WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("publishing extreme numbers: {e}"));
    let read = handle.read().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read, published, "the numbers changed on the way");
    for (n, stored) in numbers.iter().zip(read.chunks(3)) {
        assert_decoded(n, stored);
    }
    let retried = handle
        .publish(events, WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("retrying extreme numbers: {e}"));
    assert_eq!(retried, published, "the retry returns the stored events");
}

fn assert_decoded(n: &Numbers, stored: &[StoredEvent]) {
    let decode = |event: &StoredEvent| event.payload_as::<Numbers>();
    let as_struct = decode(&stored[0]).unwrap_or_else(|e| panic!("{n:?}: {e}"));
    assert!(
        same_float(as_struct.float, n.float),
        "{n:?} came back as {as_struct:?}"
    );
    assert_eq!(
        (as_struct.signed, as_struct.unsigned),
        (n.signed, n.unsigned)
    );
    let bare = stored[1]
        .payload_as::<f64>()
        .unwrap_or_else(|e| panic!("{n:?}: {e}"));
    assert!(
        same_float(bare, n.float),
        "{:e} came back as {bare:e}",
        n.float
    );
    let value = stored[2]
        .payload_as::<Value>()
        .unwrap_or_else(|e| panic!("{n:?}: {e}"));
    let float = value["v"].as_f64().unwrap_or(f64::NAN);
    assert!(
        same_float(float, n.float),
        "{:e} came back as {value}",
        n.float
    );
    let again = Json::to_json("payload", &value).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, stored[2].payload, "the Value holds the same value");
}

/// A retry whose payload and metadata spell the numbers differently (`1e2`
/// for `100`, members reordered) is the same event; a number that differs in
/// its last digit, even beyond `f64`'s precision, is another.
pub async fn a_retry_with_numbers_spelt_differently_is_the_same_event(store: EventStore) {
    let handle = stream(&store, "numbers", "respelt");
    let first = r#"{"a":1e2,"b":[1E+2,0.1e1,-0,1.50],"c":1e16,"d":18446744073709551617123}"#;
    let again =
        r#"{"d":1.8446744073709551617123e22,"c":10000000000000000,"b":[100,1,0,1.5],"a":100.0}"#;
    let other = r#"{"a":1e2,"b":[1E+2,0.1e1,-0,1.50],"c":1e16,"d":18446744073709551617124}"#;
    let original = spelt("n", first);
    let published = handle
        .publish([original.clone()], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("publishing {first}: {e}"));
    for retry in [original.clone(), spelt("n", again).with_id(original.id())] {
        let retried = handle
            .publish([retry], WriteCondition::StreamIsEmpty)
            .await
            .unwrap_or_else(|e| panic!("a retry spelt differently: {e}"));
        assert_eq!(retried, published);
    }
    let changed = spelt("n", other).with_id(original.id());
    match handle.publish([changed], WriteCondition::NoCondition).await {
        Err(Error::EventIdConflict { id, .. }) => assert_eq!(id, original.id()),
        result => panic!("a number one apart is another event, got {result:?}"),
    }
    assert_eq!(log(&store).await, published, "nothing written twice");
}

/// An event whose payload and metadata are both `text`.
fn spelt(name: &str, text: &str) -> NewEvent {
    NewEvent::new(name, &raw(text))
        .and_then(|event| event.with_metadata(&raw(text)))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A key given twice in one object, in a payload or in metadata, is refused:
/// backends disagree on which member would survive.
pub async fn repeated_keys_in_json_are_rejected(store: EventStore) {
    let _ = &store;
    for text in [
        r#"{"a":1,"a":1}"#,
        r#"{"a":1,"\u0061":2}"#,
        r#"[{"ok":1},{"b":{"c":1,"c":2}}]"#,
    ] {
        assert_invalid(NewEvent::new("e", &raw(text)), "payload");
        let nested = raw(&format!(r#"{{"m":{text}}}"#));
        assert_invalid(event("e").build().with_metadata(&nested), "metadata");
        assert!(Json::from_text("payload", text).is_err(), "{text}");
    }
}
