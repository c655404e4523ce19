//! The `api-server` binary itself: configuration errors, serving and stopping on SIGTERM,
//! and `--dev`.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{clerk, lines, Db, TestDb, BIN};

/// The binary with only these variables in its environment.
fn api_server(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear();
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

#[test]
fn configuration_errors_exit_2_naming_the_variable() {
    let jwks = ("CLERK_JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json");
    let cases: [(&[(&str, &str)], &str); 9] = [
        (
            &[("CLERK_PUBLISHABLE_KEY", "pk_test_bm90LWEta2V5")],
            "CLERK_PUBLISHABLE_KEY: ",
        ),
        (
            &[("CLERK_PUBLISHABLE_KEY", "nonsense")],
            "CLERK_PUBLISHABLE_KEY: ",
        ),
        (&[], "--dev"),
        (
            &[("CLERK_JWKS_URL", "http://example.com/jwks.json")],
            "CLERK_JWKS_URL: ",
        ),
        (
            &[jwks, ("CLERK_CLOCK_SKEW_MS", "soon")],
            "CLERK_CLOCK_SKEW_MS: ",
        ),
        (
            &[jwks, ("DATABASE_URL", "mysql://localhost/db")],
            "DATABASE_URL: ",
        ),
        (
            &[jwks, ("CORS_ALLOWED_ORIGINS", "*")],
            "CORS_ALLOWED_ORIGINS: ",
        ),
        (&[jwks, ("BIND", "not-an-address")], "BIND"),
        (
            &[jwks, ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_not base64!")],
            "CLERK_WEBHOOK_SIGNING_SECRET: ",
        ),
    ];
    for (vars, expected) in cases {
        let output = api_server(vars).output().expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{vars:?}: {stderr}");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let output = Command::new(BIN)
        .env_clear()
        .args(["--clerk-jwks-url", "http://example.com/jwks.json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "flags are checked like variables"
    );
}

/// Waits for a line that `pick` accepts, keeping every line seen.
fn wait_for<T>(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> T {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no such line; seen:\n{}", seen.join("\n")));
        let found = pick(&line);
        seen.push(line);
        if let Some(found) = found {
            return found;
        }
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait_with_timeout(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the server did not stop within 10 s of SIGTERM");
}

#[tokio::test]
async fn the_binary_serves_logs_without_tokens_and_stops_on_sigterm() {
    let clerk = clerk().await;
    let db = TestDb::new(Db::Sqlite).await;
    let jwks_url = clerk.jwks_url();
    let mut child = api_server(&[
        ("CLERK_JWKS_URL", &jwks_url),
        ("DATABASE_URL", db.url()),
        ("BIND", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .expect("the binary starts");
    let logs = lines(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let addr = wait_for(&logs, &mut seen, |line| {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        (entry["fields"]["message"] == "listening")
            .then(|| entry["fields"]["addr"].as_str().unwrap().to_owned())
    });

    let token = clerk.session_token().user("user_ada").sign();
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/protected"))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    terminate(&child);
    let status = tokio::task::spawn_blocking(move || wait_with_timeout(&mut child))
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    seen.extend(logs.try_iter());
    let log = seen.join("\n");
    let line = seen
        .iter()
        .find(|line| line.contains("trace-me"))
        .unwrap_or_else(|| panic!("a log line for the request:\n{log}"));
    assert!(
        line.contains("/protected") && line.contains("200"),
        "{line}"
    );
    assert!(!log.contains(&token), "a token in the log:\n{log}");
    assert!(
        !log.contains(&token[token.len() - 20..]),
        "a signature in the log"
    );
}

#[tokio::test]
async fn dev_mode_prints_a_curl_that_works() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut child = api_server(&[("DATABASE_URL", db.url()), ("BIND", "127.0.0.1:0")])
        .arg("--dev")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let out = lines(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    // curl -H "Authorization: Bearer <token>" [...] <url>, the URL perhaps in quotes.
    let mut commands = Vec::new();
    for _ in 0..6 {
        let command = wait_for(&out, &mut seen, |line| {
            line.trim_start()
                .starts_with("curl ")
                .then(|| line.trim().to_owned())
        });
        let token = command
            .split("Bearer ")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let url = command
            .rsplit(' ')
            .next()
            .unwrap()
            .trim_matches('"')
            .to_owned();
        commands.push((command, token, url));
    }
    let client = reqwest::Client::new();
    let call = |token: &str, url: &str, post: bool| {
        let request = if post {
            client
                .post(url)
                .json(&serde_json::json!({"title": "Hello"}))
        } else {
            client.get(url)
        };
        let request = request.bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        }
    };
    for (command, token, url) in &commands {
        let (status, _) = call(token, url, command.contains(" -d ")).await;
        assert!(status.is_success(), "{command}: {status}");
    }
    assert!(commands[0].2.ends_with("/protected"));
    let (_, user_token, fresh_url) = &commands[1];
    assert!(fresh_url.ends_with("/v1/me?fresh=true"), "{fresh_url}");
    let (_, admin_token, notes_url) = &commands[2];
    assert!(notes_url.ends_with("/v1/notes"), "{notes_url}");
    let (_, me) = call(
        admin_token,
        &notes_url.replace("/v1/notes", "/v1/me"),
        false,
    )
    .await;
    assert_eq!(me["org_role"], "org:admin");

    // Fresh from the emulated Backend API.
    let (_, me) = call(user_token, fresh_url, false).await;
    assert_eq!(me["profile"]["email"], "ada@example.com", "{me}");
    assert_eq!(me["profile"]["public_metadata"]["plan"], "free", "{me}");

    // The emulator's webhooks reach the server: the dev users are in the local tables.
    let admin_users = &commands[3].2;
    assert!(admin_users.ends_with("/v1/admin/users"), "{admin_users}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let users = loop {
        let (_, users) = call(admin_token, admin_users, false).await;
        if users["items"]
            .as_array()
            .is_some_and(|items| items.len() == 2)
            || std::time::Instant::now() > deadline
        {
            break users;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let emails: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|user| user["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 2, "{users}");

    // The API key and the M2M token, through the emulated Backend API.
    let (_, api_key, key_url) = &commands[4];
    assert!(api_key.starts_with("ak_") && key_url.ends_with("/v1/notes"), "{key_url}");
    let (_, m2m, me_url) = &commands[5];
    assert!(m2m.starts_with("mt_"), "{m2m}");
    let (status, me) = call(m2m, me_url, false).await;
    assert_eq!(status, 200);
    assert_eq!(me["token_type"], "m2m_token", "{me}");
    assert!(me["machine_id"].as_str().is_some_and(|id| id.starts_with("mch_")), "{me}");
    assert!(emails.contains(&"ada@example.com") && emails.contains(&"grace@example.com"));

    terminate(&child);
    let status = tokio::task::spawn_blocking(move || wait_with_timeout(&mut child))
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}
