//! `GET /v1/admin/users`: the active organization's users, for its admins only.

use serde_json::json;

use crate::events::{deleted, event, membership, user};
use crate::support::{on_both_databases, Db, TestApp};

on_both_databases!(
    an_admin_lists_the_organizations_users_page_by_page,
    a_member_without_the_permission_is_403,
);

/// Users ada, bob and cy in org_acme (cy deleted), dan in org_other, eve's membership removed.
async fn seed(app: &TestApp) {
    let mut deliveries = Vec::new();
    for (i, id) in ["user_ada", "user_bob", "user_cy", "user_dan", "user_eve"]
        .into_iter()
        .enumerate()
    {
        deliveries.push(event(
            "user.created",
            user(id, 1_000 + i as i64, "Name", json!({"n": i})),
        ));
    }
    for (id, org, user_id, role) in [
        ("orgmem_ada", "org_acme", "user_ada", "org:admin"),
        ("orgmem_bob", "org_acme", "user_bob", "org:member"),
        ("orgmem_cy", "org_acme", "user_cy", "org:member"),
        ("orgmem_dan", "org_other", "user_dan", "org:admin"),
        ("orgmem_eve", "org_acme", "user_eve", "org:member"),
    ] {
        deliveries.push(event(
            "organizationMembership.created",
            membership(id, org, user_id, role, &[], 1_000),
        ));
    }
    deliveries.push(event("user.deleted", deleted("user", "user_cy")));
    deliveries.push(event(
        "organizationMembership.deleted",
        membership(
            "orgmem_eve",
            "org_acme",
            "user_eve",
            "org:member",
            &[],
            2_000,
        ),
    ));
    for (i, delivery) in deliveries.iter().enumerate() {
        let reply = app.deliver(&format!("msg_{i}"), delivery).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
}

async fn an_admin_lists_the_organizations_users_page_by_page(db: Db) {
    let app = TestApp::start(db).await;
    seed(&app).await;
    let admin = app.org_token("user_ada", "org_acme", "org:admin", &[]);
    let reply = app.get("/v1/admin/users", &admin).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["next_cursor"], json!(null));
    let items = reply.json["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["user_ada", "user_bob"],
        "members only, no deleted user or membership"
    );
    assert_eq!(
        items[1],
        json!({
            "id": "user_bob",
            "email": "user_bob@example.com",
            "first_name": "Name",
            "last_name": "Lovelace",
            "image_url": "https://img.clerk.com/x",
            "public_metadata": {"n": 1},
            "role": "org:member",
            "updated_at": "1970-01-01T00:00:01.001Z",
        })
    );

    let first = app.get("/v1/admin/users?limit=1", &admin).await;
    assert_eq!(first.json["items"][0]["id"], "user_ada");
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("/v1/admin/users?limit=1&cursor={cursor}"), &admin)
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json["items"][0]["id"], "user_bob");
    assert_eq!(second.json["next_cursor"], json!(null));

    // With the permission instead of the role.
    let reader = app.org_token("user_bob", "org_acme", "org:member", &["org:users:read"]);
    let reply = app.get("/v1/admin/users", &reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 2);

    // Another organization's admin sees only that organization.
    let other = app.org_token("user_dan", "org_other", "org:admin", &[]);
    let reply = app.get("/v1/admin/users", &other).await;
    assert_eq!(reply.json["items"][0]["id"], "user_dan");
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 1);

    for bad in ["limit=0", "limit=101", "cursor=!!!"] {
        let reply = app.get(&format!("/v1/admin/users?{bad}"), &admin).await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{bad}: {}",
            reply.text
        );
    }
}

async fn a_member_without_the_permission_is_403(db: Db) {
    let app = TestApp::start(db).await;
    seed(&app).await;
    let member = app.org_token("user_bob", "org_acme", "org:member", &["org:notes:write"]);
    let no_org = app.token("user_ada");
    for token in [member, no_org] {
        let reply = app.get("/v1/admin/users", &token).await;
        assert_eq!(reply.status, 403, "{}", reply.text);
        assert_eq!(reply.json["error"], "forbidden");
        assert_eq!(reply.json["reason"], "missing-permission");
        assert!(reply.json["message"]
            .as_str()
            .unwrap()
            .contains("org:users:read"));
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Bearer error="insufficient_scope""#)
        );
    }
    let reply = app
        .call(reqwest::Method::GET, "/v1/admin/users", None, None)
        .await;
    assert_eq!(reply.status, 401);
}
