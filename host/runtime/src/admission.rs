//! Fair shares of the instance pool: how many invocations may run at once, in all and per
//! plugin owner.
//!
//! Every invocation holds one permit of its owner's and one of the pool's while it runs. An
//! owner whose permits are all taken waits a short, bounded time for one, then that owner's
//! invocation is refused (`concurrency-limit`): one tenant's flood of slow plugins fills its
//! own share, never the pool, so every other tenant's plugins keep running. The pool's own
//! permits match the pooling allocator's instance slots, so a full pool is a short wait too,
//! never an instantiation error.

use crate::failure::FailureKind;
use pchost_domain::PartnerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits of one running invocation; dropping them lets the next one in.
#[derive(Debug)]
pub(crate) struct Admitted {
    _owner: OwnedSemaphorePermit,
    _pool: OwnedSemaphorePermit,
}

/// The pool's permits and each owner's.
#[derive(Debug)]
pub(crate) struct Admission {
    pool: Arc<Semaphore>,
    pool_size: u32,
    owners: Mutex<HashMap<PartnerId, Arc<Semaphore>>>,
    per_owner: u32,
    wait: Duration,
}

impl Admission {
    /// `pool_size` invocations at once in all, `per_owner` of one owner's plugins, each
    /// waiting at most `wait` for its turn.
    pub(crate) fn new(pool_size: u32, per_owner: u32, wait: Duration) -> Self {
        Admission {
            pool: Arc::new(Semaphore::new(pool_size as usize)),
            pool_size,
            owners: Mutex::new(HashMap::new()),
            per_owner: per_owner.clamp(1, pool_size.max(1)),
            wait,
        }
    }

    /// Waits (bounded) for a permit of `owner`'s share, then for one of the pool's.
    pub(crate) async fn admit(&self, owner: PartnerId) -> Result<Admitted, FailureKind> {
        let share = self.share(owner);
        let owner_permit = match tokio::time::timeout(self.wait, share.acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(FailureKind::ConcurrencyLimit {
                    owner,
                    limit: self.per_owner,
                });
            }
        };
        let pool_permit = match tokio::time::timeout(self.wait, self.pool.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(FailureKind::Capacity(format!(
                    "all {} plugin instance slots are in use",
                    self.pool_size
                )));
            }
        };
        Ok(Admitted {
            _owner: owner_permit,
            _pool: pool_permit,
        })
    }

    /// How many of `owner`'s invocations are running now.
    pub(crate) fn running(&self, owner: PartnerId) -> u32 {
        let share = self.share(owner);
        self.per_owner.saturating_sub(share.available_permits() as u32)
    }

    /// The pool's slots in use and in all, the share of each owner, and the invocations of
    /// each owner seen so far running now.
    pub(crate) fn occupancy(&self) -> crate::runtime::Occupancy {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let mut running: Vec<(PartnerId, u32)> = owners
            .iter()
            .map(|(owner, share)| (*owner, self.per_owner.saturating_sub(share.available_permits() as u32)))
            .collect();
        running.sort_unstable();
        crate::runtime::Occupancy {
            slots_in_use: self.pool_size.saturating_sub(self.pool.available_permits() as u32),
            slots: self.pool_size,
            owner_share: self.per_owner,
            running,
        }
    }

    fn share(&self, owner: PartnerId) -> Arc<Semaphore> {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners
            .entry(owner)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_owner as usize)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_owner_past_its_share_is_refused_while_others_are_admitted() {
        let admission = Admission::new(8, 2, Duration::from_millis(5));
        let first = admission.admit(10).await.expect("within the share");
        let second = admission.admit(10).await.expect("within the share");
        assert_eq!(admission.running(10), 2);
        assert_eq!(
            admission.admit(10).await.map(drop),
            Err(FailureKind::ConcurrencyLimit { owner: 10, limit: 2 })
        );
        // Another owner is not held back by owner 10's share.
        let other = admission.admit(2).await.expect("another owner's share is free");
        drop(first);
        let third = admission.admit(10).await.expect("a permit came back");
        drop((second, other, third));
        assert_eq!(admission.running(10), 0);
    }

    #[tokio::test]
    async fn a_full_pool_is_refused_as_capacity_after_the_wait() {
        let admission = Admission::new(2, 2, Duration::from_millis(5));
        let _a = admission.admit(1).await.expect("slot");
        let _b = admission.admit(2).await.expect("slot");
        assert!(matches!(admission.admit(3).await, Err(FailureKind::Capacity(_))));
    }

    #[tokio::test]
    async fn a_waiting_invocation_gets_a_permit_released_within_the_wait() {
        let admission = Arc::new(Admission::new(4, 1, Duration::from_secs(5)));
        let held = admission.admit(7).await.expect("slot");
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit(7).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert_eq!(waiter.await.expect("joined"), Ok(()));
    }
}
