//! Unwrapped intermediate keys, bounded in count and lifetime. Concurrent misses for one
//! intermediate share a single Key Vault unwrap, which runs in its own task so a caller giving
//! up does not waste it. Evicted keys are wiped when their last user lets go.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::format::IntermediateId;
use super::intermediate::IntermediateKey;
use super::settings::CacheBounds;
use super::vault::VaultError;

/// What loading one intermediate gives every caller waiting for it.
pub type LoadResult = Result<Arc<IntermediateKey>, VaultError>;

/// The cache; share it in an `Arc`.
pub struct IntermediateCache {
    state: Mutex<State>,
    bounds: CacheBounds,
}

#[derive(Default)]
struct State {
    slots: HashMap<IntermediateId, Slot>,
    next_generation: u64,
}

enum Slot {
    Ready {
        key: Arc<IntermediateKey>,
        key_version: String,
        loaded: Instant,
    },
    Loading {
        generation: u64,
        result: Shared<BoxFuture<'static, LoadResult>>,
    },
}

impl IntermediateCache {
    pub fn new(bounds: CacheBounds) -> Self {
        Self {
            state: Mutex::new(State::default()),
            bounds,
        }
    }

    /// The key if it is cached and fresh.
    pub fn get(&self, id: &IntermediateId) -> Option<Arc<IntermediateKey>> {
        let mut state = self.lock();
        match state.slots.get(id) {
            Some(Slot::Ready { key, loaded, .. }) if loaded.elapsed() < self.bounds.lifetime => {
                Some(Arc::clone(key))
            }
            Some(Slot::Ready { .. }) => {
                state.slots.remove(id);
                None
            }
            _ => None,
        }
    }

    /// Caches a key this replica made itself.
    pub fn insert(&self, id: IntermediateId, key_version: &str, key: Arc<IntermediateKey>) {
        let mut state = self.lock();
        state.slots.insert(
            id,
            Slot::Ready {
                key,
                key_version: key_version.to_owned(),
                loaded: Instant::now(),
            },
        );
        self.enforce_bounds(&mut state);
    }

    /// The cached key, or the result of `load`, run once however many callers miss at once.
    pub async fn get_or_load<F>(
        self: &Arc<Self>,
        id: IntermediateId,
        key_version: &str,
        load: F,
    ) -> LoadResult
    where
        F: Future<Output = LoadResult> + Send + 'static,
    {
        let pending = {
            let mut state = self.lock();
            match state.slots.get(&id) {
                Some(Slot::Ready { key, loaded, .. })
                    if loaded.elapsed() < self.bounds.lifetime =>
                {
                    return Ok(Arc::clone(key));
                }
                Some(Slot::Loading { result, .. }) => result.clone(),
                _ => self.start_load(&mut state, id, key_version, load),
            }
        };
        pending.await
    }

    fn start_load<F>(
        self: &Arc<Self>,
        state: &mut State,
        id: IntermediateId,
        key_version: &str,
        load: F,
    ) -> Shared<BoxFuture<'static, LoadResult>>
    where
        F: Future<Output = LoadResult> + Send + 'static,
    {
        let generation = state.next_generation;
        state.next_generation += 1;

        let cache = Arc::clone(self);
        let version = key_version.to_owned();
        let task = tokio::spawn(async move {
            let result = load.await;
            cache.finish_load(id, generation, version, &result);
            result
        });
        let result = async move {
            task.await.unwrap_or_else(|_| {
                Err(VaultError::Unavailable(
                    "the unwrap task ended early".to_owned(),
                ))
            })
        }
        .boxed()
        .shared();

        state.slots.insert(
            id,
            Slot::Loading {
                generation,
                result: result.clone(),
            },
        );
        result
    }

    fn finish_load(
        &self,
        id: IntermediateId,
        generation: u64,
        key_version: String,
        result: &LoadResult,
    ) {
        let mut state = self.lock();
        let ours = matches!(
            state.slots.get(&id),
            Some(Slot::Loading { generation: g, .. }) if *g == generation
        );
        if !ours {
            return;
        }
        match result {
            Ok(key) => {
                state.slots.insert(
                    id,
                    Slot::Ready {
                        key: Arc::clone(key),
                        key_version,
                        loaded: Instant::now(),
                    },
                );
                self.enforce_bounds(&mut state);
            }
            // Failures are not cached: the next caller asks Key Vault again.
            Err(_) => {
                state.slots.remove(&id);
            }
        }
    }

    /// Drops every key wrapped by `key_version`; returns how many.
    pub fn evict_version(&self, key_version: &str) -> usize {
        let mut state = self.lock();
        let before = state.slots.len();
        state.slots.retain(
            |_, slot| !matches!(slot, Slot::Ready { key_version: v, .. } if v == key_version),
        );
        before - state.slots.len()
    }

    /// Drops keys past their lifetime; returns how many.
    pub fn sweep(&self) -> usize {
        let mut state = self.lock();
        let before = state.slots.len();
        let lifetime = self.bounds.lifetime;
        state.slots.retain(|_, slot| match slot {
            Slot::Ready { loaded, .. } => loaded.elapsed() < lifetime,
            Slot::Loading { .. } => true,
        });
        before - state.slots.len()
    }

    /// The Key Vault key versions the cached keys depend on.
    pub fn key_versions(&self) -> BTreeSet<String> {
        self.lock()
            .slots
            .values()
            .filter_map(|slot| match slot {
                Slot::Ready { key_version, .. } => Some(key_version.clone()),
                Slot::Loading { .. } => None,
            })
            .collect()
    }

    /// Cached keys (loads in flight excluded).
    pub fn len(&self) -> usize {
        self.lock()
            .slots
            .values()
            .filter(|slot| matches!(slot, Slot::Ready { .. }))
            .count()
    }

    /// Drops expired keys, then the oldest, until the count bound holds.
    fn enforce_bounds(&self, state: &mut State) {
        if state.slots.len() <= self.bounds.max_keys {
            return;
        }
        let lifetime = self.bounds.lifetime;
        state.slots.retain(|_, slot| match slot {
            Slot::Ready { loaded, .. } => loaded.elapsed() < lifetime,
            Slot::Loading { .. } => true,
        });
        while state.slots.len() > self.bounds.max_keys {
            let oldest = state
                .slots
                .iter()
                .filter_map(|(id, slot)| match slot {
                    Slot::Ready { loaded, .. } => Some((*loaded, *id)),
                    Slot::Loading { .. } => None,
                })
                .min();
            match oldest {
                Some((_, id)) => {
                    state.slots.remove(&id);
                }
                None => break,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for IntermediateCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntermediateCache")
            .field("cached", &self.len())
            .field("bounds", &self.bounds)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn key() -> Arc<IntermediateKey> {
        Arc::new(IntermediateKey::generate().expect("random").0)
    }

    fn cache(max_keys: usize, lifetime: Duration) -> Arc<IntermediateCache> {
        Arc::new(IntermediateCache::new(CacheBounds { max_keys, lifetime }))
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_failures_are_not_kept() {
        let cache = cache(10, Duration::from_secs(60));
        let loads = Arc::new(AtomicUsize::new(0));

        let waiters = (0..50).map(|_| {
            let cache = Arc::clone(&cache);
            let loads = Arc::clone(&loads);
            tokio::spawn(async move {
                cache
                    .get_or_load([1; 32], "v1", async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(key())
                    })
                    .await
            })
        });
        for waiter in futures::future::join_all(waiters).await {
            assert!(waiter.expect("joined").is_ok());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 1);

        let failed = cache
            .get_or_load([2; 32], "v1", async {
                Err(VaultError::Unavailable("down".into()))
            })
            .await;
        assert!(failed.is_err());
        let retried = cache.get_or_load([2; 32], "v1", async { Ok(key()) }).await;
        assert!(retried.is_ok(), "a failure is not remembered");
    }

    #[tokio::test]
    async fn count_lifetime_and_version_bounds_hold() {
        let cache = cache(2, Duration::from_millis(100));
        cache.insert([1; 32], "v1", key());
        tokio::time::sleep(Duration::from_millis(5)).await;
        cache.insert([2; 32], "v1", key());
        cache.insert([3; 32], "v2", key());

        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[1; 32]).is_none(), "the oldest went first");
        assert_eq!(cache.key_versions(), ["v1", "v2"].map(str::to_owned).into());
        assert_eq!(cache.evict_version("v1"), 1);
        assert!(cache.get(&[3; 32]).is_some());

        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.get(&[3; 32]).is_none(), "expired");
        assert_eq!(cache.len(), 0);
    }
}
