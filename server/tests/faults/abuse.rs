//! Scenario 5: a flood of forged tokens, each with a `kid` never seen, beside normal traffic.
//! JWKS fetches stay within the unknown-`kid` rate limit, memory within the key cache's
//! bounds, every forged token is refused, and valid traffic keeps its throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_emulator::compact::b64url;
use clerk_emulator::EmulatorServer;

use crate::load::{load_client, paced, probe, RssSampler, Tally};
use crate::support::{clerk, ServerProcess, QUIET_LOG};

struct Plan {
    /// Forged tokens per second.
    forged_rate: u32,
    forged_tasks: u32,
    /// Valid requests per second, offered the same in both phases.
    valid_rate: u32,
    valid_tasks: u32,
    /// Length of each phase: valid traffic alone, then with the flood.
    phase: Duration,
    /// The server's `CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS`: at most one refetch per interval.
    unknown_kid_interval_ms: u64,
    /// The least share of `forged_rate` the test's own client must reach for the run to
    /// count (in CI the debug-build client shares two cores with other tests).
    min_share: f64,
    /// Largest growth of the server's RSS from the end of the first phase to the peak of
    /// the second, in MiB.
    rss_growth_mib: u64,
}

/// In CI (debug build, where the test's own client is slow): 1,500 forged tokens/s, with
/// a 1 s unknown-`kid` interval so that the flood reaches the refetch path several times,
/// and more distinct kids (4,500) than the negative cache holds (4,096).
const QUICK: Plan = Plan {
    forged_rate: 1500,
    forged_tasks: 16,
    valid_rate: 100,
    valid_tasks: 4,
    phase: Duration::from_secs(3),
    unknown_kid_interval_ms: 1000,
    min_share: 0.3,
    rss_growth_mib: 16,
};

/// The long run (release build): 10,000 forged tokens/s for 30 s.
const LONG: Plan = Plan {
    forged_rate: 10_000,
    forged_tasks: 128,
    valid_rate: 2000,
    valid_tasks: 32,
    phase: Duration::from_secs(30),
    unknown_kid_interval_ms: 10_000,
    min_share: 0.9,
    rss_growth_mib: 16,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_flood_fetches_rate_limited_memory_bounded_valid_traffic_served() {
    flood(QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long (about 70 s): run with --release --run-ignored only, see RELIABILITY.md"]
async fn long_forged_tokens_flood_fetches_rate_limited_memory_bounded_valid_traffic_served() {
    flood(LONG).await;
}

/// A forged token: a well-formed header with the `kid` `kid`, a plausible payload from the
/// right issuer, and 256 random bytes as the signature.
fn forged(kid: &str, payload: &str, signature: &str) -> String {
    let header = b64url(format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#));
    format!("{header}.{payload}.{signature}")
}

fn forged_parts(clerk: &EmulatorServer) -> (String, String) {
    let genuine = clerk.session_token().user("user_forger").sign();
    let payload = genuine.split('.').nth(1).unwrap().to_owned();
    let signature: Vec<u8> = (0..256u32).map(|i| (i * 151 % 251) as u8).collect();
    (payload, b64url(signature))
}

/// Runs valid traffic at `plan.valid_rate` for one phase; returns its tally and the number
/// sent.
async fn valid_phase(plan: &Plan, url: &str, tokens: &Arc<Vec<String>>) -> (Arc<Tally>, u64) {
    let tally = Arc::new(Tally::default());
    let (client, url, tokens, counts) =
        (load_client(), url.to_owned(), tokens.clone(), tally.clone());
    let sent = paced(plan.valid_rate, plan.phase, plan.valid_tasks, move |i| {
        let token = tokens[i as usize % tokens.len()].clone();
        let (client, url, tally) = (client.clone(), url.clone(), counts.clone());
        async move {
            probe(&client, &url, &token, 200, &tally, "valid request", i).await;
        }
    })
    .await;
    (tally, sent)
}

async fn flood(plan: Plan) {
    let started = Instant::now();
    let clerk = clerk().await;
    let interval = plan.unknown_kid_interval_ms.to_string();
    let server = ServerProcess::start_with(
        &clerk.jwks_url(),
        &[
            ("RUST_LOG", QUIET_LOG),
            ("CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS", &interval),
        ],
    );
    let url = server.url("/protected");
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..200)
            .map(|i| {
                clerk
                    .session_token()
                    .user(format!("user_valid_{i}"))
                    .expires_in(600)
                    .sign()
            })
            .collect(),
    );

    // Phase 1: valid traffic alone.
    let (baseline, baseline_sent) = valid_phase(&plan, &url, &tokens).await;
    let rss_before = server.rss_kib().0;
    let fetches_before = clerk.jwks_requests();

    // Phase 2: the same valid traffic, and the flood.
    let sampler = RssSampler::start(server.pid(), Duration::from_millis(100));
    let forgeries = Arc::new(Tally::default());
    let flood = {
        let (payload, signature) = forged_parts(&clerk);
        let (client, url, counts) = (load_client(), url.clone(), forgeries.clone());
        // A fresh random prefix per run, then a counter: every kid is one never seen.
        let run = clerk_emulator::ids::alphanumeric(8);
        tokio::spawn(paced(
            plan.forged_rate,
            plan.phase,
            plan.forged_tasks,
            move |i| {
                let token = forged(&format!("ins_{run}_{i}"), &payload, &signature);
                let (client, url, tally) = (client.clone(), url.clone(), counts.clone());
                async move {
                    probe(&client, &url, &token, 401, &tally, "forged token", i).await;
                }
            },
        ))
    };
    let (attacked, attacked_sent) = valid_phase(&plan, &url, &tokens).await;
    let forged_sent = flood.await.unwrap();
    let rss = sampler.finish().await;
    let fetches = clerk.jwks_requests() - fetches_before;
    let rss_peak = rss.iter().copied().max().unwrap_or(rss_before);
    let (rss_after, rss_hwm) = server.rss_kib();

    let secs = plan.phase.as_secs_f64();
    let throughput = |t: &Tally| Tally::get(&t.ok) as f64 / secs;
    let ratio = throughput(&attacked) / throughput(&baseline);
    // One refetch is allowed per unknown-kid interval, plus one.
    let allowed = plan.phase.as_millis() as u64 / plan.unknown_kid_interval_ms + 1;
    let figures = format!(
        "figures: forged-token flood: {forged_sent} forged in {secs:.0} s ({:.0}/s; {}); \
         valid alone: {baseline_sent} sent, {:.0} ok/s, p99 {:.2} ms; valid under the flood: \
         {attacked_sent} sent, {:.0} ok/s, p99 {:.2} ms; throughput ratio {ratio:.3}; \
         JWKS fetches during the flood {fetches} (allowed {allowed}); RSS {} KiB before, peak \
         {} KiB, after {} KiB (high-water {} KiB); {:.2} s",
        forged_sent as f64 / secs,
        forgeries.summary(),
        throughput(&baseline),
        baseline.percentile_ms(99.0),
        throughput(&attacked),
        attacked.percentile_ms(99.0),
        rss_before,
        rss_peak,
        rss_after,
        rss_hwm,
        started.elapsed().as_secs_f64()
    );
    println!("{figures}");
    for tally in [&baseline, &attacked, &forgeries] {
        let unexpected = tally.unexpected_list();
        assert!(unexpected.is_empty(), "{unexpected:?}\n{figures}");
    }
    assert!(
        forged_sent as f64 >= plan.min_share * f64::from(plan.forged_rate) * secs,
        "the flood ran at {} of its rate at least: {figures}",
        plan.min_share
    );
    assert!(fetches <= allowed, "{figures}");
    assert!(
        fetches >= 1,
        "the flood reached the refetch path: {figures}"
    );
    assert!(
        rss_peak.saturating_sub(rss_before) <= plan.rss_growth_mib * 1024,
        "memory grew more than {} MiB: {figures}",
        plan.rss_growth_mib
    );
    assert!(ratio >= 0.8, "valid throughput within 20 %: {figures}");
}
