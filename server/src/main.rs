//! `api-server`: see `api-server --help`, and `api-server --dev` to try it with no Clerk account.

use std::process::ExitCode;

// mimalloc rather than the system allocator: a request allocates a few dozen small blocks
// (hyper's buffers, axum's boxed futures, headers), and mimalloc's per-thread free lists make
// that about 7 % fewer instructions and 5 % more requests per second (BENCHMARKS.md). Only the
// binary chooses; the library crates leave the allocator to their users.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = api_server::Config::parse_or_exit();
    let _logs = api_server::init_logging(&config);
    let runtime = match api_server::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("api-server: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: api_server::Config) -> ExitCode {
    let settings = match api_server::Settings::from_config(config) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("api-server: {err}");
            return ExitCode::from(2);
        }
    };
    match api_server::run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("api-server: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
