//! Metrics: eventblocks records through the `metrics` facade; the
//! application installs the exporter it wants. Here the Prometheus one,
//! rendering the text a `/metrics` endpoint would serve.
//!
//! Run it with `cargo run --example metrics` (`-- --postgres` for PostgreSQL,
//! which adds the pool-wait series). Every name and label is listed in
//! `eventblocks_core::metrics`.

use eventblocks_core::{
    BoxError, NewEvent, SubscriptionMessage, SubscriptionOptions, WriteCondition,
};
use futures::StreamExt;
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Installed before the first call into eventblocks; a real service would
    // serve `prometheus.render()` over HTTP (or use the exporter's listener).
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let (store, _, _) = eventblocks_examples::stores("metrics").await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let orders = store.stream("orders", &run)?;
    let placed = NewEvent::new("order-placed", &serde_json::json!({"total": 42}))?;
    orders
        .publish([placed], WriteCondition::StreamIsEmpty)
        .await?;
    // A second "first" publish: an unmet condition, counted as such.
    let again = NewEvent::new("order-placed", &serde_json::json!({"total": 7}))?;
    let refused = orders.publish([again], WriteCondition::StreamIsEmpty).await;
    assert!(refused.is_err_and(|error| error.is_unmet_condition()));

    // A subscription reports its lag until it has caught up.
    let mut subscription = store
        .category("orders")?
        .subscribe(SubscriptionOptions::new())?;
    while let Some(message) = subscription.next().await {
        if let SubscriptionMessage::CaughtUp { .. } = message? {
            break;
        }
    }

    let text = prometheus.render();
    for series in [
        "eventblocks_saves_total{outcome=\"ok\"}",
        "eventblocks_saves_total{outcome=\"unmet_condition\"}",
        "eventblocks_events_written_total",
        "eventblocks_save_duration_seconds",
        "eventblocks_scan_rows_total",
        "eventblocks_subscription_lag_events{source=\"category:orders\"}",
    ] {
        assert!(text.contains(series), "{series} is exported");
    }
    println!("{text}");
    Ok(())
}
