//! Fencing tokens in the table `<table>_fences`: raised when a lease is
//! taken, checked and raised by every write made under a lease, atomically
//! with it (see the SQL in `sql/fences/` and the fenced writes).

use eventblocks_core::{Error, Fence, Result, WriteOutcome};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::error;
use crate::statements::FenceStatements;

impl FenceStatements {
    /// The error refusing a write under `fence`: [`Error::Fenced`] naming the
    /// newest token stored (read in a statement of its own, so it sees the
    /// takeover that refused the write), or [`Error::InvalidInput`] for a
    /// token no lease handed out (see [`Fence::admit`]).
    pub(crate) async fn refusal(&self, client: &Client, fence: &Fence) -> Error {
        let partition = i64::from(fence.partition());
        let newest = client
            .query_opt(&self.newest, &[&fence.consumer().as_str(), &partition])
            .await;
        match newest {
            Ok(row) => {
                let newest = row.map(|row| row.get::<_, i64>(0));
                fence.refusal(newest.map(|newest| u64::try_from(newest).unwrap_or(0)))
            }
            Err(e) => error::database(e, "reading a fencing token", WriteOutcome::NotWritten),
        }
    }
}

/// A fence, or none, as the three bound parameters of a fenced write:
/// consumer, partition and token, all NULL without a fence.
#[derive(Debug)]
pub(crate) struct FenceParameters<'a> {
    consumer: Option<&'a str>,
    partition: Option<i64>,
    token: Option<i64>,
}

impl<'a> FenceParameters<'a> {
    /// No fence: the write is not checked.
    pub(crate) const NONE: FenceParameters<'static> = FenceParameters {
        consumer: None,
        partition: None,
        token: None,
    };

    /// # Errors
    /// [`Error::InvalidInput`] for a token beyond what PostgreSQL stores.
    pub(crate) fn new(fence: Option<&'a Fence>) -> Result<Self> {
        let Some(fence) = fence else {
            return Ok(FenceParameters::NONE);
        };
        let token = token(fence.token())?;
        Ok(Self {
            consumer: Some(fence.consumer().as_str()),
            partition: Some(i64::from(fence.partition())),
            token: Some(token),
        })
    }

    pub(crate) fn parameters(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.consumer, &self.partition, &self.token]
    }
}

/// A token as PostgreSQL stores it.
///
/// # Errors
/// [`Error::InvalidInput`] beyond `i64::MAX`.
pub(crate) fn token(token: u64) -> Result<i64> {
    i64::try_from(token)
        .map_err(|_| Error::invalid("fence", "the token is beyond the range PostgreSQL stores"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::FILES;

    /// Every fenced write spells [`Fence::MAX_TOKEN`] in its SQL the same way.
    #[test]
    fn the_statements_admit_the_tokens_core_admits() {
        assert_eq!(Fence::MAX_TOKEN, 1 << 53);
        let fenced = [
            "fences/check.sql",
            "checkpoints/advance.sql",
            "projections/save.sql",
        ];
        for file in fenced {
            let (_, sql) = FILES.iter().find(|(path, _)| *path == file).unwrap();
            assert_eq!(sql.matches("(1::bigint << 53)").count(), 2, "{file}");
        }
    }
}
