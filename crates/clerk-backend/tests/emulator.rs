//! The client against clerk-emulator over real HTTP: every endpoint, Clerk's errors, retries
//! (429 with Retry-After, transient 5xx, timeouts), and tolerant decoding.

use std::time::{Duration, Instant};

use clerk_backend::{
    Client, Error, MembershipListParams, MetadataUpdate, OrganizationListParams, UserCreate,
    UserListParams, UserUpdate,
};
use clerk_emulator::{Emulator, EmulatorServer, Fault, NewOrganization, NewUser, SigningKey};
use serde_json::{json, Value};

async fn serve() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .unwrap()
}

fn client(server: &EmulatorServer) -> Client {
    Client::builder()
        .secret_key(server.secret_key())
        .api_url(server.api_url())
        .build()
        .unwrap()
}

fn ada(server: &EmulatorServer) -> clerk_emulator::objects::User {
    server
        .create_user(
            NewUser::new()
                .email("ada@example.com")
                .first_name("Ada")
                .last_name("Lovelace")
                .public_metadata(json!({"plan": "free", "prefs": {"theme": "dark"}})),
        )
        .unwrap()
}

#[tokio::test]
async fn users_get_update_and_delete() {
    let server = serve().await;
    let clerk = client(&server);
    let created = ada(&server);

    let user = clerk.users().get(&created.id).await.unwrap();
    assert_eq!(user.id, created.id);
    assert_eq!(user.primary_email(), Some("ada@example.com"));
    assert_eq!(user.first_name.as_deref(), Some("Ada"));
    assert_eq!(user.public_metadata["plan"], "free");
    assert_eq!(user.created_at, Some(created.created_at));
    assert_eq!(
        user.extra["object"], "user",
        "fields without a type are kept"
    );

    let user = clerk
        .users()
        .update(
            &created.id,
            &UserUpdate {
                first_name: Some("Augusta".into()),
                username: Some("ada".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.first_name.as_deref(), Some("Augusta"));
    assert_eq!(user.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(user.username.as_deref(), Some("ada"));
    assert!(user.updated_at > Some(created.updated_at));

    let deleted = clerk.users().delete(&created.id).await.unwrap();
    assert_eq!(deleted.id, created.id);
    assert!(deleted.deleted);
    assert_eq!(deleted.object.as_deref(), Some("user"));
    let error = clerk.users().get(&created.id).await.unwrap_err();
    assert!(error.is_not_found());
}

#[tokio::test]
async fn users_are_created() {
    let server = serve().await;
    let clerk = client(&server);
    let mut extra = serde_json::Map::new();
    extra.insert("skip_password_checks".into(), json!(true));
    let user = clerk
        .users()
        .create(&UserCreate {
            email_address: vec!["grace@example.com".into()],
            first_name: Some("Grace".into()),
            private_metadata: Some(json!({"stripe": "cus_1"})),
            extra,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(user.id.starts_with("user_"));
    assert_eq!(user.private_metadata["stripe"], "cus_1");
    assert_eq!(
        server.user(&user.id).unwrap().first_name.as_deref(),
        Some("Grace")
    );

    let error = clerk
        .users()
        .create(&UserCreate {
            email_address: vec!["grace@example.com".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert_eq!(error.code(), Some("form_identifier_exists"));
    assert_eq!(error.api_errors()[0].param_name(), Some("email_address"));
}

#[tokio::test]
async fn metadata_is_merged_or_replaced() {
    let server = serve().await;
    let clerk = client(&server);
    let id = ada(&server).id;

    let merged = clerk
        .users()
        .update_metadata(
            &id,
            &MetadataUpdate {
                public: Some(json!({"plan": "pro", "prefs": {"lang": "en"}})),
                private: Some(json!({"stripe": "cus_1"})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        Value::Object(merged.public_metadata),
        json!({"plan": "pro", "prefs": {"theme": "dark", "lang": "en"}})
    );
    assert_eq!(
        Value::Object(merged.private_metadata),
        json!({"stripe": "cus_1"})
    );

    let removed = clerk
        .users()
        .update_metadata(
            &id,
            &MetadataUpdate {
                public: Some(json!({"prefs": {"theme": null}})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        Value::Object(removed.public_metadata),
        json!({"plan": "pro", "prefs": {"lang": "en"}})
    );

    let replaced = clerk
        .users()
        .replace_metadata(
            &id,
            &MetadataUpdate {
                public: Some(json!({"plan": "team"})),
                unsafe_: Some(json!({})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        Value::Object(replaced.public_metadata),
        json!({"plan": "team"})
    );
    assert_eq!(
        Value::Object(replaced.private_metadata),
        json!({"stripe": "cus_1"})
    );
    assert!(replaced.unsafe_metadata.is_empty());
}

#[tokio::test]
async fn users_are_listed_filtered_paged_and_counted() {
    let server = serve().await;
    let clerk = client(&server);
    let ids: Vec<String> = (0..15)
        .map(|i| {
            server
                .create_user(NewUser::new().email(format!("user{i}@example.com")))
                .unwrap()
                .id
        })
        .collect();

    let page = clerk
        .users()
        .list(&UserListParams::default())
        .await
        .unwrap();
    let got: Vec<&str> = page.iter().map(|u| u.id.as_str()).collect();
    let newest: Vec<&str> = ids.iter().rev().take(10).map(String::as_str).collect();
    assert_eq!(got, newest, "10 newest first by default");

    let page = clerk
        .users()
        .list(&UserListParams {
            limit: Some(4),
            offset: Some(12),
            order_by: Some("+created_at".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<&str> = page.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(got, ids[12..15]);

    let params = UserListParams {
        user_id: vec![ids[1].clone(), ids[2].clone(), ids[3].clone()],
        email_address: vec!["user2@example.com".into(), "user3@example.com".into()],
        ..Default::default()
    };
    let found = clerk.users().list(&params).await.unwrap();
    let got: Vec<&str> = found.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(got, [ids[3].as_str(), ids[2].as_str()]);
    assert_eq!(clerk.users().count(&params).await.unwrap(), 2);

    let params = UserListParams {
        query: Some("USER1".into()),
        limit: Some(1),
        ..Default::default()
    };
    // user1, user10..user14
    assert_eq!(clerk.users().list(&params).await.unwrap().len(), 1);
    assert_eq!(clerk.users().count(&params).await.unwrap(), 6);
    assert_eq!(
        clerk
            .users()
            .count(&UserListParams::default())
            .await
            .unwrap(),
        15
    );
}

#[tokio::test]
async fn sessions_are_read_and_revoked() {
    let server = serve().await;
    let clerk = client(&server);
    let user = ada(&server);
    let created = server.create_session(&user.id).unwrap();

    let session = clerk.sessions().get(&created.id).await.unwrap();
    assert_eq!(session.id, created.id);
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.status.as_deref(), Some("active"));
    assert_eq!(session.expire_at, Some(created.expire_at));

    let revoked = clerk.sessions().revoke(&created.id).await.unwrap();
    assert_eq!(revoked.status.as_deref(), Some("revoked"));
    assert_eq!(server.session(&created.id).unwrap().status, "revoked");
    assert!(clerk
        .sessions()
        .get("sess_missing")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn organizations_and_memberships() {
    let server = serve().await;
    let clerk = client(&server);
    let user = ada(&server);
    let acme = server
        .create_organization(NewOrganization::new("Acme").created_by(user.id.clone()))
        .unwrap();
    let globex = server
        .create_organization(NewOrganization::new("Globex"))
        .unwrap();

    for key in [acme.id.as_str(), "acme"] {
        let org = clerk.organizations().get(key).await.unwrap();
        assert_eq!(org.id, acme.id);
        assert_eq!(org.name, "Acme");
        assert_eq!(org.slug.as_deref(), Some("acme"));
        assert_eq!(org.members_count, Some(1));
    }

    let page = clerk
        .organizations()
        .list(&OrganizationListParams::default())
        .await
        .unwrap();
    assert_eq!(page.total_count, 2);
    assert_eq!(page.data[0].id, globex.id);
    let page = clerk
        .organizations()
        .list(&OrganizationListParams {
            limit: Some(1),
            order_by: Some("+created_at".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total_count, 2);
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].id, acme.id);
    let page = clerk
        .organizations()
        .list(&OrganizationListParams {
            query: Some("glo".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total_count, 1);

    let members = clerk
        .organizations()
        .memberships(&acme.id, &MembershipListParams::default())
        .await
        .unwrap();
    assert_eq!(members.total_count, 1);
    let membership = &members.data[0];
    assert_eq!(membership.role, "org:admin");
    assert_eq!(membership.user_id(), Some(user.id.as_str()));
    assert_eq!(membership.organization_id(), Some(acme.id.as_str()));
    assert!(membership
        .permissions
        .contains(&"org:sys_memberships:manage".to_owned()));
    assert_eq!(
        membership
            .public_user_data
            .as_ref()
            .and_then(|u| u.identifier.as_deref()),
        Some("ada@example.com")
    );
    let error = clerk
        .organizations()
        .memberships("org_missing", &MembershipListParams::default())
        .await
        .unwrap_err();
    assert!(error.is_not_found());
}

#[tokio::test]
async fn jwks_is_the_instance_jwks() {
    let server = serve().await;
    let clerk = client(&server);
    assert_eq!(clerk.jwks().await.unwrap(), server.jwks());
    assert_eq!(server.backend_jwks_requests(), 1);
}

#[tokio::test]
async fn not_found_carries_clerks_error_and_trace_id() {
    let server = serve().await;
    let clerk = client(&server);
    let error = clerk.users().get("user_missing").await.unwrap_err();
    match &error {
        Error::Api {
            status,
            errors,
            clerk_trace_id,
            retry_after,
        } => {
            assert_eq!(*status, 404);
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].code, "resource_not_found");
            assert_eq!(errors[0].message, "not found");
            assert_eq!(
                errors[0].long_message.as_deref(),
                Some("Resource not found")
            );
            assert!(clerk_trace_id.as_deref().is_some_and(|id| !id.is_empty()));
            assert_eq!(*retry_after, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.backend_api_requests(), 1, "4xx is not retried");
    assert!(error.to_string().contains("resource_not_found"));
}

#[tokio::test]
async fn a_wrong_secret_key_is_401_clerk_key_invalid() {
    let server = serve().await;
    let clerk = Client::builder()
        .secret_key("sk_test_wrong_key_for_this_instance")
        .api_url(server.api_url())
        .build()
        .unwrap();
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.code(), Some("clerk_key_invalid"));
    let error = clerk.jwks().await.unwrap_err();
    assert_eq!(error.code(), Some("clerk_key_invalid"));
    assert!(!format!("{error} {error:?}").contains("sk_test_wrong_key"));
    assert_eq!(
        server.backend_api_requests() + server.backend_jwks_requests(),
        2
    );
}

#[tokio::test]
async fn invalid_parameters_are_422_with_the_param_name() {
    let server = serve().await;
    let clerk = client(&server);
    let error = clerk
        .users()
        .list(&UserListParams {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert_eq!(error.code(), Some("form_param_invalid"));
    assert_eq!(error.api_errors()[0].param_name(), Some("limit"));
    let error = clerk
        .users()
        .update_metadata(
            &ada(&server).id,
            &MetadataUpdate {
                public: Some(json!("not an object")),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert!(matches!(
        clerk.users().get("").await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn rate_limits_are_retried_after_retry_after() {
    let server = serve().await;
    let clerk = client(&server);
    let id = ada(&server).id;
    server.set_backend_fault(Fault::FailFirst(1, 429));
    let started = Instant::now();
    let user = clerk.users().get(&id).await.unwrap();
    assert_eq!(user.id, id);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After: 1"
    );
    assert_eq!(server.backend_api_requests(), 2);

    // A rate-limited PATCH was not acted on, so it is retried too.
    server.set_backend_fault(Fault::FailFirst(1, 429));
    let started = Instant::now();
    clerk
        .users()
        .update(
            &id,
            &UserUpdate {
                first_name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.backend_api_requests(), 4);
}

#[tokio::test]
async fn rate_limits_past_max_retries_are_returned_with_retry_after() {
    let server = serve().await;
    let clerk = Client::builder()
        .secret_key(server.secret_key())
        .api_url(server.api_url())
        .max_retries(0)
        .build()
        .unwrap();
    server.set_backend_fault(Fault::Status(429));
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(server.backend_api_requests(), 1);
}

#[tokio::test]
async fn transient_server_errors_are_retried_for_idempotent_requests() {
    let server = serve().await;
    let clerk = client(&server);
    let id = ada(&server).id;
    server.set_backend_fault(Fault::FailFirst(2, 500));
    let user = clerk.users().get(&id).await.unwrap();
    assert_eq!(user.id, id);
    assert_eq!(server.backend_api_requests(), 3);

    server.reset_counters();
    server.set_backend_fault(Fault::FailFirst(1, 503));
    clerk
        .users()
        .replace_metadata(
            &id,
            &MetadataUpdate {
                public: Some(json!({"a": 1})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(server.backend_api_requests(), 2, "PUT is idempotent");

    server.reset_counters();
    server.set_backend_fault(Fault::FailFirst(1, 502));
    let error = clerk
        .users()
        .update_metadata(
            &id,
            &MetadataUpdate {
                public: Some(json!({"b": 1})),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(502), "PATCH is not retried on 5xx");
    assert_eq!(server.backend_api_requests(), 1);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_max_retries() {
    let server = serve().await;
    let clerk = Client::builder()
        .secret_key(server.secret_key())
        .api_url(server.api_url())
        .max_retries(2)
        .build()
        .unwrap();
    server.set_backend_fault(Fault::Status(503));
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.code(), Some("emulated_fault"));
    assert_eq!(server.backend_api_requests(), 3);
}

#[tokio::test]
async fn a_hanging_api_times_out_as_an_http_error() {
    let server = serve().await;
    server.set_backend_fault(Fault::Hang);
    let clerk = Client::builder()
        .secret_key(server.secret_key())
        .api_url(server.api_url())
        .timeout(Duration::from_millis(200))
        .max_retries(1)
        .build()
        .unwrap();
    let started = Instant::now();
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert!(matches!(error, Error::Http(_)), "{error:?}");
    assert!(error.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.backend_api_requests(), 2, "one retry");

    // A POST that timed out may have taken effect: it is not retried.
    server.reset_counters();
    let error = clerk.sessions().revoke("sess_1").await.unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(server.backend_api_requests(), 1);
}

#[tokio::test]
async fn connection_failures_are_http_errors() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let clerk = Client::builder()
        .secret_key("sk_test_secret_never_shown")
        .api_url(closed)
        .max_retries(1)
        .build()
        .unwrap();
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert!(
        matches!(&error, Error::Http(e) if e.is_connect()),
        "{error:?}"
    );
    let error = clerk.sessions().revoke("sess_1").await.unwrap_err();
    assert!(
        matches!(&error, Error::Http(e) if e.is_connect()),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("sk_test_secret_never_shown"));
}

#[tokio::test]
async fn odd_user_json_still_decodes() {
    let server = serve().await;
    let clerk = client(&server);
    server.set_backend_fault(Fault::Body(
        json!({
            "object": "user",
            "id": "user_odd",
            "first_name": 42,
            "last_name": null,
            "username": ["not", "a", "string"],
            "email_addresses": [
                {"id": "idn_1", "email_address": "ada@example.com", "brand_new_field": {"x": 1}},
                {"email_address": "no-id@example.com"},
                "garbage"
            ],
            "primary_email_address_id": "idn_1",
            "public_metadata": null,
            "private_metadata": "oops",
            "created_at": "yesterday",
            "updated_at": 1.5e12,
            "banned": "maybe",
            "passkeys": [{"id": "pk_1"}],
            "a_field_from_2030": {"nested": [1, 2, 3]}
        })
        .to_string(),
    ));
    let user = clerk.users().get("user_odd").await.unwrap();
    assert_eq!(user.id, "user_odd");
    assert_eq!(user.first_name, None);
    assert_eq!(user.username, None);
    assert_eq!(user.email_addresses.len(), 1);
    assert_eq!(user.primary_email(), Some("ada@example.com"));
    assert_eq!(
        user.email_addresses[0].extra["brand_new_field"],
        json!({"x": 1})
    );
    assert!(user.public_metadata.is_empty());
    assert!(user.private_metadata.is_empty());
    assert_eq!(user.created_at, None);
    assert_eq!(
        user.extra["a_field_from_2030"],
        json!({"nested": [1, 2, 3]})
    );
    assert_eq!(user.extra["banned"], "maybe");

    server.set_backend_fault(Fault::Body(
        r#"[{"id":"user_1","first_name":"Ada"},{"first_name":"no id"},7,{"id":"user_2","last_sign_in_at":"never"}]"#
            .to_owned(),
    ));
    let users = clerk
        .users()
        .list(&UserListParams::default())
        .await
        .unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["user_1", "user_2"]);

    server.set_backend_fault(Fault::Body(
        r#"{"data":[{"id":"org_1","name":7,"members_count":"3"}],"total_count":null}"#.to_owned(),
    ));
    let page = clerk
        .organizations()
        .list(&OrganizationListParams::default())
        .await
        .unwrap();
    assert_eq!(page.data[0].id, "org_1");
    assert_eq!(page.data[0].name, "");
    assert_eq!(page.data[0].members_count, None);
    assert_eq!(page.total_count, 1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_decode_error() {
    let server = serve().await;
    let clerk = client(&server);
    server.set_backend_fault(Fault::Garbage);
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
    server.set_backend_fault(Fault::Body(r#"{"no_id": true}"#.to_owned()));
    let error = clerk.users().get("user_1").await.unwrap_err();
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
    server.set_backend_fault(Fault::Body(r#"{"not": "an array"}"#.to_owned()));
    let error = clerk
        .users()
        .list(&UserListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
}
