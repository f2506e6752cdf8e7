//! Real concurrency over HTTP: many clients at once never oversell.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, body};

on_both_backends!(
    sixty_four_concurrent_orders_for_ten_units_sell_exactly_ten,
    concurrent_multi_product_orders_in_opposite_orders_all_complete,
);

async fn sixty_four_concurrent_orders_for_ten_units_sell_exactly_ten(app: TestApp) {
    let id = app.product("Scarce", 9.99, 10).await;
    let app = Arc::new(app);
    let attempts = (0..64).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            app.post("/orders", &json!({"products": [{"product_id": id, "quantity": 1}]})).await.status()
        })
    });
    let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let placed = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((placed, refused), (10, 54), "{statuses:?}");
    assert_eq!(app.stock_of(id).await, 0);
    assert_eq!(app.get("/orders").await.headers()["x-total-count"], "10");
}

async fn concurrent_multi_product_orders_in_opposite_orders_all_complete(app: TestApp) {
    let a = app.product("A", 1.0, 1000).await;
    let b = app.product("B", 1.0, 1000).await;
    let c = app.product("C", 1.0, 1000).await;
    let app = Arc::new(app);
    let attempts = (0..48).map(|n| {
        let app = app.clone();
        let lines = match n % 3 {
            0 => json!([{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 1}, {"product_id": c, "quantity": 1}]),
            1 => json!([{"product_id": c, "quantity": 1}, {"product_id": b, "quantity": 1}, {"product_id": a, "quantity": 1}]),
            _ => json!([{"product_id": b, "quantity": 1}, {"product_id": c, "quantity": 1}, {"product_id": a, "quantity": 1}]),
        };
        tokio::spawn(async move { app.post("/orders", &json!({"products": lines})).await.status() })
    });
    let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    for id in [a, b, c] {
        assert_eq!(app.stock_of(id).await, 1000 - 48);
    }
    let listed = body(app.get("/orders?per_page=500").await).await;
    assert_eq!(listed.as_array().unwrap().len(), 48);
}
