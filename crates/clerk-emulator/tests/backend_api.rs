//! The emulator's Backend API over real HTTP on loopback: secret-key auth, Clerk's object and
//! error shapes, list filters and paging, metadata merge and replace, faults, and the events
//! every change emits.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_emulator::{
    Emulator, EmulatorServer, Endpoint, Fault, NewOrganization, NewUser, SigningKey, UserUpdate,
};
use reqwest::Method;
use serde_json::{json, Value};

async fn serve() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .unwrap()
}

struct Api<'a> {
    server: &'a EmulatorServer,
    http: reqwest::Client,
    key: Option<String>,
}

impl<'a> Api<'a> {
    fn new(server: &'a EmulatorServer) -> Self {
        Self {
            server,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            key: Some(server.secret_key()),
        }
    }

    fn with_key(mut self, key: Option<&str>) -> Self {
        self.key = key.map(str::to_owned);
        self
    }

    async fn send(&self, method: Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.api_url()));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let (status, value) = self.send(method, path, body.as_deref()).await;
        assert_eq!(status, 200, "{path}: {value}");
        value
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_clerk_error(body: &Value, code: &str) {
    let errors = body["errors"].as_array().expect("an `errors` array");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], code, "{body}");
    assert!(errors[0]["message"].is_string(), "{body}");
    assert!(errors[0]["long_message"].is_string(), "{body}");
    assert!(errors[0]["meta"].is_object(), "{body}");
    assert!(body["clerk_trace_id"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
}

fn user(
    server: &EmulatorServer,
    email: &str,
    first: &str,
    last: &str,
) -> clerk_emulator::objects::User {
    server
        .create_user(
            NewUser::new()
                .email(email)
                .first_name(first)
                .last_name(last),
        )
        .unwrap()
}

#[tokio::test]
async fn every_route_requires_the_secret_key() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let paths = [
        (Method::GET, "/v1/users".to_owned()),
        (Method::GET, "/v1/users/count".to_owned()),
        (Method::GET, format!("/v1/users/{}", ada.id)),
        (Method::PATCH, format!("/v1/users/{}", ada.id)),
        (Method::DELETE, format!("/v1/users/{}", ada.id)),
        (Method::PATCH, format!("/v1/users/{}/metadata", ada.id)),
        (Method::GET, "/v1/organizations".to_owned()),
        (Method::GET, "/v1/sessions/sess_x".to_owned()),
        (Method::POST, "/v1/sessions/sess_x/revoke".to_owned()),
    ];
    for key in [None, Some("sk_test_wrong"), Some("")] {
        let api = Api::new(&server).with_key(key);
        for (method, path) in &paths {
            let (status, body) = api.send(method.clone(), path, Some("{}")).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}");
            assert_clerk_error(&body, "clerk_key_invalid");
        }
    }
    // Nothing was changed by the refused requests.
    assert!(server.user(&ada.id).is_some());
    assert_eq!(server.backend_api_requests(), 3 * paths.len() as u64);
    assert_eq!(server.jwks_requests(), 0);
}

#[tokio::test]
async fn a_user_has_clerks_shape() {
    let server = serve().await;
    let created = server
        .create_user(
            NewUser::new()
                .email("ada@example.com")
                .email("ada@work.example")
                .first_name("Ada")
                .username("ada")
                .external_id("ext_1")
                .public_metadata(json!({"plan": "pro"})),
        )
        .unwrap();
    let api = Api::new(&server);
    let user = api
        .ok(Method::GET, &format!("/v1/users/{}", created.id), None)
        .await;
    assert_eq!(user["object"], "user");
    assert_eq!(user["id"], created.id.as_str());
    assert!(created.id.starts_with("user_"));
    let emails = user["email_addresses"].as_array().unwrap();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0]["object"], "email_address");
    assert!(emails[0]["id"].as_str().unwrap().starts_with("idn_"));
    assert_eq!(emails[0]["email_address"], "ada@example.com");
    assert_eq!(emails[0]["verification"]["status"], "verified");
    assert_eq!(user["primary_email_address_id"], emails[0]["id"]);
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["last_name"], Value::Null);
    assert_eq!(user["username"], "ada");
    assert_eq!(user["external_id"], "ext_1");
    assert!(user["image_url"].is_string());
    assert_eq!(user["public_metadata"], json!({"plan": "pro"}));
    assert_eq!(user["private_metadata"], json!({}));
    assert_eq!(user["unsafe_metadata"], json!({}));
    assert_eq!(user["banned"], false);
    assert_eq!(user["locked"], false);
    // Milliseconds.
    assert!(user["created_at"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(user["created_at"], user["updated_at"]);
}

#[tokio::test]
async fn unknown_objects_are_404_resource_not_found() {
    let server = serve().await;
    let api = Api::new(&server);
    for path in [
        "/v1/users/user_missing",
        "/v1/sessions/sess_missing",
        "/v1/organizations/org_missing",
        "/v1/organizations/org_missing/memberships",
        "/v1/no_such_route",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_clerk_error(&body, "resource_not_found");
    }
    let (status, body) = api
        .send(Method::DELETE, "/v1/users/user_missing", None)
        .await;
    assert_eq!(status, 404);
    assert_clerk_error(&body, "resource_not_found");
}

#[tokio::test]
async fn user_list_is_a_bare_array_newest_first_by_default() {
    let server = serve().await;
    let created: Vec<String> = (0..12)
        .map(|i| user(&server, &format!("u{i}@example.com"), "U", &format!("{i}")).id)
        .collect();
    let api = Api::new(&server);
    let page = api.ok(Method::GET, "/v1/users", None).await;
    assert!(page.is_array());
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(
        ids(&page),
        newest_first[..10],
        "default limit 10, -created_at"
    );

    let page = api
        .ok(
            Method::GET,
            "/v1/users?limit=5&offset=10&order_by=%2Bcreated_at",
            None,
        )
        .await;
    assert_eq!(ids(&page), created[10..12]);
    let page = api
        .ok(Method::GET, "/v1/users?order_by=created_at&limit=3", None)
        .await;
    assert_eq!(ids(&page), created[..3]);
    let page = api.ok(Method::GET, "/v1/users?offset=100", None).await;
    assert_eq!(page, json!([]));

    // Updating a user moves it to the front of -updated_at.
    server
        .update_user(&created[3], UserUpdate::new().first_name("Changed"))
        .unwrap();
    let page = api
        .ok(Method::GET, "/v1/users?order_by=-updated_at&limit=1", None)
        .await;
    assert_eq!(ids(&page), [created[3].clone()]);
}

#[tokio::test]
async fn user_list_filters_and_count() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let grace = user(&server, "grace@navy.example", "Grace", "Hopper");
    let alan = user(&server, "alan@example.com", "Alan", "Turing");
    let api = Api::new(&server);

    let both = api
        .ok(
            Method::GET,
            &format!(
                "/v1/users?user_id={}&user_id={}&order_by=%2Bcreated_at",
                ada.id, alan.id
            ),
            None,
        )
        .await;
    assert_eq!(ids(&both), [ada.id.clone(), alan.id.clone()]);

    let by_email = api
        .ok(
            Method::GET,
            "/v1/users?email_address=GRACE%40navy.example&email_address=nobody%40example.com",
            None,
        )
        .await;
    assert_eq!(ids(&by_email), [grace.id.as_str()]);

    for (query, expected) in [
        ("lovelace", vec![ada.id.clone()]),
        ("EXAMPLE.COM", vec![alan.id.clone(), ada.id.clone()]),
        ("grace+hopper", vec![grace.id.clone()]),
        ("nobody", vec![]),
    ] {
        let found = api
            .ok(Method::GET, &format!("/v1/users?query={query}"), None)
            .await;
        assert_eq!(ids(&found), expected, "query={query}");
    }

    let count = api.ok(Method::GET, "/v1/users/count", None).await;
    assert_eq!(count, json!({"object": "total_count", "total_count": 3}));
    let count = api
        .ok(
            Method::GET,
            "/v1/users/count?query=example.com&limit=1",
            None,
        )
        .await;
    assert_eq!(count["total_count"], 2, "count ignores paging");
}

#[tokio::test]
async fn bad_list_parameters_are_422_form_param_invalid() {
    let server = serve().await;
    let api = Api::new(&server);
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("order_by=-password", "order_by"),
    ] {
        let (status, body) = api.get(&format!("/v1/users?{query}")).await;
        assert_eq!(status, 422, "{query}");
        assert_clerk_error(&body, "form_param_invalid");
        assert_eq!(body["errors"][0]["meta"]["param_name"], param);
    }
    let page = api.ok(Method::GET, "/v1/users?limit=500", None).await;
    assert_eq!(page, json!([]));
}

#[tokio::test]
async fn metadata_patch_deep_merges_and_null_removes() {
    let server = serve().await;
    let ada = server
        .create_user(
            NewUser::new()
                .email("ada@example.com")
                .public_metadata(json!({"plan": "free", "prefs": {"theme": "dark", "lang": "en"}}))
                .private_metadata(json!({"stripe": "cus_1"})),
        )
        .unwrap();
    let api = Api::new(&server);
    let path = format!("/v1/users/{}/metadata", ada.id);
    let user = api
        .ok(
            Method::PATCH,
            &path,
            Some(json!({
                "public_metadata": {"plan": "pro", "prefs": {"lang": null, "tz": "UTC"}},
                "unsafe_metadata": {"seen_tour": true},
            })),
        )
        .await;
    assert_eq!(
        user["public_metadata"],
        json!({"plan": "pro", "prefs": {"theme": "dark", "tz": "UTC"}})
    );
    assert_eq!(
        user["private_metadata"],
        json!({"stripe": "cus_1"}),
        "untouched"
    );
    assert_eq!(user["unsafe_metadata"], json!({"seen_tour": true}));
    assert!(user["updated_at"].as_i64() > Some(ada.updated_at));

    let (status, body) = api
        .send(Method::PATCH, &path, Some(r#"{"public_metadata": [1]}"#))
        .await;
    assert_eq!(status, 422);
    assert_clerk_error(&body, "form_param_invalid");
    assert_eq!(body["errors"][0]["meta"]["param_name"], "public_metadata");
    let (status, body) = api.send(Method::PATCH, &path, Some("{not json")).await;
    assert_eq!(status, 400);
    assert_clerk_error(&body, "request_body_invalid");
}

#[tokio::test]
async fn metadata_put_replaces_the_fields_given() {
    let server = serve().await;
    let ada = server
        .create_user(
            NewUser::new()
                .email("ada@example.com")
                .public_metadata(json!({"plan": "free", "prefs": {"theme": "dark"}}))
                .private_metadata(json!({"stripe": "cus_1"}))
                .unsafe_metadata(json!({"x": 1})),
        )
        .unwrap();
    let api = Api::new(&server);
    let path = format!("/v1/users/{}/metadata", ada.id);
    let user = api
        .ok(
            Method::PUT,
            &path,
            Some(json!({"public_metadata": {"plan": "pro"}, "unsafe_metadata": {}})),
        )
        .await;
    assert_eq!(user["public_metadata"], json!({"plan": "pro"}));
    assert_eq!(user["private_metadata"], json!({"stripe": "cus_1"}));
    assert_eq!(user["unsafe_metadata"], json!({}));
}

#[tokio::test]
async fn users_are_created_updated_and_deleted_over_http() {
    let server = serve().await;
    let api = Api::new(&server);
    let created = api
        .ok(
            Method::POST,
            "/v1/users",
            Some(json!({
                "email_address": ["ada@example.com"],
                "first_name": "Ada",
                "last_name": "Lovelace",
                "password": "ignored",
                "skip_password_checks": true,
            })),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["email_addresses"][0]["email_address"],
        "ada@example.com"
    );

    let (status, body) = api
        .send(
            Method::POST,
            "/v1/users",
            Some(r#"{"email_address": ["ADA@example.com"]}"#),
        )
        .await;
    assert_eq!(status, 422);
    assert_clerk_error(&body, "form_identifier_exists");
    assert_eq!(body["errors"][0]["meta"]["param_name"], "email_address");
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/users",
            Some(r#"{"email_address": ["not-an-email"]}"#),
        )
        .await;
    assert_eq!(status, 422);
    assert_clerk_error(&body, "form_param_format_invalid");

    let updated = api
        .ok(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            Some(json!({"first_name": "Augusta", "username": "ada"})),
        )
        .await;
    assert_eq!(updated["first_name"], "Augusta");
    assert_eq!(updated["last_name"], "Lovelace", "absent fields stay");
    assert_eq!(updated["username"], "ada");
    assert!(updated["updated_at"].as_i64() > created["updated_at"].as_i64());

    api.ok(
        Method::POST,
        "/v1/users",
        Some(json!({"email_address": ["b@example.com"], "username": "bee"})),
    )
    .await;
    let (status, body) = api
        .send(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            Some(r#"{"username": "bee"}"#),
        )
        .await;
    assert_eq!(status, 422);
    assert_clerk_error(&body, "form_identifier_exists");

    let deleted = api
        .ok(Method::DELETE, &format!("/v1/users/{id}"), None)
        .await;
    assert_eq!(
        deleted,
        json!({"object": "user", "id": id, "deleted": true})
    );
    assert_eq!(api.get(&format!("/v1/users/{id}")).await.0, 404);

    let types: Vec<String> = server
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.updated",
            "user.created",
            "user.deleted"
        ]
    );
}

#[tokio::test]
async fn sessions_are_read_and_revoked() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let session = server.create_session(&ada.id).unwrap();
    let api = Api::new(&server);
    let path = format!("/v1/sessions/{}", session.id);
    let read = api.ok(Method::GET, &path, None).await;
    assert_eq!(read["object"], "session");
    assert_eq!(read["id"], session.id.as_str());
    assert!(session.id.starts_with("sess_"));
    assert_eq!(read["user_id"], ada.id.as_str());
    assert!(read["client_id"].as_str().unwrap().starts_with("client_"));
    assert_eq!(read["status"], "active");
    for field in [
        "last_active_at",
        "expire_at",
        "abandon_at",
        "created_at",
        "updated_at",
    ] {
        assert!(read[field].as_i64().unwrap() > 1_600_000_000_000, "{field}");
    }

    let revoked = api.ok(Method::POST, &format!("{path}/revoke"), None).await;
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["updated_at"].as_i64() > read["updated_at"].as_i64());
    assert_eq!(server.session(&session.id).unwrap().status, "revoked");
    assert_eq!(api.ok(Method::GET, &path, None).await["status"], "revoked");

    let ended = server
        .end_session(&server.create_session(&ada.id).unwrap().id)
        .unwrap();
    assert_eq!(ended.status, "ended");
    let removed = server
        .remove_session(&server.create_session(&ada.id).unwrap().id)
        .unwrap();
    assert_eq!(removed.status, "removed");
}

#[tokio::test]
async fn organizations_and_memberships_over_http() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let grace = user(&server, "grace@example.com", "Grace", "Hopper");
    let acme = server
        .create_organization(NewOrganization::new("Acme Inc.").created_by(ada.id.clone()))
        .unwrap();
    assert_eq!(acme.slug, "acme-inc");
    assert_eq!(acme.members_count, 1);
    server
        .add_membership(&acme.id, &grace.id, "org:member")
        .unwrap();
    let globex = server
        .create_organization(
            NewOrganization::new("Globex")
                .slug("globex")
                .public_metadata(json!({"tier": "gold"})),
        )
        .unwrap();
    let api = Api::new(&server);

    for key in [acme.id.as_str(), "acme-inc"] {
        let org = api
            .ok(Method::GET, &format!("/v1/organizations/{key}"), None)
            .await;
        assert_eq!(org["object"], "organization");
        assert_eq!(org["id"], acme.id.as_str());
        assert_eq!(org["name"], "Acme Inc.");
        assert_eq!(org["slug"], "acme-inc");
        assert_eq!(org["members_count"], 2);
        assert!(org["image_url"].is_string());
        assert_eq!(org["public_metadata"], json!({}));
        assert_eq!(org["private_metadata"], json!({}));
    }

    let list = api.ok(Method::GET, "/v1/organizations", None).await;
    assert_eq!(list["total_count"], 2);
    assert_eq!(ids(&list["data"]), [globex.id.clone(), acme.id.clone()]);
    let list = api
        .ok(
            Method::GET,
            "/v1/organizations?limit=1&order_by=%2Bcreated_at",
            None,
        )
        .await;
    assert_eq!(list["total_count"], 2);
    assert_eq!(ids(&list["data"]), [acme.id.as_str()]);
    let list = api
        .ok(Method::GET, "/v1/organizations?query=glob", None)
        .await;
    assert_eq!(ids(&list["data"]), [globex.id.as_str()]);
    assert_eq!(list["data"][0]["public_metadata"], json!({"tier": "gold"}));

    let members = api
        .ok(
            Method::GET,
            &format!(
                "/v1/organizations/{}/memberships?order_by=%2Bcreated_at",
                acme.id
            ),
            None,
        )
        .await;
    assert_eq!(members["total_count"], 2);
    let first = &members["data"][0];
    assert_eq!(first["object"], "organization_membership");
    assert!(first["id"].as_str().unwrap().starts_with("orgmem_"));
    assert_eq!(first["role"], "org:admin");
    assert!(first["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("org:sys_memberships:manage")));
    assert_eq!(first["organization"]["id"], acme.id.as_str());
    assert_eq!(first["public_user_data"]["user_id"], ada.id.as_str());
    assert_eq!(first["public_user_data"]["identifier"], "ada@example.com");
    assert_eq!(first["public_user_data"]["first_name"], "Ada");
    assert_eq!(members["data"][1]["role"], "org:member");
    assert_eq!(
        members["data"][1]["permissions"],
        json!(["org:sys_memberships:read"])
    );
    let page = api
        .ok(
            Method::GET,
            &format!("/v1/organizations/{}/memberships?limit=1", acme.id),
            None,
        )
        .await;
    assert_eq!(page["total_count"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn membership_changes_and_organization_deletion() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let org = server
        .create_organization(NewOrganization::new("Acme"))
        .unwrap();
    server.define_role("org:editor", ["org:posts:edit", "org:posts:read"]);
    let member = server
        .add_membership("acme", &ada.id, "org:member")
        .unwrap();
    assert!(server
        .add_membership("acme", &ada.id, "org:member")
        .is_err());
    let editor = server
        .update_membership(&org.id, &ada.id, "org:editor")
        .unwrap();
    assert_eq!(editor.permissions, ["org:posts:edit", "org:posts:read"]);
    assert!(editor.updated_at > member.updated_at);
    let removed = server.remove_membership(&org.id, &ada.id).unwrap();
    assert_eq!(removed.organization.members_count, 0);
    assert!(server.memberships(&org.id).is_empty());
    let deleted = server.delete_organization("acme").unwrap();
    assert_eq!(
        deleted,
        json!({"object": "organization", "id": org.id, "slug": "acme", "deleted": true})
    );
    assert!(server.organization(&org.id).is_none());

    let types: Vec<String> = server
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "user.created",
            "organization.created",
            "organizationMembership.created",
            "organizationMembership.updated",
            "organizationMembership.deleted",
            "organization.deleted",
        ]
    );
}

#[tokio::test]
async fn backend_faults_are_separate_from_jwks_faults() {
    let server = serve().await;
    let api = Api::new(&server);
    server.set_backend_fault(Fault::Status(503));
    let (status, body) = api.get("/v1/users").await;
    assert_eq!(status, 503);
    assert_clerk_error(&body, "emulated_fault");
    assert_eq!(api.get("/.well-known/jwks.json").await.0, 200);

    server.set_backend_fault(Fault::None);
    server.set_fault(Fault::Status(500));
    assert_eq!(api.get("/v1/users").await.0, 200);
    assert_eq!(api.get("/v1/jwks").await.0, 500);
    assert_eq!(server.fault(Endpoint::BackendApi), Fault::None);

    server.set_backend_fault(Fault::Body(
        r#"{"id":"user_odd","first_name":7}"#.to_owned(),
    ));
    let (status, body) = api.get("/v1/users/anything").await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], "user_odd");
}

#[tokio::test]
async fn fail_first_fails_n_requests_then_recovers() {
    let server = serve().await;
    let api = Api::new(&server);
    server.set_backend_fault(Fault::FailFirst(2, 429));
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/v1/users", server.api_url()))
        .bearer_auth(server.secret_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(api.get("/v1/users").await.0, 429);
    assert_eq!(api.get("/v1/users").await.0, 200);
    assert_eq!(api.get("/v1/users").await.0, 200);
    // Setting the fault again starts the count afresh.
    server.set_backend_fault(Fault::FailFirst(1, 500));
    assert_eq!(api.get("/v1/users").await.0, 500);
    assert_eq!(api.get("/v1/users").await.0, 200);
    // It works on the JWKS endpoints too.
    server.set_endpoint_fault(Endpoint::WellKnownJwks, Fault::FailFirst(1, 503));
    assert_eq!(api.get("/.well-known/jwks.json").await.0, 503);
    assert_eq!(api.get("/.well-known/jwks.json").await.0, 200);
}

fn payload(token: &str) -> Value {
    let segment = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[tokio::test]
async fn session_tokens_name_the_session_and_its_organization() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let org = server
        .create_organization(NewOrganization::new("Acme").created_by(ada.id.clone()))
        .unwrap();
    let session = server.create_session(&ada.id).unwrap();

    let claims = payload(&server.session_token_for(&session).sign());
    assert_eq!(claims["sub"], ada.id.as_str());
    assert_eq!(claims["sid"], session.id.as_str());
    assert_eq!(claims["iss"], server.issuer());
    assert!(claims.get("o").is_none());

    let claims = payload(
        &server
            .session_token_in_org(&session, "acme")
            .unwrap()
            .sign(),
    );
    assert_eq!(claims["sid"], session.id.as_str());
    assert_eq!(claims["o"]["id"], org.id.as_str());
    assert_eq!(claims["o"]["slg"], "acme");
    assert_eq!(claims["o"]["rol"], "admin");
    assert!(claims["fea"]
        .as_str()
        .unwrap()
        .contains("o:sys_memberships"));
    assert_eq!(
        server
            .session(&session.id)
            .unwrap()
            .last_active_organization_id,
        Some(org.id.clone())
    );

    let outsider = user(&server, "eve@example.com", "Eve", "X");
    let outsider_session = server.create_session(&outsider.id).unwrap();
    assert!(server
        .session_token_in_org(&outsider_session, "acme")
        .is_err());
}

#[tokio::test]
async fn updated_at_strictly_increases_across_changes() {
    let server = serve().await;
    let ada = user(&server, "ada@example.com", "Ada", "Lovelace");
    let mut last = ada.updated_at;
    for i in 0..50 {
        let user = server
            .update_user_metadata(&ada.id, json!({"public_metadata": {"n": i}}))
            .unwrap();
        assert!(user.updated_at > last);
        last = user.updated_at;
    }
    let updated: Vec<i64> = server
        .events()
        .iter()
        .map(|e| e["data"]["updated_at"].as_i64().unwrap())
        .collect();
    assert!(updated.windows(2).all(|w| w[0] < w[1]));
}
