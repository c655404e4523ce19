//! Machine authentication: machines, API keys, M2M tokens and OAuth access tokens, each looked
//! up by the value its holder sends (secret, machine secret key or token).
//!
//! What Clerk stores is stored: API keys, machines, opaque M2M tokens and OAuth access tokens
//! of both formats (Clerk's OAuth server records what it issues). M2M JWTs are minted and
//! forgotten: they cannot be listed, revoked or verified by the Backend API. No change emits
//! a webhook event: Clerk has none for these objects.

use serde_json::{json, Map, Value};

use super::{now_ms, Store};
use crate::compact::Compact;
use crate::ids;
use crate::key::SigningKey;
use crate::machines::{
    claims_map, ApiKey, CreatedApiKey, CreatedM2mToken, CreatedOAuthToken, M2mToken, Machine,
    NewApiKey, NewM2mToken, NewOAuthToken, OAuthToken, TokenFormat, DEFAULT_TOKEN_TTL_SECS,
};
use crate::objects::BackendError;
use crate::token::{CAT_M2M, DEFAULT_NBF_LEEWAY_SECS};

/// The machine-authentication part of the store.
#[derive(Default)]
pub(crate) struct MachineAuth {
    machines: Vec<Machine>,
    /// Each key with its secret.
    api_keys: Vec<(ApiKey, String)>,
    /// Each opaque token with its value.
    m2m_tokens: Vec<(M2mToken, String)>,
    /// Each token with its value (opaque or the JWT).
    oauth_tokens: Vec<(OAuthToken, String)>,
}

/// What signs the JWT forms: the instance's current key, and its issuer for `iss`.
pub(crate) struct Signer<'a> {
    pub key: &'a SigningKey,
    pub issuer: &'a str,
}

impl Signer<'_> {
    fn sign(&self, typ: &str, cat: Option<&str>, payload: Map<String, Value>) -> String {
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        if let Some(cat) = cat {
            header.insert("cat".into(), json!(cat));
        }
        header.insert("kid".into(), json!(self.key.kid()));
        header.insert("typ".into(), json!(typ));
        Compact::from_json(
            &Value::Object(header).to_string(),
            &Value::Object(payload).to_string(),
        )
        .sign(self.key)
        .to_string()
    }
}

/// The answer to an OAuth access token verification.
pub(crate) enum OAuthVerdict {
    /// A live token.
    Active(OAuthToken),
    /// An expired JWT: Clerk answers `{"active": false}`.
    Inactive,
    /// Unknown, revoked, or an expired opaque token.
    NotFound,
}

fn bad_request(param: &str, message: impl Into<String>) -> BackendError {
    BackendError::invalid("bad_request", param, message)
}

/// `<one of prefixes>_` followed by one or more word characters.
fn has_id_shape(id: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|prefix| {
        id.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
    })
}

fn expired(expiration: Option<i64>, now: i64) -> bool {
    expiration.is_some_and(|e| e <= now)
}

/// `start` (ms) plus a lifetime in seconds.
fn after(start: i64, seconds: i64) -> i64 {
    start.saturating_add(seconds.saturating_mul(1000))
}

fn check_api_key(new: &NewApiKey) -> Result<(), BackendError> {
    if !has_id_shape(&new.subject, &["user", "org", "mch", "scim"]) {
        return Err(bad_request(
            "subject",
            "subject must be a user_, org_, mch_ or scim_ id",
        ));
    }
    if new.name.chars().count() < 3 || new.name.trim() != new.name {
        return Err(bad_request(
            "name",
            "name must have at least 3 characters and no surrounding whitespace",
        ));
    }
    if !(3..=25).contains(&new.key_type.chars().count()) {
        return Err(bad_request("type", "type must have 3 to 25 characters"));
    }
    if new
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 255)
    {
        return Err(bad_request(
            "description",
            "description must have at most 255 characters",
        ));
    }
    if new
        .created_by
        .as_ref()
        .is_some_and(|c| !has_id_shape(c, &["user"]))
    {
        return Err(bad_request("created_by", "created_by must be a user_ id"));
    }
    Ok(())
}

impl Store {
    /// Now in ms, never earlier than a time already handed out: what expiration is judged by.
    fn clock(&self) -> i64 {
        now_ms().max(self.last_ms)
    }

    // ---- machines ----

    fn machine_index(&self, id: &str) -> Result<usize, BackendError> {
        self.machine_auth
            .machines
            .iter()
            .position(|m| m.id == id)
            .ok_or_else(|| BackendError::not_found("machine", id))
    }

    pub fn machine(&self, id: &str) -> Result<Machine, BackendError> {
        self.machine_index(id)
            .map(|i| self.machine_auth.machines[i].clone())
    }

    /// The id of the machine whose secret key this is.
    pub fn machine_by_secret_key(&self, secret_key: &str) -> Option<String> {
        self.machine_auth
            .machines
            .iter()
            .find(|m| m.secret_key == secret_key)
            .map(|m| m.id.clone())
    }

    pub fn create_machine(
        &mut self,
        name: &str,
        scopes: Vec<String>,
    ) -> Result<Machine, BackendError> {
        if name.is_empty() || name.chars().count() > 255 {
            return Err(bad_request("name", "name must have 1 to 255 characters"));
        }
        let mut distinct: Vec<String> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            self.machine_index(&scope)?;
            if !distinct.contains(&scope) {
                distinct.push(scope);
            }
        }
        let machine = Machine {
            id: ids::clerk_id("mch"),
            name: name.to_owned(),
            secret_key: ids::api_key_secret(),
            scopes: distinct,
        };
        self.machine_auth.machines.push(machine.clone());
        Ok(machine)
    }

    pub fn add_machine_scope(&mut self, id: &str, other: &str) -> Result<Machine, BackendError> {
        let index = self.machine_index(id)?;
        self.machine_index(other)?;
        let machine = &mut self.machine_auth.machines[index];
        if !machine.scopes.iter().any(|s| s == other) {
            machine.scopes.push(other.to_owned());
        }
        Ok(machine.clone())
    }

    // ---- API keys ----

    fn api_key_snapshot(&self, index: usize) -> ApiKey {
        let mut key = self.machine_auth.api_keys[index].0.clone();
        key.expired = expired(key.expiration, self.clock());
        key
    }

    fn api_key_index(&self, id: &str) -> Result<usize, BackendError> {
        self.machine_auth
            .api_keys
            .iter()
            .position(|(k, _)| k.id == id)
            .ok_or_else(|| BackendError::not_found("api_key", id))
    }

    pub fn api_key(&self, id: &str) -> Result<ApiKey, BackendError> {
        self.api_key_index(id).map(|i| self.api_key_snapshot(i))
    }

    pub fn create_api_key(&mut self, new: NewApiKey) -> Result<CreatedApiKey, BackendError> {
        check_api_key(&new)?;
        let now = self.tick();
        let key = ApiKey {
            id: format!("ak_{}", ids::hex(32)),
            key_type: new.key_type,
            subject: new.subject,
            name: new.name,
            description: new.description,
            claims: new.claims.unwrap_or(Value::Null),
            scopes: new.scopes,
            revoked: false,
            revocation_reason: None,
            expired: false,
            expiration: new.seconds_until_expiration.map(|s| after(now, s)),
            created_by: new.created_by,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        let secret = ids::api_key_secret();
        self.machine_auth.api_keys.push((key, secret.clone()));
        let api_key = self.api_key_snapshot(self.machine_auth.api_keys.len() - 1);
        Ok(CreatedApiKey { api_key, secret })
    }

    /// The live key with this secret, marked as used now.
    pub fn verify_api_key(&mut self, secret: &str) -> Option<ApiKey> {
        let now = self.tick();
        let index = self
            .machine_auth
            .api_keys
            .iter()
            .position(|(k, s)| s == secret && !k.revoked && !expired(k.expiration, now))?;
        self.machine_auth.api_keys[index].0.last_used_at = Some(now);
        Some(self.api_key_snapshot(index))
    }

    /// Revokes a key; one already revoked is returned unchanged.
    pub fn revoke_api_key(
        &mut self,
        id: &str,
        reason: Option<String>,
    ) -> Result<ApiKey, BackendError> {
        let index = self.api_key_index(id)?;
        if !self.machine_auth.api_keys[index].0.revoked {
            let now = self.tick();
            let key = &mut self.machine_auth.api_keys[index].0;
            key.revoked = true;
            key.revocation_reason = reason;
            key.updated_at = now;
        }
        Ok(self.api_key_snapshot(index))
    }

    // ---- M2M tokens ----

    fn m2m_snapshot(&self, index: usize) -> M2mToken {
        let mut token = self.machine_auth.m2m_tokens[index].0.clone();
        token.expired = expired(token.expiration, self.clock());
        token
    }

    pub fn m2m_token(&self, id: &str) -> Result<M2mToken, BackendError> {
        self.machine_auth
            .m2m_tokens
            .iter()
            .position(|(t, _)| t.id == id)
            .map(|i| self.m2m_snapshot(i))
            .ok_or_else(|| BackendError::not_found("m2m_token", id))
    }

    pub fn create_m2m_token(
        &mut self,
        machine_id: &str,
        new: NewM2mToken,
        signer: &Signer<'_>,
    ) -> Result<CreatedM2mToken, BackendError> {
        let machine = self.machine(machine_id)?;
        let lifetime = new
            .seconds_until_expiration
            .unwrap_or(DEFAULT_TOKEN_TTL_SECS);
        if let Some(min) = new.min_remaining_ttl_seconds {
            if min < 0 || min >= lifetime {
                return Err(bad_request(
                    "min_remaining_ttl_seconds",
                    "min_remaining_ttl_seconds must be at least 0 and less than the token's lifetime",
                ));
            }
        }
        let claims = new.claims.unwrap_or(Value::Null);
        match new.format {
            TokenFormat::Jwt => self.m2m_jwt(&machine, claims, lifetime, signer),
            TokenFormat::Opaque => {
                let now = self.tick();
                if let Some(min) = new.min_remaining_ttl_seconds {
                    let reusable = self.machine_auth.m2m_tokens.iter().position(|(t, _)| {
                        t.subject == machine.id
                            && t.claims == claims
                            && t.scopes == machine.scopes
                            && !t.revoked
                            && t.expiration.is_some_and(|e| e >= after(now, min))
                    });
                    if let Some(index) = reusable {
                        return Ok(CreatedM2mToken {
                            token: self.machine_auth.m2m_tokens[index].1.clone(),
                            m2m_token: self.m2m_snapshot(index),
                        });
                    }
                }
                let record = M2mToken {
                    id: format!("mt_{}", ids::hex(32)),
                    subject: machine.id,
                    claims,
                    scopes: machine.scopes,
                    format: TokenFormat::Opaque,
                    revoked: false,
                    revocation_reason: None,
                    expired: false,
                    expiration: Some(after(now, lifetime)),
                    last_used_at: None,
                    created_at: now,
                    updated_at: now,
                };
                let token = format!("mt_{}", ids::alphanumeric(32));
                self.machine_auth.m2m_tokens.push((record, token.clone()));
                let m2m_token = self.m2m_snapshot(self.machine_auth.m2m_tokens.len() - 1);
                Ok(CreatedM2mToken { token, m2m_token })
            }
        }
    }

    /// An M2M JWT (clerk-spec §5, microservices §C.3): header `cat` = [`CAT_M2M`], the
    /// custom claims at the top level under the registered ones.
    fn m2m_jwt(
        &mut self,
        machine: &Machine,
        claims: Value,
        lifetime: i64,
        signer: &Signer<'_>,
    ) -> Result<CreatedM2mToken, BackendError> {
        let mut payload = claims_map(&claims)
            .ok_or_else(|| bad_request("claims", "the claims of a JWT must be a JSON object"))?;
        let iat = self.tick().div_euclid(1000);
        let exp = iat.saturating_add(lifetime);
        let id = format!("mt_{}", ids::hex(32));
        payload.insert("iss".into(), json!(signer.issuer));
        payload.insert("sub".into(), json!(machine.id));
        if machine.scopes.is_empty() {
            payload.remove("aud");
            payload.remove("scopes");
        } else {
            payload.insert("aud".into(), json!(machine.scopes));
            payload.insert("scopes".into(), json!(machine.scopes.join(" ")));
        }
        payload.insert("jti".into(), json!(id));
        payload.insert("iat".into(), json!(iat));
        payload.insert("nbf".into(), json!(iat - DEFAULT_NBF_LEEWAY_SECS));
        payload.insert("exp".into(), json!(exp));
        let token = signer.sign("JWT", Some(CAT_M2M), payload);
        let expiration = exp.saturating_mul(1000);
        let m2m_token = M2mToken {
            id,
            subject: machine.id.clone(),
            claims,
            scopes: machine.scopes.clone(),
            format: TokenFormat::Jwt,
            revoked: false,
            revocation_reason: None,
            expired: expired(Some(expiration), self.clock()),
            expiration: Some(expiration),
            last_used_at: None,
            created_at: iat * 1000,
            updated_at: iat * 1000,
        };
        Ok(CreatedM2mToken { token, m2m_token })
    }

    /// The live opaque token with this value, marked as used now. A `caller` machine sees
    /// only the tokens it created or whose scopes include it.
    pub fn verify_m2m_token(&mut self, token: &str, caller: Option<&str>) -> Option<M2mToken> {
        let now = self.tick();
        let index = self.machine_auth.m2m_tokens.iter().position(|(t, value)| {
            value == token
                && !t.revoked
                && !expired(t.expiration, now)
                && caller.is_none_or(|m| t.subject == m || t.scopes.iter().any(|s| s == m))
        })?;
        self.machine_auth.m2m_tokens[index].0.last_used_at = Some(now);
        Some(self.m2m_snapshot(index))
    }

    /// Revokes an opaque token; a `caller` machine may revoke only its own. One already
    /// revoked is returned unchanged.
    pub fn revoke_m2m_token(
        &mut self,
        id: &str,
        reason: Option<String>,
        caller: Option<&str>,
    ) -> Result<M2mToken, BackendError> {
        let index = self
            .machine_auth
            .m2m_tokens
            .iter()
            .position(|(t, _)| t.id == id && caller.is_none_or(|m| t.subject == m))
            .ok_or_else(|| BackendError::not_found("m2m_token", id))?;
        if !self.machine_auth.m2m_tokens[index].0.revoked {
            let now = self.tick();
            let token = &mut self.machine_auth.m2m_tokens[index].0;
            token.revoked = true;
            token.revocation_reason = reason;
            token.updated_at = now;
        }
        Ok(self.m2m_snapshot(index))
    }

    /// A machine's opaque tokens, newest first, without the revoked or expired ones unless
    /// asked for; and how many there are before paging.
    pub fn list_m2m_tokens(
        &self,
        subject: &str,
        include_revoked: bool,
        include_expired: bool,
        offset: usize,
        limit: usize,
    ) -> (Vec<M2mToken>, usize) {
        let matching: Vec<M2mToken> = (0..self.machine_auth.m2m_tokens.len())
            .rev()
            .map(|i| self.m2m_snapshot(i))
            .filter(|t| {
                t.subject == subject
                    && (include_revoked || !t.revoked)
                    && (include_expired || !t.expired)
            })
            .collect();
        let total = matching.len();
        (
            matching.into_iter().skip(offset).take(limit).collect(),
            total,
        )
    }

    // ---- OAuth access tokens ----

    fn oauth_snapshot(&self, index: usize) -> OAuthToken {
        let mut token = self.machine_auth.oauth_tokens[index].0.clone();
        token.expired = expired(token.expiration, self.clock());
        token
    }

    fn oauth_index(&self, id: &str) -> Result<usize, BackendError> {
        self.machine_auth
            .oauth_tokens
            .iter()
            .position(|(t, _)| t.id == id)
            .ok_or_else(|| BackendError::not_found("oauth_access_token", id))
    }

    pub fn oauth_token(&self, id: &str) -> Result<OAuthToken, BackendError> {
        self.oauth_index(id).map(|i| self.oauth_snapshot(i))
    }

    pub fn create_oauth_token(
        &mut self,
        new: NewOAuthToken,
        signer: &Signer<'_>,
    ) -> Result<CreatedOAuthToken, BackendError> {
        if !has_id_shape(&new.subject, &["user"]) {
            return Err(bad_request("subject", "subject must be a user_ id"));
        }
        if new.client_id.is_empty() {
            return Err(bad_request("client_id", "client_id must not be empty"));
        }
        let lifetime = new
            .seconds_until_expiration
            .unwrap_or(DEFAULT_TOKEN_TTL_SECS);
        let id = format!("oat_{}", ids::hex(32));
        let (token, created_at, expiration) = match new.format {
            TokenFormat::Opaque => {
                let now = self.tick();
                (
                    format!("oat_{}", ids::alphanumeric(32)),
                    now,
                    after(now, lifetime),
                )
            }
            TokenFormat::Jwt => {
                let iat = self.tick().div_euclid(1000);
                let exp = iat.saturating_add(lifetime);
                let mut payload = Map::new();
                payload.insert("iss".into(), json!(signer.issuer));
                payload.insert("sub".into(), json!(new.subject));
                payload.insert("client_id".into(), json!(new.client_id));
                if !new.audience.is_empty() {
                    payload.insert("aud".into(), json!(new.audience));
                }
                if !new.scopes.is_empty() {
                    payload.insert("scope".into(), json!(new.scopes.join(" ")));
                }
                payload.insert("jti".into(), json!(id));
                payload.insert("iat".into(), json!(iat));
                payload.insert("nbf".into(), json!(iat - DEFAULT_NBF_LEEWAY_SECS));
                payload.insert("exp".into(), json!(exp));
                (
                    signer.sign("at+jwt", None, payload),
                    iat * 1000,
                    exp.saturating_mul(1000),
                )
            }
        };
        let record = OAuthToken {
            id,
            client_id: new.client_id,
            subject: new.subject,
            scopes: new.scopes,
            audience: new.audience,
            format: new.format,
            revoked: false,
            revocation_reason: None,
            expired: false,
            expiration: Some(expiration),
            created_at,
            updated_at: created_at,
        };
        self.machine_auth.oauth_tokens.push((record, token.clone()));
        let oauth_token = self.oauth_snapshot(self.machine_auth.oauth_tokens.len() - 1);
        Ok(CreatedOAuthToken { token, oauth_token })
    }

    pub fn verify_oauth_token(&mut self, token: &str) -> OAuthVerdict {
        let now = self.tick();
        let Some(index) = self
            .machine_auth
            .oauth_tokens
            .iter()
            .position(|(t, value)| value == token && !t.revoked)
        else {
            return OAuthVerdict::NotFound;
        };
        let record = &self.machine_auth.oauth_tokens[index].0;
        match (expired(record.expiration, now), record.format) {
            (false, _) => OAuthVerdict::Active(self.oauth_snapshot(index)),
            (true, TokenFormat::Jwt) => OAuthVerdict::Inactive,
            (true, TokenFormat::Opaque) => OAuthVerdict::NotFound,
        }
    }

    /// Revokes a token (either format: a JWT then fails Backend API verification only). One
    /// already revoked is returned unchanged.
    pub fn revoke_oauth_token(
        &mut self,
        id: &str,
        reason: Option<String>,
    ) -> Result<OAuthToken, BackendError> {
        let index = self.oauth_index(id)?;
        if !self.machine_auth.oauth_tokens[index].0.revoked {
            let now = self.tick();
            let token = &mut self.machine_auth.oauth_tokens[index].0;
            token.revoked = true;
            token.revocation_reason = reason;
            token.updated_at = now;
        }
        Ok(self.oauth_snapshot(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes_need_a_known_prefix_and_word_characters() {
        assert!(has_id_shape("user_2abc", &["user", "org"]));
        assert!(has_id_shape("org_a_b", &["user", "org"]));
        assert!(!has_id_shape("user_", &["user"]));
        assert!(!has_id_shape("user-2abc", &["user"]));
        assert!(!has_id_shape("user_2a c", &["user"]));
        assert!(!has_id_shape("usr_2abc", &["user"]));
    }

    #[test]
    fn expiration_is_inclusive() {
        assert!(expired(Some(10), 10));
        assert!(!expired(Some(11), 10));
        assert!(!expired(None, i64::MAX));
        assert_eq!(after(1_000, -2), -1_000);
    }
}
