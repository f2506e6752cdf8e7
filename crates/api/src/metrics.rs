//! Prometheus metrics: request counts and durations per route, and business counters.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The metrics in Prometheus text format; empty when another recorder was installed first.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Installs the process-wide recorder on first use; later calls (several apps in one test
/// process) share it. `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            keep_up(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// How often the histograms' recent samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder keeps every duration sample until the histograms are rendered: under load and
/// with nobody scraping `/metrics`, that was tens of megabytes an hour. A thread of its own folds
/// them in every few seconds, so the memory they take stays flat whether or not anyone scrapes.
fn keep_up(handle: PrometheusHandle) {
    let started = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        }
    });
    if let Err(error) = started {
        tracing::warn!(%error, "metrics upkeep thread did not start; samples are folded in at each scrape only");
    }
}

/// Counts one answered request. `route` is the matched pattern (`/products/{id}`), so the
/// label set stays bounded whatever paths clients send.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    REQUEST_SERIES.with_borrow_mut(|seen| {
        let known = seen.get(route).and_then(|series| series.iter().find(|s| s.status == status && s.method == method));
        if let Some(series) = known {
            series.record(seconds);
            return;
        }
        let series = Series::register(method, route, status);
        series.record(seconds);
        seen.entry(route.to_owned()).or_default().push(series);
    });
}

thread_local! {
    /// Per route, the handles of the request series of each method and status a worker thread
    /// has seen: looking a series up in the registry means building its labels and hashing
    /// them, which cost more than the update itself.
    static REQUEST_SERIES: RefCell<HashMap<String, Vec<Series>, foldhash::fast::RandomState>> = RefCell::default();
}

struct Series {
    method: String,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl Series {
    fn register(method: &str, route: &str, status: u16) -> Self {
        // The recorder must be in place before a handle is kept, or it would be a no-op.
        handle();
        let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
        Self {
            method: method.to_owned(),
            status,
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels[..2]),
        }
    }

    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

/// A handle registered once, after the recorder is in place.
fn registered<T>(cell: &'static OnceLock<T>, register: impl FnOnce() -> T) -> &'static T {
    cell.get_or_init(|| {
        handle();
        register()
    })
}

/// Holds one request in the `http_requests_in_flight` gauge until dropped, so a request that
/// panics or whose client goes away still leaves it.
#[derive(Debug)]
pub struct InFlight(());

static IN_FLIGHT: OnceLock<Gauge> = OnceLock::new();

/// Counts a request as in flight for as long as the returned guard lives.
pub fn in_flight() -> InFlight {
    registered(&IN_FLIGHT, || metrics::gauge!("http_requests_in_flight")).increment(1.0);
    InFlight(())
}

impl Drop for InFlight {
    fn drop(&mut self) {
        registered(&IN_FLIGHT, || metrics::gauge!("http_requests_in_flight")).decrement(1.0);
    }
}

/// Counts one placed order, by surface.
pub fn order_placed(surface: &'static str) {
    static STOREFRONT: OnceLock<Counter> = OnceLock::new();
    static MANAGER: OnceLock<Counter> = OnceLock::new();
    let cell = match surface {
        "storefront" => &STOREFRONT,
        "manager" => &MANAGER,
        other => {
            metrics::counter!("orders_placed_total", "surface" => other).increment(1);
            return;
        }
    };
    registered(cell, || metrics::counter!("orders_placed_total", "surface" => surface)).increment(1);
}

/// Counts one request refused by the rate limit.
pub fn rate_limited() {
    metrics::counter!("rate_limited_requests_total").increment(1);
}
