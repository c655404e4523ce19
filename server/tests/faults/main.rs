//! Step 4, reliability under load and faults: the real `api-server` binary, spawned as a child
//! process, against a local Clerk (the emulator) that fails on demand, hostile input, and
//! SIGTERM with requests in flight. See `RELIABILITY.md` at the repository root.
//!
//! Each test prints a `figures:` line (run with `--no-capture` to see it).

mod bad_input;
mod clerk_unreachable;
mod harness;
mod shutdown;
