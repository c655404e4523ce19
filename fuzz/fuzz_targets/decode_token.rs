//! `token::decode` on arbitrary text: never panics, and whatever it accepts is canonical.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::internals as token;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(decoded) = token::decode(&text) else {
        return;
    };
    // Accepted: exactly three segments, RS256, within the size cap, and the signature segment
    // is the one canonical base64url spelling of the signature bytes.
    assert!(text.len() <= clerk_auth::MAX_TOKEN_LEN);
    assert_eq!(text.matches('.').count(), 2);
    assert_eq!(decoded.header.alg.as_deref(), Some("RS256"));
    let (signing_input, signature) = text.rsplit_once('.').expect("two dots");
    assert_eq!(decoded.signing_input, signing_input.as_bytes());
    assert_eq!(URL_SAFE_NO_PAD.encode(&decoded.signature), signature);
    if let Some(kid) = &decoded.header.kid {
        assert!(kid.len() <= clerk_auth::MAX_KID_LEN);
    }
});
