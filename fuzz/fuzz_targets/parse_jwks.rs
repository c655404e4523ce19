//! `keys::parse_jwks` on arbitrary bytes (a JWKS response body).
#![no_main]

use clerk_auth::internals as keys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = keys::parse_jwks(data) {
        assert!(!set.is_empty() && set.len() <= keys::MAX_JWKS_KEYS);
        for kid in set.kids() {
            let key = set.get(kid).expect("listed kid");
            assert!((clerk_auth::MIN_RSA_BITS..=clerk_auth::MAX_RSA_BITS).contains(&key.bits()));
        }
    }
});
