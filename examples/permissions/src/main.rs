//! Authorization with clerk-axum: a permission guard and a role guard declared with the
//! `permission!` and `role!` markers, an "any of" requirement declared with `requirement!` and
//! asked for with `Require<R>`, and a check that depends on the resource, made in the handler
//! with `auth.require(&Check::...)`.
//!
//! A request without what a route requires is answered before the handler runs (or, for the
//! per-resource check, when the handler asks), with a 403 whose JSON body names the reason:
//!
//! ```text
//! HTTP/1.1 403 Forbidden
//! www-authenticate: Bearer error="insufficient_scope"
//!
//! {"error":"forbidden","reason":"missing-permission","message":"This action requires the permission \"org:notes:read\" in the active organization."}
//! ```
//!
//! Run it against the emulator (`cargo run -p clerk-emulator -- serve` prints a JWKS URL and
//! a sample token, whose user has no organization, hence no permission):
//!
//! ```sh
//! CLERK_JWKS_URL=http://127.0.0.1:<port>/.well-known/jwks.json cargo run -p example-permissions
//! curl -i -H "Authorization: Bearer <token>" http://127.0.0.1:3000/notes
//! ```
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use clerk_axum::{Check, ClerkAuth, ClerkLayer, Require, RequirePermission, RequireRole, Verifier};
use serde_json::{json, Value};
use tokio::sync::Mutex;

clerk_axum::permission!(
    /// Reading the organization's notes.
    pub NotesRead = "org:notes:read"
);
clerk_axum::role!(
    /// The organization's administrators.
    pub Admin = "org:admin"
);
clerk_axum::requirement!(
    /// Seeing who is in the organization: its admins, or whoever may read its members.
    pub SeeMembers = Check::any([Check::role("org:admin"), Check::permission("org:members:read")])
);

/// The notes, by id, with the user id of their author.
type Notes = Arc<Mutex<BTreeMap<u32, String>>>;

/// `GET /notes`: needs the permission `org:notes:read`.
async fn list_notes(auth: RequirePermission<NotesRead>, State(notes): State<Notes>) -> Json<Value> {
    let ids: Vec<u32> = notes.lock().await.keys().copied().collect();
    Json(json!({ "org_id": auth.org_id(), "notes": ids }))
}

/// `GET /members`: needs the role `org:admin` or the permission `org:members:read`.
async fn members(Require(auth, ..): Require<SeeMembers>) -> Json<Value> {
    Json(json!({ "org_id": auth.org_id(), "members": [auth.user_id()] }))
}

/// `GET /settings`: needs the role `org:admin`.
async fn settings(admin: RequireRole<Admin>) -> Json<Value> {
    Json(json!({ "org_id": admin.org_id(), "sso": false }))
}

/// `DELETE /notes/{id}`: its author may delete a note; anyone else needs `org:notes:delete`.
async fn delete_note(
    auth: ClerkAuth,
    State(notes): State<Notes>,
    Path(id): Path<u32>,
) -> Result<StatusCode, Response> {
    let mut notes = notes.lock().await;
    let author = notes
        .get(&id)
        .ok_or_else(|| StatusCode::NOT_FOUND.into_response())?;
    if author != auth.user_id() {
        // Someone else's note: refused with the same 403 the guards answer.
        let check = Check::permission("org:notes:delete");
        auth.require(&check).map_err(IntoResponse::into_response)?;
    }
    notes.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The application: its routes, the notes, and the layer that verifies tokens.
fn app(verifier: Verifier, notes: Notes) -> Router {
    Router::new()
        .route("/notes", get(list_notes))
        .route("/notes/{id}", delete(delete_note))
        .route("/members", get(members))
        .route("/settings", get(settings))
        .with_state(notes)
        .layer(ClerkLayer::new(verifier))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let notes = BTreeMap::from([(1, "user_ada".to_owned()), (2, "user_bob".to_owned())]);
    let app = app(Verifier::from_env()?, Arc::new(Mutex::new(notes)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_emulator::{Emulator, EmulatorServer, Organization, SigningKey};

    /// The emulator and the app served on free ports; the app's base URL.
    async fn start() -> (EmulatorServer, String) {
        let key = SigningKey::test_key();
        let emulator = Emulator::with_key(key).serve("127.0.0.1:0").await.unwrap();
        let verifier = Verifier::builder()
            .jwks_url(emulator.jwks_url())
            .build()
            .unwrap();
        let notes = BTreeMap::from([(1, "user_ada".to_owned()), (2, "user_bob".to_owned())]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = app(verifier, Arc::new(Mutex::new(notes)));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (emulator, url)
    }

    /// A token of `user` in `org_1` with `role` and `permissions`.
    fn token(emulator: &EmulatorServer, user: &str, role: &str, permissions: &[&str]) -> String {
        let org = Organization::new("org_1")
            .role(role)
            .permissions(permissions.iter().copied());
        emulator.session_token().user(user).organization(org).sign()
    }

    async fn call(method: reqwest::Method, url: String, token: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(token)
            .send();
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn guards_let_through_what_the_route_requires_and_refuse_the_rest_with_a_reason() {
        let (emulator, url) = start().await;
        let reader = token(&emulator, "user_cy", "org:member", &["org:notes:read"]);
        let admin = token(&emulator, "user_ada", "org:admin", &[]);
        let get = reqwest::Method::GET;

        let (status, body) = call(get.clone(), format!("{url}/notes"), &reader).await;
        assert_eq!((status, body["notes"].clone()), (200, json!([1, 2])));
        let (status, body) = call(get.clone(), format!("{url}/notes"), &admin).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (403, Some("missing-permission"))
        );

        let (status, body) = call(get.clone(), format!("{url}/settings"), &reader).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (403, Some("missing-role"))
        );
        assert_eq!(
            call(get.clone(), format!("{url}/settings"), &admin).await.0,
            200
        );

        // Any of: the admin role passes, and so does the permission alone.
        let members_reader = token(&emulator, "user_dee", "org:member", &["org:members:read"]);
        assert_eq!(
            call(get.clone(), format!("{url}/members"), &admin).await.0,
            200
        );
        assert_eq!(
            call(get.clone(), format!("{url}/members"), &members_reader)
                .await
                .0,
            200
        );
        // Neither: the reason of the first alternative, and a message naming both.
        let (status, body) = call(get, format!("{url}/members"), &reader).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (403, Some("missing-role"))
        );
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains(" or the permission"));
    }

    #[tokio::test]
    async fn a_note_is_deleted_by_its_author_or_with_the_permission() {
        let (emulator, url) = start().await;
        let bob = token(&emulator, "user_bob", "org:member", &[]);
        let moderator = token(&emulator, "user_eve", "org:member", &["org:notes:delete"]);
        let delete = reqwest::Method::DELETE;

        let (status, body) = call(delete.clone(), format!("{url}/notes/1"), &bob).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (403, Some("missing-permission"))
        );
        assert_eq!(
            call(delete.clone(), format!("{url}/notes/2"), &bob).await.0,
            204
        );
        assert_eq!(
            call(delete.clone(), format!("{url}/notes/1"), &moderator)
                .await
                .0,
            204
        );
        assert_eq!(
            call(delete, format!("{url}/notes/1"), &moderator).await.0,
            404
        );
    }
}
