//! Errors of the domain: what a use-case can answer besides success. Reasons are typed; how a
//! driver shows them (status codes, field paths) is the driver's business.

use crate::ids::{OrderId, ProductId};
use crate::status::OrderStatus;

/// A rule of the domain that a request broke, found before anything was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An order without lines.
    NoLines,
    /// An order with more lines than it may hold.
    TooManyLines {
        /// The most lines an order may hold.
        max: usize,
    },
    /// The lines naming these products add up to more units than a line may hold.
    QuantityTooLarge(Vec<ProductId>),
    /// The order's total is beyond what money can hold.
    TotalTooLarge,
    /// A bulk load without items.
    NoItems,
    /// A bulk load with more items than it may hold.
    TooManyItems {
        /// The most items a load may hold.
        max: usize,
    },
    /// Items of a bulk load that repeat the name of an earlier item: `(item, earlier item)`,
    /// by position in the load.
    DuplicateNames(Vec<(usize, usize)>),
    /// Items of a bulk load that land on the same product as an earlier item: `(item, earlier
    /// item)`, by position in the load.
    SameProduct(Vec<(usize, usize)>),
    /// Cancelling the order would put this product's stock above the largest stock level.
    RestockOverflow(ProductId),
    /// An order may not be moved back to pending.
    BackToPending,
}

/// Everything a use-case or a port can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request broke a rule of the domain; nothing was changed.
    #[error("invalid request: {0:?}")]
    Invalid(Violation),
    /// No such product (or not visible to the manager who asked).
    #[error("product {0} not found")]
    ProductNotFound(ProductId),
    /// No such order.
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    /// A product with this id exists already.
    #[error("product {0} already exists")]
    ProductExists(ProductId),
    /// A product of an order has fewer units than requested.
    #[error("insufficient stock for product {product_id}")]
    InsufficientStock {
        /// The product short of stock.
        product_id: ProductId,
        /// Units the order asked for (lines of the same product summed).
        requested: u32,
        /// Units in stock when the order was checked.
        available: u32,
    },
    /// A product of an order is discontinued.
    #[error("product {0} is discontinued")]
    ProductDiscontinued(ProductId),
    /// The order cannot move from its status to the requested one.
    #[error("order cannot go from {from} to {to}")]
    InvalidStatusTransition {
        /// The order's current status.
        from: OrderStatus,
        /// The status asked for.
        to: OrderStatus,
    },
    /// The idempotency key was used before with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// The storage could not be reached or did not answer in time.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or an unforeseen storage failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<Violation> for Error {
    fn from(violation: Violation) -> Self {
        Self::Invalid(violation)
    }
}

impl Error {
    /// Whether the storage failed rather than refused the request: a write that failed so may
    /// have been made all the same (its connection lost after `COMMIT` was sent), while any other
    /// error means nothing changed.
    pub fn is_storage_failure(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unexpected(_))
    }
}
