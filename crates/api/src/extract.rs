//! Request extraction that fails with the envelope: JSON bodies (415, 413, 400 with the field
//! path), query strings and path ids.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::StreamExt;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use crate::errors::ApiError;

/// The most bytes a request body may have; stored as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body, with the raw bytes it was read from.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// The bytes as sent (for idempotency fingerprints).
    pub raw: Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(1024 * 1024, |l| l.0);
        let is_json = is_json(req.headers());
        let declared = declared_length(req.headers());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
            let raw = read_body(&mut payload, declared, limit).await?;
            let value = parse_json(&raw)?;
            Ok(Self { value, raw })
        })
    }
}

/// Reads a whole request body of at most `limit` bytes.
///
/// # Errors
/// 413 past the limit; 400 when the body cannot be read.
pub async fn read_body(payload: &mut Payload, declared: Option<usize>, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE).detail("limit_bytes", limit);
    // Answering before the client has sent its whole body makes many clients see a reset instead
    // of the 413; so a moderately oversized body is read to its end and dropped.
    let drain_up_to = limit.saturating_mul(4);
    if declared.is_some_and(|n| n > drain_up_to) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    let mut received = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid_field("body", "could not be read"))?;
        received += chunk.len();
        if received > drain_up_to {
            return Err(too_large());
        }
        if received <= limit {
            body.extend_from_slice(&chunk);
        }
    }
    if received > limit {
        return Err(too_large());
    }
    Ok(body.freeze())
}

/// Whether a request declares a JSON body.
pub fn is_json(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<mime::Mime>().ok()).is_some_and(
        |m| m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON)),
    )
}

/// The declared `Content-Length`, if any.
pub fn declared_length(headers: &actix_web::http::header::HeaderMap) -> Option<usize> {
    headers.get(actix_web::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// Parses JSON, naming the offending field on a type error.
///
/// # Errors
/// 400 `INVALID_REQUEST`: `body` for malformed JSON, the field path otherwise.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object; serde would otherwise accept an array for a struct.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    // Tracking the path costs a third of the parse; it only serves the error message, so a body
    // that fails is parsed a second time, with tracking, to say where.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    if let Ok(value) = T::deserialize(&mut de)
        && de.end().is_ok()
    {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let inner = err.inner();
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or_default().to_owned();
        // A field error can surface before a syntax error further on: report the syntax first.
        let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if inner.is_syntax() || inner.is_eof() || !well_formed {
            return ApiError::invalid_field("body", &format!("malformed JSON: {message}"));
        }
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        // serde reports a missing field against its parent: name the field itself.
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            let full = if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") };
            return ApiError::invalid_field(&full, "is required");
        }
        ApiError::invalid_field(if path.is_empty() { "body" } else { &path }, &message)
    })?;
    de.end().map_err(|_| ApiError::invalid_field("body", "malformed JSON: trailing characters after the value"))?;
    Ok(value)
}

/// The query string as ordered key-value pairs.
///
/// # Errors
/// 400 when the query string cannot be decoded.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query).map_err(|_| ApiError::invalid_field("query", "could not be decoded"))
}

/// The last value of a query parameter, if present.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Reads a request's query string into `T`, the struct that also documents the parameters
/// (`IntoParams`). A parameter given twice counts with its last value; unknown ones are ignored.
///
/// # Errors
/// 400 when the query string cannot be decoded, or naming the parameter `T` refuses.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    query_from(req.query_string())
}

fn query_from<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // A query string that names every parameter once reads as it is. The rest (a repeated
    // parameter, a value `T` refuses) takes the longer way, which keeps the last value of each
    // and names the parameter on error.
    if !repeats_a_key(query)
        && let Ok(value) = T::deserialize(serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes())))
    {
        return Ok(value);
    }
    last_values(query)
}

fn last_values<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = query_pairs(query)?;
    let mut last: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs.into_iter().rev() {
        if !last.iter().any(|(seen, _)| *seen == key) {
            last.push((key, value));
        }
    }
    let encoded =
        serde_urlencoded::to_string(&last).map_err(|_| ApiError::invalid_field("query", "could not be decoded"))?;
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "query".to_owned() } else { path };
        ApiError::invalid_field(&field, &err.inner().to_string())
    })
}

fn repeats_a_key(query: &str) -> bool {
    let mut keys = Vec::with_capacity(8);
    for (key, _) in form_urlencoded::parse(query.as_bytes()) {
        if keys.contains(&key) {
            return true;
        }
        keys.push(key);
    }
    false
}

/// A query parameter as sent: its value parsed, or its text kept so that every bad parameter
/// can be reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryValue<T> {
    /// The text parsed.
    Valid(T),
    /// The text did not parse.
    Invalid(String),
}

impl<'de, T: std::str::FromStr> serde::Deserialize<'de> for QueryValue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match text.trim().parse() {
            Ok(value) => Self::Valid(value),
            Err(_) => Self::Invalid(text),
        })
    }
}

/// A yes/no query parameter: `true`/`1` or `false`/`0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl std::str::FromStr for Flag {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "true" | "1" => Ok(Self(true)),
            "false" | "0" => Ok(Self(false)),
            _ => Err(()),
        }
    }
}

/// A positive integer id from a path segment.
///
/// # Errors
/// 400 naming `field` when the segment is not an id.
pub fn path_id(segment: &str, field: &str) -> Result<i64, ApiError> {
    let not_an_id = || ApiError::invalid_field(field, "must be a positive integer at most 9007199254740991");
    let id = segment.parse::<i64>().map_err(|_| not_an_id())?;
    domain::ids::check_id(id).map_err(|_| not_an_id())
}

/// Reads an integer field that may arrive as a whole-valued number (`100.0`): JSON does not tell
/// integers from floats, and clients that compute quantities in floats send them so.
///
/// # Errors
/// When the number has a fractional part or does not fit in an `i64`; other JSON values fail as
/// they would for a `serde_json::Number`.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(WholeNumber)
}

/// Integers go straight through; anything else becomes the `serde_json::Number` it would have
/// been (with `arbitrary_precision`, its text as sent), so the messages stay those of `Number`.
struct WholeNumber;

impl<'de> serde::de::Visitor<'de> for WholeNumber {
    type Value = i64;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // What `serde_json::Number` expects, so type errors read the same.
        formatter.write_str("a JSON number")
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<i64, E> {
        Ok(n)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<i64, E> {
        i64::try_from(n).or_else(|_| whole(&serde_json::Number::from(n)))
    }

    fn visit_i128<E: serde::de::Error>(self, n: i128) -> Result<i64, E> {
        whole(&serde_json::Number::from_i128(n).ok_or_else(|| E::custom("JSON number out of range"))?)
    }

    fn visit_u128<E: serde::de::Error>(self, n: u128) -> Result<i64, E> {
        whole(&serde_json::Number::from_u128(n).ok_or_else(|| E::custom("JSON number out of range"))?)
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<i64, E> {
        whole(&serde_json::Number::from_f64(n).ok_or_else(|| E::custom("not a JSON number"))?)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<i64, A::Error> {
        // A number that is not a 64-bit integer arrives as `Number`'s private map.
        let number = serde_json::Number::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        whole(&number)
    }
}

fn whole<E: serde::de::Error>(number: &serde_json::Number) -> Result<i64, E> {
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    let text = number.to_string();
    let whole = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => whole,
        _ => return Err(E::custom(format!("must be a whole number, not {text}"))),
    };
    whole.parse().map_err(|_| E::custom(format!("must be a whole number in range, not {text}")))
}

/// [`whole_number`] for optional fields.
///
/// # Errors
/// As [`whole_number`].
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] i64);
    Ok(<Option<Whole> as serde::Deserialize>::deserialize(deserializer)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        product_id: i64,
        quantity: i64,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        products: Vec<Line>,
    }

    fn details(err: ApiError) -> serde_json::Value {
        err.body()["error"]["details"].clone()
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let err =
            parse_json::<Body>(br#"{"products":[{"product_id":1,"quantity":1},{"product_id":"x","quantity":1}]}"#)
                .unwrap_err();
        assert!(details(err).get("products[1].product_id").is_some());
    }

    #[test]
    fn missing_fields_are_named_with_their_parent_path() {
        let err = parse_json::<Body>(br#"{"products":[{"product_id":1}]}"#).unwrap_err();
        assert_eq!(details(err)["products[0].quantity"], "is required");
    }

    #[test]
    fn malformed_json_is_reported_on_the_body() {
        let err = parse_json::<Body>(b"{\"products\": [").unwrap_err();
        assert!(details(err).get("body").is_some());
        assert!(parse_json::<Body>(br#"{"products": []} trailing"#).is_err());
    }

    #[test]
    fn whole_valued_numbers_are_read_as_integers() {
        #[derive(Debug, Deserialize)]
        struct Stock {
            #[serde(deserialize_with = "whole_number")]
            stock: i64,
            #[serde(default, deserialize_with = "optional_whole_number")]
            id: Option<i64>,
        }
        let read: Stock = parse_json(br#"{"stock": 100.0, "id": 7.00}"#).unwrap();
        assert_eq!((read.stock, read.id), (100, Some(7)));
        assert_eq!(parse_json::<Stock>(br#"{"stock": 3}"#).unwrap().id, None);
        let err = parse_json::<Stock>(br#"{"stock": 1.5}"#).unwrap_err();
        assert!(details(err).get("stock").is_some());
        assert!(parse_json::<Stock>(br#"{"stock": "3"}"#).is_err());
    }

    /// Reading the number as a `serde_json::Number` first: what `whole_number` must match.
    fn whole_number_through_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let number = <serde_json::Number as serde::Deserialize>::deserialize(deserializer)?;
        whole(&number)
    }

    #[test]
    fn whole_numbers_read_and_fail_as_through_a_serde_json_number() {
        #[derive(Debug, Deserialize)]
        struct Direct {
            #[serde(deserialize_with = "whole_number")]
            n: i64,
        }
        #[derive(Debug, Deserialize)]
        struct ThroughNumber {
            #[serde(deserialize_with = "whole_number_through_number")]
            n: i64,
        }
        for value in [
            "3",
            "-3",
            "0",
            "-0",
            "0.0",
            "-0.0",
            "100.0",
            "7.00",
            "1.5",
            "1.50",
            "1e2",
            "1E2",
            "1.0e3",
            "1e-2",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "99999999999999999999.0",
            "\"3\"",
            "null",
            "true",
            "[]",
            "{}",
            "{\"a\":1}",
        ] {
            let body = format!("{{\"n\": {value}}}");
            let direct = parse_json::<Direct>(body.as_bytes()).map(|d| d.n).map_err(details);
            let through = parse_json::<ThroughNumber>(body.as_bytes()).map(|d| d.n).map_err(details);
            assert_eq!(direct, through, "{value}");
        }
    }

    #[test]
    fn a_query_string_reads_the_same_whether_or_not_a_key_repeats() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Query {
            page: Option<QueryValue<u64>>,
            per_page: Option<QueryValue<u64>>,
            in_stock: Option<QueryValue<Flag>>,
            status: Option<String>,
        }
        for text in [
            "",
            "page=2",
            "page=2&page=3",
            "per_page=x",
            "page=%32",
            "page=+2+",
            "%70age=5",
            "page",
            "=&&",
            "page=%ZZ",
            "a=1&b=2&page=1",
            "in_stock=true&in_stock=maybe",
            "in_stock=1",
            "status=%E2%9C%93",
            "status=a+b&status=c%26d",
            "page=1&per_page=10&page=4&per_page=x",
            "status=%FF",
        ] {
            let read = |result: Result<Query, ApiError>| result.map(|q| format!("{q:?}")).map_err(|e| e.body());
            assert_eq!(read(query_from(text)), read(last_values(text)), "{text}");
        }
        let read: Query = query_from("page=2&per_page=5&page=3").unwrap();
        assert_eq!((read.page, read.per_page), (Some(QueryValue::Valid(3)), Some(QueryValue::Valid(5))));
    }

    #[test]
    fn path_ids_must_be_positive_integers() {
        assert_eq!(path_id("12", "id").unwrap(), 12);
        for bad in ["0", "-1", "abc", "1.5", "99999999999999999999"] {
            assert!(path_id(bad, "id").is_err());
        }
    }
}
