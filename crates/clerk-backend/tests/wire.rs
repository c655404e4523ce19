//! What goes over the wire, checked with a stub server: headers, the `cf-ray` fallback, a
//! `Retry-After` too long to wait for; and configuration checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use clerk_backend::{Client, ConfigError, Error, Setting, UrlError, UserUpdate};

type Seen = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// Serves `reply` for every request on a free loopback port, recording each request.
async fn stub(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let app = Router::new().fallback(any(
        move |uri: axum::http::Uri, request_headers: HeaderMap, request_body: String| {
            let record = Arc::clone(&record);
            async move {
                record
                    .lock()
                    .unwrap()
                    .push((uri.to_string(), request_headers, request_body));
                let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(*name, value.parse().unwrap());
                }
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn client(url: &str) -> Client {
    Client::builder()
        .secret_key("sk_test_stub")
        .api_url(url)
        .build()
        .unwrap()
}

#[tokio::test]
async fn requests_carry_clerks_headers() {
    let (url, seen) = stub(200, &[], r#"{"id":"user_1"}"#).await;
    let clerk = client(&url);
    clerk.users().get("user_1").await.unwrap();
    clerk
        .users()
        .update(
            "user_1",
            &UserUpdate {
                first_name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (_, headers, _) in seen.iter() {
        assert_eq!(headers["authorization"], "Bearer sk_test_stub");
        assert_eq!(headers["clerk-api-version"], "2026-05-12");
        assert_eq!(
            headers["user-agent"],
            concat!("clerk-backend-rs/", env!("CARGO_PKG_VERSION"))
        );
    }
    assert_eq!(seen[0].0, "/v1/users/user_1");
    assert_eq!(seen[1].1["content-type"], "application/json");
    assert_eq!(seen[1].2, r#"{"first_name":"Ada"}"#);
}

#[tokio::test]
async fn the_trace_id_falls_back_to_cf_ray() {
    let (url, _) = stub(
        404,
        &[("cf-ray", "8a1b2c3d4e5f-AMS")],
        "<html>not found</html>",
    )
    .await;
    let error = client(&url).users().get("user_1").await.unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.clerk_trace_id(), Some("8a1b2c3d4e5f-AMS"));
    assert!(error.api_errors().is_empty());
}

#[tokio::test]
async fn a_long_retry_after_is_returned_not_waited_for() {
    let (url, seen) = stub(
        429,
        &[("retry-after", "3600")],
        r#"{"errors":[{"code":"too_many_requests","message":"Too many requests"}],"clerk_trace_id":"t1"}"#,
    )
    .await;
    let started = Instant::now();
    let error = client(&url).users().get("user_1").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(error.code(), Some("too_many_requests"));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_custom_http_client_is_used() {
    let (url, seen) = stub(200, &[], r#"{"keys":[]}"#).await;
    let http = reqwest::Client::builder()
        .default_headers(
            [("x-custom".parse().unwrap(), "yes".parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();
    let clerk = Client::builder()
        .secret_key("sk_test_stub")
        .api_url(format!("{url}/"))
        .http_client(http)
        .build()
        .unwrap();
    clerk.jwks().await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "/v1/jwks");
    assert_eq!(seen[0].1["x-custom"], "yes");
}

/// The configuration error of a build with this secret key and API URL.
fn config_error(secret_key: &str, api_url: &str) -> ConfigError {
    match Client::builder()
        .secret_key(secret_key)
        .api_url(api_url)
        .build()
    {
        Err(Error::Config(error)) => error,
        other => panic!("{api_url}: {other:?}"),
    }
}

#[test]
fn configuration_is_checked_and_the_key_never_shown() {
    let secret = "sk_live_very_secret_value";
    for (url, expected) in [
        (
            "http://api.clerk.com",
            ConfigError::InvalidApiUrl(UrlError::PlainHttp {
                url: "http://api.clerk.com".into(),
            }),
        ),
        (
            "ftp://127.0.0.1",
            ConfigError::InvalidApiUrl(UrlError::UnsupportedScheme {
                url: "ftp://127.0.0.1".into(),
                scheme: "ftp".into(),
            }),
        ),
        (
            " https://api.clerk.com/?a=1 ",
            ConfigError::ApiUrlNotABase {
                url: "https://api.clerk.com/?a=1".into(),
            },
        ),
        (
            "https://api.clerk.com/#v1",
            ConfigError::ApiUrlNotABase {
                url: "https://api.clerk.com/#v1".into(),
            },
        ),
    ] {
        let error = config_error(secret, url);
        assert_eq!(error, expected, "{url}");
        assert_eq!(error.setting(), Setting::ApiUrl, "{url}");
        let error = Error::Config(error);
        assert!(!format!("{error} {error:?}").contains(secret));
    }
    let error = config_error(secret, "not a url");
    assert!(
        matches!(error, ConfigError::InvalidApiUrl(UrlError::NotAUrl { .. })),
        "{error:?}"
    );
    assert_eq!(error.setting().env_var(), Some("CLERK_API_URL"));

    for url in [
        "http://127.0.0.1:9",
        "http://localhost:3000",
        "http://[::1]:9",
        "https://proxy.example.com/clerk",
    ] {
        assert!(
            Client::builder()
                .secret_key(secret)
                .api_url(url)
                .build()
                .is_ok(),
            "{url}"
        );
    }
    for (built, expected) in [
        (Client::builder().build(), ConfigError::MissingSecretKey),
        (Client::new("  "), ConfigError::EmptySecretKey),
        (Client::new("sk_test_a b"), ConfigError::InvalidSecretKey),
        (Client::new("sk_test_é"), ConfigError::InvalidSecretKey),
    ] {
        match built {
            Err(Error::Config(error)) => {
                assert_eq!(error, expected);
                assert_eq!(error.setting(), Setting::SecretKey);
                assert_eq!(error.setting().env_var(), Some("CLERK_SECRET_KEY"));
            }
            other => panic!("{expected:?}: {other:?}"),
        }
    }
    let error = Client::new("sk_live_very secret").unwrap_err();
    assert!(!format!("{error} {error:?}").contains("very"));
    assert!(
        Client::new("sk_test_\n").is_ok(),
        "surrounding whitespace is trimmed"
    );

    let builder = Client::builder().secret_key(secret);
    assert!(!format!("{builder:?}").contains(secret));
    let client = builder.build().unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains(secret));
    assert!(debug.contains("https://api.clerk.com"));
    assert_eq!(client.api_url(), "https://api.clerk.com/");
}

#[test]
fn from_vars_reads_the_secret_key_and_api_url() {
    let from = |vars: &[(&str, &str)]| {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Client::from_vars(|name| vars.get(name).cloned())
    };
    for vars in [&[][..], &[("CLERK_SECRET_KEY", " ")][..]] {
        assert!(
            matches!(
                from(vars),
                Err(Error::Config(ConfigError::MissingSecretKey))
            ),
            "{vars:?}"
        );
    }

    let key = ("CLERK_SECRET_KEY", "sk_test_from_vars");
    assert_eq!(from(&[key]).unwrap().api_url(), "https://api.clerk.com/");
    assert_eq!(
        from(&[key, ("CLERK_API_URL", "http://127.0.0.1:4000")])
            .unwrap()
            .api_url(),
        "http://127.0.0.1:4000/"
    );
    assert_eq!(
        from(&[key, ("CLERK_API_URL", "")]).unwrap().api_url(),
        "https://api.clerk.com/"
    );
    match from(&[key, ("CLERK_API_URL", "http://clerk.example.com")]) {
        Err(Error::Config(error)) => {
            assert_eq!(error.setting().env_var(), Some("CLERK_API_URL"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        from(&[("CLERK_SECRET_KEY", "sk_test_a b")]),
        Err(Error::Config(ConfigError::InvalidSecretKey))
    ));
}
