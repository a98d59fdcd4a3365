//! Dropping a future after a given number of polls.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How a future driven by [`drop_after_polls`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending<T> {
    /// It completed within the budget, with this output.
    Completed(T),
    /// It was dropped after the budget of polls, still pending.
    Dropped,
}

impl<T> Ending<T> {
    /// The output, if it completed.
    pub fn completed(self) -> Option<T> {
        match self {
            Self::Completed(output) => Some(output),
            Self::Dropped => None,
        }
    }
}

/// Runs `future` on the current runtime, letting it be polled `polls` times
/// (each poll after the first follows its own wake-up, so real I/O makes
/// progress in between), and drops it right after the last of them if it is
/// still pending — exactly what a caller's timeout or `select!` does at that
/// point. A budget of 0 drops it unpolled.
pub async fn drop_after_polls<F: Future>(future: F, polls: usize) -> Ending<F::Output> {
    Budget {
        future: Box::pin(future),
        left: polls,
    }
    .await
}

struct Budget<F: Future> {
    future: Pin<Box<F>>,
    left: usize,
}

impl<F: Future> Future for Budget<F> {
    type Output = Ending<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(Ending::Dropped);
        }
        self.left -= 1;
        match self.future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Ending::Completed(output)),
            Poll::Pending if self.left == 0 => Poll::Ready(Ending::Dropped),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn drops_after_the_budget_and_completes_within_it() {
        let slow = async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            7
        };
        assert_eq!(drop_after_polls(slow, 2).await, Ending::Dropped);
        let slow = async {
            tokio::task::yield_now().await;
            7
        };
        assert_eq!(drop_after_polls(slow, 2).await, Ending::Completed(7));
        let never = tokio::time::sleep(Duration::from_secs(3600));
        assert_eq!(drop_after_polls(never, 1).await, Ending::Dropped);
    }
}
