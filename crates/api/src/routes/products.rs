//! Storefront products: `/products`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::LOCATION;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use domain::Page;
use domain::ids::ProductId;
use domain::product::{Description, NewProduct, Product, ProductChanges, ProductFilter, ProductName, Stock};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::errors::{ApiError, ErrorBody, FieldErrors, method_not_allowed};
use crate::extract::{Flag, JsonBody, QueryValue, path_id, query};
use crate::json::{self, JsonWriter, WriteJson};
use crate::money::{MoneyJson, parse_price};
use crate::pagination::{ListingHeaders, PageQuery, Paging};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // One scope: its prefix is a plain comparison, and what is left of the path (`/{id}`) is
    // matched by a shorter pattern than the full one.
    cfg.service(
        web::scope("/products")
            .service(
                web::resource("")
                    .route(web::get().to(list_products))
                    .route(web::post().to(create_product))
                    .default_service(method_not_allowed("GET, HEAD, POST")),
            )
            .service(
                web::resource("/{id}")
                    .route(web::get().to(get_product))
                    .route(web::patch().to(update_product))
                    .route(web::delete().to(delete_product))
                    .default_service(method_not_allowed("GET, HEAD, PATCH, DELETE")),
            )
            .service(
                web::resource("/{id}/quantity")
                    .route(web::put().to(set_quantity))
                    .default_service(method_not_allowed("PUT")),
            ),
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

/// Products as the storefront lists them.
struct StorefrontProducts<'a>(&'a [Product]);

impl WriteJson for StorefrontProducts<'_> {
    fn size_hint(&self) -> usize {
        self.0.iter().map(|p| ProductResponse::from(p).size_hint() + 1).sum::<usize>() + 2
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
    /// same fields as the one a text was written from has that text, so it is copied (into a
    /// listing) or shared (as the body of `GET /products/{id}`) instead of written again. Any
    /// change, a stock level included, makes it differ and its text be written anew.
    static WRITTEN: RefCell<Written> = RefCell::default();

    /// The listings this worker thread answered lately: the page each was written from, how it
    /// was asked for, and its headers and body. A page the product cache hands out is shared, and
    /// its text cannot change: while this memory holds the page, no other page can take its
    /// address, so the same pointer is the same page, and with the same paging the same response.
    static LISTED: RefCell<Vec<Listed>> = const { RefCell::new(Vec::new()) };

    /// The listing query strings this worker thread read lately, with what each asked for.
    static QUERIES: RefCell<Vec<(Box<str>, ListingQuery)>> = const { RefCell::new(Vec::new()) };
}

/// Listings, and query strings, remembered per worker thread: the most recent ones.
const LISTINGS_REMEMBERED: usize = 8;
/// The longest listing body remembered.
const LARGEST_LISTING_REMEMBERED: usize = 256 * 1024;
/// The longest query string remembered.
const LONGEST_QUERY_REMEMBERED: usize = 256;

/// What a listing's query string asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListingQuery {
    paging: Paging,
    in_stock: bool,
}

impl ListingQuery {
    /// Reads a query string, or remembers what the same string asked for last time.
    fn read(req: &HttpRequest) -> Result<Self, ApiError> {
        let text = req.query_string();
        let remembered =
            QUERIES.with_borrow(|queries| queries.iter().find(|(seen, _)| **seen == *text).map(|(_, query)| *query));
        if let Some(query) = remembered {
            return Ok(query);
        }
        let paging = Paging::from_query(&query(req)?)?;
        let in_stock = match query::<ProductFilterQuery>(req)?.in_stock {
            None => false,
            Some(QueryValue::Valid(Flag(flag))) => flag,
            Some(QueryValue::Invalid(_)) => return Err(ApiError::invalid_field("in_stock", "must be true or false")),
        };
        let query = Self { paging, in_stock };
        if text.len() <= LONGEST_QUERY_REMEMBERED {
            QUERIES.with_borrow_mut(|queries| {
                if queries.len() >= LISTINGS_REMEMBERED {
                    queries.remove(0);
                }
                queries.push((text.into(), query));
            });
        }
        Ok(query)
    }
}

/// A listing response as it was sent.
struct Listed {
    page: Arc<Page<Product>>,
    query: ListingQuery,
    headers: ListingHeaders,
    body: Bytes,
}

/// The headers and body of the response listing `page` as `query` asked: those sent last time for
/// this very page and query, or written now.
fn listing_response(page: &Arc<Page<Product>>, query: ListingQuery) -> (ListingHeaders, Bytes) {
    let (headers, body) = LISTED.with_borrow(|listed| {
        let mut same_page = listed.iter().filter(|seen| Arc::ptr_eq(&seen.page, page));
        match same_page.clone().find(|seen| seen.query == query) {
            Some(seen) => (Some(seen.headers.clone()), Some(seen.body.clone())),
            None => (None, same_page.next().map(|seen| seen.body.clone())),
        }
    });
    if let (Some(headers), Some(body)) = (&headers, &body) {
        return (headers.clone(), body.clone());
    }
    let headers = headers.unwrap_or_else(|| {
        let extra: &[(&str, &str)] = if query.in_stock { &[("in_stock", "true")] } else { &[] };
        let last_id = page.items.last().map(|p| p.id.get());
        query.paging.headers(page.total, page.more, last_id, "/products", extra)
    });
    let body = body.unwrap_or_else(|| json::to_bytes(&StorefrontProducts(&page.items)));
    // A page held by nobody else (read past the cache) is never seen again.
    if Arc::strong_count(page) > 1 && body.len() <= LARGEST_LISTING_REMEMBERED {
        LISTED.with_borrow_mut(|listed| {
            if listed.len() >= LISTINGS_REMEMBERED {
                listed.remove(0);
            }
            listed.push(Listed { page: Arc::clone(page), query, headers: headers.clone(), body: body.clone() });
        });
    }
    (headers, body)
}

/// The JSON of one product, shared with the worker's memory of products written.
fn product_json(product: &Product) -> Bytes {
    WRITTEN.with_borrow_mut(|written| written.text(product))
}

/// By id; foldhash (randomly seeded) rather than SipHash, which cost more than the copy it saves.
#[derive(Default)]
struct Written(HashMap<ProductId, (Product, Bytes), foldhash::fast::RandomState>);

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

    fn remembered(&self, product: &Product) -> Option<&Bytes> {
        self.0.get(&product.id).filter(|(seen, _)| shows_the_same(seen, product)).map(|(_, text)| text)
    }

    fn remember(&mut self, product: &Product, text: Bytes) {
        if self.0.len() >= Self::CAPACITY {
            self.0.clear();
        }
        self.0.insert(product.id, (product.clone(), text));
    }

    /// Appends the product's JSON.
    fn write(&mut self, out: &mut JsonWriter, product: &Product) {
        if let Some(text) = self.remembered(product) {
            out.raw_bytes(text);
            return;
        }
        let start = out.len();
        ProductResponse::from(product).write_json(out);
        self.remember(product, Bytes::copy_from_slice(out.written_since(start).as_bytes()));
    }

    /// The product's JSON, shared.
    fn text(&mut self, product: &Product) -> Bytes {
        if let Some(text) = self.remembered(product) {
            return text.clone();
        }
        let text = json::to_bytes(&ProductResponse::from(product));
        self.remember(product, text.clone());
        text
    }
}

/// A 200 (or other `response`) with one product as its body.
fn product_response(response: &mut HttpResponseBuilder, product: &Product) -> HttpResponse {
    json::respond_with(response, product_json(product))
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
    let query = ListingQuery::read(&req)?;
    let filter = ProductFilter { for_sale_only: true, in_stock_only: query.in_stock, ..Default::default() };
    let page = state.catalogue.list_shared(filter, query.paging.request()).await?;
    let (headers, body) = listing_response(&page, query);
    let mut response = HttpResponse::Ok();
    headers.write_to(&mut response);
    Ok(json::respond_with(&mut response, body))
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
            assert_eq!(product_json(&products[0]), alone);
        }
        // Another product under a remembered id (another store in the same process).
        let other = product("Other", "", 5, 1);
        assert_eq!(product_json(&other), serde_json::to_vec(&ProductResponse::from(&other)).unwrap());
    }

    #[test]
    fn a_shared_page_is_written_once_and_its_body_sent_again() {
        let reference = |page: &Page<Product>| {
            serde_json::to_vec(&page.items.iter().map(ProductResponse::from).collect::<Vec<_>>()).unwrap()
        };
        let mut page = Page { items: vec![product("Coffee", "Single-origin", 1599, 100)], total: 1, more: false };
        let listing_json = |page: &Arc<Page<Product>>| listing_response(page, query("")).1;
        let cached = Arc::new(page.clone());
        let first = listing_json(&Arc::clone(&cached));
        assert_eq!(first, reference(&cached));
        let again = listing_json(&cached);
        assert_eq!(again.as_ptr(), first.as_ptr(), "the remembered body, not a copy");

        // Another page, with the same products changed, is written as it is.
        page.items[0].stock = Stock::new(7).unwrap();
        let changed = Arc::new(page.clone());
        let held = Arc::clone(&changed);
        assert_eq!(listing_json(&held), reference(&changed));

        // A page nobody else holds is not remembered: it cannot be served again.
        let alone = Arc::new(page);
        assert_eq!(listing_json(&alone), reference(&alone));
        assert!(LISTED.with_borrow(|listed| !listed.iter().any(|seen| Arc::ptr_eq(&seen.page, &alone))));
    }

    fn query(text: &str) -> ListingQuery {
        let req = actix_web::test::TestRequest::with_uri(&format!("/products?{text}")).to_http_request();
        ListingQuery::read(&req).unwrap()
    }

    #[test]
    fn the_same_page_asked_for_otherwise_has_its_own_headers() {
        let page = Arc::new(Page { items: vec![product("Coffee", "", 1599, 100)], total: 30, more: true });
        let _cached = Arc::clone(&page);
        let headers = |text: &str| {
            let mut response = HttpResponse::Ok();
            listing_response(&page, query(text)).0.write_to(&mut response);
            let response = response.finish();
            let link = response.headers().get("link").unwrap().to_str().unwrap().to_owned();
            (response.headers().get("x-total-count").unwrap().to_str().unwrap().to_owned(), link)
        };
        let by_page = headers("per_page=10");
        assert_eq!(headers("per_page=10"), by_page);
        assert_eq!(by_page.0, "30");
        let by_limit = headers("limit=10");
        assert_ne!(by_limit.1, by_page.1);
        assert!(by_limit.1.contains("limit=10"), "{by_limit:?}");
        assert!(headers("per_page=10&in_stock=true").1.contains("in_stock=true"));
        assert_eq!(query("per_page=10&in_stock=1"), query("per_page=10&in_stock=true"));
    }
}
