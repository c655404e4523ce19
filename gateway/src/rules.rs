//! The rules file (`GATEWAY_RULES`): ordered rules of host, path glob and methods, each with
//! a [`Policy`]. The first rule that matches decides; when none does, the `[default]` policy
//! applies if the file has one, else the request is refused (403 `no-matching-rule`).
//!
//! ```toml
//! [[rule]]
//! name = "health checks"
//! paths = ["/healthz"]
//! public = true                      # no credential looked at
//!
//! [[rule]]
//! name = "notes API"
//! hosts = ["api.example.com", "*.api.example.com"]
//! paths = ["/v1/notes", "/v1/notes/**"]
//! methods = ["GET", "HEAD"]
//! accepts = ["session_token", "api_key"]
//! scopes = ["notes:read"]            # of an API key
//!
//! [[rule]]
//! name = "admin"
//! paths = ["/v1/admin/**"]
//! permissions = ["org:admin:manage"]
//! reverification = "strict"
//!
//! [default]                          # optional: without it, no match is a 403
//! accepts = "any"
//! ```
//!
//! A rule without `hosts`, `paths` or `methods` matches any. Globs: `*` stays within a path
//! segment (or a host label), `**` crosses them, `?` is one character, `{a,b}` either. Hosts
//! are compared in lower case and without the port. The file is checked at startup: an error
//! names the rule (`rule 2 ("notes API"): methods: …`) and the gateway does not start.

use std::fmt;
use std::path::Path;

use clerk_auth::Check;
use globset::{Glob, GlobBuilder, GlobMatcher};
use http::Method;
use serde::Deserialize;

use crate::original::Original;
use crate::policy::{parse_accepts, reverification, Policy, PolicyError};

/// The largest rules file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The rules of a file, checked.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    default: Option<Policy>,
}

/// One rule: where it applies and its policy.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (`rule N` when the file gives none).
    pub name: String,
    /// Its position in the file, from 1.
    pub index: usize,
    hosts: Vec<(String, GlobMatcher)>,
    paths: Vec<(String, GlobMatcher)>,
    methods: Vec<Method>,
    /// What it asks of the request.
    pub policy: Policy,
    /// The policy's session requirements, built once.
    check: Option<Check>,
}

/// What the rules decide for a request.
#[derive(Debug, Clone, Copy)]
pub enum Matched<'a> {
    /// This rule matched.
    Rule(&'a Rule),
    /// No rule matched; the `[default]` policy applies.
    Default(&'a Policy),
    /// No rule matched and there is no default.
    Nothing,
}

impl Matched<'_> {
    /// The policy to apply, if any.
    pub fn policy(&self) -> Option<&Policy> {
        match self {
            Matched::Rule(rule) => Some(&rule.policy),
            Matched::Default(policy) => Some(policy),
            Matched::Nothing => None,
        }
    }

    /// The rule's name, `default`, or `none`, for logs.
    pub fn name(&self) -> &str {
        match self {
            Matched::Rule(rule) => &rule.name,
            Matched::Default(_) => "default",
            Matched::Nothing => "none",
        }
    }
}

/// A rules file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError(pub String);

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RulesError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RuleFile>,
    default: Option<RuleFile>,
}

/// A rule as written; `[default]` is one without `name`, `hosts`, `paths` and `methods`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    methods: Vec<String>,
    accepts: Option<OneOrMany>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    plans: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    reverification: Option<OneOrMany>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    public: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

impl RuleFile {
    fn policy(self) -> Result<Policy, PolicyError> {
        let accepts_given = self.accepts.is_some();
        let accepts = match self.accepts {
            Some(names) => parse_accepts(&names.into_vec())?,
            None => Policy::default().accepts,
        };
        let reverifications = self
            .reverification
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|preset| reverification(preset))
            .collect::<Result<Vec<_>, _>>()?;
        for (field, list) in [
            ("roles", &self.roles),
            ("permissions", &self.permissions),
            ("features", &self.features),
            ("plans", &self.plans),
            ("scopes", &self.scopes),
        ] {
            if let Some(bad) = list
                .iter()
                .find(|item| item.trim().is_empty() || item.contains([',', ' ']))
            {
                return Err(PolicyError {
                    field: field.to_owned(),
                    message: format!("{bad:?} is not one name (one per list item)"),
                });
            }
        }
        let policy = Policy {
            accepts,
            roles: self.roles,
            permissions: self.permissions,
            features: self.features,
            plans: self.plans,
            reverifications,
            scopes: self.scopes,
            optional: self.optional,
            public: self.public,
        };
        if policy.public
            && (policy.check().is_some()
                || !policy.scopes.is_empty()
                || accepts_given
                || policy.optional)
        {
            return Err(PolicyError {
                field: "public".to_owned(),
                message: "a public rule looks at no credential: it cannot also have \
                          accepts or requirements"
                    .to_owned(),
            });
        }
        Ok(policy)
    }
}

impl Rules {
    /// Reads and checks the rules file at `path`.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| RulesError(format!("cannot read {shown}: {e}")))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(RulesError(format!(
                "{shown} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| RulesError(format!("cannot read {shown}: {e}")))?;
        Rules::parse(&text).map_err(|e| RulesError(format!("{shown}: {e}")))
    }

    /// Reads and checks rules from TOML text.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let file: File = toml::from_str(text).map_err(|e| RulesError(e.to_string()))?;
        let mut rules = Vec::with_capacity(file.rule.len());
        for (i, rule) in file.rule.into_iter().enumerate() {
            let index = i + 1;
            let name = rule
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("rule {index}"));
            let at = |field: &str, message: String| {
                RulesError(format!("rule {index} ({name:?}): {field}: {message}"))
            };
            let hosts = rule
                .hosts
                .iter()
                .map(|host| {
                    let lower = host.trim().to_ascii_lowercase();
                    glob(&lower, '.')
                        .map(|m| (lower.clone(), m))
                        .map_err(|e| at("hosts", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let paths = rule
                .paths
                .iter()
                .map(|path| {
                    if !path.starts_with('/') {
                        return Err(at("paths", format!("{path:?} does not start with /")));
                    }
                    glob(path, '/')
                        .map(|m| (path.clone(), m))
                        .map_err(|e| at("paths", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let methods = rule
                .methods
                .iter()
                .map(|method| {
                    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(at(
                            "methods",
                            format!("{method:?} is not a method in upper case (GET, POST, …)"),
                        ));
                    }
                    Method::from_bytes(method.as_bytes())
                        .map_err(|_| at("methods", format!("{method:?} is not a method")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let policy = rule.policy().map_err(|e| at(&e.field, e.message))?;
            rules.push(Rule {
                name,
                index,
                hosts,
                paths,
                methods,
                check: policy.check(),
                policy,
            });
        }
        let default = file
            .default
            .map(|default| {
                if default.name.is_some()
                    || !default.hosts.is_empty()
                    || !default.paths.is_empty()
                    || !default.methods.is_empty()
                {
                    return Err(RulesError(
                        "[default]: applies when no rule matches: it has no name, hosts, \
                         paths or methods"
                            .to_owned(),
                    ));
                }
                default
                    .policy()
                    .map_err(|e| RulesError(format!("[default]: {}: {}", e.field, e.message)))
            })
            .transpose()?;
        Ok(Rules { rules, default })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What decides `original`: the first rule that matches, else the default.
    pub fn matching(&self, original: &Original) -> Matched<'_> {
        match self.rules.iter().find(|r| r.mismatch(original).is_none()) {
            Some(rule) => Matched::Rule(rule),
            None => match &self.default {
                Some(policy) => Matched::Default(policy),
                None => Matched::Nothing,
            },
        }
    }

    /// Whether any rule looks at the method, host or path (so that the proxy must send them).
    pub fn needs(&self) -> (bool, bool, bool) {
        let any = |f: fn(&Rule) -> bool| self.rules.iter().any(f);
        (
            any(|r| !r.methods.is_empty()),
            any(|r| !r.hosts.is_empty()),
            any(|r| !r.paths.is_empty()),
        )
    }

    /// Explains, rule by rule, what decides `original` (`check-policy`).
    pub fn explain(&self, original: &Original) -> String {
        let mut out = String::new();
        for rule in &self.rules {
            match rule.mismatch(original) {
                Some(why) => out.push_str(&format!(
                    "rule {} ({:?}): no match: {why}\n",
                    rule.index, rule.name
                )),
                None => {
                    out.push_str(&format!(
                        "rule {} ({:?}): MATCH: {}\n  policy: {}\n",
                        rule.index,
                        rule.name,
                        rule.why_match(),
                        rule.policy.describe()
                    ));
                    return out;
                }
            }
        }
        match &self.default {
            Some(policy) => out.push_str(&format!(
                "no rule matches: [default] applies\n  policy: {}\n",
                policy.describe()
            )),
            None => {
                out.push_str("no rule matches and there is no [default]: 403 no-matching-rule\n")
            }
        }
        out
    }
}

impl Rule {
    /// The policy's session requirements as one [`Check`], built when the file was read.
    pub fn check(&self) -> Option<&Check> {
        self.check.as_ref()
    }

    /// Why this rule does not match `original`, or `None` when it does.
    fn mismatch(&self, original: &Original) -> Option<String> {
        if !self.methods.is_empty() {
            match &original.method {
                Some(method) if self.methods.contains(method) => {}
                Some(method) => {
                    return Some(format!("method {method} is not in {:?}", self.methods))
                }
                None => return Some("the proxy sent no method".to_owned()),
            }
        }
        if !self.hosts.is_empty() {
            match &original.host {
                Some(host) if self.hosts.iter().any(|(_, m)| m.is_match(labels(host))) => {}
                Some(host) => {
                    return Some(format!(
                        "host {host} matches none of {:?}",
                        self.hosts.iter().map(|(g, _)| g).collect::<Vec<_>>()
                    ))
                }
                None => return Some("the proxy sent no host".to_owned()),
            }
        }
        if !self.paths.is_empty() {
            match &original.path {
                Some(path) if self.paths.iter().any(|(_, m)| m.is_match(path)) => {}
                Some(path) => {
                    return Some(format!(
                        "path {path} matches none of {:?}",
                        self.paths.iter().map(|(g, _)| g).collect::<Vec<_>>()
                    ))
                }
                None => return Some("the proxy sent no path".to_owned()),
            }
        }
        None
    }

    fn why_match(&self) -> String {
        let list = |items: Vec<&String>| {
            if items.is_empty() {
                "any".to_owned()
            } else {
                format!("{items:?}")
            }
        };
        format!(
            "methods {}, hosts {}, paths {}",
            if self.methods.is_empty() {
                "any".to_owned()
            } else {
                format!("{:?}", self.methods)
            },
            list(self.hosts.iter().map(|(g, _)| g).collect()),
            list(self.paths.iter().map(|(g, _)| g).collect()),
        )
    }
}

/// A glob whose `*` stops at `separator`: a path's `/`, or a host's `.` (globset separates
/// on `/` only, so a host's labels are matched as path segments: see [`labels`]), so that
/// `*.example.com` matches `api.example.com` but not `a.b.example.com`.
fn glob(pattern: &str, separator: char) -> Result<GlobMatcher, String> {
    if pattern.is_empty() {
        return Err("an empty pattern".to_owned());
    }
    let pattern = if separator == '/' {
        pattern.to_owned()
    } else {
        labels(pattern)
    };
    let glob: Glob = GlobBuilder::new(&pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| e.kind().to_string())?;
    Ok(glob.compile_matcher())
}

/// A host as a path of its labels: `api.example.com` → `api/example/com`.
fn labels(host: &str) -> String {
    host.replace('.', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[rule]]
name = "health"
paths = ["/healthz"]
public = true

[[rule]]
name = "notes"
hosts = ["api.example.com", "*.tenants.example.com"]
paths = ["/v1/notes", "/v1/notes/**"]
methods = ["GET", "HEAD"]
accepts = ["session_token", "api_key"]
scopes = ["notes:read"]

[[rule]]
name = "admin"
paths = ["/v1/admin/**"]
permissions = ["org:admin:manage"]
reverification = "strict"
"#;

    fn at(method: &str, host: &str, path: &str) -> Original {
        Original::new(Method::from_bytes(method.as_bytes()).unwrap(), host, path).unwrap()
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = Rules::parse(FILE).unwrap();
        let name = |o: Original| rules.matching(&o).name().to_owned();
        assert_eq!(name(at("GET", "x", "/healthz")), "health");
        assert_eq!(
            name(at("GET", "API.example.com:443", "/v1/notes/7")),
            "notes"
        );
        assert_eq!(
            name(at("GET", "a.tenants.example.com", "/v1/notes")),
            "notes"
        );
        assert_eq!(
            name(at("GET", "a.b.tenants.example.com", "/v1/notes")),
            "none"
        );
        assert_eq!(name(at("POST", "api.example.com", "/v1/notes")), "none");
        assert_eq!(name(at("DELETE", "any", "/v1/admin/users/1")), "admin");
        assert_eq!(name(at("GET", "any", "/v1/adminx")), "none");
        let notes = rules.rules()[1].policy.clone();
        assert_eq!(notes.scopes, ["notes:read"]);
    }

    #[test]
    fn a_default_applies_when_no_rule_matches() {
        let rules = Rules::parse("[default]\naccepts = \"any\"\n").unwrap();
        assert_eq!(rules.matching(&at("GET", "h", "/x")).name(), "default");
    }

    #[test]
    fn errors_name_the_rule_and_the_field() {
        for (text, expected) in [
            (
                "[[rule]]\nname = \"a\"\nmethods = [\"get\"]",
                "rule 1 (\"a\"): methods",
            ),
            (
                "[[rule]]\n[[rule]]\npaths = [\"v1\"]",
                "rule 2 (\"rule 2\"): paths",
            ),
            (
                "[[rule]]\naccepts = [\"session\"]",
                "rule 1 (\"rule 1\"): accepts",
            ),
            ("[[rule]]\nreverification = \"often\"", "reverification"),
            ("[[rule]]\npublic = true\npermissions = [\"x\"]", "public"),
            ("[[rule]]\npermissions = [\"a,b\"]", "permissions"),
            ("[[rule]]\npaths = [\"/{a\"]", "paths"),
            ("[[rule]]\npermision = [\"x\"]", "permision"),
            ("[defaults]\naccepts = \"any\"", "defaults"),
        ] {
            let err = Rules::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn explain_says_why_each_rule_does_not_match() {
        let rules = Rules::parse(FILE).unwrap();
        let text = rules.explain(&at("POST", "api.example.com", "/v1/notes"));
        assert!(
            text.contains("rule 1 (\"health\"): no match: path /v1/notes"),
            "{text}"
        );
        assert!(
            text.contains("rule 2 (\"notes\"): no match: method POST"),
            "{text}"
        );
        assert!(text.contains("403 no-matching-rule"), "{text}");
        let text = rules.explain(&at("GET", "api.example.com", "/v1/notes"));
        assert!(text.contains("MATCH"), "{text}");
        assert!(text.contains("scope notes:read"), "{text}");
    }
}
