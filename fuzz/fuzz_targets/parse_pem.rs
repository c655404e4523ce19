//! `RsaPublicKey::from_pem` on arbitrary text, and the DER readers behind it on the raw bytes.
#![no_main]

use clerk_auth::{KeyError, RsaPublicKey, MAX_RSA_BITS, MIN_RSA_BITS};
use libfuzzer_sys::fuzz_target;

fn check(key: Result<RsaPublicKey, KeyError>) {
    if let Ok(key) = key {
        assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&key.bits()));
        // Verifying garbage with an accepted key must not panic either.
        assert!(!key.verify_rs256(b"message", &[0u8; 256]));
    }
}

fuzz_target!(|data: &[u8]| {
    check(RsaPublicKey::from_pem(&String::from_utf8_lossy(data)));
    check(RsaPublicKey::from_spki_der(data));
    check(RsaPublicKey::from_pkcs1_der(data));
});
