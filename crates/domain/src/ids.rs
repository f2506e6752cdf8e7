//! Identifiers of the store's entities: positive integers assigned by the store.

use std::fmt;

use crate::validation::InvalidValue;

/// The largest id of any entity: 2^53-1, the largest integer every client reads exactly, even
/// one that holds numbers as 64-bit floats. Bounding ids also keeps automatic ids, which
/// continue after the largest explicit one, from running out.
pub const MAX_ID: i64 = 9_007_199_254_740_991;

/// Checks an id: 1..=[`MAX_ID`].
///
/// # Errors
/// When `id` is out of that range.
pub fn check_id(id: i64) -> Result<i64, InvalidValue> {
    if !(1..=MAX_ID).contains(&id) {
        return Err(InvalidValue::new("must be a positive integer at most 9007199254740991"));
    }
    Ok(id)
}

/// A product's identifier: a positive integer assigned by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductId(i64);

impl ProductId {
    /// A product id from an integer.
    ///
    /// # Errors
    /// When `id` is not in 1..=[`MAX_ID`].
    pub fn new(id: i64) -> Result<Self, InvalidValue> {
        check_id(id).map(Self)
    }

    /// An id a caller asks for when creating a product: 1..=2^31-1. Automatic ids continue after
    /// the largest id taken, so capping chosen ids far below [`MAX_ID`] keeps them from running out.
    ///
    /// # Errors
    /// When `id` is out of that range.
    pub fn chosen(id: i64) -> Result<Self, InvalidValue> {
        if !(1..=i64::from(i32::MAX)).contains(&id) {
            return Err(InvalidValue::new("must be a positive integer at most 2147483647"));
        }
        Ok(Self(id))
    }

    /// The integer value.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An order's identifier: a positive integer assigned by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(i64);

impl OrderId {
    /// An order id from an integer.
    ///
    /// # Errors
    /// When `id` is not in 1..=[`MAX_ID`].
    pub fn new(id: i64) -> Result<Self, InvalidValue> {
        check_id(id).map(Self)
    }

    /// The integer value.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_and_exact_in_every_client() {
        assert!(ProductId::new(1).is_ok());
        assert!(ProductId::new(MAX_ID).is_ok());
        assert!(ProductId::new(MAX_ID + 1).is_err());
        assert!(ProductId::chosen(2_147_483_647).is_ok());
        assert!(ProductId::chosen(2_147_483_648).is_err());
        assert!(ProductId::new(0).is_err());
        assert!(ProductId::new(-4).is_err());
        assert!(OrderId::new(0).is_err());
        assert_eq!(OrderId::new(7).unwrap().to_string(), "7");
    }
}
