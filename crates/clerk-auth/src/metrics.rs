//! The verifier's counters as Prometheus metrics (feature `prometheus`), for any application
//! that exposes a `prometheus-client` registry.
//!
//! ```
//! use clerk_auth::{Verifier, VerifierMetrics};
//! use prometheus_client::registry::Registry;
//!
//! # fn main() -> Result<(), clerk_auth::ConfigError> {
//! let verifier = Verifier::builder().jwks_url("https://clerk.example.com/.well-known/jwks.json").build()?;
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(VerifierMetrics::new(verifier.clone())));
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("token_cache_hits_total 0"));
//! # Ok(()) }
//! ```

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::Verifier;

/// A `prometheus-client` collector of a [`Verifier`]'s counters ([`Verifier::stats`]), read
/// at each scrape, so counting costs the verifier nothing more than it does already:
///
/// | metric | meaning |
/// |---|---|
/// | `jwks_fetches_total` | fetches of the JWKS, successful or not |
/// | `jwks_fetch_failures_total` | fetches that failed (network, status, timeout, size, parse) |
/// | `jwks_unknown_kid_refetches_total` | fetches started because a token named an unknown kid |
/// | `jwks_kid_misses_total` | verifications refused because of an unknown kid |
/// | `token_cache_hits_total` | verifications answered from the verified-token cache |
/// | `token_cache_misses_total` | verifications that had to check a signature |
/// | `machine_token_cache_hits_total` | opaque machine tokens answered from their cache (only with a secret key, as the next two) |
/// | `machine_token_backend_calls_total` | Backend API verify calls for opaque machine tokens |
/// | `machine_token_throttled_total` | opaque machine tokens refused because the call budget was spent |
#[derive(Debug, Clone)]
pub struct VerifierMetrics {
    verifier: Verifier,
}

impl VerifierMetrics {
    /// The collector of `verifier`'s counters.
    pub fn new(verifier: Verifier) -> Self {
        VerifierMetrics { verifier }
    }
}

impl Collector for VerifierMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let stats = self.verifier.stats();
        let counters = [
            (
                "jwks_fetches",
                "Fetches of Clerk's JWKS, successful or not",
                stats.jwks.fetches,
            ),
            (
                "jwks_fetch_failures",
                "Fetches of Clerk's JWKS that failed",
                stats.jwks.failures,
            ),
            (
                "jwks_unknown_kid_refetches",
                "JWKS fetches started because a token named an unknown kid",
                stats.jwks.unknown_kid_refetches,
            ),
            (
                "jwks_kid_misses",
                "Verifications refused because no key has the token's kid",
                stats.jwks.kid_misses,
            ),
            (
                "token_cache_hits",
                "Tokens answered from the verified-token cache",
                stats.cache_hits,
            ),
            (
                "token_cache_misses",
                "Tokens whose signature had to be checked",
                stats.cache_misses,
            ),
        ];
        let machine = self.verifier.machine_stats().map(|machine| {
            [
                (
                    "machine_token_cache_hits",
                    "Opaque machine tokens answered from their cache",
                    machine.cache_hits,
                ),
                (
                    "machine_token_backend_calls",
                    "Backend API verify calls for opaque machine tokens",
                    machine.backend_calls,
                ),
                (
                    "machine_token_throttled",
                    "Opaque machine tokens refused because the Backend API call budget was spent",
                    machine.throttled,
                ),
            ]
        });
        for (name, help, value) in counters.into_iter().chain(machine.into_iter().flatten()) {
            encoder
                .encode_descriptor(name, help, None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        Ok(())
    }
}
