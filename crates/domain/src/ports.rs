//! What the use-cases need from storage. Each adapter implements every port; all of them are
//! held as `Arc<dyn Port>`.
//!
//! Every method may also fail with [`Error::Unavailable`] when the storage cannot be reached in
//! time, and [`Error::Unexpected`] for anything else that is not the caller's fault.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::AuditRecord;
use crate::error::Error;
use crate::ids::{OrderId, ProductId};
use crate::inventory::InventoryBatch;
use crate::order::{Idempotency, Order, OrderRequest, Placement};
use crate::page::{Page, PageRequest};
use crate::product::{ManagerId, NewProduct, Product, ProductChanges, ProductFilter};
use crate::status::OrderStatus;

/// Products of the catalogue.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProductRepository: Send + Sync + 'static {
    /// Stores a new product, with the id it asks for or the next free one.
    ///
    /// # Errors
    /// [`Error::ProductExists`] when the requested id is taken.
    async fn create(&self, product: NewProduct) -> Result<Product, Error>;

    /// The product with this id, discontinued or not; `None` when there is none.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn find(&self, id: ProductId) -> Result<Option<Product>, Error>;

    /// The products with these ids, discontinued or not, by ascending id; an id without a
    /// product is left out.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, Error>;

    /// The products matching `filter`, by ascending id, sliced by `page`: a
    /// [`crate::page::PageStart::After`] slice holds the products with a greater id.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error>;

    /// What [`Self::find`] returns, shared: a store that keeps its answers (a cache) hands out
    /// the one it holds instead of a copy. By default the answer of `find`, wrapped.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn find_shared(&self, id: ProductId) -> Result<Option<Arc<Product>>, Error> {
        Ok(self.find(id).await?.map(Arc::new))
    }

    /// What [`Self::list`] returns, shared, as [`Self::find_shared`] is to `find`. By default the
    /// answer of `list`, wrapped.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn list_shared(&self, filter: ProductFilter, page: PageRequest) -> Result<Arc<Page<Product>>, Error> {
        Ok(Arc::new(self.list(filter, page).await?))
    }

    /// Applies `changes` to a product and returns it as stored.
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] when there is no such product.
    async fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error>;

    /// Marks a product discontinued (again, harmlessly, when it already is).
    ///
    /// # Errors
    /// [`Error::ProductNotFound`] when there is no such product, or when `manager_id` is given
    /// and the product is not that manager's.
    async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error>;

    /// Applies a manager's bulk load atomically: every item is planned with
    /// [`crate::inventory::plan_inventory`] against the manager's products under lock, then all
    /// are written, or none. Returns the products in item order.
    ///
    /// # Errors
    /// What [`crate::inventory::plan_inventory`] returns.
    async fn apply_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error>;
}

/// Orders, and the stock they draw on.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync + 'static {
    /// Places an order in one atomic step: locks its products in id order, checks and prices it
    /// with [`crate::order::price_order`], decrements stock and stores the order; on any error
    /// nothing changes. With `idempotency`, a repeat of a placed request returns that order
    /// (`replayed`) and places nothing.
    ///
    /// # Errors
    /// What [`crate::order::price_order`] returns; [`Error::IdempotencyKeyReused`] when the key
    /// was used with another fingerprint.
    async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error>;

    /// The order with this id; `None` when there is none.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn find(&self, id: OrderId) -> Result<Option<Order>, Error>;

    /// Orders, newest first (by descending id), sliced by `page`: a
    /// [`crate::page::PageStart::After`] slice holds the orders with a smaller id.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error>;

    /// Moves an order to `status` in one atomic step, putting stock back on cancellation
    /// (see [`crate::order::stock_after_transition`]).
    ///
    /// # Errors
    /// [`Error::OrderNotFound`]; [`Error::InvalidStatusTransition`].
    async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error>;
}

/// Whether the storage answers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// Succeeds when the storage can serve requests now.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when it cannot.
    async fn ping(&self) -> Result<(), Error>;
}

/// Request counters shared by every process using the same store.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RateCounter: Send + Sync + 'static {
    /// Counts one request of `key` in the window starting at `window_start`, atomically, and
    /// returns the count so far in that window, this request included. A key seen in an older
    /// window starts again from 1.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> Result<u32, Error>;
}

/// Durable audit records.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Stores one record.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn record(&self, record: AuditRecord) -> Result<(), Error>;

    /// The newest records by request time (`at`), newest first, at most `limit`. Records are
    /// written after their responses, so the order they arrive in is not the order of the
    /// requests; among equal times, the later written comes first.
    ///
    /// # Errors
    /// Only the storage failures common to every port.
    async fn recent(&self, limit: u32) -> Result<Vec<AuditRecord>, Error>;
}
