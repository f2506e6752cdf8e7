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
        (app.delete("/products").await, "GET, POST"),
        (app.put("/products/1", &json!({})).await, "GET, PATCH, DELETE"),
        (app.get("/products/1/quantity").await, "PUT"),
        (app.put("/orders/1", &json!({})).await, "GET, PATCH"),
        (app.delete("/orders").await, "GET, POST"),
        (app.post("/health", &json!({})).await, "GET"),
        (app.delete("/api/inventory/products?manager_id=m1").await, "GET, POST"),
        (app.get("/api/orders/process?manager_id=m1").await, "POST"),
    ] {
        assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "Allow header");
        expect_error(response, 405, "METHOD_NOT_ALLOWED").await;
    }
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
