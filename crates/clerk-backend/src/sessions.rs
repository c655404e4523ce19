//! `/v1/sessions`.

use reqwest::Method;

use crate::client::{segment, Client};
use crate::error::Error;
use crate::Session;

/// Session endpoints; from [`Client::sessions`].
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    client: &'a Client,
}

impl Client {
    /// Sessions: `/v1/sessions`.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { client: self }
    }
}

impl Sessions<'_> {
    /// `GET /v1/sessions/{id}`.
    ///
    /// # Errors
    /// See [`Error`]; 404 for an unknown session.
    pub async fn get(&self, session_id: &str) -> Result<Session, Error> {
        self.client
            .get(&["sessions", segment(session_id)?], &[])
            .await
    }

    /// `POST /v1/sessions/{id}/revoke`: the session ends at once (status `revoked`); its
    /// tokens stay valid until they expire (about a minute) unless your verifier checks
    /// revocations. Not retried on 5xx or timeouts (see [`Client`]).
    ///
    /// # Errors
    /// See [`Error`]; 404 for an unknown session.
    pub async fn revoke(&self, session_id: &str) -> Result<Session, Error> {
        self.client
            .call(
                Method::POST,
                &["sessions", segment(session_id)?, "revoke"],
                &[],
                None,
            )
            .await
    }
}
