//! `/orders` on the storefront.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, body, expect_error};

on_both_backends!(
    placing_an_order_returns_201_pending_with_an_exact_total_and_decrements_stock,
    lines_naming_the_same_product_are_merged,
    ordering_more_than_the_stock_is_409_with_the_numbers_and_changes_nothing,
    an_order_with_one_unknown_product_is_404_and_changes_nothing,
    the_single_line_shorthand_is_accepted,
    invalid_order_bodies_are_400_naming_the_field,
    an_order_reads_back_and_an_unknown_order_is_404,
    orders_are_listed_newest_first_with_pagination,
    older_orders_are_reached_by_an_after_cursor_from_the_next_link,
    a_bad_or_mixed_after_cursor_is_400_naming_it,
    completing_an_order_keeps_the_stock_and_cannot_be_undone,
    cancelling_an_order_puts_the_stock_back,
    a_cancellation_that_would_overflow_the_stock_is_400_and_changes_nothing,
    only_completed_or_cancelled_are_accepted_as_new_status,
    a_repeated_idempotency_key_returns_the_first_order_and_places_nothing,
    an_idempotency_key_reused_with_another_body_is_422,
);

fn order(lines: &[(i64, i64)]) -> Value {
    json!({"products": lines.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>()})
}

async fn placing_an_order_returns_201_pending_with_an_exact_total_and_decrements_stock(app: TestApp) {
    let beans = app.product("Premium Coffee Beans", 15.99, 100).await;
    let mug = app.product("Ceramic Coffee Mug", 12.99, 50).await;
    let mut request = order(&[(beans, 2), (mug, 1)]);
    request["customer"] = json!({"id": "cust_456", "email": "customer@example.com"});
    let response = app.post("/orders", &request).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let placed = body(response).await;
    assert_eq!(location, format!("/orders/{}", placed["id"]));
    assert_eq!(placed["total_price"].to_string(), "44.97");
    assert_eq!(placed["status"], "pending");
    assert_eq!(placed["customer"], json!({"id": "cust_456", "email": "customer@example.com"}));
    assert_eq!(
        placed["products"],
        json!([
            {"product_id": beans, "quantity": 2, "unit_price": 15.99},
            {"product_id": mug, "quantity": 1, "unit_price": 12.99},
        ])
    );
    let created_at = placed["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok() && created_at.ends_with('Z'), "{created_at}");
    let keys: Vec<&String> = placed.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 6, "{placed}");
    assert_eq!(app.stock_of(beans).await, 98);
    assert_eq!(app.stock_of(mug).await, 49);
}

async fn lines_naming_the_same_product_are_merged(app: TestApp) {
    let mug = app.product("Mug", 2.5, 10).await;
    let placed = body(app.post("/orders", &order(&[(mug, 2), (mug, 3)])).await).await;
    assert_eq!(placed["products"], json!([{"product_id": mug, "quantity": 5, "unit_price": 2.5}]));
    assert_eq!(placed["total_price"], 12.5);
    assert_eq!(app.stock_of(mug).await, 5);
    let response = app.post("/orders", &order(&[(mug, 3), (mug, 3)])).await;
    let details = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(details, json!({"product_id": mug, "requested": 6, "available": 5}));
}

async fn ordering_more_than_the_stock_is_409_with_the_numbers_and_changes_nothing(app: TestApp) {
    let plenty = app.product("Plenty", 1.0, 100).await;
    let scarce = app.product("Scarce", 1.0, 3).await;
    let response = app.post("/orders", &order(&[(plenty, 10), (scarce, 5)])).await;
    let details = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(details, json!({"product_id": scarce, "requested": 5, "available": 3}));
    assert_eq!(app.stock_of(plenty).await, 100);
    assert_eq!(app.stock_of(scarce).await, 3);
    assert_eq!(body(app.get("/orders").await).await, json!([]));
}

async fn an_order_with_one_unknown_product_is_404_and_changes_nothing(app: TestApp) {
    let mug = app.product("Mug", 1.0, 5).await;
    let response = app.post("/orders", &order(&[(mug, 1), (987654, 1)])).await;
    let details = expect_error(response, 404, "PRODUCT_NOT_FOUND").await;
    assert_eq!(details["product_id"], 987654);
    assert_eq!(app.stock_of(mug).await, 5);
}

async fn the_single_line_shorthand_is_accepted(app: TestApp) {
    let mug = app.product("Mug", 3.0, 5).await;
    let response = app.post("/orders", &json!({"product_id": mug, "quantity": 2, "user_id": "u1"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let placed = body(response).await;
    assert_eq!(placed["total_price"], 6.0);
    assert_eq!(placed["customer"], json!({"id": "u1", "email": null}));
    assert_eq!(app.stock_of(mug).await, 3);
}

async fn invalid_order_bodies_are_400_naming_the_field(app: TestApp) {
    let mug = app.product("Mug", 3.0, 5).await;
    let cases = [
        (json!({"products": []}), "products"),
        (json!({}), "products"),
        (json!({"products": [{"product_id": mug, "quantity": 0}]}), "products[0].quantity"),
        (
            json!({"products": [{"product_id": mug, "quantity": 1}, {"product_id": -1, "quantity": 1}]}),
            "products[1].product_id",
        ),
        (json!({"products": [{"product_id": mug}]}), "products[0].quantity"),
        (json!({"products": [{"product_id": "one", "quantity": 1}]}), "products[0].product_id"),
        (
            json!({"products": [{"product_id": mug, "quantity": 1}], "customer": {"id": "c", "email": "nope"}}),
            "customer.email",
        ),
        (
            json!({"products": [{"product_id": mug, "quantity": 1}], "customer": {"id": " ", "email": "a@b.co"}}),
            "customer.id",
        ),
        (
            json!({"products": (1..=101).map(|i| json!({"product_id": i, "quantity": 1})).collect::<Vec<_>>()}),
            "products",
        ),
        (json!({"product_id": mug}), "quantity"),
    ];
    for (request, field) in cases {
        let details = expect_error(app.post("/orders", &request).await, 400, "INVALID_REQUEST").await;
        assert!(details.get(field).is_some(), "{field} not in {details} for {request}");
    }
    assert_eq!(app.stock_of(mug).await, 5);
}

async fn an_order_reads_back_and_an_unknown_order_is_404(app: TestApp) {
    let mug = app.product("Mug", 3.0, 5).await;
    let placed = body(app.post("/orders", &order(&[(mug, 1)])).await).await;
    let response = app.get(&format!("/orders/{}", placed["id"])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, placed);
    let details = expect_error(app.get("/orders/777777").await, 404, "ORDER_NOT_FOUND").await;
    assert_eq!(details["order_id"], 777777);
    expect_error(app.get("/orders/first").await, 400, "INVALID_REQUEST").await;
}

async fn orders_are_listed_newest_first_with_pagination(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(body(app.post("/orders", &order(&[(mug, 1)])).await).await["id"].as_i64().unwrap());
    }
    let response = app.get("/orders?per_page=2").await;
    assert_eq!(response.headers()["x-total-count"], "3");
    assert!(response.headers()["link"].to_str().unwrap().contains("rel=\"next\""));
    let listed: Vec<i64> = body(response).await.as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, vec![ids[2], ids[1]]);
    let rest: Vec<i64> = body(app.get("/orders?skip=2&limit=2").await)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(rest, vec![ids[0]]);
}

async fn older_orders_are_reached_by_an_after_cursor_from_the_next_link(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(body(app.post("/orders", &order(&[(mug, 1)])).await).await["id"].as_i64().unwrap());
    }
    let response = app.get("/orders?per_page=2").await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let next = format!("/orders?after={}&per_page=2", ids[3]);
    assert!(link.contains(&format!("<{next}>; rel=\"next\"")), "{link}");

    let response = app.get(&next).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-total-count"], "5");
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains(&format!("</orders?after={}&per_page=2>; rel=\"next\"", ids[1])), "{link}");
    let page = body(response).await;
    let listed: Vec<i64> = page.as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, vec![ids[2], ids[1]]);
    assert_eq!(page[0]["products"][0]["product_id"], mug);

    let response = app.get(&format!("/orders?after={}&limit=2", ids[1])).await;
    assert!(!response.headers()["link"].to_str().unwrap().contains("rel=\"next\""));
    let listed: Vec<i64> = body(response).await.as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, vec![ids[0]]);
}

async fn a_bad_or_mixed_after_cursor_is_400_naming_it(app: TestApp) {
    for query in ["after=0", "after=-5", "after=1.5", "after=", "after=2&page=1", "after=2&skip=4"] {
        let details = expect_error(app.get(&format!("/orders?{query}")).await, 400, "INVALID_REQUEST").await;
        assert!(details.get("after").is_some(), "{query}: {details}");
    }
}

async fn completing_an_order_keeps_the_stock_and_cannot_be_undone(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let id = body(app.post("/orders", &order(&[(mug, 4)])).await).await["id"].clone();
    let response = app.patch(&format!("/orders/{id}"), &json!({"status": "completed"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["status"], "completed");
    assert_eq!(app.stock_of(mug).await, 6);
    let response = app.patch(&format!("/orders/{id}"), &json!({"status": "cancelled"})).await;
    let details = expect_error(response, 409, "INVALID_STATUS_TRANSITION").await;
    assert_eq!(details, json!({"from": "completed", "to": "cancelled"}));
    assert_eq!(app.stock_of(mug).await, 6);
}

async fn cancelling_an_order_puts_the_stock_back(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let beans = app.product("Beans", 1.0, 10).await;
    let id = body(app.post("/orders", &order(&[(mug, 4), (beans, 10)])).await).await["id"].clone();
    assert_eq!(app.stock_of(beans).await, 0);
    let response = app.patch(&format!("/orders/{id}"), &json!({"status": "cancelled"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["status"], "cancelled");
    assert_eq!(app.stock_of(mug).await, 10);
    assert_eq!(app.stock_of(beans).await, 10);
    let again = app.patch(&format!("/orders/{id}"), &json!({"status": "cancelled"})).await;
    expect_error(again, 409, "INVALID_STATUS_TRANSITION").await;
    assert_eq!(app.stock_of(mug).await, 10);
    expect_error(app.patch("/orders/555555", &json!({"status": "cancelled"})).await, 404, "ORDER_NOT_FOUND").await;
}

async fn a_cancellation_that_would_overflow_the_stock_is_400_and_changes_nothing(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let id = body(app.post("/orders", &order(&[(mug, 2)])).await).await["id"].clone();
    let full = app.put(&format!("/products/{mug}/quantity"), &json!({"quantity": 2_147_483_647_i64})).await;
    assert_eq!(full.status(), StatusCode::OK);
    let details = expect_error(
        app.patch(&format!("/orders/{id}"), &json!({"status": "cancelled"})).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(details["status"].as_str().is_some_and(|m| m.contains("stock")), "{details}");
    assert_eq!(app.stock_of(mug).await, 2_147_483_647);
    assert_eq!(body(app.get(&format!("/orders/{id}")).await).await["status"], "pending");
}

async fn only_completed_or_cancelled_are_accepted_as_new_status(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let id = body(app.post("/orders", &order(&[(mug, 1)])).await).await["id"].clone();
    for status in [json!("pending"), json!("shipped"), json!(3)] {
        let details =
            expect_error(app.patch(&format!("/orders/{id}"), &json!({"status": status})).await, 400, "INVALID_REQUEST")
                .await;
        assert!(details.get("status").is_some(), "{details}");
    }
}

async fn a_repeated_idempotency_key_returns_the_first_order_and_places_nothing(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let request = order(&[(mug, 3)]);
    let send = || app.client.post(app.url("/orders")).header("Idempotency-Key", "key-1").json(&request).send();
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let second = send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(body(second).await, first);
    assert_eq!(app.stock_of(mug).await, 7);
    assert_eq!(body(app.get("/orders").await).await.as_array().unwrap().len(), 1);
}

async fn an_idempotency_key_reused_with_another_body_is_422(app: TestApp) {
    let mug = app.product("Mug", 1.0, 10).await;
    let send = |quantity: i64| {
        app.client.post(app.url("/orders")).header("Idempotency-Key", "key-2").json(&order(&[(mug, quantity)])).send()
    };
    assert_eq!(send(1).await.unwrap().status(), StatusCode::CREATED);
    expect_error(send(2).await.unwrap(), 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.stock_of(mug).await, 9);
}
