//! Request size limits: a URL longer than `limits.max_url_bytes` gets 414, headers larger than
//! `limits.max_header_bytes` get 431, before any handler runs. (Hyper's own read buffer is
//! sized from the same settings, so larger requests are cut off before they are buffered.)

use salvo::Request;

use crate::config::LimitsConfig;
use crate::http::status::ApiError;

/// Checks the URL and header sizes.
pub fn check(req: &Request, limits: &LimitsConfig) -> Result<(), ApiError> {
    let url = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if url > limits.max_url_bytes as usize {
        return Err(ApiError::UriTooLong(limits.max_url_bytes));
    }
    // Name, ": ", value and CRLF per header line, as they were on the wire.
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > limits.max_header_bytes as usize {
        return Err(ApiError::HeadersTooLarge(limits.max_header_bytes));
    }
    Ok(())
}

/// Hyper's read buffer: big enough for the largest accepted request line and headers (so they
/// get a clear 414/431 from [`check`]), never below hyper's minimum of 8 KiB.
pub fn read_buffer(limits: &LimitsConfig) -> usize {
    let wanted = limits.max_url_bytes as usize + limits.max_header_bytes as usize + 1024;
    wanted.max(8192)
}
