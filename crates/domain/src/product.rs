//! Products of the catalogue and the values they are made of.

use std::fmt;
use std::sync::Arc;

use crate::ids::ProductId;
use crate::money::Money;
use crate::validation::{InvalidValue, trimmed_label};

// The text of names, descriptions and manager ids is shared, not copied: every read of a product
// (from the store, from the product cache) clones it, and a listing clones hundreds.

/// A product name: 1..=200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductName(Arc<str>);

impl ProductName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims and checks a name.
    ///
    /// # Errors
    /// When the trimmed name is empty or longer than 200 characters.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        trimmed_label(name, Self::MAX_CHARS).map(|name| Self(name.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product description: possibly empty, at most 5000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(Arc<str>);

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
        Ok(Self(text.into()))
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
pub struct ManagerId(Arc<str>);

impl ManagerId {
    /// Trims and checks a manager id.
    ///
    /// # Errors
    /// When it is blank or longer than 100 characters.
    pub fn parse(id: &str) -> Result<Self, InvalidValue> {
        trimmed_label(id, 100).map(|id| Self(id.into()))
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
    /// Whether the product may be seen, changed or ordered by whoever asks: on the storefront
    /// (`manager` absent) every product; on the manager surface only the manager's own. Anything
    /// else answers as if the product did not exist.
    pub fn visible_to(&self, manager: Option<&ManagerId>) -> bool {
        manager.is_none_or(|manager| self.manager_id.as_ref() == Some(manager))
    }

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
        product.visible_to(self.manager_id.as_ref())
            && self.status.is_none_or(|s| s == product.inventory_status())
            && !(self.for_sale_only && product.discontinued)
            && !(self.in_stock_only && product.stock.get() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_product_is_visible_on_the_storefront_and_to_its_own_manager_only() {
        let owned = product(1, false);
        assert!(owned.visible_to(None));
        assert!(owned.visible_to(Some(&ManagerId::parse("m").unwrap())));
        assert!(!owned.visible_to(Some(&ManagerId::parse("x").unwrap())));
        let unowned = Product { manager_id: None, ..owned };
        assert!(unowned.visible_to(None));
        assert!(!unowned.visible_to(Some(&ManagerId::parse("m").unwrap())));
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
