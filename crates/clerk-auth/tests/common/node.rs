//! What both differential tests (`differential.rs`, `differential_machine.rs`) need to run
//! Clerk's own SDK under Node: its directory, the pinned `@clerk/backend` installed from the
//! lock file, and readable failure messages.

use std::path::{Path, PathBuf};
use std::process::Command;

use std::fmt;

use serde_json::Value;

/// The version of `@clerk/backend` in `tests/differential/package.json`.
pub const CLERK_BACKEND_VERSION: &str = "3.25.0";

pub fn differential_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

pub fn run(command: &mut Command, what: &str) -> std::process::Output {
    match command.output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "the differential test needs Node.js (>= 20.9) and npm on PATH to run Clerk's own SDK \
             ({what}: {err}). Install them (e.g. `apt-get install nodejs npm`) and run again."
        ),
        Err(err) => panic!("{what} could not start: {err}"),
    }
}

/// Installs `@clerk/backend` from the lock file unless the pinned version is already there.
pub fn ensure_clerk_installed(dir: &Path) {
    let installed = std::fs::read_to_string(dir.join("node_modules/@clerk/backend/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|pkg| pkg["version"].as_str().map(str::to_owned));
    if installed.as_deref() == Some(CLERK_BACKEND_VERSION) {
        return;
    }
    eprintln!(
        "differential: installing @clerk/backend {CLERK_BACKEND_VERSION} (npm ci in {})",
        dir.display()
    );
    let output = run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
        "npm ci",
    );
    assert!(
        output.status.success(),
        "npm ci failed in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A token for a failure message: whole when short, else its start and length.
pub fn abbreviate(token: &str) -> String {
    if token.len() <= 160 {
        format!("{token:?}")
    } else {
        let start: String = token.chars().take(120).collect();
        format!("{start:?}… ({} bytes)", token.len())
    }
}

/// A verdict: accepted, refused with a reason, or (Clerk only) an exception that is not one
/// of its verification errors (`verifyToken` throwing, `authenticateRequest` rejecting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expect {
    Accept,
    Reject(&'static str),
    /// Clerk threw this JavaScript error instead of returning a reason.
    Crash(&'static str),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Accept => f.write_str("accepted"),
            Expect::Reject(reason) => f.write_str(reason),
            Expect::Crash(error) => write!(f, "throws {error}"),
        }
    }
}

pub const INVALID: Expect = Expect::Reject("token-invalid");
pub const ALGORITHM: Expect = Expect::Reject("token-invalid-algorithm");
pub const PARTY: Expect = Expect::Reject("token-invalid-authorized-parties");
pub const SIGNATURE: Expect = Expect::Reject("token-invalid-signature");
pub const FAILED: Expect = Expect::Reject("token-verification-failed");
