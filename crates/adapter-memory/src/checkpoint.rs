//! Consumer checkpoints kept in memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{CheckpointStore, Name, Result};
use parking_lot::Mutex;

/// A [`CheckpointStore`] in memory; clones share the checkpoints.
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpointStore {
    checkpoints: Arc<Mutex<HashMap<Name, u64>>>,
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
        let mut checkpoints = self.checkpoints.lock();
        if checkpoints
            .get(consumer)
            .is_some_and(|&done| done >= sequence_number)
        {
            return Ok(false);
        }
        effect()?;
        checkpoints.insert(consumer.clone(), sequence_number);
        Ok(true)
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        Ok(self.checkpoints.lock().get(consumer).copied())
    }

    async fn advance(&self, consumer: &Name, sequence_number: u64) -> Result<bool> {
        let mut checkpoints = self.checkpoints.lock();
        if checkpoints
            .get(consumer)
            .is_some_and(|&current| current >= sequence_number)
        {
            return Ok(false);
        }
        checkpoints.insert(consumer.clone(), sequence_number);
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
        assert!(store.advance(&consumer(), 5).await.unwrap());
        assert!(!store.advance(&consumer(), 5).await.unwrap());
        assert!(!store.advance(&consumer(), 3).await.unwrap());
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
}
