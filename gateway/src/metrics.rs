//! The gateway's metrics, in Prometheus' text format at `/metrics`:
//!
//! | metric | labels |
//! |---|---|
//! | `clerk_gateway_decisions_total` | `endpoint` (`forward-auth`, `auth-request`, `ext-authz`, `ext-authz-grpc`), `outcome` (`allowed`, `anonymous`, `unauthorized`, `forbidden`, `unavailable`, `misconfigured`), `reason` (Clerk's or the policy's, empty when allowed) |
//! | `clerk_gateway_webhooks_total` | `outcome` (`applied`, `ignored`, `failed`) |
//! | the verifier's counters | see `clerk_auth::VerifierMetrics` |
//!
//! Every label value is one of a fixed set of strings: no token, user or path reaches a
//! label.

use clerk_auth::{Verifier, VerifierMetrics};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::original::Family as Endpoint;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    endpoint: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    outcome: &'static str,
}

/// The gateway's metrics registry.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    webhooks: Family<WebhookLabels, Counter>,
}

impl Metrics {
    /// The metrics of a gateway verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Metrics {
        let mut registry = Registry::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "clerk_gateway_decisions",
            "Forward-auth decisions, by endpoint, outcome and reason",
            decisions.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "clerk_gateway_webhooks",
            "Clerk webhook deliveries, by outcome",
            webhooks.clone(),
        );
        registry.register_collector(Box::new(VerifierMetrics::new(verifier)));
        Metrics {
            registry,
            decisions,
            webhooks,
        }
    }

    /// Counts one decision.
    pub fn record(&self, endpoint: Endpoint, outcome: &'static str, reason: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                endpoint: endpoint.as_str(),
                outcome,
                reason,
            })
            .inc();
    }

    /// Counts one webhook delivery.
    pub fn record_webhook(&self, outcome: &'static str) {
        self.webhooks
            .get_or_create(&WebhookLabels { outcome })
            .inc();
    }

    /// Every metric, in Prometheus' text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}
