//! Optional authentication with clerk-axum: a handler that takes `Option<ClerkAuth>` serves
//! everyone. A request without a token is anonymous (`None`); a request with a valid token is
//! personalised (`Some`); a request with a bad token (expired, forged, for another instance)
//! is still refused with 401, because a bad token never quietly becomes "anonymous".
//!
//! Run it against the emulator (`cargo run -p clerk-emulator -- serve` prints a JWKS URL and
//! a sample token):
//!
//! ```sh
//! CLERK_JWKS_URL=http://127.0.0.1:<port>/.well-known/jwks.json cargo run -p example-optional-auth
//! curl http://127.0.0.1:3000/                                      # {"signed_in":false,…}
//! curl -H "Authorization: Bearer <token>" http://127.0.0.1:3000/   # {"signed_in":true,…}
//! curl -i -H "Authorization: Bearer nonsense" http://127.0.0.1:3000/  # 401
//! ```
use axum::routing::get;
use axum::{Json, Router};
use clerk_axum::{ClerkAuth, ClerkLayer, Verifier};
use serde_json::{json, Value};

/// `GET /`: the public front page, with the signed-in user's own part when there is one.
async fn front_page(auth: Option<ClerkAuth>) -> Json<Value> {
    let public = ["Release notes", "Pricing"];
    match auth {
        None => Json(json!({
            "signed_in": false,
            "greeting": "Hello, stranger! Sign in to see your drafts.",
            "posts": public,
        })),
        Some(auth) => Json(json!({
            "signed_in": true,
            "greeting": format!("Welcome back, {}!", auth.user_id()),
            "posts": public,
            "drafts": [format!("Draft by {}", auth.user_id())],
        })),
    }
}

/// The application: one route that serves everyone, and the layer that verifies tokens.
fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/", get(front_page))
        .layer(ClerkLayer::new(verifier))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = app(Verifier::from_env()?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_emulator::{Emulator, SigningKey};

    async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn anonymous_without_a_token_personalised_with_one_refused_with_a_bad_one() {
        let key = SigningKey::test_key();
        let emulator = Emulator::with_key(key).serve("127.0.0.1:0").await.unwrap();
        let verifier = Verifier::builder()
            .jwks_url(emulator.jwks_url())
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(verifier)).await.unwrap() });

        let (status, body) = get(&url, None).await;
        assert_eq!((status, body["signed_in"].as_bool()), (200, Some(false)));

        let token = emulator.session_token().user("user_ada").sign();
        let (status, body) = get(&url, Some(&token)).await;
        assert_eq!(
            (status, body["greeting"].as_str()),
            (200, Some("Welcome back, user_ada!"))
        );

        let expired = emulator.session_token().expires_in(-60).sign();
        let (status, body) = get(&url, Some(&expired)).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (401, Some("token-expired"))
        );
        let (status, _) = get(&url, Some("nonsense")).await;
        assert_eq!(status, 401);
    }
}
