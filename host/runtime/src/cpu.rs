//! Fair shares of the cores between plugin owners.
//!
//! Guest code runs only while its invocation holds a turn, and there are as many turns as
//! cores. A guest that has held its turn for a [`YIELD_SLICE`] while another invocation waits
//! for one gives it back at its next epoch callback and queues again. Callbacks come at every
//! epoch tick (1 ms), and at once when an invocation starts to wait: it nudges the running
//! guests (the runtime advances the engine's epoch), and again every slice while it waits (a
//! guest whose turn is younger than a slice keeps it at a nudge), at most one nudge a slice
//! whoever waits, so a quick rule waits about a slice for a turn, not a tick. A freed turn goes to the waiting owner served least recently, whatever
//! the number of invocations each has waiting: an owner whose plugins spin until their
//! deadline is served again and again, so it always comes last, and another owner's rule
//! waits for the spinners' slices, not for their deadlines. An invocation waiting on a host
//! read gives its turn back meanwhile. Guest code also runs on threads of lower OS priority
//! than the host's own (see [`lower_this_thread`]).
//!
//! Without contention a turn costs one uncontended lock to take and one to give back.

use crate::capabilities::CapabilityData;
use pchost_domain::entities as d;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// The nice value of threads that run guest code: below the host's own threads (HTTP,
/// database, timers), so a guest burning its turn never delays the host's work for other
/// tenants. Raising a thread's nice value needs no privilege; it is never lowered again.
const GUEST_NICE: i32 = 10;

/// How long a guest keeps its turn before a waiting invocation may take it: short against the
/// tick, so that a quick rule of another owner waits for a turn about this long, not a tick;
/// long against a change of turns (a few microseconds), so that spinners waiting on one
/// another do not spend their time changing turns (they change at ticks anyway).
pub(crate) const YIELD_SLICE: Duration = Duration::from_micros(200);

/// Lowers the calling thread's priority to [`GUEST_NICE`], once per thread: it is about to
/// run guest code (and on Linux the nice value is per thread).
pub(crate) fn lower_this_thread() {
    thread_local! {
        static LOWERED: Cell<bool> = const { Cell::new(false) };
    }
    if !LOWERED.get() {
        if let Err(e) = rustix::process::setpriority_process(None, GUEST_NICE) {
            tracing::debug!(error = %e, "could not lower the priority of a plugin thread");
        }
        LOWERED.set(true);
    }
}

/// The turns, and who waits for one.
pub(crate) struct CpuShares {
    state: Mutex<Turns>,
    /// Sends the guests that hold turns to their epoch callbacks now (see the module).
    nudge: Box<dyn Fn() + Send + Sync>,
    /// When the guests were last nudged, in microseconds since `started`: at most one nudge a
    /// slice, however many invocations wait (every nudge sends every running guest, the good
    /// tenants' too, through its epoch callback).
    last_nudge: AtomicU64,
    started: Instant,
    /// Whether a waiter is the nudger (see [`CpuShares::take`]), and its leaving, for another
    /// waiter to take over.
    nudger: AtomicBool,
    nudger_left: Notify,
}

impl std::fmt::Debug for CpuShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuShares")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Turns {
    free: usize,
    /// Turns handed out so far: the clock of [`Turns::last_served`].
    handed: u64,
    /// Owners that began to wait so far: the clock of [`Waiting::since`].
    arrivals: u64,
    /// The owners with invocations waiting.
    waiting: HashMap<d::PartnerId, Waiting>,
    /// When each owner was last handed a turn ([`Turns::handed`] then): of the owners waiting,
    /// the one served least recently (never: 0) goes first. Kept after an owner's queue
    /// empties: an owner whose invocations queue one at a time (a spinner per core, each
    /// queueing alone again after its slice) is not taken for one never served. One entry
    /// per owner that ever ran guest code.
    last_served: HashMap<d::PartnerId, u64>,
}

/// One owner's invocations waiting for a turn.
#[derive(Debug)]
struct Waiting {
    /// When it began to wait: first come, first served among owners not served yet.
    since: u64,
    queue: VecDeque<oneshot::Sender<Turn>>,
}

/// The nudger's role while it waits: handed on to another waiter when it ends.
struct Nudging<'a>(&'a CpuShares);

impl Drop for Nudging<'_> {
    fn drop(&mut self) {
        self.0.nudger.store(false, Ordering::Release);
        self.0.nudger_left.notify_one();
    }
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
    /// `turns` invocations running guest code at once (one per core); `nudge` sends the
    /// running guests to their epoch callbacks.
    pub(crate) fn new(turns: usize, nudge: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(CpuShares {
            state: Mutex::new(Turns {
                free: turns.max(1),
                handed: 0,
                arrivals: 0,
                waiting: HashMap::new(),
                last_served: HashMap::new(),
            }),
            nudge: Box::new(nudge),
            last_nudge: AtomicU64::new(0),
            started: Instant::now(),
            nudger: AtomicBool::new(false),
            nudger_left: Notify::new(),
        })
    }

    /// Nudges the running guests, unless another waiter did less than a slice ago.
    fn nudge_at_most_every_slice(&self) {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let last = self.last_nudge.load(Ordering::Relaxed);
        let slice = u64::try_from(YIELD_SLICE.as_micros()).unwrap_or(u64::MAX);
        // The first nudge (at 0) always goes; of waiters racing for one, one wins.
        if (last == 0 || now.saturating_sub(last) >= slice)
            && self
                .last_nudge
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            (self.nudge)();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Turns> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a turn for one of `owner`'s invocations.
    pub(crate) async fn take(self: &Arc<Self>, owner: d::PartnerId) -> Turn {
        let waiting = {
            let mut guard = self.lock();
            let turns = &mut *guard;
            if turns.free > 0 && turns.waiting.is_empty() {
                turns.free -= 1;
                turns.handed += 1;
                turns.last_served.insert(owner, turns.handed);
                return Turn {
                    shares: self.clone(),
                    live: true,
                };
            }
            let (tx, rx) = oneshot::channel();
            let arrivals = &mut turns.arrivals;
            turns
                .waiting
                .entry(owner)
                .or_insert_with(|| {
                    *arrivals += 1;
                    Waiting {
                        since: *arrivals,
                        queue: VecDeque::new(),
                    }
                })
                .queue
                .push_back(tx);
            rx
        };
        let mut waiting = waiting;
        self.nudge_at_most_every_slice();
        loop {
            // One waiter at a time, the nudger, nudges the running guests again every slice
            // while it waits: a guest whose turn came less than a slice before a nudge rightly
            // keeps it at that callback, and would otherwise keep it until the next tick. The
            // others only wait, for their turn or for the nudger to leave: a timer per waiter
            // waking every slice cost the running guests more than the nudges.
            let answer = if self.nudger.swap(true, Ordering::AcqRel) {
                tokio::select! {
                    answer = &mut waiting => answer,
                    () = self.nudger_left.notified() => continue,
                }
            } else {
                // Hands the nudging on when this waiter leaves, served or given up.
                let _nudging = Nudging(self);
                loop {
                    match tokio::time::timeout(YIELD_SLICE, &mut waiting).await {
                        Ok(answer) => break answer,
                        Err(_still_waiting) => self.nudge_at_most_every_slice(),
                    }
                }
            };
            return match answer {
                Ok(turn) => turn,
                // A sender is only ever dropped after it handed a turn over, so this cannot
                // happen; were it to, queueing again is the safe answer.
                Err(_) => Box::pin(self.take(owner)).await,
            };
        }
    }

    /// Whether any invocation waits for a turn.
    pub(crate) fn contended(&self) -> bool {
        !self.lock().waiting.is_empty()
    }

    /// Hands a freed turn to the next owner in line, or keeps it free.
    fn give_back(self: &Arc<Self>) {
        loop {
            let next = {
                let mut guard = self.lock();
                let turns = &mut *guard;
                let last_served = &turns.last_served;
                let next_owner = turns
                    .waiting
                    .iter()
                    .min_by_key(|(owner, w)| (last_served.get(*owner).copied().unwrap_or(0), w.since))
                    .map(|(owner, _)| *owner);
                let Some(owner) = next_owner else {
                    turns.free += 1;
                    return;
                };
                turns.handed += 1;
                let handed = turns.handed;
                let Some(waiting) = turns.waiting.get_mut(&owner) else {
                    continue;
                };
                let next = waiting.queue.pop_front();
                turns.last_served.insert(owner, handed);
                if waiting.queue.is_empty() {
                    turns.waiting.remove(&owner);
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
    /// The turn held, and since when.
    held: Arc<Mutex<Option<(Turn, Instant)>>>,
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
        *self.lock() = Some((turn, Instant::now()));
    }

    /// Gives the turn back for good: the invocation runs no more guest code.
    pub(crate) fn end(&self) {
        drop(self.lock().take());
    }

    /// Whether to give the turn to another invocation: one waits, and this one has had its
    /// turn for at least `slice` (a quick rule is not sent back to the queue by a tick that
    /// happens to fall just after its turn came).
    pub(crate) fn should_yield(&self, slice: Duration) -> bool {
        let held_long = self.lock().as_ref().is_none_or(|(_, since)| since.elapsed() >= slice);
        held_long && self.shares.contended()
    }

    /// Gives the turn back, waits for `work`, then queues for a turn again.
    pub(crate) async fn without_turn<T>(&self, work: impl Future<Output = T>) -> T {
        drop(self.lock().take());
        let out = work.await;
        self.wait().await;
        out
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Turn, Instant)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Host data read without holding a turn: a plugin waiting on the store lets others run.
/// Each read runs as a task of the host's executor, not on the guest's thread: that thread
/// runs at the guests' lower priority, and a thread it starts (a database connection's
/// worker, opened by a read) would inherit it.
pub(crate) struct OffTurnData {
    pub(crate) data: Arc<dyn CapabilityData>,
    pub(crate) turn: InvocationTurn,
}

impl OffTurnData {
    async fn read<T: Send + 'static>(
        &self,
        read: impl Future<Output = Result<T, String>> + Send + 'static,
    ) -> Result<T, String> {
        let task = AbortOnDrop(tokio::spawn(read));
        self.turn
            .without_turn(task)
            .await
            .unwrap_or_else(|e| Err(format!("host read failed: {e}")))
    }
}

/// A host read's task, cancelled with the invocation that waits for it (the watchdog drops
/// a stalled invocation; its read must not live on).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

#[async_trait::async_trait]
impl CapabilityData for OffTurnData {
    async fn partner(&self, id: d::PartnerId) -> Result<Option<d::Partner>, String> {
        let data = self.data.clone();
        self.read(async move { data.partner(id).await }).await
    }
    async fn customer(&self, id: d::CustomerId) -> Result<Option<d::Customer>, String> {
        let data = self.data.clone();
        self.read(async move { data.customer(id).await }).await
    }
    async fn customers_of(
        &self,
        partners: &[d::PartnerId],
        after: d::CustomerId,
        limit: u32,
    ) -> Result<Vec<d::Customer>, String> {
        let (data, partners) = (self.data.clone(), partners.to_vec());
        self.read(async move { data.customers_of(&partners, after, limit).await })
            .await
    }
    async fn resellers_of(&self, distributor: d::PartnerId) -> Result<Vec<d::PartnerId>, String> {
        let data = self.data.clone();
        self.read(async move { data.resellers_of(distributor).await }).await
    }
    async fn order(&self, id: d::OrderId) -> Result<Option<d::Order>, String> {
        let data = self.data.clone();
        self.read(async move { data.order(id).await }).await
    }
    async fn recent_orders(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::Order>, String> {
        let data = self.data.clone();
        self.read(async move { data.recent_orders(customer, limit).await })
            .await
    }
    async fn product(&self, id: d::ProductId) -> Result<Option<d::Product>, String> {
        let data = self.data.clone();
        self.read(async move { data.product(id).await }).await
    }
    async fn list_price(&self, product: d::ProductId, period: d::PeriodType) -> Result<Option<d::ListPrice>, String> {
        let data = self.data.clone();
        self.read(async move { data.list_price(product, period).await }).await
    }
    async fn invoice_info(&self, customer: d::CustomerId) -> Result<Option<d::InvoiceInfo>, String> {
        let data = self.data.clone();
        self.read(async move { data.invoice_info(customer).await }).await
    }
    async fn invoice_requests(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::InvoiceRequest>, String> {
        let data = self.data.clone();
        self.read(async move { data.invoice_requests(customer, limit).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_freed_turn_goes_to_the_owner_served_least_recently_not_the_one_with_most_waiters() {
        let shares = CpuShares::new(1, || {});
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
        // Owner 2 is served as soon as a turn is free (owner 10 had the one running), before
        // the rest of owner 10's.
        assert_eq!(served, vec![2, 10, 10, 10]);
        assert!(!shares.contended());
    }

    #[tokio::test]
    async fn an_owner_queueing_again_alone_keeps_its_place_behind_an_owner_never_served() {
        let shares = CpuShares::new(1, || {});
        let (tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let queue = |owner| {
            let (shares, tx) = (shares.clone(), tx.clone());
            tokio::spawn(async move {
                let turn = shares.take(owner).await;
                tx.send(owner).expect("receiver");
                turn
            })
        };
        // Owner 10 runs; owner 2 queues; owner 10 gives its turn to owner 2 and queues again,
        // alone (as a spinner does after its slice); then owner 3 queues, never served.
        let owner_10 = shares.take(10).await;
        let owner_2 = queue(2);
        tokio::task::yield_now().await;
        drop(owner_10);
        let owner_2 = owner_2.await.expect("joined");
        let owner_10_again = queue(10);
        tokio::task::yield_now().await;
        let owner_3 = queue(3);
        tokio::task::yield_now().await;
        drop(owner_2);
        drop(owner_3.await.expect("joined"));
        drop(owner_10_again.await.expect("joined"));
        let mut served = Vec::new();
        while let Ok(owner) = order.try_recv() {
            served.push(owner);
        }
        // Owner 3 comes before owner 10, which was served before owner 2 was.
        assert_eq!(served, vec![2, 3, 10]);
    }

    /// One turn, and a count of the nudges it sends.
    fn counting_nudges() -> (Arc<CpuShares>, Arc<std::sync::atomic::AtomicUsize>) {
        let nudges = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let shares = CpuShares::new(1, {
            let nudges = nudges.clone();
            move || {
                nudges.fetch_add(1, Ordering::SeqCst);
            }
        });
        (shares, nudges)
    }

    #[tokio::test]
    async fn a_waiter_nudges_the_running_guests_again_every_slice_until_its_turn_comes() {
        let (shares, nudges) = counting_nudges();
        let running = shares.take(1).await;
        assert_eq!(nudges.load(Ordering::SeqCst), 0, "a free turn needs no nudge");
        let waiter = tokio::spawn({
            let shares = shares.clone();
            async move { shares.take(2).await }
        });
        // The running guest kept its turn at the first nudge (its turn was younger than a
        // slice): the waiter nudges again rather than waiting for the next tick.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let while_waiting = nudges.load(Ordering::SeqCst);
        assert!(while_waiting >= 3, "nudged {while_waiting} times in 100 ms of waiting");
        drop(running);
        let turn = waiter.await.expect("joined");
        let served = nudges.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(nudges.load(Ordering::SeqCst), served, "no nudges once served");
        drop(turn);
    }

    #[tokio::test]
    async fn many_waiters_nudge_the_running_guests_about_once_a_slice_not_once_each() {
        let (shares, nudges) = counting_nudges();
        let running = shares.take(1).await;
        let waiters: Vec<_> = (0..20)
            .map(|i| {
                let shares = shares.clone();
                // Each gives its turn back as soon as it gets it.
                tokio::spawn(async move { drop(shares.take(100 + i).await) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let nudged = nudges.load(Ordering::SeqCst);
        // 50 ms is 250 slices: one nudge a slice at most, where a nudge per waiter per slice
        // would be some 5,000. (A busy machine only makes fewer.)
        assert!(
            (1..=260).contains(&nudged),
            "nudged {nudged} times by 20 waiters in 50 ms"
        );
        drop(running);
        for waiter in waiters {
            waiter.await.expect("joined");
        }
    }

    #[tokio::test]
    async fn a_nudger_that_gives_up_hands_the_nudging_to_another_waiter() {
        let (shares, nudges) = counting_nudges();
        let running = shares.take(1).await;
        let first = tokio::spawn({
            let shares = shares.clone();
            async move { drop(shares.take(2).await) }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = tokio::spawn({
            let shares = shares.clone();
            async move { drop(shares.take(3).await) }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        // The first waiter, the nudger, gives up (its deadline passed): the second nudges on.
        first.abort();
        let _ = first.await;
        let before = nudges.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = nudges.load(Ordering::SeqCst);
        assert!(
            after >= before + 3,
            "nudged {} times in 100 ms after the nudger left",
            after - before
        );
        drop(running);
        second.await.expect("joined");
    }

    #[tokio::test]
    async fn a_turn_whose_waiter_gave_up_goes_to_the_next_one() {
        let shares = CpuShares::new(1, || {});
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
