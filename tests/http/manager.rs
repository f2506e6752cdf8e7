//! The store-manager surface `/api/...`, exactly as the assessment specifies it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Store, TestApp, body, expect_error};

on_both_backends!(
    the_assessments_example_flow_produces_its_example_bodies,
    items_update_by_id_or_by_name_and_otherwise_create,
    a_batch_with_one_bad_item_is_400_naming_it_and_writes_nothing,
    two_items_with_the_same_name_are_400,
    a_missing_or_blank_manager_id_is_400_everywhere,
    listing_filters_by_status_and_refuses_unknown_ones,
    malformed_ids_are_400,
    a_manager_never_sees_changes_or_orders_another_managers_products,
    discontinuing_twice_is_still_204,
    an_order_that_cannot_be_filled_is_refused_and_changes_nothing,
    processed_orders_are_completed_and_show_on_the_storefront,
    processing_honours_idempotency_keys,
    every_api_response_carries_rate_limit_headers,
    every_api_request_is_audited,
);

async fn load(app: &TestApp, manager: &str, products: Value) -> reqwest::Response {
    app.post("/api/inventory/products", &json!({"manager_id": manager, "products": products})).await
}

async fn items(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/inventory/products?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await
}

async fn the_assessments_example_flow_produces_its_example_bodies(app: TestApp) {
    let response = load(
        &app,
        "mgr_123",
        json!([
            {"name": "Premium Coffee Beans", "price": 15.99, "quantity": 100},
            {"name": "Ceramic Coffee Mug", "price": 12.99, "quantity": 50}
        ]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let listed = json!({"products": [
        {"id": "prod_001", "name": "Premium Coffee Beans", "price": 15.99, "quantity": 100},
        {"id": "prod_002", "name": "Ceramic Coffee Mug", "price": 12.99, "quantity": 50}
    ]});
    assert_eq!(body(response).await, listed);
    assert_eq!(items(&app, "status=in_stock&manager_id=mgr_123").await, listed);

    let response = app
        .post(
            "/api/orders/process",
            &json!({
                "manager_id": "mgr_123",
                "customer": {"id": "cust_456", "email": "customer@example.com"},
                "products": [{"product_id": "prod_001", "quantity": 2}, {"product_id": "prod_002", "quantity": 1}]
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let processed = body(response).await;
    assert_eq!(processed, json!({"order_id": "ord_001", "status": "processed", "total_amount": 44.97}));

    let response =
        app.post("/api/inventory/discontinue", &json!({"manager_id": "mgr_123", "product_id": "prod_001"})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    let discontinued = items(&app, "status=discontinued&manager_id=mgr_123").await;
    assert_eq!(discontinued["products"][0]["id"], "prod_001");
    assert_eq!(discontinued["products"][0]["quantity"], 98);
    let in_stock = items(&app, "status=in_stock&manager_id=mgr_123").await;
    assert_eq!(
        in_stock,
        json!({"products": [{"id": "prod_002", "name": "Ceramic Coffee Mug", "price": 12.99, "quantity": 49}]})
    );
}

async fn items_update_by_id_or_by_name_and_otherwise_create(app: TestApp) {
    load(&app, "m1", json!([{"name": "Beans", "price": 15.99, "quantity": 100}])).await;
    let response = load(
        &app,
        "m1",
        json!([
            {"name": "Beans", "price": 14.5, "quantity": 80},
            {"id": "prod_001", "name": "Beans", "price": 14.5, "quantity": 80, "description": "dark"}
        ]),
    )
    .await;
    expect_error(response, 400, "INVALID_REQUEST").await;
    let response = load(
        &app,
        "m1",
        json!([{"name": "Beans", "price": 14.5, "quantity": 80}, {"name": "Filters", "price": 3, "quantity": 10}]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let stored = body(response).await;
    assert_eq!(stored["products"][0], json!({"id": "prod_001", "name": "Beans", "price": 14.5, "quantity": 80}));
    assert_eq!(stored["products"][1]["id"], "prod_002");
    let response =
        load(&app, "m1", json!([{"id": "prod_2", "name": "Paper filters", "price": 2.5, "quantity": 7}])).await;
    assert_eq!(
        body(response).await["products"][0],
        json!({"id": "prod_002", "name": "Filters", "price": 2.5, "quantity": 7})
    );
    assert_eq!(items(&app, "manager_id=m1").await["products"].as_array().unwrap().len(), 2);
}

async fn a_batch_with_one_bad_item_is_400_naming_it_and_writes_nothing(app: TestApp) {
    let response = load(
        &app,
        "m1",
        json!([{"name": "Beans", "price": 15.99, "quantity": 100}, {"name": "Mug", "price": 12.999, "quantity": 5}]),
    )
    .await;
    let details = expect_error(response, 400, "INVALID_REQUEST").await;
    assert!(details.get("products[1].price").is_some(), "{details}");
    for (item, field) in [
        (json!({"name": "", "price": 1, "quantity": 1}), "products[0].name"),
        (json!({"name": "x", "price": -1, "quantity": 1}), "products[0].price"),
        (json!({"name": "x", "price": 1, "quantity": -1}), "products[0].quantity"),
        (json!({"name": "x", "price": 1}), "products[0].quantity"),
        (json!({"name": "x", "price": "1", "quantity": 1}), "products[0].price"),
    ] {
        let details = expect_error(load(&app, "m1", json!([item])).await, 400, "INVALID_REQUEST").await;
        assert!(details.get(field).is_some(), "{field}: {details}");
    }
    expect_error(load(&app, "m1", json!([])).await, 400, "INVALID_REQUEST").await;
    let response = load(&app, "m1", json!([{"id": "prod_404", "name": "x", "price": 1, "quantity": 1}])).await;
    let details = expect_error(response, 404, "PRODUCT_NOT_FOUND").await;
    assert_eq!(details["product_id"], "prod_404");
    assert_eq!(items(&app, "manager_id=m1").await, json!({"products": []}));
    assert_eq!(body(app.get("/products").await).await, json!([]));
}

async fn two_items_with_the_same_name_are_400(app: TestApp) {
    let response = load(
        &app,
        "m1",
        json!([{"name": "Mug", "price": 1, "quantity": 1}, {"name": "Mug", "price": 2, "quantity": 2}]),
    )
    .await;
    let details = expect_error(response, 400, "INVALID_REQUEST").await;
    assert!(details.get("products[1].name").is_some(), "{details}");
    assert_eq!(items(&app, "manager_id=m1").await, json!({"products": []}));
}

async fn a_missing_or_blank_manager_id_is_400_everywhere(app: TestApp) {
    let item = json!([{"name": "Mug", "price": 1, "quantity": 1}]);
    for manager in [json!(null), json!("   ")] {
        let mut request = json!({"products": item});
        if !manager.is_null() {
            request["manager_id"] = manager.clone();
        }
        let details = expect_error(app.post("/api/inventory/products", &request).await, 400, "INVALID_REQUEST").await;
        assert!(details.get("manager_id").is_some(), "{details}");
    }
    for query in ["", "?manager_id=", "?manager_id=%20%20", "?status=in_stock"] {
        let details =
            expect_error(app.get(&format!("/api/inventory/products{query}")).await, 400, "INVALID_REQUEST").await;
        assert!(details.get("manager_id").is_some(), "{query}: {details}");
    }
    let details = expect_error(
        app.post("/api/inventory/discontinue", &json!({"product_id": "prod_001"})).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(details.get("manager_id").is_some());
    let order = json!({"manager_id": "", "customer": {"id": "c", "email": "c@example.com"}, "products": [{"product_id": "prod_001", "quantity": 1}]});
    let details = expect_error(app.post("/api/orders/process", &order).await, 400, "INVALID_REQUEST").await;
    assert!(details.get("manager_id").is_some());
}

async fn listing_filters_by_status_and_refuses_unknown_ones(app: TestApp) {
    load(&app, "m1", json!([{"name": "a", "price": 1, "quantity": 3}, {"name": "b", "price": 1, "quantity": 0}, {"name": "c", "price": 1, "quantity": 3}])).await;
    app.post("/api/inventory/discontinue", &json!({"manager_id": "m1", "product_id": "prod_003"})).await;
    let ids = |v: Value| {
        v["products"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(items(&app, "manager_id=m1").await), vec!["prod_001", "prod_002", "prod_003"]);
    assert_eq!(ids(items(&app, "manager_id=m1&status=in_stock").await), vec!["prod_001"]);
    assert_eq!(ids(items(&app, "manager_id=m1&status=out_of_stock").await), vec!["prod_002"]);
    assert_eq!(ids(items(&app, "manager_id=m1&status=discontinued").await), vec!["prod_003"]);
    let details =
        expect_error(app.get("/api/inventory/products?manager_id=m1&status=sold").await, 400, "INVALID_REQUEST").await;
    assert!(details.get("status").is_some());
}

async fn malformed_ids_are_400(app: TestApp) {
    for id in ["001", "prod_", "prod_abc", "ord_001", "prod_0"] {
        let response = app.post("/api/inventory/discontinue", &json!({"manager_id": "m1", "product_id": id})).await;
        let details = expect_error(response, 400, "INVALID_REQUEST").await;
        assert!(details.get("product_id").is_some(), "{id}: {details}");
    }
    let order = json!({"manager_id": "m1", "customer": {"id": "c", "email": "c@example.com"}, "products": [{"product_id": "prod_x", "quantity": 1}]});
    let details = expect_error(app.post("/api/orders/process", &order).await, 400, "INVALID_REQUEST").await;
    assert!(details.get("products[0].product_id").is_some(), "{details}");
    let response = load(&app, "m1", json!([{"id": "p1", "name": "x", "price": 1, "quantity": 1}])).await;
    assert!(expect_error(response, 400, "INVALID_REQUEST").await.get("products[0].id").is_some());
}

async fn a_manager_never_sees_changes_or_orders_another_managers_products(app: TestApp) {
    load(&app, "alice", json!([{"name": "Mug", "price": 5, "quantity": 10}])).await;
    let storefront = app.product("Unowned", 1.0, 10).await;
    assert_eq!(items(&app, "manager_id=bob").await, json!({"products": []}));
    for product in ["prod_001", &format!("prod_{storefront:03}")] {
        let response =
            app.post("/api/inventory/discontinue", &json!({"manager_id": "bob", "product_id": product})).await;
        let details = expect_error(response, 404, "PRODUCT_NOT_FOUND").await;
        assert_eq!(details["product_id"], product);
        let order = json!({"manager_id": "bob", "customer": {"id": "c", "email": "c@example.com"}, "products": [{"product_id": product, "quantity": 1}]});
        expect_error(app.post("/api/orders/process", &order).await, 404, "PRODUCT_NOT_FOUND").await;
    }
    let response = load(&app, "bob", json!([{"id": "prod_001", "name": "Mug", "price": 0, "quantity": 0}])).await;
    expect_error(response, 404, "PRODUCT_NOT_FOUND").await;
    let response = load(&app, "bob", json!([{"name": "Mug", "price": 7, "quantity": 1}])).await;
    assert_eq!(body(response).await["products"][0]["id"], format!("prod_{:03}", storefront + 1));
    assert_eq!(
        items(&app, "manager_id=alice").await,
        json!({"products": [{"id": "prod_001", "name": "Mug", "price": 5.0, "quantity": 10}]})
    );
}

async fn discontinuing_twice_is_still_204(app: TestApp) {
    load(&app, "m1", json!([{"name": "Mug", "price": 5, "quantity": 10}])).await;
    for _ in 0..2 {
        let response =
            app.post("/api/inventory/discontinue", &json!({"manager_id": "m1", "product_id": "prod_001"})).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    expect_error(
        app.post("/api/inventory/discontinue", &json!({"manager_id": "m1", "product_id": "prod_999"})).await,
        404,
        "PRODUCT_NOT_FOUND",
    )
    .await;
}

async fn an_order_that_cannot_be_filled_is_refused_and_changes_nothing(app: TestApp) {
    load(&app, "m1", json!([{"name": "a", "price": 1, "quantity": 3}, {"name": "b", "price": 1, "quantity": 3}])).await;
    let order = |lines: Value| json!({"manager_id": "m1", "customer": {"id": "c", "email": "c@example.com"}, "products": lines});
    let response = app
        .post(
            "/api/orders/process",
            &order(json!([{"product_id": "prod_001", "quantity": 1}, {"product_id": "prod_002", "quantity": 4}])),
        )
        .await;
    let details = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(details, json!({"product_id": "prod_002", "requested": 4, "available": 3}));
    app.post("/api/inventory/discontinue", &json!({"manager_id": "m1", "product_id": "prod_002"})).await;
    let response = app.post("/api/orders/process", &order(json!([{"product_id": "prod_002", "quantity": 1}]))).await;
    expect_error(response, 409, "PRODUCT_DISCONTINUED").await;
    let bad_email = json!({"manager_id": "m1", "customer": {"id": "c", "email": "nope"}, "products": [{"product_id": "prod_001", "quantity": 1}]});
    assert!(
        expect_error(app.post("/api/orders/process", &bad_email).await, 400, "INVALID_REQUEST")
            .await
            .get("customer.email")
            .is_some()
    );
    let no_customer = json!({"manager_id": "m1", "products": [{"product_id": "prod_001", "quantity": 1}]});
    assert!(
        expect_error(app.post("/api/orders/process", &no_customer).await, 400, "INVALID_REQUEST")
            .await
            .get("customer")
            .is_some()
    );
    assert_eq!(items(&app, "manager_id=m1&status=in_stock").await["products"][0]["quantity"], 3);
    assert_eq!(body(app.get("/orders").await).await, json!([]));
}

async fn processed_orders_are_completed_and_show_on_the_storefront(app: TestApp) {
    load(&app, "m1", json!([{"name": "a", "price": 2.5, "quantity": 3}])).await;
    let order = json!({"manager_id": "m1", "customer": {"id": "c9", "email": "c9@example.com"}, "products": [{"product_id": "prod_001", "quantity": 2}]});
    let processed = body(app.post("/api/orders/process", &order).await).await;
    assert_eq!(processed["order_id"], "ord_001");
    let orders = body(app.get("/orders").await).await;
    assert_eq!(orders[0]["id"], 1);
    assert_eq!(orders[0]["status"], "completed");
    assert_eq!(orders[0]["total_price"], 5.0);
    assert_eq!(orders[0]["customer"], json!({"id": "c9", "email": "c9@example.com"}));
    let response = app.patch("/orders/1", &json!({"status": "cancelled"})).await;
    expect_error(response, 409, "INVALID_STATUS_TRANSITION").await;
}

async fn processing_honours_idempotency_keys(app: TestApp) {
    load(&app, "m1", json!([{"name": "a", "price": 1, "quantity": 10}])).await;
    let order = |q: i64| json!({"manager_id": "m1", "customer": {"id": "c", "email": "c@example.com"}, "products": [{"product_id": "prod_001", "quantity": q}]});
    let send = |q: i64| {
        app.client.post(app.url("/api/orders/process")).header("Idempotency-Key", "k-1").json(&order(q)).send()
    };
    let first = body(send(2).await.unwrap()).await;
    let second = send(2).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(body(second).await, first);
    expect_error(send(3).await.unwrap(), 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(items(&app, "manager_id=m1").await["products"][0]["quantity"], 8);
}

async fn every_api_response_carries_rate_limit_headers(app: TestApp) {
    let ok = app.get("/api/inventory/products?manager_id=m1").await;
    let invalid = app.get("/api/inventory/products").await;
    let unknown = app.get("/api/nothing?manager_id=m1").await;
    let huge =
        json!({"manager_id": "m1", "products": [{"name": "x".repeat(1024 * 1024 + 1), "price": 1, "quantity": 1}]});
    let too_large = app.post("/api/inventory/products", &huge).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    for response in [&ok, &invalid, &unknown, &too_large] {
        for header in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
            assert!(response.headers().get(header).is_some(), "{header} missing on {}", response.status());
        }
    }
    assert_eq!(ok.headers()["ratelimit-limit"], "100");
    assert_eq!(ok.headers()["ratelimit-remaining"], "99");
    assert_eq!(unknown.headers()["ratelimit-remaining"], "98");
    expect_error(unknown, 404, "NOT_FOUND").await;
    assert!(app.get("/products").await.headers().get("ratelimit-limit").is_none());
}

async fn every_api_request_is_audited(app: TestApp) {
    let response = app
        .client
        .get(app.url("/api/inventory/products?manager_id=auditee"))
        .header("x-request-id", "audit-me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    load(&app, "auditee", json!([{"name": "x", "price": "bad", "quantity": 1}])).await;
    let records = app.audit_records(2).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let (newest, oldest) = (&records[0], &records[1]);
    assert_eq!((newest.method.as_str(), newest.path.as_str(), newest.status), ("POST", "/api/inventory/products", 400));
    assert_eq!(newest.manager_id.as_deref(), Some("auditee"));
    assert_eq!((oldest.method.as_str(), oldest.status, oldest.request_id.as_str()), ("GET", 200, "audit-me"));
    assert!(oldest.duration_ms >= 0.0 && oldest.at <= newest.at);
}

mod rate_limit {
    use super::*;

    async fn limited(store: Store) -> TestApp {
        TestApp::spawn_with(store, |settings| settings.rate_limit.requests = 5).await
    }

    async fn the_request_past_the_limit_is_429_with_retry_after(app: TestApp) {
        for n in 0..5 {
            let response = app.get("/api/inventory/products?manager_id=busy").await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["ratelimit-remaining"], (4 - n).to_string().as_str());
        }
        let response =
            app.post("/api/inventory/discontinue", &json!({"manager_id": "busy", "product_id": "prod_001"})).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry_after));
        assert_eq!(response.headers()["ratelimit-remaining"], "0");
        expect_error(response, 429, "RATE_LIMITED").await;
        let other = app.get("/api/inventory/products?manager_id=calm").await;
        assert_eq!(other.status(), StatusCode::OK);
        assert_eq!(app.get("/products").await.status(), StatusCode::OK);
    }

    mod memory {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_request_past_the_limit_is_429_with_retry_after() {
            super::the_request_past_the_limit_is_429_with_retry_after(super::limited(super::Store::Memory).await).await;
        }
    }

    mod postgres {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_request_past_the_limit_is_429_with_retry_after() {
            super::the_request_past_the_limit_is_429_with_retry_after(super::limited(super::Store::Postgres).await)
                .await;
        }
    }
}
