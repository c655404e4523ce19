//! A gRPC service protected by Clerk, with REST beside it on one port.
//!
//! `notes.v1.Notes` has two methods, each with its own rule in a [`GrpcPolicy`]:
//!
//! - `ListNotes`: a signed-in user's session token whose active organization grants
//!   `org:notes:read`;
//! - `ExportNotes`: another service's M2M token, whose scopes name this service's machine.
//!
//! The token is the call's `authorization` metadata (`Bearer <token>`). A refused call gets a
//! gRPC status: 16 `UNAUTHENTICATED` (no token, a bad one, or one of a type the method does
//! not take), 7 `PERMISSION_DENIED` (a valid token without the permission or the scope), 14
//! `UNAVAILABLE` (Clerk's keys or Backend API out of reach), with Clerk's reason in
//! `grpc-message` (`missing-permission: …`) and in the `x-clerk-auth-reason` metadata.
//!
//! [`app`] is the whole server: the gRPC routes under `GrpcAuthLayer`, and a REST route,
//! `GET /v1/me`, under `ClerkLayer`, on one axum router. [`demo`] runs it against a local
//! Clerk (the emulator) and calls it: `cargo run -p example-grpc`.

pub mod demo;
pub mod pb;

use axum::routing::get;
use axum::{Json, Router};
use clerk_axum::{
    Accepts, Check, ClerkAuth, ClerkLayer, ClerkRequestExt, GrpcPolicy, GrpcRule, TokenType,
    Verifier,
};
use tonic::{Request, Response, Status};

use crate::pb::notes_server::NotesServer;
use crate::pb::{ExportNotesReply, ExportNotesRequest, ListNotesReply, ListNotesRequest};

/// The permission `ListNotes` requires.
pub const READ_NOTES: &str = "org:notes:read";

/// The notes service.
#[derive(Debug, Default)]
pub struct Notes;

#[tonic::async_trait]
impl pb::notes_server::Notes for Notes {
    async fn list_notes(
        &self,
        request: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesReply>, Status> {
        // The layer let through a session with the permission; here is who it is.
        let auth = request.clerk_auth()?;
        Ok(Response::new(ListNotesReply {
            org_id: auth.org_id().unwrap_or_default().to_owned(),
            titles: vec!["Q3 plan".to_owned(), "Launch checklist".to_owned()],
        }))
    }

    async fn export_notes(
        &self,
        request: Request<ExportNotesRequest>,
    ) -> Result<Response<ExportNotesReply>, Status> {
        // An M2M token that names this service in its scopes: the calling machine.
        let caller = request.clerk_caller()?;
        Ok(Response::new(ExportNotesReply {
            machine_id: caller.subject().to_owned(),
            count: 2,
        }))
    }
}

/// Who may call what. `machine_id` is this service's own machine (`mch_…`): an M2M token's
/// scopes are the machines it may call.
pub fn policy(machine_id: &str) -> GrpcPolicy {
    GrpcPolicy::new()
        .method(
            "/notes.v1.Notes/ListNotes",
            GrpcRule::authenticated().check(Check::permission(READ_NOTES)),
        )
        .method(
            "/notes.v1.Notes/ExportNotes",
            GrpcRule::accepting(Accepts::only(TokenType::M2mToken)).scope(machine_id.to_owned()),
        )
    // Any other call: a valid session (the fallback).
}

/// `GET /v1/me`: the REST side, for sessions.
async fn me(auth: ClerkAuth) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "user_id": auth.user_id(), "org_id": auth.org_id() }))
}

/// The server: `Notes` (gRPC, HTTP/2) and `GET /v1/me` (REST) on one router, for one port.
/// Serve it with `axum::serve` and axum's `http2` feature, which speaks HTTP/1.1 and HTTP/2
/// (prior knowledge) on the same listener; set `TCP_NODELAY` on its connections (see
/// [`demo`]), or concurrent calls wait on delayed ACKs.
pub fn app(verifier: Verifier, machine_id: &str) -> Router {
    let clerk = ClerkLayer::new(verifier);
    let grpc = tonic::service::Routes::new(NotesServer::new(Notes))
        .into_axum_router()
        .route_layer(clerk.clone().grpc(policy(machine_id)));
    Router::new()
        .route("/v1/me", get(me))
        .layer(clerk)
        .merge(grpc)
}
