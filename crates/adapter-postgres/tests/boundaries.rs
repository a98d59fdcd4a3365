//! Consistency boundaries against real concurrency: what the generic kit
//! cannot force on every backend. Another session holds a transaction open in
//! the middle of a save (locks taken, event inserted, not committed), so
//! commit order, waiting and not waiting can be observed exactly.

mod common;

use std::time::Duration;

use eventblocks_core::{
    Error, EventStore, Head, NewEvent, Query, QueryItem, QueryOptions, ScanQuery, StoredEvent,
    WriteCondition,
};
use futures::TryStreamExt;
use serde_json::json;
use tokio_postgres::{Client, NoTls};

fn tagged(name: &str, tag: &str) -> NewEvent {
    NewEvent::new(name, &json!({})).unwrap().tag(tag).unwrap()
}

fn course(id: &str) -> Query {
    Query::new().or(QueryItem::new().tags([format!("course:{id}")]).unwrap())
}

/// A session of the test's own (named after its schema, so it ends with the
/// test), in a transaction.
async fn session(schema: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(&common::url_named(schema), NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    client.batch_execute("BEGIN").await.unwrap();
    client
}

/// Takes advisory locks in the session's transaction as a save does: `keys`
/// are the adapter's boundary keys (`all`, `tag:<tag>`, `name:<name>`),
/// `shared` or not.
async fn take(client: &Client, schema: &str, keys: &[(&str, bool)]) {
    let keys: Vec<String> = keys
        .iter()
        .map(|(key, shared)| {
            let key = format!("eventblocks:{schema}.events:boundary:{key}");
            if *shared {
                format!("shared {key}")
            } else {
                key
            }
        })
        .collect();
    client
        .execute(
            &format!("SELECT \"{schema}\".events_take_locks($1)"),
            &[&keys],
        )
        .await
        .unwrap();
}

/// Another writer's save of an event `name` tagged `tag` to `slow/<stream>`,
/// stopped just before its commit: it holds the locks such a save holds and
/// has inserted the event. Returns the session and the event's sequence
/// number.
async fn write_in_flight(schema: &str, stream: &str, name: &str, tag: &str) -> (Client, u64) {
    let client = session(schema).await;
    take(
        &client,
        schema,
        &[
            ("all", true),
            (&format!("name:{name}"), true),
            (&format!("tag:{tag}"), true),
        ],
    )
    .await;
    // As the save function writes: the event, and its tag in the tag table.
    let row = client
        .query_one(
            &format!(
                "WITH inserted AS (
                     INSERT INTO \"{schema}\".events
                         (sequence_number, id, category, stream, position, name, payload,
                          metadata, occurred_at, observed_at, tags)
                     VALUES (\"{schema}\".events_allocate(1), gen_random_uuid(), 'slow', $1,
                             0, $2, '{{}}', '{{}}', now(), now(), ARRAY[$3])
                     RETURNING sequence_number, tags)
                 INSERT INTO \"{schema}\".events_tags (tag, sequence_number)
                 SELECT tags[1], sequence_number FROM inserted
                 RETURNING sequence_number"
            ),
            &[&stream, &name, &tag],
        )
        .await
        .unwrap();
    let sequence_number: i64 = row.get(0);
    (client, u64::try_from(sequence_number).unwrap())
}

async fn read(
    store: &EventStore,
    query: &Query,
    options: QueryOptions,
) -> (Head, Vec<StoredEvent>) {
    let read = store.log().query(query.clone(), options).await.unwrap();
    (read.head, read.events.try_collect().await.unwrap())
}

async fn publish(
    store: &EventStore,
    stream: &str,
    event: NewEvent,
    condition: WriteCondition,
) -> eventblocks_core::Result<Vec<StoredEvent>> {
    store
        .stream("students", stream)
        .unwrap()
        .publish([event], condition)
        .await
}

/// Waits until a log scan shows `events` (other tests' transactions on the
/// shared server may hold the read horizon back for a while).
async fn settled(store: &EventStore, events: &[StoredEvent]) {
    for _ in 0..500 {
        let log: Vec<StoredEvent> = store
            .log()
            .scan(ScanQuery::new())
            .try_collect()
            .await
            .unwrap();
        if log == events {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the log never settled");
}

/// An event committed out of order below the head still moves the boundary.
/// A transaction takes a sequence number and stays open; a later matching
/// event commits first. A query read then returns neither (the later one is
/// visible, but lies above a transaction still running: a head past it would
/// be past the open one too, as a head read apart from its events would be),
/// and when the open transaction commits, a decision on that head fails.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_committed_out_of_order_below_the_head_moves_the_boundary() {
    let test = common::adapter_with(|b| b.horizon_wait(Duration::from_millis(50))).await;
    let schema = test.schema.clone();
    let store = EventStore::new(test);
    let defined = publish(
        &store,
        "c1",
        tagged("course-defined", "course:c1"),
        WriteCondition::NoCondition,
    )
    .await
    .unwrap();
    settled(&store, &defined).await;
    let (slow, slow_number) = write_in_flight(&schema, "s1", "student-enrolled", "course:c1").await;
    let later = publish(
        &store,
        "s2",
        tagged("student-enrolled", "course:c1"),
        WriteCondition::NoCondition,
    )
    .await
    .unwrap();
    assert!(
        later[0].sequence_number > slow_number,
        "numbered in transaction order"
    );
    let (head, seen) = read(&store, &course("c1"), QueryOptions::new()).await;
    assert_eq!(
        seen, defined,
        "nothing at or above a transaction still running"
    );
    slow.batch_execute("COMMIT").await.unwrap();
    let decided = publish(
        &store,
        "s3",
        tagged("student-enrolled", "course:c1"),
        WriteCondition::NoneMatchAfter(course("c1"), head),
    )
    .await;
    match decided {
        Err(Error::BoundaryMoved { found, .. }) => assert!(
            found == slow_number || found == later[0].sequence_number,
            "found {found}"
        ),
        other => panic!("the boundary moved below the head, yet: {other:?}"),
    }
    // With a short horizon wait, another test's open transaction may hold
    // the read back for a while: wait rather than trail.
    let expected = [slow_number, later[0].sequence_number];
    for _ in 0..500 {
        let (_, after) = read(&store, &course("c1"), QueryOptions::new().after(head)).await;
        let numbers: Vec<u64> = after.iter().map(|e| e.sequence_number).collect();
        if numbers == expected {
            return;
        }
        assert!(numbers.len() < 2, "after the head: {numbers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("both events lie after the head, yet a read after it never returned them");
}

/// A check waits for a matching write in flight and then sees it: a
/// decision on a head read before the write, or a uniqueness guard, started
/// while the write is open, neither returns until it commits, then fails
/// (check-then-insert at READ COMMITTED without the lock would let both in).
#[tokio::test(flavor = "multi_thread")]
async fn a_check_waits_for_a_matching_write_in_flight_and_sees_it() {
    let test = common::adapter().await;
    let schema = test.schema.clone();
    let store = EventStore::new(test);
    let (head, _) = read(&store, &course("c1"), QueryOptions::new()).await;
    let (slow, slow_number) = write_in_flight(&schema, "s1", "student-enrolled", "course:c1").await;
    let decision = tokio::spawn({
        let store = store.clone();
        async move {
            let condition = WriteCondition::NoneMatchAfter(course("c1"), head);
            publish(
                &store,
                "s2",
                tagged("student-enrolled", "course:c1"),
                condition,
            )
            .await
        }
    });
    let guard = tokio::spawn({
        let store = store.clone();
        async move {
            let condition = WriteCondition::NoneMatch(course("c1"));
            publish(
                &store,
                "s3",
                tagged("student-enrolled", "course:c1"),
                condition,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !decision.is_finished() && !guard.is_finished(),
        "the checks wait for the write in flight"
    );
    slow.batch_execute("COMMIT").await.unwrap();
    let decided = decision.await.unwrap();
    assert!(
        matches!(decided, Err(Error::BoundaryMoved { found, .. }) if found == slow_number),
        "{decided:?}"
    );
    let guarded = guard.await.unwrap();
    assert!(
        matches!(guarded, Err(Error::AlreadyMatched { found, .. }) if found == slow_number),
        "{guarded:?}"
    );
}

/// Saves on disjoint boundaries do not wait for each other: while another
/// session is in the middle of checking boundary c1 (its exclusive lock
/// held), decisions on other courses, writing their events, complete; a
/// write of a c1 event waits for it (so the lock held is the one a check
/// takes).
#[tokio::test(flavor = "multi_thread")]
async fn saves_on_disjoint_boundaries_do_not_wait_for_each_other() {
    let test = common::adapter().await;
    let schema = test.schema.clone();
    let store = EventStore::new(test);
    let checking = session(&schema).await;
    take(
        &checking,
        &schema,
        &[("all", true), ("tag:course:c1", false)],
    )
    .await;
    let (head, _) = read(&store, &Query::all(), QueryOptions::new()).await;
    let promptly = Duration::from_secs(5);
    for (student, id) in [("s1", "c2"), ("s2", "c3"), ("s3", "c4")] {
        let condition = WriteCondition::NoneMatchAfter(course(id), head)
            & WriteCondition::NoneMatch(course(id));
        let event = tagged("student-enrolled", &format!("course:{id}"));
        let decided = tokio::time::timeout(promptly, publish(&store, student, event, condition))
            .await
            .expect("a decision on another boundary does not wait");
        decided.unwrap();
    }
    let blocked = tokio::spawn({
        let store = store.clone();
        async move {
            publish(
                &store,
                "s4",
                tagged("student-enrolled", "course:c1"),
                WriteCondition::NoCondition,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !blocked.is_finished(),
        "a write of the checked boundary waits"
    );
    checking.batch_execute("COMMIT").await.unwrap();
    blocked.await.unwrap().unwrap();
}

/// A schema migrated before the tag table (tags in a column, under a GIN
/// index) gets the table filled from its tagged events: conditions and reads
/// see what was stored before, and the save and check functions an earlier
/// build calls write and look up tag rows too.
#[tokio::test(flavor = "multi_thread")]
async fn the_tag_table_migration_indexes_events_stored_before_it() {
    let test = common::adapter().await;
    let schema = test.schema.clone();
    let store = EventStore::new(test.adapter.clone());
    let enrolled = publish(
        &store,
        "s1",
        tagged("student-enrolled", "course:c1"),
        WriteCondition::NoCondition,
    )
    .await
    .unwrap();
    // Back to the schema as migration 8 left it.
    let client = session(&schema).await;
    client
        .batch_execute(&format!(
            "DROP TABLE \"{schema}\".events_tags;
             CREATE INDEX events_tags_idx ON \"{schema}\".events USING gin (tags);
             DELETE FROM \"{schema}\".events_migrations WHERE version = 9;
             COMMIT"
        ))
        .await
        .unwrap();
    assert_eq!(test.adapter.migrate().await.unwrap(), 1);

    let (_, events) = read(&store, &course("c1"), QueryOptions::new()).await;
    assert_eq!(events, enrolled);
    let refused = publish(
        &store,
        "s2",
        tagged("student-enrolled", "course:c1"),
        WriteCondition::NoneMatch(course("c1")),
    )
    .await
    .unwrap_err();
    assert!(refused.is_unmet_condition(), "{refused}");

    // An earlier build's check, with its JSON checks.
    let checks = json!([
        { "frontier": null, "items": [{ "names": [], "tags": ["course:c1"] }] },
        { "frontier": null, "items": [{ "names": ["student-enrolled"], "tags": ["course:c2"] }] },
        { "frontier": null, "items": [] },
    ]);
    let row = client
        .query_one(
            &format!("SELECT \"{schema}\".events_find_matches($1::jsonb)"),
            &[&checks],
        )
        .await
        .unwrap();
    let found: Vec<Option<i64>> = row.get(0);
    let first = i64::try_from(enrolled[0].sequence_number).unwrap();
    assert_eq!(found, vec![Some(first), None, Some(first)]);
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'events_tags_idx'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 0, "the GIN index is dropped");
}
