//! The dev console (`GET /dev/console`, `/dev/api/…`): absent without `--dev`; with it, a user
//! created in the emulator signs in through the `__session` cookie, and the changes the
//! console makes reach the server by webhook. The page itself is driven in a browser by
//! `tests/browser/` (repository root).

use std::time::{Duration, Instant};

use api_server::Config;
use reqwest::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{read, Db, Reply, TestApp, TestDb};

const DEV_ROUTES: [(Method, &str); 11] = [
    (Method::GET, "/dev/console"),
    (Method::GET, "/dev/api/users"),
    (Method::POST, "/dev/api/users"),
    (Method::PATCH, "/dev/api/users/user_1/metadata"),
    (Method::GET, "/dev/api/organizations"),
    (Method::POST, "/dev/api/organizations/org_1/memberships"),
    (Method::GET, "/dev/api/session"),
    (Method::POST, "/dev/api/session/revoke"),
    (Method::POST, "/dev/api/sign-in"),
    (Method::POST, "/dev/api/sign-out"),
    (Method::GET, "/dev/api/deliveries"),
];

#[tokio::test]
async fn the_console_and_its_api_do_not_exist_without_dev() {
    let app = TestApp::start(Db::Sqlite).await;
    for (method, path) in DEV_ROUTES.iter().cloned().chain([
        (Method::POST, "/dev/api/webhooks"),
        (Method::POST, "/dev/api/organizations"),
    ]) {
        let body = (method != Method::GET).then(|| json!({"user_id": "user_1", "paused": true}));
        let reply = app.call(method.clone(), path, None, body.as_ref()).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text);
        assert_eq!(reply.json["error"], "not_found", "{method} {path}");
    }
}

/// A `--dev` server, as the binary runs it, on a fresh SQLite file.
struct Dev {
    _server: api_server::Server,
    base: String,
    client: reqwest::Client,
    _db: TestDb,
}

impl Dev {
    async fn start() -> Dev {
        let db = TestDb::new(Db::Sqlite).await;
        let server = crate::support::start(Config {
            dev: true,
            database_url: Some(db.url().into()),
            bind: "127.0.0.1:0".parse().expect("an address"),
            ..Config::default()
        })
        .await
        .expect("the dev server starts");
        Dev {
            base: format!("http://{}", server.local_addr()),
            _server: server,
            client: reqwest::Client::new(),
            _db: db,
        }
    }

    async fn call(&self, method: Method, path: &str, cookie: Option<&str>, body: Value) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        if method != Method::GET {
            request = request.json(&body);
        }
        read(request.send().await.expect("an answer")).await
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.call(Method::GET, path, cookie, Value::Null).await
    }

    /// Polls `GET /v1/me` with the cookie until `done` accepts its body.
    async fn me_until(&self, cookie: &str, done: impl Fn(&Value) -> bool) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.get("/v1/me", Some(cookie)).await;
            if done(&reply.json) || Instant::now() > deadline {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The `name=value` part of a `Set-Cookie` header, checked for the console's attributes.
fn session_cookie(reply: &Reply) -> String {
    let set_cookie = reply
        .header(SET_COOKIE.as_str())
        .expect("a Set-Cookie header");
    let mut parts = set_cookie.split("; ");
    let pair = parts.next().unwrap().to_owned();
    let attributes: Vec<&str> = parts.collect();
    for expected in ["Path=/", "SameSite=Lax", "HttpOnly"] {
        assert!(attributes.contains(&expected), "{set_cookie}");
    }
    assert!(pair.starts_with("__session="), "{set_cookie}");
    pair
}

#[tokio::test]
async fn with_dev_a_user_signs_in_through_the_session_cookie() {
    let dev = Dev::start().await;

    let page = dev.get("/dev/console", None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text.contains("data-testid=\"call-me\""));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'sha256-"));

    let users = dev.get("/dev/api/users", None).await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert!(users.text.contains("ada@example.com") && users.text.contains("grace@example.com"));

    // Create a user and an organization in the emulator.
    let user = dev
        .call(
            Method::POST,
            "/dev/api/users",
            None,
            json!({"email": "lin@example.com", "first_name": "Lin", "last_name": "Qiao"}),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.text);
    let user_id = user.json["id"].as_str().unwrap().to_owned();
    let taken = dev
        .call(
            Method::POST,
            "/dev/api/users",
            None,
            json!({"email": "lin@example.com"}),
        )
        .await;
    assert_eq!(taken.status, 422, "{}", taken.text);
    assert_eq!(taken.json["reason"], "form_identifier_exists");
    let org = dev
        .call(
            Method::POST,
            "/dev/api/organizations",
            None,
            json!({"name": "Lin's team", "user_id": user_id, "role": "org:member"}),
        )
        .await;
    assert_eq!(org.status, 201, "{}", org.text);
    assert_eq!(
        org.json["members"],
        json!([{"user_id": user_id, "role": "org:member"}])
    );
    let org_id = org.json["id"].as_str().unwrap().to_owned();

    // Sign in: the token is in the cookie, and the cookie alone signs the requests in.
    let signed_in = dev
        .call(
            Method::POST,
            "/dev/api/sign-in",
            None,
            json!({"user_id": user_id, "org_id": org_id}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let cookie = session_cookie(&signed_in);
    assert!(
        signed_in
            .header(SET_COOKIE.as_str())
            .unwrap()
            .contains("Max-Age=3600"),
        "the token's lifetime"
    );
    assert_eq!(signed_in.json["user_id"], user_id.as_str());
    assert_eq!(signed_in.json["org_id"], org_id.as_str());
    assert_eq!(signed_in.json["org_role"], "org:member");
    assert_eq!(signed_in.json["token"], "valid");
    assert!(
        !signed_in.text.contains(&cookie["__session=".len()..]),
        "the token is in the cookie only"
    );
    let session_id = signed_in.json["session_id"].as_str().unwrap().to_owned();
    let me = dev.me_until(&cookie, |me| !me["profile"].is_null()).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["user_id"], user_id.as_str());
    assert_eq!(me.json["session_id"], session_id.as_str());
    assert_eq!(me.json["org_id"], org_id.as_str());
    assert_eq!(
        me.json["profile"]["email"], "lin@example.com",
        "{}",
        me.text
    );
    let session = dev.get("/dev/api/session", Some(&cookie)).await;
    assert_eq!(session.json["session_id"], session_id.as_str());
    assert_eq!(session.json["status"], "active");

    // Metadata edited in Clerk reaches the server by webhook.
    let edited = dev
        .call(
            Method::PATCH,
            &format!("/dev/api/users/{user_id}/metadata"),
            None,
            json!({"public_metadata": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.json["deliveries"][0]["event_type"], "user.updated");
    let me = dev
        .me_until(&cookie, |me| {
            me["profile"]["public_metadata"]["plan"] == "pro"
        })
        .await;
    assert_eq!(
        me.json["profile"]["public_metadata"],
        json!({"plan": "pro"}),
        "{}",
        me.text
    );
    let not_an_object = dev
        .call(
            Method::PATCH,
            &format!("/dev/api/users/{user_id}/metadata"),
            None,
            json!({"public_metadata": [1]}),
        )
        .await;
    assert_eq!(not_an_object.status, 422, "{}", not_an_object.text);

    // Revoked in Clerk: once the webhook is in (the answer waits for it), the cookie's token
    // is refused.
    let revoked = dev
        .call(
            Method::POST,
            "/dev/api/session/revoke",
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["session"]["status"], "revoked");
    assert_eq!(revoked.json["session"]["token"], "session-revoked");
    let delivery = &revoked.json["deliveries"][0];
    assert_eq!(delivery["event_type"], "session.revoked");
    assert_eq!(delivery["delivered"], true, "{}", revoked.text);
    let me = dev.get("/v1/me", Some(&cookie)).await;
    assert_eq!(me.status, 401, "{}", me.text);
    assert_eq!(me.json["reason"], "session-revoked");

    // Signing out clears the cookie.
    let signed_out = dev
        .call(Method::POST, "/dev/api/sign-out", Some(&cookie), json!({}))
        .await;
    assert_eq!(signed_out.status, 200, "{}", signed_out.text);
    let cleared = signed_out.header(SET_COOKIE.as_str()).unwrap();
    assert!(
        cleared.starts_with("__session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        signed_out.json["ended_session"],
        Value::Null,
        "already revoked"
    );

    let deliveries = dev.get("/dev/api/deliveries", None).await;
    let events: Vec<&str> = deliveries.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(events[0], "session.revoked", "{events:?}");
    assert!(events.contains(&"user.updated") && events.contains(&"organization.created"));
}

#[tokio::test]
async fn with_dev_the_console_refuses_foreign_hosts_and_non_json_changes() {
    let dev = Dev::start().await;
    for (method, path) in DEV_ROUTES {
        let request = dev
            .client
            .request(method.clone(), format!("{}{path}", dev.base))
            .header(HOST, "rebound.example:8080")
            .json(&json!({}));
        let reply = read(request.send().await.unwrap()).await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text);
        assert_eq!(reply.json["reason"], "dev-console-host");
    }
    for host in ["localhost:8080", "127.0.0.1", "[::1]:8080"] {
        let request = dev
            .client
            .get(format!("{}/dev/api/users", dev.base))
            .header(HOST, host);
        assert_eq!(request.send().await.unwrap().status(), 200, "{host}");
    }

    // A cross-site form can only post urlencoded or plain text, and is refused.
    let users = dev.get("/dev/api/users", None).await;
    let ada = users.json["items"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        "/dev/api/sign-in",
        "/dev/api/users",
        "/dev/api/session/revoke",
    ] {
        let request = dev
            .client
            .post(format!("{}{path}", dev.base))
            .header(CONTENT_TYPE, "text/plain")
            .body(json!({"user_id": ada, "email": "x@example.com"}).to_string());
        let reply = read(request.send().await.unwrap()).await;
        assert_eq!(reply.status, 415, "{path}: {}", reply.text);
        assert!(reply.header(SET_COOKIE.as_str()).is_none());
    }

    // Signing in to an organization one is not a member of is refused, and makes no session.
    let refused = dev
        .call(
            Method::POST,
            "/dev/api/sign-in",
            None,
            json!({"user_id": ada, "org_id": "org_unknown"}),
        )
        .await;
    assert_eq!(refused.status, 404, "{}", refused.text);
    let grace_org = dev.get("/dev/api/organizations", None).await.json["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outsider = dev
        .call(
            Method::POST,
            "/dev/api/users",
            None,
            json!({"email": "outsider@example.com"}),
        )
        .await;
    let refused = dev
        .call(
            Method::POST,
            "/dev/api/sign-in",
            None,
            json!({"user_id": outsider.json["id"], "org_id": grace_org}),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json["reason"], "not-a-member");
    assert!(refused.header(SET_COOKIE.as_str()).is_none());
    let latest = dev.get("/dev/api/deliveries", None).await;
    assert_eq!(
        latest.json["items"][0]["event_type"], "user.created",
        "the outsider's creation is the last event: {}",
        latest.text
    );

    // Signing out ends an active session, as Clerk's sign-out does.
    let signed_in = dev
        .call(
            Method::POST,
            "/dev/api/sign-in",
            None,
            json!({"user_id": ada}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.json["org_id"], Value::Null);
    let cookie = session_cookie(&signed_in);
    let signed_out = dev
        .call(Method::POST, "/dev/api/sign-out", Some(&cookie), json!({}))
        .await;
    assert_eq!(
        signed_out.json["ended_session"],
        signed_in.json["session_id"]
    );
    let session = dev.get("/dev/api/session", Some(&cookie)).await;
    assert_eq!(session.json["status"], "ended", "{}", session.text);
    let signed_out = dev.get("/dev/api/session", None).await;
    assert_eq!(signed_out.json["signed_in"], false);

    // Revoking with no cookie says so.
    let reply = dev
        .call(Method::POST, "/dev/api/session/revoke", None, json!({}))
        .await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert_eq!(reply.json["reason"], "not-signed-in");
}
