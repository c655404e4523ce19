//! Scenario 11: machine tokens when Clerk's Backend API fails, and under a flood of made-up
//! API keys. Cached keys keep working until their TTL while the Backend API is down and
//! uncached ones get 503; a flood of random `ak_…` strings costs at most the configured budget
//! of Backend API calls, valid cached keys keep full service, memory stays bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_emulator::machines::NewApiKey;
use clerk_emulator::{EmulatorServer, Fault};

use crate::load::{get_status, load_client, paced, RssSampler, Tally};
use crate::support::{clerk, ServerProcess, QUIET_LOG};

fn server(clerk: &EmulatorServer, extra: &[(&str, &str)]) -> ServerProcess {
    let secret = clerk.secret_key();
    let mut env = vec![
        ("RUST_LOG", QUIET_LOG),
        ("CLERK_SECRET_KEY", secret.as_str()),
        ("CLERK_API_URL", clerk.api_url()),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start_with(&clerk.jwks_url(), &env)
}

fn api_key(clerk: &EmulatorServer, user: &str) -> String {
    clerk
        .create_api_key(NewApiKey::new(user, "load").scopes(["notes:read"]))
        .expect("an API key")
        .secret
}

#[tokio::test]
async fn backend_api_down_cached_keys_serve_until_their_ttl_and_uncached_ones_get_503() {
    let started = Instant::now();
    let clerk = clerk().await;
    let server = server(&clerk, &[("CLERK_MACHINE_TOKEN_CACHE_TTL_SECS", "2")]);
    let client = load_client();
    let url = server.url("/v1/notes");
    let cached = api_key(&clerk, "user_ada");
    let uncached = api_key(&clerk, "user_grace");
    assert_eq!(get_status(&client, &url, &cached).await, Ok(200));
    let verified_at = Instant::now();

    clerk.set_machine_verify_fault(Fault::Status(500));
    assert_eq!(get_status(&client, &url, &cached).await, Ok(200), "cached");
    let refused = client
        .get(&url)
        .bearer_auth(&uncached)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["reason"], "unexpected-error");
    // Served from the cache until its TTL, then refused like any other.
    let mut served_until = Duration::ZERO;
    let expired_after = loop {
        let status = get_status(&client, &url, &cached).await;
        let elapsed = verified_at.elapsed();
        match status {
            Ok(200) => served_until = elapsed,
            Ok(503) => break elapsed,
            other => panic!("{other:?}"),
        }
        assert!(elapsed < Duration::from_secs(5), "still cached after 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    clerk.set_machine_verify_fault(Fault::None);
    assert_eq!(get_status(&client, &url, &cached).await, Ok(200));
    assert_eq!(get_status(&client, &url, &uncached).await, Ok(200));
    println!(
        "figures: scenario=backend-api-down ttl_s=2 cached_served_until_ms={} refused_from_ms={} \
         uncached=503 recovered=200 duration_s={:.1}",
        served_until.as_millis(),
        expired_after.as_millis(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        served_until >= Duration::from_millis(1500),
        "{served_until:?}"
    );
}

struct Plan {
    flood_rate: u32,
    flood_tasks: u32,
    valid_rate: u32,
    valid_tasks: u32,
    phase: Duration,
    min_share: f64,
}

/// In CI (debug build): 1,500 made-up keys/s for 3 s.
const QUICK: Plan = Plan {
    flood_rate: 1500,
    flood_tasks: 16,
    valid_rate: 100,
    valid_tasks: 4,
    phase: Duration::from_secs(3),
    min_share: 0.3,
};

/// The long run (release build): 10,000 made-up keys/s for 10 s.
const LONG: Plan = Plan {
    flood_rate: 10_000,
    flood_tasks: 128,
    valid_rate: 1000,
    valid_tasks: 16,
    phase: Duration::from_secs(10),
    min_share: 0.9,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_api_keys_stays_within_the_backend_api_budget() {
    flood(QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long (about 30 s): run with --release --run-ignored only, see RELIABILITY.md"]
async fn long_a_flood_of_made_up_api_keys_stays_within_the_backend_api_budget() {
    flood(LONG).await;
}

/// Valid traffic at `plan.valid_rate` over `keys` for one phase.
async fn valid_phase(plan: &Plan, url: &str, keys: &Arc<Vec<String>>) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let (client, url, keys, counts) = (load_client(), url.to_owned(), keys.clone(), tally.clone());
    paced(plan.valid_rate, plan.phase, plan.valid_tasks, move |i| {
        let key = keys[i as usize % keys.len()].clone();
        let (client, url, tally) = (client.clone(), url.clone(), counts.clone());
        async move {
            let start = Instant::now();
            let outcome = get_status(&client, &url, &key).await;
            if outcome != Ok(200) {
                tally.unexpected(format!("valid key {i}: {outcome:?}"));
            }
            tally.record(outcome, start.elapsed());
        }
    })
    .await;
    tally
}

async fn flood(plan: Plan) {
    let started = Instant::now();
    let clerk = clerk().await;
    // The defaults: 20 calls per second, bursts of 100.
    let (rate, burst) = (20.0, 100.0);
    let server = server(&clerk, &[]);
    let url = server.url("/v1/notes");
    let keys: Arc<Vec<String>> = Arc::new(
        (0..50)
            .map(|i| api_key(&clerk, &format!("user_{i}")))
            .collect(),
    );
    let client = load_client();
    for key in keys.iter() {
        assert_eq!(get_status(&client, &url, key).await, Ok(200));
    }
    // Let the budget refill after the warm-up's 50 calls.
    tokio::time::sleep(Duration::from_secs_f64(50.0 / rate)).await;

    let baseline = valid_phase(&plan, &url, &keys).await;
    let rss_before = server.rss_kib().0;
    let calls_before = clerk.machine_verify_requests();

    let sampler = RssSampler::start(server.pid(), Duration::from_millis(100));
    let flood_tally = Arc::new(Tally::default());
    let flood = {
        let (client, url, tally) = (load_client(), url.clone(), flood_tally.clone());
        let run = clerk_emulator::ids::alphanumeric(8);
        tokio::spawn(paced(
            plan.flood_rate,
            plan.phase,
            plan.flood_tasks,
            move |i| {
                let token = format!("ak_{run}{i:024}");
                let (client, url, tally) = (client.clone(), url.clone(), tally.clone());
                async move {
                    let start = Instant::now();
                    let outcome = get_status(&client, &url, &token).await;
                    if !matches!(outcome, Ok(401 | 503)) {
                        tally.unexpected(format!("made-up key {i}: {outcome:?}"));
                    }
                    tally.record(outcome, start.elapsed());
                }
            },
        ))
    };
    let attacked = valid_phase(&plan, &url, &keys).await;
    let flood_sent = flood.await.unwrap();
    let rss = sampler.finish().await;
    let calls = clerk.machine_verify_requests() - calls_before;
    let rss_peak = rss.iter().copied().max().unwrap_or(rss_before);

    let secs = plan.phase.as_secs_f64();
    let allowed = (burst + rate * (secs + 1.0)) as u64;
    let throughput = |t: &Tally| Tally::get(&t.ok) as f64 / secs;
    let ratio = throughput(&attacked) / throughput(&baseline);
    let figures = format!(
        "figures: made-up API key flood: {flood_sent} sent in {secs:.0} s ({:.0}/s; {}); \
         Backend API calls during the flood {calls} (allowed {allowed}: burst {burst} + {rate}/s); \
         valid alone {:.0} ok/s p99 {:.2} ms, under the flood {:.0} ok/s p99 {:.2} ms (ratio \
         {ratio:.3}); RSS {rss_before} KiB before, peak {rss_peak} KiB; {:.1} s",
        flood_sent as f64 / secs,
        flood_tally.summary(),
        throughput(&baseline),
        baseline.percentile_ms(99.0),
        throughput(&attacked),
        attacked.percentile_ms(99.0),
        started.elapsed().as_secs_f64()
    );
    println!("{figures}");
    for tally in [&baseline, &attacked, &flood_tally] {
        let unexpected = tally.unexpected_list();
        assert!(unexpected.is_empty(), "{unexpected:?}\n{figures}");
    }
    assert!(
        flood_sent as f64 >= plan.min_share * f64::from(plan.flood_rate) * secs,
        "{figures}"
    );
    assert!(calls <= allowed, "{figures}");
    assert!(
        Tally::get(&flood_tally.unavailable) > 0,
        "the budget was reached: {figures}"
    );
    assert!(ratio >= 0.9, "valid keys kept their throughput: {figures}");
    assert!(
        rss_peak.saturating_sub(rss_before) <= 16 * 1024,
        "{figures}"
    );
}
