//! `PublishableKey::parse` on arbitrary text, and everything derived from a parsed key.
#![no_main]

use clerk_auth::PublishableKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(pk) = PublishableKey::parse(&text) {
        assert!(pk.frontend_api().contains('.'));
        assert!(!pk.frontend_api().contains('$'));
        assert!(pk.issuer().starts_with("https://"));
        assert!(pk.jwks_url().ends_with("/.well-known/jwks.json"));
        assert_eq!(pk.cookie_suffix().len(), 8);
    }
});
