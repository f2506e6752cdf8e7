//! The one mapping from failures to HTTP: every error body is the envelope
//! `{"error": {"code", "message", "details"}}`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ALLOW, HeaderValue};
use actix_web::{HttpResponse, ResponseError, Route, web};
use domain::{Error, InvalidValue, Violation};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::ids::IdStyle;

/// Validation failures keyed by field path (`price`, `products[1].quantity`), in input order:
/// what a 400 lists in its `details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    /// No failures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One failure at `field`.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Records a failure at `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// Keeps the value of `result`, or records its error at `field`.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, InvalidValue>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.0);
                None
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The failures, in the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }

    /// The fields a broken rule of the domain is reported on. Orders and bulk loads carry their
    /// lines and items in `products`.
    pub fn of_violation(violation: &Violation) -> Self {
        let mut errors = Self::new();
        match violation {
            Violation::NoLines | Violation::NoItems => errors.add("products", "must hold at least one product"),
            Violation::TooManyLines { max } | Violation::TooManyItems { max } => {
                errors.add("products", format!("must hold at most {max} products"));
            }
            Violation::QuantityTooLarge(products) => {
                for product in products {
                    errors.add("products", format!("total quantity of product {product} must be at most 2147483647"));
                }
            }
            Violation::TotalTooLarge => errors.add("products", "order total is too large"),
            Violation::DuplicateNames(pairs) => {
                for (item, first) in pairs {
                    errors.add(format!("products[{item}].name"), format!("duplicates the name of products[{first}]"));
                }
            }
            Violation::SameProduct(pairs) => {
                for (item, first) in pairs {
                    errors.add(format!("products[{item}]"), format!("refers to the same product as products[{first}]"));
                }
            }
            Violation::RestockOverflow(product) => errors.add(
                "status",
                format!(
                    "cancelling would put the stock of product {product} above the largest stock level; lower its stock first"
                ),
            ),
            Violation::BackToPending => errors.add("status", "must be completed or cancelled"),
        }
        errors
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, message)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

/// The answer of a resource to a method it does not serve: 405 naming the methods it does
/// (`Allow`); the edge middleware wraps it in the envelope and keeps the header.
pub(crate) fn method_not_allowed(allow: &'static str) -> Route {
    web::to(move || async move { HttpResponse::MethodNotAllowed().insert_header((ALLOW, allow)).finish() })
}

/// The error envelope on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of the error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code, one per status (see the README's error table).
    #[schema(example = "INSUFFICIENT_STOCK")]
    pub code: &'static str,
    /// Human-readable explanation.
    #[schema(example = "Insufficient stock for product 2")]
    pub message: String,
    /// Context: field paths for validation errors, ids and numbers for conflicts.
    #[schema(value_type = Object, example = json!({"product_id": 2, "requested": 5, "available": 3}))]
    pub details: Map<String, Value>,
}

/// A failure on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Boxed so that `Result<_, ApiError>` stays small on the happy path.
    details: Box<Map<String, Value>>,
    retry_after: Option<u64>,
    request_id: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Box::default(), retry_after: None, request_id: None }
    }

    /// Adds a `details` entry.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Sets `X-Request-Id` on the response (for errors rendered outside the request edge).
    pub fn with_request_id(mut self, request_id: String) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// 400 with one entry per invalid field.
    pub fn invalid(errors: &FieldErrors) -> Self {
        let mut err = Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("Invalid request: {errors}"));
        for (field, message) in errors.iter() {
            err.details.insert(field.to_owned(), Value::String(message.to_owned()));
        }
        err
    }

    /// 400 on one field.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        Self::invalid(&FieldErrors::single(field, message))
    }

    /// 404 for a route that does not exist.
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "No such resource")
    }

    /// A generic envelope for a status produced outside the handlers (router, framework).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::route_not_found(),
            StatusCode::METHOD_NOT_ALLOWED => {
                Self::new(status, "METHOD_NOT_ALLOWED", "Method not allowed on this resource")
            }
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(status, "PAYLOAD_TOO_LARGE", "Request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::new(status, "UNSUPPORTED_MEDIA_TYPE", "Request body must be application/json")
            }
            StatusCode::TOO_MANY_REQUESTS => Self::new(status, "RATE_LIMITED", "Too many requests"),
            StatusCode::SERVICE_UNAVAILABLE => Self::unavailable(),
            s if s.is_client_error() => Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "Invalid request"),
            _ => Self::internal(),
        }
    }

    /// 500 with a body that tells nothing of the cause.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "An unexpected error occurred")
    }

    /// 503 with a body that tells nothing of the cause.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable")
            .retry_after(1)
    }

    /// Maps a domain error, rendering ids in the surface's style. Causes of 5xx go to the log
    /// here, once, and never into the body.
    pub fn from_domain(err: Error, ids: IdStyle) -> Self {
        match err {
            Error::Invalid(violation) => Self::invalid(&FieldErrors::of_violation(&violation)),
            Error::ProductNotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND", format!("Product {} not found", ids.product(id)))
                    .detail("product_id", ids.product_json(id))
            }
            Error::OrderNotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND", format!("Order {} not found", ids.order(id)))
                    .detail("order_id", ids.order_json(id))
            }
            Error::ProductExists(id) => {
                Self::new(StatusCode::CONFLICT, "PRODUCT_EXISTS", format!("Product {} already exists", ids.product(id)))
                    .detail("product_id", ids.product_json(id))
            }
            Error::InsufficientStock { product_id, requested, available } => Self::new(
                StatusCode::CONFLICT,
                "INSUFFICIENT_STOCK",
                format!("Insufficient stock for product {}", ids.product(product_id)),
            )
            .detail("product_id", ids.product_json(product_id))
            .detail("requested", requested)
            .detail("available", available),
            Error::ProductDiscontinued(id) => Self::new(
                StatusCode::CONFLICT,
                "PRODUCT_DISCONTINUED",
                format!("Product {} is discontinued", ids.product(id)),
            )
            .detail("product_id", ids.product_json(id)),
            Error::InvalidStatusTransition { from, to } => Self::new(
                StatusCode::CONFLICT,
                "INVALID_STATUS_TRANSITION",
                format!("An order that is {from} cannot become {to}"),
            )
            .detail("from", from.as_str())
            .detail("to", to.as_str()),
            Error::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was already used with a different request body",
            ),
            Error::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "storage unavailable");
                Self::unavailable()
            }
            Error::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "unexpected failure");
                Self::internal()
            }
        }
    }

    /// The envelope.
    pub fn envelope(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail { code: self.code, message: self.message.clone(), details: (*self.details).clone() },
        }
    }

    /// The envelope as a JSON value.
    pub fn body(&self) -> Value {
        serde_json::to_value(self.envelope()).unwrap_or(Value::Null)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self::from_domain(err, IdStyle::Storefront)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if let Some(id) = self.request_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok()) {
            response.insert_header(("x-request-id", id));
        }
        response.json(self.envelope())
    }
}
