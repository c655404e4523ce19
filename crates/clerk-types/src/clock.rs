//! "Now", for every time check: token lifetimes, webhook timestamps, caches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, in milliseconds since the Unix epoch.
///
/// [`SystemClock`] is the real one; [`FixedClock`] is for tests. An `Arc` of a clock is a
/// clock too, so a test can keep a handle on the clock it gave away and move time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// The system clock, the default everywhere. Before the Unix epoch it reads 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that says what it is told, for tests. It can be moved while shared: give an
/// `Arc<FixedClock>` to the code under test and keep a clone to [`set_ms`](Self::set_ms) or
/// [`advance`](Self::advance) it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use clerk_types::{Clock, FixedClock};
///
/// let clock = Arc::new(FixedClock::at_secs(1_700_000_000));
/// let shared: Arc<dyn Clock> = clock.clone();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(shared.now_ms(), 1_700_000_001_500);
/// ```
#[derive(Debug, Default)]
pub struct FixedClock {
    ms: AtomicU64,
}

impl FixedClock {
    /// A clock reading `ms` milliseconds since the Unix epoch.
    pub const fn at_ms(ms: u64) -> Self {
        FixedClock {
            ms: AtomicU64::new(ms),
        }
    }

    /// A clock reading `secs` seconds since the Unix epoch (a negative value reads as 0).
    pub fn at_secs(secs: i64) -> Self {
        FixedClock::at_ms(u64::try_from(secs).unwrap_or(0).saturating_mul(1000))
    }

    /// Sets the time, in milliseconds since the Unix epoch.
    pub fn set_ms(&self, ms: u64) {
        self.ms.store(ms, Ordering::Relaxed);
    }

    /// Moves the time forward (saturating at `u64::MAX` milliseconds).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |ms| {
                Some(ms.saturating_add(by))
            });
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_after_2024() {
        assert!(SystemClock.now_ms() > 1_704_067_200_000);
    }

    #[test]
    fn a_fixed_clock_says_what_it_is_told() {
        let clock = FixedClock::at_ms(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.set_ms(5);
        assert_eq!(clock.now_ms(), 5);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 2_005);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_ms(), u64::MAX);
        assert_eq!(
            FixedClock::at_secs(1_700_000_000).now_ms(),
            1_700_000_000_000
        );
        assert_eq!(FixedClock::at_secs(-5).now_ms(), 0);
        assert_eq!(FixedClock::default().now_ms(), 0);
    }

    #[test]
    fn a_shared_fixed_clock_moves_for_every_holder() {
        let clock = Arc::new(FixedClock::at_secs(10));
        let held: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
        let thread = {
            let clock = Arc::clone(&clock);
            std::thread::spawn(move || clock.advance(Duration::from_secs(1)))
        };
        thread.join().unwrap();
        assert_eq!(held.now_ms(), 11_000);
        assert_eq!(Arc::clone(&clock).now_ms(), 11_000);
    }
}
