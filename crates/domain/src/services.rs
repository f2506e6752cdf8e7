//! Use-cases: what the store does, in terms of the ports.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::{Error, Violation};
use crate::ids::{OrderId, ProductId};
use crate::inventory::InventoryBatch;
use crate::limits::{RateDecision, RateLimit};
use crate::order::{Idempotency, Order, OrderRequest, Placement};
use crate::page::{Page, PageRequest};
use crate::ports::{OrderRepository, ProductRepository, RateCounter};
use crate::product::{ManagerId, NewProduct, Product, ProductChanges, ProductFilter};
use crate::status::OrderStatus;

/// Loading, browsing, changing and withdrawing products.
#[derive(Clone)]
pub struct Catalogue {
    products: Arc<dyn ProductRepository>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue").finish_non_exhaustive()
    }
}

impl Catalogue {
    /// A catalogue over a product store.
    pub fn new(products: Arc<dyn ProductRepository>) -> Self {
        Self { products }
    }

    /// Adds a product.
    ///
    /// # Errors
    /// [`Error::ProductExists`] when its requested id is taken.
    pub async fn add(&self, product: NewProduct) -> Result<Product, Error> {
        self.products.create(product).await
    }

    /// One product, discontinued or not.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] when there is none.
    pub async fn get(&self, id: ProductId) -> Result<Product, Error> {
        self.products.find(id).await?.ok_or(Error::ProductNotFound(id))
    }

    /// One product, discontinued or not, shared with the store's cache when it has one: for
    /// reads that only show it.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] when there is none.
    pub async fn get_shared(&self, id: ProductId) -> Result<Arc<Product>, Error> {
        self.products.find_shared(id).await?.ok_or(Error::ProductNotFound(id))
    }

    /// Products matching `filter`, by id.
    ///
    /// # Errors
    /// Storage failures only.
    pub async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error> {
        self.products.list(filter, page).await
    }

    /// Products matching `filter`, by id, shared with the store's cache when it has one: for
    /// reads that only show them.
    ///
    /// # Errors
    /// Storage failures only.
    pub async fn list_shared(&self, filter: ProductFilter, page: PageRequest) -> Result<Arc<Page<Product>>, Error> {
        self.products.list_shared(filter, page).await
    }

    /// Changes some fields of a product.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] when there is none.
    pub async fn change(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error> {
        self.products.update(id, changes).await
    }

    /// Withdraws a product from sale; with `manager_id`, only one of that manager's.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] when there is none (or it is another manager's).
    pub async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error> {
        self.products.discontinue(id, manager_id).await
    }

    /// Applies a manager's bulk load, all or nothing.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] for an id that is not the manager's;
    /// [`Violation::SameProduct`] when two items land on one product.
    pub async fn load_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error> {
        self.products.apply_inventory(batch).await
    }
}

/// Placing orders and moving them through their life.
#[derive(Clone)]
pub struct Orders {
    orders: Arc<dyn OrderRepository>,
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders").finish_non_exhaustive()
    }
}

impl Orders {
    /// Order use-cases over an order store.
    pub fn new(orders: Arc<dyn OrderRepository>) -> Self {
        Self { orders }
    }

    /// Places an order atomically.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`], [`Error::ProductDiscontinued`], [`Error::InsufficientStock`],
    /// [`Error::IdempotencyKeyReused`].
    pub async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
        self.orders.place(request, idempotency).await
    }

    /// One order.
    ///
    /// # Errors
    /// [`Error::OrderNotFound`] when there is none.
    pub async fn get(&self, id: OrderId) -> Result<Order, Error> {
        self.orders.find(id).await?.ok_or(Error::OrderNotFound(id))
    }

    /// Orders, newest first.
    ///
    /// # Errors
    /// Storage failures only.
    pub async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
        self.orders.list(page).await
    }

    /// Completes or cancels a pending order; cancelling puts its stock back.
    ///
    /// # Errors
    /// [`Violation::BackToPending`] when `status` is `pending`; [`Error::OrderNotFound`];
    /// [`Error::InvalidStatusTransition`].
    pub async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
        if status == OrderStatus::Pending {
            return Err(Violation::BackToPending.into());
        }
        self.orders.change_status(id, status).await
    }
}

/// Counting requests against a limit, per key, in windows shared by every process.
#[derive(Clone)]
pub struct RateLimiting {
    counter: Arc<dyn RateCounter>,
    limit: RateLimit,
}

impl std::fmt::Debug for RateLimiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiting").field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl RateLimiting {
    /// Limiting with `limit` over a counter store.
    pub fn new(counter: Arc<dyn RateCounter>, limit: RateLimit) -> Self {
        Self { counter, limit }
    }

    /// The limit applied.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts one request of `key` at `now` and says whether it may proceed.
    ///
    /// # Errors
    /// Storage failures of the counter.
    pub async fn check(&self, key: &str, now: DateTime<Utc>) -> Result<RateDecision, Error> {
        let count = self.counter.hit(key, self.limit.window_start(now)).await?;
        Ok(self.limit.decide(count, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures_executor::block_on;

    use crate::ports::{MockOrderRepository, MockProductRepository, MockRateCounter};

    fn pid(n: i64) -> ProductId {
        ProductId::new(n).unwrap()
    }

    #[test]
    fn getting_an_absent_product_is_product_not_found() {
        block_on(async {
            let mut repo = MockProductRepository::new();
            repo.expect_find().returning(|_| Ok(None));
            let err = Catalogue::new(Arc::new(repo)).get(pid(4)).await.unwrap_err();
            assert!(matches!(err, Error::ProductNotFound(id) if id == pid(4)));
        });
    }

    #[test]
    fn a_storage_outage_surfaces_as_unavailable() {
        block_on(async {
            let mut repo = MockProductRepository::new();
            repo.expect_find().returning(|_| Err(Error::Unavailable(anyhow::anyhow!("pool timed out"))));
            let err = Catalogue::new(Arc::new(repo)).get(pid(1)).await.unwrap_err();
            assert!(matches!(err, Error::Unavailable(_)));
        });
    }

    #[test]
    fn discontinuing_passes_the_manager_scope_to_storage() {
        block_on(async {
            let mut repo = MockProductRepository::new();
            repo.expect_discontinue()
                .withf(|id, manager| *id == pid(2) && manager.as_ref().map(ManagerId::as_str) == Some("m1"))
                .returning(|id, _| Err(Error::ProductNotFound(id)));
            let err = Catalogue::new(Arc::new(repo)).discontinue(pid(2), Some(ManagerId::parse("m1").unwrap())).await;
            assert!(matches!(err, Err(Error::ProductNotFound(_))));
        });
    }

    #[test]
    fn an_absent_order_is_order_not_found() {
        block_on(async {
            let mut repo = MockOrderRepository::new();
            repo.expect_find().returning(|_| Ok(None));
            let err = Orders::new(Arc::new(repo)).get(OrderId::new(9).unwrap()).await.unwrap_err();
            assert!(matches!(err, Error::OrderNotFound(_)));
        });
    }

    #[test]
    fn moving_an_order_back_to_pending_is_refused_before_storage() {
        block_on(async {
            let mut repo = MockOrderRepository::new();
            repo.expect_change_status().never();
            let err = Orders::new(Arc::new(repo)).change_status(OrderId::new(1).unwrap(), OrderStatus::Pending).await;
            assert!(matches!(err, Err(Error::Invalid(Violation::BackToPending))));
        });
    }

    #[test]
    fn stock_conflicts_from_storage_reach_the_caller_unchanged() {
        block_on(async {
            let mut repo = MockOrderRepository::new();
            repo.expect_place().returning(|_, _| {
                Err(Error::InsufficientStock { product_id: ProductId::new(2).unwrap(), requested: 5, available: 3 })
            });
            let request = OrderRequest::new(
                vec![crate::order::RequestedLine {
                    product_id: pid(2),
                    quantity: crate::order::Quantity::new(5).unwrap(),
                }],
                None,
                None,
                OrderStatus::Pending,
            )
            .unwrap();
            let err = Orders::new(Arc::new(repo)).place(request, None).await.unwrap_err();
            assert!(matches!(err, Error::InsufficientStock { requested: 5, available: 3, .. }));
        });
    }

    #[test]
    fn the_request_past_the_limit_is_refused_in_the_counters_window() {
        block_on(async {
            let mut counter = MockRateCounter::new();
            let now = DateTime::from_timestamp(7200 + 30, 0).unwrap();
            counter
                .expect_hit()
                .withf(move |key, start| key == "mgr_1" && *start == DateTime::from_timestamp(7200, 0).unwrap())
                .returning(|_, _| Ok(101));
            let limiting = RateLimiting::new(Arc::new(counter), RateLimit::new(100, 3600).unwrap());
            let decision = limiting.check("mgr_1", now).await.unwrap();
            assert!(!decision.allowed);
            assert_eq!((decision.remaining, decision.reset_seconds), (0, 3570));
        });
    }
}
