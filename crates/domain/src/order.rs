//! Orders, and the one rule that prices an order against the stock it draws from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, Violation};
use crate::ids::{OrderId, ProductId};
use crate::money::Money;
use crate::product::{ManagerId, Product, Stock};
use crate::status::OrderStatus;
use crate::validation::{InvalidValue, trimmed_label};

/// Units of a product on one order line: 1..=2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u32);

impl Quantity {
    /// A quantity from any integer.
    ///
    /// # Errors
    /// When `units` is below 1 or above 2^31-1.
    pub fn new(units: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(units) {
            Ok(units) if (1..=Stock::MAX).contains(&units) => Ok(Self(units)),
            _ if units < 1 => Err(InvalidValue::new("must be at least 1")),
            _ => Err(InvalidValue::new("must be at most 2147483647")),
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A customer's identifier as the caller knows it: non-blank, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    /// Trims and checks a customer id.
    ///
    /// # Errors
    /// When it is blank or longer than 100 characters.
    pub fn parse(id: &str) -> Result<Self, InvalidValue> {
        trimmed_label(id, 100).map(|id| Self(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address of plausible shape: `local@domain.tld`, no spaces, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and checks an address.
    ///
    /// # Errors
    /// When it does not look like an e-mail address.
    pub fn parse(address: &str) -> Result<Self, InvalidValue> {
        let address = address.trim();
        let invalid = || InvalidValue::new("must be a valid e-mail address");
        if address.len() > 254 || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = address.split_once('@').ok_or_else(invalid)?;
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-') && !label.contains('@'));
        if local.is_empty() || local.len() > 64 || !domain.contains('.') || !labels_ok {
            return Err(invalid());
        }
        Ok(Self(address.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who an order is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The caller's identifier of the customer.
    pub id: CustomerId,
    /// Where to reach them, when known.
    pub email: Option<Email>,
}

/// One product and quantity asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedLine {
    /// The product.
    pub product_id: ProductId,
    /// How many units.
    pub quantity: Quantity,
}

/// A checked request to place an order: 1..=100 lines, merged per product, sorted by product id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    lines: Vec<RequestedLine>,
    /// Who the order is for.
    pub customer: Option<Customer>,
    /// When set, every product must belong to this manager (others answer as absent).
    pub manager_id: Option<ManagerId>,
    /// The status the order is stored with: pending on the storefront, completed when a manager
    /// processes it.
    pub status: OrderStatus,
}

impl OrderRequest {
    /// Most lines an order may have.
    pub const MAX_LINES: usize = 100;

    /// Merges lines naming the same product (summing quantities) and sorts them by product id,
    /// the order in which adapters lock rows.
    ///
    /// # Errors
    /// [`Violation::NoLines`], [`Violation::TooManyLines`], or [`Violation::QuantityTooLarge`]
    /// when merged lines add up to more than 2^31-1 units of a product.
    pub fn new(
        lines: Vec<RequestedLine>,
        customer: Option<Customer>,
        manager_id: Option<ManagerId>,
        status: OrderStatus,
    ) -> Result<Self, Error> {
        if lines.is_empty() {
            return Err(Violation::NoLines.into());
        }
        if lines.len() > Self::MAX_LINES {
            return Err(Violation::TooManyLines { max: Self::MAX_LINES }.into());
        }
        let mut merged: BTreeMap<ProductId, i64> = BTreeMap::new();
        for line in &lines {
            *merged.entry(line.product_id).or_default() += i64::from(line.quantity.get());
        }
        let mut too_large = Vec::new();
        let lines = merged
            .into_iter()
            .filter_map(|(product_id, units)| match Quantity::new(units) {
                Ok(quantity) => Some(RequestedLine { product_id, quantity }),
                Err(_) => {
                    too_large.push(product_id);
                    None
                }
            })
            .collect();
        if !too_large.is_empty() {
            return Err(Violation::QuantityTooLarge(too_large).into());
        }
        Ok(Self { lines, customer, manager_id, status })
    }

    /// The merged lines, by ascending product id.
    pub fn lines(&self) -> &[RequestedLine] {
        &self.lines
    }

    /// The product ids to lock, ascending.
    pub fn product_ids(&self) -> Vec<ProductId> {
        self.lines.iter().map(|l| l.product_id).collect()
    }
}

/// One line of a placed order, priced when the order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    /// The product.
    pub product_id: ProductId,
    /// Units ordered.
    pub quantity: Quantity,
    /// The product's price when the order was placed.
    pub unit_price: Money,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its identifier.
    pub id: OrderId,
    /// Its lines, by ascending product id.
    pub lines: Vec<OrderLine>,
    /// Exact sum of quantity x unit price over the lines.
    pub total: Money,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Who it is for.
    pub customer: Option<Customer>,
    /// The manager who processed it, if it came through the manager surface.
    pub manager_id: Option<ManagerId>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
}

/// The outcome of [`price_order`]: what to store and the stock each product is left with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedOrder {
    /// Priced lines, by ascending product id.
    pub lines: Vec<OrderLine>,
    /// Exact total.
    pub total: Money,
    /// Each product's stock once the order is placed.
    pub stock_after: Vec<(ProductId, Stock)>,
}

impl PricedOrder {
    /// The order as placed: the request's customer, manager and status with these priced lines,
    /// under the id and time the store gave it.
    pub fn into_order(self, id: OrderId, request: &OrderRequest, created_at: DateTime<Utc>) -> Order {
        Order {
            id,
            lines: self.lines,
            total: self.total,
            status: request.status,
            customer: request.customer.clone(),
            manager_id: request.manager_id.clone(),
            created_at,
        }
    }
}

/// Checks an order against the current state of its products and prices it.
///
/// Adapters call this inside their atomic step, with `products` read under lock, and write
/// `stock_after` back only if it succeeds. Lines are checked in product-id order; the first
/// failing line decides the error.
///
/// # Errors
/// [`Error::ProductNotFound`] when a product is absent or, for a manager's order, not that
/// manager's; [`Error::ProductDiscontinued`]; [`Error::InsufficientStock`];
/// [`Violation::TotalTooLarge`] when the total would overflow.
pub fn price_order(request: &OrderRequest, products: &[Product]) -> Result<PricedOrder, Error> {
    let mut lines = Vec::with_capacity(request.lines.len());
    let mut stock_after = Vec::with_capacity(request.lines.len());
    let mut total = Money::ZERO;
    for line in &request.lines {
        let product = products
            .iter()
            .find(|p| p.id == line.product_id)
            .filter(|p| p.visible_to(request.manager_id.as_ref()))
            .ok_or(Error::ProductNotFound(line.product_id))?;
        if product.discontinued {
            return Err(Error::ProductDiscontinued(product.id));
        }
        let (requested, available) = (line.quantity.get(), product.stock.get());
        if available < requested {
            return Err(Error::InsufficientStock { product_id: product.id, requested, available });
        }
        total = product
            .price
            .checked_mul(requested)
            .and_then(|amount| total.checked_add(amount))
            .ok_or(Violation::TotalTooLarge)?;
        lines.push(OrderLine { product_id: product.id, quantity: line.quantity, unit_price: product.price });
        stock_after.push((product.id, Stock::new(i64::from(available - requested)).map_err(anyhow::Error::new)?));
    }
    Ok(PricedOrder { lines, total, stock_after })
}

/// The lines of `request` at `unit_prices` (one per line, in the request's order) and their
/// exact total: the pricing half of [`price_order`], for a store that checked the order against
/// its products and took the stock in one step of its own, and reports the prices it charged.
///
/// # Errors
/// [`Violation::TotalTooLarge`], as [`price_order`]; [`Error::Unexpected`] when the number of
/// prices is not the number of lines.
pub fn price_lines(request: &OrderRequest, unit_prices: &[Money]) -> Result<(Vec<OrderLine>, Money), Error> {
    if unit_prices.len() != request.lines.len() {
        return Err(anyhow::anyhow!("{} prices for {} order lines", unit_prices.len(), request.lines.len()).into());
    }
    let mut total = Money::ZERO;
    let lines = request
        .lines
        .iter()
        .zip(unit_prices)
        .map(|(line, &unit_price)| {
            total = unit_price
                .checked_mul(line.quantity.get())
                .and_then(|amount| total.checked_add(amount))
                .ok_or(Violation::TotalTooLarge)?;
            Ok(OrderLine { product_id: line.product_id, quantity: line.quantity, unit_price })
        })
        .collect::<Result<_, Error>>()?;
    Ok((lines, total))
}

/// Checks that an order may move from `from` to `to`.
///
/// # Errors
/// [`Error::InvalidStatusTransition`] for a move that [`OrderStatus::can_become`] refuses.
pub fn check_transition(from: OrderStatus, to: OrderStatus) -> Result<(), Error> {
    if !from.can_become(to) {
        return Err(Error::InvalidStatusTransition { from, to });
    }
    Ok(())
}

/// The stock each product of `order` is left with once its status changes to `to`, given the
/// products' current rows. Only a cancellation changes stock: its units go back.
///
/// # Errors
/// What [`check_transition`] returns; [`Violation::RestockOverflow`] when putting the units
/// back would exceed the largest stock level (nothing changes); [`Error::ProductNotFound`] when
/// a product of the order is not among `products`.
pub fn stock_after_transition(
    order: &Order,
    to: OrderStatus,
    products: &[Product],
) -> Result<Vec<(ProductId, Stock)>, Error> {
    check_transition(order.status, to)?;
    if to != OrderStatus::Cancelled {
        return Ok(Vec::new());
    }
    order
        .lines
        .iter()
        .map(|line| {
            let product =
                products.iter().find(|p| p.id == line.product_id).ok_or(Error::ProductNotFound(line.product_id))?;
            let restocked = Stock::new(i64::from(product.stock.get()) + i64::from(line.quantity.get()))
                .map_err(|_| Violation::RestockOverflow(line.product_id))?;
            Ok((line.product_id, restocked))
        })
        .collect()
}

/// A caller's idempotency key: 1..=255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a key.
    ///
    /// # Errors
    /// When it is empty, longer than 255 characters or holds anything but visible ASCII.
    pub fn parse(key: &str) -> Result<Self, InvalidValue> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidValue::new("must be 1 to 255 visible ASCII characters"));
        }
        Ok(Self(key.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes an order placement idempotent: the key in its scope, and a fingerprint of the
/// request that a repeat must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// Namespace of the key (the surface, and the manager on the manager surface).
    pub scope: String,
    /// The caller's key.
    pub key: IdempotencyKey,
    /// Digest of the request body.
    pub fingerprint: String,
}

/// What an idempotency key recorded when it first placed an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Digest of the request that placed the order.
    pub fingerprint: String,
    /// The order it placed.
    pub order_id: OrderId,
}

impl Idempotency {
    /// Decides what a request under this key does, given what the key recorded before, if
    /// anything: `None` means place the order; `Some(id)` means answer with order `id` again
    /// and place nothing.
    ///
    /// # Errors
    /// [`Error::IdempotencyKeyReused`] when the key placed an order for another request.
    pub fn replay(&self, earlier: Option<&KeyRecord>) -> Result<Option<OrderId>, Error> {
        match earlier {
            None => Ok(None),
            Some(record) if record.fingerprint == self.fingerprint => Ok(Some(record.order_id)),
            Some(_) => Err(Error::IdempotencyKeyReused),
        }
    }
}

/// The result of placing an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The order.
    pub order: Order,
    /// True when an earlier request with the same idempotency key placed it.
    pub replayed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::{Description, ProductName};

    fn id(n: i64) -> ProductId {
        ProductId::new(n).unwrap()
    }

    fn line(product: i64, quantity: i64) -> RequestedLine {
        RequestedLine { product_id: id(product), quantity: Quantity::new(quantity).unwrap() }
    }

    fn product(n: i64, price: &str, stock: i64) -> Product {
        Product {
            id: id(n),
            manager_id: None,
            name: ProductName::parse(&format!("p{n}")).unwrap(),
            description: Description::default(),
            price: price.parse().unwrap(),
            stock: Stock::new(stock).unwrap(),
            discontinued: false,
        }
    }

    fn request(lines: Vec<RequestedLine>) -> OrderRequest {
        OrderRequest::new(lines, None, None, OrderStatus::Pending).unwrap()
    }

    #[test]
    fn lines_naming_the_same_product_are_merged_and_sorted() {
        let req = request(vec![line(3, 1), line(1, 2), line(3, 4)]);
        assert_eq!(req.lines(), &[line(1, 2), line(3, 5)]);
        assert_eq!(req.product_ids(), vec![id(1), id(3)]);
    }

    #[test]
    fn an_order_needs_between_one_and_a_hundred_lines() {
        assert!(OrderRequest::new(vec![], None, None, OrderStatus::Pending).is_err());
        let many: Vec<_> = (1..=101).map(|n| line(n, 1)).collect();
        assert!(OrderRequest::new(many, None, None, OrderStatus::Pending).is_err());
        let hundred: Vec<_> = (1..=100).map(|n| line(n, 1)).collect();
        assert!(OrderRequest::new(hundred, None, None, OrderStatus::Pending).is_ok());
    }

    #[test]
    fn merged_quantities_may_not_overflow_a_stock_level() {
        let lines = vec![line(1, 2_147_483_647), line(1, 1)];
        let err = OrderRequest::new(lines, None, None, OrderStatus::Pending).unwrap_err();
        assert!(matches!(err, Error::Invalid(Violation::QuantityTooLarge(ids)) if ids == vec![id(1)]));
    }

    #[test]
    fn pricing_is_exact_and_decrements_stock() {
        let priced =
            price_order(&request(vec![line(1, 2), line(2, 1)]), &[product(2, "12.99", 5), product(1, "15.99", 10)])
                .unwrap();
        assert_eq!(priced.total.cents(), 4497);
        assert_eq!(priced.stock_after, vec![(id(1), Stock::new(8).unwrap()), (id(2), Stock::new(4).unwrap())]);
        assert_eq!(priced.lines[0].unit_price.cents(), 1599);
    }

    #[test]
    fn lines_priced_by_a_store_match_price_order() {
        let req = request(vec![line(1, 2), line(2, 1)]);
        let products = [product(2, "12.99", 5), product(1, "15.99", 10)];
        let priced = price_order(&req, &products).unwrap();
        let (lines, total) = price_lines(&req, &[products[1].price, products[0].price]).unwrap();
        assert_eq!((lines, total), (priced.lines, priced.total));
    }

    #[test]
    fn lines_priced_by_a_store_check_their_count_and_total() {
        let req = request(vec![line(1, 2), line(2, 1)]);
        assert!(matches!(price_lines(&req, &[Money::MAX_PRICE]), Err(Error::Unexpected(_))));
        let huge = request(vec![line(1, 2_000_000_000)]);
        let err = price_lines(&huge, &[Money::MAX_PRICE]).unwrap_err();
        assert!(matches!(err, Error::Invalid(Violation::TotalTooLarge)));
    }

    #[test]
    fn ordering_more_than_the_stock_is_refused_with_the_numbers() {
        let err = price_order(&request(vec![line(1, 5)]), &[product(1, "1", 3)]).unwrap_err();
        assert!(matches!(err, Error::InsufficientStock { requested: 5, available: 3, .. }));
    }

    #[test]
    fn exactly_the_stock_can_be_ordered() {
        let priced = price_order(&request(vec![line(1, 3)]), &[product(1, "1", 3)]).unwrap();
        assert_eq!(priced.stock_after[0].1.get(), 0);
    }

    #[test]
    fn missing_discontinued_and_foreign_products_are_refused() {
        assert!(matches!(price_order(&request(vec![line(9, 1)]), &[]), Err(Error::ProductNotFound(p)) if p == id(9)));
        let mut gone = product(1, "1", 3);
        gone.discontinued = true;
        assert!(matches!(price_order(&request(vec![line(1, 1)]), &[gone]), Err(Error::ProductDiscontinued(_))));
        let scoped =
            OrderRequest::new(vec![line(1, 1)], None, Some(ManagerId::parse("m").unwrap()), OrderStatus::Completed)
                .unwrap();
        assert!(matches!(price_order(&scoped, &[product(1, "1", 3)]), Err(Error::ProductNotFound(_))));
    }

    #[test]
    fn only_pending_orders_change_status() {
        use OrderStatus::*;
        assert!(check_transition(Pending, Completed).is_ok());
        assert!(check_transition(Pending, Cancelled).is_ok());
        for (from, to) in [(Pending, Pending), (Completed, Cancelled), (Cancelled, Completed), (Completed, Completed)] {
            assert!(matches!(check_transition(from, to), Err(Error::InvalidStatusTransition { .. })));
        }
    }

    #[test]
    fn a_placed_order_takes_the_requests_customer_manager_and_status() {
        let manager = ManagerId::parse("m").unwrap();
        let request = OrderRequest::new(vec![line(1, 2)], None, Some(manager.clone()), OrderStatus::Completed).unwrap();
        let priced =
            price_order(&request, &[Product { manager_id: Some(manager.clone()), ..product(1, "2.50", 5) }]).unwrap();
        let at = Utc::now();
        let order = priced.into_order(OrderId::new(4).unwrap(), &request, at);
        assert_eq!((order.id.get(), order.total.cents(), order.status), (4, 500, OrderStatus::Completed));
        assert_eq!((order.manager_id, order.created_at, order.lines.len()), (Some(manager), at, 1));
    }

    fn idempotency(fingerprint: &str) -> Idempotency {
        Idempotency { scope: "s".into(), key: IdempotencyKey::parse("k").unwrap(), fingerprint: fingerprint.into() }
    }

    #[test]
    fn a_key_places_once_replays_the_same_request_and_refuses_another() {
        let record = KeyRecord { fingerprint: "f1".into(), order_id: OrderId::new(3).unwrap() };
        assert_eq!(idempotency("f1").replay(None).unwrap(), None);
        assert_eq!(idempotency("f1").replay(Some(&record)).unwrap(), Some(record.order_id));
        assert!(matches!(idempotency("f2").replay(Some(&record)), Err(Error::IdempotencyKeyReused)));
    }

    fn pending_order_of_two_units_of_product_1() -> Order {
        Order {
            id: OrderId::new(1).unwrap(),
            lines: vec![OrderLine { product_id: id(1), quantity: Quantity::new(2).unwrap(), unit_price: Money::ZERO }],
            total: Money::ZERO,
            status: OrderStatus::Pending,
            customer: None,
            manager_id: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn cancelling_puts_the_units_back_and_completing_does_not() {
        let order = pending_order_of_two_units_of_product_1();
        let rows = [product(1, "1", 5)];
        assert_eq!(
            stock_after_transition(&order, OrderStatus::Cancelled, &rows).unwrap(),
            vec![(id(1), Stock::new(7).unwrap())]
        );
        assert!(stock_after_transition(&order, OrderStatus::Completed, &rows).unwrap().is_empty());
    }

    #[test]
    fn a_cancellation_that_would_overflow_the_stock_is_refused_as_invalid() {
        let order = pending_order_of_two_units_of_product_1();
        let rows = [product(1, "1", i64::from(i32::MAX) - 1)];
        match stock_after_transition(&order, OrderStatus::Cancelled, &rows) {
            Err(Error::Invalid(Violation::RestockOverflow(product))) => assert_eq!(product, id(1)),
            other => panic!("expected a restock overflow, got {other:?}"),
        }
    }

    #[test]
    fn emails_must_look_like_addresses() {
        assert!(Email::parse("customer@example.com").is_ok());
        for bad in ["", "a", "a@b", "@b.com", "a b@c.com", "a@.com", "a@b..com", "a@b@c.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_are_at_least_one() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(1).is_ok());
        assert!(Quantity::new(2_147_483_648).is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("abc-123").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
