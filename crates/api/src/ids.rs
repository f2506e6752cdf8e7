//! How ids look on each surface: integers on the storefront, `prod_001` / `ord_789` on the
//! manager surface.

use domain::ids::{OrderId, ProductId};
use serde_json::Value;

/// The id style of a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStyle {
    /// Plain integers.
    Storefront,
    /// Prefixed strings, zero-padded to at least three digits.
    Manager,
}

impl IdStyle {
    /// A product id as text in messages.
    pub fn product(self, id: ProductId) -> String {
        match self {
            Self::Storefront => id.to_string(),
            Self::Manager => product_ref(id),
        }
    }

    /// A product id as a JSON value in details.
    pub fn product_json(self, id: ProductId) -> Value {
        match self {
            Self::Storefront => Value::from(id.get()),
            Self::Manager => Value::from(product_ref(id)),
        }
    }

    /// An order id as text in messages.
    pub fn order(self, id: OrderId) -> String {
        match self {
            Self::Storefront => id.to_string(),
            Self::Manager => order_ref(id),
        }
    }

    /// An order id as a JSON value in details.
    pub fn order_json(self, id: OrderId) -> Value {
        match self {
            Self::Storefront => Value::from(id.get()),
            Self::Manager => Value::from(order_ref(id)),
        }
    }
}

/// `prod_001` for product 1.
pub fn product_ref(id: ProductId) -> String {
    ProductRef(id).to_string()
}

/// A product id as the manager surface writes it (`prod_001`), without building a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductRef(pub ProductId);

impl std::fmt::Display for ProductRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "prod_{:03}", self.0.get())
    }
}

impl serde::Serialize for ProductRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `ord_001` for order 1.
pub fn order_ref(id: OrderId) -> String {
    format!("ord_{:03}", id.get())
}

/// Reads `prod_001` (or `prod_1`, `prod_1234`).
///
/// # Errors
/// A message when the text is not `prod_` followed by a positive integer.
pub fn parse_product_ref(text: &str) -> Result<ProductId, String> {
    parse_ref(text, "prod_").and_then(|n| ProductId::new(n).map_err(|e| e.to_string()))
}

fn parse_ref(text: &str, prefix: &str) -> Result<i64, String> {
    let invalid = || format!("must look like {prefix}001");
    let digits = text.strip_prefix(prefix).ok_or_else(invalid)?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_refs_are_zero_padded_to_three_digits() {
        assert_eq!(product_ref(ProductId::new(1).unwrap()), "prod_001");
        assert_eq!(product_ref(ProductId::new(1234).unwrap()), "prod_1234");
        assert_eq!(order_ref(OrderId::new(789).unwrap()), "ord_789");
    }

    #[test]
    fn product_refs_parse_with_or_without_padding() {
        assert_eq!(parse_product_ref("prod_001").unwrap().get(), 1);
        assert_eq!(parse_product_ref("prod_1234").unwrap().get(), 1234);
        for bad in ["prod_", "prod_000", "prod_-1", "1", "ord_001", "prod_1a", "prod_99999999999999999999"] {
            assert!(parse_product_ref(bad).is_err(), "{bad}");
        }
    }
}
