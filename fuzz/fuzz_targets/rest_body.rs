//! libFuzzer entry point for [`ltp_fuzz::rest_body`]; the checks live in the library so the
//! proptest fallback runs exactly the same code.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ltp_fuzz::rest_body(data));
