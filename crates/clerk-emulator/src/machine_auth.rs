//! Machine authentication on the emulator (clerk-spec §5): machines, API keys, M2M tokens and
//! OAuth access tokens, created and revoked from Rust as the Clerk dashboard, a machine or
//! Clerk's OAuth server would. Served by the routes of `machine_bapi.rs`.

use crate::emulator::Emulator;
use crate::machines::{
    ApiKey, CreatedApiKey, CreatedM2mToken, CreatedOAuthToken, M2mToken, Machine, NewApiKey,
    NewM2mToken, NewOAuthToken, OAuthToken,
};
use crate::objects::BackendError;
use crate::store::Signer;

/// Expiration is judged by the emulator's wall clock, as every other time it hands out.
/// There is no way to move that clock: to test expiry, create a token whose lifetime is `0`
/// or negative (it has expired from the start), or sign one by hand with
/// [`TokenBuilder`](crate::TokenBuilder).
impl Emulator {
    /// Runs `f` with the signer of JWT forms: the current key and the issuer.
    fn with_signer<T>(&self, f: impl FnOnce(&Signer<'_>) -> T) -> T {
        let key = self.current_key();
        let issuer = self.issuer();
        f(&Signer {
            key: &key,
            issuer: &issuer,
        })
    }

    /// Creates a machine (`mch_…`) with a fresh secret key, allowed to talk to the machines in
    /// `scopes` (their ids).
    ///
    /// # Errors
    /// [`BackendError::NotFound`] for an unknown machine in `scopes`, [`BackendError::Invalid`]
    /// for a name that is empty or longer than 255 characters.
    ///
    /// ```
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let billing = emulator.create_machine("billing", &[])?;
    /// let orders = emulator.create_machine("orders", &[&billing.id])?;
    /// assert!(orders.id.starts_with("mch_"));
    /// assert!(orders.secret_key.starts_with("ak_"));
    /// assert_eq!(orders.scopes, [billing.id]);
    /// # Ok::<(), clerk_emulator::BackendError>(())
    /// ```
    pub fn create_machine(&self, name: &str, scopes: &[&str]) -> Result<Machine, BackendError> {
        let scopes = scopes.iter().map(|&s| s.to_owned()).collect();
        self.store().create_machine(name, scopes)
    }

    /// Lets a machine talk to another one: `other_machine_id` joins its scopes, for the M2M
    /// tokens it creates from now on (as in Clerk, existing tokens keep their scopes).
    ///
    /// # Errors
    /// [`BackendError::NotFound`] for an unknown machine.
    pub fn add_machine_scope(
        &self,
        machine_id: &str,
        other_machine_id: &str,
    ) -> Result<Machine, BackendError> {
        self.store().add_machine_scope(machine_id, other_machine_id)
    }

    /// A machine by id.
    pub fn machine(&self, id: &str) -> Option<Machine> {
        self.store().machine(id).ok()
    }

    /// Creates an API key; its secret is in the answer only.
    ///
    /// The subject must look like a Clerk id (`user_`, `org_`, `mch_` or `scim_` followed by
    /// word characters), but need not exist in the directory.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] (`bad_request`, HTTP 400) for a malformed subject, a name
    /// shorter than 3 characters or with surrounding whitespace, a `type` not of 3 to 25
    /// characters, a description over 255 characters, or a `created_by` that is not a user id.
    ///
    /// ```
    /// use clerk_emulator::machines::NewApiKey;
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let created = emulator.create_api_key(NewApiKey::new("user_2abc", "ci-key").scopes(["read"]))?;
    /// assert!(created.api_key.id.starts_with("ak_"));
    /// assert!(created.secret.starts_with("ak_"));
    /// assert_ne!(created.secret, created.api_key.id);
    /// # Ok::<(), clerk_emulator::BackendError>(())
    /// ```
    pub fn create_api_key(&self, api_key: NewApiKey) -> Result<CreatedApiKey, BackendError> {
        self.store().create_api_key(api_key)
    }

    /// Revokes an API key, as `POST /api_keys/{id}/revoke`: its verification answers 404 from
    /// now on. A key already revoked is returned unchanged.
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn revoke_api_key(&self, id: &str, reason: Option<&str>) -> Result<ApiKey, BackendError> {
        self.store().revoke_api_key(id, reason.map(str::to_owned))
    }

    /// An API key by id.
    pub fn api_key(&self, id: &str) -> Option<ApiKey> {
        self.store().api_key(id).ok()
    }

    /// Creates an M2M token for a machine, as the machine does with `POST /m2m_tokens`.
    ///
    /// Its scopes are the machine's scopes. An opaque token (`mt_…`) is stored; a JWT is
    /// signed with the current key and not stored: header `{alg: RS256, cat: cl_B7d4PD333AAA,
    /// kid, typ: JWT}`, claims the custom ones, then `iss` (the issuer), `sub` (the machine),
    /// `aud` (its scopes, an array) and `scopes` (the same, space-separated; both left out when
    /// there are none), `jti` (the `mt_…` id), `iat`, `nbf` = `iat` − 10 and `exp`.
    ///
    /// # Errors
    /// [`BackendError::NotFound`] for an unknown machine; [`BackendError::Invalid`] for JWT
    /// claims that are not a JSON object, or a `min_remaining_ttl_seconds` that is negative or
    /// not less than the lifetime.
    ///
    /// ```
    /// use clerk_emulator::machines::{NewM2mToken, TokenFormat};
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let machine = emulator.create_machine("worker", &[])?;
    /// let opaque = emulator.create_m2m_token(&machine.id, NewM2mToken::new())?;
    /// assert!(opaque.token.starts_with("mt_"));
    /// let jwt = emulator.create_m2m_token(&machine.id, NewM2mToken::new().format(TokenFormat::Jwt))?;
    /// assert_eq!(jwt.token.split('.').count(), 3);
    /// # Ok::<(), clerk_emulator::BackendError>(())
    /// ```
    pub fn create_m2m_token(
        &self,
        machine_id: &str,
        token: NewM2mToken,
    ) -> Result<CreatedM2mToken, BackendError> {
        self.with_signer(|signer| self.store().create_m2m_token(machine_id, token, signer))
    }

    /// Revokes an opaque M2M token, as `POST /m2m_tokens/{id}/revoke` with the secret key.
    /// A token already revoked is returned unchanged.
    ///
    /// # Errors
    /// [`BackendError::NotFound`], also for the id of a JWT (never stored).
    pub fn revoke_m2m_token(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> Result<M2mToken, BackendError> {
        self.store()
            .revoke_m2m_token(id, reason.map(str::to_owned), None)
    }

    /// An opaque M2M token by id.
    pub fn m2m_token(&self, id: &str) -> Option<M2mToken> {
        self.store().m2m_token(id).ok()
    }

    /// Issues an OAuth access token to an OAuth application for a user, as Clerk's OAuth
    /// server does. Both formats are recorded, so the Backend API can verify them.
    ///
    /// The JWT form is signed with the current key: header `{alg: RS256, kid, typ: at+jwt}`
    /// (no `cat`), claims `iss`, `sub`, `client_id`, `aud` (if an audience is set), `scope`
    /// (the scopes, space-separated; left out when there are none), `jti` (the `oat_…` id),
    /// `iat`, `nbf` = `iat` − 10 and `exp`.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] for a subject that is not a user id or an empty client id.
    ///
    /// ```
    /// use clerk_emulator::machines::NewOAuthToken;
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let created = emulator.create_oauth_access_token(NewOAuthToken::new("user_2abc"))?;
    /// assert!(created.token.starts_with("oat_"));
    /// assert!(created.oauth_token.id.starts_with("oat_"));
    /// # Ok::<(), clerk_emulator::BackendError>(())
    /// ```
    pub fn create_oauth_access_token(
        &self,
        token: NewOAuthToken,
    ) -> Result<CreatedOAuthToken, BackendError> {
        self.with_signer(|signer| self.store().create_oauth_token(token, signer))
    }

    /// Revokes an OAuth access token: the Backend API answers 404 for it from now on (a JWT
    /// still verifies locally). A token already revoked is returned unchanged.
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn revoke_oauth_access_token(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> Result<OAuthToken, BackendError> {
        self.store()
            .revoke_oauth_token(id, reason.map(str::to_owned))
    }

    /// An OAuth access token by id.
    pub fn oauth_access_token(&self, id: &str) -> Option<OAuthToken> {
        self.store().oauth_token(id).ok()
    }
}
