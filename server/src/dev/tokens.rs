//! How the dev tokens are minted: an hour of life, the `email` claim, and `azp` when
//! authorized parties are configured. A leaf: used by [`super::DevClerk`] and the console.

/// How long the printed tokens stay valid.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Signs a session token as the dev tokens are: valid for [`TOKEN_LIFETIME_SECS`], with an
/// `email` claim (as a session token template adding `{{user.primary_email_address}}` would)
/// and `azp` when authorized parties are configured.
pub fn sign(
    builder: clerk_emulator::TokenBuilder,
    email: Option<&str>,
    authorized_party: Option<&str>,
) -> String {
    let mut builder = builder.expires_in(TOKEN_LIFETIME_SECS);
    if let Some(email) = email {
        builder = builder.claim("email", email);
    }
    if let Some(azp) = authorized_party {
        builder = builder.azp(azp);
    }
    builder.sign()
}
