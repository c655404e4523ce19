//! `clerk-emulator serve [--bind ADDR] [--webhook-url URL]`: a local Clerk for development.

use std::process::ExitCode;

use clerk_emulator::{Emulator, NewUser};

const USAGE: &str = "\
Usage: clerk-emulator serve [--bind ADDR] [--webhook-url URL]

Serves a local Clerk instance until Ctrl-C:
  GET /.well-known/jwks.json   public JWKS (Frontend API)
  GET /v1/jwks                 JWKS behind `Authorization: Bearer <secret key>` (Backend API)
  /v1/users, /v1/sessions, /v1/organizations
                               a Backend API subset, behind the secret key as well

A sample user with an active session is created at start-up.

Options:
  --bind ADDR         listen address (default 127.0.0.1:0, a free port)
  --webhook-url URL   deliver Svix-signed webhook events (user.created, ...) to URL
  -h, --help          print this help
";

/// The only command there is, with its options.
struct Serve {
    bind: String,
    webhook_url: Option<String>,
}

fn parse(args: &[String]) -> Result<Option<Serve>, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("serve") => {}
        Some("-h" | "--help") | None => return Ok(None),
        Some(other) => return Err(format!("unknown command `{other}`")),
    }
    let mut serve = Serve {
        bind: "127.0.0.1:0".to_owned(),
        webhook_url: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => {
                serve.bind = args.next().ok_or("`--bind` needs an address")?.clone();
            }
            "--webhook-url" => {
                let url = args.next().ok_or("`--webhook-url` needs a URL")?;
                serve.webhook_url = Some(url.clone());
            }
            "-h" | "--help" => return Ok(None),
            other => {
                if let Some(addr) = other.strip_prefix("--bind=") {
                    serve.bind = addr.to_owned();
                } else if let Some(url) = other.strip_prefix("--webhook-url=") {
                    serve.webhook_url = Some(url.to_owned());
                } else {
                    return Err(format!("unknown option `{other}`"));
                }
            }
        }
    }
    Ok(Some(serve))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serve = match parse(&args) {
        Ok(Some(serve)) => serve,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprint!("clerk-emulator: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let server = match Emulator::start(serve.bind.as_str()).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("clerk-emulator: cannot listen on {}: {err}", serve.bind);
            return ExitCode::FAILURE;
        }
    };
    if let Some(url) = &serve.webhook_url {
        server.set_webhook(url.clone());
    }
    let sample = server
        .create_user(
            NewUser::new()
                .email("dev@example.com")
                .first_name("Dev")
                .last_name("User"),
        )
        .and_then(|user| server.create_session(&user.id));
    let token = match &sample {
        Ok(session) => server.session_token_for(session),
        Err(_) => server.session_token(),
    }
    .expires_in(3600)
    .sign();

    println!("clerk-emulator listening on {}", server.local_addr());
    println!();
    println!("JWKS URL         {}", server.jwks_url());
    println!(
        "Backend API URL  {}   (GET /v1/jwks with the secret key)",
        server.api_url()
    );
    println!("Issuer           {}", server.issuer());
    println!("Publishable key  {}", server.publishable_key());
    println!("Secret key       {}", server.secret_key());
    if let Some(url) = &serve.webhook_url {
        println!("Webhooks         {url}");
        println!("Signing secret   {}", server.webhook_secret());
    }
    println!();
    if let Ok(session) = &sample {
        println!(
            "Sample user      {} <dev@example.com>, session {}",
            session.user_id, session.id
        );
    }
    println!("Sample session token (valid for 1 hour):");
    println!("{token}");
    println!();
    println!("Point a verifier at it:");
    println!(
        "CLERK_JWKS_URL={} CLERK_ISSUER={}",
        server.jwks_url(),
        server.issuer()
    );
    println!();
    println!("Serving until Ctrl-C.");

    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("clerk-emulator: cannot listen for Ctrl-C: {err}");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn serve_defaults_to_a_free_loopback_port() {
        let serve = parse(&args(&["serve"])).unwrap().unwrap();
        assert_eq!(serve.bind, "127.0.0.1:0");
    }

    #[test]
    fn bind_is_taken_in_both_spellings() {
        let serve = parse(&args(&["serve", "--bind", "0.0.0.0:9000"]))
            .unwrap()
            .unwrap();
        assert_eq!(serve.bind, "0.0.0.0:9000");
        let serve = parse(&args(&["serve", "--bind=[::1]:9000"]))
            .unwrap()
            .unwrap();
        assert_eq!(serve.bind, "[::1]:9000");
    }

    #[test]
    fn webhook_url_is_taken_in_both_spellings() {
        assert_eq!(parse(&args(&["serve"])).unwrap().unwrap().webhook_url, None);
        let serve = parse(&args(&[
            "serve",
            "--webhook-url",
            "http://127.0.0.1:8080/webhooks/clerk",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            serve.webhook_url.as_deref(),
            Some("http://127.0.0.1:8080/webhooks/clerk")
        );
        let serve = parse(&args(&["serve", "--webhook-url=http://[::1]:9/h"]))
            .unwrap()
            .unwrap();
        assert_eq!(serve.webhook_url.as_deref(), Some("http://[::1]:9/h"));
        assert!(parse(&args(&["serve", "--webhook-url"])).is_err());
    }

    #[test]
    fn help_and_no_command_print_usage() {
        assert!(parse(&args(&[])).unwrap().is_none());
        assert!(parse(&args(&["--help"])).unwrap().is_none());
        assert!(parse(&args(&["serve", "-h"])).unwrap().is_none());
    }

    #[test]
    fn unknown_commands_and_options_are_refused() {
        assert!(parse(&args(&["run"])).is_err());
        assert!(parse(&args(&["serve", "--port", "1"])).is_err());
        assert!(parse(&args(&["serve", "--bind"])).is_err());
    }
}
