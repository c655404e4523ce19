//! End-to-end tests of the reference server over real HTTP: the real app on a free loopback
//! port, a local Clerk (the emulator), and each database test on SQLite and PostgreSQL.
//!
//! One test binary (modules below) so the suite links once.

mod common;

mod auth;
mod binary;
mod notes;
mod ops;
mod session;
