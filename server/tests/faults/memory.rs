//! Scenario 8: a steady load of many distinct valid tokens, far more than the verified-token
//! cache holds. The cache stays within its capacity, so the server's memory levels off: its
//! RSS stays under a documented bound and stops growing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::{load_client, paced, probe, RssSampler, Tally};
use crate::support::{clerk, ServerProcess, QUIET_LOG};

struct Plan {
    tokens: usize,
    /// The server's `CLERK_TOKEN_CACHE_CAPACITY`.
    capacity: &'static str,
    rate: u32,
    tasks: u32,
    duration: Duration,
    /// The bound on the server's peak RSS, in MiB.
    rss_bound_mib: u64,
}

/// In CI (debug build): 3,000 tokens through a 500-entry cache for 6 s.
const QUICK: Plan = Plan {
    tokens: 3000,
    capacity: "500",
    rate: 500,
    tasks: 8,
    duration: Duration::from_secs(6),
    rss_bound_mib: 64,
};

/// The long run (release build): 100,000 tokens through the default 10,000-entry cache for
/// 60 s.
const LONG: Plan = Plan {
    tokens: 100_000,
    capacity: "10000",
    rate: 5000,
    tasks: 64,
    duration: Duration::from_secs(60),
    rss_bound_mib: 96,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_distinct_tokens_memory_levels_off_under_the_bound() {
    soak(QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long (about 2 minutes, most of it signing 100,000 tokens): run with --release --run-ignored only, see RELIABILITY.md"]
async fn long_many_distinct_tokens_memory_levels_off_under_the_bound() {
    soak(LONG).await;
}

async fn soak(plan: Plan) {
    let started = Instant::now();
    let clerk = clerk().await;
    // Signing is the slow part: both cores, in blocking threads.
    let minted = Instant::now();
    let halves = [0, 1].map(|half| {
        let emulator = clerk.emulator().clone();
        let n = plan.tokens;
        tokio::task::spawn_blocking(move || {
            (0..n)
                .filter(|i| i % 2 == half)
                .map(|i| {
                    emulator
                        .session_token()
                        .user(format!("user_soak_{i}"))
                        .session(format!("sess_soak_{i}"))
                        .expires_in(900)
                        .sign()
                })
                .collect::<Vec<_>>()
        })
    });
    let mut tokens = Vec::with_capacity(plan.tokens);
    for half in halves {
        tokens.extend(half.await.unwrap());
    }
    let minted = minted.elapsed();
    let tokens = Arc::new(tokens);

    let server = ServerProcess::start_with(
        &clerk.jwks_url(),
        &[
            ("CLERK_TOKEN_CACHE_CAPACITY", plan.capacity),
            ("RUST_LOG", QUIET_LOG),
        ],
    );
    let rss_idle = server.rss_kib().0;
    let url = server.url("/protected");
    let sampler = RssSampler::start(server.pid(), Duration::from_millis(250));
    let tally = Arc::new(Tally::default());
    let sent = {
        let (client, tally, tokens) = (load_client(), tally.clone(), tokens.clone());
        paced(plan.rate, plan.duration, plan.tasks, move |i| {
            let token = tokens[i as usize % tokens.len()].clone();
            let (client, url, tally) = (client.clone(), url.clone(), tally.clone());
            async move { probe(&client, &url, &token, 200, &tally, "request", i).await }
        })
        .await
    };
    let samples = sampler.finish().await;
    let (_, hwm) = server.rss_kib();
    let peak = samples.iter().copied().max().unwrap_or(0).max(hwm);
    // Levelling off: the peak of the last third against the peak of the middle third.
    let third = samples.len() / 3;
    let middle = samples[third..2 * third].iter().copied().max().unwrap_or(0);
    let last = samples[2 * third..].iter().copied().max().unwrap_or(0);
    let distinct = (sent as usize).min(plan.tokens);
    let figures = format!(
        "figures: memory soak: {} tokens minted in {:.1} s, {distinct} distinct sent through a \
         {}-entry cache, {sent} requests in {:.0} s ({:.0}/s; {}); RSS idle {rss_idle} KiB, \
         peak {peak} KiB (bound {} MiB), middle third peak {middle} KiB, last third peak \
         {last} KiB; {} samples; {:.2} s",
        plan.tokens,
        minted.as_secs_f64(),
        plan.capacity,
        plan.duration.as_secs_f64(),
        sent as f64 / plan.duration.as_secs_f64(),
        tally.summary(),
        plan.rss_bound_mib,
        samples.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{figures}");
    let unexpected = tally.unexpected_list();
    assert!(unexpected.is_empty(), "{unexpected:?}\n{figures}");
    assert!(
        distinct > 2 * plan.capacity.parse::<usize>().unwrap(),
        "more distinct tokens than the cache holds: {figures}"
    );
    assert!(peak <= plan.rss_bound_mib * 1024, "{figures}");
    // The last third may not grow more than 4 MiB above the middle third's peak.
    assert!(last <= middle + 4 * 1024, "memory still growing: {figures}");
}
