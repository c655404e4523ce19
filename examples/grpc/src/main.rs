//! `cargo run -p example-grpc`: starts a local Clerk (the emulator), the notes server
//! (gRPC and REST on one port) and a tonic client that calls both methods with several
//! credentials, printing what each call got.

use clerk_emulator::Emulator;
use example_grpc::demo::{Demo, DemoError};

#[tokio::main]
async fn main() -> Result<(), DemoError> {
    let emulator = Emulator::start("127.0.0.1:0").await?;
    let demo = Demo::start(emulator).await?;
    println!("notes server (gRPC and REST) on {}", demo.url);
    println!("notes machine {}", demo.notes_machine);
    for outcome in demo.run().await? {
        println!("{outcome}");
    }
    Ok(())
}
