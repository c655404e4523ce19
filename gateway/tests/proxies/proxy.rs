//! The real proxies, started from the shipped snippets in `gateway/deploy/` (rendered with
//! the test's ports, nothing else changed), each on a free loopback port, with its logs in
//! `target/proxies/runs/<test>/`, killed when dropped.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a proxy may take to serve its first request.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The path every proxy serves once ready: a public rule in the tests' rules file lets it
/// through to the upstream.
pub const READY_PATH: &str = "/public/ready";

/// The four proxies, Envoy with each of its two ext_authz services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
    Traefik,
    /// Envoy with the HTTP ext_authz service (`envoy.yaml`).
    Envoy,
    /// Envoy with the gRPC ext_authz service (`envoy-grpc.yaml`).
    EnvoyGrpc,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
            Kind::Traefik => "traefik",
            Kind::Envoy => "envoy",
            Kind::EnvoyGrpc => "envoy-grpc",
        }
    }

    /// The proxy's program.
    fn program(self) -> &'static str {
        match self {
            Kind::EnvoyGrpc => Kind::Envoy.name(),
            other => other.name(),
        }
    }

    /// The shipped snippet, as compiled into this test, and its file name.
    fn snippet(self) -> (&'static str, &'static str) {
        match self {
            Kind::Nginx => ("clerk.conf", include_str!("../../deploy/nginx.conf")),
            Kind::Caddy => ("Caddyfile", include_str!("../../deploy/Caddyfile")),
            Kind::Traefik => (
                "traefik-dynamic.yaml",
                include_str!("../../deploy/traefik-dynamic.yaml"),
            ),
            Kind::Envoy => ("envoy.yaml", include_str!("../../deploy/envoy.yaml")),
            Kind::EnvoyGrpc => (
                "envoy-grpc.yaml",
                include_str!("../../deploy/envoy-grpc.yaml"),
            ),
        }
    }

    /// The snippet's placeholders (the gateway, the upstream, the listen port) and what
    /// replaces them.
    fn placeholders(
        self,
        gateway: SocketAddr,
        upstream: SocketAddr,
        port: u16,
    ) -> Vec<(&'static str, String)> {
        match self {
            Kind::Nginx => vec![
                ("127.0.0.1:8090", gateway.to_string()),
                ("127.0.0.1:9000", upstream.to_string()),
                ("listen 8080;", format!("listen 127.0.0.1:{port};")),
            ],
            Kind::Caddy => vec![
                ("127.0.0.1:8090", gateway.to_string()),
                ("127.0.0.1:9000", upstream.to_string()),
                (":8080 {", format!(":{port} {{\n\tbind 127.0.0.1")),
            ],
            Kind::Traefik => vec![
                ("127.0.0.1:8090", gateway.to_string()),
                ("127.0.0.1:9000", upstream.to_string()),
            ],
            Kind::Envoy => vec![
                (
                    "uri: http://127.0.0.1:8090",
                    format!("uri: http://{gateway}"),
                ),
                (
                    "port_value: 8090",
                    format!("port_value: {}", gateway.port()),
                ),
                (
                    "port_value: 9000",
                    format!("port_value: {}", upstream.port()),
                ),
                ("port_value: 8080", format!("port_value: {port}")),
            ],
            Kind::EnvoyGrpc => vec![
                (
                    "port_value: 8090",
                    format!("port_value: {}", gateway.port()),
                ),
                (
                    "port_value: 9000",
                    format!("port_value: {}", upstream.port()),
                ),
                ("port_value: 8080", format!("port_value: {port}")),
            ],
        }
    }

    /// Where the installer puts the binary; a missing one fails the test.
    fn binary(self) -> PathBuf {
        let path = workspace().join("target/proxies/bin").join(self.program());
        assert!(
            path.exists(),
            "{} is not installed ({} missing): run gateway/tests/proxies/install.sh \
             (scripts/test runs it before the tests)",
            self.program(),
            path.display()
        );
        path
    }
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway is in the workspace")
        .to_owned()
}

/// A fresh directory for one test's configuration and logs, kept after the test.
pub fn run_dir(test: &str) -> PathBuf {
    let dir = workspace().join("target/proxies/runs").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces each placeholder, which must be there (a snippet that lost one would otherwise
/// be tested with its own values).
fn render(snippet: &str, placeholders: &[(&str, String)]) -> String {
    let mut text = snippet.to_owned();
    for (from, to) in placeholders {
        assert!(
            text.contains(from),
            "the shipped snippet no longer has the placeholder {from:?}"
        );
        text = text.replace(from, to);
    }
    text
}

/// A running proxy.
pub struct Proxy {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Proxy {
    /// Starts `kind` in `dir` in front of `gateway` and `upstream` and waits until it passes
    /// a request through to the upstream. A port taken meanwhile by another test is retried
    /// with another. `edit` changes the rendered snippet (a test that takes a part out).
    pub async fn start(
        kind: Kind,
        dir: &Path,
        gateway: SocketAddr,
        upstream: SocketAddr,
        edit: fn(String) -> String,
    ) -> Proxy {
        let binary = kind.binary();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let (name, snippet) = kind.snippet();
            let mut config = edit(render(snippet, &kind.placeholders(gateway, upstream, port)));
            if kind == Kind::Caddy {
                // The shipped site block, after global options of the test's: no admin
                // endpoint (several Caddys run at once).
                config = format!("{{\n\tadmin off\n}}\n\n{config}");
            }
            fs::write(dir.join(name), &config).unwrap();
            let mut command = Command::new(&binary);
            command.current_dir(dir);
            match kind {
                Kind::Nginx => {
                    fs::write(dir.join("nginx.conf"), nginx_main(dir)).unwrap();
                    command
                        .arg("-p")
                        .arg(dir)
                        .arg("-c")
                        .arg(dir.join("nginx.conf"))
                        .arg("-e")
                        .arg(dir.join("error.log"));
                }
                Kind::Caddy => {
                    // Caddy's state in the test's directory.
                    command
                        .args(["run", "--adapter", "caddyfile", "--config"])
                        .arg(dir.join(name))
                        .env("HOME", dir)
                        .env("XDG_DATA_HOME", dir.join("data"))
                        .env("XDG_CONFIG_HOME", dir.join("config"));
                }
                Kind::Traefik => {
                    command
                        .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
                        .arg(format!(
                            "--providers.file.filename={}",
                            dir.join(name).display()
                        ))
                        .args([
                            "--global.checkNewVersion=false",
                            "--global.sendAnonymousUsage=false",
                            "--log.level=INFO",
                            "--accessLog=true",
                        ])
                        .env("HOME", dir);
                }
                Kind::Envoy | Kind::EnvoyGrpc => {
                    command.arg("-c").arg(dir.join(name)).args([
                        "--disable-hot-restart",
                        "--concurrency",
                        "1",
                        "--log-level",
                        "info",
                    ]);
                }
            }
            let log = kind.name();
            command
                .stdin(Stdio::null())
                .stdout(fs::File::create(dir.join(format!("{log}.stdout"))).unwrap())
                .stderr(fs::File::create(dir.join(format!("{log}.stderr"))).unwrap());
            let child = command
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
            let mut proxy = Proxy {
                kind,
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir: dir.to_owned(),
            };
            match proxy.wait_ready().await {
                Ok(()) => return proxy,
                Err(logs) if attempt < 3 && port_taken(&logs) => {
                    eprintln!("{}: port {port} taken, retrying with another", kind.name());
                }
                Err(logs) => panic!(
                    "{} did not become ready (logs in {}):\n{logs}",
                    kind.name(),
                    dir.display()
                ),
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The proxy's logs so far.
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in fs::read_dir(&self.dir).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".log") || name.ends_with(".stdout") || name.ends_with(".stderr") {
                let text = fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                logs.push_str(&format!("--- {name} (last lines)\n"));
                for line in tail.into_iter().rev() {
                    logs.push_str(line);
                    logs.push('\n');
                }
            }
        }
        logs
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "{} exited with {status}\n{}",
                    self.kind.name(),
                    self.logs()
                ));
            }
            if let Ok(response) = client.get(self.url(READY_PATH)).send().await {
                if response.status() == 200
                    && response
                        .text()
                        .await
                        .unwrap_or_default()
                        .contains("\"upstream\":true")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(format!(
                    "{} did not pass {READY_PATH} to the upstream within {READY_WITHIN:?}\n{}",
                    self.kind.name(),
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_taken(logs: &str) -> bool {
    let logs = logs.to_ascii_lowercase();
    logs.contains("address already in use") || logs.contains("address in use")
}

/// nginx's main configuration: one process in the foreground, every path in `dir`, and the
/// shipped snippet included in `http`, as its header says.
fn nginx_main(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "master_process off;\n\
         daemon off;\n\
         error_log {dir}/error.log info;\n\
         pid {dir}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20   access_log {dir}/access.log;\n\
         \x20   client_body_temp_path {dir}/client_body;\n\
         \x20   proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n\
         \x20   uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n\
         \x20   include {dir}/clerk.conf;\n\
         }}\n"
    )
}
