//! Products of the catalogue and the values they are made of.

use std::fmt;

use crate::error::InvalidValue;
use crate::money::Money;

/// The largest id of any entity: 2^53-1, the largest integer every JSON client reads exactly.
/// Bounding ids also keeps automatic ids, which continue after the largest explicit one, from
/// running out.
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

/// Trims `text` and checks it holds 1..=`max_chars` characters: the rule of every name and
/// caller-given identifier.
///
/// # Errors
/// When the trimmed text is empty or too long.
pub(crate) fn trimmed_label(text: &str, max_chars: usize) -> Result<String, InvalidValue> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InvalidValue::new("must not be blank"));
    }
    if text.chars().count() > max_chars {
        return Err(InvalidValue::new(format!("must be at most {max_chars} characters")));
    }
    Ok(text.to_owned())
}

/// A product name: 1..=200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductName(String);

impl ProductName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims and checks a name.
    ///
    /// # Errors
    /// When the trimmed name is empty or longer than 200 characters.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        trimmed_label(name, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product description: possibly empty, at most 5000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// Longest description, in characters.
    pub const MAX_CHARS: usize = 5000;

    /// Checks a description.
    ///
    /// # Errors
    /// When it is longer than 5000 characters.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        if text.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new("must be at most 5000 characters"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Units of a product in stock: 0..=2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Stock(u32);

impl Stock {
    /// The most units a product can hold.
    pub const MAX: u32 = i32::MAX as u32;

    /// A stock level from any integer.
    ///
    /// # Errors
    /// When `units` is negative or above 2^31-1.
    pub fn new(units: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(units) {
            Ok(units) if units <= Self::MAX => Ok(Self(units)),
            _ if units < 0 => Err(InvalidValue::new("must not be negative")),
            _ => Err(InvalidValue::new("must be at most 2147483647")),
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A store manager's identifier, as sent by the manager surface: non-blank, at most 100 chars.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManagerId(String);

impl ManagerId {
    /// Trims and checks a manager id.
    ///
    /// # Errors
    /// When it is blank or longer than 100 characters.
    pub fn parse(id: &str) -> Result<Self, InvalidValue> {
        trimmed_label(id, 100).map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ManagerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its identifier.
    pub id: ProductId,
    /// The manager it belongs to, if it was loaded through the manager surface.
    pub manager_id: Option<ManagerId>,
    /// Its name.
    pub name: ProductName,
    /// Its description.
    pub description: Description,
    /// Its current unit price.
    pub price: Money,
    /// Units in stock.
    pub stock: Stock,
    /// Whether it was withdrawn from sale.
    pub discontinued: bool,
}

impl Product {
    /// Where this product stands for the manager surface's status filter.
    pub fn inventory_status(&self) -> InventoryStatus {
        match (self.discontinued, self.stock.get()) {
            (true, _) => InventoryStatus::Discontinued,
            (false, 0) => InventoryStatus::OutOfStock,
            (false, _) => InventoryStatus::InStock,
        }
    }
}

/// A product to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The id to give it; the store picks the next free one when absent.
    pub id: Option<ProductId>,
    /// Its manager, if any.
    pub manager_id: Option<ManagerId>,
    /// Its name.
    pub name: ProductName,
    /// Its description.
    pub description: Description,
    /// Its unit price.
    pub price: Money,
    /// Initial units in stock.
    pub stock: Stock,
}

/// A partial update of a product: each present field replaces the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductChanges {
    /// New name.
    pub name: Option<ProductName>,
    /// New description.
    pub description: Option<Description>,
    /// New unit price.
    pub price: Option<Money>,
    /// New stock level.
    pub stock: Option<Stock>,
}

impl ProductChanges {
    /// Applies the changes to `product`.
    pub fn apply_to(&self, product: &mut Product) {
        if let Some(name) = &self.name {
            product.name = name.clone();
        }
        if let Some(description) = &self.description {
            product.description = description.clone();
        }
        if let Some(price) = self.price {
            product.price = price;
        }
        if let Some(stock) = self.stock {
            product.stock = stock;
        }
    }
}

/// Where a product stands for a manager: for sale with units, for sale without, or withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InventoryStatus {
    /// Not discontinued and at least one unit in stock.
    InStock,
    /// Not discontinued and no unit in stock.
    OutOfStock,
    /// Withdrawn from sale.
    Discontinued,
}

/// Which products a listing holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProductFilter {
    /// Only this manager's products.
    pub manager_id: Option<ManagerId>,
    /// Only products in this inventory status.
    pub status: Option<InventoryStatus>,
    /// Leave out discontinued products (the storefront's view).
    pub for_sale_only: bool,
    /// Leave out products with no stock.
    pub in_stock_only: bool,
}

impl ProductFilter {
    /// Whether `product` belongs in the listing.
    pub fn matches(&self, product: &Product) -> bool {
        (self.manager_id.is_none() || self.manager_id == product.manager_id)
            && self.status.is_none_or(|s| s == product.inventory_status())
            && !(self.for_sale_only && product.discontinued)
            && !(self.in_stock_only && product.stock.get() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_positive_and_json_safe() {
        assert!(ProductId::new(1).is_ok());
        assert!(ProductId::new(MAX_ID).is_ok());
        assert!(ProductId::new(MAX_ID + 1).is_err());
        assert!(ProductId::chosen(2_147_483_647).is_ok());
        assert!(ProductId::chosen(2_147_483_648).is_err());
        assert!(ProductId::new(0).is_err());
        assert!(ProductId::new(-4).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ProductName::parse("  Mug ").unwrap().as_str(), "Mug");
        assert!(ProductName::parse("   ").is_err());
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert!(ProductName::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn descriptions_may_be_empty_but_not_huge() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"x".repeat(5000)).is_ok());
        assert!(Description::parse(&"x".repeat(5001)).is_err());
    }

    #[test]
    fn stock_stays_within_a_postgres_integer() {
        assert_eq!(Stock::new(0).unwrap().get(), 0);
        assert_eq!(Stock::new(2_147_483_647).unwrap().get(), 2_147_483_647);
        assert!(Stock::new(-1).is_err());
        assert!(Stock::new(2_147_483_648).is_err());
    }

    #[test]
    fn manager_ids_must_not_be_blank() {
        assert!(ManagerId::parse(" ").is_err());
        assert_eq!(ManagerId::parse(" mgr_1 ").unwrap().as_str(), "mgr_1");
    }

    fn product(stock: i64, discontinued: bool) -> Product {
        Product {
            id: ProductId::new(1).unwrap(),
            manager_id: Some(ManagerId::parse("m").unwrap()),
            name: ProductName::parse("p").unwrap(),
            description: Description::default(),
            price: Money::ZERO,
            stock: Stock::new(stock).unwrap(),
            discontinued,
        }
    }

    #[test]
    fn inventory_status_follows_stock_and_discontinuation() {
        assert_eq!(product(3, false).inventory_status(), InventoryStatus::InStock);
        assert_eq!(product(0, false).inventory_status(), InventoryStatus::OutOfStock);
        assert_eq!(product(3, true).inventory_status(), InventoryStatus::Discontinued);
    }

    #[test]
    fn filters_combine_every_condition() {
        let filter = ProductFilter { for_sale_only: true, in_stock_only: true, ..Default::default() };
        assert!(filter.matches(&product(1, false)));
        assert!(!filter.matches(&product(0, false)));
        assert!(!filter.matches(&product(1, true)));
        let other = ProductFilter { manager_id: Some(ManagerId::parse("x").unwrap()), ..Default::default() };
        assert!(!other.matches(&product(1, false)));
    }
}
