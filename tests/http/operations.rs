//! Health, readiness and the API description.

use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, body};

on_both_backends!(
    health_and_readiness_answer_200,
    the_openapi_document_covers_every_route,
    swagger_ui_is_served_from_inside_the_binary,
);

async fn health_and_readiness_answer_200(app: TestApp) {
    let response = app.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ready"}));
}

async fn the_openapi_document_covers_every_route(app: TestApp) {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = body(response).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/products", vec!["get", "post"]),
        ("/products/{id}", vec!["get", "patch", "delete"]),
        ("/products/{id}/quantity", vec!["put"]),
        ("/orders", vec!["get", "post"]),
        ("/orders/{id}", vec!["get", "patch"]),
        ("/health", vec!["get"]),
        ("/ready", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/api/inventory/products", vec!["get", "post"]),
        ("/api/inventory/discontinue", vec!["post"]),
        ("/api/orders/process", vec!["post"]),
    ];
    for (path, methods) in expected {
        for method in methods {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} missing");
        }
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

async fn swagger_ui_is_served_from_inside_the_binary(app: TestApp) {
    let response = app.get("/docs").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "/docs/");
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let script = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    let init = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
}
