//! What the API suite (`tests/api`) and the fault suite (`tests/faults`) share, written once:
//! the local Clerk with the emulator's fixed test key, the webhook secret, the HTTP client and
//! its replies, polling, the server in the test's process ([`app`]) and the binary as a child
//! process ([`process`]). Each suite uses part of it.
#![allow(dead_code, unused_imports, unused_macros)]

mod app;
mod process;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clerk_emulator::{Emulator, EmulatorServer, SigningKey};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub use app::*;
pub use process::*;

/// The `api-server` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_api-server");

/// The webhook signing secret the test servers are configured with.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A started emulator (a local Clerk) on loopback, signing with the emulator's fixed test key
/// (no RSA key generation in the tests' set-up).
pub async fn clerk() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("the emulator starts")
}

/// A client that never waits forever and follows no redirect.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a readable body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        json,
    }
}

/// Polls `probe` every 50 ms until it returns true, at most `limit`; false on timeout.
pub async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if probe().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lines of a child's stream, as they come.
pub fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}
