//! The emulated Clerk instance: issuer, API keys and signing keys.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::compact::b64_standard;
use crate::ids;
use crate::key::{SigningKey, DEFAULT_KEY_BITS};
use crate::objects::{
    BackendError, NewOrganization, NewUser, Organization, OrganizationMembership,
    OrganizationUpdate, Session, User, UserUpdate,
};
use crate::store::Store;
use crate::token::{self, TokenBuilder, DEFAULT_ISSUER};
use crate::webhooks::{self, Delivery, DeliveryError, Hooks, SignedDelivery};

struct State {
    issuer: String,
    /// Set by [`Emulator::with_issuer`]: serving then leaves the issuer alone.
    issuer_explicit: bool,
    secret_key: String,
    /// Every key ever added, retired ones included, in insertion order.
    keys: Vec<SigningKey>,
    /// The kids served in the JWKS, in order.
    published: Vec<String>,
    /// The kid of the key new tokens are signed with.
    current: String,
}

impl State {
    fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    fn keep(&mut self, key: &SigningKey) {
        match self.keys.iter_mut().find(|k| k.kid() == key.kid()) {
            Some(kept) => *kept = key.clone(),
            None => self.keys.push(key.clone()),
        }
        if !self.published.iter().any(|kid| kid == key.kid()) {
            self.published.push(key.kid().to_owned());
        }
    }
}

/// The Backend API side of an instance: its objects and webhook delivery.
struct Directory {
    store: Mutex<Store>,
    hooks: Arc<Hooks>,
    /// Dropped with the last clone of the emulator, which stops the delivery task.
    stop: watch::Sender<bool>,
}

/// A local Clerk instance: an issuer, a secret key, a publishable key, RSA signing keys, and a
/// directory of users, sessions, organizations and memberships whose changes are sent as
/// signed webhooks.
///
/// Cloning is cheap and clones share state, so a test can mint tokens from many tasks while the
/// keys rotate.
///
/// **Directory.** Change it as the Clerk dashboard would ([`Emulator::create_user`],
/// [`Emulator::create_session`], [`Emulator::add_membership`], …) or through the Backend API
/// routes of [`EmulatorServer`](crate::EmulatorServer). Every change gives the object a
/// strictly later `updated_at` and emits Clerk's webhook event (`user.created`,
/// `session.revoked`, …; see [`Emulator::events`]).
///
/// **Webhooks.** Once an endpoint is set with [`Emulator::set_webhook`], each event becomes a
/// message delivered like Svix does: a JSON POST signed with [`Emulator::webhook_secret`],
/// retried with backoff until a 2xx answer, with the same `svix-id` on every attempt. Unlike
/// Svix, messages go out one at a time in the order of the events, each retried before the
/// next (use [`Emulator::deliver_now`] to deliver out of order or twice), and the default
/// retry schedule is in seconds, not hours ([`crate::DEFAULT_RETRY_SCHEDULE`]).
///
/// **Issuer.** Until the emulator is served, and unless set with [`Emulator::with_issuer`], the
/// issuer is [`DEFAULT_ISSUER`] (`https://clerk.emulator.invalid`). [`Emulator::serve`] then
/// sets it to the server's base URL, `http://127.0.0.1:<port>`, so that a verifier given the
/// JWKS URL `<base>/.well-known/jwks.json` derives the expected issuer `<base>`.
///
/// **Keys.** Keys are identified by kid. Every key added is kept, so tokens can be minted with
/// any of them, retired ones included; only published keys are served in the JWKS.
///
/// ```
/// use clerk_emulator::{Emulator, SigningKey};
/// let emulator = Emulator::with_key(SigningKey::test_key());
/// assert!(emulator.secret_key().starts_with("sk_test_"));
/// assert!(emulator.publishable_key().starts_with("pk_test_"));
/// let token = emulator.session_token().user("user_1").sign();
/// assert_eq!(emulator.jwks()["keys"].as_array().unwrap().len(), 1);
/// # let _ = token;
/// ```
#[derive(Clone)]
pub struct Emulator {
    state: Arc<RwLock<State>>,
    directory: Arc<Directory>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("Emulator")
            .field("issuer", &state.issuer)
            .field("current_kid", &state.current)
            .field("published", &state.published)
            .finish_non_exhaustive()
    }
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Emulator {
    /// An emulator with a freshly generated 2048-bit signing key (slow: in tests prefer
    /// [`Emulator::with_key`] with [`SigningKey::test_key`]).
    pub fn new() -> Self {
        Self::with_key(SigningKey::generate(DEFAULT_KEY_BITS))
    }

    /// An emulator whose current (and only) signing key is `key`.
    pub fn with_key(key: SigningKey) -> Self {
        let state = State {
            issuer: DEFAULT_ISSUER.to_owned(),
            issuer_explicit: false,
            secret_key: format!("sk_test_{}", ids::alphanumeric(42)),
            published: vec![key.kid().to_owned()],
            current: key.kid().to_owned(),
            keys: vec![key],
        };
        let hooks = Arc::new(Hooks::new());
        let directory = Directory {
            store: Mutex::new(Store::new(ids::clerk_id("ins"), Arc::clone(&hooks))),
            hooks,
            stop: watch::channel(false).0,
        };
        Self {
            state: Arc::new(RwLock::new(state)),
            directory: Arc::new(directory),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.directory
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the issuer for good: serving will not replace it. Use it to make `iss` differ from
    /// the JWKS base URL, or to emulate a proxy.
    pub fn with_issuer(self, issuer: impl Into<String>) -> Self {
        {
            let mut state = self.write();
            state.issuer = issuer.into();
            state.issuer_explicit = true;
        }
        self
    }

    /// Sets the secret key that the Backend API (`GET /v1/jwks` and the rest) requires.
    pub fn with_secret_key(self, secret_key: impl Into<String>) -> Self {
        self.write().secret_key = secret_key.into();
        self
    }

    /// Sets the issuer to a served base URL, unless it was set explicitly.
    pub(crate) fn served_at(&self, base_url: &str) {
        let mut state = self.write();
        if !state.issuer_explicit {
            state.issuer = base_url.to_owned();
        }
    }

    /// The issuer (`iss`) of minted tokens: the Frontend API URL of the instance.
    pub fn issuer(&self) -> String {
        self.read().issuer.clone()
    }

    /// The Frontend API host: the issuer without its scheme and path, e.g. `127.0.0.1:41234`.
    pub fn frontend_api(&self) -> String {
        let issuer = self.issuer();
        let host = issuer
            .split_once("://")
            .map_or(issuer.as_str(), |(_, rest)| rest);
        host.split('/').next().unwrap_or_default().to_owned()
    }

    /// The secret key, `sk_test_<random>`.
    pub fn secret_key(&self) -> String {
        self.read().secret_key.clone()
    }

    /// The publishable key, computed as Clerk does: `pk_test_` followed by the base64 (standard
    /// alphabet, no padding) of `<frontend api host>$`.
    ///
    /// ```
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key()).with_issuer("https://clerk.clerk.dev");
    /// assert_eq!(emulator.publishable_key(), "pk_test_Y2xlcmsuY2xlcmsuZGV2JA");
    /// ```
    pub fn publishable_key(&self) -> String {
        let encoded = b64_standard(format!("{}$", self.frontend_api()));
        format!("pk_test_{}", encoded.trim_end_matches('='))
    }

    /// The key new tokens are signed with.
    pub fn current_key(&self) -> SigningKey {
        let state = self.read();
        state
            .key(&state.current)
            .cloned()
            .expect("the current kid always names a kept key")
    }

    /// A kept key (published or retired) by kid.
    pub fn key(&self, kid: &str) -> Option<SigningKey> {
        self.read().key(kid).cloned()
    }

    /// Every kept key, retired ones included, in the order they were added.
    pub fn keys(&self) -> Vec<SigningKey> {
        self.read().keys.clone()
    }

    /// The keys served in the JWKS, in order.
    pub fn published_keys(&self) -> Vec<SigningKey> {
        let state = self.read();
        state
            .published
            .iter()
            .filter_map(|kid| state.key(kid).cloned())
            .collect()
    }

    /// The JWKS document served by both JWKS endpoints: `{"keys": [<jwk>, ...]}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.published_keys().iter().map(SigningKey::jwk).collect();
        json!({ "keys": keys })
    }

    /// Keeps and publishes `key` (a key with the same kid is replaced); the current signing key
    /// does not change.
    pub fn add_key(&self, key: &SigningKey) {
        self.write().keep(key);
    }

    /// Keeps and publishes `key`, and makes it the current signing key: a key rotation.
    pub fn rotate_to(&self, key: &SigningKey) {
        let mut state = self.write();
        state.keep(key);
        state.current = key.kid().to_owned();
    }

    /// Makes a kept key the current signing key, without publishing it if it was retired.
    /// Returns `false` if no key has this kid.
    pub fn set_current(&self, kid: &str) -> bool {
        let mut state = self.write();
        if state.key(kid).is_none() {
            return false;
        }
        state.current = kid.to_owned();
        true
    }

    /// Removes a key from the JWKS. It stays kept: tokens can still be minted with it, and it
    /// stays current if it was. Returns `false` if it was not published.
    pub fn retire_key(&self, kid: &str) -> bool {
        let mut state = self.write();
        let before = state.published.len();
        state.published.retain(|k| k != kid);
        state.published.len() != before
    }

    /// Publishes a kept key again. Returns `false` if no key has this kid or it is published.
    pub fn publish_key(&self, kid: &str) -> bool {
        let mut state = self.write();
        if state.key(kid).is_none() || state.published.iter().any(|k| k == kid) {
            return false;
        }
        state.published.push(kid.to_owned());
        true
    }

    /// A default session token (see [`TokenBuilder`]) from this instance: signed with the
    /// current key, `iss` = [`Emulator::issuer`].
    pub fn session_token(&self) -> TokenBuilder {
        TokenBuilder::new(&self.current_key()).issuer(self.issuer())
    }

    /// The instance id, `ins_…`, sent as `instance_id` in webhook events.
    pub fn instance_id(&self) -> String {
        self.store().instance_id().to_owned()
    }

    // ---- users ----

    /// Creates a user (`user.created`). Its first email address is the primary one.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] for a malformed or taken email address, a taken username, or
    /// metadata that is not a JSON object.
    ///
    /// ```
    /// use clerk_emulator::{Emulator, NewUser, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let user = emulator.create_user(NewUser::new().email("ada@example.com").first_name("Ada"))?;
    /// assert!(user.id.starts_with("user_"));
    /// assert_eq!(user.primary_email(), Some("ada@example.com"));
    /// assert_eq!(emulator.events()[0]["type"], "user.created");
    /// # Ok::<(), clerk_emulator::BackendError>(())
    /// ```
    pub fn create_user(&self, user: NewUser) -> Result<User, BackendError> {
        self.store().create_user(user)
    }

    /// A user by id.
    pub fn user(&self, id: &str) -> Option<User> {
        self.store().user(id).ok()
    }

    /// Every user, in creation order.
    pub fn users(&self) -> Vec<User> {
        self.store().users()
    }

    /// Changes a user (`user.updated`).
    ///
    /// # Errors
    /// [`BackendError::NotFound`], or [`BackendError::Invalid`] for a taken username, an
    /// unknown primary email address id, or metadata that is not a JSON object.
    pub fn update_user(&self, id: &str, update: UserUpdate) -> Result<User, BackendError> {
        self.store().update_user(id, update)
    }

    /// Deep-merges metadata into a user (`user.updated`), as `PATCH /v1/users/{id}/metadata`:
    /// `patch` is `{"public_metadata"?, "private_metadata"?, "unsafe_metadata"?}`; objects
    /// merge recursively and a `null` value removes its key.
    ///
    /// # Errors
    /// [`BackendError::NotFound`], or [`BackendError::Invalid`] when `patch` or one of its
    /// fields is not a JSON object.
    pub fn update_user_metadata(&self, id: &str, patch: Value) -> Result<User, BackendError> {
        self.store().user_metadata(id, patch, true)
    }

    /// Replaces each metadata field given (`user.updated`), as `PUT /v1/users/{id}/metadata`.
    ///
    /// # Errors
    /// As [`Emulator::update_user_metadata`].
    pub fn replace_user_metadata(&self, id: &str, fields: Value) -> Result<User, BackendError> {
        self.store().user_metadata(id, fields, false)
    }

    /// Deletes a user (`user.deleted`) and their memberships; their sessions are kept. Returns
    /// the deleted object, `{"object": "user", "id", "deleted": true}`.
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn delete_user(&self, id: &str) -> Result<Value, BackendError> {
        self.store().delete_user(id)
    }

    // ---- sessions ----

    /// Signs a user in: a new active session (`session.created`), expiring in 7 days. Sets the
    /// user's `last_sign_in_at`.
    ///
    /// # Errors
    /// [`BackendError::NotFound`] for an unknown user.
    pub fn create_session(&self, user_id: &str) -> Result<Session, BackendError> {
        self.store().create_session(user_id)
    }

    /// A session by id.
    pub fn session(&self, id: &str) -> Option<Session> {
        self.store().session(id).ok()
    }

    /// Every session, in creation order.
    pub fn sessions(&self) -> Vec<Session> {
        self.store().sessions()
    }

    /// Revokes a session (status `revoked`, `session.revoked`), as
    /// `POST /v1/sessions/{id}/revoke`. A session already revoked is returned unchanged.
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn revoke_session(&self, id: &str) -> Result<Session, BackendError> {
        self.store().set_session_status(id, "revoked")
    }

    /// Ends a session, as signing out does (status `ended`, `session.ended`).
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn end_session(&self, id: &str) -> Result<Session, BackendError> {
        self.store().set_session_status(id, "ended")
    }

    /// Removes a session, as signing out of one of several does (status `removed`,
    /// `session.removed`).
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn remove_session(&self, id: &str) -> Result<Session, BackendError> {
        self.store().set_session_status(id, "removed")
    }

    /// A session token for a session: `sub` = its user, `sid` = its id, no organization.
    ///
    /// ```
    /// # fn main() -> Result<(), clerk_emulator::BackendError> {
    /// use clerk_emulator::{Emulator, NewUser, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let user = emulator.create_user(NewUser::new().email("ada@example.com"))?;
    /// let session = emulator.create_session(&user.id)?;
    /// let token = emulator.session_token_for(&session).sign();
    /// # let _ = token;
    /// # Ok(()) }
    /// ```
    pub fn session_token_for(&self, session: &Session) -> TokenBuilder {
        self.session_token()
            .user(session.user_id.clone())
            .session(session.id.clone())
    }

    /// A session token for a session with an active organization: `sub`, `sid`, and the
    /// organization claims (id, slug, role, permissions) of the user's membership in it. The
    /// organization becomes the session's `last_active_organization_id`.
    ///
    /// # Errors
    /// [`BackendError::NotFound`] if the organization does not exist or the user is not a
    /// member.
    pub fn session_token_in_org(
        &self,
        session: &Session,
        org_id_or_slug: &str,
    ) -> Result<TokenBuilder, BackendError> {
        let membership = {
            let mut store = self.store();
            let membership = store.membership(org_id_or_slug, &session.user_id)?;
            store.set_active_organization(&session.id, Some(membership.organization.id.clone()))?;
            membership
        };
        let organization = token::Organization::new(membership.organization.id)
            .slug(membership.organization.slug)
            .role(membership.role)
            .permissions(membership.permissions);
        Ok(self.session_token_for(session).organization(organization))
    }

    // ---- organizations ----

    /// Creates an organization (`organization.created`); a `created_by` user becomes its
    /// first admin (`organizationMembership.created`).
    ///
    /// # Errors
    /// [`BackendError::Invalid`] for an empty name or a taken slug,
    /// [`BackendError::NotFound`] for an unknown creator.
    pub fn create_organization(
        &self,
        organization: NewOrganization,
    ) -> Result<Organization, BackendError> {
        self.store().create_organization(organization)
    }

    /// An organization by id or slug.
    pub fn organization(&self, id_or_slug: &str) -> Option<Organization> {
        self.store().organization(id_or_slug).ok()
    }

    /// Every organization, in creation order.
    pub fn organizations(&self) -> Vec<Organization> {
        self.store().organizations()
    }

    /// Changes an organization (`organization.updated`).
    ///
    /// # Errors
    /// [`BackendError::NotFound`], or [`BackendError::Invalid`] for a taken slug or metadata
    /// that is not a JSON object.
    pub fn update_organization(
        &self,
        id_or_slug: &str,
        update: OrganizationUpdate,
    ) -> Result<Organization, BackendError> {
        self.store().update_organization(id_or_slug, update)
    }

    /// Deletes an organization and its memberships (`organization.deleted` only). Returns the
    /// deleted object, `{"object": "organization", "id", "slug", "deleted": true}`.
    ///
    /// # Errors
    /// [`BackendError::NotFound`].
    pub fn delete_organization(&self, id_or_slug: &str) -> Result<Value, BackendError> {
        self.store().delete_organization(id_or_slug)
    }

    /// Sets the permissions of a role, e.g. `("org:editor", ["org:posts:edit"])`. Clerk's
    /// `org:admin` and `org:member` come with their system permissions; an undefined role has
    /// none. Existing memberships pick the change up when next read.
    pub fn define_role<I, S>(&self, role: &str, permissions: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let permissions = permissions.into_iter().map(Into::into).collect();
        self.store().define_role(role, permissions);
    }

    /// Adds a user to an organization with a role, e.g. `org:admin`
    /// (`organizationMembership.created`; the organization's `members_count` and `updated_at`
    /// change without an event).
    ///
    /// # Errors
    /// [`BackendError::NotFound`] for an unknown organization or user,
    /// [`BackendError::Invalid`] if the user already is a member.
    pub fn add_membership(
        &self,
        org_id_or_slug: &str,
        user_id: &str,
        role: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        self.store().add_membership(org_id_or_slug, user_id, role)
    }

    /// Changes a member's role (`organizationMembership.updated`).
    ///
    /// # Errors
    /// [`BackendError::NotFound`] if there is no such membership.
    pub fn update_membership(
        &self,
        org_id_or_slug: &str,
        user_id: &str,
        role: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        self.store()
            .update_membership(org_id_or_slug, user_id, role)
    }

    /// Removes a user from an organization (`organizationMembership.deleted`); returns the
    /// membership as it was.
    ///
    /// # Errors
    /// [`BackendError::NotFound`] if there is no such membership.
    pub fn remove_membership(
        &self,
        org_id_or_slug: &str,
        user_id: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        self.store().remove_membership(org_id_or_slug, user_id)
    }

    /// The memberships of an organization, in creation order (empty for an unknown one).
    pub fn memberships(&self, org_id_or_slug: &str) -> Vec<OrganizationMembership> {
        self.store().memberships(org_id_or_slug).unwrap_or_default()
    }

    /// Every webhook event emitted so far, in order, whether or not an endpoint was set:
    /// `{"type", "object": "event", "data", "timestamp", "instance_id", "event_attributes"}`.
    pub fn events(&self) -> Vec<Value> {
        self.store().events()
    }

    // ---- webhooks ----

    /// The signing secret of webhook deliveries: `whsec_` and the standard base64 of 24
    /// random bytes, unless set with [`Emulator::set_webhook_secret`]. Give it to the
    /// verifier (`CLERK_WEBHOOK_SIGNING_SECRET`).
    pub fn webhook_secret(&self) -> String {
        self.directory.hooks.secret()
    }

    /// Signs later deliveries with this secret, `whsec_<standard base64>` (the prefix is
    /// optional). Returns `false`, keeping the old secret, if it does not decode.
    pub fn set_webhook_secret(&self, secret: &str) -> bool {
        self.directory.hooks.set_secret(secret)
    }

    /// Delivers the events emitted from now on to this URL (an `http://` URL on loopback, in
    /// tests). Messages already queued go to the new URL.
    ///
    /// # Panics
    /// The first call starts the delivery task, so it must be made within a Tokio runtime.
    pub fn set_webhook(&self, url: impl Into<String>) {
        if self.directory.hooks.set_url(Some(url.into())) {
            let hooks = Arc::clone(&self.directory.hooks);
            let stop = self.directory.stop.subscribe();
            tokio::spawn(webhooks::run(hooks, stop));
        }
    }

    /// Stops making messages for new events; queued messages wait until an endpoint is set
    /// again.
    pub fn clear_webhook(&self) {
        self.directory.hooks.set_url(None);
    }

    /// The webhook endpoint, if one is set.
    pub fn webhook_url(&self) -> Option<String> {
        self.directory.hooks.url()
    }

    /// The pauses before each retry of a failed attempt; the schedule's length is the number
    /// of retries (default [`crate::DEFAULT_RETRY_SCHEDULE`]).
    pub fn set_retry_schedule(&self, schedule: impl Into<Vec<Duration>>) {
        self.directory.hooks.set_schedule(schedule.into());
    }

    /// How long one attempt may take before it fails (default
    /// [`crate::DEFAULT_DELIVERY_TIMEOUT`]).
    pub fn set_delivery_timeout(&self, timeout: Duration) {
        self.directory.hooks.set_timeout(timeout);
    }

    /// Holds queued messages back (an attempt under way finishes); events still queue up.
    pub fn pause_delivery(&self) {
        self.directory.hooks.set_paused(true);
    }

    /// Resumes delivery after [`Emulator::pause_delivery`].
    pub fn resume_delivery(&self) {
        self.directory.hooks.set_paused(false);
    }

    /// Every webhook message so far, in order, with its delivery state.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.directory.hooks.deliveries()
    }

    /// Queues a message again, as Svix's "resend" does: same body, same `svix-id`, a fresh
    /// retry schedule. Returns `false` for an unknown id.
    pub fn redeliver(&self, msg_id: &str) -> bool {
        self.directory.hooks.redeliver(msg_id)
    }

    /// Makes one attempt of a message right now, outside the queue and even while delivery
    /// is paused: to deliver out of order, or twice. On a 2xx answer the message leaves the
    /// queue. Returns the HTTP status.
    ///
    /// # Errors
    /// [`DeliveryError::UnknownMessage`], [`DeliveryError::NoEndpoint`], or
    /// [`DeliveryError::Transport`] when the attempt got no response.
    pub async fn deliver_now(&self, msg_id: &str) -> Result<u16, DeliveryError> {
        self.directory.hooks.deliver_now(msg_id).await
    }

    /// Waits until no message is queued or under way. `true` if every message was delivered
    /// by then; `false` on timeout (e.g. while paused) or if a message ran out of retries.
    pub async fn wait_delivered(&self, timeout: Duration) -> bool {
        self.directory.hooks.wait_delivered(timeout).await
    }

    /// A message signed now with the current secret, as it would be sent, without sending it.
    pub fn signed_delivery(&self, msg_id: &str) -> Option<SignedDelivery> {
        let body = self.directory.hooks.message_body(msg_id)?;
        Some(
            self.directory
                .hooks
                .sign_now(msg_id, token::unix_now(), body),
        )
    }

    /// Any body signed with the current secret, with this message id and timestamp (Unix
    /// seconds): for deliveries made by hand, stale, tampered with or replayed.
    ///
    /// ```
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::test_key());
    /// let signed = emulator.sign_webhook("msg_1", 1_700_000_000, r#"{"type":"user.created"}"#);
    /// assert!(signed.signature.starts_with("v1,"));
    /// ```
    pub fn sign_webhook(
        &self,
        msg_id: &str,
        timestamp: i64,
        body: impl Into<String>,
    ) -> SignedDelivery {
        self.directory
            .hooks
            .sign_now(msg_id, timestamp, body.into())
    }
}
