//! Helpers for application code that writes with conditions.

use std::future::Future;

use crate::error::{Error, Result};

/// Runs `operation` up to `max_attempts` times (at least once) while it fails with
/// [`Error::UnmetCondition`], and returns its first success or last error.
///
/// For a command (read, decide, publish on a condition on what was read),
/// prefer [`StreamHandle::decide`](crate::StreamHandle::decide): it also
/// retries retryable failures, waits a jittered backoff between attempts and
/// republishes the same events after an unknown outcome. This retries
/// immediately, and only unmet conditions: each attempt should read the
/// stream again and publish with a condition on what it read.
///
/// ```
/// use eventblocks_core::{retry_on_unmet_condition, Error, StreamIdentifier, WriteCondition};
///
/// # async fn example() -> eventblocks_core::Result<()> {
/// let stream = StreamIdentifier::new("accounts", "acc-1")?;
/// let mut attempts = 0;
/// let result = retry_on_unmet_condition(3, || {
///     attempts += 1;
///     let outcome = if attempts < 3 {
///         Err(Error::UnmetCondition {
///             stream: stream.clone(),
///             expected: WriteCondition::StreamIsEmpty,
///             found: Some(0),
///         })
///     } else {
///         Ok(attempts)
///     };
///     async move { outcome }
/// })
/// .await?;
/// assert_eq!(result, 3);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The last error, when every attempt failed or an attempt failed otherwise.
pub async fn retry_on_unmet_condition<T, F, Fut>(max_attempts: u32, mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(error) if error.is_unmet_condition() && attempt < max_attempts => {
                tracing::debug!(attempt, %error, "retrying after an unmet condition");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Turns [`Error::UnmetCondition`] into `Ok(None)`: for writes that only matter if
/// nobody else got there first.
///
/// # Errors
/// Any other error.
pub fn ignore_unmet_condition<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::UnmetCondition { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StreamIdentifier, WriteCondition};

    fn unmet() -> Error {
        Error::UnmetCondition {
            stream: StreamIdentifier::new("a", "b").unwrap(),
            expected: WriteCondition::StreamIsEmpty,
            found: Some(1),
        }
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let mut calls = 0;
        let result: Result<()> = retry_on_unmet_condition(4, || {
            calls += 1;
            async { Err(unmet()) }
        })
        .await;
        assert!(result.unwrap_err().is_unmet_condition());
        assert_eq!(calls, 4);
    }

    #[tokio::test]
    async fn does_not_retry_other_errors() {
        let mut calls = 0;
        let result: Result<()> = retry_on_unmet_condition(4, || {
            calls += 1;
            async { Err(Error::corrupt("bad row")) }
        })
        .await;
        assert!(matches!(result, Err(Error::Corrupt { .. })));
        assert_eq!(calls, 1);
    }

    #[test]
    fn ignoring() {
        assert_eq!(ignore_unmet_condition(Ok(1)).unwrap(), Some(1));
        assert_eq!(ignore_unmet_condition::<i32>(Err(unmet())).unwrap(), None);
        assert!(ignore_unmet_condition::<i32>(Err(Error::corrupt("x"))).is_err());
    }
}
