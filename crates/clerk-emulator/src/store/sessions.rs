//! Sessions: signing in, status changes and the active organization.

use serde_json::Value;

use super::Store;
use crate::ids;
use crate::objects::{BackendError, Session, User};

/// A session expires 7 days after it starts (Clerk's default session lifetime).
const SESSION_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// An inactive session is abandoned after 30 days.
const SESSION_ABANDON_MS: i64 = 30 * 24 * 3600 * 1000;

impl Store {
    fn session_index(&self, id: &str) -> Result<usize, BackendError> {
        self.sessions
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| BackendError::not_found("session", id))
    }

    pub fn session(&self, id: &str) -> Result<Session, BackendError> {
        self.session_index(id).map(|i| self.sessions[i].clone())
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.clone()
    }

    /// Session JSON plus `user` (the User JSON, or null once deleted), as in session events.
    fn session_event_data(&self, session: &Session) -> Value {
        let mut data = session.to_json();
        data["user"] = self
            .users
            .iter()
            .find(|u| u.id == session.user_id)
            .map_or(Value::Null, User::to_json);
        data
    }

    pub fn create_session(&mut self, user_id: &str) -> Result<Session, BackendError> {
        let index = self.user_index(user_id)?;
        let now = self.tick();
        // Signing in is not a change Clerk sends `user.updated` for, but it is one for
        // `updated_at` and `last_sign_in_at`.
        self.users[index].last_sign_in_at = Some(now);
        self.users[index].updated_at = now;
        let session = Session {
            id: ids::clerk_id("sess"),
            user_id: user_id.to_owned(),
            client_id: ids::clerk_id("client"),
            status: "active".to_owned(),
            last_active_at: now,
            last_active_organization_id: None,
            expire_at: now + SESSION_LIFETIME_MS,
            abandon_at: now + SESSION_ABANDON_MS,
            created_at: now,
            updated_at: now,
        };
        self.sessions.push(session.clone());
        let data = self.session_event_data(&session);
        self.emit("session.created", data);
        Ok(session)
    }

    /// Moves a session to `status` and emits `session.<status>`; a session already in that
    /// status is returned unchanged, without an event.
    pub fn set_session_status(&mut self, id: &str, status: &str) -> Result<Session, BackendError> {
        let index = self.session_index(id)?;
        if self.sessions[index].status == status {
            return Ok(self.sessions[index].clone());
        }
        let now = self.tick();
        let session = &mut self.sessions[index];
        session.status = status.to_owned();
        session.updated_at = now;
        let session = session.clone();
        let data = self.session_event_data(&session);
        self.emit(&format!("session.{status}"), data);
        Ok(session)
    }

    pub fn set_active_organization(
        &mut self,
        session_id: &str,
        organization_id: Option<String>,
    ) -> Result<Session, BackendError> {
        let index = self.session_index(session_id)?;
        let now = self.tick();
        let session = &mut self.sessions[index];
        session.last_active_organization_id = organization_id;
        session.last_active_at = now;
        session.updated_at = now;
        Ok(session.clone())
    }
}
