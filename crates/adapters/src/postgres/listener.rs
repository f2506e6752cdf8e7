//! Cross-process cache invalidation: a session of its own that `LISTEN`s for the notification the
//! `products` trigger sends on every committed change but an order's stock write, and for the
//! announcements of the stock that orders took (`super::announcer`), whichever process made them.
//!
//! A notification sent while nobody listens is lost for good, so the listener also says when it
//! stops hearing ([`ChangeEvent::Disconnected`]) and when it hears again ([`ChangeEvent::Resynced`]):
//! in between, any change may have gone unannounced.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Connection, Socket};
use tracing::Instrument as _;

use domain::ids::ProductId;

use super::announcer::{Announcement, Origin, parse_payload};
use super::connect::{Target, TlsStream};
use super::store::redact_password;

/// The channel the trigger of migration `2026-11-22-000003` notifies, and announcements use.
pub(crate) const CHANNEL: &str = "catalogue_changed";

/// Name the listening session reports in `pg_stat_activity`, apart from the pool's sessions.
const APPLICATION_NAME: &str = "ecommerce-api-listener";

/// Wait before the first reconnection attempt; doubled after each failure up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// Longest wait for a connection to open and accept `LISTEN`: a server that hangs half-way must
/// not keep the listener from retrying.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening session hears nothing while the catalogue is quiet, so only TCP keepalives can tell
/// a quiet database from a vanished one (about a minute with these, against the two hours and more
/// of the defaults).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// What the listener tells its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// A change to `products` was committed: any product may have changed.
    Changed,
    /// Orders (or status changes) committed by another process changed the stock of these
    /// products, and only that.
    StockChanged(Vec<ProductId>),
    /// The listener lost its session, or could not open one: changes may go unannounced, so the
    /// caller must treat its cache as stale until [`ChangeEvent::Resynced`].
    Disconnected,
    /// Listening, for the first time or again after a loss: anything may have changed before.
    Resynced,
}

/// The callback of a [`ChangeListener`], called on the listener's task: it should return quickly.
pub type OnChange = Arc<dyn Fn(ChangeEvent) + Send + Sync>;

/// Calls `on_change` after every committed change to `products` made by any process sharing the
/// database. Reconnects by itself; stops when dropped.
#[derive(Debug)]
pub struct ChangeListener {
    task: Option<JoinHandle<()>>,
}

impl ChangeListener {
    /// Starts listening on a task of the current Tokio runtime. The first event is
    /// [`ChangeEvent::Resynced`] once listening, or [`ChangeEvent::Disconnected`] if the database
    /// cannot be reached; failures are logged, never returned. Without a runtime, or with a URL
    /// that does not parse, it logs that, sends [`ChangeEvent::Disconnected`] and never listens.
    pub fn spawn(database_url: &str, on_change: OnChange) -> ChangeListener {
        Self::listen(database_url, None, on_change)
    }

    /// As [`ChangeListener::spawn`], leaving out the announcements of `own` process.
    pub fn spawn_ignoring(database_url: &str, own: Origin, on_change: OnChange) -> ChangeListener {
        Self::listen(database_url, Some(own), on_change)
    }

    fn listen(database_url: &str, own: Option<Origin>, on_change: OnChange) -> ChangeListener {
        let database = redact_password(database_url);
        let config = match listener_config(database_url) {
            Ok(config) => config,
            Err(err) => {
                tracing::warn!(database.url = %database, error = format!("{err:#}"), "cannot listen for catalogue changes");
                on_change(ChangeEvent::Disconnected);
                return ChangeListener { task: None };
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(database.url = %database, "cannot listen for catalogue changes outside a Tokio runtime");
            on_change(ChangeEvent::Disconnected);
            return ChangeListener { task: None };
        };
        let span = tracing::info_span!("pg.change_listener", database.url = %database);
        let task = runtime.spawn(listen_forever(config, own, on_change).instrument(span));
        ChangeListener { task: Some(task) }
    }
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The settings of `database_url` (TLS included), with the listener's own session name and
/// keepalives.
fn listener_config(database_url: &str) -> anyhow::Result<Target> {
    let mut target = Target::parse(database_url)?;
    target
        .config_mut()
        .application_name(APPLICATION_NAME)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES);
    Ok(target)
}

/// Listens, reconnecting after every loss, until the task is aborted.
async fn listen_forever(config: Target, own: Option<Origin>, on_change: OnChange) {
    let mut retry = FIRST_RETRY;
    let mut in_outage = false;
    loop {
        let session = match tokio::time::timeout(SETUP_TIMEOUT, connect_and_listen(&config)).await {
            Ok(session) => session,
            Err(_) => Err(anyhow::anyhow!("no answer within {SETUP_TIMEOUT:?}")),
        };
        match session {
            Ok((client, connection)) => {
                if in_outage {
                    tracing::info!("listening for catalogue changes again");
                } else {
                    tracing::debug!("listening for catalogue changes");
                }
                retry = FIRST_RETRY;
                on_change(ChangeEvent::Resynced);
                let lost = relay(client, connection, own, &on_change).await;
                tracing::warn!(error = format!("{lost:#}"), "lost the catalogue change feed; reconnecting");
                in_outage = true;
                on_change(ChangeEvent::Disconnected);
            }
            Err(err) => {
                if in_outage {
                    tracing::debug!(error = format!("{err:#}"), "still cannot listen for catalogue changes");
                } else {
                    tracing::warn!(error = format!("{err:#}"), "cannot listen for catalogue changes; retrying");
                    in_outage = true;
                    on_change(ChangeEvent::Disconnected);
                }
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// A new session that has run `LISTEN`.
async fn connect_and_listen(config: &Target) -> anyhow::Result<(Client, Connection<Socket, TlsStream>)> {
    let (client, mut connection) = config.connect().await.context("connecting")?;
    // The client only queues the command: the connection has to be driven for it to be sent and
    // answered. Nothing can be notified before it is answered, so the messages meanwhile are dropped.
    let command = format!("LISTEN {CHANNEL}");
    let listened = {
        let listen = client.batch_execute(&command);
        tokio::pin!(listen);
        loop {
            tokio::select! {
                listened = &mut listen => break listened,
                message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(anyhow::Error::new(err).context("waiting for LISTEN")),
                    None => anyhow::bail!("the server closed the connection before LISTEN was answered"),
                },
            }
        }
    };
    listened.context("running LISTEN")?;
    Ok((client, connection))
}

/// Passes notifications on until the session ends, and returns why it did. The connection ends
/// as soon as its client is dropped, so the client is held here for as long as it runs.
async fn relay(
    _client: Client,
    mut connection: Connection<Socket, TlsStream>,
    own: Option<Origin>,
    on_change: &OnChange,
) -> anyhow::Error {
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(notification))) if notification.channel() == CHANNEL => {
                match parse_payload(notification.payload(), own) {
                    Some(Announcement::Everything) => on_change(ChangeEvent::Changed),
                    Some(Announcement::Stock(ids)) => on_change(ChangeEvent::StockChanged(ids)),
                    None => {}
                }
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return anyhow::Error::new(err),
            None => return anyhow::anyhow!("the server closed the connection"),
        }
    }
}
