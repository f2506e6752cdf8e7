//! Listing totals past the size up to which they are counted: the planner's estimate, never a
//! count of the whole table, and never less than what was counted.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use domain::PageRequest;
use domain::ports::{OrderRepository, ProductRepository};
use domain::product::ProductFilter;

use crate::support::store_for;
use adapters::testing::TestDatabase;

/// Past this many rows totals are estimated (`EXACT_TOTAL_UP_TO` in the adapter).
const COUNTED_UP_TO: u64 = 10_000;

#[tokio::test]
async fn past_ten_thousand_rows_a_listing_total_is_the_planners_estimate() {
    let db = TestDatabase::create().await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    conn.batch_execute(
        "INSERT INTO products (name, price_cents, stock, discontinued) \
           SELECT 'p' || g, 100, g % 4, g % 10 = 0 FROM generate_series(1, 30000) AS g; \
         INSERT INTO orders (status, total_cents) SELECT 'pending', 100 FROM generate_series(1, 30000); \
         INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents) SELECT id, 1, 1, 100 FROM orders; \
         ANALYZE products, orders;",
    )
    .await
    .unwrap();
    let store = store_for(&db);

    let orders = OrderRepository::list(&store, PageRequest::offset(0, 50)).await.unwrap();
    assert_eq!(orders.items.len(), 50);
    assert!(orders.more);
    assert!((27_000..=33_000).contains(&orders.total), "estimated about 30,000: {}", orders.total);
    let deep = OrderRepository::list(&store, PageRequest::after(50, 50)).await.unwrap();
    assert_eq!(deep.items.first().map(|o| o.id.get()), Some(49));
    assert_eq!(deep.total, orders.total, "the same estimate at any depth");

    // For sale: 27,000; in stock as well: three in four of those, about 20,250.
    let for_sale = ProductFilter { for_sale_only: true, ..Default::default() };
    let total = ProductRepository::list(&store, for_sale.clone(), PageRequest::offset(0, 10)).await.unwrap().total;
    assert!((24_000..=30_000).contains(&total), "estimated about 27,000: {total}");
    let in_stock = ProductFilter { in_stock_only: true, ..for_sale };
    let total = ProductRepository::list(&store, in_stock, PageRequest::after(100, 10)).await.unwrap().total;
    assert!((COUNTED_UP_TO + 1..=25_000).contains(&total), "estimated about 20,250: {total}");

    // Below the threshold the count is exact: discontinued products number 3,000.
    let gone = ProductFilter { status: Some(domain::product::InventoryStatus::Discontinued), ..Default::default() };
    let total = ProductRepository::list(&store, gone, PageRequest::offset(0, 10)).await.unwrap().total;
    assert_eq!(total, 3_000);
}
