//! Random identifiers shaped like Clerk's (`user_…`, `sess_…`, `ins_…`) and secrets shaped
//! like its API key secrets (`ak_…`).

use ring::rand::{SecureRandom, SystemRandom};

use crate::compact::b64_standard;

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The length of the random part of a Clerk object id.
pub const ID_LEN: usize = 27;

/// `len` random characters from `[0-9A-Za-z]`, uniformly distributed.
///
/// ```
/// let s = clerk_emulator::ids::alphanumeric(10);
/// assert_eq!(s.len(), 10);
/// assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
/// ```
pub fn alphanumeric(len: usize) -> String {
    from_alphabet(ALPHANUMERIC, len)
}

/// `len` random lowercase hexadecimal characters.
pub fn hex(len: usize) -> String {
    from_alphabet(b"0123456789abcdef", len)
}

/// A Clerk-like object id: `<prefix>_` and 27 random alphanumerics, e.g. `user_2b8Ahk…`.
///
/// ```
/// let id = clerk_emulator::ids::clerk_id("user");
/// assert!(id.starts_with("user_"));
/// assert_eq!(id.len(), "user_".len() + clerk_emulator::ids::ID_LEN);
/// ```
pub fn clerk_id(prefix: &str) -> String {
    format!("{prefix}_{}", alphanumeric(ID_LEN))
}

/// A secret shaped like Clerk's API key secrets and machine secret keys: `ak_` and the
/// standard base64 of 32 random bytes, so it may contain `+` and `/` and ends with `=`.
///
/// ```
/// let secret = clerk_emulator::ids::api_key_secret();
/// assert!(secret.starts_with("ak_") && secret.ends_with('='));
/// assert_eq!(secret.len(), "ak_".len() + 44);
/// ```
pub fn api_key_secret() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator is available");
    format!("ak_{}", b64_standard(bytes))
}

fn from_alphabet(alphabet: &[u8], len: usize) -> String {
    // Rejection sampling keeps the distribution uniform: only bytes below the largest multiple
    // of the alphabet size are used.
    let limit = 256 - 256 % alphabet.len();
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf)
            .expect("the operating system's random number generator is available");
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    out
}
