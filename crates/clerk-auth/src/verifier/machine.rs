//! `acceptsToken`: one entry point for every kind of token (clerk-spec §5,
//! microservices.md §C), and the local verification of the JWT forms of machine tokens.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

use super::checks::{check_audience, check_exp, check_iat, check_nbf, optional_number};
use super::{Keys, Lookup, Verifier};
use crate::claims::SessionClaims;
use crate::error::{Reason, Rejection};
use crate::machine::{
    has_non_session_category, Accepts, Caller, Form, MachineAuth, MachineStats, TokenType,
};
use crate::request::header_token;
use crate::token::{
    self, HeaderRules, MACHINE_ID_PREFIX, WRONG_ALGORITHM, WRONG_OAUTH_TYPE, WRONG_TYPE,
};

/// A JWT on the session path whose `cat` is not a session token's (see
/// [`has_non_session_category`]), refused before verification as by Clerk's
/// `authenticateRequest`.
const CATEGORY_MISMATCH: Rejection = Rejection::new(
    Reason::TokenTypeMismatch,
    "This JWT's category (its \"cat\" header) is not a session token's: it is a JWT-template \
     or machine token, or of a category this library does not know, and is not accepted as a \
     session token.",
);

/// The claims an M2M JWT's `claims` leave out, as Clerk's `M2MToken.fromJwtPayload`.
const REGISTERED_CLAIMS: [&str; 6] = ["iss", "sub", "exp", "nbf", "iat", "jti"];

impl Verifier {
    /// Verifies a token of any of the `accepts` types, as Clerk's
    /// `authenticateRequest({ acceptsToken })` does with a token from the `Authorization`
    /// header.
    ///
    /// - The token's type is recognised by [`TokenType::of`]. A type not accepted is
    ///   `token-type-mismatch`, except that with the session token alone (the default) an
    ///   opaque machine token is just a malformed JWT (`token-invalid`), as in Clerk.
    /// - Session tokens are verified as by [`Verifier::verify`]; M2M and OAuth JWTs locally,
    ///   with the same keys and strict parsing (no Backend API call); opaque tokens by Clerk's
    ///   Backend API (`secret-key` needed, else `machine-tokens-disabled`), cached.
    /// - Unavailability (no keys; the Backend API down, throttled or refusing our key) is a
    ///   [`Reason::is_unavailable`] rejection: 503, never 401 and never accepted.
    pub async fn authenticate(&self, token: &str, accepts: Accepts) -> Result<Caller, Rejection> {
        // Every form has the session token's bound: no oversized text reaches a decoder or
        // the Backend API.
        if token.len() > token::MAX_TOKEN_LEN {
            return Err(Rejection::with_message(
                Reason::TokenInvalid,
                format!(
                    "The token is longer than the {} bytes allowed.",
                    token::MAX_TOKEN_LEN
                ),
            ));
        }
        let opaque =
            token.starts_with("mt_") || token.starts_with("oat_") || token.starts_with("ak_");
        let (epoch, revocation_generation) = if opaque {
            (0, 0)
        } else {
            match self.lookup(token)? {
                // A session token verified before (`mch_` subjects are M2M JWTs, whatever
                // path cached them).
                Lookup::Hit(claims) if !claims.user_id().starts_with(MACHINE_ID_PREFIX) => {
                    // Only tokens of a session's category are cached (see `verify_fresh`), so a
                    // hit needs no second look at the header.
                    return if !accepts.accepts(TokenType::SessionToken) {
                        Err(type_mismatch(TokenType::SessionToken, accepts))
                    } else {
                        Ok(Caller::Session(claims))
                    };
                }
                Lookup::Hit(_) => (0, 0),
                Lookup::Miss {
                    epoch,
                    revocation_generation,
                } => (epoch, revocation_generation),
            }
        };
        let form = Form::of(token);
        let session_only = accepts.single() == Some(TokenType::SessionToken);
        let form = match form {
            Form::ApiKey | Form::M2mOpaque | Form::OAuthOpaque if session_only => Form::Session,
            form => form,
        };
        if !accepts.accepts(form.token_type()) {
            return Err(type_mismatch(form.token_type(), accepts));
        }
        match form {
            Form::Session => {
                if has_non_session_category(token) {
                    return Err(CATEGORY_MISMATCH);
                }
                let claims = if opaque {
                    self.verify(token).await?
                } else {
                    Box::pin(self.verify_fresh(token, epoch, revocation_generation)).await?
                };
                Ok(Caller::Session(claims))
            }
            Form::M2mJwt | Form::OAuthJwt => Box::pin(self.verify_machine_jwt(token, form))
                .await
                .map(Caller::Machine),
            Form::ApiKey | Form::M2mOpaque | Form::OAuthOpaque => match &self.inner.remote {
                Some(remote) => remote.verify(token, form).await.map(Caller::Machine),
                None => Err(Rejection::new(
                    Reason::MachineTokensDisabled,
                    "This service verifies no opaque machine tokens (API keys, M2M and OAuth \
                     tokens): it has no Clerk secret key (CLERK_SECRET_KEY) to verify them with \
                     Clerk's Backend API.",
                )),
            },
        }
    }

    /// [`authenticate`](Verifier::authenticate) with the session token alone (Clerk's default
    /// `acceptsToken`): [`Verifier::verify`], except that a machine JWT is
    /// `token-type-mismatch` rather than a malformed session token.
    pub async fn authenticate_session(&self, token: &str) -> Result<Arc<SessionClaims>, Rejection> {
        match self.authenticate(token, Accepts::SESSION).await? {
            Caller::Session(claims) => Ok(claims),
            Caller::Machine(machine) => Err(type_mismatch(machine.token_type(), Accepts::SESSION)),
        }
    }

    /// Finds the token of a request and [`authenticate`](Verifier::authenticate)s it.
    ///
    /// Machine tokens come only from the `Authorization` header, never from a cookie. When
    /// the session token is accepted, a request with no header token is looked at as
    /// [`Verifier::verify_request`] does (the `__session` cookie), and one with neither is
    /// `session-token-missing`; when only machine tokens are accepted, it is `token-missing`.
    pub async fn authenticate_request(
        &self,
        headers: &HeaderMap,
        accepts: Accepts,
    ) -> Result<Caller, Rejection> {
        if let Some(token) = header_token(headers)? {
            return self.authenticate(token, accepts).await;
        }
        if accepts.accepts(TokenType::SessionToken) {
            return match self.find_token(headers)? {
                Some(found) => self.authenticate(&found.token, Accepts::SESSION).await,
                None => Err(Rejection::SESSION_TOKEN_MISSING),
            };
        }
        Err(Rejection::new(
            Reason::TokenMissing,
            "No token in the Authorization header: this route takes machine tokens (sent as \
             \"Authorization: Bearer <token>\"), never from a cookie.",
        ))
    }

    /// Whether opaque machine tokens can be verified (a secret key is configured).
    pub fn verifies_opaque_machine_tokens(&self) -> bool {
        self.inner.remote.is_some()
    }

    /// The counters of the opaque machine-token path, when it is on.
    pub fn machine_stats(&self) -> Option<MachineStats> {
        self.inner.remote.as_ref().map(|remote| remote.stats())
    }

    /// An M2M or OAuth JWT, verified locally: Clerk's `verifyMachineJwt` (header, signature,
    /// `sub`, the audience, the time claims; no `iss`, no `azp`), every failure being
    /// `token-verification-failed` as in Clerk, but form, JSON and category `token-invalid`
    /// and unavailable keys unchanged. The signature is checked before any claim, as for
    /// session tokens.
    async fn verify_machine_jwt(
        &self,
        token: &str,
        form: Form,
    ) -> Result<Arc<MachineAuth>, Rejection> {
        let inner = &*self.inner;
        let rules = match form {
            Form::M2mJwt => HeaderRules::M2m,
            _ => HeaderRules::OAuth,
        };
        let decoded = token::decode_as(token, rules).map_err(|rejection| {
            if [WRONG_TYPE, WRONG_OAUTH_TYPE, WRONG_ALGORITHM].contains(&rejection) {
                failed(rejection)
            } else {
                rejection
            }
        })?;
        let key = match &inner.keys {
            Keys::Static(key) => Arc::clone(key),
            Keys::Remote(cache) => cache.key(decoded.header.kid.as_deref()).await.map_err(
                |rejection| match rejection.reason().is_unavailable() {
                    true => rejection,
                    false => failed(rejection),
                },
            )?,
        };
        if !key.verify_rs256(decoded.signing_input, &decoded.signature) {
            return Err(Rejection::new(
                Reason::TokenVerificationFailed,
                "JWT signature is invalid.",
            ));
        }
        let claims = decoded.payload;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let subject = match text("sub") {
            Some(sub) if !sub.is_empty() => sub.to_owned(),
            _ => {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Subject claim (sub) is required and must be a non-empty string.",
                ))
            }
        };
        let aud = claims.get("aud");
        if form == Form::M2mJwt {
            if !inner.audience.is_empty() {
                check_audience(aud, &inner.audience)?;
            }
            if let Some(machine) = &inner.machine_id {
                if !values(aud).any(|v| v == machine) {
                    return Err(Rejection::with_message(
                        Reason::TokenVerificationFailed,
                        format!(
                            "Invalid M2M JWT audience claim (aud): it does not name this \
                             machine ({machine}), so the token was not issued to talk to it."
                        ),
                    ));
                }
            }
        }
        let now_ms = inner.clock.now_ms() as f64;
        let skew = inner.clock_skew_ms;
        let exp = match claims.get("exp").and_then(Value::as_f64) {
            Some(exp) => exp,
            None => {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Invalid JWT expiry date claim (exp): it is required and must be a number.",
                ))
            }
        };
        let number = |name| token::Field::from_json(claims.get(name));
        check_exp(exp, now_ms, skew).map_err(failed)?;
        check_nbf(
            optional_number(&number("nbf"), "nbf", "not before")?,
            now_ms,
            skew,
        )
        .map_err(failed)?;
        check_iat(
            optional_number(&number("iat"), "iat", "issued at")?,
            now_ms,
            skew,
        )
        .map_err(failed)?;
        if form == Form::OAuthJwt && !inner.audience.is_empty() {
            // Clerk's assertOAuthAudienceClaim: a non-empty string, or a non-empty array of
            // non-empty strings (one value of another type fails it), sharing a value with
            // the configured audience.
            let given: Option<Vec<&str>> = match aud {
                Some(Value::String(one)) if !one.is_empty() => Some(vec![one.as_str()]),
                Some(Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|v| v.as_str().filter(|v| !v.is_empty()))
                    .collect(),
                _ => None,
            };
            let shared = given
                .is_some_and(|given| given.iter().any(|v| inner.audience.iter().any(|a| a == v)));
            if !shared {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Invalid OAuth access token audience claim (aud): it is required and must \
                     include the configured audience.",
                ));
            }
        }
        let id = text("jti").unwrap_or_default().to_owned();
        let expiration_ms = Some((exp.trunc() * 1000.0) as i64);
        let auth = match form {
            Form::M2mJwt => {
                let scopes = match text("scopes") {
                    Some(scopes) => split(scopes),
                    None => values(aud).map(str::to_owned).collect(),
                };
                let rest: Map<String, Value> = claims
                    .iter()
                    .filter(|(name, _)| !REGISTERED_CLAIMS.contains(&name.as_str()))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                MachineAuth {
                    token_type: TokenType::M2mToken,
                    id,
                    subject,
                    scopes,
                    claims: (!rest.is_empty()).then_some(rest),
                    name: None,
                    client_id: None,
                    expiration_ms,
                }
            }
            _ => {
                let scopes = match claims.get("scp") {
                    Some(Value::Array(scp)) => scp
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    Some(Value::String(scp)) => split(scp),
                    _ => text("scope").map(split).unwrap_or_default(),
                };
                MachineAuth {
                    token_type: TokenType::OAuthToken,
                    id,
                    client_id: Some(text("client_id").unwrap_or_default().to_owned()),
                    subject,
                    scopes,
                    claims: None,
                    name: None,
                    expiration_ms,
                }
            }
        };
        Ok(Arc::new(auth))
    }
}

/// A refusal of a type the route does not take. Clerk has several shapes for it (a
/// signed-out state of the requested type, an "invalid token" object for a list); over HTTP
/// they are all this one reason.
fn type_mismatch(found: TokenType, accepts: Accepts) -> Rejection {
    let accepted: Vec<&str> = accepts.types().map(TokenType::as_str).collect();
    Rejection::with_message(
        Reason::TokenTypeMismatch,
        format!(
            "This is a {found} token, and this route accepts {}.",
            if accepted.is_empty() {
                "no token".to_owned()
            } else {
                accepted.join(", ")
            }
        ),
    )
}

/// Clerk reports every failure inside `verifyJwt` of a machine JWT as
/// `token-verification-failed`, with the message of the check that failed.
fn failed(rejection: Rejection) -> Rejection {
    Rejection::with_message(
        Reason::TokenVerificationFailed,
        rejection.message().to_owned(),
    )
}

/// `aud` as strings: one, or each string of an array.
fn values(aud: Option<&Value>) -> impl Iterator<Item = &str> {
    let items: &[Value] = match aud {
        Some(Value::Array(items)) => items,
        Some(one) => std::slice::from_ref(one),
        None => &[],
    };
    items.iter().filter_map(Value::as_str)
}

fn split(scopes: &str) -> Vec<String> {
    scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
