//! Storefront orders: `/orders`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use chrono::SecondsFormat;
use domain::ids::{OrderId, ProductId};
use domain::order::{
    Customer, CustomerId, Email, Idempotency, IdempotencyKey, Order, OrderRequest, Quantity, RequestedLine,
};
use domain::status::OrderStatus;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorBody, FieldErrors, method_not_allowed};
use crate::extract::{JsonBody, path_id, query};
use crate::json::{self, JsonWriter, WriteJson};
use crate::money::MoneyJson;
use crate::pagination::{PageQuery, Paging};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/orders")
            .route(web::get().to(list_orders))
            .route(web::post().to(place_order))
            .default_service(method_not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get_order))
            .route(web::patch().to(update_order))
            .default_service(method_not_allowed("GET, HEAD, PATCH")),
    );
}

/// One line of an order as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineResponse {
    #[schema(example = 1)]
    product_id: i64,
    #[schema(example = 2)]
    quantity: u32,
    /// The product's price when the order was placed.
    #[schema(value_type = f64, example = 15.99)]
    unit_price: MoneyJson,
}

/// Who an order is for.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse<'a> {
    #[schema(example = "cust_456")]
    id: &'a str,
    #[schema(example = "customer@example.com")]
    email: Option<&'a str>,
}

// Borrowed from the domain's order and written by `WriteJson`; the derived `Serialize` is the
// reference the tests hold that writer to. (Doc comments here are the OpenAPI descriptions.)
/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse<'a> {
    #[schema(example = 1)]
    id: i64,
    products: Vec<OrderLineResponse>,
    /// Exact sum of quantity x unit_price.
    #[schema(value_type = f64, example = 44.97)]
    total_price: MoneyJson,
    /// `pending`, `completed` or `cancelled`.
    #[schema(example = "pending")]
    status: &'static str,
    customer: Option<CustomerResponse<'a>>,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-22T10:15:00.123Z")]
    created_at: String,
}

impl<'a> From<&'a Order> for OrderResponse<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            id: order.id.get(),
            products: order
                .lines
                .iter()
                .map(|l| OrderLineResponse {
                    product_id: l.product_id.get(),
                    quantity: l.quantity.get(),
                    unit_price: MoneyJson(l.unit_price),
                })
                .collect(),
            total_price: MoneyJson(order.total),
            status: order.status.as_str(),
            customer: order
                .customer
                .as_ref()
                .map(|c| CustomerResponse { id: c.id.as_str(), email: c.email.as_ref().map(Email::as_str) }),
            created_at: order.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

impl WriteJson for OrderResponse<'_> {
    fn size_hint(&self) -> usize {
        // A line is at most 88 bytes with its comma; the rest, without the customer, at most 149.
        let customer = self.customer.as_ref().map_or(0, |c| c.id.len() + c.email.map_or(0, str::len) + 24);
        self.products.len() * 88 + customer + 152
    }

    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"id\":");
        out.int(self.id);
        out.raw(",\"products\":[");
        for (i, line) in self.products.iter().enumerate() {
            out.raw(if i == 0 { "{\"product_id\":" } else { ",{\"product_id\":" });
            out.int(line.product_id);
            out.raw(",\"quantity\":");
            out.int(line.quantity);
            out.raw(",\"unit_price\":");
            out.money(line.unit_price.0);
            out.raw("}");
        }
        out.raw("],\"total_price\":");
        out.money(self.total_price.0);
        out.raw(",\"status\":");
        out.string(self.status);
        out.raw(",\"customer\":");
        match &self.customer {
            None => out.raw("null"),
            Some(customer) => {
                out.raw("{\"id\":");
                out.string(customer.id);
                out.raw(",\"email\":");
                out.optional_string(customer.email);
                out.raw("}");
            }
        }
        out.raw(",\"created_at\":");
        out.string(&self.created_at);
        out.raw("}");
    }
}

/// A response builder finished with one order as its body.
fn order_response(response: &mut HttpResponseBuilder, order: &Order) -> HttpResponse {
    json::respond(response, &OrderResponse::from(order))
}

/// One product and quantity to order.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderLineBody {
    #[schema(example = 1, minimum = 1, maximum = 9007199254740991_i64)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    product_id: i64,
    /// At least 1.
    #[schema(example = 2, minimum = 1, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    quantity: i64,
}

/// Who the order is for.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerBody {
    #[schema(example = "cust_456", min_length = 1, max_length = 100, pattern = "\\S")]
    id: String,
    #[schema(example = "customer@example.com", format = Email, max_length = 254)]
    email: Option<String>,
}

/// An order to place: `products` (1..=100 lines; lines of one product are merged), or the
/// single-line shorthand `product_id` + `quantity` (+ `user_id`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"products": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}], "customer": {"id": "cust_456", "email": "customer@example.com"}}))]
pub struct PlaceOrderBody {
    #[schema(min_items = 1, max_items = 100)]
    products: Option<Vec<OrderLineBody>>,
    customer: Option<CustomerBody>,
    /// Shorthand: the one product.
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    product_id: Option<i64>,
    /// Shorthand: its quantity.
    #[schema(minimum = 1, maximum = 2147483647)]
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    quantity: Option<i64>,
    /// Shorthand: the customer's id.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    user_id: Option<String>,
}

/// Reads order lines, naming each bad field as `products[i].field`.
pub(crate) fn requested_lines(
    lines: impl IntoIterator<Item = (Result<ProductId, String>, i64)>,
    errors: &mut FieldErrors,
) -> Vec<RequestedLine> {
    lines
        .into_iter()
        .enumerate()
        .filter_map(|(i, (product, quantity))| {
            // The field paths are written only for an error: most lines have none.
            let product_id = product.map_err(|m| errors.add(format!("products[{i}].product_id"), m)).ok();
            let quantity = Quantity::new(quantity).map_err(|e| errors.add(format!("products[{i}].quantity"), e.0)).ok();
            Some(RequestedLine { product_id: product_id?, quantity: quantity? })
        })
        .collect()
}

impl PlaceOrderBody {
    fn into_request(self) -> Result<OrderRequest, ApiError> {
        let mut errors = FieldErrors::new();
        let raw_lines = match (self.products, self.product_id, self.quantity) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ApiError::invalid_field("body", "use either products or product_id/quantity, not both"));
            }
            (Some(lines), None, None) => lines.into_iter().map(|l| (l.product_id, l.quantity)).collect(),
            (None, Some(product_id), Some(quantity)) => vec![(product_id, quantity)],
            (None, Some(_), None) => return Err(ApiError::invalid_field("quantity", "is required")),
            (None, None, _) => return Err(ApiError::invalid_field("products", "is required")),
        };
        let lines = requested_lines(
            raw_lines.into_iter().map(|(id, q): (i64, i64)| (ProductId::new(id).map_err(|e| e.0), q)),
            &mut errors,
        );
        let customer = match (self.customer, self.user_id) {
            (Some(c), _) => {
                let id = errors.check("customer.id", CustomerId::parse(&c.id));
                let email = c.email.and_then(|e| errors.check("customer.email", Email::parse(&e)));
                id.map(|id| Customer { id, email })
            }
            (None, Some(user)) => {
                errors.check("user_id", CustomerId::parse(&user)).map(|id| Customer { id, email: None })
            }
            (None, None) => None,
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(&errors));
        }
        Ok(OrderRequest::new(lines, customer, None, OrderStatus::Pending)?)
    }
}

/// The new status of an order.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateOrderBody {
    /// `completed` or `cancelled`.
    #[schema(example = "cancelled", pattern = "^(completed|cancelled)$")]
    status: String,
}

/// The `Idempotency-Key` of a request, scoped, with a fingerprint of its body.
///
/// # Errors
/// 400 when the header is present but not a valid key.
pub(crate) fn idempotency(req: &HttpRequest, scope: String, body: &[u8]) -> Result<Option<Idempotency>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| IdempotencyKey::parse(v).ok())
        .ok_or_else(|| ApiError::invalid_field("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
    let fingerprint = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(Idempotency { scope, key, fingerprint }))
}

fn order_id(segment: &str) -> Result<OrderId, ApiError> {
    let id = path_id(segment, "id")?;
    OrderId::new(id).map_err(|e| ApiError::invalid_field("id", &e.0))
}

/// Places an order: all lines or nothing.
#[utoipa::path(
    post, path = "/orders", tag = "storefront", request_body = PlaceOrderBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe placement: the same key and body return the first order")),
    responses(
        (status = 201, description = "Placed (pending); `Location: /orders/{id}`", body = OrderResponse),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "`PRODUCT_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`INSUFFICIENT_STOCK` or `PRODUCT_DISCONTINUED`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`", body = ErrorBody),
    )
)]
pub async fn place_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<PlaceOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let idempotency = idempotency(&req, "storefront".to_owned(), &body.raw)?;
    let request = body.value.into_request()?;
    let placement = state.orders.place(request, idempotency).await?;
    if !placement.replayed {
        crate::metrics::order_placed("storefront");
    }
    let mut response = HttpResponse::Created();
    response.insert_header((LOCATION, format!("/orders/{}", placement.order.id)));
    if placement.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(order_response(&mut response, &placement.order))
}

/// Lists orders, newest first.
#[utoipa::path(
    get, path = "/orders", tag = "storefront", params(PageQuery),
    responses(
        (status = 200, description = "Orders; `X-Total-Count` (exact up to 10,000, estimated past that on PostgreSQL) and `Link` headers (`next` is an `after` cursor)", body = [OrderResponse]),
        (status = 400, description = "Bad query value", body = ErrorBody),
    )
)]
pub async fn list_orders(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_query(&query(&req)?)?;
    let page = state.orders.list(paging.request()).await?;
    let mut response = HttpResponse::Ok();
    let last_id = page.items.last().map(|o| o.id.get());
    paging.write_headers(&mut response, page.total, page.more, last_id, "/orders", &[]);
    let items: Vec<OrderResponse<'_>> = page.items.iter().map(OrderResponse::from).collect();
    Ok(json::respond(&mut response, items.as_slice()))
}

/// One order.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "storefront", params(("id" = i64, Path, description = "Order id", minimum = 1, maximum = 9007199254740991_i64)),
    responses(
        (status = 200, body = OrderResponse),
        (status = 400, description = "Id is not a positive integer", body = ErrorBody),
        (status = 404, description = "`ORDER_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_order(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(order_id(&id)?).await?;
    Ok(order_response(&mut HttpResponse::Ok(), &order))
}

/// Completes or cancels a pending order; cancelling puts its stock back.
#[utoipa::path(
    patch, path = "/orders/{id}", tag = "storefront", params(("id" = i64, Path, description = "Order id", minimum = 1, maximum = 9007199254740991_i64)),
    request_body = UpdateOrderBody,
    responses(
        (status = 200, body = OrderResponse),
        (status = 400, description = "Status is not completed or cancelled", body = ErrorBody),
        (status = 404, description = "`ORDER_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`INVALID_STATUS_TRANSITION`: the order is not pending", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn update_order(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<UpdateOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let id = order_id(&id)?;
    let status = body
        .value
        .status
        .parse::<OrderStatus>()
        .map_err(|_| ApiError::invalid_field("status", "must be completed or cancelled"))?;
    let order = state.orders.change_status(id, status).await?;
    Ok(order_response(&mut HttpResponse::Ok(), &order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use domain::Money;
    use domain::order::OrderLine;

    fn order(lines: usize, customer: Option<Customer>) -> Order {
        let lines: Vec<OrderLine> = (1..=lines)
            .map(|i| OrderLine {
                product_id: ProductId::new(i64::try_from(i).unwrap() * 1_000_003).unwrap(),
                quantity: Quantity::new(i64::try_from(i).unwrap() * 7).unwrap(),
                unit_price: Money::from_cents(i64::try_from(i).unwrap() * 1290 + 9).unwrap(),
            })
            .collect();
        Order {
            id: OrderId::new(9_007_199_254_740_991).unwrap(),
            lines,
            total: Money::from_cents(i64::MAX).unwrap(),
            status: OrderStatus::Completed,
            customer,
            manager_id: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, 15, 0).unwrap(),
        }
    }

    #[test]
    fn orders_are_written_as_serde_writes_the_documented_response() {
        let customer = |email: Option<&str>| Customer {
            id: CustomerId::parse("cust \"456\" é").unwrap(),
            email: email.map(|e| Email::parse(e).unwrap()),
        };
        let orders =
            [order(1, None), order(3, Some(customer(Some("customer@example.com")))), order(100, Some(customer(None)))];
        let responses: Vec<OrderResponse<'_>> = orders.iter().map(OrderResponse::from).collect();
        for response in &responses {
            let written = json::to_bytes(response);
            assert_eq!(written, serde_json::to_vec(response).unwrap());
            assert!(written.len() <= response.size_hint(), "{} > {}", written.len(), response.size_hint());
        }
        assert_eq!(json::to_bytes(responses.as_slice()), serde_json::to_vec(&responses).unwrap());
    }
}
