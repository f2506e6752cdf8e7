//! Response bodies written straight into one pre-sized buffer: the product and order bodies are
//! most of what the service sends, and going through `serde_json` with owned response structs
//! cost an allocation per string field and a parse per money value. The output is byte for byte
//! what `serde_json` writes for the documented response types (`ProductResponse`,
//! `OrderResponse`): the route modules' tests compare the two.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, HttpResponseBuilder};
use domain::Money;

/// A JSON text being written. Callers put the punctuation and keys (`{"id":`); values go through
/// the typed methods, which escape and format them as `serde_json` does.
#[derive(Debug, Default)]
pub struct JsonWriter {
    buf: Vec<u8>,
}

/// Something that writes itself as JSON, with an estimate of its length so that the buffer is
/// allocated once.
pub trait WriteJson {
    /// A length the written text is not expected to exceed; only a capacity hint.
    fn size_hint(&self) -> usize;

    /// Appends the JSON text.
    fn write_json(&self, out: &mut JsonWriter);
}

impl<T: WriteJson> WriteJson for [T] {
    fn size_hint(&self) -> usize {
        self.iter().map(|item| item.size_hint() + 1).sum::<usize>() + 2
    }

    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("[");
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            item.write_json(out);
        }
        out.raw("]");
    }
}

impl JsonWriter {
    /// An empty text with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity) }
    }

    /// Appends text that is already JSON: punctuation and quoted keys.
    pub fn raw(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
    }

    /// Appends bytes that are already JSON: a text written before.
    pub fn raw_bytes(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
    }

    /// Appends a JSON string: quoted, with `"`, `\` and control characters escaped as
    /// `serde_json` escapes them (short forms where JSON has one, else `\u00xx`).
    pub fn string(&mut self, text: &str) {
        self.buf.push(b'"');
        let bytes = text.as_bytes();
        // Most strings need no escape: one copy.
        if !any_needs_escape(bytes) {
            self.buf.extend_from_slice(bytes);
        } else {
            self.escaped(bytes);
        }
        self.buf.push(b'"');
    }

    fn escaped(&mut self, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            self.buf.extend_from_slice(&bytes[start..i]);
            start = i + 1;
            match b {
                b'"' => self.buf.extend_from_slice(b"\\\""),
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                0x08 => self.buf.extend_from_slice(b"\\b"),
                0x0c => self.buf.extend_from_slice(b"\\f"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                _ => {
                    self.buf.extend_from_slice(b"\\u00");
                    self.buf.push(HEX[usize::from(b >> 4)]);
                    self.buf.push(HEX[usize::from(b & 0xf)]);
                }
            }
        }
        self.buf.extend_from_slice(&bytes[start..]);
    }

    /// Appends an integer.
    pub fn int(&mut self, n: impl itoa::Integer) {
        self.buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Appends money as the shortest exact decimal with at least one decimal place (`15.99`,
    /// `12.9`, `100.0`): the text of [`Money::to_plain_decimal`], without building a string.
    pub fn money(&mut self, money: Money) {
        let cents = money.cents();
        if cents < 0 {
            // Money is never negative; should it ever be, the domain's text stays the reference.
            self.raw(&money.to_plain_decimal());
            return;
        }
        self.int(cents / 100);
        self.buf.push(b'.');
        let (tens, ones) = (cents % 100 / 10, cents % 10);
        self.buf.push(b'0' + tens as u8);
        if ones != 0 {
            self.buf.push(b'0' + ones as u8);
        }
    }

    /// Appends a JSON string or `null`.
    pub fn optional_string(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.string(text),
            None => self.raw("null"),
        }
    }

    /// The length of the text written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The text written since the text had length `start`; empty if `start` is past its end.
    pub fn written_since(&self, start: usize) -> &str {
        self.buf.get(start..).and_then(|bytes| std::str::from_utf8(bytes).ok()).unwrap_or_default()
    }

    /// The text written so far.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any byte needs an escape, eight bytes at a time: for each byte of a word, whether it
/// is below 0x20, a quote or a backslash, with the usual carry tricks (a set high bit in
/// `(v - n) & !v` for a byte below `n`).
fn any_needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let (words, rest) = bytes.as_chunks::<8>();
    let flagged = words.iter().fold(0, |flags, word| {
        let v = u64::from_ne_bytes(*word);
        flags | below(v, 0x20) | below(v ^ (ONES * u64::from(b'"')), 1) | below(v ^ (ONES * u64::from(b'\\')), 1)
    });
    flagged != 0 || rest.iter().any(|&b| needs_escape(b))
}

/// `value` as a JSON text.
pub fn to_bytes<T: WriteJson + ?Sized>(value: &T) -> Bytes {
    let mut out = JsonWriter::with_capacity(value.size_hint());
    value.write_json(&mut out);
    out.into_bytes()
}

/// Finishes `response` with `value` as its JSON body, as [`HttpResponseBuilder::json`] would:
/// `Content-Type: application/json` and the bytes `serde_json` writes.
pub fn respond<T: WriteJson + ?Sized>(response: &mut HttpResponseBuilder, value: &T) -> HttpResponse {
    respond_with(response, to_bytes(value))
}

/// Finishes `response` with a JSON text written before as its body, as [`respond`] does.
pub fn respond_with(response: &mut HttpResponseBuilder, body: Bytes) -> HttpResponse {
    response.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    if body.len() > SLICE_BYTES { response.body(Slices(body)) } else { response.body(body) }
}

/// The largest piece of a body handed to the HTTP layer at a time.
///
/// actix-web copies a body into the connection's write buffer, which keeps its capacity for the
/// next response up to 128 KiB: every keep-alive connection that was once sent a large body (the
/// 74 KB inventory of 1,000 products) went on holding that much. Handed over in slices, a body
/// never grows the buffer much past the 32 KiB it fills before writing.
const SLICE_BYTES: usize = 16 * 1024;

/// A body handed over in slices of [`SLICE_BYTES`] (views of the same bytes, not copies), with its
/// length announced up front: `Content-Length` as for any other body.
struct Slices(Bytes);

impl MessageBody for Slices {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.0.len() as u64)
    }

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        let rest = &mut self.get_mut().0;
        if rest.is_empty() {
            return Poll::Ready(None);
        }
        let slice = rest.split_to(rest.len().min(SLICE_BYTES));
        Poll::Ready(Some(Ok(slice)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_large_body_goes_out_whole_with_its_length_in_slices() {
        let text: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut body = respond_with(&mut HttpResponse::Ok(), Bytes::from(text.clone())).into_body();
        assert_eq!(body.size(), BodySize::Sized(100_000));
        let mut sent = Vec::new();
        let mut slices = 0;
        while let Some(slice) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
            let slice = slice.unwrap();
            assert!(slice.len() <= SLICE_BYTES);
            sent.extend_from_slice(&slice);
            slices += 1;
        }
        assert_eq!(sent, text);
        assert_eq!(slices, 100_000usize.div_ceil(SLICE_BYTES));

        let small = respond_with(&mut HttpResponse::Ok(), Bytes::from_static(b"{}")).into_body();
        assert_eq!(small.try_into_bytes().ok(), Some(Bytes::from_static(b"{}")), "a small body goes as one piece");
    }

    fn written(write: impl FnOnce(&mut JsonWriter)) -> String {
        let mut out = JsonWriter::default();
        write(&mut out);
        String::from_utf8(out.into_bytes().to_vec()).unwrap()
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        for text in [
            "",
            "plain",
            "quote \" and backslash \\",
            "tab\tnew\nline\rfeed\u{c}back\u{8}",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "é ü 漢字 🦀 \u{2028}\u{2029}",
            &every_ascii,
        ] {
            assert_eq!(written(|out| out.string(text)), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn every_byte_that_needs_an_escape_is_found_at_every_position() {
        // Backgrounds next to the bytes looked for, and with the high bit set.
        for background in [b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xa2, 0xdc, 0xff] {
            for len in 0..20 {
                let plain = vec![background; len];
                assert!(!any_needs_escape(&plain));
                for at in 0..len {
                    for b in 0..=u8::MAX {
                        let mut bytes = plain.clone();
                        bytes[at] = b;
                        assert_eq!(
                            any_needs_escape(&bytes),
                            needs_escape(b),
                            "{b:#x} at {at} of {len} in {background:#x}"
                        );
                    }
                }
            }
        }
        assert!(!any_needs_escape("é ü 漢字 🦀 ~ \u{7f}".as_bytes()));
    }

    #[test]
    fn money_is_the_domains_plain_decimal() {
        for cents in [0, 1, 5, 10, 99, 100, 101, 110, 1290, 1599, 10_000, 4497, 100_000_000_000, i64::MAX] {
            let money = Money::from_cents(cents).unwrap();
            assert_eq!(written(|out| out.money(money)), money.to_plain_decimal(), "{cents}");
        }
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        for n in [0_i64, 1, -1, 9_007_199_254_740_991, i64::MIN, i64::MAX] {
            assert_eq!(written(|out| out.int(n)), serde_json::to_string(&n).unwrap());
        }
        assert_eq!(written(|out| out.int(u32::MAX)), "4294967295");
    }
}
