//! `/products` on the storefront.

use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, body, expect_error};

on_both_backends!(
    an_empty_catalogue_lists_as_200_and_an_empty_array,
    creating_a_product_returns_201_with_its_location_and_exact_shape,
    a_created_product_reads_back_identically,
    an_explicit_free_id_is_honoured_and_automatic_ids_skip_it,
    an_explicit_id_that_is_taken_is_409_product_exists,
    the_largest_explicit_id_leaves_room_for_automatic_ids,
    a_price_with_more_than_two_decimals_is_400_not_rounded,
    every_invalid_field_is_named_in_details,
    missing_and_mistyped_fields_are_named_in_details,
    patching_changes_only_the_given_fields,
    an_empty_patch_is_400,
    putting_a_quantity_sets_the_stock,
    deleting_discontinues_the_product_and_removes_it_from_the_listing,
    an_unknown_product_is_404_and_a_malformed_id_is_400,
    listing_is_paginated_by_page_with_total_and_links,
    listing_is_paginated_by_skip_and_limit,
    following_next_links_walks_the_listing_by_cursor,
    bad_pagination_values_are_400_naming_the_parameter,
    in_stock_true_lists_only_products_with_stock,
    trailing_slashes_are_answered_directly_without_redirect,
);

async fn an_empty_catalogue_lists_as_200_and_an_empty_array(app: TestApp) {
    let response = app.get("/products").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-total-count"], "0");
    assert_eq!(body(response).await, json!([]));
}

async fn creating_a_product_returns_201_with_its_location_and_exact_shape(app: TestApp) {
    let response = app
        .post(
            "/products",
            &json!({"name": "  Premium Coffee Beans ", "description": "1 kg", "price": 15.99, "stock": 100}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let product = body(response).await;
    assert_eq!(location, format!("/products/{}", product["id"]));
    assert_eq!(
        product,
        json!({"id": product["id"], "name": "Premium Coffee Beans", "description": "1 kg", "price": 15.99, "stock": 100})
    );
    let without_description = body(app.post("/products", &json!({"name": "Mug", "price": 12, "stock": 0})).await).await;
    assert_eq!(without_description["description"], "");
    assert_eq!(without_description["price"], 12.0);
    let whole_float = app.post("/products", &json!({"name": "Cup", "price": 3, "stock": 40.0})).await;
    assert_eq!(whole_float.status(), StatusCode::CREATED);
    assert_eq!(body(whole_float).await["stock"], 40);
}

async fn a_created_product_reads_back_identically(app: TestApp) {
    let created = body(app.post("/products", &json!({"name": "Mug", "price": 12.99, "stock": 50})).await).await;
    let response = app.get(&format!("/products/{}", created["id"])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, created);
}

async fn an_explicit_free_id_is_honoured_and_automatic_ids_skip_it(app: TestApp) {
    let response = app.post("/products", &json!({"id": 2, "name": "Two", "price": 1, "stock": 1})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["id"], 2);
    let first = app.product("auto one", 1.0, 1).await;
    let second = app.product("auto two", 1.0, 1).await;
    assert_ne!(first, 2);
    assert_ne!(second, 2);
    assert_ne!(first, second);
}

async fn the_largest_explicit_id_leaves_room_for_automatic_ids(app: TestApp) {
    let response = app.post("/products", &json!({"id": 2147483647_i64, "name": "Last", "price": 1, "stock": 1})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let next = app.product("after it", 1.0, 1).await;
    assert!(next > 2147483647, "{next}");
    let response =
        app.post("/products", &json!({"id": 2147483648_i64, "name": "Too far", "price": 1, "stock": 1})).await;
    assert!(expect_error(response, 400, "INVALID_REQUEST").await.get("id").is_some());
    expect_error(app.get("/products/9007199254740992").await, 400, "INVALID_REQUEST").await;
    expect_error(app.get("/products/9007199254740991").await, 404, "PRODUCT_NOT_FOUND").await;
}

async fn an_explicit_id_that_is_taken_is_409_product_exists(app: TestApp) {
    let id = app.product("Mug", 1.0, 1).await;
    let response = app.post("/products", &json!({"id": id, "name": "Other", "price": 1, "stock": 1})).await;
    let details = expect_error(response, 409, "PRODUCT_EXISTS").await;
    assert_eq!(details["product_id"], id);
    assert_eq!(body(app.get(&format!("/products/{id}")).await).await["name"], "Mug");
}

async fn a_price_with_more_than_two_decimals_is_400_not_rounded(app: TestApp) {
    let response = app.post("/products", &json!({"name": "Mug", "price": 15.999, "stock": 1})).await;
    let details = expect_error(response, 400, "INVALID_REQUEST").await;
    assert!(details.get("price").is_some(), "{details}");
    assert_eq!(body(app.get("/products").await).await, json!([]));
}

async fn every_invalid_field_is_named_in_details(app: TestApp) {
    let long = "x".repeat(201);
    let response = app
        .post("/products", &json!({"name": long, "description": "d".repeat(5001), "price": -1, "stock": -5, "id": 0}))
        .await;
    let details = expect_error(response, 400, "INVALID_REQUEST").await;
    for field in ["name", "description", "price", "stock", "id"] {
        assert!(details.get(field).is_some(), "{field} missing in {details}");
    }
    let response =
        app.post("/products", &json!({"name": "   ", "price": 1000000000.01, "stock": 2147483648_i64})).await;
    let details = expect_error(response, 400, "INVALID_REQUEST").await;
    for field in ["name", "price", "stock"] {
        assert!(details.get(field).is_some(), "{field} missing in {details}");
    }
}

async fn missing_and_mistyped_fields_are_named_in_details(app: TestApp) {
    let details =
        expect_error(app.post("/products", &json!({"name": "Mug", "stock": 1})).await, 400, "INVALID_REQUEST").await;
    assert_eq!(details["price"], "is required");
    let details = expect_error(
        app.post("/products", &json!({"name": "Mug", "price": "cheap", "stock": 1})).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(details.get("price").is_some(), "{details}");
    let details = expect_error(
        app.post("/products", &json!({"name": "Mug", "price": 1, "stock": 1.5})).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(details.get("stock").is_some(), "{details}");
    let details = expect_error(app.post("/products", &json!([1, 2])).await, 400, "INVALID_REQUEST").await;
    assert!(details.get("body").is_some(), "{details}");
}

async fn patching_changes_only_the_given_fields(app: TestApp) {
    let id = app.product("Mug", 12.99, 50).await;
    let response = app.patch(&format!("/products/{id}"), &json!({"price": 10.5, "description": "blue"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        json!({"id": id, "name": "Mug", "description": "blue", "price": 10.5, "stock": 50})
    );
    let response = app.patch(&format!("/products/{id}"), &json!({"stock": -1})).await;
    expect_error(response, 400, "INVALID_REQUEST").await;
    expect_error(app.patch("/products/999999", &json!({"stock": 1})).await, 404, "PRODUCT_NOT_FOUND").await;
}

async fn an_empty_patch_is_400(app: TestApp) {
    let id = app.product("Mug", 12.99, 50).await;
    expect_error(app.patch(&format!("/products/{id}"), &json!({})).await, 400, "INVALID_REQUEST").await;
}

async fn putting_a_quantity_sets_the_stock(app: TestApp) {
    let id = app.product("Mug", 12.99, 50).await;
    let response = app.put(&format!("/products/{id}/quantity"), &json!({"quantity": 7})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["stock"], 7);
    assert_eq!(app.stock_of(id).await, 7);
    let details = expect_error(
        app.put(&format!("/products/{id}/quantity"), &json!({"quantity": -1})).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(details.get("quantity").is_some());
    expect_error(app.put("/products/999999/quantity", &json!({"quantity": 1})).await, 404, "PRODUCT_NOT_FOUND").await;
}

async fn deleting_discontinues_the_product_and_removes_it_from_the_listing(app: TestApp) {
    let gone = app.product("Old", 1.0, 5).await;
    let kept = app.product("New", 1.0, 5).await;
    let response = app.delete(&format!("/products/{gone}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    let listed = body(app.get("/products").await).await;
    let ids: Vec<i64> = listed.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![kept]);
    let response = app.post("/orders", &json!({"products": [{"product_id": gone, "quantity": 1}]})).await;
    let details = expect_error(response, 409, "PRODUCT_DISCONTINUED").await;
    assert_eq!(details["product_id"], gone);
    assert_eq!(app.delete(&format!("/products/{gone}")).await.status(), StatusCode::NO_CONTENT);
    expect_error(app.delete("/products/999999").await, 404, "PRODUCT_NOT_FOUND").await;
}

async fn an_unknown_product_is_404_and_a_malformed_id_is_400(app: TestApp) {
    let details = expect_error(app.get("/products/424242").await, 404, "PRODUCT_NOT_FOUND").await;
    assert_eq!(details["product_id"], 424242);
    for bad in ["abc", "0", "-3", "1.5", "99999999999999999999"] {
        let details = expect_error(app.get(&format!("/products/{bad}")).await, 400, "INVALID_REQUEST").await;
        assert!(details.get("id").is_some(), "{bad}: {details}");
    }
}

async fn listing_is_paginated_by_page_with_total_and_links(app: TestApp) {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.product(&format!("p{n}"), 1.0, 1).await);
    }
    let response = app.get("/products?page=2&per_page=2").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-total-count"], "5");
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("</products?page=1&per_page=2>; rel=\"first\""), "{link}");
    assert!(link.contains("</products?page=1&per_page=2>; rel=\"prev\""), "{link}");
    // `next` is a cursor, so following it costs the same however deep.
    assert!(link.contains(&format!("</products?after={}&per_page=2>; rel=\"next\"", ids[3])), "{link}");
    assert!(link.contains("</products?page=3&per_page=2>; rel=\"last\""), "{link}");
    let page = body(response).await;
    let names: Vec<&str> = page.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["p2", "p3"]);
    assert_eq!(body(app.get("/products?page=9&per_page=2").await).await, json!([]));
    assert_eq!(body(app.get("/products").await).await.as_array().unwrap().len(), 5);
}

async fn listing_is_paginated_by_skip_and_limit(app: TestApp) {
    for n in 0..5 {
        app.product(&format!("p{n}"), 1.0, 1).await;
    }
    let response = app.get("/products?skip=3&limit=10").await;
    assert_eq!(response.headers()["x-total-count"], "5");
    let names: Vec<String> =
        body(response).await.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, vec!["p3", "p4"]);
}

/// The `next` link of any page, whatever style it was asked in, is an `after` cursor.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers()["link"].to_str().unwrap();
    link.split(", ").find(|l| l.ends_with("rel=\"next\"")).map(|l| {
        let target = &l[l.find('<').unwrap() + 1..l.find('>').unwrap()];
        assert!(target.contains("after="), "{link}");
        target.to_owned()
    })
}

async fn following_next_links_walks_the_listing_by_cursor(app: TestApp) {
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(app.product(&format!("p{n}"), 1.0, if n == 2 { 0 } else { 1 }).await);
    }
    app.delete(&format!("/products/{}", ids[4])).await;

    let mut seen = Vec::new();
    let mut next = Some("/products?per_page=2".to_owned());
    while let Some(path) = next {
        let response = app.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["x-total-count"], "6", "{path}");
        next = next_link(&response);
        seen.extend(body(response).await.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()));
    }
    assert_eq!(seen, vec![ids[0], ids[1], ids[2], ids[3], ids[5], ids[6]]);

    // A cursor page by hand, with the filter kept in its links and `limit` as its size.
    let response = app.get(&format!("/products?in_stock=true&after={}&limit=2", ids[1])).await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("</products?in_stock=true&skip=0&limit=2>; rel=\"first\""), "{link}");
    assert!(link.contains(&format!("</products?in_stock=true&after={}&limit=2>; rel=\"next\"", ids[5])), "{link}");
    assert!(!link.contains("rel=\"prev\""), "{link}");
    let listed: Vec<i64> = body(response).await.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, vec![ids[3], ids[5]]);

    // Past the end: an empty page without a next link; an unused id is a fine cursor.
    let response = app.get(&format!("/products?after={}", ids[6])).await;
    assert!(next_link(&response).is_none());
    assert_eq!(body(response).await, json!([]));
    assert_eq!(body(app.get("/products?after=999999").await).await, json!([]));
}

async fn bad_pagination_values_are_400_naming_the_parameter(app: TestApp) {
    for (query, field) in [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("per_page=0", "per_page"),
        ("per_page=501", "per_page"),
        ("skip=-1", "skip"),
        ("limit=501", "limit"),
        ("in_stock=maybe", "in_stock"),
        ("after=0", "after"),
        ("after=-1", "after"),
        ("after=abc", "after"),
        ("after=9007199254740992", "after"),
        ("after=1&page=2", "after"),
        ("after=1&skip=0", "after"),
    ] {
        let details = expect_error(app.get(&format!("/products?{query}")).await, 400, "INVALID_REQUEST").await;
        assert!(details.get(field).is_some(), "{query}: {details}");
    }
    expect_error(app.get("/orders?per_page=1000").await, 400, "INVALID_REQUEST").await;
}

async fn in_stock_true_lists_only_products_with_stock(app: TestApp) {
    let stocked = app.product("stocked", 1.0, 3).await;
    app.product("empty", 1.0, 0).await;
    let response = app.get("/products?in_stock=true").await;
    assert_eq!(response.headers()["x-total-count"], "1");
    let ids: Vec<i64> = body(response).await.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![stocked]);
    assert_eq!(body(app.get("/products?in_stock=false").await).await.as_array().unwrap().len(), 2);
}

async fn trailing_slashes_are_answered_directly_without_redirect(app: TestApp) {
    let response = app.post("/products/", &json!({"name": "Mug", "price": 1, "stock": 1})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = body(response).await["id"].as_i64().unwrap();
    assert_eq!(app.get("/products/").await.status(), StatusCode::OK);
    assert_eq!(app.get(&format!("/products/{id}/")).await.status(), StatusCode::OK);
    assert_eq!(app.get("/orders/").await.status(), StatusCode::OK);
}
