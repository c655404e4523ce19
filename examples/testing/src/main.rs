//! The app of `example_testing`, served with the verifier of the environment
//! (`CLERK_JWKS_URL`, …).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = example_testing::app(clerk_axum::Verifier::from_env()?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
