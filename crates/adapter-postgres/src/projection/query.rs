//! Searches translated to SQL. Only fixed fragments and the validated table
//! name are SQL text; every value and every path is a bound parameter.

use eventblocks_projection::query::{
    Cursor, Field, Filter, Operator, Paging, Pattern, Search, Sort,
};
use eventblocks_projection::value;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use crate::bound::BoundSql;

/// A search under translation into SQL.
pub(super) struct Sql {
    sql: BoundSql,
    /// The name of the function that sorts by similarity.
    similarity: String,
}

impl Sql {
    /// Starts from `select`; `similarity` names the similarity function.
    pub(super) fn new(select: &str, similarity: &str) -> Self {
        Self {
            sql: BoundSql::new(select),
            similarity: similarity.to_owned(),
        }
    }

    /// Binds `value` and returns its placeholder with a cast, e.g. `$3::jsonb`.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static, cast: &str) -> String {
        format!("{}::{cast}", self.sql.bind(value))
    }

    /// The SQL text.
    pub(super) fn text(&self) -> &str {
        self.sql.text()
    }

    pub(super) fn parameters(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.sql.parameters()
    }

    /// Appends `WHERE` with every filter, and for key-set paging the cursor.
    pub(super) fn filter(&mut self, filters: &[Filter], paging: Option<(&Search, &Cursor, bool)>) {
        let mut conditions: Vec<String> = filters.iter().map(|f| self.condition(f)).collect();
        if let Some((search, cursor, after)) = paging {
            conditions.push(self.beyond(search, cursor, after));
        }
        for condition in &conditions {
            self.sql.and_where(condition);
        }
    }

    /// The whole search: filters, order, page.
    pub(super) fn search(&mut self, search: &Search) {
        let (cursor, forwards) = match search.paging() {
            Paging::After(Some(cursor)) => (Some(cursor), true),
            Paging::Before(cursor) => (Some(cursor), false),
            _ => (None, true),
        };
        self.filter(search.filters(), cursor.map(|c| (search, c, forwards)));
        let order: Vec<String> = sort_keys(search.sort_keys(), self)
            .into_iter()
            .map(|(key, descending)| {
                // Backwards pages read nearest the cursor first.
                let descending = descending == forwards;
                format!("{key} {}", if descending { "DESC" } else { "ASC" })
            })
            .collect();
        self.sql.push(&format!("ORDER BY {}", order.join(", ")));
        let limit = i64::from(search.page_size()) + 1;
        let limit = self.bind(limit, "bigint");
        self.sql.push(&format!("LIMIT {limit}"));
        if let Paging::Offset(offset) = search.paging() {
            let offset = self.bind(i64::try_from(*offset).unwrap_or(i64::MAX), "bigint");
            self.sql.push(&format!("OFFSET {offset}"));
        }
    }

    fn condition(&mut self, filter: &Filter) -> String {
        match filter.field() {
            Field::Id => self.text_condition("id", filter),
            Field::Name => self.text_condition("name", filter),
            Field::Source => self.source_condition(filter),
            Field::State(path) => self.json_condition("state", path, filter),
            Field::Metadata(path) => self.json_condition("metadata", path, filter),
            _ => "false".to_owned(),
        }
    }

    fn text_condition(&mut self, column: &str, filter: &Filter) -> String {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let value = filter.value();
        match filter.operator() {
            Operator::Equal => format!("{column} = {}", self.bind(text(value), "text")),
            Operator::NotEqual => format!("{column} <> {}", self.bind(text(value), "text")),
            Operator::In => {
                let values: Vec<String> =
                    value.as_array().into_iter().flatten().map(text).collect();
                format!("{column} = ANY({})", self.bind(values, "text[]"))
            }
            Operator::Contains => {
                format!("strpos({column}, {}) > 0", self.bind(text(value), "text"))
            }
            Operator::Matches => format!("{column} ~ {}", self.pattern(filter)),
            Operator::NotMatches => format!("{column} !~ {}", self.pattern(filter)),
            operator => {
                let symbol = comparison(operator);
                format!(
                    "{column} COLLATE \"C\" {symbol} {}",
                    self.bind(text(value), "text")
                )
            }
        }
    }

    /// The filter's pattern in PostgreSQL's syntax, rendered from the dialect
    /// so that `~` means what the in-memory match means. A filter without one
    /// (which a regular expression operator never is) binds a pattern that
    /// matches nothing.
    fn pattern(&mut self, filter: &Filter) -> String {
        let pattern = filter
            .pattern()
            .map_or(r"[^\u0000-\U0010FFFF]", Pattern::to_postgres);
        self.bind(pattern.to_owned(), "text")
    }

    fn source_condition(&mut self, filter: &Filter) -> String {
        let value = filter.value().clone();
        match filter.operator() {
            Operator::Equal => format!("source = {}", self.bind(value, "jsonb")),
            Operator::NotEqual => format!("source <> {}", self.bind(value, "jsonb")),
            Operator::In => {
                let values = value.as_array().cloned().unwrap_or_default();
                format!("source = ANY({})", self.bind(values, "jsonb[]"))
            }
            _ => "false".to_owned(),
        }
    }

    fn json_condition(&mut self, column: &str, path: &[String], filter: &Filter) -> String {
        let field = format!("({column} #> {})", self.bind(path.to_vec(), "text[]"));
        let value = filter.value().clone();
        match filter.operator() {
            Operator::Equal => self.json_equal(&field, column, path, value),
            Operator::NotEqual => {
                format!(
                    "NOT coalesce({}, false)",
                    self.json_equal(&field, column, path, value)
                )
            }
            Operator::In => {
                let values = value.as_array().cloned().unwrap_or_default();
                let values = self.bind(values, "jsonb[]");
                format!("coalesce({field}, 'null'::jsonb) = ANY({values})")
            }
            Operator::Contains => self.json_contains(&field, value),
            Operator::Matches | Operator::NotMatches => {
                let symbol = if filter.operator() == Operator::Matches {
                    "~"
                } else {
                    "!~"
                };
                let pattern = self.pattern(filter);
                format!(
                    "CASE WHEN jsonb_typeof({field}) = 'string' \
                     THEN ({field} #>> ARRAY[]::text[]) {symbol} {pattern} ELSE false END"
                )
            }
            operator => self.json_compare(&field, comparison(operator), value),
        }
    }

    /// Equality; a `null` value also matches a missing path. For other values
    /// a containment test lets a GIN index on the column narrow the rows first.
    fn json_equal(&mut self, field: &str, column: &str, path: &[String], value: Value) -> String {
        if value.is_null() {
            return format!("({field} IS NULL OR {field} = 'null'::jsonb)");
        }
        let exact = format!("{field} = {}", self.bind(value.clone(), "jsonb"));
        match containment(path, value) {
            Some(document) => format!("({column} @> {} AND {exact})", self.bind(document, "jsonb")),
            None => exact,
        }
    }

    fn json_contains(&mut self, field: &str, value: Value) -> String {
        let element = format!(
            "WHEN jsonb_typeof({field}) = 'array' THEN EXISTS \
             (SELECT 1 FROM jsonb_array_elements({field}) AS element \
              WHERE element = {})",
            self.bind(value.clone(), "jsonb")
        );
        let substring = match value {
            Value::String(needle) => format!(
                "WHEN jsonb_typeof({field}) = 'string' \
                 THEN strpos({field} #>> ARRAY[]::text[], {}) > 0 ",
                self.bind(needle, "text")
            ),
            _ => String::new(),
        };
        format!("CASE {substring}{element} ELSE false END")
    }

    fn json_compare(&mut self, field: &str, symbol: &str, value: Value) -> String {
        let (kind, left, right) = match value {
            Value::Number(number) => (
                "number",
                format!("({field})::numeric"),
                self.bind(number.to_string(), "text::numeric"),
            ),
            Value::Bool(flag) => (
                "boolean",
                format!("({field})::boolean"),
                self.bind(flag, "boolean"),
            ),
            Value::String(text) => (
                "string",
                format!("({field} #>> ARRAY[]::text[]) COLLATE \"C\""),
                self.bind(text, "text"),
            ),
            _ => return "false".to_owned(),
        };
        format!("CASE WHEN jsonb_typeof({field}) = '{kind}' THEN {left} {symbol} {right} ELSE false END")
    }

    /// Rows strictly after (or before) `cursor` in the search's order.
    fn beyond(&mut self, search: &Search, cursor: &Cursor, after: bool) -> String {
        let keys = sort_keys(search.sort_keys(), self);
        let values = cursor_values(search.sort_keys(), cursor, self);
        let mut alternatives = Vec::new();
        for (index, ((key, descending), value)) in keys.iter().zip(&values).enumerate() {
            let symbol = if *descending != after { ">" } else { "<" };
            let mut terms: Vec<String> = keys[..index]
                .iter()
                .zip(&values)
                .map(|((key, _), value)| format!("{key} = {value}"))
                .collect();
            terms.push(format!("{key} {symbol} {value}"));
            alternatives.push(format!("({})", terms.join(" AND ")));
        }
        format!("({})", alternatives.join("\n      OR "))
    }
}

fn comparison(operator: Operator) -> &'static str {
    match operator {
        Operator::LessThan => "<",
        Operator::LessThanOrEqual => "<=",
        Operator::GreaterThan => ">",
        _ => ">=",
    }
}

/// `{"a": {"b": value}}` for the path `a.b`, when containment means the same
/// as equality there: only object keys on the way (a segment that `#>` could
/// read as an array index, `" 1"` included, is left to the exact test) and a
/// scalar value.
fn containment(path: &[String], value: Value) -> Option<Value> {
    let scalar = matches!(value, Value::Bool(_) | Value::Number(_) | Value::String(_));
    if !scalar
        || path
            .iter()
            .any(|segment| value::array_index(segment).is_some())
    {
        return None;
    }
    Some(path.iter().rev().fold(value, |inner, segment| {
        Value::Object(serde_json::Map::from_iter([(segment.clone(), inner)]))
    }))
}

/// The SQL expressions a search sorts on, each with whether it descends: four
/// per JSON field (kind, then boolean, number and string value), one per
/// similarity, then the name and id that break ties.
fn sort_keys(sort: &[Sort], sql: &mut Sql) -> Vec<(String, bool)> {
    let mut keys = Vec::new();
    for key in sort {
        let descending = key.descending;
        if let Some(text) = &key.similar_to {
            keys.push((similarity_key(&key.field, text, sql), descending));
            continue;
        }
        match &key.field {
            Field::Id => keys.push(("id COLLATE \"C\"".to_owned(), descending)),
            Field::Name => keys.push(("name COLLATE \"C\"".to_owned(), descending)),
            Field::State(path) | Field::Metadata(path) => {
                let column = if matches!(key.field, Field::State(_)) {
                    "state"
                } else {
                    "metadata"
                };
                let field = format!("({column} #> {})", sql.bind(path.clone(), "text[]"));
                keys.extend(json_sort_keys(&field).map(|key| (key, descending)));
            }
            _ => {}
        }
    }
    keys.push(("name COLLATE \"C\"".to_owned(), false));
    keys.push(("id COLLATE \"C\"".to_owned(), false));
    keys
}

/// The similarity of `field`'s text to `text`; a value that is not a string
/// has no words (as the empty text), so its similarity is 0.
fn similarity_key(field: &Field, text: &str, sql: &mut Sql) -> String {
    let field_text = match field {
        Field::Id => "id".to_owned(),
        Field::Name => "name".to_owned(),
        Field::State(path) | Field::Metadata(path) => {
            let column = if matches!(field, Field::State(_)) {
                "state"
            } else {
                "metadata"
            };
            let value = format!("({column} #> {})", sql.bind(path.clone(), "text[]"));
            format!(
                "CASE WHEN jsonb_typeof({value}) = 'string' \
                 THEN {value} #>> ARRAY[]::text[] ELSE '' END"
            )
        }
        _ => "''".to_owned(),
    };
    let text = sql.bind(text.to_owned(), "text");
    format!("{}({field_text}, {text})", sql.similarity)
}

fn json_sort_keys(field: &str) -> [String; 4] {
    [
        format!(
            "CASE WHEN {field} IS NULL THEN 0 ELSE CASE jsonb_typeof({field}) \
             WHEN 'null' THEN 1 WHEN 'boolean' THEN 2 WHEN 'number' THEN 3 \
             WHEN 'string' THEN 4 WHEN 'array' THEN 5 ELSE 6 END END"
        ),
        format!(
            "CASE WHEN jsonb_typeof({field}) = 'boolean' THEN ({field})::boolean ELSE false END"
        ),
        format!("CASE WHEN jsonb_typeof({field}) = 'number' THEN ({field})::numeric ELSE 0 END"),
        format!(
            "(CASE WHEN jsonb_typeof({field}) = 'string' \
             THEN {field} #>> ARRAY[]::text[] ELSE '' END) COLLATE \"C\""
        ),
    ]
}

/// The cursor's values bound in the shape of [`sort_keys`].
fn cursor_values(sort: &[Sort], cursor: &Cursor, sql: &mut Sql) -> Vec<String> {
    let mut values = Vec::new();
    for (key, value) in sort.iter().zip(&cursor.values) {
        if key.similar_to.is_some() {
            // A similarity: a single-precision number (checked when the
            // search was validated).
            #[allow(clippy::cast_possible_truncation)]
            let similarity = value.as_ref().and_then(Value::as_f64).unwrap_or(0.0) as f32;
            values.push(sql.bind(similarity, "real"));
            continue;
        }
        match (&key.field, value) {
            (Field::Id | Field::Name, value) => {
                let text = value
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                values.push(sql.bind(text, "text"));
            }
            (Field::State(_) | Field::Metadata(_), value) => {
                let value = value.as_ref();
                values.push(sql.bind(i32::from(value::rank(value)), "integer"));
                values.push(sql.bind(value.and_then(Value::as_bool).unwrap_or(false), "boolean"));
                let number = match value {
                    Some(Value::Number(number)) => number.to_string(),
                    _ => "0".to_owned(),
                };
                values.push(sql.bind(number, "text::numeric"));
                let text = value.and_then(Value::as_str).unwrap_or_default().to_owned();
                values.push(sql.bind(text, "text"));
            }
            _ => {}
        }
    }
    values.push(sql.bind(cursor.name.clone(), "text"));
    values.push(sql.bind(cursor.id.clone(), "text"));
    values
}
