//! A manager's bulk load of products: which items update which products, and which create.

use crate::error::{Error, Violation};
use crate::ids::ProductId;
use crate::money::Money;
use crate::product::{Description, ManagerId, NewProduct, Product, ProductName, Stock};

/// One item of a bulk load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryItem {
    /// The product to update; absent to match by name or create.
    pub id: Option<ProductId>,
    /// Its name.
    pub name: ProductName,
    /// Its unit price.
    pub price: Money,
    /// Units in stock.
    pub quantity: Stock,
    /// Its description, when given.
    pub description: Option<Description>,
}

/// A checked bulk load: 1..=1000 items, no two with the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryBatch {
    manager_id: ManagerId,
    items: Vec<InventoryItem>,
}

impl InventoryBatch {
    /// Most items one load may hold.
    pub const MAX_ITEMS: usize = 1000;

    /// Checks the batch as a whole.
    ///
    /// # Errors
    /// [`Violation::NoItems`], [`Violation::TooManyItems`], or [`Violation::DuplicateNames`]
    /// naming every item whose name an earlier item has.
    pub fn new(manager_id: ManagerId, items: Vec<InventoryItem>) -> Result<Self, Error> {
        if items.is_empty() {
            return Err(Violation::NoItems.into());
        }
        if items.len() > Self::MAX_ITEMS {
            return Err(Violation::TooManyItems { max: Self::MAX_ITEMS }.into());
        }
        let duplicates: Vec<(usize, usize)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| items[..i].iter().position(|other| other.name == item.name).map(|first| (i, first)))
            .collect();
        if !duplicates.is_empty() {
            return Err(Violation::DuplicateNames(duplicates).into());
        }
        Ok(Self { manager_id, items })
    }

    /// Whose products these are.
    pub fn manager_id(&self) -> &ManagerId {
        &self.manager_id
    }

    /// The items, in request order.
    pub fn items(&self) -> &[InventoryItem] {
        &self.items
    }
}

/// What one item of a batch changes on an existing product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryUpdate {
    /// The product.
    pub id: ProductId,
    /// New unit price.
    pub price: Money,
    /// New stock level.
    pub stock: Stock,
    /// New description, when the item gave one.
    pub description: Option<Description>,
}

impl InventoryUpdate {
    /// Applies the update: price and stock always, the description only when the item gave
    /// one; name, manager and discontinuation stay as they are.
    pub fn apply_to(&self, product: &mut Product) {
        product.price = self.price;
        product.stock = self.stock;
        if let Some(description) = &self.description {
            product.description = description.clone();
        }
    }
}

/// What one item of a batch does to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryAction {
    /// Change an existing product.
    Update(InventoryUpdate),
    /// Create a product.
    Create(NewProduct),
}

/// Decides, for each item in order, whether it updates one of the manager's products or creates
/// one. `existing` holds the manager's products, read under the adapter's lock.
///
/// An item with an id updates that product; an item whose name equals one of the manager's
/// products that is not discontinued updates it; any other item creates a product.
///
/// # Errors
/// [`Error::ProductNotFound`] when an item's id is not one of the manager's products;
/// [`Violation::SameProduct`] when two items land on the same product.
pub fn plan_inventory(batch: &InventoryBatch, existing: &[Product]) -> Result<Vec<InventoryAction>, Error> {
    let mut targets: Vec<Option<ProductId>> = Vec::with_capacity(batch.items.len());
    let mut shared = Vec::new();
    for (i, item) in batch.items.iter().enumerate() {
        let target = match item.id {
            Some(id) => {
                existing.iter().find(|p| p.id == id).ok_or(Error::ProductNotFound(id))?;
                Some(id)
            }
            None => existing.iter().find(|p| !p.discontinued && p.name == item.name).map(|p| p.id),
        };
        if let Some(id) = target
            && let Some(first) = targets.iter().position(|t| *t == Some(id))
        {
            shared.push((i, first));
        }
        targets.push(target);
    }
    if !shared.is_empty() {
        return Err(Violation::SameProduct(shared).into());
    }
    Ok(batch
        .items
        .iter()
        .zip(targets)
        .map(|(item, target)| match target {
            Some(id) => InventoryAction::Update(InventoryUpdate {
                id,
                price: item.price,
                stock: item.quantity,
                description: item.description.clone(),
            }),
            None => InventoryAction::Create(NewProduct {
                id: None,
                manager_id: Some(batch.manager_id.clone()),
                name: item.name.clone(),
                description: item.description.clone().unwrap_or_default(),
                price: item.price,
                stock: item.quantity,
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> ManagerId {
        ManagerId::parse("mgr_123").unwrap()
    }

    fn item(id: Option<i64>, name: &str) -> InventoryItem {
        InventoryItem {
            id: id.map(|n| ProductId::new(n).unwrap()),
            name: ProductName::parse(name).unwrap(),
            price: "1.50".parse().unwrap(),
            quantity: Stock::new(4).unwrap(),
            description: None,
        }
    }

    fn stored(id: i64, name: &str, discontinued: bool) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            manager_id: Some(manager()),
            name: ProductName::parse(name).unwrap(),
            description: Description::default(),
            price: Money::ZERO,
            stock: Stock::default(),
            discontinued,
        }
    }

    #[test]
    fn a_batch_holds_one_to_a_thousand_uniquely_named_items() {
        assert!(InventoryBatch::new(manager(), vec![]).is_err());
        let many = (0..1001).map(|i| item(None, &format!("p{i}"))).collect();
        assert!(InventoryBatch::new(manager(), many).is_err());
        let err = InventoryBatch::new(manager(), vec![item(None, "a"), item(None, "b"), item(None, "a")]).unwrap_err();
        assert!(matches!(err, Error::Invalid(Violation::DuplicateNames(pairs)) if pairs == vec![(2, 0)]));
    }

    #[test]
    fn items_update_by_id_then_by_live_name_else_create() {
        let existing = [stored(1, "Mug", false), stored(2, "Beans", true)];
        let batch =
            InventoryBatch::new(manager(), vec![item(Some(2), "Renamed"), item(None, "Mug"), item(None, "Beans")])
                .unwrap();
        let plan = plan_inventory(&batch, &existing).unwrap();
        assert!(matches!(&plan[0], InventoryAction::Update(update) if update.id.get() == 2));
        assert!(matches!(&plan[1], InventoryAction::Update(update) if update.id.get() == 1));
        assert!(matches!(&plan[2], InventoryAction::Create(new) if new.manager_id == Some(manager())));
    }

    #[test]
    fn an_unknown_id_is_not_found() {
        let batch = InventoryBatch::new(manager(), vec![item(Some(7), "x")]).unwrap();
        assert!(matches!(plan_inventory(&batch, &[]), Err(Error::ProductNotFound(_))));
    }

    #[test]
    fn two_items_on_one_product_are_refused() {
        let batch = InventoryBatch::new(manager(), vec![item(Some(1), "x"), item(None, "Mug")]).unwrap();
        let err = plan_inventory(&batch, &[stored(1, "Mug", false)]).unwrap_err();
        assert!(matches!(err, Error::Invalid(Violation::SameProduct(pairs)) if pairs == vec![(1, 0)]));
    }

    #[test]
    fn an_update_sets_price_and_stock_and_the_description_only_when_given() {
        let mut product = Product { description: Description::parse("old").unwrap(), ..stored(1, "Mug", false) };
        let mut update = InventoryUpdate {
            id: product.id,
            price: "2.00".parse().unwrap(),
            stock: Stock::new(9).unwrap(),
            description: None,
        };
        update.apply_to(&mut product);
        assert_eq!((product.price.cents(), product.stock.get(), product.description.as_str()), (200, 9, "old"));
        update.description = Some(Description::parse("new").unwrap());
        update.apply_to(&mut product);
        assert_eq!((product.description.as_str(), product.name.as_str()), ("new", "Mug"));
    }
}
