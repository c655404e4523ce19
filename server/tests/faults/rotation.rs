//! Scenario 4: Clerk rotates its signing key while a steady load of old-key and new-key tokens
//! runs. No request with a valid token is refused, and each rotation costs the instance one
//! JWKS fetch at most (the first new-key token triggers it; the others wait for it).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use clerk_emulator::SigningKey;

use crate::load::{get_status, load_client, paced, probe, Tally};
use crate::support::{clerk, client, ServerProcess, QUIET_LOG};

/// The token pools of the previous and the newest key.
type Mix = (Arc<Vec<String>>, Arc<Vec<String>>);

struct Plan {
    /// Load in requests per second, all with valid tokens.
    rate: u32,
    tasks: u32,
    rotations: usize,
    /// Time between two rotations (and before the first, after the last).
    every: Duration,
    /// The server's `CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS`; must be shorter than `every`.
    unknown_kid_interval_ms: &'static str,
    /// Distinct tokens per key.
    tokens_per_key: usize,
}

/// In CI (debug build): 4 rotations, 1.5 s apart, at 200 requests/s.
const QUICK: Plan = Plan {
    rate: 200,
    tasks: 8,
    rotations: 4,
    every: Duration::from_millis(1500),
    unknown_kid_interval_ms: "500",
    tokens_per_key: 50,
};

/// The long run (release build, `--run-ignored only`): 6 rotations 10 s apart at 2,000
/// requests/s with the server's default unknown-`kid` interval (10 s).
const LONG: Plan = Plan {
    rate: 2000,
    tasks: 32,
    rotations: 6,
    every: Duration::from_millis(10_500),
    unknown_kid_interval_ms: "10000",
    tokens_per_key: 500,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_under_load_no_valid_token_refused_one_fetch_per_rotation() {
    rotate_under_load(QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long (about 75 s): run with --release --run-ignored only, see RELIABILITY.md"]
async fn long_keys_rotate_under_load_no_valid_token_refused_one_fetch_per_rotation() {
    rotate_under_load(LONG).await;
}

async fn rotate_under_load(plan: Plan) {
    let started = Instant::now();
    let clerk = clerk().await;
    // Real, distinct RSA keys: key 0 is the emulator's, 1..=rotations are rotated to.
    let mut keys = vec![clerk.emulator().current_key()];
    let generated = tokio::task::spawn_blocking({
        let n = plan.rotations;
        move || {
            (1..=n)
                .map(|i| SigningKey::generate(2048).with_kid(format!("ins_rotation_{i}")))
                .collect::<Vec<_>>()
        }
    })
    .await
    .unwrap();
    keys.extend(generated);
    // Every token is minted before the load starts (signing is slow), for every key.
    let pools: Vec<Arc<Vec<String>>> = keys
        .iter()
        .enumerate()
        .map(|(k, key)| {
            Arc::new(
                (0..plan.tokens_per_key)
                    .map(|t| {
                        clerk
                            .session_token()
                            .key(key)
                            .user(format!("user_rot_{k}_{t}"))
                            .jti(format!("jti_rot_{k}_{t}"))
                            .expires_in(600)
                            .sign()
                    })
                    .collect(),
            )
        })
        .collect();

    // The verified-token cache is off: every request looks its key up and checks the
    // signature, as a stream of never-seen tokens would.
    let server = ServerProcess::start_with(
        &clerk.jwks_url(),
        &[
            ("CLERK_TOKEN_CACHE_CAPACITY", "0"),
            (
                "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS",
                plan.unknown_kid_interval_ms,
            ),
            ("RUST_LOG", QUIET_LOG),
        ],
    );
    let checker = client();
    let first = get_status(&checker, &server.url("/protected"), &pools[0][0]).await;
    assert_eq!(first, Ok(200), "the first token");
    let fetches_before = clerk.jwks_requests();

    // The tokens the load draws from: the two newest published keys, half each.
    let mix: Arc<RwLock<Mix>> = Arc::new(RwLock::new((pools[0].clone(), pools[0].clone())));
    let tally = Arc::new(Tally::default());
    let url = server.url("/protected");
    let load = {
        let (mix, tally, client) = (mix.clone(), tally.clone(), load_client());
        let duration = plan.every * (plan.rotations as u32 + 1);
        tokio::spawn(paced(plan.rate, duration, plan.tasks, move |i| {
            let token = {
                let (old, new) = &*mix.read().unwrap();
                let pool = if i % 2 == 0 { old } else { new };
                pool[(i / 2) as usize % pool.len()].clone()
            };
            let (client, tally, url) = (client.clone(), tally.clone(), url.clone());
            async move { probe(&client, &url, &token, 200, &tally, "request", i).await }
        }))
    };

    let emulator = clerk.emulator();
    for r in 1..=plan.rotations {
        tokio::time::sleep(plan.every).await;
        // Clerk publishes the new key and signs with it from now on; the previous key stays
        // published (tokens it signed are still valid), the one before is no longer used.
        emulator.rotate_to(&keys[r]);
        *mix.write().unwrap() = (pools[r - 1].clone(), pools[r].clone());
        if r >= 2 {
            // Retired once no load uses it; the server learns of it at its next fetch.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(emulator.retire_key(keys[r - 2].kid()));
        }
    }
    let sent = load.await.unwrap();
    let fetches = clerk.jwks_requests() - fetches_before;

    // A token of a key retired before the last rotation's fetch is refused now.
    let retired = get_status(&checker, &server.url("/protected"), &pools[0][1]).await;

    let figures = format!(
        "figures: rotation under load ({} rotations, {} req/s offered, {:.0} achieved): {}; \
         JWKS fetches during the load {fetches}; retired-key token after: {retired:?}; {:.2} s",
        plan.rotations,
        plan.rate,
        sent as f64 / (plan.every * (plan.rotations as u32 + 1)).as_secs_f64(),
        tally.summary(),
        started.elapsed().as_secs_f64()
    );
    println!("{figures}");
    let unexpected = tally.unexpected_list();
    assert!(
        unexpected.is_empty(),
        "valid tokens refused: {unexpected:?}\n{figures}"
    );
    assert_eq!(Tally::get(&tally.ok), sent, "{figures}");
    assert!(
        sent as f64 >= 0.5 * f64::from(plan.rate) * (plan.every * 2).as_secs_f64(),
        "the load ran: {figures}"
    );
    assert!(
        fetches <= plan.rotations as u64,
        "at most one fetch per rotation: {figures}"
    );
    assert_eq!(retired, Ok(401), "{figures}");
}
