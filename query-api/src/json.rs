//! Hand-written JSON for the bodies on the hot path and for bodies that echo user input.
//!
//! Strings are escaped like Go's `encoding/json` (the seed's encoder): besides quotes,
//! backslashes and control characters, `<`, `>`, `&`, U+2028 and U+2029 become `\uXXXX`, so a
//! reflected pair name can never turn into markup in a careless client.

use bytes::BufMut;

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
            '<' => Some(b"\\u003c"),
            '>' => Some(b"\\u003e"),
            '&' => Some(b"\\u0026"),
            '\u{2028}' => Some(b"\\u2028"),
            '\u{2029}' => Some(b"\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.put_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.put_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let c = ch as u8;
                out.put_slice(b"\\u00");
                out.put_u8(HEX[usize::from(c >> 4)]);
                out.put_u8(HEX[usize::from(c & 0xf)]);
            }
        }
        start = i + ch.len_utf8();
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

/// Appends an unsigned integer.
pub fn push_u64(out: &mut impl BufMut, n: u64) {
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
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
}
