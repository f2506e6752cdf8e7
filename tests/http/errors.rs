//! The error envelope for failures the framework produces, not just the handlers.

use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, expect_error};

on_both_backends!(
    malformed_json_is_400_naming_the_body,
    a_body_that_is_not_json_is_415,
    a_body_over_the_limit_is_413,
    an_unknown_route_is_404_not_found,
    a_wrong_method_is_405,
    head_is_answered_like_get_without_a_body,
    a_panicking_handler_is_500_with_a_generic_body,
    every_response_carries_a_request_id_echoing_the_callers,
);

async fn malformed_json_is_400_naming_the_body(app: TestApp) {
    for raw in ["{\"name\": ", "not json", "", "{\"name\": \"a\"} extra"] {
        let response = app
            .client
            .post(app.url("/products"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let details = expect_error(response, 400, "INVALID_REQUEST").await;
        assert!(details.get("body").is_some(), "{raw}: {details}");
    }
}

async fn a_body_that_is_not_json_is_415(app: TestApp) {
    let response = app
        .client
        .post(app.url("/products"))
        .header("content-type", "text/plain")
        .body(r#"{"name": "Mug", "price": 1, "stock": 1}"#)
        .send()
        .await
        .unwrap();
    expect_error(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let response = app.client.post(app.url("/orders")).body("{}").send().await.unwrap();
    expect_error(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}

async fn a_body_over_the_limit_is_413(app: TestApp) {
    let huge = json!({"name": "Mug", "price": 1, "stock": 1, "description": "x".repeat(1024 * 1024 + 10)});
    expect_error(app.post("/products", &huge).await, 413, "PAYLOAD_TOO_LARGE").await;
    let chunks =
        futures_util::stream::iter((0..200).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 8 * 1024]))));
    let response = app
        .client
        .post(app.url("/products"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
}

async fn an_unknown_route_is_404_not_found(app: TestApp) {
    expect_error(app.get("/nowhere").await, 404, "NOT_FOUND").await;
    expect_error(app.post("/products/1/nothing", &json!({})).await, 404, "NOT_FOUND").await;
}

async fn a_wrong_method_is_405(app: TestApp) {
    for (response, allow) in [
        (app.delete("/products").await, "GET, HEAD, POST"),
        (app.put("/products/1", &json!({})).await, "GET, HEAD, PATCH, DELETE"),
        (app.get("/products/1/quantity").await, "PUT"),
        (app.put("/orders/1", &json!({})).await, "GET, HEAD, PATCH"),
        (app.delete("/orders").await, "GET, HEAD, POST"),
        (app.post("/health", &json!({})).await, "GET, HEAD"),
        (app.delete("/api/inventory/products?manager_id=m1").await, "GET, HEAD, POST"),
        (app.get("/api/orders/process?manager_id=m1").await, "POST"),
    ] {
        assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "Allow header");
        expect_error(response, 405, "METHOD_NOT_ALLOWED").await;
    }
}

async fn head_is_answered_like_get_without_a_body(app: TestApp) {
    let id = app.product("Mug", 12.99, 5).await;
    let path = format!("/products/{id}");
    let got = app.get(&path).await;
    let got_length = got.headers()["content-length"].clone();
    let got_body = got.bytes().await.unwrap();
    let head = app.client.head(app.url(&path)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "application/json");
    assert_eq!(head.headers()["content-length"], got_length);
    assert_eq!(got_length.to_str().unwrap(), got_body.len().to_string());
    assert!(head.headers().contains_key("x-request-id"));
    assert!(head.bytes().await.unwrap().is_empty());

    let missing = app.client.head(app.url("/products/999999")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.bytes().await.unwrap().is_empty());
    assert_eq!(app.client.head(app.url("/health")).send().await.unwrap().status(), StatusCode::OK);

    let first = app.client.head(app.url("/api/inventory/products?manager_id=m1")).send().await.unwrap();
    let second = app.client.head(app.url("/api/inventory/products?manager_id=m1")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["ratelimit-remaining"], "99");
    assert_eq!(second.headers()["ratelimit-remaining"], "98");
    // The audit log keeps the method the client sent.
    let records = app.audit_records(2).await;
    assert!(records.len() == 2 && records.iter().all(|r| r.method == "HEAD"), "{records:?}");
}

async fn a_panicking_handler_is_500_with_a_generic_body(app: TestApp) {
    let response = app.get("/__test/panic").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "INTERNAL_ERROR", "message": "An unexpected error occurred", "details": {}}})
    );
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

async fn every_response_carries_a_request_id_echoing_the_callers(app: TestApp) {
    let response = app.client.get(app.url("/products")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let generated = app.get("/nowhere").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
}
