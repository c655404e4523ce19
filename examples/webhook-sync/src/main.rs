//! Keeping a local copy of Clerk's users with webhooks: `POST /webhooks/clerk` verifies each
//! delivery with clerk-webhooks (the headers and the raw body, exactly as received) and
//! applies `user.created`, `user.updated` and `user.deleted` to a SQLite table.
//!
//! - A delivery that does not verify (bad signature, stale timestamp, missing headers) is
//!   answered 400 and changes nothing.
//! - Svix delivers at least once: each applied `svix-id` is recorded in the same transaction
//!   as its change, and a repeat is answered 200 `{"status":"duplicate"}`. Deliveries may
//!   also arrive out of order, so an update older than the stored row is not applied.
//! - A failure of the database is answered 500, which Svix delivers again later.
//!
//! Run it against the emulator, which delivers its events to the URL it is given and prints
//! the signing secret, the Backend API URL and the secret key:
//!
//! ```sh
//! cargo run -p clerk-emulator -- serve --webhook-url http://127.0.0.1:3000/webhooks/clerk
//! CLERK_WEBHOOK_SIGNING_SECRET=whsec_… cargo run -p example-webhook-sync
//! curl -X POST http://127.0.0.1:<port>/v1/users -H "Authorization: Bearer sk_test_…" \
//!   -H "Content-Type: application/json" -d '{"email_address":["ada@example.com"]}'
//! ```
//!
//! The example then prints `user.created msg_…: applied`. `DATABASE_URL` (default
//! `sqlite::memory:`) picks the database, e.g. `sqlite://users.db?mode=rwc` for a file.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use clerk_webhooks::{EventData, User, Webhook, WebhookError};
use serde_json::{json, Value};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::SqliteConnection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_messages (svix_id TEXT PRIMARY KEY);
";

/// What every request needs: the webhook verifier and the database.
#[derive(Clone)]
struct AppState {
    webhook: Webhook,
    db: SqlitePool,
}

/// A refused or failed delivery: the status and a JSON body.
type Failure = (StatusCode, Json<Value>);

/// `POST /webhooks/clerk`: one delivery of a Clerk event.
async fn clerk_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Failure> {
    let event = state
        .webhook
        .verify_event(&headers, &body)
        .map_err(refused)?;
    // Verified, so present: `svix-id`, or `webhook-id` for an unbranded delivery.
    let id = ["svix-id", "webhook-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .unwrap_or_default();

    let mut tx = state.db.begin().await.map_err(failed)?;
    let recorded = sqlx::query("INSERT INTO webhook_messages VALUES (?) ON CONFLICT DO NOTHING")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    if recorded.rows_affected() == 0 {
        return Ok(Json(json!({ "status": "duplicate" })));
    }
    let status = match &event.data {
        EventData::UserCreated(user) | EventData::UserUpdated(user) => {
            upsert(&mut tx, user).await.map_err(failed)?;
            "applied"
        }
        EventData::UserDeleted(deleted) => {
            let delete = sqlx::query("DELETE FROM users WHERE id = ?").bind(&deleted.id);
            delete.execute(&mut *tx).await.map_err(failed)?;
            "applied"
        }
        // Other and future event types: acknowledged, so that Svix does not retry them.
        _ => "ignored",
    };
    tx.commit().await.map_err(failed)?;
    println!("{} {id}: {status}", event.type_);
    Ok(Json(json!({ "status": status })))
}

/// Inserts or updates a user, unless the stored row is newer.
async fn upsert(db: &mut SqliteConnection, user: &User) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (id, email, first_name, last_name, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
             last_name = excluded.last_name, updated_at = excluded.updated_at
         WHERE excluded.updated_at >= users.updated_at",
    )
    .bind(&user.id)
    .bind(user.primary_email())
    .bind(&user.first_name)
    .bind(&user.last_name)
    .bind(user.updated_at.unwrap_or(0))
    .execute(db)
    .await?;
    Ok(())
}

/// A delivery that did not verify: the sender's fault, 400 (413 for a body over the limit).
fn refused(err: WebhookError) -> Failure {
    eprintln!("webhook refused: {err}");
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body =
        json!({ "error": "invalid_webhook", "reason": err.reason(), "message": err.to_string() });
    (status, Json(body))
}

/// A database failure: logged, and answered 500 so that Svix delivers the event again.
fn failed(err: sqlx::Error) -> Failure {
    eprintln!("webhook not applied: {err}");
    let body = json!({ "error": "internal", "message": "The event could not be applied." });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body))
}

/// Opens the database and creates the tables.
async fn database(url: &str) -> Result<SqlitePool, sqlx::Error> {
    // One connection, never closed: each connection to `sqlite::memory:` is a database of its
    // own, gone when the connection closes.
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect(url)
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&db).await?;
    Ok(db)
}

/// The application: the webhook route.
fn app(webhook: Webhook, db: SqlitePool) -> Router {
    Router::new()
        .route("/webhooks/clerk", post(clerk_webhook))
        .with_state(AppState { webhook, db })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let webhook = Webhook::from_env()?; // CLERK_WEBHOOK_SIGNING_SECRET
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let db = database(&url).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(webhook, db)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use clerk_emulator::{Emulator, NewUser, SignedDelivery, SigningKey, UserUpdate};

    /// The app on a free port, and an emulator delivering its events to it.
    async fn start() -> (Emulator, SqlitePool, String) {
        let emulator = Emulator::with_key(SigningKey::test_key());
        let webhook = Webhook::new(&emulator.webhook_secret()).unwrap();
        let db = database("sqlite::memory:").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/clerk", listener.local_addr().unwrap());
        let app = app(webhook, db.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        emulator.set_webhook(url.clone());
        (emulator, db, url)
    }

    async fn stored(db: &SqlitePool, id: &str) -> Option<(Option<String>, Option<String>)> {
        let query = sqlx::query_as("SELECT email, first_name FROM users WHERE id = ?").bind(id);
        query.fetch_optional(db).await.unwrap()
    }

    /// Posts a delivery by hand, with `body` in place of the one signed.
    async fn post(url: &str, signed: &SignedDelivery, body: String) -> (u16, Value) {
        let mut request = reqwest::Client::new().post(url).body(body);
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    #[tokio::test]
    async fn users_are_created_updated_and_deleted_and_a_redelivery_changes_nothing() {
        let (emulator, db, url) = start().await;
        let wait = || emulator.wait_delivered(Duration::from_secs(2));

        let new = NewUser::new().email("ada@example.com").first_name("Ada");
        let user = emulator.create_user(new).unwrap();
        assert!(wait().await);
        let ada = (Some("ada@example.com".to_owned()), Some("Ada".to_owned()));
        assert_eq!(stored(&db, &user.id).await, Some(ada));

        emulator
            .update_user(&user.id, UserUpdate::new().first_name("Augusta"))
            .unwrap();
        assert!(wait().await);
        let augusta = (
            Some("ada@example.com".to_owned()),
            Some("Augusta".to_owned()),
        );
        assert_eq!(stored(&db, &user.id).await, Some(augusta));

        // Svix's "resend": the same svix-id, freshly signed.
        let created = &emulator.deliveries()[0];
        assert_eq!(created.event_type, "user.created");
        let again = emulator.signed_delivery(&created.msg_id).unwrap();
        let answer = post(&url, &again, again.body.clone()).await;
        assert_eq!(answer, (200, json!({ "status": "duplicate" })));

        emulator.delete_user(&user.id).unwrap();
        assert!(wait().await);
        assert_eq!(stored(&db, &user.id).await, None);
    }

    #[tokio::test]
    async fn a_delivery_with_a_bad_signature_is_400_and_changes_nothing() {
        let (emulator, db, url) = start().await;
        emulator.pause_delivery();
        let user = emulator
            .create_user(NewUser::new().email("ada@example.com"))
            .unwrap();
        let signed = emulator
            .signed_delivery(&emulator.deliveries()[0].msg_id)
            .unwrap();

        let forged = signed.body.replace("ada@example.com", "eve@example.com");
        let (status, body) = post(&url, &signed, forged).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_webhook"))
        );
        assert_eq!(stored(&db, &user.id).await, None);
    }
}
