//! Text log lines, byte for byte as `tracing-subscriber`'s default format (`Full`) writes them
//! without colours, for a fraction of the instructions. Every request writes its access-log line
//! and formats its span's fields: through the default formatter that was a fifth of a small
//! request's instructions, most of it in `core::fmt` and in painting with styles that are empty
//! without colours. Colours (a terminal) and the rare field kinds (errors, raw identifiers) go
//! to the default formatter; the tests hold both to the same output.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format: timestamp, level, span scope, target, fields.
#[derive(Debug, Default)]
pub struct TextFormat {
    with_colours: Format<Full>,
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return self.with_colours.format_event(ctx, writer, event);
        }
        let Some(timestamp) = Timestamp::now() else {
            return self.with_colours.format_event(ctx, writer, event);
        };
        timestamp.write(&mut writer)?;
        let meta = event.metadata();
        writer.write_str(level(meta.level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// Now, as `2026-12-03T19:27:10.339451Z` (UTC, microseconds).
struct Timestamp {
    seconds: u64,
    micros: u32,
}

thread_local! {
    /// The date and time to the second of the last line this thread wrote: it changes once a
    /// second, lines come thousands of times a second.
    static LAST_SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

impl Timestamp {
    /// `None` before 1970 or past 9999, which the default formatter writes (differently) itself.
    fn now() -> Option<Self> {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let seconds = since_epoch.as_secs();
        (seconds < 253_402_300_800).then_some(Self { seconds, micros: since_epoch.subsec_micros() })
    }

    fn write(&self, writer: &mut Writer<'_>) -> fmt::Result {
        let (cached, mut text) = LAST_SECOND.get();
        if cached != self.seconds {
            let at = i64::try_from(self.seconds).ok().and_then(|s| chrono::DateTime::from_timestamp(s, 0));
            let Some(at) = at else { return Err(fmt::Error) };
            let mut formatted = String::with_capacity(19);
            write!(formatted, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            text.copy_from_slice(formatted.as_bytes().get(..19).ok_or(fmt::Error)?);
            LAST_SECOND.set((self.seconds, text));
        }
        writer.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)?;
        let mut fraction = *b".000000Z ";
        let mut micros = self.micros;
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        writer.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
    }
}

/// The field format: `message name=value ...`, values as their `Debug` text.
#[derive(Debug, Default)]
pub struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = TextVisitor { writer, is_empty: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes what `DefaultVisitor` writes without colours; hands it the kinds it writes specially.
struct TextVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Starts a field: `false` once writing has failed.
    fn begin(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.result = self.writer.write_char(' ');
        }
        if field.name() != "message" {
            self.result = self.result.and_then(|()| {
                self.writer.write_str(field.name())?;
                self.writer.write_char('=')
            });
        }
        self.result.is_ok()
    }

    /// Lets `DefaultVisitor` write the field, after the same separator.
    fn delegate(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut inner = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut inner);
        self.result = inner.finish();
        self.is_empty = false;
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        if self.begin(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    /// The message, with terminal control characters escaped as the default formatter does.
    fn message(&mut self, text: fmt::Arguments<'_>) {
        if self.writer.sanitizes_ansi_escapes() {
            self.result = write!(Sanitising(&mut self.writer), "{text}");
        } else {
            self.result = self.writer.write_fmt(text);
        }
    }
}

impl Visit for TextVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name().starts_with("r#") {
            return self.delegate(|inner| inner.record_debug(field, value));
        }
        if self.begin(field) {
            if field.name() == "message" {
                self.message(format_args!("{value:?}"));
            } else {
                self.result = write!(self.writer, "{value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.begin(field) {
                self.message(format_args!("{value}"));
            }
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name().starts_with("r#") || field.name() == "message" {
            return self.record_debug(field, &value);
        }
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name().starts_with("r#") || field.name() == "message" {
            return self.record_debug(field, &value);
        }
        self.integer(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(|inner| inner.record_error(field, value));
    }
}

/// Escapes what `tracing-subscriber` escapes in messages: ESC, BEL, BS, FF, DEL and C1 controls.
struct Sanitising<'a, 'b>(&'a mut Writer<'b>);

impl fmt::Write for Sanitising<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let needs = |c: char| matches!(c, '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}');
        if !text.chars().any(needs) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing::{debug, error, info, info_span, warn};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    /// Every kind of line the service writes, and the odd ones it might.
    fn emit() {
        info!("starting");
        info!(host = %"127.0.0.1", port = 8080_u16, backend = "memory", "listening");
        let span = info_span!("request", request_id = %"5f0c-42", method = %"GET", path = %"/products/1");
        info!(parent: &span, status = 200_u16, duration_us = 42_u64, "request served");
        let _entered = span.enter();
        warn!(path = "/orders", timeout_ms = 2000_u64, "request deadline passed; answering 503");
        let inner = info_span!("inner", count = -3_i64, ok = true);
        inner.in_scope(|| {
            error!(
                error = &Failure("outer", Some(Box::new(Failure("inner", None)))) as &dyn std::error::Error,
                "failed"
            );
            debug!(r#type = "raw", ratio = 0.5_f64, big = u128::MAX, bytes = ?b"ab", "raw names and floats");
            info!(message = "a message field", other = "x\ty\"z");
            info!("controls \x1b[31m red \x07 bell \u{85} next line \u{9f} é");
            info!(value = ?Some("debug"), "debug values {}", 7);
        });
        let empty = info_span!("empty");
        empty.in_scope(|| info!(target: "audit", manager_id = "m", status = 429_u64, "manager request"));
        let recorded = info_span!("recorded", first = 1_u64, later = tracing::field::Empty);
        recorded.record("later", "set");
        recorded.in_scope(|| info!(negative = i64::MIN, unsigned = u64::MAX));
    }

    fn lines<N, E>(ansi: bool, fields: N, format: E) -> Vec<String>
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
        E: FormatEvent<tracing_subscriber::Registry, N> + Send + Sync + 'static,
    {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_ansi(ansi)
            .with_writer(out.clone())
            .fmt_fields(fields)
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        // Both read the clock themselves; compare everything after the timestamp.
        text.lines().map(|line| line.split_once(' ').unwrap().1.to_owned()).collect()
    }

    #[test]
    fn lines_are_those_of_the_default_format_without_colours() {
        let ours = lines(false, TextFields, TextFormat::default());
        let default = lines(false, DefaultFields::new(), Format::<Full>::default());
        assert_eq!(ours.len(), 11);
        for (ours, default) in ours.iter().zip(&default) {
            assert_eq!(ours, default);
        }
        assert_eq!(ours, default);
    }

    #[test]
    fn with_colours_the_default_format_writes_the_lines() {
        let ours = lines(true, TextFields, TextFormat::default());
        assert!(ours[0].contains('\x1b'), "{ours:?}");
        assert_eq!(ours, lines(true, DefaultFields::new(), Format::<Full>::default()));
    }

    #[test]
    fn timestamps_are_utc_to_the_microsecond() {
        let mut text = String::new();
        Timestamp { seconds: 1_796_326_030, micros: 339_451 }.write(&mut Writer::new(&mut text)).unwrap();
        Timestamp { seconds: 0, micros: 7 }.write(&mut Writer::new(&mut text)).unwrap();
        Timestamp { seconds: 253_402_300_799, micros: 999_999 }.write(&mut Writer::new(&mut text)).unwrap();
        assert_eq!(text, "2026-12-03T19:27:10.339451Z 1970-01-01T00:00:00.000007Z 9999-12-31T23:59:59.999999Z ");
    }

    #[test]
    fn the_timestamp_is_the_clock_of_the_line() {
        let before = chrono::Utc::now();
        let mut text = String::new();
        Timestamp::now().unwrap().write(&mut Writer::new(&mut text)).unwrap();
        let after = chrono::Utc::now();
        let stamped = chrono::DateTime::parse_from_rfc3339(text.trim_end()).unwrap();
        use chrono::SubsecRound as _;
        assert!(before.trunc_subsecs(6) <= stamped && stamped <= after, "{text}");
    }
}
