//! JSON as the seed's (Go) encoder wrote it, two ways: by hand for the hot path ([`push_str`],
//! [`push_u64`]: the per-pair price item and the access log), and through serde for every other
//! body ([`to_body`]), so the two escape alike.
//!
//! Strings are escaped like Go's `encoding/json`: besides quotes, backslashes and control
//! characters, `<`, `>`, `&`, U+2028 and U+2029 become `\uXXXX`, so a reflected pair name can
//! never turn into markup in a careless client. Bodies end with a newline, as Go's encoder
//! wrote them.

use std::io;

use bytes::BufMut;
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// Appends `s` as a JSON string literal, quotes included.
pub fn push_str(out: &mut impl BufMut, s: &str) {
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let escape: Option<&[u8]> = match ch {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            c if (c as u32) < 0x20 => None,
            c => match markup_escape(c) {
                Some(escape) => Some(escape),
                None => continue,
            },
        };
        out.put_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.put_slice(e),
            None => out.put_slice(&control_escape(ch as u8)),
        }
        start = i + ch.len_utf8();
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

/// Appends an unsigned integer, formatted without allocating.
pub fn push_u64(out: &mut impl BufMut, n: u64) {
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `value` as a response body: serde's JSON with Go's escaping, then a newline.
///
/// The body types hold strings, numbers, raw JSON numbers, vectors and string-keyed maps, whose
/// serialisation into memory cannot fail; should a future type fail, the error is logged and
/// the body is `{}`.
pub fn to_body<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    if let Err(err) = write(&mut out, value) {
        tracing::error!(error = %err, "a response body could not be serialised");
        out.clear();
        out.extend_from_slice(b"{}");
    }
    out.push(b'\n');
    out
}

/// Writes `value` as JSON with Go's escaping (no newline).
pub fn write<T: Serialize>(out: impl io::Write, value: &T) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, GoEscapes);
    value.serialize(&mut serializer)
}

/// serde_json's compact output with the escapes of [`push_str`]: serde escapes quotes,
/// backslashes and control characters itself (this spells `\b` and `\f` as Go's `\u0008` and
/// `\u000c`), and hands the rest over in fragments, where the markup characters are escaped.
struct GoEscapes;

impl Formatter for GoEscapes {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if let Some(escape) = markup_escape(ch) {
                writer.write_all(&bytes[start..i])?;
                writer.write_all(escape)?;
                start = i + ch.len_utf8();
            }
        }
        writer.write_all(&bytes[start..])
    }

    fn write_char_escape<W>(&mut self, writer: &mut W, escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let short: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::Backspace => return writer.write_all(&control_escape(0x08)),
            CharEscape::FormFeed => return writer.write_all(&control_escape(0x0c)),
            CharEscape::AsciiControl(byte) => return writer.write_all(&control_escape(byte)),
        };
        writer.write_all(short)
    }
}

/// The escape of a character that is valid in JSON but not in HTML or JavaScript source.
fn markup_escape(ch: char) -> Option<&'static [u8]> {
    match ch {
        '<' => Some(b"\\u003c"),
        '>' => Some(b"\\u003e"),
        '&' => Some(b"\\u0026"),
        '\u{2028}' => Some(b"\\u2028"),
        '\u{2029}' => Some(b"\\u2029"),
        _ => None,
    }
}

/// `\u00XX` with lower-case hex digits.
fn control_escape(byte: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(byte >> 4)],
        HEX[usize::from(byte & 0xf)],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(quoted("BTC/USD"), r#""BTC/USD""#);
        assert_eq!(quoted("<script>&\"\\"), r#""\u003cscript\u003e\u0026\"\\""#);
        assert_eq!(quoted("a\nb\u{1}\u{2028}é"), r#""a\nb\u0001\u2028é""#);
    }

    #[test]
    fn output_is_valid_json_for_any_input() {
        for s in ["", "x", "\u{0}\u{1f}", "日本", "\"\"", "\u{7f}"] {
            let back: String = serde_json::from_str(&quoted(s)).expect("valid json");
            assert_eq!(back, s);
        }
    }

    #[test]
    fn serde_bodies_escape_like_the_hand_written_writer() {
        let every_escape: String = (0u8..0x20)
            .map(char::from)
            .chain("\"\\/<>&\u{2028}\u{2029}é日 BTC/USD".chars())
            .collect();
        for s in [
            every_escape.as_str(),
            "",
            "plain",
            "<script>alert(1)</script>",
        ] {
            let mut serde = Vec::new();
            write(&mut serde, &s).expect("serialises");
            assert_eq!(String::from_utf8(serde).expect("utf8"), quoted(s), "{s:?}");
        }
        assert_eq!(to_body(&["a<b"]), b"[\"a\\u003cb\"]\n");
    }
}
