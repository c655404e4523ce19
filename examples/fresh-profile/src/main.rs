//! Reading the signed-in user from Clerk's Backend API: `GET /profile` verifies the session
//! token with clerk-axum, then fetches the user with clerk-backend, so the answer is as fresh
//! as Clerk's own record (a session token carries ids, not the profile).
//!
//! The Backend API is another service that can fail: any failure is logged and answered 502
//! (the client's token was fine; the upstream was not), and a user deleted since the token
//! was issued is 404.
//!
//! Both crates read the same two variables: `CLERK_SECRET_KEY`, and `CLERK_API_URL` when the
//! Backend API is not Clerk's (the emulator). With only these set, the verifier fetches its
//! keys from the Backend API as well. Run it against the emulator (`cargo run -p
//! clerk-emulator -- serve` prints the Backend API URL, the secret key and a token of its
//! sample user):
//!
//! ```sh
//! CLERK_SECRET_KEY=sk_test_… CLERK_API_URL=http://127.0.0.1:<port> cargo run -p example-fresh-profile
//! curl -H "Authorization: Bearer <token>" http://127.0.0.1:3000/profile
//! ```
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clerk_axum::{ClerkAuth, ClerkLayer, Verifier};
use serde_json::{json, Value};

/// `GET /profile`: the signed-in user, as the Backend API has it now.
async fn profile(
    auth: ClerkAuth,
    State(clerk): State<clerk_backend::Client>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    match clerk.users().get(auth.user_id()).await {
        Ok(user) => Ok(Json(json!({
            "id": user.id,
            "email": user.primary_email(),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "image_url": user.image_url,
        }))),
        Err(err) if err.is_not_found() => {
            let body = json!({ "error": "not_found", "message": "This user no longer exists." });
            Err((StatusCode::NOT_FOUND, Json(body)))
        }
        Err(err) => {
            // The details (status, Clerk's error code and trace id) are for the log only.
            eprintln!("GET /profile: {err}");
            let message = "The user directory is unavailable; try again later.";
            let body = json!({ "error": "bad_gateway", "message": message });
            Err((StatusCode::BAD_GATEWAY, Json(body)))
        }
    }
}

/// The application: the profile route, the Backend API client and the token verifier.
fn app(verifier: Verifier, clerk: clerk_backend::Client) -> Router {
    Router::new()
        .route("/profile", get(profile))
        .with_state(clerk)
        .layer(ClerkLayer::new(verifier))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clerk = clerk_backend::Client::from_env()?; // CLERK_SECRET_KEY, CLERK_API_URL
    let app = app(Verifier::from_env()?, clerk);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_emulator::{Emulator, Fault, NewUser, SigningKey};

    async fn get(url: &str, token: &str) -> (u16, Value) {
        let response = reqwest::Client::new().get(url).bearer_auth(token).send();
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    #[tokio::test]
    async fn the_profile_comes_from_the_backend_api_and_its_failures_are_502() {
        let key = SigningKey::test_key();
        let emulator = Emulator::with_key(key).serve("127.0.0.1:0").await.unwrap();
        let verifier = Verifier::builder()
            .jwks_url(emulator.jwks_url())
            .build()
            .unwrap();
        let clerk = clerk_backend::Client::builder()
            .secret_key(emulator.secret_key())
            .api_url(emulator.api_url())
            .max_retries(0) // a failure at once, not after the default backoff
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/profile", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(verifier, clerk)).await.unwrap() });

        let new = NewUser::new().email("ada@example.com").first_name("Ada");
        let user = emulator.create_user(new).unwrap();
        let token = emulator.session_token().user(&user.id).sign();
        let (status, body) = get(&url, &token).await;
        assert_eq!(
            (status, body["email"].as_str()),
            (200, Some("ada@example.com"))
        );
        assert_eq!(body["first_name"], "Ada");

        emulator.set_backend_fault(Fault::Status(500));
        let (status, body) = get(&url, &token).await;
        assert_eq!((status, body["error"].as_str()), (502, Some("bad_gateway")));

        emulator.set_backend_fault(Fault::None);
        emulator.delete_user(&user.id).unwrap();
        assert_eq!(get(&url, &token).await.0, 404);
    }
}
