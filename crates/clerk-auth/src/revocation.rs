//! Revoked sessions and users: their tokens are refused at once, though not yet expired.
//!
//! Clerk's session tokens live 60 seconds, so a revoked session's token would otherwise keep
//! working until it expires. When the application learns of a revocation (Clerk's
//! `session.revoked`, `session.ended`, `session.removed` or `user.deleted` webhooks), it calls
//! [`crate::Verifier::revoke_session`] or [`crate::Verifier::revoke_user`], and from then on
//! every token of that session or user is refused with `session-revoked`, including tokens the
//! verified-token cache already holds.
//!
//! A revocation is remembered for [`REVOCATION_TTL`] (much longer than any session token
//! lives); the sets are bounded by [`MAX_REVOCATIONS`] each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a revocation is remembered: a day, far beyond the life of any session token.
pub const REVOCATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// The most revoked sessions (and, separately, users) remembered at once.
pub const MAX_REVOCATIONS: usize = 1_000_000;

#[derive(Debug, Default)]
pub(crate) struct Revocations {
    sessions: RwLock<HashMap<String, Instant>>,
    users: RwLock<HashMap<String, Instant>>,
    /// Bumped after every revocation: cached verifications older than it are re-checked.
    generation: AtomicU64,
}

impl Revocations {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn revoke_session(&self, session_id: &str) {
        insert(&self.sessions, session_id);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn revoke_user(&self, user_id: &str) {
        insert(&self.users, user_id);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the session or its user is revoked. Cheap when nothing was ever revoked.
    pub(crate) fn is_revoked(&self, session_id: &str, user_id: &str) -> bool {
        if self.generation() == 0 {
            return false;
        }
        let now = Instant::now();
        contains(&self.sessions, session_id, now) || contains(&self.users, user_id, now)
    }
}

fn insert(set: &RwLock<HashMap<String, Instant>>, id: &str) {
    let now = Instant::now();
    // Plain inserts and removals cannot leave the map inconsistent if a panic poisons it.
    let mut set = set.write().unwrap_or_else(|p| p.into_inner());
    if set.len() >= MAX_REVOCATIONS {
        set.retain(|_, at| now.saturating_duration_since(*at) < REVOCATION_TTL);
    }
    if set.len() >= MAX_REVOCATIONS {
        // Full of live revocations: forget the oldest tenth rather than refuse a new one.
        let mut ages: Vec<Instant> = set.values().copied().collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 10];
        set.retain(|_, at| *at > cutoff);
    }
    set.insert(id.to_owned(), now);
}

fn contains(set: &RwLock<HashMap<String, Instant>>, id: &str, now: Instant) -> bool {
    let set = set.read().unwrap_or_else(|p| p.into_inner());
    set.get(id)
        .is_some_and(|at| now.saturating_duration_since(*at) < REVOCATION_TTL)
}
