//! The claim checks of a verification, in Clerk's order, and the time rules re-applied to
//! cache hits.

use serde_json::Value;

use super::Verifier;
use crate::error::{Reason, Rejection};
use crate::token::{Field, SessionPayload};

impl Verifier {
    pub(super) fn check_claims(
        &self,
        payload: &SessionPayload,
        now_ms: f64,
    ) -> Result<Times, Rejection> {
        let inner = &*self.inner;
        match &payload.sub {
            Field::Str(sub) if !sub.is_empty() => {}
            _ => {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Subject claim (sub) is required and must be a non-empty string.",
                ))
            }
        }
        if !inner.audience.is_empty() {
            check_audience(payload.aud.as_ref(), &inner.audience)?;
        }
        if !inner.authorized_parties.is_empty() {
            let ok = matches!(&payload.azp, Field::Str(azp)
                if !azp.is_empty() && inner.authorized_parties.iter().any(|p| p == azp));
            if !ok {
                return Err(Rejection::new(
                    Reason::TokenInvalidAuthorizedParties,
                    "Invalid JWT Authorized party claim (azp): it must be one of the configured \
                     authorized parties (CLERK_AUTHORIZED_PARTIES).",
                ));
            }
        }
        if let Some(issuer) = &inner.issuer {
            if payload.iss.as_str() != Some(issuer.as_str()) {
                return Err(Rejection::with_message(
                    Reason::TokenInvalidIssuer,
                    format!("Invalid JWT issuer claim (iss): expected {issuer:?}."),
                ));
            }
        }
        // Each time claim is checked whole (type, then time) before the next, as Clerk does.
        let skew = inner.clock_skew_ms;
        let exp = match payload.exp {
            Field::Num(exp) => exp,
            _ => {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Invalid JWT expiry date claim (exp): it is required and must be a number.",
                ))
            }
        };
        check_exp(exp, now_ms, skew)?;
        let nbf = optional_number(&payload.nbf, "nbf", "not before")?;
        check_nbf(nbf, now_ms, skew)?;
        let iat = optional_number(&payload.iat, "iat", "issued at")?;
        check_iat(iat, now_ms, skew)?;
        let times = Times { exp, nbf, iat };
        match &payload.sid {
            Field::Str(sid) if !sid.is_empty() => Ok(times),
            _ => Err(template_token()),
        }
    }
}

pub(super) const REVOKED: Rejection = Rejection::new(
    Reason::SessionRevoked,
    "The session was revoked or ended (or its user deleted); sign in again.",
);

pub(super) fn template_token() -> Rejection {
    Rejection::new(
        Reason::TokenTypeMismatch,
        "This is not a session token: it has no session id (sid), as JWT-template tokens do.",
    )
}

pub(super) fn optional_number(
    field: &Field,
    name: &'static str,
    what: &'static str,
) -> Result<Option<f64>, Rejection> {
    match field {
        Field::Absent => Ok(None),
        Field::Num(n) => Ok(Some(*n)),
        Field::Str(_) | Field::Other => Err(Rejection::with_message(
            Reason::TokenVerificationFailed,
            format!("Invalid JWT {what} claim ({name}): it must be a number."),
        )),
    }
}

pub(super) fn check_audience(aud: Option<&Value>, audience: &[String]) -> Result<(), Rejection> {
    let values: Vec<&Value> = match aud {
        None => return Ok(()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
    };
    let mut values = values
        .into_iter()
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
        .peekable();
    // As Clerk: a token whose `aud` is absent or holds only empty values is not checked.
    if values.peek().is_none() {
        return Ok(());
    }
    if values.any(|v| v.as_str().is_some_and(|v| audience.iter().any(|a| a == v))) {
        return Ok(());
    }
    Err(Rejection::new(
        Reason::TokenVerificationFailed,
        "Invalid JWT audience claim (aud): it does not include the configured audience.",
    ))
}

/// The time claims of a verified token, kept to re-check cache hits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Times {
    pub(super) exp: f64,
    pub(super) nbf: Option<f64>,
    pub(super) iat: Option<f64>,
}

/// Clerk's rules, in milliseconds: expired when `exp*1000 <= now - skew`; early when
/// `nbf*1000 > now + skew`; issued in the future when `iat*1000 > now + skew`. As in Clerk
/// (JavaScript's `Date.setUTCSeconds`), a fractional time is truncated to whole seconds.
/// Floating point never overflows, so extreme values (2^64, 1e300, negative) are ordinary
/// comparisons; unlike JavaScript, no value is out of range.
pub(super) fn check_times(times: &Times, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    check_exp(times.exp, now_ms, skew_ms)?;
    check_nbf(times.nbf, now_ms, skew_ms)?;
    check_iat(times.iat, now_ms, skew_ms)
}

pub(super) fn check_exp(exp: f64, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    if exp.trunc() * 1000.0 <= now_ms - skew_ms {
        return Err(Rejection::with_message(
            Reason::TokenExpired,
            format!(
                "JWT is expired. Expiry date: {}, current date: {} (Unix seconds).",
                Seconds(exp),
                Seconds(now_ms / 1000.0)
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_nbf(nbf: Option<f64>, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    match nbf {
        Some(nbf) if nbf.trunc() * 1000.0 > now_ms + skew_ms => Err(Rejection::with_message(
            Reason::TokenNotActiveYet,
            format!(
                "JWT cannot be used prior to not-before date claim (nbf). Not before: {}, \
                 current date: {} (Unix seconds).",
                Seconds(nbf),
                Seconds(now_ms / 1000.0)
            ),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_iat(iat: Option<f64>, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    match iat {
        Some(iat) if iat.trunc() * 1000.0 > now_ms + skew_ms => Err(Rejection::with_message(
            Reason::TokenIatInTheFuture,
            format!(
                "JWT issued at date claim (iat) is in the future. Issued at: {}, current date: \
                 {} (Unix seconds). Check that the server clock is in sync.",
                Seconds(iat),
                Seconds(now_ms / 1000.0)
            ),
        )),
        _ => Ok(()),
    }
}

/// Unix seconds for a message: whole seconds, or scientific notation when absurdly large.
struct Seconds(f64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.abs() < 1e15 {
            write!(f, "{}", self.0.trunc())
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}
