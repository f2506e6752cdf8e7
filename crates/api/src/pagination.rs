//! Listing pagination on the wire: `page`/`per_page`, `skip`/`limit` or an `after` cursor in,
//! `X-Total-Count` and an RFC 8288 `Link` header out. Every `next` link is a cursor, so following
//! links costs the same however deep.

use actix_web::HttpResponseBuilder;
use actix_web::http::header::{HeaderName, HeaderValue};
use domain::PageRequest;
use domain::ids::MAX_ID;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::errors::{ApiError, FieldErrors};
use crate::extract::QueryValue;

/// How the caller asked to paginate, kept so links answer in the same terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    start: Start,
    size: u32,
    /// Whether the size came as `limit` (with `skip`) rather than `per_page` (with `page`).
    by_limit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// `page`, from 1.
    Page(u64),
    /// `skip`.
    Skip(u64),
    /// `after`: the last id of the previous page.
    After(i64),
}

/// The pagination parameters of a listing's query string, as parsed and as documented.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1 (default 1). Deep pages cost more than the first; the `next` link
    /// (an `after` cursor) does not.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295_i64)]
    page: Option<QueryValue<u64>>,
    /// Page size, 1..=500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    per_page: Option<QueryValue<u64>>,
    /// Items to skip (instead of `page`).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9223372036854775807_i64)]
    skip: Option<QueryValue<u64>>,
    /// Page size with `skip` or `after`, 1..=500.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<QueryValue<u64>>,
    /// Keyset cursor: the id of the last item of the previous page (products ascend by id, orders
    /// descend); the page holds the items that follow it. Costs what the first page costs however
    /// deep; `next` links use it. Not with `page` or `skip`; the size comes from `per_page` or
    /// `limit`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 9007199254740991_i64)]
    after: Option<QueryValue<u64>>,
}

impl Paging {
    /// Checks the pagination parameters of a query.
    ///
    /// # Errors
    /// 400 naming each bad parameter, both size styles mixed, or `after` with `page` or `skip`.
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
        let after = number("after", &query.after, 1, MAX_ID as u64);
        let pages = query.page.is_some() || query.per_page.is_some();
        let offsets = query.skip.is_some() || query.limit.is_some();
        if pages && offsets {
            errors.add("query", "use either page/per_page or skip/limit, not both");
        }
        if query.after.is_some() && (query.page.is_some() || query.skip.is_some()) {
            errors.add("after", "cannot be combined with page or skip");
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&errors));
        }
        let default = u64::from(PageRequest::DEFAULT_LIMIT);
        let narrow = |n: u64| u32::try_from(n).unwrap_or(PageRequest::MAX_LIMIT);
        let size = narrow(limit.or(per_page).unwrap_or(default));
        let start = match (after, skip) {
            (Some(after), _) => Start::After(i64::try_from(after).unwrap_or(MAX_ID)),
            (None, Some(skip)) => Start::Skip(skip),
            (None, None) if offsets => Start::Skip(0),
            (None, None) => Start::Page(page.unwrap_or(1)),
        };
        Ok(Self { start, size, by_limit: offsets })
    }

    /// The slice to ask storage for.
    pub fn request(self) -> PageRequest {
        match self.start {
            Start::Page(page) => PageRequest::offset((page - 1).saturating_mul(u64::from(self.size)), self.size),
            Start::Skip(skip) => PageRequest::offset(skip, self.size),
            Start::After(after) => PageRequest::after(after, self.size),
        }
    }

    /// Adds `X-Total-Count` and `Link` to a listing response. `more` says whether items follow
    /// this page and `last_id` is the id of its last item: `next` is the cursor after it. `path`
    /// is the listing's path and `extra` the non-pagination query parameters to keep in every link.
    pub fn write_headers(
        self,
        response: &mut HttpResponseBuilder,
        total: u64,
        more: bool,
        last_id: Option<i64>,
        path: &str,
        extra: &[(&str, &str)],
    ) {
        self.headers(total, more, last_id, path, extra).write_to(response);
    }

    /// The headers [`Self::write_headers`] adds, to add now or keep.
    pub fn headers(
        self,
        total: u64,
        more: bool,
        last_id: Option<i64>,
        path: &str,
        extra: &[(&str, &str)],
    ) -> ListingHeaders {
        let size = u64::from(self.size);
        let size_key = if self.by_limit { "limit" } else { "per_page" };
        let last = total.saturating_sub(1) / size * size;
        // A cursor page knows no position, and keyset pages only go forward: `first` goes back.
        let offset = match self.start {
            Start::Page(page) => Some((page - 1).saturating_mul(size)),
            Start::Skip(skip) => Some(skip),
            Start::After(_) => None,
        };
        let mut links = LinkHeader { text: String::with_capacity(256), path, extra, size_key, size: self.size };
        // Positions in the caller's own terms: page numbers, or offsets.
        let at = |links: &mut LinkHeader<'_>, offset: u64, rel: &str| {
            if self.by_limit {
                links.push("skip", offset, rel);
            } else {
                links.push("page", offset / size + 1, rel);
            }
        };
        at(&mut links, 0, "first");
        if let Some(offset) = offset.filter(|&offset| offset > 0) {
            let prev = if self.by_limit { offset.saturating_sub(size) } else { offset - size };
            at(&mut links, prev.min(last), "prev");
        }
        if let (true, Some(last_id)) = (more, last_id) {
            links.push("after", last_id, "next");
        }
        at(&mut links, last, "last");
        ListingHeaders { total: HeaderValue::from(total), link: HeaderValue::try_from(links.text).ok() }
    }
}

const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// The `X-Total-Count` and `Link` headers of a listing response.
#[derive(Debug, Clone)]
pub struct ListingHeaders {
    total: HeaderValue,
    link: Option<HeaderValue>,
}

impl ListingHeaders {
    /// Adds them to a response.
    pub fn write_to(&self, response: &mut HttpResponseBuilder) {
        response.insert_header((X_TOTAL_COUNT, self.total.clone()));
        if let Some(link) = &self.link {
            response.insert_header((actix_web::http::header::LINK, link.clone()));
        }
    }
}

/// A `Link` header being written: `<path?query>; rel="rel"` entries joined by `, `, each query the
/// extra parameters, then the position, then the page size, form-encoded.
struct LinkHeader<'a> {
    text: String,
    path: &'a str,
    extra: &'a [(&'a str, &'a str)],
    size_key: &'static str,
    size: u32,
}

impl LinkHeader<'_> {
    fn push(&mut self, key: &str, value: impl itoa::Integer, rel: &str) {
        if !self.text.is_empty() {
            self.text.push_str(", ");
        }
        self.text.push('<');
        self.text.push_str(self.path);
        self.text.push('?');
        for &(extra_key, extra_value) in self.extra {
            self.text.extend(form_urlencoded::byte_serialize(extra_key.as_bytes()));
            self.text.push('=');
            self.text.extend(form_urlencoded::byte_serialize(extra_value.as_bytes()));
            self.text.push('&');
        }
        // The pagination keys are plain words and their values digits: nothing to encode.
        self.text.push_str(key);
        self.text.push('=');
        self.text.push_str(itoa::Buffer::new().format(value));
        self.text.push('&');
        self.text.push_str(self.size_key);
        self.text.push('=');
        self.text.push_str(itoa::Buffer::new().format(self.size));
        self.text.push_str(">; rel=\"");
        self.text.push_str(rel);
        self.text.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> PageQuery {
        serde_urlencoded::from_str(query).unwrap()
    }

    fn paging(query: &str) -> Paging {
        Paging::from_query(&pairs(query)).unwrap()
    }

    fn link_header(paging: Paging, total: u64, more: bool, last_id: i64) -> String {
        let mut response = actix_web::HttpResponse::Ok();
        paging.write_headers(&mut response, total, more, Some(last_id), "/products", &[]);
        let response = response.finish();
        response.headers().get("link").unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn defaults_to_the_first_page_of_fifty() {
        assert_eq!(Paging::from_query(&PageQuery::default()).unwrap().request(), PageRequest::offset(0, 50));
    }

    #[test]
    fn pages_offsets_and_cursors_each_map_to_a_slice() {
        assert_eq!(paging("page=3&per_page=10").request(), PageRequest::offset(20, 10));
        assert_eq!(paging("skip=5&limit=2").request(), PageRequest::offset(5, 2));
        assert_eq!(paging("after=7&per_page=3").request(), PageRequest::after(7, 3));
        assert_eq!(paging("after=7&limit=4").request(), PageRequest::after(7, 4));
        assert_eq!(paging("after=7").request(), PageRequest::after(7, 50));
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        for (query, field) in [
            ("page=0", "page"),
            ("per_page=501", "per_page"),
            ("limit=0", "limit"),
            ("skip=-1", "skip"),
            ("page=x", "page"),
            ("after=0", "after"),
            ("after=-3", "after"),
            ("after=x", "after"),
            ("after=9007199254740992", "after"),
            ("after=3&page=2", "after"),
            ("after=3&skip=0", "after"),
        ] {
            let err = Paging::from_query(&pairs(query)).unwrap_err();
            assert!(err.body()["error"]["details"].get(field).is_some(), "{query}");
        }
        assert!(Paging::from_query(&pairs("page=1&skip=0")).is_err());
    }

    #[test]
    fn links_name_first_prev_next_and_last_and_next_is_a_cursor() {
        let header = link_header(paging("page=2&per_page=10"), 35, true, 20);
        assert!(header.contains("</products?page=1&per_page=10>; rel=\"first\""), "{header}");
        assert!(header.contains("</products?page=1&per_page=10>; rel=\"prev\""), "{header}");
        assert!(header.contains("</products?after=20&per_page=10>; rel=\"next\""), "{header}");
        assert!(header.contains("</products?page=4&per_page=10>; rel=\"last\""), "{header}");
        let header = link_header(paging("skip=10&limit=10"), 35, true, 20);
        assert!(header.contains("</products?skip=0&limit=10>; rel=\"prev\""), "{header}");
        assert!(header.contains("</products?after=20&limit=10>; rel=\"next\""), "{header}");
        assert!(header.contains("</products?skip=30&limit=10>; rel=\"last\""), "{header}");
    }

    #[test]
    fn extra_parameters_lead_every_link_and_entries_are_joined_by_commas() {
        let mut response = actix_web::HttpResponse::Ok();
        paging("page=2&per_page=10").write_headers(
            &mut response,
            35,
            true,
            Some(20),
            "/products",
            &[("in_stock", "true")],
        );
        let response = response.finish();
        assert_eq!(
            response.headers().get("link").unwrap(),
            "</products?in_stock=true&page=1&per_page=10>; rel=\"first\", \
             </products?in_stock=true&page=1&per_page=10>; rel=\"prev\", \
             </products?in_stock=true&after=20&per_page=10>; rel=\"next\", \
             </products?in_stock=true&page=4&per_page=10>; rel=\"last\""
        );
        assert_eq!(response.headers().get("x-total-count").unwrap(), "35");
    }

    #[test]
    fn a_cursor_page_links_forward_and_back_to_the_first() {
        let header = link_header(paging("after=20&per_page=10"), 35, true, 30);
        assert!(header.contains("</products?page=1&per_page=10>; rel=\"first\""), "{header}");
        assert!(!header.contains("prev"), "{header}");
        assert!(header.contains("</products?after=30&per_page=10>; rel=\"next\""), "{header}");
        assert!(header.contains("</products?page=4&per_page=10>; rel=\"last\""), "{header}");
    }

    #[test]
    fn the_first_and_last_pages_have_no_prev_or_next() {
        let header = link_header(paging("page=1&per_page=50"), 0, false, 1);
        assert!(!header.contains("prev") && !header.contains("next"));
        let header = link_header(paging("skip=20&limit=10"), 25, false, 5);
        assert!(header.contains("skip=10&limit=10>; rel=\"prev\""));
        assert!(!header.contains("next"));
        assert!(header.contains("skip=20&limit=10>; rel=\"last\""));
    }
}
