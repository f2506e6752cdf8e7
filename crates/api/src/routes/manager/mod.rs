//! The store-manager surface: `/api/...`, string ids (`prod_001`, `ord_789`), every request
//! scoped to a `manager_id`. Rate limiting and the audit trail are applied around the whole
//! scope by [`gate::manager_gate`]. Handlers fail with [`ManagerError`], so `?` on a domain
//! result names ids in this surface's style.

mod gate;

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use domain::inventory::{InventoryBatch, InventoryItem};
use domain::order::{Customer, CustomerId, Email, OrderRequest};
use domain::product::{Description, InventoryStatus, ManagerId, Product, ProductFilter, ProductName, Stock};
use domain::status::OrderStatus;
use domain::{Error, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use self::gate::manager_gate;
use super::orders::{idempotency, requested_lines};
use crate::errors::{ApiError, ErrorBody, FieldErrors, method_not_allowed};
use crate::extract::{JsonBody, QueryValue, query};
use crate::ids::{IdStyle, ProductRef, order_ref, parse_product_ref};
use crate::json::{self, JsonWriter, WriteJson};
use crate::money::{MoneyJson, parse_price};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(actix_web::middleware::from_fn(manager_gate))
            .service(
                web::resource("/inventory/products")
                    .route(web::post().to(load_inventory))
                    .route(web::get().to(list_inventory))
                    .default_service(method_not_allowed("GET, HEAD, POST")),
            )
            .service(
                web::resource("/inventory/discontinue")
                    .route(web::post().to(discontinue))
                    .default_service(method_not_allowed("POST")),
            )
            .service(
                web::resource("/orders/process")
                    .route(web::post().to(process_order))
                    .default_service(method_not_allowed("POST")),
            )
            // Inside the scope, so unknown /api paths are rate limited and audited too.
            .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::route_not_found()) })),
    );
}

/// A failure on the manager surface. Made from a domain error, it names products and orders as
/// `prod_001` and `ord_789`; made from an [`ApiError`], it is that error.
#[derive(Debug)]
pub struct ManagerError(ApiError);

impl From<Error> for ManagerError {
    fn from(err: Error) -> Self {
        Self(ApiError::from_domain(err, IdStyle::Manager))
    }
}

impl From<ApiError> for ManagerError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ManagerError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.error_response()
    }
}

fn manager_id(raw: &str, errors: &mut FieldErrors) -> Option<ManagerId> {
    errors.check("manager_id", ManagerId::parse(raw))
}

// Borrowed from the domain's products and written by `WriteJson`; the derived `Serialize` is the
// reference the tests hold that writer to. (Doc comments here are the OpenAPI descriptions.)
/// A product as the manager surface shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResponse<'a> {
    #[schema(value_type = String, example = "prod_001")]
    id: ProductRef,
    #[schema(example = "Premium Coffee Beans")]
    name: &'a str,
    #[schema(value_type = f64, example = 15.99)]
    price: MoneyJson,
    #[schema(example = 100)]
    quantity: u32,
}

impl<'a> From<&'a Product> for ItemResponse<'a> {
    fn from(p: &'a Product) -> Self {
        Self { id: ProductRef(p.id), name: p.name.as_str(), price: MoneyJson(p.price), quantity: p.stock.get() }
    }
}

impl WriteJson for ItemResponse<'_> {
    fn size_hint(&self) -> usize {
        // Keys, quotes and braces are 46 bytes; the three numbers at most 46.
        self.name.len() + 92
    }

    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"id\":\"prod_");
        let id = self.id.0.get();
        out.raw(match id {
            ..10 => "00",
            10..100 => "0",
            _ => "",
        });
        out.int(id);
        out.raw("\",\"name\":");
        out.string(self.name);
        out.raw(",\"price\":");
        out.money(self.price.0);
        out.raw(",\"quantity\":");
        out.int(self.quantity);
        out.raw("}");
    }
}

/// A list of the manager's products.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"products": [
    {"id": "prod_001", "name": "Premium Coffee Beans", "price": 15.99, "quantity": 100},
    {"id": "prod_002", "name": "Ceramic Coffee Mug", "price": 12.99, "quantity": 50}
]}))]
pub struct ItemsResponse<'a> {
    products: Vec<ItemResponse<'a>>,
}

impl<'a> ItemsResponse<'a> {
    fn of(products: &'a [Product]) -> Self {
        Self { products: products.iter().map(ItemResponse::from).collect() }
    }
}

impl WriteJson for ItemsResponse<'_> {
    fn size_hint(&self) -> usize {
        self.products.as_slice().size_hint() + 14
    }

    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"products\":");
        self.products.as_slice().write_json(out);
        out.raw("}");
    }
}

/// One product to add or update.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InventoryItemBody {
    /// The product to update (`prod_001`); absent to match by name or create.
    #[schema(example = "prod_001", pattern = "^prod_0*[1-9][0-9]{0,15}$")]
    id: Option<String>,
    #[schema(example = "Premium Coffee Beans", min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    #[schema(value_type = f64, example = 15.99, minimum = 0, maximum = 1000000000, multiple_of = 0.01)]
    price: serde_json::Number,
    /// Units in stock.
    #[schema(example = 100, minimum = 0, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    quantity: i64,
    #[schema(max_length = 5000)]
    description: Option<String>,
}

/// Products to add or update, all or nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"manager_id": "mgr_123", "products": [
    {"name": "Premium Coffee Beans", "price": 15.99, "quantity": 100},
    {"name": "Ceramic Coffee Mug", "price": 12.99, "quantity": 50}
]}))]
pub struct InventoryBody {
    #[schema(example = "mgr_123", min_length = 1, max_length = 100, pattern = "\\S")]
    manager_id: String,
    /// 1..=1000 items; no two with the same name.
    #[schema(min_items = 1, max_items = 1000)]
    products: Vec<InventoryItemBody>,
}

impl TryFrom<InventoryBody> for InventoryBatch {
    type Error = ManagerError;

    fn try_from(body: InventoryBody) -> Result<Self, ManagerError> {
        let mut errors = FieldErrors::new();
        let manager = manager_id(&body.manager_id, &mut errors);
        let items: Vec<InventoryItem> = body
            .products
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let field = |name: &str| format!("products[{i}].{name}");
                let id = match item.id.as_deref().map(parse_product_ref) {
                    Some(Err(message)) => {
                        errors.add(field("id"), message);
                        None
                    }
                    Some(Ok(id)) => Some(Some(id)),
                    None => Some(None),
                };
                let name = errors.check(field("name"), ProductName::parse(&item.name));
                let price = errors.check(field("price"), parse_price(&item.price));
                let quantity = errors.check(field("quantity"), Stock::new(item.quantity));
                let description = match item.description.as_deref().map(Description::parse) {
                    Some(parsed) => Some(errors.check(field("description"), parsed)?),
                    None => None,
                };
                Some(InventoryItem { id: id?, name: name?, price: price?, quantity: quantity?, description })
            })
            .collect();
        match manager {
            Some(manager) if errors.is_empty() => Ok(InventoryBatch::new(manager, items)?),
            _ => Err(ApiError::invalid(&errors).into()),
        }
    }
}

/// Which of the manager's products to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryQuery {
    /// Whose products.
    #[param(required = true, value_type = String, example = "mgr_123", min_length = 1, max_length = 100, pattern = "\\S")]
    manager_id: Option<String>,
    /// `in_stock`, `out_of_stock` or `discontinued`; all when absent.
    #[param(value_type = Option<String>, example = "in_stock", pattern = "^(in_stock|out_of_stock|discontinued)$")]
    status: Option<QueryValue<StatusParam>>,
}

/// The `status` filter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusParam(InventoryStatus);

impl std::str::FromStr for StatusParam {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "in_stock" => Ok(Self(InventoryStatus::InStock)),
            "out_of_stock" => Ok(Self(InventoryStatus::OutOfStock)),
            "discontinued" => Ok(Self(InventoryStatus::Discontinued)),
            _ => Err(()),
        }
    }
}

/// The product to discontinue.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"manager_id": "mgr_123", "product_id": "prod_001"}))]
pub struct DiscontinueBody {
    #[schema(example = "mgr_123", min_length = 1, max_length = 100, pattern = "\\S")]
    manager_id: String,
    #[schema(example = "prod_001", pattern = "^prod_0*[1-9][0-9]{0,15}$")]
    product_id: String,
}

/// The customer an order is for.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ManagerCustomerBody {
    #[schema(example = "cust_456", min_length = 1, max_length = 100, pattern = "\\S")]
    id: String,
    #[schema(example = "customer@example.com", format = Email, max_length = 254)]
    email: String,
}

/// One product and quantity of an order.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ManagerLineBody {
    #[schema(example = "prod_001", pattern = "^prod_0*[1-9][0-9]{0,15}$")]
    product_id: String,
    #[schema(example = 2, minimum = 1, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    quantity: i64,
}

/// An order to process from the manager's products.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"manager_id": "mgr_123", "customer": {"id": "cust_456", "email": "customer@example.com"},
    "products": [{"product_id": "prod_001", "quantity": 2}, {"product_id": "prod_002", "quantity": 1}]}))]
pub struct ProcessOrderBody {
    #[schema(example = "mgr_123", min_length = 1, max_length = 100, pattern = "\\S")]
    manager_id: String,
    customer: ManagerCustomerBody,
    #[schema(min_items = 1, max_items = 100)]
    products: Vec<ManagerLineBody>,
}

impl TryFrom<ProcessOrderBody> for OrderRequest {
    type Error = ManagerError;

    fn try_from(body: ProcessOrderBody) -> Result<Self, ManagerError> {
        let mut errors = FieldErrors::new();
        let manager = manager_id(&body.manager_id, &mut errors);
        let id = errors.check("customer.id", CustomerId::parse(&body.customer.id));
        let email = errors.check("customer.email", Email::parse(&body.customer.email));
        let lines =
            requested_lines(body.products.iter().map(|l| (parse_product_ref(&l.product_id), l.quantity)), &mut errors);
        match (manager, id, email) {
            (Some(manager), Some(id), Some(email)) if errors.is_empty() => {
                let customer = Customer { id, email: Some(email) };
                Ok(OrderRequest::new(lines, Some(customer), Some(manager), OrderStatus::Completed)?)
            }
            _ => Err(ApiError::invalid(&errors).into()),
        }
    }
}

/// The outcome of processing an order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"order_id": "ord_789", "status": "processed", "total_amount": 44.97}))]
pub struct ProcessedResponse {
    #[schema(example = "ord_789")]
    order_id: String,
    /// Always `processed`.
    #[schema(example = "processed")]
    status: &'static str,
    #[schema(value_type = f64, example = 44.97)]
    total_amount: MoneyJson,
}

/// Adds or updates products of a manager's inventory, all or nothing.
#[utoipa::path(
    post, path = "/api/inventory/products", tag = "manager", request_body = InventoryBody,
    responses(
        (status = 201, description = "Every product as stored, in request order", body = ItemsResponse),
        (status = 400, description = "Invalid item, named as `products[i].field`; nothing written", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`: an item's id is not this manager's", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorBody),
    )
)]
pub async fn load_inventory(
    state: web::Data<AppState>,
    body: JsonBody<InventoryBody>,
) -> Result<HttpResponse, ManagerError> {
    let batch = InventoryBatch::try_from(body.value)?;
    let products = state.catalogue.load_inventory(batch).await?;
    Ok(json::respond(&mut HttpResponse::Created(), &ItemsResponse::of(&products)))
}

/// Lists a manager's products by status.
#[utoipa::path(
    get, path = "/api/inventory/products", tag = "manager", params(InventoryQuery),
    responses(
        (status = 200, description = "The manager's products, by id", body = ItemsResponse),
        (status = 400, description = "`manager_id` missing or blank, or an unknown `status`", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorBody),
    )
)]
pub async fn list_inventory(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ManagerError> {
    let query: InventoryQuery = query(&req)?;
    let mut errors = FieldErrors::new();
    let manager = match &query.manager_id {
        Some(raw) => manager_id(raw, &mut errors),
        None => {
            errors.add("manager_id", "is required");
            None
        }
    };
    let status = match query.status {
        None => None,
        Some(QueryValue::Valid(StatusParam(status))) => Some(status),
        Some(QueryValue::Invalid(_)) => {
            errors.add("status", "must be one of in_stock, out_of_stock, discontinued");
            None
        }
    };
    let Some(manager) = manager.filter(|_| errors.is_empty()) else { return Err(ApiError::invalid(&errors).into()) };
    let filter = ProductFilter { manager_id: Some(manager), status, ..Default::default() };
    let page = state.catalogue.list_shared(filter, PageRequest::ALL).await?;
    Ok(json::respond(&mut HttpResponse::Ok(), &ItemsResponse::of(&page.items)))
}

/// Marks one of the manager's products discontinued.
#[utoipa::path(
    post, path = "/api/inventory/discontinue", tag = "manager", request_body = DiscontinueBody,
    responses(
        (status = 204, description = "Discontinued (also when it already was)"),
        (status = 400, description = "Missing or malformed field", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`: not this manager's product", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorBody),
    )
)]
pub async fn discontinue(
    state: web::Data<AppState>,
    body: JsonBody<DiscontinueBody>,
) -> Result<HttpResponse, ManagerError> {
    let mut errors = FieldErrors::new();
    let manager = manager_id(&body.value.manager_id, &mut errors);
    let product = parse_product_ref(&body.value.product_id).map_err(|m| errors.add("product_id", m)).ok();
    let (Some(manager), Some(product)) = (manager, product) else { return Err(ApiError::invalid(&errors).into()) };
    state.catalogue.discontinue(product, Some(manager)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Processes a customer's order from the manager's products: all lines or nothing.
#[utoipa::path(
    post, path = "/api/orders/process", tag = "manager", request_body = ProcessOrderBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe processing: the same key and body return the first result")),
    responses(
        (status = 200, description = "Processed; stored as a completed order", body = ProcessedResponse),
        (status = 400, description = "Missing or invalid field", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`: not this manager's product", body = ErrorBody),
        (status = 409, description = "`INSUFFICIENT_STOCK` or `PRODUCT_DISCONTINUED`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorBody),
    )
)]
pub async fn process_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<ProcessOrderBody>,
) -> Result<HttpResponse, ManagerError> {
    let scope = format!("manager:{}", body.value.manager_id.trim());
    let idempotency = idempotency(&req, scope, &body.raw)?;
    let request = OrderRequest::try_from(body.value)?;
    let placement = state.orders.place(request, idempotency).await?;
    if !placement.replayed {
        crate::metrics::order_placed("manager");
    }
    let mut response = HttpResponse::Ok();
    if placement.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(ProcessedResponse {
        order_id: order_ref(placement.order.id),
        status: "processed",
        total_amount: MoneyJson(placement.order.total),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Money;
    use domain::ids::ProductId;

    fn product(id: i64, name: &str, cents: i64, stock: i64) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            manager_id: Some(ManagerId::parse("m").unwrap()),
            name: ProductName::parse(name).unwrap(),
            description: Description::default(),
            price: Money::from_cents(cents).unwrap(),
            stock: Stock::new(stock).unwrap(),
            discontinued: false,
        }
    }

    #[test]
    fn items_are_written_as_serde_writes_the_documented_response() {
        let products = [
            product(1, "Coffee", 1599, 100),
            product(10, "Quote \" back \\ ctrl \u{1} é 漢字", 1290, 0),
            product(99, "Mug", 100_000_000_000, 2_147_483_647),
            product(100, "Spoon", 0, 1),
            product(9_007_199_254_740_991, "Fork", 5, 1),
        ];
        let items = ItemsResponse::of(&products);
        for item in &items.products {
            let written = json::to_bytes(item);
            assert_eq!(written, serde_json::to_vec(item).unwrap());
            assert!(written.len() <= item.size_hint());
        }
        assert_eq!(json::to_bytes(&items), serde_json::to_vec(&items).unwrap());
        assert_eq!(json::to_bytes(&ItemsResponse::of(&[])), serde_json::to_vec(&ItemsResponse::of(&[])).unwrap());
        assert_eq!(serde_json::to_value(&items).unwrap()["products"][0]["id"], "prod_001");
    }
}
