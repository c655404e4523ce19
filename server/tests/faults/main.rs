//! Step 4, reliability under load and faults: the real `api-server` binary, spawned as a child
//! process, against a local Clerk (the emulator) that fails on demand, hostile input, SIGTERM
//! and SIGKILL, key rotation and forged tokens under load, a private PostgreSQL stopped
//! mid-burst, and a memory soak. See `RELIABILITY.md` at the repository root.
//!
//! Each test prints a `figures:` line (run with `--no-capture` to see it). The `long_*`
//! variants are ignored by default; run them with an optimised build:
//! `cargo nextest run --release -p api-server --test faults --run-ignored only --no-capture`.

mod abuse;
mod bad_input;
mod burst;
mod clerk_unreachable;
mod crash;
mod database;
mod edge;
mod http2;
mod load;
mod machines;
mod memory;
mod pg;
mod rotation;
mod shutdown;
#[path = "../support/mod.rs"]
mod support;
