//! A protected hello-world: `CLERK_JWKS_URL=… cargo run -p example-hello`, then
//! `curl -H "Authorization: Bearer <token>" http://127.0.0.1:3000/`.
use axum::{routing::get, Router};
use clerk_axum::{ClerkAuth, ClerkLayer};

async fn hello(auth: ClerkAuth) -> String {
    format!("Hello, {}!\n", auth.user_id())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = clerk_auth::Verifier::from_env()?;
    let app = Router::new()
        .route("/", get(hello))
        .layer(ClerkLayer::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
