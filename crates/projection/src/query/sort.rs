//! The keys of a search's sort order.

use eventblocks_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::field::Field;
use super::similarity::{similarity, MAX_SIMILARITY_TEXT_LENGTH};
use crate::projection::StoredProjection;

/// One key of a search's sort order: a field's value, or how similar a
/// field's text is to a given text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    /// The field sorted on.
    pub field: Field,
    /// Whether larger values come first.
    pub descending: bool,
    /// When set, the key is not the field's value but the trigram
    /// [`similarity`] of its text to this text (see [`Sort::similar_to`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similar_to: Option<String>,
}

impl Sort {
    /// Smaller values first.
    pub fn ascending(field: Field) -> Self {
        Self {
            field,
            descending: false,
            similar_to: None,
        }
    }

    /// Larger values first.
    pub fn descending(field: Field) -> Self {
        Self {
            field,
            descending: true,
            similar_to: None,
        }
    }

    /// Sorts by how similar the field's text is to `text`, as PostgreSQL's
    /// `pg_trgm` measures it ([`similarity`], a number from 0 to 1), rather
    /// than by the field's value: `Sort::descending(field).similar_to(text)`
    /// puts the most similar first. A value that is not a string (a number,
    /// `null`, a missing path) has no words, so its similarity is 0. Ties
    /// are broken by the later sort keys, then by name and id, as always.
    ///
    /// `text` has at most [`MAX_SIMILARITY_TEXT_LENGTH`] bytes and no NUL
    /// character, and the field is not the source (checked when the search
    /// runs). On PostgreSQL the `pg_trgm` extension must be installed, which
    /// `migrate()` does where its role may (see `PostgresProjectionStore`).
    ///
    /// ```
    /// use eventblocks_core::StreamIdentifier;
    /// use eventblocks_projection::query::{Field, Search, Sort};
    /// use eventblocks_projection::{MemoryProjectionStore, Projection, ProjectionStore};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> eventblocks_core::Result<()> {
    /// let store = ProjectionStore::new(MemoryProjectionStore::new());
    /// for (id, name) in [("1", "Joe Bloggs"), ("2", "Jo Blogs"), ("3", "Ann Smith")] {
    ///     store
    ///         .save(&Projection {
    ///             id: id.to_owned(),
    ///             name: "profile".to_owned(),
    ///             source: StreamIdentifier::new("profiles", id)?.into(),
    ///             state: json!({ "name": name }),
    ///             metadata: json!({}),
    ///         })
    ///         .await?;
    /// }
    /// let closest = Search::new()
    ///     .sort(Sort::descending(Field::state("name")?).similar_to("joe blogs"))
    ///     .limit(2);
    /// let page = store.search(&closest).await?;
    /// let names: Vec<_> = page.projections.iter().map(|p| &p.state["name"]).collect();
    /// assert_eq!(names, [&json!("Joe Bloggs"), &json!("Jo Blogs")]);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn similar_to(mut self, text: impl Into<String>) -> Self {
        self.similar_to = Some(text.into());
        self
    }

    /// What this key sorts `projection` by: the field's value (`None` where
    /// a path finds nothing), or for a similarity key the similarity, as a
    /// number.
    pub(crate) fn value_in(&self, projection: &StoredProjection) -> Option<Value> {
        let value = self.field.value_in(projection);
        let Some(text) = &self.similar_to else {
            return value;
        };
        let field_text = match &value {
            Some(Value::String(field_text)) => field_text.as_str(),
            _ => "",
        };
        Some(Value::from(f64::from(similarity(field_text, text))))
    }

    /// Checks what building the key could not.
    pub(crate) fn validate(&self) -> Result<()> {
        self.field.validate()?;
        if self.field == Field::Source {
            return Err(Error::invalid("sort", "cannot sort on the source"));
        }
        let Some(text) = &self.similar_to else {
            return Ok(());
        };
        if text.len() > MAX_SIMILARITY_TEXT_LENGTH {
            return Err(Error::invalid(
                "sort",
                format!(
                    "a similarity text has at most {MAX_SIMILARITY_TEXT_LENGTH} bytes, not {}",
                    text.len()
                ),
            ));
        }
        if text.contains('\0') {
            return Err(Error::invalid(
                "sort",
                "a similarity text contains a NUL character",
            ));
        }
        Ok(())
    }

    /// Checks a cursor's value for this key: any value for a field, and for a
    /// similarity a number a similarity can be (a single-precision float from
    /// 0 to 1), so that every store compares it alike.
    pub(crate) fn check_cursor_value(&self, value: Option<&Value>) -> Result<()> {
        if self.similar_to.is_none() {
            return Ok(());
        }
        let similarity = value.and_then(Value::as_f64);
        #[allow(clippy::cast_possible_truncation)] // Checked: it must read back the same.
        let exact = similarity.is_some_and(|number| {
            (0.0..=1.0).contains(&number) && f64::from(number as f32) == number
        });
        if exact {
            Ok(())
        } else {
            Err(Error::invalid(
                "cursor",
                "holds no similarity (a single-precision number from 0 to 1) for a similarity sort key",
            ))
        }
    }
}
