//! The floor `make bench` compares the service against: the least an actix-web handler can do
//! for the same requests. One worker, no middleware, no validation, no storage port.
//!
//! - `GET /products/{id}`: one product serialised per request.
//! - `GET /products?per_page=100`: 100 products serialised per request.
//! - `GET /prebuilt/products`: the same 100 products, serialised once at start-up.
//! - `POST /orders`: `{"products": [{"product_id", "quantity"}]}` checked and taken from a
//!   mutexed map of stock levels, answered with a small JSON body.
//!
//! `REFERENCE_PORT` (default 8090) and `REFERENCE_PRODUCTS` (default 1000) set it up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
struct Product {
    id: i64,
    name: String,
    description: String,
    price: f64,
    stock: u32,
}

#[derive(Debug, Deserialize)]
struct Line {
    product_id: i64,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct OrderBody {
    products: Vec<Line>,
}

#[derive(Debug)]
struct State {
    products: Vec<Product>,
    prebuilt: web::Bytes,
    stock: Mutex<HashMap<i64, u32>>,
    next_order: Mutex<i64>,
}

async fn product(state: web::Data<State>, id: web::Path<i64>) -> HttpResponse {
    let id = id.into_inner();
    match usize::try_from(id - 1).ok().and_then(|i| state.products.get(i)) {
        Some(product) => HttpResponse::Ok().json(product),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn product_page(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(&state.products[..100.min(state.products.len())])
}

async fn prebuilt_page(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(state.prebuilt.clone())
}

async fn order(state: web::Data<State>, body: web::Json<OrderBody>) -> HttpResponse {
    let total: f64;
    {
        let mut stock = state.stock.lock().unwrap();
        for line in &body.products {
            if stock.get(&line.product_id).is_none_or(|s| *s < line.quantity) {
                return HttpResponse::Conflict().finish();
            }
        }
        total = body
            .products
            .iter()
            .map(|line| {
                *stock.get_mut(&line.product_id).unwrap() -= line.quantity;
                f64::from(line.quantity) * 9.99
            })
            .sum();
    }
    let id = {
        let mut next = state.next_order.lock().unwrap();
        *next += 1;
        *next
    };
    HttpResponse::Created().json(serde_json::json!({"id": id, "status": "pending", "total": total}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("REFERENCE_PORT").ok().and_then(|v| v.parse().ok()).unwrap_or(8090);
    let count: i64 = std::env::var("REFERENCE_PRODUCTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let products: Vec<Product> = (1..=count)
        .map(|id| Product {
            id,
            name: format!("product {id}"),
            description: format!("bench product number {id}"),
            price: 9.99,
            stock: 1_000_000_000,
        })
        .collect();
    let prebuilt = web::Bytes::from(serde_json::to_vec(&products[..100.min(products.len())]).unwrap());
    let stock = products.iter().map(|p| (p.id, p.stock)).collect();
    let state = web::Data::new(State { products, prebuilt, stock: Mutex::new(stock), next_order: Mutex::new(0) });
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/products/{id}", web::get().to(product))
            .route("/products", web::get().to(product_page))
            .route("/prebuilt/products", web::get().to(prebuilt_page))
            .route("/orders", web::post().to(order))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
