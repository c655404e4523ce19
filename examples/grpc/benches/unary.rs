//! A unary tonic call with and without Clerk's layer, over HTTP/2 on loopback.
//!
//! Two servers of the same `notes.v1.Notes` service, each on its own loopback port, served the
//! same way (`axum::serve`, one router):
//!
//! - `no_layer`: the bare tonic service; its `ListNotes` answers without asking who calls;
//! - `clerk_layer`: the example's [`app`](example_grpc::app), where `GrpcAuthLayer` checks the
//!   session token in the `authorization` metadata and its `org:notes:read` permission, and
//!   the handler reads the caller from the request's extensions.
//!
//! Every call carries the same `authorization: Bearer <session token>` metadata, so the bytes
//! on the wire are the same for both; the token is cached after the first call (the verifier's
//! verified-token cache), as it is for a client that calls many times with one token.
//!
//! Two shapes of load: `sequential` (one call at a time on one HTTP/2 connection: latency) and
//! `concurrent` (64 calls in flight on one connection: throughput, where the server's CPU is
//! what counts). The machine is shared and noisy, so rather than one long measurement per row
//! the run is made of rounds: in each, every shape runs for `SECONDS` against both servers in
//! turn (the order alternating from round to round), and the round's ratio
//! `clerk_layer / no_layer` of calls per second is taken from two measurements a few seconds
//! apart. The report gives each row's median calls per second and the median, lowest and
//! highest of the per-round ratios.
//!
//! Run: `cargo bench -p example-grpc --bench unary` (`ROUNDS`, default 10, and `SECONDS`,
//! default 1, change the length); the figures go in `BENCHMARKS.md`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use axum::serve::ListenerExt as _;
use clerk_axum::Verifier;
use clerk_emulator::{Emulator, Organization};
use example_grpc::pb::notes_client::NotesClient;
use example_grpc::pb::notes_server::{Notes, NotesServer};
use example_grpc::pb::{ExportNotesReply, ExportNotesRequest, ListNotesReply, ListNotesRequest};
use example_grpc::READ_NOTES;
use futures_util::future::join_all;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// In-flight calls per iteration of the concurrent shape.
const IN_FLIGHT: usize = 64;

/// The service with no authentication: the same answer as the example's `ListNotes`.
struct Open;

#[tonic::async_trait]
impl Notes for Open {
    async fn list_notes(
        &self,
        _request: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesReply>, Status> {
        Ok(Response::new(ListNotesReply {
            org_id: "org_1".to_owned(),
            titles: vec!["Q3 plan".to_owned(), "Launch checklist".to_owned()],
        }))
    }

    async fn export_notes(
        &self,
        _request: Request<ExportNotesRequest>,
    ) -> Result<Response<ExportNotesReply>, Status> {
        Ok(Response::new(ExportNotesReply {
            machine_id: String::new(),
            count: 2,
        }))
    }
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // As the example's demo serves it: without TCP_NODELAY, calls in flight together wait on
    // delayed ACKs (about 40 ms each time).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn client(url: &str) -> NotesClient<Channel> {
    let channel = Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    NotesClient::new(channel)
}

fn call(token: &str) -> Request<ListNotesRequest> {
    let mut request = Request::new(ListNotesRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The shapes of load: name and calls in flight.
const SHAPES: [(&str, usize); 2] = [("sequential", 1), ("concurrent", IN_FLIGHT)];

/// Calls per second with `in_flight` calls kept in flight for `seconds`.
async fn rate(client: &NotesClient<Channel>, token: &str, in_flight: usize, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let workers = (0..in_flight).map(|_| {
        let mut client = client.clone();
        async move {
            let mut calls = 0u64;
            while Instant::now() < deadline {
                client
                    .list_notes(call(token))
                    .await
                    .expect("the call succeeds");
                calls += 1;
            }
            calls
        }
    });
    let started = Instant::now();
    let calls: u64 = join_all(workers).await.into_iter().sum();
    calls as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, quickly.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let rounds: usize = if quick { 1 } else { env_or("ROUNDS", 10) };
    let seconds: f64 = if quick { 0.2 } else { env_or("SECONDS", 1.0) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let emulator = Emulator::start("127.0.0.1:0").await.unwrap();
        let notes = emulator.create_machine("notes", &[]).unwrap().id;
        let token = emulator
            .session_token()
            .user("user_ada")
            .organization(
                Organization::new("org_1")
                    .role("org:member")
                    .permissions([READ_NOTES]),
            )
            .expires_in(3600)
            .sign();
        let verifier = Verifier::builder()
            .jwks_url(emulator.jwks_url())
            .build()
            .unwrap();
        let open = client(
            &serve(tonic::service::Routes::new(NotesServer::new(Open)).into_axum_router()).await,
        )
        .await;
        let protected = client(&serve(example_grpc::app(verifier, &notes)).await).await;
        // Both answer the call (the protected one after fetching the keys once)...
        for client in [&open, &protected] {
            let reply = client
                .clone()
                .list_notes(call(&token))
                .await
                .expect("the call succeeds");
            assert_eq!(reply.into_inner().org_id, "org_1");
        }
        // ...and the layer does refuse: the measurement is not of an open door.
        let refused = protected
            .clone()
            .list_notes(call("not-a-token"))
            .await
            .expect_err("a bad token is refused");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);

        println!(
            "{rounds} rounds of {seconds} s per row, {IN_FLIGHT} calls in flight for `concurrent`"
        );
        for (shape, in_flight) in SHAPES {
            // Warm-up, not measured.
            rate(&open, &token, in_flight, seconds / 2.0).await;
            rate(&protected, &token, in_flight, seconds / 2.0).await;
            let (mut bare, mut layered, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                let (without, with) = if round % 2 == 0 {
                    let without = rate(&open, &token, in_flight, seconds).await;
                    (without, rate(&protected, &token, in_flight, seconds).await)
                } else {
                    let with = rate(&protected, &token, in_flight, seconds).await;
                    (rate(&open, &token, in_flight, seconds).await, with)
                };
                bare.push(without);
                layered.push(with);
                ratios.push(with / without);
            }
            let (low, high) = ratios.iter().fold((f64::MAX, f64::MIN), |(low, high), r| {
                (low.min(*r), high.max(*r))
            });
            println!(
                "{shape:<11} no_layer {:>8.0} calls/s   clerk_layer {:>8.0} calls/s   \
                 ratio median {:.3} (lowest {low:.3}, highest {high:.3})",
                median(&mut bare),
                median(&mut layered),
                median(&mut ratios),
            );
        }
        drop(emulator);
    });
}
