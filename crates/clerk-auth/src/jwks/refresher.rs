//! The background refresher: keeps a [`JwksCache`]'s keys fresh without waiting for traffic.
//!
//! One task per cache, started by [`crate::VerifierBuilder::build`] (inside a Tokio runtime;
//! otherwise by the first verification that needs a key). It fetches the keys at once, then
//! again each time they reach 80 % of [`JwksOptions::refresh_interval`], so requests never find
//! them due. While fetches fail, or before the first success, it retries with the cache's own
//! back-off ([`JwksOptions::retry_backoff`] doubling up to
//! [`JwksOptions::max_retry_backoff`]), and never waits longer than the refresh interval
//! between two attempts. So an instance that started while Clerk was unreachable becomes ready
//! on its own once Clerk answers, with no request needed to trigger a fetch.
//!
//! The task holds the cache weakly and ends when the cache is dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{JwksCache, JwksOptions, State};

impl JwksCache {
    /// Keeps the keys fresh in the background from now on: starts the refresher on the
    /// current Tokio runtime, or, outside one, at the first lookup made inside one.
    /// Idempotent.
    pub fn refresh_in_background(self: &Arc<Self>) {
        self.refresher_wanted.store(true, Ordering::Relaxed);
        self.start_refresher();
    }

    /// Starts the refresher if it is wanted and not running; called on every lookup that
    /// needs a key (a verified-token cache miss), so it costs two relaxed loads once running.
    pub(crate) fn ensure_refresher(self: &Arc<Self>) {
        if self.refresher_wanted.load(Ordering::Relaxed)
            && !self.refresher_running.load(Ordering::Relaxed)
        {
            self.start_refresher();
        }
    }

    fn start_refresher(self: &Arc<Self>) {
        let mut refresher = self
            .refresher
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if refresher.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cache = Arc::downgrade(self);
        *refresher = Some(runtime.spawn(refresh_forever(cache)).abort_handle());
        self.refresher_running.store(true, Ordering::Relaxed);
    }
}

async fn refresh_forever(cache: Weak<JwksCache>) {
    loop {
        let Some(strong) = cache.upgrade() else {
            return;
        };
        let wait = next_attempt_in(&strong.read(), &strong.options, Instant::now());
        drop(strong);
        tokio::time::sleep(wait).await;
        let Some(strong) = cache.upgrade() else {
            return;
        };
        // A failure is logged by the fetch itself, and retried after the back-off.
        let _ = strong.refresh().await;
    }
}

/// How long until the next fetch: at once before any attempt; after a failure, the back-off
/// (at most the refresh interval); else when the keys reach 80 % of the refresh interval.
fn next_attempt_in(state: &State, options: &JwksOptions, now: Instant) -> Duration {
    let Some(last_attempt) = state.last_attempt else {
        return Duration::ZERO;
    };
    let since_attempt = now.saturating_duration_since(last_attempt);
    match state.fetched_at {
        Some(fetched_at) if state.consecutive_failures == 0 => {
            let refresh_at = options.refresh_interval.mul_f64(0.8);
            refresh_at.saturating_sub(now.saturating_duration_since(fetched_at))
        }
        _ => state
            .retry_delay(options)
            .min(options.refresh_interval)
            .saturating_sub(since_attempt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> JwksOptions {
        JwksOptions {
            refresh_interval: Duration::from_secs(300),
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(60),
            ..JwksOptions::default()
        }
    }

    #[test]
    fn the_first_fetch_is_at_once() {
        assert_eq!(
            next_attempt_in(&State::default(), &options(), Instant::now()),
            Duration::ZERO
        );
    }

    #[test]
    fn fresh_keys_are_refreshed_at_80_percent_of_the_interval() {
        let now = Instant::now();
        let state = State {
            last_attempt: Some(now - Duration::from_secs(100)),
            fetched_at: Some(now - Duration::from_secs(100)),
            ..State::default()
        };
        assert_eq!(
            next_attempt_in(&state, &options(), now),
            Duration::from_secs(140)
        );
    }

    #[test]
    fn failures_back_off_but_never_past_the_refresh_interval() {
        let now = Instant::now();
        let failing = |failures: u32| State {
            last_attempt: Some(now),
            consecutive_failures: failures,
            ..State::default()
        };
        let delays: Vec<u64> = [1, 2, 3, 7, 30]
            .map(|n| next_attempt_in(&failing(n), &options(), now).as_secs())
            .into();
        assert_eq!(delays, [1, 2, 4, 60, 60]);
        let short = JwksOptions {
            refresh_interval: Duration::from_secs(2),
            ..options()
        };
        assert_eq!(
            next_attempt_in(&failing(5), &short, now),
            Duration::from_secs(2)
        );
    }
}
