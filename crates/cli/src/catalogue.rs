//! `categories`, `streams`, `event-types` and `stats`.

use std::process::ExitCode;

use clap::Args;
use eventblocks_core::{CatalogueQuery, MAX_CATALOGUE_PAGE};
use serde_json::json;

use crate::failure::{Failure, OrFail};
use crate::output::{table, Format, Out};
use crate::target::{pg_failed, sqlite_failed, Backend, Target};
use crate::OutputArgs;

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only names starting with this.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Only names after this one (a previous listing's last name).
    #[arg(long)]
    after: Option<String>,
    /// At most this many names (default: all).
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
}

impl ListArgs {
    /// The first page's query, and how many names to list in all.
    fn query(&self) -> Result<(CatalogueQuery, usize), Failure> {
        if self.limit == Some(0) {
            return Err(Failure::usage("--limit must be at least 1"));
        }
        let wanted = self.limit.unwrap_or(usize::MAX);
        let mut query = CatalogueQuery::new()
            .prefix(self.prefix.clone())
            .limit(wanted.min(MAX_CATALOGUE_PAGE));
        if let Some(after) = &self.after {
            query = query.after(after.clone());
        }
        Ok((query, wanted))
    }
}

#[derive(Debug, Args)]
pub(crate) struct StreamsArgs {
    /// The category.
    category: String,
    #[command(flatten)]
    list: ListArgs,
}

/// Follows the pages of a listing until `wanted` names or the end.
macro_rules! every_page {
    ($args:expr, $what:expr, |$query:ident| $page:expr) => {{
        let (mut $query, wanted) = $args.query()?;
        let mut items = Vec::new();
        loop {
            let page = $page.await.or_fail($what)?;
            items.extend(page.items);
            match page.next {
                Some(token) if items.len() < wanted => {
                    let left = (wanted - items.len()).min(MAX_CATALOGUE_PAGE);
                    $query = $query.after(token).limit(left);
                }
                _ => break,
            }
        }
        items.truncate(wanted);
        items
    }};
}

fn print_names(format: Format, field: &str, names: Vec<String>) -> Result<ExitCode, Failure> {
    let mut out = Out::new();
    match format {
        Format::Json => {
            for name in names {
                out.json(&json!({ field: name }))?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = names.into_iter().map(|name| vec![name]).collect();
            table(&mut out, &[&field.to_uppercase()], &rows)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn categories(target: &Target, args: ListArgs) -> Result<ExitCode, Failure> {
    let catalogue = target.store.catalogue();
    let items = every_page!(args, "listing categories", |query| catalogue
        .categories(query.clone()));
    let names = items.into_iter().map(|c| c.category.to_string()).collect();
    print_names(args.output.format(), "category", names)
}

pub(crate) async fn event_types(target: &Target, args: ListArgs) -> Result<ExitCode, Failure> {
    let catalogue = target.store.catalogue();
    let items = every_page!(args, "listing event names", |query| catalogue
        .event_names(query.clone()));
    let names = items.into_iter().map(|name| name.to_string()).collect();
    print_names(args.output.format(), "name", names)
}

pub(crate) async fn streams(target: &Target, args: StreamsArgs) -> Result<ExitCode, Failure> {
    let catalogue = target.store.catalogue();
    let category = args.category.as_str();
    let items = every_page!(args.list, "listing streams", |query| catalogue
        .streams(category, query.clone()));
    let mut out = Out::new();
    match args.list.output.format() {
        Format::Json => {
            for summary in &items {
                out.json(&json!({
                    "category": summary.stream.category,
                    "stream": summary.stream.stream,
                    "length": summary.length,
                    "last_position": summary.last_position,
                }))?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|s| {
                    vec![
                        s.stream.stream.to_string(),
                        s.length.to_string(),
                        s.last_position.to_string(),
                    ]
                })
                .collect();
            table(&mut out, &["STREAM", "LENGTH", "LAST POSITION"], &rows)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Events, streams and bytes from the catalogue's tables and the database's
/// own accounting, never by counting events.
pub(crate) async fn stats(target: &Target, format: Format) -> Result<ExitCode, Failure> {
    let head = target
        .store
        .catalogue()
        .head()
        .await
        .or_fail("reading the head")?;
    let (events, streams, bytes) = match &target.backend {
        Backend::Postgres { adapter, schema } => {
            let client = Target::postgres_client(adapter).await?;
            let sql = format!(
                "SELECT coalesce(sum(last_position + 1), 0)::bigint, count(*),
                        pg_total_relation_size('\"{schema}\".events')
                          + pg_total_relation_size('\"{schema}\".events_streams')
                          + pg_total_relation_size('\"{schema}\".events_event_names')
                   FROM \"{schema}\".events_streams"
            );
            let row = client
                .query_one(&sql, &[])
                .await
                .map_err(pg_failed("reading the store's statistics"))?;
            (
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2),
            )
        }
        Backend::Sqlite { path, .. } => {
            let connection = Target::sqlite_reader(path)?;
            connection
                .query_row(
                    "SELECT coalesce(sum(last_position + 1), 0), count(*),
                            (SELECT page_count FROM pragma_page_count())
                              * (SELECT page_size FROM pragma_page_size())
                       FROM eventblocks_streams",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .map_err(sqlite_failed("reading the store's statistics"))?
        }
    };
    let mut out = Out::new();
    match format {
        Format::Json => out.json(&json!({
            "events": events, "streams": streams, "bytes": bytes, "head": head,
        }))?,
        Format::Table => {
            let head = head.map_or_else(|| "-".to_owned(), |head| head.to_string());
            let rows = vec![
                vec!["events".to_owned(), events.to_string()],
                vec!["streams".to_owned(), streams.to_string()],
                vec!["bytes".to_owned(), bytes.to_string()],
                vec!["head".to_owned(), head],
            ];
            table(&mut out, &["", ""], &rows)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
