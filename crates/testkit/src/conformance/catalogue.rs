//! The catalogue: categories, streams with their lengths, event names and the
//! head, paged by name.

use eventblocks_core::{
    CatalogueQuery, CategoryIdentifier, EventStore, StreamIdentifier, StreamSummary,
    WriteCondition, MAX_CATALOGUE_PAGE,
};

use super::support::{assert_invalid, publish, stream};
use crate::builders::event;

fn category_names(categories: &[CategoryIdentifier]) -> Vec<&str> {
    categories.iter().map(|c| c.category.as_str()).collect()
}

fn stream_names(streams: &[StreamSummary]) -> Vec<&str> {
    streams.iter().map(|s| s.stream.stream.as_str()).collect()
}

/// Every page of the streams of `category` that `query` selects, following
/// the tokens.
async fn all_streams(store: &EventStore, category: &str, query: CatalogueQuery) -> Vec<String> {
    let catalogue = store.catalogue();
    let mut names = Vec::new();
    let mut query = query;
    loop {
        let page = catalogue
            .streams(category, query.clone())
            .await
            .expect("list streams");
        names.extend(stream_names(&page.items).into_iter().map(str::to_owned));
        match page.next {
            Some(token) => query = query.after(token),
            None => return names,
        }
    }
}

/// An empty store lists nothing and has no head.
pub async fn an_empty_catalogue_lists_nothing(store: EventStore) {
    let catalogue = store.catalogue();
    let categories = catalogue
        .categories(CatalogueQuery::new())
        .await
        .expect("categories");
    assert!(categories.items.is_empty() && categories.next.is_none());
    let streams = catalogue
        .streams("orders", CatalogueQuery::new())
        .await
        .expect("streams");
    assert!(streams.items.is_empty());
    let names = catalogue
        .event_names(CatalogueQuery::new())
        .await
        .expect("names");
    assert!(names.items.is_empty());
    assert_eq!(
        catalogue.stream("orders", "o-1").await.expect("stream"),
        None
    );
    assert_eq!(catalogue.head().await.expect("head"), None);
}

/// Categories, streams and event names come back in byte order with each
/// stream's length and last position, and the head is the log's last event.
pub async fn the_catalogue_lists_what_is_stored(store: EventStore) {
    publish(&stream(&store, "orders", "o-2"), "order-placed", 2).await;
    publish(&stream(&store, "orders", "o-1"), "order-placed", 1).await;
    publish(&stream(&store, "Zebras", "z"), "zebra-seen", 1).await;
    publish(&stream(&store, "élan", "é"), "Élan-found", 3).await;
    let last = publish(&stream(&store, "orders", "o-2"), "order-shipped", 1).await;
    let catalogue = store.catalogue();
    let categories = catalogue
        .categories(CatalogueQuery::new())
        .await
        .expect("categories");
    assert_eq!(
        category_names(&categories.items),
        ["Zebras", "orders", "élan"]
    );
    assert_eq!(categories.next, None, "a page that is not full is the last");
    let streams = catalogue
        .streams("orders", CatalogueQuery::new())
        .await
        .expect("streams");
    let expected = [
        StreamSummary::new(StreamIdentifier::new("orders", "o-1").expect("id"), 0),
        StreamSummary::new(StreamIdentifier::new("orders", "o-2").expect("id"), 2),
    ];
    assert_eq!(streams.items, expected);
    assert_eq!(streams.items[1].length, 3);
    let names = catalogue
        .event_names(CatalogueQuery::new())
        .await
        .expect("names");
    let names: Vec<&str> = names.items.iter().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        ["order-placed", "order-shipped", "zebra-seen", "Élan-found"]
    );
    let summary = catalogue.stream("élan", "é").await.expect("stream");
    assert_eq!(summary.map(|s| (s.length, s.last_position)), Some((3, 2)));
    assert_eq!(
        catalogue.stream("orders", "o-3").await.expect("stream"),
        None
    );
    assert_eq!(
        catalogue.head().await.expect("head"),
        last.last().map(|event| event.sequence_number)
    );
}

/// A prefix selects names starting with it, a limit cuts pages, and the
/// token of a full page continues the listing without repeating or missing
/// a name; `after` works with any name, stored or not.
pub async fn catalogue_pages_follow_prefix_and_token(store: EventStore) {
    let names = ["a", "ab", "abc", "abd", "ac", "b", "ba", "b\u{10FFFF}"];
    for name in names {
        publish(&stream(&store, "pages", name), "e", 1).await;
    }
    publish(&stream(&store, "other", "ab-elsewhere"), "e", 1).await;
    for limit in [1, 2, 3, 100] {
        let query = CatalogueQuery::new().limit(limit);
        assert_eq!(all_streams(&store, "pages", query).await, names);
        let prefixed = CatalogueQuery::new().prefix("ab").limit(limit);
        assert_eq!(
            all_streams(&store, "pages", prefixed).await,
            ["ab", "abc", "abd"]
        );
    }
    let after = CatalogueQuery::new().prefix("ab").after("abcz");
    assert_eq!(all_streams(&store, "pages", after).await, ["abd"]);
    let before_prefix = CatalogueQuery::new().prefix("b").after("a");
    assert_eq!(
        all_streams(&store, "pages", before_prefix).await,
        ["b", "ba", "b\u{10FFFF}"]
    );
    let past = CatalogueQuery::new().after("zz");
    assert!(all_streams(&store, "pages", past).await.is_empty());
    let catalogue = store.catalogue();
    let page = catalogue
        .categories(CatalogueQuery::new().limit(1))
        .await
        .expect("categories");
    assert_eq!(category_names(&page.items), ["other"]);
    assert_eq!(page.next.as_deref(), Some("other"));
    let rest = catalogue
        .categories(CatalogueQuery::new().limit(1).after("other"))
        .await
        .expect("categories");
    assert_eq!(category_names(&rest.items), ["pages"]);
    let named = catalogue
        .event_names(CatalogueQuery::new().prefix("x"))
        .await
        .expect("names");
    assert!(named.items.is_empty());
}

/// Bad limits, prefixes and names are refused as invalid input.
pub async fn bad_catalogue_queries_are_refused(store: EventStore) {
    let catalogue = store.catalogue();
    for limit in [0, MAX_CATALOGUE_PAGE + 1] {
        let query = CatalogueQuery::new().limit(limit);
        assert_invalid(catalogue.categories(query.clone()).await, "limit");
        assert_invalid(catalogue.streams("c", query.clone()).await, "limit");
        assert_invalid(catalogue.event_names(query).await, "limit");
    }
    let long = "p".repeat(eventblocks_core::MAX_NAME_BYTES + 1);
    assert_invalid(
        catalogue
            .categories(CatalogueQuery::new().prefix(long))
            .await,
        "prefix",
    );
    assert_invalid(
        catalogue
            .event_names(CatalogueQuery::new().after("a\0b"))
            .await,
        "after",
    );
    assert_invalid(
        catalogue.streams("", CatalogueQuery::new()).await,
        "category",
    );
    assert_invalid(catalogue.stream("c", "").await, "stream");
}

/// The catalogue follows saves: a category publish counts in every stream it
/// wrote, and a failed publish adds nothing.
pub async fn the_catalogue_follows_saves(store: EventStore) {
    let one = stream(&store, "follow", "one");
    publish(&one, "first", 2).await;
    let failed = one
        .publish(
            [event("never-stored").build()],
            WriteCondition::StreamIsEmpty,
        )
        .await;
    assert!(failed.is_err(), "the condition fails");
    let category = store.category("follow").expect("category");
    let writes = ["one", "two"].map(|name| {
        eventblocks_core::StreamWrite::new(
            StreamIdentifier::new("follow", name).expect("id"),
            [event("second").build(), event("second").build()],
            WriteCondition::NoCondition,
        )
    });
    category
        .publish(writes.to_vec())
        .await
        .expect("category publish");
    let catalogue = store.catalogue();
    let streams = catalogue
        .streams("follow", CatalogueQuery::new())
        .await
        .expect("streams");
    let lengths: Vec<(&str, u64, u64)> = streams
        .items
        .iter()
        .map(|s| (s.stream.stream.as_str(), s.length, s.last_position))
        .collect();
    assert_eq!(lengths, [("one", 4, 3), ("two", 2, 1)]);
    let names = catalogue
        .event_names(CatalogueQuery::new())
        .await
        .expect("names");
    let names: Vec<&str> = names.items.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["first", "second"], "a failed publish adds no name");
    let head = catalogue.head().await.expect("head");
    let latest = store.log().latest().await.expect("latest");
    assert_eq!(head, latest.map(|event| event.sequence_number));
}
