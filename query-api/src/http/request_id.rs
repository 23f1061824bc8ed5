//! `X-Request-ID`: a valid incoming id is kept (so a trace crosses services), anything else is
//! replaced by a new id in the seed's format `req_<unix microseconds>_<8 hex digits>`.

use salvo::http::{HeaderName, HeaderValue};
use salvo::{Request, Response};

/// The header carrying the id, on requests and responses.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id accepted.
const MAX_LEN: usize = 128;

/// Sets the request id on the response (where the access log reads it back).
pub fn assign(req: &Request, res: &mut Response) {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .filter(|v| is_valid(v.as_bytes()))
        .cloned()
        .unwrap_or_else(generate);
    res.headers_mut().insert(REQUEST_ID, id);
}

/// The request id [`assign`] set (`-` before it ran).
pub fn of(res: &Response) -> &str {
    res.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// 1 to 128 characters of letters, digits and `-_.:/+=@`: enough for UUIDs, ULIDs, W3C trace
/// ids and the seed's format, and nothing that could break a log line or a header.
fn is_valid(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// `req_<unix microseconds>_<8 lowercase hex digits>`, assembled on the stack (one
/// allocation: the header's own).
fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let mut id = [0u8; 4 + 39 + 1 + 8];
    id[..4].copy_from_slice(b"req_");
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(micros).as_bytes();
    let mut len = 4 + digits.len();
    id[4..len].copy_from_slice(digits);
    id[len] = b'_';
    len += 1;
    let random = rand::random::<u32>();
    for (i, slot) in id[len..len + 8].iter_mut().enumerate() {
        *slot = HEX[((random >> (28 - 4 * i)) & 0xf) as usize];
    }
    len += 8;
    HeaderValue::from_bytes(&id[..len]).unwrap_or(HeaderValue::from_static("req_0_00000000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_seed_format() {
        let id = generate();
        let text = id.to_str().expect("ascii");
        let parts: Vec<_> = text.split('_').collect();
        assert_eq!(parts.len(), 3, "{text}");
        assert_eq!(parts[0], "req");
        assert!(parts[1].len() >= 16 && parts[1].bytes().all(|b| b.is_ascii_digit()));
        assert!(parts[2].len() == 8 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(is_valid(id.as_bytes()));
    }

    #[test]
    fn validation() {
        for ok in [
            "abc",
            "req_1_deadbeef",
            "0af7651916cd43dd8448eb211c80319c",
            "a:b/c=d",
        ] {
            assert!(is_valid(ok.as_bytes()), "{ok}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in ["", "a b", "a\"b", "x\u{7f}", long.as_str()] {
            assert!(!is_valid(bad.as_bytes()), "{bad:?}");
        }
    }
}
