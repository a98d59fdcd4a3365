//! Consumer checkpoints kept in memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{CheckpointStore, Error, Fence, Name, Result};
use parking_lot::Mutex;

/// A [`CheckpointStore`] in memory; clones share the checkpoints.
///
/// It keeps the newest fencing token seen per (consumer, partition) and
/// refuses writes under an older one, in the same critical section as the
/// write.
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpointStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    checkpoints: HashMap<Name, u64>,
    /// The newest token seen per fenced partition.
    fences: HashMap<(Name, u32), u64>,
}

impl State {
    /// Refuses a write under a fence older than the newest seen, and keeps the
    /// newest otherwise. Call it before the write, under the same lock.
    fn admit(&mut self, fence: Option<&Fence>) -> Result<()> {
        let Some(fence) = fence else { return Ok(()) };
        let key = (fence.consumer().clone(), fence.partition());
        let newest = fence.admit(self.fences.get(&key).copied())?;
        self.fences.insert(key, newest);
        Ok(())
    }

    fn is_done(&self, consumer: &Name, sequence_number: u64) -> bool {
        self.checkpoints
            .get(consumer)
            .is_some_and(|&done| done >= sequence_number)
    }
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `effect` for the event at `sequence_number` and advances the
    /// consumer's checkpoint in one step, unless the checkpoint is already at or
    /// beyond it (a redelivery), in which case `effect` does not run.
    ///
    /// Returns whether the effect ran. If `effect` fails, the checkpoint does not
    /// move. This is the in-memory counterpart of applying an effect and a
    /// checkpoint in one database transaction.
    ///
    /// # Errors
    /// The effect's error.
    pub fn apply_once<E>(
        &self,
        consumer: &Name,
        sequence_number: u64,
        effect: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<bool, E> {
        let mut state = self.state.lock();
        if state.is_done(consumer, sequence_number) {
            return Ok(false);
        }
        effect()?;
        state.checkpoints.insert(consumer.clone(), sequence_number);
        Ok(true)
    }

    /// As [`MemoryCheckpointStore::apply_once`], for a consumer partition held
    /// under a lease: the effect runs only if `fence` is not older than the
    /// newest token seen for its partition.
    ///
    /// # Errors
    /// [`Error::Fenced`] (converted into `E`) if the lease was taken over; the
    /// effect's error.
    pub fn apply_once_fenced<E: From<Error>>(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: &Fence,
        effect: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<bool, E> {
        let mut state = self.state.lock();
        state.admit(Some(fence))?;
        if state.is_done(consumer, sequence_number) {
            return Ok(false);
        }
        effect()?;
        state.checkpoints.insert(consumer.clone(), sequence_number);
        Ok(true)
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        Ok(self.state.lock().checkpoints.get(consumer).copied())
    }

    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        let mut state = self.state.lock();
        state.admit(fence)?;
        if state.is_done(consumer, sequence_number) {
            return Ok(false);
        }
        state.checkpoints.insert(consumer.clone(), sequence_number);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer() -> Name {
        Name::new("consumer", "emails").unwrap()
    }

    #[tokio::test]
    async fn checkpoints_only_move_forwards() {
        let store = MemoryCheckpointStore::new();
        assert_eq!(store.load(&consumer()).await.unwrap(), None);
        assert!(store.advance(&consumer(), 5, None).await.unwrap());
        assert!(!store.advance(&consumer(), 5, None).await.unwrap());
        assert!(!store.advance(&consumer(), 3, None).await.unwrap());
        assert_eq!(store.load(&consumer()).await.unwrap(), Some(5));
    }

    #[test]
    fn effects_apply_once_and_not_when_they_fail() {
        let store = MemoryCheckpointStore::new();
        let mut applied = Vec::new();
        assert_eq!(
            store.apply_once(&consumer(), 1, || Err::<(), _>("boom")),
            Err("boom")
        );
        for sequence_number in [1, 2, 2, 1, 3] {
            store
                .apply_once(&consumer(), sequence_number, || {
                    applied.push(sequence_number);
                    Ok::<_, ()>(())
                })
                .unwrap();
        }
        assert_eq!(applied, vec![1, 2, 3]);
    }

    #[test]
    fn a_fenced_effect_runs_only_under_the_newest_token() {
        let store = MemoryCheckpointStore::new();
        let fence = |token| Fence::new(consumer(), 0, token);
        let ran = store.apply_once_fenced(&consumer(), 1, &fence(2), || Ok::<_, Error>(()));
        assert!(ran.unwrap());
        let stale = store.apply_once_fenced(&consumer(), 2, &fence(1), || {
            panic!("a stale holder's effect must not run")
        });
        assert!(
            matches!(stale, Err(Error::Fenced { newest: 2, .. })),
            "{stale:?}"
        );
        assert_eq!(store.state.lock().checkpoints.get(&consumer()), Some(&1));
    }
}
