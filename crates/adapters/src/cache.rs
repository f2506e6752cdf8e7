//! A read-through cache of product queries in front of any store.
//!
//! Every write that goes through this process invalidates the cache at once; writes by other
//! processes arrive as [`CacheControl::invalidate`] calls from a change feed (PostgreSQL
//! `LISTEN/NOTIFY`). While that feed is down the cache is bypassed, so a reader is never served
//! a product older than the feed's delivery delay. Orders are never read from the cache: placing
//! one reads stock under lock in the store itself.
//!
//! The feed leaves out the stock that orders take (announcing every order made PostgreSQL commit
//! orders one at a time), so when other processes can write the store, answers live at most
//! [`CachedStore::SHARED_TTL`]: an order placed through another process shows within that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domain::ids::{OrderId, ProductId};
use domain::inventory::InventoryBatch;
use domain::order::{Idempotency, Order, OrderRequest, Placement};
use domain::ports::{OrderRepository, ProductRepository};
use domain::product::{ManagerId, NewProduct, Product, ProductChanges, ProductFilter};
use domain::status::OrderStatus;
use domain::{Error, Page, PageRequest};
use moka::sync::Cache;

/// Counts one product query by how the cache answered it (`product_cache_lookups_total`): `hit`,
/// `miss` (read from the store), or `bypass` (the change feed is down). The hit ratio is
/// `hit / (hit + miss + bypass)`.
fn lookup(result: &'static str) {
    metrics::counter!("product_cache_lookups_total", "result" => result).increment(1);
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Query {
    Find(ProductId),
    List(ProductFilter, PageRequest),
}

#[derive(Debug, Clone)]
enum Answer {
    Product(Option<Product>),
    Page(Page<Product>),
}

/// The invalidation side of a [`CachedStore`], cheap to clone into a change feed's callback.
#[derive(Debug, Clone)]
pub struct CacheControl {
    entries: Cache<(u64, Query), Answer>,
    // Bumped by every invalidation; an answer is only cached under the generation it was read
    // in, so a read that overlapped a write can never put stale data back.
    generation: Arc<AtomicU64>,
    synced: Arc<AtomicBool>,
}

impl CacheControl {
    /// Forgets every cached answer.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Whether other processes' writes are being heard. While false, reads bypass the cache.
    pub fn set_synced(&self, synced: bool) {
        self.invalidate();
        self.synced.store(synced, Ordering::SeqCst);
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
    /// Most answers kept at once.
    pub const CAPACITY: u64 = 10_000;

    /// Longest life of an answer when other processes write the store: their orders' stock
    /// changes are not announced, and must show within a second.
    pub const SHARED_TTL: Duration = Duration::from_millis(500);

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
        let entries = Cache::builder().max_capacity(Self::CAPACITY).time_to_live(ttl).build();
        let control = CacheControl {
            entries,
            generation: Arc::new(AtomicU64::new(0)),
            synced: Arc::new(AtomicBool::new(synced)),
        };
        Self { products, orders, control }
    }

    /// The invalidation handle.
    pub fn control(&self) -> CacheControl {
        self.control.clone()
    }

    async fn cached<F>(&self, query: Query, read: F) -> Result<Answer, Error>
    where
        F: Future<Output = Result<Answer, Error>>,
    {
        if !self.control.synced.load(Ordering::SeqCst) {
            lookup("bypass");
            return read.await;
        }
        let generation = self.control.generation.load(Ordering::SeqCst);
        if let Some(answer) = self.control.entries.get(&(generation, query.clone())) {
            lookup("hit");
            return Ok(answer);
        }
        lookup("miss");
        let answer = read.await?;
        if self.control.generation.load(Ordering::SeqCst) == generation && self.control.synced.load(Ordering::SeqCst) {
            self.control.entries.insert((generation, query), answer.clone());
        }
        Ok(answer)
    }

    fn after_write<T>(&self, outcome: Result<T, Error>) -> Result<T, Error> {
        // Even a failed write may have committed (a lost connection after COMMIT): forget all.
        self.control.invalidate();
        outcome
    }
}

#[async_trait]
impl ProductRepository for CachedStore {
    async fn create(&self, product: NewProduct) -> Result<Product, Error> {
        self.after_write(self.products.create(product).await)
    }

    async fn find(&self, id: ProductId) -> Result<Option<Product>, Error> {
        let read = async { self.products.find(id).await.map(Answer::Product) };
        match self.cached(Query::Find(id), read).await? {
            Answer::Product(product) => Ok(product),
            Answer::Page(_) => Err(anyhow::anyhow!("cache answered a product query with a page").into()),
        }
    }

    async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error> {
        let read = async { self.products.list(filter.clone(), page).await.map(Answer::Page) };
        match self.cached(Query::List(filter.clone(), page), read).await? {
            Answer::Page(page) => Ok(page),
            Answer::Product(_) => Err(anyhow::anyhow!("cache answered a listing with a product").into()),
        }
    }

    async fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error> {
        self.after_write(self.products.update(id, changes).await)
    }

    async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error> {
        self.after_write(self.products.discontinue(id, manager_id).await)
    }

    async fn apply_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error> {
        self.after_write(self.products.apply_inventory(batch).await)
    }
}

#[async_trait]
impl OrderRepository for CachedStore {
    async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
        self.after_write(self.orders.place(request, idempotency).await)
    }

    async fn find(&self, id: OrderId) -> Result<Option<Order>, Error> {
        self.orders.find(id).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
        self.orders.list(page).await
    }

    async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
        self.after_write(self.orders.change_status(id, status).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use domain::product::{Description, ProductName, Stock};

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

    fn cached(store: &MemoryStore, synced: bool) -> CachedStore {
        let store = Arc::new(store.clone());
        CachedStore::new(store.clone(), store, Duration::from_secs(60), synced)
    }

    #[tokio::test]
    async fn reads_are_served_from_the_cache_until_invalidated() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 5);
        ProductRepository::update(&inner, id, stock(1)).await.unwrap();
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 5, "served from the cache");
        cache.control().invalidate();
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 1);
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
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 2);
    }

    #[tokio::test]
    async fn placing_an_order_invalidates_cached_stock() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, true);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 5);
        let line = domain::order::RequestedLine { product_id: id, quantity: domain::order::Quantity::new(2).unwrap() };
        let request = OrderRequest::new(vec![line], None, None, OrderStatus::Pending).unwrap();
        cache.place(request, None).await.unwrap();
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 3);
    }

    #[tokio::test]
    async fn an_unsynced_cache_reads_through() {
        let inner = MemoryStore::new();
        let cache = cached(&inner, false);
        let id = cache.create(new_product("Mug")).await.unwrap().id;
        ProductRepository::find(&cache, id).await.unwrap();
        ProductRepository::update(&inner, id, stock(1)).await.unwrap();
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 1);
        cache.control().set_synced(true);
        ProductRepository::find(&cache, id).await.unwrap();
        ProductRepository::update(&inner, id, stock(4)).await.unwrap();
        assert_eq!(ProductRepository::find(&cache, id).await.unwrap().unwrap().stock.get(), 1);
    }
}
