//! Fair shares of the cores between plugin owners.
//!
//! Guest code runs only while its invocation holds a turn, and there are as many turns as
//! cores. A guest that runs on past an epoch tick (1 ms) while another invocation waits for a
//! turn gives its turn back and queues again; freed turns go to the waiting owners one after
//! the other, whatever the number of invocations each has waiting. So an owner whose plugins
//! spin until their deadline gets at most its share of the cores while others want them, and
//! a quick rule of another owner waits about one tick for a turn, not for the spinners'
//! deadlines. An invocation waiting on a host read gives its turn back meanwhile.
//!
//! Without contention a turn costs one uncontended lock to take and one to give back.

use crate::capabilities::CapabilityData;
use pchost_domain::entities as d;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// The turns, and who waits for one.
#[derive(Debug)]
pub(crate) struct CpuShares {
    state: Mutex<Turns>,
}

#[derive(Debug)]
struct Turns {
    free: usize,
    /// Owners with invocations waiting, in the order they are served.
    queue: VecDeque<d::PartnerId>,
    waiting: HashMap<d::PartnerId, VecDeque<oneshot::Sender<Turn>>>,
}

/// The right to run guest code; given back (to the next owner in line) when dropped.
#[derive(Debug)]
pub(crate) struct Turn {
    shares: Arc<CpuShares>,
    /// False once handed on: a turn that could not be delivered is not given back twice.
    live: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.live {
            self.shares.give_back();
        }
    }
}

impl CpuShares {
    /// `turns` invocations running guest code at once (one per core).
    pub(crate) fn new(turns: usize) -> Arc<Self> {
        Arc::new(CpuShares {
            state: Mutex::new(Turns {
                free: turns.max(1),
                queue: VecDeque::new(),
                waiting: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Turns> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a turn for one of `owner`'s invocations.
    pub(crate) async fn take(self: &Arc<Self>, owner: d::PartnerId) -> Turn {
        let waiting = {
            let mut guard = self.lock();
            let turns = &mut *guard;
            if turns.free > 0 && turns.queue.is_empty() {
                turns.free -= 1;
                return Turn {
                    shares: self.clone(),
                    live: true,
                };
            }
            let (tx, rx) = oneshot::channel();
            let mine = turns.waiting.entry(owner).or_default();
            if mine.is_empty() {
                turns.queue.push_back(owner);
            }
            mine.push_back(tx);
            rx
        };
        match waiting.await {
            Ok(turn) => turn,
            // A sender is only ever dropped after it handed a turn over, so this cannot
            // happen; were it to, queueing again is the safe answer.
            Err(_) => Box::pin(self.take(owner)).await,
        }
    }

    /// Whether any invocation waits for a turn.
    pub(crate) fn contended(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Hands a freed turn to the next owner in line, or keeps it free.
    fn give_back(self: &Arc<Self>) {
        loop {
            let next = {
                let mut guard = self.lock();
                let turns = &mut *guard;
                let Some(owner) = turns.queue.pop_front() else {
                    turns.free += 1;
                    return;
                };
                let queue = turns.waiting.entry(owner).or_default();
                let next = queue.pop_front();
                if queue.is_empty() {
                    turns.waiting.remove(&owner);
                } else {
                    turns.queue.push_back(owner);
                }
                next
            };
            let Some(next) = next else { continue };
            let turn = Turn {
                shares: self.clone(),
                live: true,
            };
            match next.send(turn) {
                Ok(()) => return,
                // The waiter gave up (its invocation was dropped): the next one gets it.
                Err(mut undelivered) => undelivered.live = false,
            }
        }
    }
}

/// The turn of one invocation, shared by its epoch callback (which gives it up to let
/// another owner run) and its host reads (which give it up while they wait).
#[derive(Clone, Debug)]
pub(crate) struct InvocationTurn {
    shares: Arc<CpuShares>,
    owner: d::PartnerId,
    held: Arc<Mutex<Option<Turn>>>,
}

impl InvocationTurn {
    /// The turns of an invocation of `owner`'s, holding none yet.
    pub(crate) fn new(shares: &Arc<CpuShares>, owner: d::PartnerId) -> Self {
        InvocationTurn {
            shares: shares.clone(),
            owner,
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// Waits for a turn.
    pub(crate) async fn wait(&self) {
        let turn = self.shares.take(self.owner).await;
        *self.lock() = Some(turn);
    }

    /// Gives the turn back for good: the invocation runs no more guest code.
    pub(crate) fn end(&self) {
        drop(self.lock().take());
    }

    /// Whether another invocation waits for a turn.
    pub(crate) fn others_waiting(&self) -> bool {
        self.shares.contended()
    }

    /// Gives the turn back, waits for `work`, then queues for a turn again.
    pub(crate) async fn without_turn<T>(&self, work: impl Future<Output = T>) -> T {
        drop(self.lock().take());
        let out = work.await;
        self.wait().await;
        out
    }

    fn lock(&self) -> MutexGuard<'_, Option<Turn>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Host data read without holding a turn: a plugin waiting on the store lets others run.
pub(crate) struct OffTurnData {
    pub(crate) data: Arc<dyn CapabilityData>,
    pub(crate) turn: InvocationTurn,
}

#[async_trait::async_trait]
impl CapabilityData for OffTurnData {
    async fn partner(&self, id: d::PartnerId) -> Result<Option<d::Partner>, String> {
        self.turn.without_turn(self.data.partner(id)).await
    }
    async fn customer(&self, id: d::CustomerId) -> Result<Option<d::Customer>, String> {
        self.turn.without_turn(self.data.customer(id)).await
    }
    async fn customers_of(
        &self,
        partners: &[d::PartnerId],
        after: d::CustomerId,
        limit: u32,
    ) -> Result<Vec<d::Customer>, String> {
        self.turn
            .without_turn(self.data.customers_of(partners, after, limit))
            .await
    }
    async fn resellers_of(&self, distributor: d::PartnerId) -> Result<Vec<d::PartnerId>, String> {
        self.turn.without_turn(self.data.resellers_of(distributor)).await
    }
    async fn order(&self, id: d::OrderId) -> Result<Option<d::Order>, String> {
        self.turn.without_turn(self.data.order(id)).await
    }
    async fn recent_orders(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::Order>, String> {
        self.turn.without_turn(self.data.recent_orders(customer, limit)).await
    }
    async fn product(&self, id: d::ProductId) -> Result<Option<d::Product>, String> {
        self.turn.without_turn(self.data.product(id)).await
    }
    async fn list_price(&self, product: d::ProductId, period: d::PeriodType) -> Result<Option<d::ListPrice>, String> {
        self.turn.without_turn(self.data.list_price(product, period)).await
    }
    async fn invoice_info(&self, customer: d::CustomerId) -> Result<Option<d::InvoiceInfo>, String> {
        self.turn.without_turn(self.data.invoice_info(customer)).await
    }
    async fn invoice_requests(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::InvoiceRequest>, String> {
        self.turn
            .without_turn(self.data.invoice_requests(customer, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn freed_turns_go_to_waiting_owners_in_turn_not_to_the_one_with_most_waiters() {
        let shares = CpuShares::new(1);
        let running = shares.take(10).await;
        // Owner 10 queues three more invocations, then owner 2 one.
        let (tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for owner in [10, 10, 10, 2] {
            let (shares, tx) = (shares.clone(), tx.clone());
            waiters.push(tokio::spawn(async move {
                let turn = shares.take(owner).await;
                tx.send(owner).expect("receiver");
                tokio::time::sleep(Duration::from_millis(1)).await;
                drop(turn);
            }));
            tokio::task::yield_now().await;
        }
        assert!(shares.contended());
        drop(running);
        for waiter in waiters {
            waiter.await.expect("joined");
        }
        let mut served = Vec::new();
        while let Ok(owner) = order.try_recv() {
            served.push(owner);
        }
        // Owner 2 is served second, not after all of owner 10's.
        assert_eq!(served, vec![10, 2, 10, 10]);
        assert!(!shares.contended());
    }

    #[tokio::test]
    async fn a_turn_whose_waiter_gave_up_goes_to_the_next_one() {
        let shares = CpuShares::new(1);
        let running = shares.take(1).await;
        let abandoned = tokio::spawn({
            let shares = shares.clone();
            async move { shares.take(2).await }
        });
        tokio::task::yield_now().await;
        abandoned.abort();
        let _ = abandoned.await;
        let next = tokio::spawn({
            let shares = shares.clone();
            async move { drop(shares.take(3).await) }
        });
        tokio::task::yield_now().await;
        drop(running);
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("owner 3 gets the turn owner 2 gave up")
            .expect("joined");
        // And the turn is free again.
        drop(shares.take(4).await);
    }
}
