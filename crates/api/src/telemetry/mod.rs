//! Log output: text for people, JSON for machines, written off the request path.

use std::io::{BufWriter, IsTerminal as _};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

mod text;

/// Lines queued for the writer thread before new ones are dropped (and counted as dropped):
/// a slow terminal or pipe must not slow requests down. Each queued line holds its own
/// allocation, so the queue's bound is also a bound on the memory a stalled reader can cost:
/// 16,384 lines is a few megabytes, and several seconds of logging at full speed.
const QUEUED_LINES: usize = 16_384;

/// The writer thread gathers the lines queued while it was busy into one write of up to this
/// many bytes, and writes as soon as the queue is empty. Stdout alone would make one system
/// call per line: measured, that was a third of a small request's CPU under load.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Installs the global subscriber; `RUST_LOG`, when set, wins over `log.level`. Lines go to
/// stdout through a writer thread, so a request never waits on the write; colours only when
/// stdout is a terminal. Keep the returned guard until exit: dropping it flushes what is queued.
/// Calling it again (as tests do) leaves the first subscriber in place and returns `None`.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(settings: &LogSettings) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(WRITE_BUFFER_BYTES, std::io::stdout()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stdout().is_terminal());
    let installed = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.fmt_fields(text::TextFields).event_format(text::TextFormat::default()).try_init(),
    };
    if installed.is_err() {
        return None;
    }
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
    Some(guard)
}
