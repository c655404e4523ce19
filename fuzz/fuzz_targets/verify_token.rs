//! `Verifier::verify` (PEM key, issuer and authorized party configured) on arbitrary text.
//!
//! The seed `token_valid_until_2100.txt` is signed by the key below, so the fuzzer starts from
//! a token that passes every check (and then hits the verified-token cache).
#![no_main]

use std::sync::OnceLock;

use clerk_auth::Verifier;
use libfuzzer_sys::fuzz_target;

const PEM: &str = include_str!("key.pub.pem");

fn state() -> &'static (tokio::runtime::Runtime, Verifier) {
    static STATE: OnceLock<(tokio::runtime::Runtime, Verifier)> = OnceLock::new();
    STATE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let verifier = Verifier::builder()
            .jwt_key(PEM)
            .issuer("https://clerk.example.com")
            .authorized_parties(["http://localhost:3000"])
            .token_cache_capacity(64)
            .build()
            .expect("verifier");
        (rt, verifier)
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, verifier) = state();
    let text = String::from_utf8_lossy(data);
    let _ = rt.block_on(verifier.verify(&text));
});
