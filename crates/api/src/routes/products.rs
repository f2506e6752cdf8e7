//! Storefront products: `/products`.

use std::cell::RefCell;
use std::collections::HashMap;

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use domain::ids::ProductId;
use domain::product::{Description, NewProduct, Product, ProductChanges, ProductFilter, ProductName, Stock};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::errors::{ApiError, ErrorBody, FieldErrors, method_not_allowed};
use crate::extract::{Flag, JsonBody, QueryValue, path_id, query};
use crate::json::{self, JsonWriter, WriteJson};
use crate::money::{MoneyJson, parse_price};
use crate::pagination::{PageQuery, Paging};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::get().to(list_products))
            .route(web::post().to(create_product))
            .default_service(method_not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(get_product))
            .route(web::patch().to(update_product))
            .route(web::delete().to(delete_product))
            .default_service(method_not_allowed("GET, HEAD, PATCH, DELETE")),
    )
    .service(
        web::resource("/products/{id}/quantity")
            .route(web::put().to(set_quantity))
            .default_service(method_not_allowed("PUT")),
    );
}

// Borrowed from the domain's product and written by `WriteJson`; the derived `Serialize` is the
// reference the tests hold that writer to. (Doc comments here are the OpenAPI descriptions.)
/// A product on the storefront.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse<'a> {
    #[schema(example = 1)]
    id: i64,
    #[schema(example = "Premium Coffee Beans")]
    name: &'a str,
    #[schema(example = "Single-origin, 1 kg")]
    description: &'a str,
    /// Exact, at most two decimals.
    #[schema(value_type = f64, example = 15.99)]
    price: MoneyJson,
    #[schema(example = 100)]
    stock: u32,
}

impl<'a> From<&'a Product> for ProductResponse<'a> {
    fn from(p: &'a Product) -> Self {
        Self {
            id: p.id.get(),
            name: p.name.as_str(),
            description: p.description.as_str(),
            price: MoneyJson(p.price),
            stock: p.stock.get(),
        }
    }
}

impl WriteJson for ProductResponse<'_> {
    fn size_hint(&self) -> usize {
        // Keys, quotes and braces are 52 bytes; the three numbers at most 46.
        self.name.len() + self.description.len() + 102
    }

    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"id\":");
        out.int(self.id);
        out.raw(",\"name\":");
        out.string(self.name);
        out.raw(",\"description\":");
        out.string(self.description);
        out.raw(",\"price\":");
        out.money(self.price.0);
        out.raw(",\"stock\":");
        out.int(self.stock);
        out.raw("}");
    }
}

/// A product as the storefront writes it, through the worker's memory of products written.
struct StorefrontProduct<'a>(&'a Product);

impl WriteJson for StorefrontProduct<'_> {
    fn size_hint(&self) -> usize {
        ProductResponse::from(self.0).size_hint()
    }

    fn write_json(&self, out: &mut JsonWriter) {
        WRITTEN.with_borrow_mut(|written| written.write(out, self.0));
    }
}

/// Products as the storefront lists them.
struct StorefrontProducts<'a>(&'a [Product]);

impl WriteJson for StorefrontProducts<'_> {
    fn size_hint(&self) -> usize {
        self.0.iter().map(|p| StorefrontProduct(p).size_hint() + 1).sum::<usize>() + 2
    }

    fn write_json(&self, out: &mut JsonWriter) {
        WRITTEN.with_borrow_mut(|written| {
            out.raw("[");
            for (i, product) in self.0.iter().enumerate() {
                if i > 0 {
                    out.raw(",");
                }
                written.write(out, product);
            }
            out.raw("]");
        });
    }
}

thread_local! {
    /// The JSON of the products this worker thread wrote lately, with the product each was
    /// written from. Listings write the same products over and over; a product that shows the
    /// same fields as the one a text was written from has that text, so it is copied instead of
    /// written again. Any change, a stock level included, makes it differ and its text be written
    /// anew.
    static WRITTEN: RefCell<Written> = RefCell::default();
}

/// By id; foldhash (randomly seeded) rather than SipHash, which cost more than the copy it saves.
#[derive(Default)]
struct Written(HashMap<ProductId, (Product, Box<str>), foldhash::fast::RandomState>);

/// Whether two products show the same JSON. Names and descriptions are shared text: the same
/// text is mostly the same pointer.
fn shows_the_same(a: &Product, b: &Product) -> bool {
    let same = |x: &str, y: &str| std::ptr::eq(x, y) || x == y;
    a.id == b.id
        && a.price == b.price
        && a.stock == b.stock
        && same(a.name.as_str(), b.name.as_str())
        && same(a.description.as_str(), b.description.as_str())
}

impl Written {
    /// Products remembered at most; past that the memory starts again.
    const CAPACITY: usize = 10_000;

    fn write(&mut self, out: &mut JsonWriter, product: &Product) {
        if let Some((seen, text)) = self.0.get(&product.id)
            && shows_the_same(seen, product)
        {
            out.raw(text);
            return;
        }
        let start = out.len();
        ProductResponse::from(product).write_json(out);
        if self.0.len() >= Self::CAPACITY {
            self.0.clear();
        }
        self.0.insert(product.id, (product.clone(), out.written_since(start).into()));
    }
}

/// A 200 (or other `response`) with one product as its body.
fn product_response(response: &mut HttpResponseBuilder, product: &Product) -> HttpResponse {
    json::respond(response, &StorefrontProduct(product))
}

/// A product to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProductBody {
    /// The id to give it (1..=2147483647); the next free id when absent.
    #[schema(example = 42, minimum = 1, maximum = 2147483647)]
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    id: Option<i64>,
    /// 1..=200 characters after trimming.
    #[schema(example = "Premium Coffee Beans", min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    /// At most 5000 characters.
    #[schema(example = "Single-origin, 1 kg", max_length = 5000)]
    description: Option<String>,
    /// 0..=1000000000, at most two decimals.
    #[schema(value_type = f64, example = 15.99, minimum = 0, maximum = 1000000000, multiple_of = 0.01)]
    price: serde_json::Number,
    /// 0..=2147483647.
    #[schema(example = 100, minimum = 0, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    stock: i64,
}

impl TryFrom<CreateProductBody> for NewProduct {
    type Error = ApiError;

    fn try_from(body: CreateProductBody) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        let id = body.id.map(|id| errors.check("id", ProductId::chosen(id)));
        let name = errors.check("name", ProductName::parse(&body.name));
        let description = errors.check("description", Description::parse(body.description.as_deref().unwrap_or("")));
        let price = errors.check("price", parse_price(&body.price));
        let stock = errors.check("stock", Stock::new(body.stock));
        match (id, name, description, price, stock) {
            (id, Some(name), Some(description), Some(price), Some(stock)) if errors.is_empty() => {
                Ok(NewProduct { id: id.flatten(), manager_id: None, name, description, price, stock })
            }
            _ => Err(ApiError::invalid(&errors)),
        }
    }
}

/// Fields to change; at least one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProductBody {
    #[schema(example = "Premium Coffee Beans", min_length = 1, max_length = 200, pattern = "\\S")]
    name: Option<String>,
    #[schema(max_length = 5000)]
    description: Option<String>,
    #[schema(value_type = Option<f64>, example = 14.5, minimum = 0, maximum = 1000000000, multiple_of = 0.01)]
    price: Option<serde_json::Number>,
    #[schema(example = 80, minimum = 0, maximum = 2147483647)]
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    stock: Option<i64>,
}

impl TryFrom<UpdateProductBody> for ProductChanges {
    type Error = ApiError;

    fn try_from(body: UpdateProductBody) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        let changes = ProductChanges {
            name: body.name.and_then(|v| errors.check("name", ProductName::parse(&v))),
            description: body.description.and_then(|v| errors.check("description", Description::parse(&v))),
            price: body.price.and_then(|v| errors.check("price", parse_price(&v))),
            stock: body.stock.and_then(|v| errors.check("stock", Stock::new(v))),
        };
        if errors.is_empty() && changes == ProductChanges::default() {
            errors.add("body", "must set at least one of name, description, price, stock");
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&errors));
        }
        Ok(changes)
    }
}

/// The new stock level.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuantityBody {
    /// 0..=2147483647.
    #[schema(example = 25, minimum = 0, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    quantity: i64,
}

/// Filters of the product listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductFilterQuery {
    /// `true` (or `1`) to list only products with stock.
    #[param(value_type = Option<bool>)]
    in_stock: Option<QueryValue<Flag>>,
}

pub(crate) fn product_id(segment: &str) -> Result<ProductId, ApiError> {
    let id = path_id(segment, "id")?;
    ProductId::new(id).map_err(|e| ApiError::invalid_field("id", &e.0))
}

/// Lists products for sale, by id.
#[utoipa::path(
    get, path = "/products", tag = "storefront", params(PageQuery, ProductFilterQuery),
    responses(
        (status = 200, description = "Products for sale; `X-Total-Count` (exact up to 10,000, estimated past that on PostgreSQL) and `Link` headers (`next` is an `after` cursor)", body = [ProductResponse]),
        (status = 400, description = "Bad query value", body = ErrorBody),
    )
)]
pub async fn list_products(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_query(&query(&req)?)?;
    let in_stock = match query::<ProductFilterQuery>(&req)?.in_stock {
        None => false,
        Some(QueryValue::Valid(Flag(flag))) => flag,
        Some(QueryValue::Invalid(_)) => return Err(ApiError::invalid_field("in_stock", "must be true or false")),
    };
    let filter = ProductFilter { for_sale_only: true, in_stock_only: in_stock, ..Default::default() };
    let page = state.catalogue.list_shared(filter, paging.request()).await?;
    let mut response = HttpResponse::Ok();
    let extra: &[(&str, &str)] = if in_stock { &[("in_stock", "true")] } else { &[] };
    let last_id = page.items.last().map(|p| p.id.get());
    paging.write_headers(&mut response, page.total, page.more, last_id, "/products", extra);
    Ok(json::respond(&mut response, &StorefrontProducts(&page.items)))
}

/// Adds a product.
#[utoipa::path(
    post, path = "/products", tag = "storefront", request_body = CreateProductBody,
    responses(
        (status = 201, description = "Created; `Location: /products/{id}`", body = ProductResponse),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "`PRODUCT_EXISTS`: the requested id is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn create_product(
    state: web::Data<AppState>,
    body: JsonBody<CreateProductBody>,
) -> Result<HttpResponse, ApiError> {
    let product = state.catalogue.add(body.value.try_into()?).await?;
    Ok(product_response(
        HttpResponse::Created().insert_header((LOCATION, format!("/products/{}", product.id))),
        &product,
    ))
}

/// One product.
#[utoipa::path(
    get, path = "/products/{id}", tag = "storefront", params(("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9007199254740991_i64)),
    responses(
        (status = 200, body = ProductResponse),
        (status = 400, description = "Id is not a positive integer", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_product(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let product = state.catalogue.get_shared(product_id(&id)?).await?;
    Ok(product_response(&mut HttpResponse::Ok(), &product))
}

/// Changes some fields of a product.
#[utoipa::path(
    patch, path = "/products/{id}", tag = "storefront", params(("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9007199254740991_i64)),
    request_body = UpdateProductBody,
    responses(
        (status = 200, body = ProductResponse),
        (status = 400, description = "Invalid field or id", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn update_product(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<UpdateProductBody>,
) -> Result<HttpResponse, ApiError> {
    let id = product_id(&id)?;
    let product = state.catalogue.change(id, body.value.try_into()?).await?;
    Ok(product_response(&mut HttpResponse::Ok(), &product))
}

/// Sets a product's stock level.
#[utoipa::path(
    put, path = "/products/{id}/quantity", tag = "storefront", params(("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9007199254740991_i64)),
    request_body = QuantityBody,
    responses(
        (status = 200, body = ProductResponse),
        (status = 400, description = "Invalid quantity or id", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn set_quantity(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<QuantityBody>,
) -> Result<HttpResponse, ApiError> {
    let id = product_id(&id)?;
    let stock = Stock::new(body.value.quantity).map_err(|e| ApiError::invalid_field("quantity", &e.0))?;
    let product = state.catalogue.change(id, ProductChanges { stock: Some(stock), ..Default::default() }).await?;
    Ok(product_response(&mut HttpResponse::Ok(), &product))
}

/// Discontinues a product: it leaves the listing and can no longer be ordered.
#[utoipa::path(
    delete, path = "/products/{id}", tag = "storefront", params(("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9007199254740991_i64)),
    responses(
        (status = 204, description = "Discontinued (also when it already was)"),
        (status = 400, description = "Id is not a positive integer", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn delete_product(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    state.catalogue.discontinue(product_id(&id)?, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Money;

    fn product(name: &str, description: &str, cents: i64, stock: i64) -> Product {
        Product {
            id: ProductId::new(9_007_199_254_740_991).unwrap(),
            manager_id: None,
            name: ProductName::parse(name).unwrap(),
            description: Description::parse(description).unwrap(),
            price: Money::from_cents(cents).unwrap(),
            stock: Stock::new(stock).unwrap(),
            discontinued: false,
        }
    }

    #[test]
    fn products_are_written_as_serde_writes_the_documented_response() {
        let products = [
            product("Coffee", "Single-origin, 1 kg", 1599, 100),
            product("Quote \" back \\ tab \t ctrl \u{1}", "é 漢字 🦀\nline", 1290, 0),
            product("Mug", "", 100_000_000_000, 2_147_483_647),
            product("Spoon", "", 0, 1),
            product("Fork", "", 5, 1),
        ];
        let responses: Vec<ProductResponse<'_>> = products.iter().map(ProductResponse::from).collect();
        for response in &responses {
            let written = json::to_bytes(response);
            assert_eq!(written, serde_json::to_vec(response).unwrap());
            assert!(written.len() <= response.size_hint());
        }
        assert_eq!(json::to_bytes(responses.as_slice()), serde_json::to_vec(&responses).unwrap());
        let none: &[ProductResponse<'_>] = &[];
        assert_eq!(json::to_bytes(none), serde_json::to_vec(none).unwrap());
    }

    #[test]
    fn a_remembered_product_is_written_as_it_is_now() {
        let reference = |products: &[Product]| {
            serde_json::to_vec(&products.iter().map(ProductResponse::from).collect::<Vec<_>>()).unwrap()
        };
        let mut products = vec![product("Coffee", "Single-origin", 1599, 100), product("Tea", "", 1290, 0)];
        products[1].id = ProductId::new(2).unwrap();
        // Written, then remembered, then changed in every field the JSON shows.
        for _ in 0..2 {
            assert_eq!(json::to_bytes(&StorefrontProducts(&products)), reference(&products));
        }
        let changes = [
            ProductChanges { stock: Some(Stock::new(99).unwrap()), ..Default::default() },
            ProductChanges { price: Some(Money::from_cents(1).unwrap()), ..Default::default() },
            ProductChanges { name: Some(ProductName::parse("Café \"noir\"").unwrap()), ..Default::default() },
            ProductChanges { description: Some(Description::parse("Roasted\n").unwrap()), ..Default::default() },
        ];
        for change in changes {
            change.apply_to(&mut products[0]);
            assert_eq!(json::to_bytes(&StorefrontProducts(&products)), reference(&products));
            let alone = serde_json::to_vec(&ProductResponse::from(&products[0])).unwrap();
            assert_eq!(json::to_bytes(&StorefrontProduct(&products[0])), alone);
        }
        // Another product under a remembered id (another store in the same process).
        let other = product("Other", "", 5, 1);
        assert_eq!(
            json::to_bytes(&StorefrontProduct(&other)),
            serde_json::to_vec(&ProductResponse::from(&other)).unwrap()
        );
    }
}
