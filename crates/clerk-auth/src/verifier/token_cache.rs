//! The verified-token cache: a bounded map from exact token text to verified claims.

use std::sync::{Arc, Mutex};

use hashbrown::HashTable;

use super::checks::{Times, REVOKED};
use crate::claims::SessionClaims;
use crate::error::Rejection;
use crate::revocation::Revocations;

/// A bounded map from exact token text to verified claims, in shards to keep locks short.
pub(super) struct TokenCache {
    shards: Box<[Mutex<HashTable<Entry>>]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
}

struct Entry {
    hash: u64,
    token: Box<str>,
    claims: Arc<SessionClaims>,
    times: Times,
    /// The key epoch the signature was checked in.
    epoch: u64,
    /// The revocation generation the session was last checked against.
    revocation_generation: u64,
}

pub(super) struct Hit {
    pub(super) claims: Arc<SessionClaims>,
    pub(super) times: Times,
}

const SHARDS: usize = 16;

impl TokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            per_shard,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, HashTable<Entry>> {
        // Entries are inserted whole; a panic elsewhere cannot leave one half-written.
        self.shards[(hash >> 59) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The cached verification of `token`: `None` on a miss (or a key retired since), an
    /// error when its session was revoked since it was cached.
    pub(super) fn get(
        &self,
        token: &str,
        epoch: u64,
        revocations: &Revocations,
    ) -> Option<Result<Hit, Rejection>> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(token);
        let mut shard = self.shard(hash);
        let mut entry = shard
            .find_entry(hash, |e| e.hash == hash && &*e.token == token)
            .ok()?;
        if entry.get().epoch != epoch {
            return None;
        }
        let generation = revocations.generation();
        let cached = entry.get_mut();
        if cached.revocation_generation != generation {
            if revocations.is_revoked(cached.claims.session_id(), cached.claims.user_id()) {
                entry.remove();
                return Some(Err(REVOKED));
            }
            cached.revocation_generation = generation;
        }
        Some(Ok(Hit {
            claims: Arc::clone(&cached.claims),
            times: cached.times,
        }))
    }

    pub(super) fn insert(
        &self,
        token: &str,
        claims: Arc<SessionClaims>,
        times: Times,
        (epoch, revocation_generation): (u64, u64),
        now_ms: f64,
        skew_ms: f64,
    ) {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(token);
        let mut shard = self.shard(hash);
        if let Ok(existing) = shard.find_entry(hash, |e| e.hash == hash && &*e.token == token) {
            existing.remove();
        }
        if shard.len() >= self.per_shard {
            shard.retain(|e| e.times.exp * 1000.0 > now_ms - skew_ms);
        }
        if shard.len() >= self.per_shard {
            // Still full of live tokens: drop an eighth, in table order (which the random
            // hasher makes arbitrary).
            let mut drop = (self.per_shard / 8).max(1);
            shard.retain(|_| {
                if drop > 0 {
                    drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
        shard.insert_unique(
            hash,
            Entry {
                hash,
                token: token.into(),
                claims,
                times,
                epoch,
                revocation_generation,
            },
            |e| e.hash,
        );
    }
}
