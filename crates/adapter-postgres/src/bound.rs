//! SQL built from fixed fragments with every value bound as a parameter: the
//! one builder behind scans and projection searches.

use tokio_postgres::types::ToSql;

/// SQL text under construction and the values bound to its placeholders.
pub(crate) struct BoundSql {
    text: String,
    values: Vec<Box<dyn ToSql + Sync + Send>>,
    conditions: usize,
}

impl BoundSql {
    /// Starts from `select` (a rendered statement without a `WHERE`).
    pub(crate) fn new(select: &str) -> Self {
        Self {
            text: select.trim_end().to_owned(),
            values: Vec::new(),
            conditions: 0,
        }
    }

    /// Binds `value` and returns its placeholder, `$n`.
    pub(crate) fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    /// Adds `condition` to the `WHERE` clause (ANDed with the others).
    pub(crate) fn and_where(&mut self, condition: &str) {
        let joiner = if self.conditions == 0 {
            "WHERE"
        } else {
            "  AND"
        };
        self.text.push_str(&format!("\n {joiner} {condition}"));
        self.conditions += 1;
    }

    /// Appends `clause` (an `ORDER BY`, a `LIMIT`, …) on a line of its own.
    pub(crate) fn push(&mut self, clause: &str) {
        self.text.push_str("\n ");
        self.text.push_str(clause);
    }

    /// The SQL text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The bound values, in placeholder order.
    pub(crate) fn parameters(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_in_binding_order() {
        let mut sql = BoundSql::new("SELECT * FROM t ");
        let first = sql.bind(1_i64);
        sql.and_where(&format!("a = {first}"));
        let second = sql.bind("x");
        sql.and_where(&format!("b = {second}::text"));
        sql.push("LIMIT 3");
        assert_eq!(
            sql.text(),
            "SELECT * FROM t\n WHERE a = $1\n   AND b = $2::text\n LIMIT 3"
        );
        assert_eq!(sql.parameters().len(), 2);
    }
}
