//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds `migrations/` at
//! compile time (sqlx's documented build script).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
