//! `bench-mint OUT_DIR N [MORE...]`: generates a 2048-bit RSA key pair and mints session tokens
//! for the load benchmark.
//!
//! Writes into `OUT_DIR`:
//! - `key.pem`: the public key, SPKI PEM (`CLERK_JWT_KEY`, Clerk's "JWT public key");
//! - `tokens-N.txt`: N distinct tokens, one per line, for each N given;
//! - `issuer.txt`, `azp.txt`: the `iss` and `azp` every token carries.
//!
//! Each token is a default Clerk v2 session token (header `cat`, `kid`; claims `sid`, `sts`,
//! `fva`, `jti`, ...) for a distinct user (`sub`), with an `email` claim, `azp` set, and a
//! one-hour lifetime so that it stays valid for the whole run.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use clerk_emulator::{SigningKey, TokenBuilder, DEFAULT_AZP};

const ISSUER: &str = "https://clerk.bench.invalid";
const LIFETIME_SECS: i64 = 3600;

fn mint(key: &SigningKey, index: usize) -> String {
    TokenBuilder::new(key)
        .issuer(ISSUER)
        .azp(DEFAULT_AZP)
        .user(format!("user_bench{index:022}"))
        .claim("email", format!("user{index}@bench.example.com"))
        .expires_in(LIFETIME_SECS)
        .sign()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), counts) = (args.first(), &args[args.len().min(1)..]) else {
        eprintln!("usage: bench-mint OUT_DIR N [N...]");
        return ExitCode::from(2);
    };
    let counts: Vec<usize> = match counts.iter().map(|n| n.parse()).collect::<Result<Vec<usize>, _>>() {
        Ok(counts) if !counts.is_empty() => counts,
        _ => {
            eprintln!("usage: bench-mint OUT_DIR N [N...] (N: token counts)");
            return ExitCode::from(2);
        }
    };
    let out = PathBuf::from(out);
    if let Err(err) = fs::create_dir_all(&out) {
        eprintln!("bench-mint: cannot create {}: {err}", out.display());
        return ExitCode::FAILURE;
    }

    let key = SigningKey::generate(2048);
    let largest = counts.iter().copied().max().unwrap_or(0);

    // Mint the largest set once, on every core; the smaller sets are its prefixes.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let mut tokens: Vec<(usize, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut minted = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= largest {
                            break minted;
                        }
                        minted.push((i, mint(&key, i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a minting thread panicked"))
            .collect()
    });
    tokens.sort_unstable_by_key(|(i, _)| *i);

    let write = |name: &str, text: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
        let path = out.join(name);
        fs::File::create(&path)
            .map(BufWriter::new)
            .and_then(|mut file| {
                text(&mut file)?;
                file.flush()
            })
            .map_err(|err| format!("cannot write {}: {err}", path.display()))
    };
    let mut result = write("key.pem", &|f| f.write_all(key.public_key_pem().as_bytes()))
        .and_then(|()| write("issuer.txt", &|f| writeln!(f, "{ISSUER}")))
        .and_then(|()| write("azp.txt", &|f| writeln!(f, "{DEFAULT_AZP}")));
    for &n in &counts {
        result = result.and_then(|()| {
            write(&format!("tokens-{n}.txt"), &|f| {
                tokens[..n].iter().try_for_each(|(_, t)| writeln!(f, "{t}"))
            })
        });
    }
    if let Err(message) = result {
        eprintln!("bench-mint: {message}");
        return ExitCode::FAILURE;
    }
    println!(
        "bench-mint: key {} and {} tokens ({}) in {}",
        key.kid(),
        largest,
        counts
            .iter()
            .map(|n| format!("tokens-{n}.txt"))
            .collect::<Vec<_>>()
            .join(", "),
        out.display()
    );
    ExitCode::SUCCESS
}
