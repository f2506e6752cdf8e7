//! A read-through cache of product queries in front of any store.
//!
//! What a write invalidates is as narrow as what it changed:
//!
//! - an order placed through this process updates the cached products it took stock from in
//!   place (their stock less the units taken) when those answers were read before the order
//!   started, and drops them otherwise; a status change drops the order's products;
//! - any other product write through this process drops that product's answer and every listing;
//! - a change announced by another process drops the products it names (the stock an order took
//!   there) or, with no names (a manager's write, announced by the `products` trigger), every
//!   answer. Listings go with any product they show, and, when their filter looks at stock
//!   (`in_stock`, the inventory status), with any stock change. The products it names that were
//!   cached are read again at once, all in one query, so that their readers keep hitting.
//!
//! A read that overlapped a change of its product never serves its answer: every change takes a
//! tick of one clock and stamps its product's stripe with it, an answer remembers the tick its
//! read started at, and an answer read before a stamp is never stored (products) or never served
//! (listings). Whether an answer was read before an order started, and may so take that order's
//! units off, is known the same way.
//!
//! While the change feed is down the cache is bypassed, so a reader is never served a product
//! older than the feed's delivery delay. Orders are never read from the cache: placing one reads
//! stock under lock in the store itself. When other processes write the store, an answer is
//! served at most [`CachedStore::SHARED_TTL`] after its read, whatever was applied to it since:
//! the backstop for a change whose announcement was lost (a process that died between an order's
//! commit and its announcement).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::ids::{OrderId, ProductId};
use domain::inventory::InventoryBatch;
use domain::order::{Idempotency, Order, OrderLine, OrderRequest, Placement};
use domain::ports::{OrderRepository, ProductRepository};
use domain::product::{InventoryStatus, ManagerId, NewProduct, Product, ProductChanges, ProductFilter, Stock};
use domain::status::OrderStatus;
use domain::{Error, Page, PageRequest};
use metrics::Counter;
use moka::sync::Cache;

/// Most products read again after one announcement; past that they are only dropped.
const MAX_REFRESH: usize = 1000;

/// How the cache answered a product query.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    /// From the cache.
    Hit,
    /// Read from the store, and kept.
    Miss,
    /// Read from the store while the change feed is down.
    Bypass,
}

/// Counts one product query by how the cache answered it (`product_cache_lookups_total`): `hit`,
/// `miss` or `bypass`. The hit ratio is `hit / (hit + miss + bypass)`.
///
/// The handles are kept once registered: finding a series in the registry means building its
/// labels and hashing them, which cost more than the count. They are registered at the first
/// lookup, which a server makes while serving, after its recorder is installed.
fn lookup(result: Lookup) {
    static HIT: OnceLock<Counter> = OnceLock::new();
    static MISS: OnceLock<Counter> = OnceLock::new();
    static BYPASS: OnceLock<Counter> = OnceLock::new();
    let (cell, label) = match result {
        Lookup::Hit => (&HIT, "hit"),
        Lookup::Miss => (&MISS, "miss"),
        Lookup::Bypass => (&BYPASS, "bypass"),
    };
    cell.get_or_init(|| metrics::counter!("product_cache_lookups_total", "result" => label)).increment(1);
}

/// Products share change stamps by `id % STRIPES`: a change of one also stops a read of another
/// of its stripe from being stored, which costs a miss, never a stale answer.
const STRIPES: u64 = 1024;

/// The change stamp of the products of one stripe, and the lock under which their cached answers
/// are stored, updated or dropped.
#[derive(Debug, Default)]
struct Stripe {
    lock: Mutex<()>,
    /// The tick of the last change of one of its products.
    changed: AtomicU64,
}

/// A cached product (or its absence).
#[derive(Debug, Clone)]
struct Found {
    /// Shared with the readers it was served to.
    product: Option<Arc<Product>>,
    /// The tick the read of the store started at.
    read_from: u64,
    /// The tick at which the answer was stored: the read ended before any order that starts
    /// later, which may then take its units off.
    stored_at: u64,
    /// When the read of the store started.
    born: Instant,
}

/// A cached listing.
#[derive(Debug)]
struct Listed {
    /// Shared with the readers it was served to.
    page: Arc<Page<Product>>,
    read_from: u64,
    born: Instant,
    /// Whether stock decides which products the filter lets through.
    filters_on_stock: bool,
}

type ListingKey = (ProductFilter, PageRequest);

/// Whether `filter` lets products through by their stock: a stock change anywhere may then move
/// a product in or out of its pages.
fn filters_on_stock(filter: &ProductFilter) -> bool {
    filter.in_stock_only || matches!(filter.status, Some(InventoryStatus::InStock | InventoryStatus::OutOfStock))
}

struct Shared {
    /// Where products announced changed elsewhere are read again.
    products: Arc<dyn ProductRepository>,
    /// Products to read again, and whether a task is reading.
    to_refresh: Mutex<Vec<ProductId>>,
    refreshing: AtomicBool,
    finds: Cache<ProductId, Arc<Found>>,
    listings: Cache<ListingKey, Arc<Listed>>,
    /// Longest an answer is served after its read started.
    ttl: Duration,
    /// Ticks once per change; only ever grows.
    clock: AtomicU64,
    /// The tick of the last time every answer was dropped.
    everything_changed: AtomicU64,
    /// The tick of the last product write other than an order's stock: every listing goes.
    catalogue_changed: AtomicU64,
    /// The tick of the last stock change by an order: listings filtered on stock go.
    stock_changed: AtomicU64,
    stripes: Box<[Stripe]>,
    /// Whether every writer is heard; while false, reads bypass the cache.
    synced: AtomicBool,
}

impl Shared {
    fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn stripe(&self, id: ProductId) -> &Stripe {
        let index = usize::try_from(id.get().unsigned_abs() % STRIPES).unwrap_or_default();
        &self.stripes[index]
    }

    fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// Whether an answer read from `read_from` on, at `born`, may still be served as far as the
    /// changes that concern every answer go.
    fn current(&self, read_from: u64, born: Instant) -> bool {
        born.elapsed() < self.ttl && self.everything_changed.load(Ordering::SeqCst) <= read_from
    }

    fn found_is_current(&self, found: &Found) -> bool {
        self.current(found.read_from, found.born)
    }

    fn listed_is_current(&self, listed: &Listed) -> bool {
        let read_from = listed.read_from;
        // Every change stamps its stripe with a tick of the clock: when the clock has not moved
        // since the read, no stripe can be stamped later, and the listing's products need no
        // look.
        let unchanged = || self.now() <= read_from;
        self.current(read_from, listed.born)
            && self.catalogue_changed.load(Ordering::SeqCst) <= read_from
            && (!listed.filters_on_stock || self.stock_changed.load(Ordering::SeqCst) <= read_from)
            && (unchanged()
                || listed.page.items.iter().all(|p| self.stripe(p.id).changed.load(Ordering::SeqCst) <= read_from))
    }

    /// Stores what a read that started at `read_from` found, unless its product changed since.
    fn store_found(&self, id: ProductId, product: Option<Arc<Product>>, read_from: u64, born: Instant) {
        let stripe = self.stripe(id);
        let _stored = stripe.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.synced()
            || stripe.changed.load(Ordering::SeqCst) > read_from
            || self.everything_changed.load(Ordering::SeqCst) > read_from
        {
            return;
        }
        let found = Found { product, read_from, stored_at: self.now(), born };
        self.finds.insert(id, Arc::new(found));
    }

    /// Stamps a change of `id` and replaces its cached answer by what `update` makes of it, or
    /// drops it when `update` makes nothing. Returns the change's tick, and whether an answer was
    /// cached.
    fn change(&self, id: ProductId, update: impl FnOnce(&Found) -> Option<Found>) -> (u64, bool) {
        let stripe = self.stripe(id);
        let _changing = stripe.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let at = self.tick();
        stripe.changed.store(at, Ordering::SeqCst);
        let cached = self.finds.get(&id);
        match cached.as_deref().and_then(update) {
            Some(updated) => self.finds.insert(id, Arc::new(updated)),
            // Answers are stored under the stripe's lock, held here: none can have come since.
            None if cached.is_some() => self.finds.invalidate(&id),
            None => {}
        }
        (at, cached.is_some())
    }

    /// Drops the answers of `ids`, and the listings they may be in or, when `stock_only`, the
    /// listings showing them or filtered on stock. Returns the ids that had an answer cached.
    fn forget(&self, ids: impl IntoIterator<Item = ProductId>, stock_only: bool) -> Vec<ProductId> {
        let mut last = self.tick();
        let mut cached = Vec::new();
        for id in ids {
            let (at, was_cached) = self.change(id, |_| None);
            last = at;
            if was_cached {
                cached.push(id);
            }
        }
        let listings = if stock_only { &self.stock_changed } else { &self.catalogue_changed };
        listings.fetch_max(last, Ordering::SeqCst);
        cached
    }

    /// Reads `ids` again, in one query on a task of its own (one at a time: ids that come
    /// meanwhile wait for the next), and stores what is found unless it changed again since.
    fn refresh(self: &Arc<Self>, ids: Vec<ProductId>) {
        if ids.is_empty() {
            return;
        }
        self.to_refresh.lock().unwrap_or_else(PoisonError::into_inner).extend(ids);
        if self.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.to_refresh.lock().unwrap_or_else(PoisonError::into_inner).clear();
            self.refreshing.store(false, Ordering::SeqCst);
            return;
        };
        let shared = Arc::clone(self);
        runtime.spawn(async move {
            loop {
                let mut ids = std::mem::take(&mut *shared.to_refresh.lock().unwrap_or_else(PoisonError::into_inner));
                if ids.is_empty() {
                    shared.refreshing.store(false, Ordering::SeqCst);
                    // Ids added between the take and the store would wait for the next announcement.
                    let more = !shared.to_refresh.lock().unwrap_or_else(PoisonError::into_inner).is_empty();
                    if more && !shared.refreshing.swap(true, Ordering::SeqCst) {
                        continue;
                    }
                    return;
                }
                ids.sort_unstable();
                ids.dedup();
                ids.truncate(MAX_REFRESH);
                if !shared.synced() {
                    continue;
                }
                let (read_from, born) = (shared.now(), Instant::now());
                // A failed read leaves them dropped: their next reads miss.
                if let Ok(products) = shared.products.find_many(&ids).await {
                    metrics::counter!("product_cache_refreshed_total").increment(products.len() as u64);
                    for product in products {
                        shared.store_found(product.id, Some(Arc::new(product)), read_from, born);
                    }
                }
            }
        });
    }

    /// An order that started at tick `started` took the units of `lines`: an answer stored before
    /// it started loses them, any other is dropped.
    fn took_stock(&self, lines: &[OrderLine], started: u64) {
        let mut last = self.tick();
        for line in lines {
            (last, _) = self.change(line.product_id, |found| {
                if found.stored_at >= started || !self.found_is_current(found) {
                    return None;
                }
                // What the order saw must be what the answer holds: a price or availability that
                // differs means a change not heard of yet.
                let product = found.product.as_ref().filter(|p| p.price == line.unit_price && !p.discontinued)?;
                let left = product.stock.get().checked_sub(line.quantity.get())?;
                let mut product = Product::clone(product);
                product.stock = Stock::new(i64::from(left)).ok()?;
                Some(Found {
                    product: Some(Arc::new(product)),
                    read_from: found.read_from,
                    stored_at: found.stored_at,
                    born: found.born,
                })
            });
        }
        self.stock_changed.fetch_max(last, Ordering::SeqCst);
    }

    fn forget_everything(&self) {
        let at = self.tick();
        self.everything_changed.fetch_max(at, Ordering::SeqCst);
        self.finds.invalidate_all();
        self.listings.invalidate_all();
    }
}

/// The invalidation side of a [`CachedStore`], cheap to clone into a change feed's callback.
#[derive(Clone)]
pub struct CacheControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CacheControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheControl")
            .field("products", &self.shared.finds.entry_count())
            .field("listings", &self.shared.listings.entry_count())
            .field("synced", &self.shared.synced())
            .finish_non_exhaustive()
    }
}

impl CacheControl {
    /// Forgets every cached answer.
    pub fn invalidate(&self) {
        self.shared.forget_everything();
    }

    /// Forgets the cached answers of products whose stock another process changed, and the
    /// listings that show them or are filtered on stock; the products that were cached are read
    /// again, together, in the background (inside a Tokio runtime).
    pub fn invalidate_stock(&self, ids: &[ProductId]) {
        let cached = self.shared.forget(ids.iter().copied(), true);
        self.shared.refresh(cached);
    }

    /// Whether other processes' writes are being heard. While false, reads bypass the cache.
    pub fn set_synced(&self, synced: bool) {
        self.invalidate();
        self.shared.synced.store(synced, Ordering::SeqCst);
        self.invalidate();
    }
}

/// Product and order ports with product queries cached.
#[derive(Clone)]
pub struct CachedStore {
    products: Arc<dyn ProductRepository>,
    orders: Arc<dyn OrderRepository>,
    control: CacheControl,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore").field("control", &self.control).finish_non_exhaustive()
    }
}

impl CachedStore {
    /// Most products, and most listings, kept at once.
    pub const CAPACITY: u64 = 10_000;

    /// Longest an answer is served after its read when other processes write the store. Their
    /// changes arrive as announcements within milliseconds; this only bounds how long a change
    /// whose announcement was lost (its process died between the commit and the announcement)
    /// can go unseen.
    pub const SHARED_TTL: Duration = Duration::from_secs(5);

    /// Caches answers for at most `ttl`. `synced` says whether every writer is heard from the
    /// start: true for a store no other process can write; false for a shared one, whose answers
    /// live at most [`Self::SHARED_TTL`].
    pub fn new(
        products: Arc<dyn ProductRepository>,
        orders: Arc<dyn OrderRepository>,
        ttl: Duration,
        synced: bool,
    ) -> Self {
        let ttl = if synced { ttl } else { ttl.min(Self::SHARED_TTL) };
        let shared = Shared {
            products: products.clone(),
            to_refresh: Mutex::default(),
            refreshing: AtomicBool::new(false),
            finds: Cache::builder().max_capacity(Self::CAPACITY).time_to_live(ttl).build(),
            listings: Cache::builder().max_capacity(Self::CAPACITY).time_to_live(ttl).build(),
            ttl,
            clock: AtomicU64::new(0),
            everything_changed: AtomicU64::new(0),
            catalogue_changed: AtomicU64::new(0),
            stock_changed: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            synced: AtomicBool::new(synced),
        };
        Self { products, orders, control: CacheControl { shared: Arc::new(shared) } }
    }

    /// The invalidation handle.
    pub fn control(&self) -> CacheControl {
        self.control.clone()
    }

    fn shared(&self) -> &Shared {
        &self.control.shared
    }

    /// Passes on the outcome of a product write, having dropped what it changed: the products
    /// `changed` names and every listing, or everything when it failed (a failed write may have
    /// committed all the same: a connection lost after `COMMIT`).
    fn wrote<T>(&self, outcome: Result<T, Error>, changed: impl FnOnce(&T) -> Vec<ProductId>) -> Result<T, Error> {
        match &outcome {
            Ok(value) => {
                self.shared().forget(changed(value), false);
            }
            Err(_) => self.shared().forget_everything(),
        }
        outcome
    }
}

#[async_trait]
impl ProductRepository for CachedStore {
    async fn create(&self, product: NewProduct) -> Result<Product, Error> {
        let outcome = self.products.create(product).await;
        self.wrote(outcome, |product| vec![product.id])
    }

    async fn find(&self, id: ProductId) -> Result<Option<Product>, Error> {
        if !self.shared().synced() {
            lookup(Lookup::Bypass);
            return self.products.find(id).await;
        }
        Ok(self.find_shared(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn find_shared(&self, id: ProductId) -> Result<Option<Arc<Product>>, Error> {
        let shared = self.shared();
        if !shared.synced() {
            lookup(Lookup::Bypass);
            return self.products.find_shared(id).await;
        }
        if let Some(found) = shared.finds.get(&id)
            && shared.found_is_current(&found)
        {
            lookup(Lookup::Hit);
            return Ok(found.product.clone());
        }
        lookup(Lookup::Miss);
        let (read_from, born) = (shared.now(), Instant::now());
        let product = self.products.find_shared(id).await?;
        shared.store_found(id, product.clone(), read_from, born);
        Ok(product)
    }

    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
        self.products.find_many(ids).await
    }

    async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error> {
        if !self.shared().synced() {
            lookup(Lookup::Bypass);
            return self.products.list(filter, page).await;
        }
        Ok(Arc::unwrap_or_clone(self.list_shared(filter, page).await?))
    }

    async fn list_shared(&self, filter: ProductFilter, page: PageRequest) -> Result<Arc<Page<Product>>, Error> {
        let shared = self.shared();
        if !shared.synced() {
            lookup(Lookup::Bypass);
            return self.products.list_shared(filter, page).await;
        }
        let key = (filter, page);
        if let Some(listed) = shared.listings.get(&key)
            && shared.listed_is_current(&listed)
        {
            lookup(Lookup::Hit);
            return Ok(Arc::clone(&listed.page));
        }
        lookup(Lookup::Miss);
        let (read_from, born) = (shared.now(), Instant::now());
        let found = self.products.list_shared(key.0.clone(), page).await?;
        // A listing is checked against the changes of its products when served, not stored: one
        // stored after such a change is never served.
        let listed = Listed { page: Arc::clone(&found), read_from, born, filters_on_stock: filters_on_stock(&key.0) };
        if shared.synced() && shared.listed_is_current(&listed) {
            shared.listings.insert(key, Arc::new(listed));
        }
        Ok(found)
    }

    async fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error> {
        let outcome = self.products.update(id, changes).await;
        self.wrote(outcome, |_| vec![id])
    }

    async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error> {
        let outcome = self.products.discontinue(id, manager_id).await;
        self.wrote(outcome, |_| vec![id])
    }

    async fn apply_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error> {
        let outcome = self.products.apply_inventory(batch).await;
        self.wrote(outcome, |products| products.iter().map(|p| p.id).collect())
    }
}

#[async_trait]
impl OrderRepository for CachedStore {
    async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
        let ids = request.product_ids();
        let started = self.shared().tick();
        let outcome = self.orders.place(request, idempotency).await;
        match &outcome {
            Ok(placement) if !placement.replayed => self.shared().took_stock(&placement.order.lines, started),
            // A replay places nothing; a refusal changes nothing.
            Ok(_) => {}
            Err(err) if err.is_storage_failure() => {
                self.shared().forget(ids, true);
            }
            Err(_) => {}
        }
        outcome
    }

    async fn find(&self, id: OrderId) -> Result<Option<Order>, Error> {
        self.orders.find(id).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
        self.orders.list(page).await
    }

    async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
        let outcome = self.orders.change_status(id, status).await;
        match &outcome {
            Ok(order) => {
                self.shared().forget(order.lines.iter().map(|l| l.product_id), true);
            }
            Err(err) if err.is_storage_failure() => self.shared().forget_everything(),
            Err(_) => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::memory::MemoryStore;
    use domain::order::{Quantity, RequestedLine};
    use domain::product::{Description, ProductName};
    use tokio::sync::Semaphore;

    fn new_product(name: &str) -> NewProduct {
        NewProduct {
            id: None,
            manager_id: None,
            name: ProductName::parse(name).unwrap(),
            description: Description::default(),
            price: domain::Money::ZERO,
            stock: Stock::new(5).unwrap(),
        }
    }

    fn stock(units: i64) -> ProductChanges {
        ProductChanges { stock: Some(Stock::new(units).unwrap()), ..Default::default() }
    }

    fn order(lines: &[(ProductId, i64)]) -> OrderRequest {
        let lines = lines
            .iter()
            .map(|&(product_id, units)| RequestedLine { product_id, quantity: Quantity::new(units).unwrap() })
            .collect();
        OrderRequest::new(lines, None, None, OrderStatus::Pending).unwrap()
    }

    fn cached(store: &MemoryStore, synced: bool) -> CachedStore {
        let store = Arc::new(store.clone());
        CachedStore::new(store.clone(), store, Duration::from_secs(60), synced)
    }

    /// A memory store that counts the reads reaching it and, once `hold` is called, keeps the
    /// next read's answer (or the next order's outcome) until `release`: a read or an order
    /// overlapping whatever runs meanwhile.
    #[derive(Clone)]
    struct Slow {
        inner: MemoryStore,
        reads: Arc<AtomicUsize>,
        holding: Arc<AtomicBool>,
        gate: Arc<Semaphore>,
        held: Arc<Semaphore>,
    }

    impl Slow {
        fn new() -> Self {
            Slow {
                inner: MemoryStore::new(),
                reads: Arc::default(),
                holding: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
                held: Arc::new(Semaphore::new(0)),
            }
        }

        fn hold(&self) {
            self.holding.store(true, Ordering::SeqCst);
        }

        /// Waits until a held call has done its work and waits for `release`.
        async fn until_held(&self) {
            self.held.acquire().await.unwrap().forget();
        }

        fn release(&self) {
            self.gate.add_permits(1);
        }

        async fn pause_if_held(&self) {
            if self.holding.swap(false, Ordering::SeqCst) {
                self.held.add_permits(1);
                self.gate.acquire().await.unwrap().forget();
            }
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }

        fn cached(&self) -> CachedStore {
            let store = Arc::new(self.clone());
            CachedStore::new(store.clone(), store, Duration::from_secs(60), true)
        }
    }

    #[async_trait]
    impl ProductRepository for Slow {
        async fn create(&self, product: NewProduct) -> Result<Product, Error> {
            self.inner.create(product).await
        }

        async fn find(&self, id: ProductId) -> Result<Option<Product>, Error> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let found = ProductRepository::find(&self.inner, id).await;
            self.pause_if_held().await;
            found
        }

        async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.find_many(ids).await
        }

        async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let found = ProductRepository::list(&self.inner, filter, page).await;
            self.pause_if_held().await;
            found
        }

        async fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error> {
            self.inner.update(id, changes).await
        }

        async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error> {
            self.inner.discontinue(id, manager_id).await
        }

        async fn apply_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error> {
            self.inner.apply_inventory(batch).await
        }
    }

    #[async_trait]
    impl OrderRepository for Slow {
        async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
            let placed = self.inner.place(request, idempotency).await;
            self.pause_if_held().await;
            placed
        }

        async fn find(&self, id: OrderId) -> Result<Option<Order>, Error> {
            OrderRepository::find(&self.inner, id).await
        }

        async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
            OrderRepository::list(&self.inner, page).await
        }

        async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
            self.inner.change_status(id, status).await
        }
    }

    async fn stock_of(cache: &CachedStore, id: ProductId) -> u32 {
        ProductRepository::find(cache, id).await.unwrap().unwrap().stock.get()
    }

    #[tokio::test]
    async fn reads_are_served_from_the_cache_until_invalidated() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        assert_eq!(stock_of(&cache, id).await, 5);
        ProductRepository::update(&inner, id, stock(1)).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 5, "served from the cache");
        cache.control().invalidate();
        assert_eq!(stock_of(&cache, id).await, 1);
    }

    #[tokio::test]
    async fn a_hit_shares_the_cached_answer_until_a_write_replaces_it() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        let first = cache.find_shared(id).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &cache.find_shared(id).await.unwrap().unwrap()));
        let all = || cache.list_shared(ProductFilter::default(), PageRequest::ALL);
        let page = all().await.unwrap();
        assert!(Arc::ptr_eq(&page, &all().await.unwrap()));

        cache.update(id, stock(2)).await.unwrap();
        assert_eq!(cache.find_shared(id).await.unwrap().unwrap().stock.get(), 2);
        assert_eq!(all().await.unwrap().items[0].stock.get(), 2);
        assert_eq!((first.stock.get(), page.items[0].stock.get()), (5, 5), "what was handed out stays as it was");
    }

    #[tokio::test]
    async fn a_write_through_the_cache_is_visible_to_the_next_read() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        let all = || ProductRepository::list(&cache, ProductFilter::default(), PageRequest::ALL);
        assert_eq!(all().await.unwrap().total, 1);
        cache.create(new_product("Cup")).await.unwrap();
        assert_eq!(all().await.unwrap().total, 2);
        cache.update(id, stock(2)).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 2);
    }

    #[tokio::test]
    async fn placing_an_order_invalidates_cached_stock() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        assert_eq!(stock_of(&cache, id).await, 5);
        cache.place(order(&[(id, 2)]), None).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 3);
    }

    #[tokio::test]
    async fn an_order_takes_its_units_off_the_cached_products_and_leaves_the_others_cached() {
        let slow = Slow::new();
        let cache = slow.cached();
        let mug = cache.create(new_product("Mug")).await.unwrap().id;
        let cup = cache.create(new_product("Cup")).await.unwrap().id;
        assert_eq!(stock_of(&cache, mug).await, 5);
        assert_eq!(stock_of(&cache, cup).await, 5);
        let reads = slow.reads();

        cache.place(order(&[(mug, 2)]), None).await.unwrap();
        cache.place(order(&[(mug, 1)]), None).await.unwrap();

        assert_eq!(stock_of(&cache, mug).await, 2);
        assert_eq!(stock_of(&cache, cup).await, 5);
        assert_eq!(slow.reads(), reads, "both answered from the cache");
        assert_eq!(ProductRepository::find(&slow.inner, mug).await.unwrap().unwrap().stock.get(), 2);
    }

    #[tokio::test]
    async fn a_read_that_overlapped_an_order_is_not_kept() {
        let slow = Slow::new();
        let cache = slow.cached();
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        // The read gets stock 5 from the store, then the order takes 2 before the read returns.
        slow.hold();
        let reading = tokio::spawn({
            let cache = cache.clone();
            async move { stock_of(&cache, id).await }
        });
        slow.until_held().await;
        cache.place(order(&[(id, 2)]), None).await.unwrap();
        slow.release();
        assert_eq!(reading.await.unwrap(), 5);

        assert_eq!(stock_of(&cache, id).await, 3);
    }

    #[tokio::test]
    async fn a_read_made_while_an_order_was_placed_does_not_lose_its_units_twice() {
        let slow = Slow::new();
        let cache = slow.cached();
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        // The order is written, and before it returns a read stores the stock it left.
        slow.hold();
        let placing = tokio::spawn({
            let cache = cache.clone();
            async move { cache.place(order(&[(id, 2)]), None).await.unwrap() }
        });
        slow.until_held().await;
        assert_eq!(stock_of(&cache, id).await, 3);
        slow.release();
        placing.await.unwrap();

        assert_eq!(stock_of(&cache, id).await, 3);
    }

    #[tokio::test]
    async fn a_listing_that_overlapped_a_write_of_one_of_its_products_is_not_served() {
        let slow = Slow::new();
        let cache = slow.cached();
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        slow.hold();
        let listing = tokio::spawn({
            let cache = cache.clone();
            async move { ProductRepository::list(&cache, ProductFilter::default(), PageRequest::ALL).await.unwrap() }
        });
        slow.until_held().await;
        cache.place(order(&[(id, 2)]), None).await.unwrap();
        slow.release();
        assert_eq!(listing.await.unwrap().items[0].stock.get(), 5);

        let listed = ProductRepository::list(&cache, ProductFilter::default(), PageRequest::ALL).await.unwrap();
        assert_eq!(listed.items[0].stock.get(), 3);
    }

    #[tokio::test]
    async fn an_order_drops_the_listings_showing_its_products_or_filtered_on_stock_and_keeps_the_others() {
        let slow = Slow::new();
        let cache = slow.cached();
        let mug = cache.create(new_product("Mug")).await.unwrap().id;
        cache.create(new_product("Cup")).await.unwrap();
        let first = PageRequest::offset(0, 1);
        let after_mug = PageRequest::after(mug.get(), 1);
        let in_stock = ProductFilter { in_stock_only: true, ..Default::default() };
        let list = |filter: ProductFilter, page| {
            let cache = cache.clone();
            async move { ProductRepository::list(&cache, filter, page).await.unwrap() }
        };
        for (filter, page) in
            [(ProductFilter::default(), first), (ProductFilter::default(), after_mug), (in_stock.clone(), after_mug)]
        {
            list(filter, page).await;
        }
        let reads = slow.reads();

        cache.place(order(&[(mug, 5)]), None).await.unwrap();

        list(ProductFilter::default(), after_mug).await;
        assert_eq!(slow.reads(), reads, "the page without the mug is still cached");
        assert_eq!(list(ProductFilter::default(), first).await.items[0].stock.get(), 0);
        assert_eq!(slow.reads(), reads + 1);
        list(in_stock, after_mug).await;
        assert_eq!(slow.reads(), reads + 2, "a listing filtered on stock is read again");
    }

    #[tokio::test]
    async fn stock_changed_elsewhere_drops_only_the_products_named() {
        let slow = Slow::new();
        let cache = slow.cached();
        let mug = cache.create(new_product("Mug")).await.unwrap().id;
        let cup = cache.create(new_product("Cup")).await.unwrap().id;
        stock_of(&cache, mug).await;
        stock_of(&cache, cup).await;
        slow.inner.place(order(&[(mug, 1), (cup, 1)]), None).await.unwrap();

        let reads = slow.reads();

        cache.control().invalidate_stock(&[mug]);

        assert_eq!(stock_of(&cache, cup).await, 5, "still served from the cache");
        // The mug is read again in the background, and served from the cache once it is.
        for _ in 0..500 {
            if slow.reads() > reads {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(slow.reads(), reads + 1, "one query for every product announced");
        assert_eq!(stock_of(&cache, mug).await, 4);
        assert_eq!(slow.reads(), reads + 1);
    }

    #[tokio::test]
    async fn a_refused_order_leaves_the_cache_as_it_was() {
        let slow = Slow::new();
        let cache = slow.cached();
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        stock_of(&cache, id).await;
        let reads = slow.reads();
        let refused = cache.place(order(&[(id, 6)]), None).await.unwrap_err();
        assert!(matches!(refused, Error::InsufficientStock { .. }), "{refused:?}");
        assert_eq!(stock_of(&cache, id).await, 5);
        assert_eq!(slow.reads(), reads);
    }

    #[tokio::test]
    async fn a_cancelled_order_gives_its_units_back_to_the_next_read() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        let placed = cache.place(order(&[(id, 2)]), None).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 3);
        cache.change_status(placed.order.id, OrderStatus::Cancelled).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 5);
    }

    #[tokio::test]
    async fn an_unsynced_cache_reads_through() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, false);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        ProductRepository::find(&cache, id).await.unwrap();
        ProductRepository::update(&inner, id, stock(1)).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 1);
        cache.control().set_synced(true);
        ProductRepository::find(&cache, id).await.unwrap();
        ProductRepository::update(&inner, id, stock(4)).await.unwrap();
        assert_eq!(stock_of(&cache, id).await, 1);
    }
}
