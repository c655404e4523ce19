//! The demo against an emulator of its own: every call's outcome, and the REST route on the
//! same port as the gRPC service.

use clerk_emulator::{Emulator, SigningKey};
use example_grpc::demo::Demo;
use tonic::Code;

async fn demo() -> Demo {
    let emulator = Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("emulator");
    Demo::start(emulator).await.expect("demo")
}

#[tokio::test]
async fn each_method_lets_through_what_its_rule_allows_and_refuses_the_rest_by_status() {
    let demo = demo().await;
    let outcomes = demo.run().await.expect("calls");
    let seen: Vec<_> = outcomes
        .iter()
        .map(|o| {
            let code = o.result.as_ref().err().map(|(code, _)| *code);
            (o.method, o.credential, code, o.reason())
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ListNotes", "a session with org:notes:read", None, None),
            (
                "ListNotes",
                "a session without it",
                Some(Code::PermissionDenied),
                Some("missing-permission")
            ),
            (
                "ListNotes",
                "no token",
                Some(Code::Unauthenticated),
                Some("session-token-missing")
            ),
            (
                "ListNotes",
                "an expired session",
                Some(Code::Unauthenticated),
                Some("token-expired")
            ),
            // Where only session tokens are taken, an opaque token is a malformed one (Clerk's
            // rule).
            (
                "ListNotes",
                "an M2M token (opaque)",
                Some(Code::Unauthenticated),
                Some("token-invalid")
            ),
            ("ExportNotes", "an M2M token of `reporting`", None, None),
            (
                "ExportNotes",
                "an M2M token of `stranger`",
                Some(Code::PermissionDenied),
                Some("missing-scope")
            ),
            (
                "ExportNotes",
                "a session",
                Some(Code::Unauthenticated),
                Some("token-type-mismatch")
            ),
        ]
    );
    assert_eq!(
        outcomes[0].result,
        Ok(r#"2 notes of org_1: ["Q3 plan", "Launch checklist"]"#.to_owned())
    );
    assert_eq!(
        outcomes[5].result,
        Ok(format!("2 notes exported for {}", demo.reporting_machine))
    );
}

#[tokio::test]
async fn the_rest_route_answers_json_on_the_grpc_services_port() {
    let demo = demo().await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/me", demo.url);
    let refused = client.get(&url).send().await.expect("request");
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value =
        serde_json::from_slice(&refused.bytes().await.unwrap()).expect("JSON");
    assert_eq!(body["reason"], "session-token-missing");
    let token = demo.emulator.session_token().user("user_ada").sign();
    let answer = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"user_id": "user_ada", "org_id": null})
    );
}
