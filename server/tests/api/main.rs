//! End-to-end tests of the reference server over real HTTP: the real app on a free loopback
//! port, a local Clerk (the emulator), and each database test on SQLite and PostgreSQL.
//!
//! One test binary (modules below) so the suite links once.

mod events;
mod machines;
#[path = "../support/mod.rs"]
mod support;

mod admin;
mod auth;
mod binary;
mod clerk_sync;
mod console;
mod notes;
mod ops;
mod revocation;
mod session;
mod webhooks;
