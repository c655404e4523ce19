//! One test's stack: the Clerk emulator, the gateway (in process, with a rules file, a
//! signing key and the emulator's webhook secret), the recording relay in front of it, the
//! recording upstream, and the real proxy between the client and both.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_emulator::machines::{NewApiKey, NewM2mToken};
use clerk_emulator::{Emulator, EmulatorServer, Fault, NewOrganization, NewUser, SigningKey};
use clerk_gateway::{Config, Gateway, Settings};
use clerk_service::config::ClerkConfig;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use secrecy::SecretString;
use serde_json::Value;

use crate::proxy::{run_dir, Kind, Proxy};
use crate::relay::Relay;
use crate::upstream::Upstream;

/// The host every test request names (the signed identity's `aud`).
pub const HOST: &str = "api.example.com";

/// The gateway's rules in every test: public paths, a permission rule on `/admin/**` and
/// another on writes to `/archive/**`, and any credential elsewhere.
const RULES: &str = r#"
[[rule]]
name = "public"
paths = ["/public", "/public/**"]
public = true

[[rule]]
name = "admin"
paths = ["/admin", "/admin/**"]
permissions = ["org:notes:delete"]

[[rule]]
name = "archive writes"
paths = ["/archive/**"]
methods = ["POST", "PUT", "PATCH", "DELETE"]
permissions = ["org:notes:delete"]

[default]
accepts = "any"
"#;

/// The permissions of Carol's role: enough to take the identity headers and the signed
/// identity past nginx's default 4 KiB `proxy_buffer_size`.
pub fn many_permissions() -> Vec<String> {
    (0..80).map(|i| format!("org:records{i:03}:read")).collect()
}

/// The people and machines of the emulated instance, and their credentials.
pub struct People {
    /// Admin of `acme` (`org:notes:read`, `org:notes:delete`).
    pub ada: String,
    pub ada_session: String,
    pub ada_token: String,
    /// Member of `acme` (`org:notes:read` only).
    pub bob: String,
    pub bob_session: String,
    pub bob_token: String,
    /// Auditor of `acme`, with [`many_permissions`].
    pub carol: String,
    pub carol_session: String,
    pub carol_token: String,
    pub org: String,
    /// Ada's API key, scopes `notes:read notes:write`.
    pub api_key: String,
    /// The machine `reports` and its M2M token (scope: the machine `notes-api`).
    pub machine: String,
    pub machine_scope: String,
    pub m2m_token: String,
}

impl People {
    fn create(clerk: &EmulatorServer) -> People {
        clerk.define_role("org:admin", ["org:notes:read", "org:notes:delete"]);
        clerk.define_role("org:member", ["org:notes:read"]);
        clerk.define_role("org:auditor", many_permissions());
        let ada = clerk
            .create_user(NewUser::new().email("ada@example.com"))
            .unwrap();
        let bob = clerk
            .create_user(NewUser::new().email("bob@example.com"))
            .unwrap();
        let carol = clerk
            .create_user(NewUser::new().email("carol@example.com"))
            .unwrap();
        let org = clerk
            .create_organization(
                NewOrganization::new("Acme")
                    .slug("acme")
                    .created_by(&ada.id),
            )
            .unwrap();
        clerk.add_membership("acme", &bob.id, "org:member").unwrap();
        clerk
            .add_membership("acme", &carol.id, "org:auditor")
            .unwrap();
        let token = |user: &str| {
            let session = clerk.create_session(user).unwrap();
            let token = clerk
                .session_token_in_org(&session, "acme")
                .unwrap()
                .expires_in(600)
                .sign();
            (session.id, token)
        };
        let (ada_session, ada_token) = token(&ada.id);
        let (bob_session, bob_token) = token(&bob.id);
        let (carol_session, carol_token) = token(&carol.id);
        let api_key = clerk
            .create_api_key(
                NewApiKey::new(&ada.id, "scripts").scopes(["notes:read", "notes:write"]),
            )
            .unwrap()
            .secret;
        let notes = clerk.create_machine("notes-api", &[]).unwrap();
        let reports = clerk
            .create_machine("reports", &[notes.id.as_str()])
            .unwrap();
        let m2m_token = clerk
            .create_m2m_token(
                &reports.id,
                NewM2mToken::new().seconds_until_expiration(600),
            )
            .unwrap()
            .token;
        People {
            ada: ada.id,
            ada_session,
            ada_token,
            bob: bob.id,
            bob_session,
            bob_token,
            carol: carol.id,
            carol_session,
            carol_token,
            org: org.id,
            api_key,
            machine: reports.id,
            machine_scope: notes.id,
            m2m_token,
        }
    }
}

/// A running stack. Fields drop in order: the proxy first.
pub struct Stack {
    pub proxy: Proxy,
    pub upstream: Upstream,
    pub relay: Relay,
    pub gateway: Gateway,
    pub clerk: EmulatorServer,
    pub people: People,
    pub http: reqwest::Client,
    /// The public key of the gateway's signed identities.
    pub identity_key: Vec<u8>,
    pub dir: PathBuf,
}

/// How the stack starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The gateway loads the emulator's keys first.
    Warm,
    /// The emulator's JWKS fails from the start: the gateway has no keys.
    Cold,
}

impl Stack {
    pub async fn start(kind: Kind, test: &str, start: Start) -> Stack {
        Stack::start_edited(kind, test, start, |config| config).await
    }

    /// A stack whose proxy runs the shipped snippet as `edit` changes it.
    pub async fn start_edited(
        kind: Kind,
        test: &str,
        start: Start,
        edit: fn(String) -> String,
    ) -> Stack {
        let dir = run_dir(&format!("{}-{test}", kind.name()));
        eprintln!("configuration and logs: {}", dir.display());
        let clerk = Emulator::with_key(SigningKey::test_key())
            .serve("127.0.0.1:0")
            .await
            .unwrap();
        let people = People::create(&clerk);
        if start == Start::Cold {
            clerk.set_fault(Fault::Status(503));
        }
        fs::write(dir.join("rules.toml"), RULES).unwrap();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let identity_key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        fs::write(
            dir.join("identity.pem"),
            pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec())),
        )
        .unwrap();
        let config = Config {
            clerk: ClerkConfig {
                clerk_jwks_url: Some(clerk.jwks_url()),
                clerk_issuer: Some(clerk.issuer()),
                clerk_secret_key: Some(SecretString::from(clerk.secret_key())),
                clerk_api_url: Some(clerk.api_url().to_owned()),
                ..ClerkConfig::default()
            },
            bind: "127.0.0.1:0".parse().unwrap(),
            gateway_rules: Some(dir.join("rules.toml")),
            gateway_signing_key: Some(dir.join("identity.pem")),
            clerk_webhook_signing_secret: Some(SecretString::from(clerk.webhook_secret())),
            ..Config::default()
        };
        let gateway = clerk_gateway::start(Settings::from_config(config).unwrap())
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        if start == Start::Warm {
            wait_ready(&http, &gateway).await;
        }
        let relay = Relay::start(gateway.local_addr()).await;
        let upstream = Upstream::start().await;
        let proxy = Proxy::start(kind, &dir, relay.addr(), upstream.addr(), edit).await;
        Stack {
            proxy,
            upstream,
            relay,
            gateway,
            clerk,
            people,
            http,
            identity_key,
            dir,
        }
    }

    /// A request through the proxy, naming [`HOST`].
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.proxy.url(path))
            .header(reqwest::header::HOST, HOST)
    }

    /// A POST through the proxy.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.proxy.url(path))
            .header(reqwest::header::HOST, HOST)
    }

    /// Sends `request`; the reply with its body read.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap_or_else(|err| {
            panic!(
                "request through {} failed: {err}\n{}",
                self.dir.display(),
                self.proxy.logs()
            )
        });
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    /// Waits until the gateway has usable keys.
    pub async fn wait_gateway_ready(&self) {
        wait_ready(&self.http, &self.gateway).await;
    }

    /// Revokes `session` in the emulator, which delivers the signed `session.revoked`
    /// webhook to the gateway; returns once it is delivered.
    pub async fn revoke(&self, session: &str) {
        let url = format!("http://{}/webhooks/clerk", self.gateway.local_addr());
        self.clerk.set_webhook(url);
        self.clerk.revoke_session(session).unwrap();
        assert!(
            self.clerk.wait_delivered(Duration::from_secs(10)).await,
            "the session.revoked webhook was not delivered: {:?}",
            self.clerk.deliveries()
        );
    }

    /// The claims of a signed identity, after checking its signature with the gateway's key.
    pub fn identity_claims(&self, token: &str) -> Value {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            panic!("X-Clerk-Identity is not a JWT: {token:?}");
        };
        let signed = format!("{header}.{payload}");
        UnparsedPublicKey::new(&ED25519, &self.identity_key)
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .expect("X-Clerk-Identity is signed with the gateway's key");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }
}

/// Waits until the gateway's `/readyz` says its keys are usable.
async fn wait_ready(http: &reqwest::Client, gateway: &Gateway) {
    let url = format!("http://{}/readyz", gateway.local_addr());
    for _ in 0..300 {
        let ready = http
            .get(&url)
            .send()
            .await
            .is_ok_and(|response| response.status() == 200);
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway's /readyz did not answer 200 within 15 s");
}

/// A reply through the proxy.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// A header's value; sent twice fails the test.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next().map(|v| v.to_str().unwrap());
        assert!(values.next().is_none(), "{name} sent twice: {self:?}");
        first
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The refusal's reason, as the body tells it.
    pub fn reason(&self) -> String {
        self.json()["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether the upstream answered (its JSON says so).
    pub fn answered_by_upstream(&self) -> bool {
        self.json()["upstream"] == true
    }
}

/// The identity headers as a client would forge them, in both spellings, with the value
/// `forged`.
pub fn forged_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in clerk_gateway::identity::HEADERS.iter().copied().chain([
        clerk_gateway::identity::IDENTITY_HEADER,
        clerk_gateway::AUTH_STATUS_HEADER,
        clerk_gateway::AUTH_REASON_HEADER,
    ]) {
        for spelling in [name.to_owned(), name.replace('-', "_")] {
            headers.insert(
                HeaderName::from_bytes(spelling.as_bytes()).unwrap(),
                HeaderValue::from_static("forged"),
            );
        }
    }
    headers
}
