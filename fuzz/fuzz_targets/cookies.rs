//! `request::session_token` over request headers built from arbitrary bytes.
//!
//! Input layout: one flags byte, then chunks separated by `\0`. Flag bit 0: the first chunk is
//! the `Authorization` header value (otherwise it is a `Cookie` header like the others); bit 1:
//! look for the suffixed cookie `__session_QvfNY2dr` too. Chunks that are not valid header
//! values are skipped, as a server would never hand them over.
#![no_main]

use clerk_auth::request::{self, TokenCarrier};
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (i, chunk) in rest.split(|&b| b == 0).enumerate() {
        let Ok(value) = HeaderValue::from_bytes(chunk) else {
            continue;
        };
        if i == 0 && flags & 1 == 1 {
            headers.insert(AUTHORIZATION, value);
        } else {
            headers.append(COOKIE, value);
        }
    }
    let suffix = (flags & 2 == 2).then_some("QvfNY2dr");
    // One Authorization header at most is inserted, so finding never refuses.
    let found = request::session_token(&headers, suffix).expect("one Authorization header");
    let _ = request::cookie(&headers, request::SESSION_COOKIE);
    if let Some(found) = found {
        if found.carrier == TokenCarrier::Header {
            assert!(!found.token.is_empty());
            assert_eq!(request::header_token(&headers), Ok(Some(&*found.token)));
        }
    }
});
