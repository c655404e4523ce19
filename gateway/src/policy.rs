//! What a request needs to pass: the credentials accepted and the requirements they must
//! meet, from a rule ([`crate::rules`]), from the auth URL's query string, and from an Envoy
//! route's `context_extensions` (gRPC `ext_authz`, [`crate::grpc`]), all in the same words.
//!
//! | query parameter (or context extension) / rule field | meaning |
//! |---|---|
//! | `accepts=session_token,api_key` / `accepts = ["session_token", "api_key"]` | the credential types accepted (`any` for all; default `session_token`) |
//! | `role=`, `permission=`, `feature=`, `plan=` / `roles`, `permissions`, `features`, `plans` | Clerk's `has()`: every one listed is required of a session; a machine credential has none (403 `session-required`) |
//! | `reverification=strict` / `reverification` | a recent enough factor verification (`strict_mfa`, `strict`, `moderate`, `lax`) |
//! | `scope=` / `scopes` | every scope listed is required of a machine credential (403 `missing-scope`); a session has no scopes and passes |
//! | `optional=true` / `optional` | a request with no credential at all passes as anonymous (empty identity); a bad one is still refused |
//!
//! A value may list several, separated by commas (scopes also by spaces), and a parameter may
//! repeat. When a rules file is in use, the query string (or the context extensions) can only
//! narrow the matched rule: types accepted by both, the requirements of both, and anonymous
//! only if both allow it.

use std::fmt;

use clerk_auth::{Accepts, Check, Reverification, TokenType};

/// The credentials accepted and the requirements they must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The credential types accepted.
    pub accepts: Accepts,
    /// Roles required of a session.
    pub roles: Vec<String>,
    /// Permissions required of a session.
    pub permissions: Vec<String>,
    /// Billing features required of a session.
    pub features: Vec<String>,
    /// Billing plans required of a session.
    pub plans: Vec<String>,
    /// Factor verifications required of a session (all of them).
    pub reverifications: Vec<Reverification>,
    /// Scopes required of a machine credential.
    pub scopes: Vec<String>,
    /// Whether a request with no credential passes as anonymous.
    pub optional: bool,
    /// Whether no credential is looked at at all (a rule's `public = true`).
    pub public: bool,
}

impl Default for Policy {
    /// Session tokens only, no requirement.
    fn default() -> Self {
        Policy {
            accepts: Accepts::SESSION,
            roles: Vec::new(),
            permissions: Vec::new(),
            features: Vec::new(),
            plans: Vec::new(),
            reverifications: Vec::new(),
            scopes: Vec::new(),
            optional: false,
            public: false,
        }
    }
}

/// A policy that cannot be read: the parameter (or field) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The parameter or field at fault.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for PolicyError {}

fn error(field: &str, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The longest query string read (a policy is a few parameters).
const MAX_QUERY_BYTES: usize = 2048;

impl Policy {
    /// The policy of an auth URL's query string; `None` when it sets nothing. Unknown
    /// parameters are refused (a misspelt `permision=` must not silently allow).
    pub fn from_query(query: &str) -> Result<Option<Policy>, PolicyError> {
        if query.is_empty() {
            return Ok(None);
        }
        if query.len() > MAX_QUERY_BYTES {
            return Err(error(
                "query",
                format!("longer than {MAX_QUERY_BYTES} bytes"),
            ));
        }
        Policy::from_pairs(form_urlencoded::parse(query.as_bytes())).map(Some)
    }

    /// The policy of named values, in the query's words (`accepts`, `permission`, …), from a
    /// query string or from Envoy's per-route `context_extensions`. Unknown names are refused.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Policy, PolicyError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut policy = Policy::default();
        let mut accepts: Option<Vec<String>> = None;
        for (name, value) in pairs {
            let value = value.as_ref();
            let values = || list(value, false);
            match name.as_ref() {
                "accepts" => accepts.get_or_insert_with(Vec::new).extend(values()),
                "role" => policy.roles.extend(values()),
                "permission" => policy.permissions.extend(values()),
                "feature" => policy.features.extend(values()),
                "plan" => policy.plans.extend(values()),
                "scope" => policy.scopes.extend(list(value, true)),
                "reverification" => policy.reverifications.push(reverification(value)?),
                "optional" => policy.optional = boolean("optional", value)?,
                other => {
                    return Err(error(
                        other,
                        "not a policy parameter (accepts, role, permission, feature, plan, \
                         scope, reverification, optional)",
                    ))
                }
            }
        }
        if let Some(accepts) = accepts {
            policy.accepts = parse_accepts(&accepts)?;
        }
        Ok(policy)
    }

    /// This policy narrowed by `other`: the types both accept, the requirements of both,
    /// anonymous only if both allow it, public only if both are.
    pub fn narrowed_by(&self, other: &Policy) -> Policy {
        let both: Vec<TokenType> = self
            .accepts
            .types()
            .filter(|t| other.accepts.accepts(*t))
            .collect();
        let accepts = if both.len() == TokenType::ALL.len() {
            Accepts::ANY
        } else if both.len() == 1 {
            Accepts::only(both[0])
        } else {
            Accepts::of(&both)
        };
        let join = |a: &[String], b: &[String]| {
            let mut all = a.to_vec();
            all.extend(b.iter().filter(|x| !a.contains(x)).cloned());
            all
        };
        Policy {
            accepts,
            roles: join(&self.roles, &other.roles),
            permissions: join(&self.permissions, &other.permissions),
            features: join(&self.features, &other.features),
            plans: join(&self.plans, &other.plans),
            reverifications: {
                let mut all = self.reverifications.clone();
                all.extend(
                    other
                        .reverifications
                        .iter()
                        .filter(|r| !self.reverifications.contains(r)),
                );
                all
            },
            scopes: join(&self.scopes, &other.scopes),
            optional: self.optional && other.optional,
            public: self.public && other.public,
        }
    }

    /// The session requirements as one [`Check`] (all of them), if there are any.
    pub fn check(&self) -> Option<Check> {
        let mut check: Option<Check> = None;
        let mut add = |next: fn(Check, String) -> Check, first: fn(String) -> Check, v: &str| {
            check = Some(match check.take() {
                Some(c) => next(c, v.to_owned()),
                None => first(v.to_owned()),
            });
        };
        for role in &self.roles {
            add(|c, v| c.and_role(v), Check::role, role);
        }
        for permission in &self.permissions {
            add(|c, v| c.and_permission(v), Check::permission, permission);
        }
        for feature in &self.features {
            add(|c, v| c.and_feature(v), Check::feature, feature);
        }
        for plan in &self.plans {
            add(|c, v| c.and_plan(v), Check::plan, plan);
        }
        for &requirement in &self.reverifications {
            check = Some(match check.take() {
                Some(c) => c.and_reverification(requirement),
                None => Check::reverification(requirement),
            });
        }
        check
    }

    /// What it asks for, in words (for `check-policy`).
    pub fn describe(&self) -> String {
        if self.public {
            return "public: no credential is looked at".to_owned();
        }
        let mut parts = vec![format!(
            "accepts {}",
            self.accepts
                .types()
                .map(TokenType::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )];
        for (what, list) in [
            ("role", &self.roles),
            ("permission", &self.permissions),
            ("feature", &self.features),
            ("plan", &self.plans),
            ("scope", &self.scopes),
        ] {
            for item in list {
                parts.push(format!("{what} {item}"));
            }
        }
        for requirement in &self.reverifications {
            parts.push(format!(
                "reverification {} within {} minutes",
                requirement.level().as_str(),
                requirement.after_minutes()
            ));
        }
        if self.optional {
            parts.push("anonymous allowed".to_owned());
        }
        parts.join("; ")
    }
}

/// The items of a comma-separated value (and space-separated, for scopes), trimmed.
fn list(value: &str, spaces: bool) -> impl Iterator<Item = String> + '_ {
    value
        .split(move |c: char| c == ',' || (spaces && c == ' '))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
}

/// The accepted types of `names`: Clerk's type names, or `any`.
pub fn parse_accepts(names: &[String]) -> Result<Accepts, PolicyError> {
    if names.iter().any(|n| n == "any") {
        return Ok(Accepts::ANY);
    }
    let mut types = Vec::new();
    for name in names {
        let t = TokenType::from_name(name).ok_or_else(|| {
            error(
                "accepts",
                format!(
                    "{name:?} is not a token type (session_token, api_key, m2m_token, \
                     oauth_token or any)"
                ),
            )
        })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    match types.as_slice() {
        [] => Err(error("accepts", "names no token type")),
        [one] => Ok(Accepts::only(*one)),
        many => Ok(Accepts::of(many)),
    }
}

/// A reverification preset by Clerk's name.
pub fn reverification(value: &str) -> Result<Reverification, PolicyError> {
    value
        .trim()
        .parse()
        .map_err(|e: clerk_auth::ParseReverificationError| error("reverification", e.to_string()))
}

fn boolean(field: &str, value: &str) -> Result<bool, PolicyError> {
    match value.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => Err(error(field, format!("{other:?} is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_reads_every_parameter() {
        let policy = Policy::from_query(
            "accepts=session_token,api_key&permission=org:notes:read&permission=org:notes:write\
             &role=org:admin&feature=user:export&plan=pro&scope=notes:read%20notes:write\
             &reverification=strict&optional=true",
        )
        .unwrap()
        .unwrap();
        assert!(policy.accepts.accepts(TokenType::SessionToken));
        assert!(policy.accepts.accepts(TokenType::ApiKey));
        assert!(!policy.accepts.accepts(TokenType::M2mToken));
        assert_eq!(policy.permissions, ["org:notes:read", "org:notes:write"]);
        assert_eq!(policy.roles, ["org:admin"]);
        assert_eq!(policy.scopes, ["notes:read", "notes:write"]);
        assert_eq!(policy.reverifications, [Reverification::Strict]);
        assert!(policy.optional);
        assert!(policy.check().is_some());
        assert_eq!(Policy::from_query("").unwrap(), None);
    }

    #[test]
    fn named_values_read_as_the_query_does() {
        let pairs = [
            ("accepts", "session_token,api_key"),
            ("permission", "org:notes:read"),
            ("scope", "notes:read notes:write"),
            ("optional", "true"),
        ];
        let query = "accepts=session_token,api_key&permission=org:notes:read\
                     &scope=notes:read%20notes:write&optional=true";
        assert_eq!(
            Policy::from_pairs(pairs).unwrap(),
            Policy::from_query(query).unwrap().unwrap()
        );
        assert!(Policy::from_pairs([("permision", "org:x:y")]).is_err());
    }

    #[test]
    fn unknown_or_malformed_parameters_are_refused() {
        for bad in [
            "permision=org:x:y",
            "accepts=session",
            "accepts=",
            "reverification=sometimes",
            "optional=yes",
        ] {
            assert!(Policy::from_query(bad).is_err(), "{bad}");
        }
        assert!(Policy::from_query(&"a".repeat(3000)).is_err());
    }

    #[test]
    fn the_query_only_narrows_a_rule() {
        let rule = Policy {
            accepts: Accepts::of(&[TokenType::SessionToken, TokenType::ApiKey]),
            permissions: vec!["org:a:read".into()],
            optional: true,
            ..Policy::default()
        };
        let query = Policy::from_query("accepts=any&permission=org:b:read")
            .unwrap()
            .unwrap();
        let both = rule.narrowed_by(&query);
        assert!(both.accepts.accepts(TokenType::ApiKey));
        assert!(!both.accepts.accepts(TokenType::M2mToken));
        assert_eq!(both.permissions, ["org:a:read", "org:b:read"]);
        assert!(!both.optional, "anonymous only when both allow it");
    }
}
