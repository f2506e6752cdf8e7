//! The in-memory adapter: every port over one process-local state behind a single lock.
//!
//! One lock for products and orders makes every port call atomic, and no call can deadlock
//! another: there is only one lock to take. No lock is held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Error;
use domain::audit::AuditRecord;
use domain::ids::{OrderId, ProductId};
use domain::inventory::{InventoryAction, InventoryBatch, plan_inventory};
use domain::order::{Idempotency, KeyRecord, Order, OrderRequest, Placement, price_order, stock_after_transition};
use domain::page::{Page, PageRequest, PageStart};
use domain::ports::{AuditLog, HealthCheck, OrderRepository, ProductRepository, RateCounter};
use domain::product::{ManagerId, NewProduct, Product, ProductChanges, ProductFilter, Stock};
use domain::status::OrderStatus;

#[derive(Debug, Default)]
struct State {
    products: BTreeMap<ProductId, Product>,
    orders: BTreeMap<OrderId, Order>,
    idempotency: HashMap<(String, String), KeyRecord>,
    last_product_id: i64,
    last_order_id: i64,
}

impl State {
    fn insert_product(&mut self, new: NewProduct) -> Result<Product, Error> {
        let id = match new.id {
            Some(id) if self.products.contains_key(&id) => return Err(Error::ProductExists(id)),
            Some(id) => id,
            None => self.next_product_id()?,
        };
        self.last_product_id = self.last_product_id.max(id.get());
        let product = Product {
            id,
            manager_id: new.manager_id,
            name: new.name,
            description: new.description,
            price: new.price,
            stock: new.stock,
            discontinued: false,
        };
        self.products.insert(id, product.clone());
        Ok(product)
    }

    fn next_product_id(&mut self) -> Result<ProductId, Error> {
        loop {
            self.last_product_id =
                self.last_product_id.checked_add(1).ok_or_else(|| anyhow::anyhow!("product ids exhausted"))?;
            let id = ProductId::new(self.last_product_id).map_err(anyhow::Error::new)?;
            if !self.products.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    fn product_mut(&mut self, id: ProductId) -> Result<&mut Product, Error> {
        self.products.get_mut(&id).ok_or(Error::ProductNotFound(id))
    }

    fn set_stock(&mut self, changes: &[(ProductId, Stock)]) -> Result<(), Error> {
        for &(id, stock) in changes {
            self.product_mut(id)?.stock = stock;
        }
        Ok(())
    }

    fn rows(&self, ids: impl IntoIterator<Item = ProductId>) -> Vec<Product> {
        ids.into_iter().filter_map(|id| self.products.get(&id).cloned()).collect()
    }
}

/// Per key: the start of its current window and the requests counted in it.
type RateWindows = HashMap<String, (DateTime<Utc>, u32)>;

/// Audit records kept in memory; the oldest go first past this many.
pub const AUDIT_CAPACITY: usize = 10_000;

/// Every port, in memory. Cloning shares the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
    // Counters and audit records live apart from the catalogue so that neither waits on it.
    rate: Arc<Mutex<RateWindows>>,
    audit: Arc<Mutex<VecDeque<AuditRecord>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the state half-written: every mutation is
    // checked before it starts. So a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The first `limit` items of `rest`, and whether any follow.
fn take_page<T>(rest: impl Iterator<Item = T>, limit: u32) -> (Vec<T>, bool) {
    let limit = limit as usize;
    let mut items: Vec<T> = rest.take(limit.saturating_add(1)).collect();
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

/// The keys past a keyset cursor, in ascending order, found by a range lookup. `None` when no key
/// can follow it.
fn keys_after<K: Ord, V>(
    map: &BTreeMap<K, V>,
    after: i64,
    key: impl Fn(i64) -> Result<K, domain::InvalidValue>,
) -> Option<std::collections::btree_map::Range<'_, K, V>> {
    match key(after) {
        Ok(after) => Some(map.range((Excluded(after), Unbounded))),
        Err(_) if after < 1 => Some(map.range(..)),
        Err(_) => None,
    }
}

/// The keys before a keyset cursor, in ascending order. `None` when no key can precede it.
fn keys_before<K: Ord, V>(
    map: &BTreeMap<K, V>,
    before: i64,
    key: impl Fn(i64) -> Result<K, domain::InvalidValue>,
) -> Option<std::collections::btree_map::Range<'_, K, V>> {
    match key(before) {
        Ok(before) => Some(map.range(..before)),
        Err(_) if before < 1 => None,
        Err(_) => Some(map.range(..)),
    }
}

#[async_trait]
impl ProductRepository for MemoryStore {
    async fn create(&self, product: NewProduct) -> Result<Product, Error> {
        self.write().insert_product(product)
    }

    async fn find(&self, id: ProductId) -> Result<Option<Product>, Error> {
        Ok(self.read().products.get(&id).cloned())
    }

    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
        let state = self.read();
        let ids: std::collections::BTreeSet<&ProductId> = ids.iter().collect();
        Ok(ids.into_iter().filter_map(|id| state.products.get(id).cloned()).collect())
    }

    async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error> {
        let state = self.read();
        let listed = |p: &&Product| filter.matches(p);
        let total = state.products.values().filter(listed).count() as u64;
        let (items, more) = match page.start {
            PageStart::Offset(offset) => take_page(
                state.products.values().filter(listed).skip(usize::try_from(offset).unwrap_or(usize::MAX)),
                page.limit,
            ),
            PageStart::After(after) => match keys_after(&state.products, after, ProductId::new) {
                Some(rest) => take_page(rest.map(|(_, p)| p).filter(listed), page.limit),
                None => (Vec::new(), false),
            },
        };
        Ok(Page { items: items.into_iter().cloned().collect(), total, more })
    }

    async fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error> {
        let mut state = self.write();
        let product = state.product_mut(id)?;
        changes.apply_to(product);
        Ok(product.clone())
    }

    async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error> {
        let mut state = self.write();
        let product = state.product_mut(id)?;
        if !product.visible_to(manager_id.as_ref()) {
            return Err(Error::ProductNotFound(id));
        }
        product.discontinued = true;
        Ok(product.clone())
    }

    async fn apply_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error> {
        let mut state = self.write();
        let manager = Some(batch.manager_id());
        let existing: Vec<Product> = state.products.values().filter(|p| p.visible_to(manager)).cloned().collect();
        let actions = plan_inventory(&batch, &existing)?;
        // The plan has been checked as a whole, so nothing below can fail half-way.
        let mut stored = Vec::with_capacity(actions.len());
        for action in actions {
            let product = match action {
                InventoryAction::Update(update) => {
                    let product = state.product_mut(update.id)?;
                    update.apply_to(product);
                    product.clone()
                }
                InventoryAction::Create(new) => state.insert_product(new)?,
            };
            stored.push(product);
        }
        Ok(stored)
    }
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
        let mut state = self.write();
        if let Some(idem) = &idempotency {
            let earlier = state.idempotency.get(&(idem.scope.clone(), idem.key.as_str().to_owned()));
            if let Some(order_id) = idem.replay(earlier)? {
                let order = state
                    .orders
                    .get(&order_id)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("order {order_id} of an idempotency key is missing"))?;
                return Ok(Placement { order, replayed: true });
            }
        }
        let rows = state.rows(request.product_ids());
        let priced = price_order(&request, &rows)?;
        let id = OrderId::new(state.last_order_id + 1).map_err(anyhow::Error::new)?;
        state.set_stock(&priced.stock_after)?;
        state.last_order_id = id.get();
        let order = priced.into_order(id, &request, Utc::now());
        state.orders.insert(id, order.clone());
        if let Some(idem) = idempotency {
            let record = KeyRecord { fingerprint: idem.fingerprint, order_id: id };
            state.idempotency.insert((idem.scope, idem.key.as_str().to_owned()), record);
        }
        Ok(Placement { order, replayed: false })
    }

    async fn find(&self, id: OrderId) -> Result<Option<Order>, Error> {
        Ok(self.read().orders.get(&id).cloned())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
        let state = self.read();
        let total = state.orders.len() as u64;
        let (items, more) = match page.start {
            PageStart::Offset(offset) => {
                take_page(state.orders.values().rev().skip(usize::try_from(offset).unwrap_or(usize::MAX)), page.limit)
            }
            PageStart::After(after) => match keys_before(&state.orders, after, OrderId::new) {
                Some(older) => take_page(older.rev().map(|(_, o)| o), page.limit),
                None => (Vec::new(), false),
            },
        };
        Ok(Page { items: items.into_iter().cloned().collect(), total, more })
    }

    async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
        let mut state = self.write();
        let order = state.orders.get(&id).cloned().ok_or(Error::OrderNotFound(id))?;
        let rows = state.rows(order.lines.iter().map(|l| l.product_id));
        let restock = stock_after_transition(&order, status, &rows)?;
        state.set_stock(&restock)?;
        let order = state.orders.get_mut(&id).ok_or(Error::OrderNotFound(id))?;
        order.status = status;
        Ok(order.clone())
    }
}

#[async_trait]
impl HealthCheck for MemoryStore {
    async fn ping(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl RateCounter for MemoryStore {
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> Result<u32, Error> {
        let mut counters = self.rate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = counters.entry(key.to_owned()).or_insert((window_start, 0));
        if entry.0 < window_start {
            *entry = (window_start, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(entry.1)
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, record: AuditRecord) -> Result<(), Error> {
        let mut audit = self.audit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if audit.len() == AUDIT_CAPACITY {
            audit.pop_front();
        }
        audit.push_back(record);
        Ok(())
    }

    async fn recent(&self, limit: u32) -> Result<Vec<AuditRecord>, Error> {
        let audit = self.audit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut records: Vec<AuditRecord> = audit.iter().rev().cloned().collect();
        drop(audit);
        // Stable, so records of the same instant stay later-written first.
        records.sort_by_key(|record| std::cmp::Reverse(record.at));
        records.truncate(limit as usize);
        Ok(records)
    }
}
