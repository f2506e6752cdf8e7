//! Prometheus metrics: request counts and durations per route, and business counters.

use std::sync::OnceLock;

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
            Some(handle)
        })
        .as_ref()
}

/// Counts one answered request. `route` is the matched pattern (`/products/{id}`), so the
/// label set stays bounded whatever paths clients send.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(seconds);
}

/// Holds one request in the `http_requests_in_flight` gauge until dropped, so a request that
/// panics or whose client goes away still leaves it.
#[derive(Debug)]
pub struct InFlight(());

/// Counts a request as in flight for as long as the returned guard lives.
pub fn in_flight() -> InFlight {
    metrics::gauge!("http_requests_in_flight").increment(1.0);
    InFlight(())
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
    }
}

/// Counts one placed order, by surface.
pub fn order_placed(surface: &'static str) {
    metrics::counter!("orders_placed_total", "surface" => surface).increment(1);
}

/// Counts one request refused by the rate limit.
pub fn rate_limited() {
    metrics::counter!("rate_limited_requests_total").increment(1);
}
