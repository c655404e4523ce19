//! `clerk-emulator serve [--bind ADDR] [--webhook-url URL]`: a local Clerk for development.

use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clerk_emulator::{Emulator, NewUser};

/// A local Clerk for development.
#[derive(Debug, Parser)]
#[command(name = "clerk-emulator", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a local Clerk instance until Ctrl-C.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(Serve),
}

const SERVE_AFTER_HELP: &str = "\
Endpoints:
  GET /.well-known/jwks.json   public JWKS (Frontend API)
  GET /v1/jwks                 JWKS behind `Authorization: Bearer <secret key>` (Backend API)
  /v1/users, /v1/sessions, /v1/organizations
                               a Backend API subset, behind the secret key as well
  POST /api_keys, /api_keys/verify, /api_keys/{id}/revoke
                               API keys, behind the secret key
  POST /m2m_tokens, /m2m_tokens/verify, /m2m_tokens/{id}/revoke; GET /m2m_tokens
                               M2M tokens, behind a machine secret key (or the secret key)
  POST /oauth_applications/access_tokens/verify
                               OAuth access tokens, behind the secret key

A sample user with an active session is created at start-up.";

/// The options of `serve`.
#[derive(Debug, Args)]
struct Serve {
    /// Listen address (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    bind: String,
    /// Deliver Svix-signed webhook events (user.created, ...) to URL
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(Command::Serve(serve)) = cli.command else {
        // No command: the help, as `--help` gives it.
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
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
    use clap::error::ErrorKind;

    use super::*;

    fn serve(args: &[&str]) -> Serve {
        let cli =
            Cli::try_parse_from(std::iter::once("clerk-emulator").chain(args.iter().copied()))
                .unwrap();
        match cli.command {
            Some(Command::Serve(serve)) => serve,
            None => panic!("no command in {args:?}"),
        }
    }

    fn error(args: &[&str]) -> ErrorKind {
        Cli::try_parse_from(std::iter::once("clerk-emulator").chain(args.iter().copied()))
            .unwrap_err()
            .kind()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults_to_a_free_loopback_port() {
        assert_eq!(serve(&["serve"]).bind, "127.0.0.1:0");
    }

    #[test]
    fn bind_is_taken_in_both_spellings() {
        assert_eq!(
            serve(&["serve", "--bind", "0.0.0.0:9000"]).bind,
            "0.0.0.0:9000"
        );
        assert_eq!(serve(&["serve", "--bind=[::1]:9000"]).bind, "[::1]:9000");
    }

    #[test]
    fn webhook_url_is_taken_in_both_spellings() {
        assert_eq!(serve(&["serve"]).webhook_url, None);
        let url = "http://127.0.0.1:8080/webhooks/clerk";
        assert_eq!(
            serve(&["serve", "--webhook-url", url])
                .webhook_url
                .as_deref(),
            Some(url)
        );
        assert_eq!(
            serve(&["serve", "--webhook-url=http://[::1]:9/h"])
                .webhook_url
                .as_deref(),
            Some("http://[::1]:9/h")
        );
        assert_eq!(error(&["serve", "--webhook-url"]), ErrorKind::InvalidValue);
    }

    #[test]
    fn no_command_is_not_an_error_and_help_is_asked_for() {
        assert!(Cli::try_parse_from(["clerk-emulator"])
            .unwrap()
            .command
            .is_none());
        assert_eq!(error(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(error(&["serve", "-h"]), ErrorKind::DisplayHelp);
    }

    #[test]
    fn unknown_commands_and_options_are_refused() {
        assert_eq!(error(&["run"]), ErrorKind::InvalidSubcommand);
        assert_eq!(error(&["serve", "--port", "1"]), ErrorKind::UnknownArgument);
        assert_eq!(error(&["serve", "--bind"]), ErrorKind::InvalidValue);
    }
}
