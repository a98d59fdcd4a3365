//! The PostgreSQL adapter's scenarios, next to raw SQL baselines on the same
//! table in the same run:
//!
//! - `raw`: what PostgreSQL itself does for the same work: one autocommit
//!   `INSERT` per call (`INSERT … SELECT unnest(…)` for batches), key-set paged
//!   `SELECT`s for reads, no conditions checked, no ordering guarantee.
//! - `global lock`: raw inserts serialised by one advisory lock held through
//!   COMMIT, the usual way to get gap-free sequence numbers.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventblocks_core::{EventStore, Json};
use eventblocks_postgres::deadpool_postgres::{
    Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime,
};
use eventblocks_postgres::tokio_postgres::{self, NoTls};
use eventblocks_postgres::{PostgresAdapter, PostgresCheckpointStore, PostgresProjectionStore};
use eventblocks_projection::ProjectionStore;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::report::Row;
use crate::scenarios::{self, append_name, Bench, Sizes};
use crate::subject::{payload, BenchResult, StoreSubject, Subject, CATEGORY};
use crate::{boundaries, mixed, projection, Options};

const SCHEMA: &str = "eventblocks_bench";

pub(crate) async fn run(options: &Options) -> BenchResult<Vec<Row>> {
    let sizes = sizes(options);
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned());
    let pool = pool(&url, 40)?;
    let mut rows = Vec::new();
    let boundary_rows = options.wants("query-cond. append") || options.wants("boundary read");
    if boundary_rows && !wants_classic(options) {
        return boundaries(&pool, &url, options).await;
    }

    let (adapter, raw, locked) = fresh(&pool, &url).await?;
    let appends = Bench::new(vec![adapter.clone(), raw.clone(), locked], sizes);
    let one_event = [
        (1, 1, sizes.single_appends, false),
        (8, 1, sizes.single_appends / 4, false),
        (32, 1, sizes.single_appends / 4, false),
        (1, 1, sizes.single_appends, true),
    ];
    for (writers, batch, calls, conditional) in one_event {
        if options.wants(&append_name(writers, batch, conditional)) {
            rows.push(appends.appends(writers, batch, calls, conditional).await?);
        }
    }
    if options.wants("catalogue") {
        rows.extend(catalogue_cost(&pool, sizes).await?);
    }
    let bench = Bench::new(vec![adapter.clone(), raw.clone()], sizes);
    for (batch, calls) in [(100, sizes.batch_calls * 5), (1000, sizes.batch_calls)] {
        if options.wants(&append_name(1, batch, false)) {
            rows.push(bench.appends(1, batch, calls, false).await?);
        }
    }
    if options.wants("read stream") {
        rows.push(bench.stream_reads().await?);
    }
    if options.wants("latest") {
        rows.push(bench.latest().await?);
    }

    // The scans start from a fresh table holding exactly the log size.
    let (adapter, raw, _) = fresh(&pool, &url).await?;
    let subject = adapter.clone();
    let bench = Bench::new(vec![adapter as Arc<dyn Subject>, raw], sizes);
    rows.extend(scenarios::on_the_log(&bench, &subject, options).await?);
    if options.wants("live") {
        rows.push(scenarios::live_latency(&subject, 8, sizes.live_events_per_writer).await?);
    }
    if options.wants("search") {
        rows.push(projection_search(&pool, &adapter_of(&pool)?, options).await?);
    }
    if options.wants("mixed") {
        rows.extend(mixed_scenario(&pool, &url, sizes).await?);
    }
    if boundary_rows {
        rows.extend(boundaries(&pool, &url, options).await?);
    }
    Ok(rows)
}

/// The schema of the mixed scenario.
const MIXED_SCHEMA: &str = "eventblocks_bench_mixed";

/// The mixed scenario on a fresh schema, its runner on the adapter's
/// projection and checkpoint tables.
async fn mixed_scenario(pool: &Pool, url: &str, sizes: Sizes) -> BenchResult<Vec<Row>> {
    let client = pool.get().await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {MIXED_SCHEMA} CASCADE"))
        .await?;
    drop(client);
    let adapter = PostgresAdapter::builder()
        .pool(pool.clone())
        .schema(MIXED_SCHEMA)
        .notifications_url(url)
        .build()?;
    adapter.migrate().await?;
    let projections = ProjectionStore::new(PostgresProjectionStore::new(&adapter));
    let checkpoints = PostgresCheckpointStore::new(&adapter);
    let store = EventStore::new(adapter);
    let per_writer = sizes.mixed_per_writer;
    mixed::run("eventblocks", &store, projections, checkpoints, per_writer).await
}

/// The schema of the adapter without its catalogue trigger.
const BARE_SCHEMA: &str = "eventblocks_bench_bare";

/// The cost of keeping the catalogue in the save path: one-event appends by
/// the adapter as migrated, against the same adapter on a schema whose
/// catalogue trigger is dropped, in the same run.
async fn catalogue_cost(pool: &Pool, sizes: Sizes) -> BenchResult<Vec<Row>> {
    let mut subjects: Vec<Arc<dyn Subject>> = Vec::new();
    for (schema, label) in [
        (SCHEMA, "with catalogue"),
        (BARE_SCHEMA, "without catalogue"),
    ] {
        let client = pool.get().await?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await?;
        let adapter = PostgresAdapter::builder()
            .pool(pool.clone())
            .schema(schema)
            .build()?;
        adapter.migrate().await?;
        if schema == BARE_SCHEMA {
            client
                .batch_execute(&format!(
                    "DROP TRIGGER events_catalogue ON {BARE_SCHEMA}.events"
                ))
                .await?;
        }
        subjects.push(Arc::new(StoreSubject::new(label, EventStore::new(adapter))));
    }
    let bench = Bench::new(subjects, sizes);
    let mut rows = Vec::new();
    for writers in [1, 32] {
        let calls = if writers == 1 {
            sizes.single_appends
        } else {
            sizes.single_appends / 4
        };
        let mut row = bench.appends(writers, 1, calls, false).await?;
        row.scenario = format!("catalogue cost: {}", row.scenario);
        rows.push(row);
    }
    pool.get()
        .await?
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {BARE_SCHEMA} CASCADE"))
        .await?;
    Ok(rows)
}

/// Whether any scenario on the shared bench schema is wanted (the boundary
/// scenarios have a schema of their own).
fn wants_classic(options: &Options) -> bool {
    let appends = [(1, 1, false), (8, 1, false), (32, 1, false), (1, 1, true)]
        .into_iter()
        .chain([(1, 100, false), (1, 1000, false)])
        .map(|(writers, batch, conditional)| append_name(writers, batch, conditional));
    let others = [
        "read stream",
        "latest",
        "scan log",
        "subscription",
        "projection fold",
        "live",
        "search",
        "catalogue",
        "mixed",
    ];
    appends
        .chain(others.map(str::to_owned))
        .any(|name| options.wants(&name))
}

fn adapter_of(pool: &Pool) -> BenchResult<PostgresAdapter> {
    Ok(PostgresAdapter::builder()
        .pool(pool.clone())
        .schema(SCHEMA)
        .build()?)
}

/// How many projections the search scenario stores.
const PROJECTIONS: usize = 100_000;

/// Searches 100,000 stored projections by an equality filter on an indexed
/// state field, through the projection store and by hand.
async fn projection_search(
    pool: &Pool,
    adapter: &PostgresAdapter,
    options: &Options,
) -> BenchResult<Row> {
    let client = pool.get().await?;
    client
        .execute(
            &format!(
                "INSERT INTO {SCHEMA}.events_projections (name, id, source, state, metadata)
                 SELECT 'bench', 'p' || i, '{{\"type\": \"log\"}}',
                        jsonb_build_object('email', 'user' || i || '@example.com', 'n', i), '{{}}'
                   FROM generate_series(1, $1::integer) AS i"
            ),
            &[&i32::try_from(PROJECTIONS)?],
        )
        .await?;
    let store = PostgresProjectionStore::new(adapter);
    store.create_state_index().await?;
    client
        .batch_execute(&format!("ANALYZE {SCHEMA}.events_projections"))
        .await?;
    let store = ProjectionStore::new(store);
    let searches = if options.quick { 500 } else { 2000 };
    let raw_sql = format!(
        "SELECT name, id, source::text, state::text, metadata::text
           FROM {SCHEMA}.events_projections
          WHERE name = $1 AND state @> $2::jsonb
          ORDER BY name, id LIMIT 11"
    );
    let statement = client.prepare(&raw_sql).await?;
    let raw = projection::timed_searches("raw", searches, |i| {
        let (client, statement) = (&client, &statement);
        async move {
            let email = format!("user{}@example.com", (i * 7919) % PROJECTIONS + 1);
            let document = serde_json::json!({ "email": email });
            Ok(client.query(statement, &[&"bench", &document]).await?.len())
        }
    })
    .await?;
    let adapter = projection::search_store(&store, searches, PROJECTIONS).await?;
    Ok(projection::search_row(PROJECTIONS, adapter, raw.0))
}

fn sizes(options: &Options) -> Sizes {
    let scale = if options.quick { 1 } else { 4 };
    Sizes {
        runs: options.runs,
        single_appends: 500 * scale,
        batch_calls: 10 * scale,
        stream_reads: 25 * scale,
        log_events: if options.quick { 100_000 } else { 1_000_000 },
        latest_calls: 1000 * scale,
        live_events_per_writer: 25 * scale,
        mixed_per_writer: 100 * scale,
    }
}

fn pool(url: &str, size: usize) -> BenchResult<Pool> {
    let config: tokio_postgres::Config = url.parse()?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(30)))
        .build()?)
}

/// An empty, migrated schema and the three subjects over it.
async fn fresh(
    pool: &Pool,
    url: &str,
) -> BenchResult<(Arc<StoreSubject>, Arc<dyn Subject>, Arc<dyn Subject>)> {
    fresh_in(pool, url, SCHEMA).await
}

/// As [`fresh`], in `schema` (the raw subjects write to [`SCHEMA`]).
async fn fresh_in(
    pool: &Pool,
    url: &str,
    schema: &str,
) -> BenchResult<(Arc<StoreSubject>, Arc<dyn Subject>, Arc<dyn Subject>)> {
    pool.get()
        .await?
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    let adapter = PostgresAdapter::builder()
        .pool(pool.clone())
        .schema(schema)
        .notifications_url(url)
        .build()?;
    adapter.migrate().await?;
    let store = StoreSubject::new("eventblocks", EventStore::new(adapter));
    let raw = RawSubject::new("raw", pool.clone(), false);
    let locked = RawSubject::new("global lock", pool.clone(), true);
    Ok((Arc::new(store), Arc::new(raw), Arc::new(locked)))
}

/// Hand-written SQL on the adapter's table.
struct RawSubject {
    label: String,
    pool: Pool,
    global_lock: bool,
    payload: Json,
    /// The next position of each stream this subject writes.
    next_positions: Mutex<HashMap<String, i64>>,
}

const COLUMNS: &str = "sequence_number, id, category, stream, position, name, payload::text, \
                       metadata::text, occurred_at, observed_at";

impl RawSubject {
    fn new(label: &str, pool: Pool, global_lock: bool) -> Self {
        Self {
            label: label.to_owned(),
            pool,
            global_lock,
            payload: payload(),
            next_positions: Mutex::default(),
        }
    }

    fn positions(&self, stream: &str, count: usize) -> Vec<i64> {
        let mut next = self.next_positions.lock();
        let first = next.entry(stream.to_owned()).or_insert(0);
        let positions = (*first..).take(count).collect();
        *first += i64::try_from(count).unwrap_or(i64::MAX);
        positions
    }

    /// Key-set paged reads, decoding every column as the adapter does.
    async fn paged(
        &self,
        sql: &str,
        first: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        key_column: usize,
    ) -> BenchResult<usize> {
        let mut last = -1i64;
        let mut count = 0;
        loop {
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = first.to_vec();
            params.push(&last);
            let client = self.pool.get().await?;
            let statement = client.prepare_cached(sql).await?;
            let rows = client.query(&statement, &params).await?;
            drop(client);
            for row in &rows {
                decode(row)?;
                last = row.try_get(key_column)?;
            }
            count += rows.len();
            if rows.len() < 1000 {
                return Ok(count);
            }
        }
    }
}

fn decode(row: &tokio_postgres::Row) -> BenchResult<()> {
    let _: i64 = row.try_get(0)?;
    let _: Uuid = row.try_get(1)?;
    let _: String = row.try_get(2)?;
    let _: String = row.try_get(3)?;
    let _: i64 = row.try_get(4)?;
    let _: String = row.try_get(5)?;
    let _: String = row.try_get(6)?;
    let _: String = row.try_get(7)?;
    let _: DateTime<Utc> = row.try_get(8)?;
    let _: DateTime<Utc> = row.try_get(9)?;
    Ok(())
}

#[async_trait]
impl Subject for RawSubject {
    fn label(&self) -> &str {
        &self.label
    }

    async fn append(
        &self,
        stream: &str,
        batch: usize,
        _expected: Option<Option<u64>>,
    ) -> BenchResult<()> {
        let positions = self.positions(stream, batch);
        let ids: Vec<Uuid> = (0..batch).map(|_| Uuid::now_v7()).collect();
        let now = Utc::now();
        let times = vec![now; batch];
        let payloads = vec![self.payload.as_str(); batch];
        let insert = format!(
            "INSERT INTO {SCHEMA}.events
                 (sequence_number, id, category, stream, position, name, payload, metadata,
                  occurred_at, observed_at)
             SELECT nextval('{SCHEMA}.events_sequence_number'), e.id, $2, $3, e.position,
                    'order-placed', e.payload::json, '{{}}'::json, e.at, e.at
               FROM unnest($1::uuid[], $4::bigint[], $5::text[], $6::timestamptz[])
                    AS e(id, position, payload, at)"
        );
        let mut client = self.pool.get().await?;
        let statement = client.prepare_cached(&insert).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&ids, &CATEGORY, &stream, &positions, &payloads, &times];
        if self.global_lock {
            let transaction = client.transaction().await?;
            transaction
                .execute("SELECT pg_advisory_xact_lock(1)", &[])
                .await?;
            transaction.execute(&statement, &params).await?;
            transaction.commit().await?;
        } else {
            client.execute(&statement, &params).await?;
        }
        Ok(())
    }

    async fn read_stream(&self, stream: &str) -> BenchResult<usize> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {SCHEMA}.events
              WHERE category = $1 AND stream = $2 AND position > $3
              ORDER BY position LIMIT 1000"
        );
        self.paged(&sql, &[&CATEGORY, &stream], 4).await
    }

    async fn scan_log(&self) -> BenchResult<usize> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {SCHEMA}.events
              WHERE sequence_number > $1 ORDER BY sequence_number LIMIT 1000"
        );
        self.paged(&sql, &[], 0).await
    }

    async fn latest(&self, stream: &str) -> BenchResult<()> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {SCHEMA}.events
              WHERE category = $1 AND stream = $2 ORDER BY position DESC LIMIT 1"
        );
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        if let Some(row) = client.query_opt(&statement, &[&CATEGORY, &stream]).await? {
            decode(&row)?;
        }
        Ok(())
    }
}

/// The schema of the baseline tag layout: a copy of the filled event table
/// with the `text[]` column under a GIN index and no tag table.
const GIN_SCHEMA: &str = "eventblocks_bench_gin";

/// The schema of the boundary scenarios.
const BOUNDARY_SCHEMA: &str = "eventblocks_bench_boundaries";

/// The consistency-boundary scenarios: query- and stream-conditioned appends
/// on a fresh schema, then reads and checks among a log of tagged events, on
/// the adapter and by hand on both tag layouts.
async fn boundaries(pool: &Pool, url: &str, options: &Options) -> BenchResult<Vec<Row>> {
    let sizes = sizes(options);
    let mut rows = Vec::new();
    let (adapter, _, _) = fresh_in(pool, url, BOUNDARY_SCHEMA).await?;
    let appends = if options.wants("query-cond. append") {
        vec![
            (1, sizes.single_appends),
            (8, sizes.single_appends / 4),
            (32, sizes.single_appends / 4),
        ]
    } else {
        Vec::new()
    };
    for (writers, calls) in appends {
        let row = boundaries::appends(adapter.store(), "eventblocks", writers, calls, sizes.runs);
        rows.push(row.await?);
    }
    if !options.wants("boundary read") {
        return Ok(rows);
    }
    let (adapter, _, _) = fresh_in(pool, url, BOUNDARY_SCHEMA).await?;
    let store = adapter.store();
    let courses = boundaries::fill(store, sizes.log_events).await?;
    let client = pool.get().await?;
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {GIN_SCHEMA} CASCADE;
             CREATE SCHEMA {GIN_SCHEMA};
             CREATE TABLE {GIN_SCHEMA}.events AS SELECT * FROM {BOUNDARY_SCHEMA}.events;
             ALTER TABLE {GIN_SCHEMA}.events ADD PRIMARY KEY (sequence_number);
             CREATE INDEX ON {GIN_SCHEMA}.events USING gin (tags) WITH (fastupdate = off)"
        ))
        .await?;
    for table in [
        format!("{GIN_SCHEMA}.events"),
        format!("{BOUNDARY_SCHEMA}.events"),
        format!("{BOUNDARY_SCHEMA}.events_tags"),
    ] {
        // One statement per call: VACUUM cannot run in a transaction.
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
    }
    let samples = if options.quick { 200 } else { 1000 };
    let runs = sizes.runs;
    rows.push(boundaries::reads(store, "eventblocks", courses, runs, samples).await?);
    let layouts = Layouts::new(pool).await?;
    let events = courses * boundaries::PER_COURSE;
    let end = client
        .query_one(
            &format!("SELECT max(sequence_number) + 1 FROM {BOUNDARY_SCHEMA}.events"),
            &[],
        )
        .await?
        .get::<_, i64>(0);
    for layout in [Layout::TagTable, Layout::Gin] {
        let (stats, latency) = boundaries::timed(
            layout.label(),
            runs,
            samples,
            Some(boundaries::PER_COURSE),
            |sample| {
                let tag = format!("course:c{}", boundaries::pick(sample, courses));
                layouts.read(layout, tag)
            },
        )
        .await?;
        let name = format!("raw read 100 of {events}, {}", layout.label());
        rows.push(Row::new(&name, "reads/s", stats, vec![]).with_latency(latency));
    }
    let checks = [
        ("check after head", end, "course:c"),
        ("check from start, unused", 0, "course:none-"),
    ];
    for (what, frontier, prefix) in checks {
        for layout in [Layout::TagTable, Layout::Gin] {
            let (stats, latency) =
                boundaries::timed(layout.label(), runs, samples, Some(0), |sample| {
                    let tag = format!("{prefix}{}", boundaries::pick(sample, courses));
                    layouts.check(layout, frontier, tag)
                })
                .await?;
            let name = format!("{what}, {}", layout.label());
            rows.push(Row::new(&name, "checks/s", stats, vec![]).with_latency(latency));
        }
    }
    rows.push(boundaries::checked_appends(store, "eventblocks", courses, runs, samples).await?);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {GIN_SCHEMA} CASCADE"))
        .await?;
    Ok(rows)
}

/// A tag layout the boundary scenarios compare.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// The adapter's: `(tag, sequence_number)` rows under a btree.
    TagTable,
    /// The baseline: the `text[]` column under a GIN index.
    Gin,
}

impl Layout {
    fn label(self) -> &'static str {
        match self {
            Self::TagTable => "tag table",
            Self::Gin => "GIN text[]",
        }
    }
}

/// Hand-written reads and checks on both layouts, each a statement prepared
/// once on one connection (so PostgreSQL caches a generic plan after five
/// calls, as it does for the adapter's statements).
struct Layouts {
    client: Client,
}

impl Layouts {
    async fn new(pool: &Pool) -> BenchResult<Self> {
        Ok(Self {
            client: pool.get().await?,
        })
    }

    /// The events carrying `tag` (as the adapter read them with either
    /// layout), decoded; how many.
    async fn read(&self, layout: Layout, tag: String) -> BenchResult<usize> {
        let sql = match layout {
            Layout::TagTable => format!(
                "SELECT {COLUMNS}, tags FROM {BOUNDARY_SCHEMA}.events
                  WHERE sequence_number < $1
                    AND sequence_number IN (
                        (SELECT t.sequence_number FROM {BOUNDARY_SCHEMA}.events_tags t, {BOUNDARY_SCHEMA}.events x
                          WHERE t.sequence_number < $1 AND x.sequence_number < $1 AND t.tag = $2
                            AND t.sequence_number = x.sequence_number AND x.tags @> $3::text[]
                          ORDER BY t.sequence_number LIMIT 1000))
                  ORDER BY sequence_number LIMIT 1000"
            ),
            Layout::Gin => format!(
                "SELECT {COLUMNS}, tags FROM {GIN_SCHEMA}.events
                  WHERE sequence_number < $1 AND tags @> $3::text[] AND $2::text IS NOT NULL
                  ORDER BY sequence_number LIMIT 1000"
            ),
        };
        let statement = self.client.prepare_cached(&sql).await?;
        let tags = vec![tag.clone()];
        let rows = self
            .client
            .query(&statement, &[&i64::MAX, &tag, &tags])
            .await?;
        for row in &rows {
            decode(row)?;
            let _: Vec<String> = row.try_get(10)?;
        }
        Ok(rows.len())
    }

    /// Whether an event carrying `tag` lies at or after `frontier` (as the
    /// save function checks a one-item query); 1 if so.
    async fn check(&self, layout: Layout, frontier: i64, tag: String) -> BenchResult<usize> {
        let sql = match layout {
            Layout::TagTable => format!(
                "SELECT ({BOUNDARY_SCHEMA}.events_find_probing(ARRAY[$1::bigint], ARRAY[1], ARRAY[1],
                                                     ARRAY[0], ARRAY[$2::text], ARRAY[]::text[]))[1]"
            ),
            Layout::Gin => format!(
                "SELECT (SELECT sequence_number FROM {GIN_SCHEMA}.events
                          WHERE sequence_number >= $1 AND tags @> ARRAY[$2::text] LIMIT 1)"
            ),
        };
        let statement = self.client.prepare_cached(&sql).await?;
        let row = self
            .client
            .query_one(&statement, &[&frontier, &tag])
            .await?;
        let found: Option<i64> = row.try_get(0)?;
        Ok(usize::from(found.is_some()))
    }
}
