//! `clerk-gateway`: see `clerk-gateway --help`, and `clerk-gateway --dev` to try it with no
//! Clerk account.

use std::process::ExitCode;

use clerk_gateway::config::Command;

// mimalloc, as the reference server: fewer instructions per request's small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = clerk_gateway::Config::parse_or_exit();
    if let Some(Command::CheckPolicy { method, host, uri }) = &config.command {
        return check_policy(&config, method, host, uri);
    }
    let (_logs, _) = clerk_service::init_logging(config.log_format, config.rust_log.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("clerk-gateway: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let settings = match clerk_gateway::Settings::from_config(config) {
            Ok(settings) => settings,
            Err(err) => {
                eprintln!("clerk-gateway: {err}");
                return ExitCode::from(2);
            }
        };
        match clerk_gateway::run(settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("clerk-gateway: {err}");
                ExitCode::from(err.exit_code())
            }
        }
    })
}

/// `clerk-gateway check-policy`: which rule decides a request, and why the others do not.
fn check_policy(config: &clerk_gateway::Config, method: &str, host: &str, uri: &str) -> ExitCode {
    let Some(path) = &config.gateway_rules else {
        eprintln!("clerk-gateway: GATEWAY_RULES: set it (or --gateway-rules) to the rules file");
        return ExitCode::from(2);
    };
    let rules = match clerk_gateway::rules::Rules::load(path) {
        Ok(rules) => rules,
        Err(err) => {
            eprintln!("clerk-gateway: GATEWAY_RULES: {err}");
            return ExitCode::from(2);
        }
    };
    let method = match clerk_gateway::original::method(method) {
        Some(method) => method,
        None => {
            eprintln!("clerk-gateway: --method: {method:?} is not a method in upper case");
            return ExitCode::from(2);
        }
    };
    let original = match clerk_gateway::original::Original::new(method, host, uri) {
        Ok(original) => original,
        Err(err) => {
            eprintln!("clerk-gateway: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = original
        .path
        .as_deref()
        .and_then(clerk_gateway::original::ambiguous)
    {
        println!("refused before any rule: 403 ambiguous-path ({why})");
        return ExitCode::SUCCESS;
    }
    print!("{}", rules.explain(&original));
    ExitCode::SUCCESS
}
