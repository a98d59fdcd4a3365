//! One projection per name and source, and fenced saves.

use eventblocks_core::{Error, EventSourceIdentifier, Fence, Name, StreamIdentifier};
use eventblocks_projection::{Projection, ProjectionStore};
use serde_json::{json, Value};

fn source(name: &str) -> EventSourceIdentifier {
    EventSourceIdentifier::Stream(
        StreamIdentifier::new("things", name).unwrap_or_else(|e| panic!("valid stream: {e}")),
    )
}

fn projection(id: &str, of: &str, state: Value) -> Projection<Value, Value> {
    Projection {
        id: id.to_owned(),
        name: "renamed".to_owned(),
        source: source(of),
        state,
        metadata: json!({}),
    }
}

async fn save(store: &ProjectionStore, projection: &Projection<Value, Value>) {
    store
        .save(projection)
        .await
        .unwrap_or_else(|e| panic!("saving {}: {e}", projection.id));
}

async fn load(store: &ProjectionStore, id: &str) -> Option<Projection<Value, Value>> {
    store
        .load("renamed", id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn locate(store: &ProjectionStore, of: &str) -> Option<Projection<Value, Value>> {
    store
        .locate(&source(of), "renamed")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A save replaces the projection of its name and source whatever its id
/// (an id may change with the state); an id naming another source's
/// projection is refused and changes nothing.
pub async fn a_save_replaces_the_projection_of_its_source(store: ProjectionStore) {
    save(&store, &projection("a", "one", json!({"n": 1}))).await;
    let renamed = projection("b", "one", json!({"n": 2}));
    save(&store, &renamed).await;
    assert_eq!(
        store.count(&[]).await.ok(),
        Some(1),
        "one projection per source"
    );
    assert_eq!(load(&store, "a").await, None, "the old id is gone");
    assert_eq!(load(&store, "b").await.as_ref(), Some(&renamed));
    assert_eq!(locate(&store, "one").await.as_ref(), Some(&renamed));

    let taken = store.save(&projection("b", "two", json!({"n": 3}))).await;
    assert!(
        matches!(&taken, Err(Error::InvalidInput { .. })),
        "an id names one projection: {taken:?}"
    );
    assert_eq!(locate(&store, "two").await, None, "nothing was written");
    assert_eq!(locate(&store, "one").await, Some(renamed));

    let mut other_name = projection("b", "two", json!({"n": 4}));
    other_name.name = "other".to_owned();
    save(&store, &other_name).await;
    assert_eq!(
        store.count(&[]).await.ok(),
        Some(2),
        "names keep projections apart"
    );
}

/// An id names one projection of a name: saving another source's projection
/// under it is refused as invalid input and changes nothing. The stored
/// projection keeps its source, state and metadata, and the token of a fence
/// the refused save carried is not recorded.
pub async fn an_id_naming_another_sources_projection_is_refused(store: ProjectionStore) {
    let first = projection("a", "one", json!({"n": 1}));
    save(&store, &first).await;
    let owner = Name::new("consumer", "renamer").unwrap_or_else(|e| panic!("{e}"));
    let other = projection("a", "two", json!({"n": 2}));
    let refused = [
        store.save(&other).await,
        store
            .save_fenced(&other, &Fence::new(owner.clone(), 0, 5))
            .await,
    ];
    for refused in refused {
        assert!(
            matches!(&refused, Err(Error::InvalidInput { .. })),
            "the id names another source's projection: {refused:?}"
        );
    }
    assert_eq!(
        load(&store, "a").await,
        Some(first),
        "the first source's projection stays"
    );
    assert_eq!(locate(&store, "two").await, None, "nothing was written");
    let older = Fence::new(owner, 0, 4);
    let saved = store
        .save_fenced(&projection("b", "three", json!({})), &older)
        .await;
    saved.unwrap_or_else(|e| panic!("the refused save's token was not recorded: {e}"));
    assert_eq!(store.count(&[]).await.ok(), Some(2));
}

/// A save under a fence older than the newest seen for its partition is
/// refused and writes nothing; the newest token is accepted again, and other
/// partitions are fenced apart.
pub async fn saves_under_an_older_fence_are_refused(store: ProjectionStore) {
    let owner = Name::new("consumer", "renamer").unwrap_or_else(|e| panic!("{e}"));
    let (newer, older) = (
        Fence::new(owner.clone(), 2, 9),
        Fence::new(owner.clone(), 2, 8),
    );
    let first = projection("a", "one", json!({"n": 1}));
    let saved = store.save_fenced(&first, &newer).await;
    saved.unwrap_or_else(|e| panic!("{e}"));
    let stale = store
        .save_fenced(&projection("a", "one", json!({"n": 2})), &older)
        .await;
    assert!(
        matches!(
            stale,
            Err(Error::Fenced {
                token: 8,
                newest: 9,
                partition: 2,
                ..
            })
        ),
        "{stale:?}"
    );
    assert_eq!(
        locate(&store, "one").await,
        Some(first),
        "nothing was written"
    );
    let again = projection("a", "one", json!({"n": 3}));
    let saved = store.save_fenced(&again, &newer).await;
    saved.unwrap_or_else(|e| panic!("the newest token again: {e}"));
    let elsewhere = Fence::new(owner, 3, 1);
    let saved = store
        .save_fenced(&projection("c", "three", json!({})), &elsewhere)
        .await;
    saved.unwrap_or_else(|e| panic!("another partition: {e}"));
    assert_eq!(locate(&store, "one").await, Some(again));
}

/// Saves of one source under different ids, all at once, leave exactly one
/// projection: the replacement is atomic.
pub async fn concurrent_saves_of_one_source_leave_one_projection(store: ProjectionStore) {
    let saves = (0..8).map(|version| {
        let store = store.clone();
        async move {
            let projection = projection(&format!("v{version}"), "one", json!({ "v": version }));
            store.save(&projection).await
        }
    });
    for saved in futures::future::join_all(saves).await {
        saved.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        store.count(&[]).await.ok(),
        Some(1),
        "one projection per source"
    );
    let located = locate(&store, "one")
        .await
        .expect("the source's projection");
    assert_eq!(
        located.state["v"].as_u64().map(|v| format!("v{v}")),
        Some(located.id)
    );
}
