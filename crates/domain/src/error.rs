//! Errors of the domain: what a use-case can answer besides success.

use std::fmt;

use crate::order::{OrderId, OrderStatus};
use crate::product::ProductId;

/// Why a single value was refused by a typed constructor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    /// An error with the given explanation.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Validation failures keyed by field path (`price`, `products[1].quantity`), in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    /// No failures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One failure at `field`.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Records a failure at `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// Keeps the value of `result`, or records its error at `field`.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, InvalidValue>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.0);
                None
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The failures, in the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }

    /// `Ok(())` when empty, otherwise [`Error::Validation`].
    ///
    /// # Errors
    /// [`Error::Validation`] carrying every recorded failure.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() { Ok(()) } else { Err(Error::Validation(self)) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, message) in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

/// Everything a use-case or a port can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input broke a rule of the domain; nothing was changed.
    #[error("invalid request: {0}")]
    Validation(FieldErrors),
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

impl Error {
    /// A validation error on one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }
}
