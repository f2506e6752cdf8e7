//! Announcing the stock that orders take, to the other processes sharing the database.
//!
//! The `products` trigger stays quiet for an order's stock write (a notification inside the
//! order's transaction would make PostgreSQL commit orders one at a time), so the process that
//! placed the order says it instead, after the commit: [`AnnouncedOrders`] hands the ids of the
//! products an order or a status change touched to a [`ChangeAnnouncer`], which gathers them and
//! sends them on `catalogue_changed` in a statement of its own, outside any order's transaction,
//! at most once per [`ChangeAnnouncer::INTERVAL`].
//!
//! Payloads on `catalogue_changed`:
//!
//! - empty: anything may have changed (the trigger, on every write but an order's stock);
//! - `ORIGIN:ID,ID,...`: the stock of these products changed, through the process `ORIGIN`
//!   (16 hexadecimal digits);
//! - `ORIGIN:*`: anything may have changed, through `ORIGIN` (too many ids to name, or a status
//!   change whose outcome is unknown).
//!
//! A listener ignores its own process's announcements (its cache saw those changes first hand)
//! and reads anything it cannot parse as "anything may have changed".

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use diesel::sql_types::{Array, Text};
use diesel_async::RunQueryDsl as _;
use domain::ids::{OrderId, ProductId};
use domain::order::{Idempotency, Order, OrderRequest, Placement};
use domain::ports::OrderRepository;
use domain::status::OrderStatus;
use domain::{Error, Page, PageRequest};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::PgStore;
use super::error::QueryResultExt as _;
use super::listener::CHANNEL;

/// Longest payload sent: PostgreSQL refuses 8000 bytes and more.
const MAX_PAYLOAD_BYTES: usize = 7900;

/// Most payloads one announcement sends before it says "anything may have changed" instead.
const MAX_PAYLOADS: usize = 16;

/// Most ids kept while announcements fail, before they become "anything may have changed".
const MAX_PENDING: usize = 100_000;

/// Longest wait between attempts while announcements fail.
const LAST_RETRY: Duration = Duration::from_secs(1);

/// Which process announced a change: random per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin(u64);

impl Origin {
    /// A new origin, unlike any other process's.
    pub fn random() -> Origin {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        Origin(hasher.finish())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What a notification on `catalogue_changed` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Announcement {
    /// Anything may have changed.
    Everything,
    /// The stock of these products changed.
    Stock(Vec<ProductId>),
}

/// Reads a payload: `None` for an announcement of `own` process.
pub(crate) fn parse_payload(payload: &str, own: Option<Origin>) -> Option<Announcement> {
    let Some((origin, ids)) = payload.split_once(':') else { return Some(Announcement::Everything) };
    let origin = match u64::from_str_radix(origin, 16) {
        Ok(value) if origin.len() == 16 => Origin(value),
        _ => return Some(Announcement::Everything),
    };
    if Some(origin) == own {
        return None;
    }
    if ids == "*" {
        return Some(Announcement::Everything);
    }
    let ids: Option<Vec<ProductId>> =
        ids.split(',').map(|id| id.parse::<i64>().ok().and_then(|id| ProductId::new(id).ok())).collect();
    Some(ids.map_or(Announcement::Everything, Announcement::Stock))
}

/// What is still to be announced.
#[derive(Debug, Default)]
struct Pending {
    ids: BTreeSet<ProductId>,
    everything: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.everything && self.ids.is_empty()
    }

    fn merge(&mut self, other: Pending) {
        self.everything |= other.everything;
        self.ids.extend(other.ids);
        if self.ids.len() > MAX_PENDING {
            self.everything = true;
        }
        if self.everything {
            self.ids.clear();
        }
    }

    /// The payloads that announce it, from `origin`.
    fn payloads(&self, origin: Origin) -> Vec<String> {
        let everything = vec![format!("{origin}:*")];
        if self.everything {
            return everything;
        }
        let mut payloads = Vec::new();
        let mut payload = String::new();
        for id in &self.ids {
            let id = id.get().to_string();
            if !payload.is_empty() && payload.len() + 1 + id.len() > MAX_PAYLOAD_BYTES {
                payloads.push(std::mem::take(&mut payload));
            }
            if payload.is_empty() {
                payload = format!("{origin}:{id}");
            } else {
                payload.push(',');
                payload.push_str(&id);
            }
        }
        if !payload.is_empty() {
            payloads.push(payload);
        }
        if payloads.len() > MAX_PAYLOADS { everything } else { payloads }
    }
}

struct Shared {
    origin: Origin,
    store: PgStore,
    pending: Mutex<Pending>,
    wake: Notify,
    /// Held while sending, so that a flush returns only once what was taken before it is sent.
    sending: tokio::sync::Mutex<()>,
}

impl Shared {
    fn add(&self, more: Pending) {
        if more.is_empty() {
            return;
        }
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).merge(more);
        self.wake.notify_one();
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends what is pending; on failure keeps it for the next attempt.
    async fn send(&self) -> Result<(), Error> {
        let _sending = self.sending.lock().await;
        let pending = self.take();
        if pending.is_empty() {
            return Ok(());
        }
        let payloads = pending.payloads(self.origin);
        let sent = async {
            let mut conn = self.store.connection().await?;
            // One autocommit statement: its notifications are delivered together at its commit.
            diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2) AS payload")
                .bind::<Text, _>(CHANNEL)
                .bind::<Array<Text>, _>(&payloads)
                .execute(&mut **conn)
                .await
                .or_storage("announcing stock changes")
        }
        .await;
        if let Err(err) = sent {
            self.pending.lock().unwrap_or_else(PoisonError::into_inner).merge(pending);
            return Err(err);
        }
        Ok(())
    }
}

/// Gathers the products whose stock this process changed and announces them on
/// `catalogue_changed`, from a task of its own. Stops when dropped.
pub struct ChangeAnnouncer {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for ChangeAnnouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeAnnouncer").field("origin", &self.shared.origin).finish_non_exhaustive()
    }
}

impl ChangeAnnouncer {
    /// Longest a change waits for the changes gathered with it: at most one statement per
    /// interval per process, each sent as soon as the one before allows.
    pub const INTERVAL: Duration = Duration::from_millis(100);

    /// Starts announcing through `store`'s pool, on a task of the current Tokio runtime.
    ///
    /// # Errors
    /// Outside a Tokio runtime.
    pub fn spawn(store: PgStore) -> anyhow::Result<ChangeAnnouncer> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow::anyhow!("stock changes can only be announced inside a Tokio runtime"))?;
        let shared = Arc::new(Shared {
            origin: Origin::random(),
            store,
            pending: Mutex::default(),
            wake: Notify::new(),
            sending: tokio::sync::Mutex::new(()),
        });
        let task = runtime.spawn(announce_forever(shared.clone()));
        Ok(ChangeAnnouncer { shared, task })
    }

    /// The origin its payloads carry, for this process's listener to ignore.
    pub fn origin(&self) -> Origin {
        self.shared.origin
    }

    /// Announces, shortly, that the stock of `ids` changed.
    pub fn stock_changed(&self, ids: impl IntoIterator<Item = ProductId>) {
        self.shared.add(Pending { ids: ids.into_iter().collect(), everything: false });
    }

    /// Announces, shortly, that anything may have changed.
    pub fn anything_changed(&self) {
        self.shared.add(Pending { ids: BTreeSet::new(), everything: true });
    }

    /// Sends what is pending now (at shutdown).
    ///
    /// # Errors
    /// When the statement fails; what it was to announce stays pending.
    pub async fn flush(&self) -> Result<(), Error> {
        self.shared.send().await
    }
}

impl Drop for ChangeAnnouncer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn announce_forever(shared: Arc<Shared>) {
    let mut failures: u32 = 0;
    loop {
        shared.wake.notified().await;
        match shared.send().await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!("announcing stock changes again");
                }
                failures = 0;
                tokio::time::sleep(ChangeAnnouncer::INTERVAL).await;
            }
            Err(err) => {
                if failures == 0 {
                    tracing::warn!(error = format!("{err:#}"), "cannot announce stock changes; retrying");
                }
                failures = failures.saturating_add(1);
                let wait = ChangeAnnouncer::INTERVAL.saturating_mul(2_u32.saturating_pow(failures.min(8)));
                tokio::time::sleep(wait.min(LAST_RETRY)).await;
                shared.wake.notify_one();
            }
        }
    }
}

/// Orders whose stock changes are announced to the other processes once committed.
pub struct AnnouncedOrders {
    orders: Arc<dyn OrderRepository>,
    announcer: Arc<ChangeAnnouncer>,
}

impl fmt::Debug for AnnouncedOrders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnnouncedOrders").field("announcer", &self.announcer).finish_non_exhaustive()
    }
}

impl AnnouncedOrders {
    /// `orders`, announcing through `announcer`.
    pub fn new(orders: Arc<dyn OrderRepository>, announcer: Arc<ChangeAnnouncer>) -> AnnouncedOrders {
        AnnouncedOrders { orders, announcer }
    }
}

#[async_trait]
impl OrderRepository for AnnouncedOrders {
    async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
        let ids = request.product_ids();
        let outcome = self.orders.place(request, idempotency).await;
        match &outcome {
            Ok(placement) if !placement.replayed => {
                self.announcer.stock_changed(placement.order.lines.iter().map(|l| l.product_id));
            }
            // A storage failure may come after the commit.
            Err(err) if err.is_storage_failure() => self.announcer.stock_changed(ids),
            // A replay places nothing; a refusal changes nothing.
            _ => {}
        }
        outcome
    }

    async fn find(&self, id: OrderId) -> Result<Option<Order>, Error> {
        self.orders.find(id).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
        self.orders.list(page).await
    }

    async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
        let outcome = self.orders.change_status(id, status).await;
        match &outcome {
            Ok(order) => self.announcer.stock_changed(order.lines.iter().map(|l| l.product_id)),
            Err(err) if err.is_storage_failure() => self.announcer.anything_changed(),
            Err(_) => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[i64]) -> Vec<ProductId> {
        ids.iter().map(|&id| ProductId::new(id).unwrap()).collect()
    }

    fn pending(list: &[i64]) -> Pending {
        Pending { ids: ids(list).into_iter().collect(), everything: false }
    }

    #[test]
    fn payloads_name_the_products_after_the_origin_and_read_back_as_sent() {
        let origin = Origin(0xab);
        assert_eq!(pending(&[42, 7, 7]).payloads(origin), vec!["00000000000000ab:7,42".to_owned()]);
        assert_eq!(parse_payload("00000000000000ab:7,42", None), Some(Announcement::Stock(ids(&[7, 42]))));
        assert_eq!(parse_payload("00000000000000ab:7,42", Some(Origin(1))), Some(Announcement::Stock(ids(&[7, 42]))));
        assert_eq!(parse_payload("00000000000000ab:7,42", Some(origin)), None, "its own announcement");
        assert_eq!(parse_payload("00000000000000ab:*", Some(origin)), None);
        assert_eq!(parse_payload("00000000000000ab:*", None), Some(Announcement::Everything));
    }

    #[test]
    fn anything_unreadable_means_anything_may_have_changed() {
        for payload in [
            "",
            "hello",
            "ab:1,2",
            "00000000000000ab:",
            "00000000000000ab:1,x",
            "00000000000000ab:0",
            "zzzzzzzzzzzzzzzz:1",
        ] {
            assert_eq!(parse_payload(payload, Some(Origin(0xcd))), Some(Announcement::Everything), "{payload:?}");
        }
    }

    #[test]
    fn many_products_are_split_over_payloads_under_the_limit_and_too_many_become_everything() {
        let origin = Origin(1);
        let many: Vec<i64> = (1_000_000_000_000..1_000_000_002_000).collect();
        let payloads = pending(&many).payloads(origin);
        assert!(payloads.len() > 1 && payloads.len() <= MAX_PAYLOADS, "{}", payloads.len());
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD_BYTES));
        let read: Vec<ProductId> = payloads
            .iter()
            .flat_map(|p| match parse_payload(p, None) {
                Some(Announcement::Stock(ids)) => ids,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(read, ids(&many));

        let too_many: Vec<i64> = (1_000_000_000_000..1_000_000_020_000).collect();
        assert_eq!(pending(&too_many).payloads(origin), vec![format!("{origin}:*")]);
    }

    #[test]
    fn everything_absorbs_the_ids_pending_with_it() {
        let mut gathered = pending(&[1, 2]);
        gathered.merge(Pending { ids: BTreeSet::new(), everything: true });
        gathered.merge(pending(&[3]));
        assert!(gathered.ids.is_empty());
        assert_eq!(gathered.payloads(Origin(2)), vec!["0000000000000002:*".to_owned()]);
    }
}
