//! Machine tokens: recognition (`TokenType::of`, `machine_jwt_kind`), the strict decoding of
//! M2M and OAuth JWTs (`decode_as`) and the reading of a Backend API verify answer
//! (`parse_verify_answer`), on arbitrary input: never a panic, and what each accepts is
//! consistent with the rest.
#![no_main]

use clerk_auth::internals::{decode_as, machine_jwt_kind, parse_verify_answer, HeaderRules};
use clerk_auth::{Reason, TokenType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 4 {
        0 => {
            // Clerk's JWT format: three non-empty segments of base64url characters.
            let jwt_format = text.split('.').count() == 3
                && text.split('.').all(|segment| {
                    !segment.is_empty()
                        && segment
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            let kind = machine_jwt_kind(&text).filter(|_| jwt_format);
            let found = TokenType::of(&text);
            // The prefixes win over the JWT forms only in Clerk's order.
            match kind {
                Some(HeaderRules::M2m) => assert_eq!(found, TokenType::M2mToken),
                Some(HeaderRules::OAuth) if !text.starts_with("mt_") => {
                    assert_eq!(found, TokenType::OAuthToken)
                }
                _ => {}
            }
            if text.starts_with("ak_") && kind.is_none() {
                assert_eq!(found, TokenType::ApiKey);
            }
        }
        1 | 2 => {
            let rules = if selector % 4 == 1 { HeaderRules::M2m } else { HeaderRules::OAuth };
            if let Ok(decoded) = decode_as(&text, rules) {
                assert!(text.len() <= clerk_auth::MAX_TOKEN_LEN);
                assert_eq!(text.matches('.').count(), 2);
                assert_eq!(decoded.header.alg.as_deref(), Some("RS256"));
                match rules {
                    HeaderRules::OAuth => assert!(matches!(
                        decoded.header.typ.as_deref(),
                        Some("at+jwt" | "application/at+jwt")
                    )),
                    _ => assert!(matches!(decoded.header.typ.as_deref(), None | Some("JWT"))),
                }
            }
        }
        _ => {
            let token_type = [TokenType::ApiKey, TokenType::M2mToken, TokenType::OAuthToken]
                [usize::from(selector / 4) % 3];
            match parse_verify_answer(token_type, rest, 1_716_883_200_000) {
                Ok(auth) => {
                    assert_eq!(auth.token_type(), token_type);
                    assert!(auth.expiration_ms().is_none_or(|e| e > 1_716_883_200_000));
                }
                Err(rejection) => assert!(matches!(
                    rejection.reason(),
                    Reason::TokenInvalid | Reason::UnexpectedError | Reason::TokenVerificationFailed
                )),
            }
        }
    }
});
