//! Listing pagination on the wire: `page`/`per_page` or `skip`/`limit` in, `X-Total-Count`
//! and an RFC 8288 `Link` header out.

use actix_web::HttpResponseBuilder;
use domain::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::errors::{ApiError, FieldErrors};
use crate::extract::QueryValue;

/// How the caller asked to paginate, kept so links answer in the same terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page` (from 1) and `per_page`.
    Pages { page: u64, per_page: u32 },
    /// `skip` and `limit`.
    Offsets { skip: u64, limit: u32 },
}

/// The pagination parameters of a listing's query string, as parsed and as documented.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1 (default 1).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295_i64)]
    page: Option<QueryValue<u64>>,
    /// Page size, 1..=500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    per_page: Option<QueryValue<u64>>,
    /// Items to skip (instead of `page`).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9223372036854775807_i64)]
    skip: Option<QueryValue<u64>>,
    /// Page size with `skip`, 1..=500.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<QueryValue<u64>>,
}

impl Paging {
    /// Checks the pagination parameters of a query.
    ///
    /// # Errors
    /// 400 naming each bad parameter, or both styles mixed.
    pub fn from_query(query: &PageQuery) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        let mut number = |key: &str, value: &Option<QueryValue<u64>>, min: u64, max: u64| -> Option<u64> {
            match value.as_ref()? {
                QueryValue::Valid(n) if (min..=max).contains(n) => Some(*n),
                _ if max == u64::MAX => {
                    errors.add(key, format!("must be an integer >= {min}"));
                    None
                }
                _ => {
                    errors.add(key, format!("must be an integer from {min} to {max}"));
                    None
                }
            }
        };
        let max = u64::from(PageRequest::MAX_LIMIT);
        let page = number("page", &query.page, 1, u64::from(u32::MAX));
        let per_page = number("per_page", &query.per_page, 1, max);
        let skip = number("skip", &query.skip, 0, i64::MAX as u64);
        let limit = number("limit", &query.limit, 1, max);
        let pages = query.page.is_some() || query.per_page.is_some();
        let offsets = query.skip.is_some() || query.limit.is_some();
        if pages && offsets {
            errors.add("query", "use either page/per_page or skip/limit, not both");
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&errors));
        }
        let default = u64::from(PageRequest::DEFAULT_LIMIT);
        let narrow = |n: u64| u32::try_from(n).unwrap_or(PageRequest::MAX_LIMIT);
        Ok(if offsets {
            Self::Offsets { skip: skip.unwrap_or(0), limit: narrow(limit.unwrap_or(default)) }
        } else {
            Self::Pages { page: page.unwrap_or(1), per_page: narrow(per_page.unwrap_or(default)) }
        })
    }

    /// The slice to ask storage for.
    pub fn request(self) -> PageRequest {
        match self {
            Self::Pages { page, per_page } => {
                PageRequest { offset: (page - 1).saturating_mul(u64::from(per_page)), limit: per_page }
            }
            Self::Offsets { skip, limit } => PageRequest { offset: skip, limit },
        }
    }

    /// Adds `X-Total-Count` and `Link` to a listing response. `path` is the listing's path and
    /// `extra` the non-pagination query parameters to keep in every link.
    pub fn write_headers(self, response: &mut HttpResponseBuilder, total: u64, path: &str, extra: &[(&str, String)]) {
        let link = |params: &[(&str, String)]| {
            let query = serde_urlencoded::to_string(extra.iter().chain(params).collect::<Vec<_>>()).unwrap_or_default();
            format!("<{path}?{query}>")
        };
        let mut links = Vec::with_capacity(4);
        match self {
            Self::Pages { page, per_page } => {
                let size = u64::from(per_page);
                let last = total.div_ceil(size).max(1);
                let at = |p: u64| link(&[("page", p.to_string()), ("per_page", per_page.to_string())]);
                links.push(format!("{}; rel=\"first\"", at(1)));
                if page > 1 {
                    links.push(format!("{}; rel=\"prev\"", at((page - 1).min(last))));
                }
                if page < last {
                    links.push(format!("{}; rel=\"next\"", at(page + 1)));
                }
                links.push(format!("{}; rel=\"last\"", at(last)));
            }
            Self::Offsets { skip, limit } => {
                let size = u64::from(limit);
                let last = total.saturating_sub(1) / size * size;
                let at = |s: u64| link(&[("skip", s.to_string()), ("limit", limit.to_string())]);
                links.push(format!("{}; rel=\"first\"", at(0)));
                if skip > 0 {
                    links.push(format!("{}; rel=\"prev\"", at(skip.saturating_sub(size).min(last))));
                }
                if skip.saturating_add(size) < total {
                    links.push(format!("{}; rel=\"next\"", at(skip + size)));
                }
                links.push(format!("{}; rel=\"last\"", at(last)));
            }
        }
        response.insert_header(("X-Total-Count", total.to_string()));
        response.insert_header((actix_web::http::header::LINK, links.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> PageQuery {
        serde_urlencoded::from_str(query).unwrap()
    }

    fn link_header(paging: Paging, total: u64) -> String {
        let mut response = actix_web::HttpResponse::Ok();
        paging.write_headers(&mut response, total, "/products", &[]);
        let response = response.finish();
        response.headers().get("link").unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn defaults_to_the_first_page_of_fifty() {
        let paging = Paging::from_query(&PageQuery::default()).unwrap();
        assert_eq!(paging.request(), PageRequest { offset: 0, limit: 50 });
    }

    #[test]
    fn pages_and_offsets_both_map_to_a_slice() {
        assert_eq!(
            Paging::from_query(&pairs("page=3&per_page=10")).unwrap().request(),
            PageRequest { offset: 20, limit: 10 }
        );
        assert_eq!(
            Paging::from_query(&pairs("skip=5&limit=2")).unwrap().request(),
            PageRequest { offset: 5, limit: 2 }
        );
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        for (query, field) in [
            ("page=0", "page"),
            ("per_page=501", "per_page"),
            ("limit=0", "limit"),
            ("skip=-1", "skip"),
            ("page=x", "page"),
        ] {
            let err = Paging::from_query(&pairs(query)).unwrap_err();
            assert!(err.body()["error"]["details"].get(field).is_some(), "{query}");
        }
        assert!(Paging::from_query(&pairs("page=1&skip=0")).is_err());
    }

    #[test]
    fn links_name_first_prev_next_and_last() {
        let header = link_header(Paging::Pages { page: 2, per_page: 10 }, 35);
        assert!(header.contains("</products?page=1&per_page=10>; rel=\"first\""));
        assert!(header.contains("</products?page=1&per_page=10>; rel=\"prev\""));
        assert!(header.contains("</products?page=3&per_page=10>; rel=\"next\""));
        assert!(header.contains("</products?page=4&per_page=10>; rel=\"last\""));
    }

    #[test]
    fn the_first_and_last_pages_have_no_prev_or_next() {
        let header = link_header(Paging::Pages { page: 1, per_page: 50 }, 0);
        assert!(!header.contains("prev") && !header.contains("next"));
        let header = link_header(Paging::Offsets { skip: 20, limit: 10 }, 25);
        assert!(header.contains("skip=10&limit=10>; rel=\"prev\""));
        assert!(!header.contains("next"));
        assert!(header.contains("skip=20&limit=10>; rel=\"last\""));
    }
}
