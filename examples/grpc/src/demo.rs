//! What `cargo run -p example-grpc` does: a local Clerk (the emulator), the server of
//! [`app`](crate::app) on a loopback port, and a tonic client calling both methods with
//! several credentials.

use std::error::Error;
use std::fmt;

use axum::serve::ListenerExt as _;
use clerk_axum::Verifier;
use clerk_emulator::machines::NewM2mToken;
use clerk_emulator::{EmulatorServer, Organization};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::pb::notes_client::NotesClient;
use crate::pb::{ExportNotesRequest, ListNotesRequest};
use crate::READ_NOTES;

/// An error of the demo's set-up (not a refused call: those are [`Outcome`]s).
pub type DemoError = Box<dyn Error + Send + Sync>;

/// The server, running against the emulator, and the machines of the demo.
pub struct Demo {
    /// The local Clerk.
    pub emulator: EmulatorServer,
    /// The server's base URL, `http://127.0.0.1:<port>`, for gRPC and REST alike.
    pub url: String,
    /// The notes service's own machine.
    pub notes_machine: String,
    /// A machine whose M2M tokens may call the notes service.
    pub reporting_machine: String,
    /// A machine whose M2M tokens may not.
    pub stranger_machine: String,
}

/// How a call ended: the answer, or the refusal's code and `grpc-message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The method called.
    pub method: &'static str,
    /// The credential it was called with.
    pub credential: &'static str,
    /// The answer, or the status code and message.
    pub result: Result<String, (Code, String)>,
}

impl Outcome {
    /// The refusal's reason (`x-clerk-auth-reason`, also the start of `grpc-message`).
    pub fn reason(&self) -> Option<&str> {
        let (_, message) = self.result.as_ref().err()?;
        message.split_once(": ").map(|(reason, _)| reason)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = format!("{} with {}", self.method, self.credential);
        match &self.result {
            Ok(answer) => write!(f, "{call:<50} OK {answer}"),
            Err((code, message)) => write!(f, "{call:<50} {code:?} ({}) {message}", *code as i32),
        }
    }
}

impl Demo {
    /// Creates the machines in `emulator` and serves the app on a free loopback port.
    pub async fn start(emulator: EmulatorServer) -> Result<Demo, DemoError> {
        let notes_machine = emulator.create_machine("notes", &[])?.id;
        let reporting_machine = emulator.create_machine("reporting", &[&notes_machine])?.id;
        let stranger_machine = emulator.create_machine("stranger", &[])?.id;
        // The JWKS for session tokens and M2M JWTs; the secret key and Backend API for opaque
        // M2M tokens (`mt_…`).
        let verifier = Verifier::builder()
            .jwks_url(emulator.jwks_url())
            .secret_key(emulator.secret_key())
            .api_url(emulator.api_url())
            .build()?;
        let app = crate::app(verifier, &notes_machine);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        // TCP_NODELAY: without it, calls in flight together on one HTTP/2 connection wait on
        // delayed ACKs, about 40 ms each time.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Demo {
            emulator,
            url,
            notes_machine,
            reporting_machine,
            stranger_machine,
        })
    }

    /// Calls both methods with each credential, over one HTTP/2 connection.
    pub async fn run(&self) -> Result<Vec<Outcome>, DemoError> {
        let mut client = NotesClient::new(Channel::from_shared(self.url.clone())?.connect().await?);
        let member = |permissions: &[&str]| {
            let org = Organization::new("org_1")
                .role("org:member")
                .permissions(permissions.iter().copied());
            self.emulator
                .session_token()
                .user("user_ada")
                .organization(org)
                .sign()
        };
        let reader = member(&[READ_NOTES]);
        let outsider = member(&[]);
        let expired = self.emulator.session_token().expires_in(-60).sign();
        let m2m = |machine: &str| -> Result<String, DemoError> {
            let created = self
                .emulator
                .create_m2m_token(machine, NewM2mToken::new())?;
            Ok(created.token)
        };
        let reporting = m2m(&self.reporting_machine)?;
        let stranger = m2m(&self.stranger_machine)?;

        let mut outcomes = Vec::new();
        for (credential, token) in [
            ("a session with org:notes:read", Some(reader.as_str())),
            ("a session without it", Some(outsider.as_str())),
            ("no token", None),
            ("an expired session", Some(expired.as_str())),
            ("an M2M token (opaque)", Some(reporting.as_str())),
        ] {
            let answer = client
                .list_notes(authorized(ListNotesRequest {}, token)?)
                .await
                .map(|reply| {
                    let reply = reply.into_inner();
                    format!(
                        "{} notes of {}: {:?}",
                        reply.titles.len(),
                        reply.org_id,
                        reply.titles
                    )
                });
            outcomes.push(outcome("ListNotes", credential, answer));
        }
        for (credential, token) in [
            ("an M2M token of `reporting`", Some(reporting.as_str())),
            ("an M2M token of `stranger`", Some(stranger.as_str())),
            ("a session", Some(reader.as_str())),
        ] {
            let answer = client
                .export_notes(authorized(ExportNotesRequest {}, token)?)
                .await
                .map(|reply| {
                    let reply = reply.into_inner();
                    format!("{} notes exported for {}", reply.count, reply.machine_id)
                });
            outcomes.push(outcome("ExportNotes", credential, answer));
        }
        Ok(outcomes)
    }
}

/// `message` with `token` in the `authorization` metadata.
fn authorized<T>(message: T, token: Option<&str>) -> Result<Request<T>, DemoError> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse()?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

fn outcome(
    method: &'static str,
    credential: &'static str,
    result: Result<String, Status>,
) -> Outcome {
    Outcome {
        method,
        credential,
        result: result.map_err(|status| (status.code(), status.message().to_owned())),
    }
}
