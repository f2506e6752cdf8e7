//! The three ways to test something new, smallest first; the README's "Writing tests" quotes
//! them. None needs a database.

use std::sync::Arc;

use adapters::memory::MemoryStore;
use domain::Error;
use domain::ids::ProductId;
use domain::ports::MockProductRepository;
use domain::product::{Description, NewProduct, ProductName, Stock};
use domain::services::Catalogue;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Store, TestApp, body};

fn mug() -> NewProduct {
    NewProduct {
        id: None,
        manager_id: None,
        name: ProductName::parse("Mug").unwrap(),
        description: Description::default(),
        price: "12.99".parse().unwrap(),
        stock: Stock::new(5).unwrap(),
    }
}

#[tokio::test]
async fn a_use_case_over_the_memory_store() {
    let catalogue = Catalogue::new(Arc::new(MemoryStore::new()));
    let added = catalogue.add(mug()).await.unwrap();
    assert_eq!(catalogue.get(added.id).await.unwrap().price.cents(), 1299);
}

#[tokio::test]
async fn a_use_case_over_a_mocked_port() {
    let mut products = MockProductRepository::new();
    products.expect_find().returning(|_| Ok(None));
    let catalogue = Catalogue::new(Arc::new(products));
    let missing = catalogue.get(ProductId::new(7).unwrap()).await;
    assert!(matches!(missing, Err(Error::ProductNotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_test_on_the_memory_backend() {
    let app = TestApp::spawn(Store::Memory).await;
    let response = app.post("/products", &json!({"name": "Mug", "price": 12.99, "stock": 5})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["price"], json!(12.99));
}
