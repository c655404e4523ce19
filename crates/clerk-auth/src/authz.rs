//! Authorization checks over session claims: Clerk's `has()` (clerk-spec §4.10).
//!
//! A [`Check`] names what a request needs (an organization role or permission, a billing
//! feature or plan, a recent reverification) and [`SessionClaims::has`] answers it from the
//! token alone, with the semantics of Clerk's own SDK: every requested requirement must hold,
//! and anything missing or malformed in the token denies.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::claims::{
    Entitlement, EntitlementScope, FactorVerificationAge, MalformedClaim, SessionClaims,
};

/// What a request needs, for [`SessionClaims::has`].
///
/// Start from one requirement and add more with the `and_*` methods; every requirement must
/// hold. The requirements fall into three dimensions, as in Clerk's SDK:
///
/// - **organization**: [`role`](Self::role) and [`permission`](Self::permission), checked
///   against the active organization, so they fail without one;
/// - **billing**: [`feature`](Self::feature) and [`plan`](Self::plan), checked against the
///   `fea` and `pla` claims;
/// - **reverification**: [`reverification`](Self::reverification), checked against the `fva`
///   claim.
///
/// Clerk's `has()` takes at most one value of each kind; a `Check` may hold several (two
/// permissions, say), and then all of them must hold. An empty check (`Check::default()`)
/// asks for nothing and is never satisfied.
///
/// **Any of**: [`Check::any`] (or [`or`](Self::or)) holds when at least one of its
/// alternatives does, and [`and_any`](Self::and_any) adds such a group to a check; every group
/// must then have an alternative that holds, as well as every requirement. Clerk's `has()`
/// cannot say "any of"; an application writes `has(a) || has(b)`, which is what this does.
///
/// When a check fails, [`Check::first_unmet`] says which requirement was not met.
///
/// Names are `&'static str` or `String` (anything `Into<Cow<'static, str>>`), so checks built
/// from literals do not allocate their names.
///
/// ```
/// use clerk_auth::{Check, Reverification};
///
/// // An admin of the active organization who verified a second factor in the last 10 minutes.
/// let destructive = Check::role("org:admin").and_reverification(Reverification::Strict);
///
/// // The organization's permission to delete notes, on a plan that has the feature.
/// let delete_notes = Check::permission("org:notes:delete").and_feature("o:notes");
///
/// // Either the permission to write notes, or the admin role.
/// let write_notes = Check::permission("org:notes:write").or(Check::role("org:admin"));
/// # let _ = (destructive, delete_notes, write_notes);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[must_use = "a Check does nothing until it is passed to SessionClaims::has"]
pub struct Check {
    roles: Vec<Cow<'static, str>>,
    permissions: Vec<Cow<'static, str>>,
    features: Vec<Cow<'static, str>>,
    plans: Vec<Cow<'static, str>>,
    reverifications: Vec<Reverification>,
    /// Groups of alternatives: each group needs one alternative that holds.
    any_of: Vec<Vec<Check>>,
}

impl Check {
    /// The roles this check requires.
    pub fn roles(&self) -> &[Cow<'static, str>] {
        &self.roles
    }

    /// The permissions this check requires.
    pub fn permissions(&self) -> &[Cow<'static, str>] {
        &self.permissions
    }

    /// The features this check requires.
    pub fn features(&self) -> &[Cow<'static, str>] {
        &self.features
    }

    /// The plans this check requires.
    pub fn plans(&self) -> &[Cow<'static, str>] {
        &self.plans
    }

    /// The reverification requirements of this check.
    pub fn reverifications(&self) -> &[Reverification] {
        &self.reverifications
    }

    /// The "any of" groups of this check: each needs one of its alternatives to hold.
    pub fn any_of(&self) -> &[Vec<Check>] {
        &self.any_of
    }

    /// Holds when at least one of `alternatives` holds; with no alternatives, never.
    ///
    /// ```
    /// use clerk_auth::Check;
    ///
    /// let list_users = Check::any([Check::permission("org:users:read"), Check::role("org:admin")]);
    /// # let _ = list_users;
    /// ```
    pub fn any(alternatives: impl IntoIterator<Item = Check>) -> Check {
        Check::default().and_any(alternatives)
    }

    /// Holds when this check or `other` holds: `Check::any([self, other])`, flattened when this
    /// check is itself only an "any of" group.
    pub fn or(self, other: Check) -> Check {
        if self.is_only_any_of() {
            let mut check = self;
            check.any_of[0].push(other);
            check
        } else {
            Check::any([self, other])
        }
    }

    /// Also requires one of `alternatives` to hold.
    pub fn and_any(mut self, alternatives: impl IntoIterator<Item = Check>) -> Check {
        self.any_of.push(alternatives.into_iter().collect());
        self
    }

    /// True when the check asks for a role, permission, feature, plan or reverification of its
    /// own (not counting its "any of" groups).
    fn has_requirements(&self) -> bool {
        !(self.roles.is_empty()
            && self.permissions.is_empty()
            && self.features.is_empty()
            && self.plans.is_empty()
            && self.reverifications.is_empty())
    }

    /// A check that is exactly one "any of" group, and nothing else.
    fn is_only_any_of(&self) -> bool {
        !self.has_requirements() && self.any_of.len() == 1
    }

    /// The first requirement of this check that `claims` does not meet, or `None` when
    /// `claims.has(self)`. For a refusal that says why (clerk-axum's 403 body).
    ///
    /// Requirements are tried in the order roles, permissions, features, plans,
    /// reverifications, then the "any of" groups; a group none of whose alternatives holds is
    /// [`Unmet::AnyOf`], listing what each alternative lacks.
    ///
    /// ```
    /// use clerk_auth::{Check, SessionClaims, Unmet};
    ///
    /// fn why_not(claims: &SessionClaims) -> Option<&'static str> {
    ///     let check = Check::permission("org:notes:write").or(Check::role("org:admin"));
    ///     check.first_unmet(claims).map(|unmet| unmet.reason())
    /// }
    /// ```
    pub fn first_unmet(&self, claims: &SessionClaims) -> Option<Unmet> {
        if claims.has(self) {
            return None;
        }
        if claims.user_id().is_empty() || (!self.has_requirements() && self.any_of.is_empty()) {
            return Some(Unmet::Nothing);
        }
        let fails = |single: Check| !claims.has(&single);
        for role in &self.roles {
            if fails(Check::role(role.clone())) {
                return Some(Unmet::Role(role.clone()));
            }
        }
        for permission in &self.permissions {
            if fails(Check::permission(permission.clone())) {
                return Some(Unmet::Permission(permission.clone()));
            }
        }
        for feature in &self.features {
            if fails(Check::feature(feature.clone())) {
                return Some(Unmet::Feature(feature.clone()));
            }
        }
        for plan in &self.plans {
            if fails(Check::plan(plan.clone())) {
                return Some(Unmet::Plan(plan.clone()));
            }
        }
        for requirement in &self.reverifications {
            if fails(Check::reverification(*requirement)) {
                return Some(Unmet::Reverification(*requirement));
            }
        }
        for group in &self.any_of {
            if !group.iter().any(|alternative| claims.has(alternative)) {
                let unmet = group
                    .iter()
                    .map(|alternative| alternative.first_unmet(claims).unwrap_or(Unmet::Nothing))
                    .collect();
                return Some(Unmet::AnyOf(unmet));
            }
        }
        Some(Unmet::Nothing)
    }

    /// Requires this role in the active organization, e.g. `org:admin`.
    ///
    /// Roles compare without regard to their `org:` prefix: `admin` and `org:admin` are the
    /// same role, so older v1 tokens carrying a bare `admin` match too.
    pub fn role(role: impl Into<Cow<'static, str>>) -> Check {
        Check::default().and_role(role)
    }

    /// Requires this permission in the active organization, e.g. `org:notes:delete`.
    ///
    /// The `org:` prefix may be left out: `notes:delete` asks for `org:notes:delete`. The
    /// permission is then looked up exactly in [`SessionClaims::org_permissions`].
    pub fn permission(permission: impl Into<Cow<'static, str>>) -> Check {
        Check::default().and_permission(permission)
    }

    /// Requires this billing feature (the `fea` claim).
    ///
    /// `scope:name` looks in one list: `o:`, `org:` or `organization:` the active
    /// organization's features, `u:` or `user:` the user's; any other scope fails. A bare
    /// `name` matches either list.
    pub fn feature(feature: impl Into<Cow<'static, str>>) -> Check {
        Check::default().and_feature(feature)
    }

    /// Requires this billing plan (the `pla` claim), written like a [`feature`](Self::feature),
    /// e.g. `u:pro` or `pro`.
    pub fn plan(plan: impl Into<Cow<'static, str>>) -> Check {
        Check::default().and_plan(plan)
    }

    /// Requires the session's factors to have been verified recently enough.
    pub fn reverification(requirement: Reverification) -> Check {
        Check::default().and_reverification(requirement)
    }

    /// Also requires this role; see [`role`](Self::role).
    pub fn and_role(mut self, role: impl Into<Cow<'static, str>>) -> Check {
        self.roles.push(role.into());
        self
    }

    /// Also requires this permission; see [`permission`](Self::permission).
    pub fn and_permission(mut self, permission: impl Into<Cow<'static, str>>) -> Check {
        self.permissions.push(permission.into());
        self
    }

    /// Also requires this feature; see [`feature`](Self::feature).
    pub fn and_feature(mut self, feature: impl Into<Cow<'static, str>>) -> Check {
        self.features.push(feature.into());
        self
    }

    /// Also requires this plan; see [`plan`](Self::plan).
    pub fn and_plan(mut self, plan: impl Into<Cow<'static, str>>) -> Check {
        self.plans.push(plan.into());
        self
    }

    /// Also requires this reverification; see [`reverification`](Self::reverification).
    pub fn and_reverification(mut self, requirement: Reverification) -> Check {
        self.reverifications.push(requirement);
        self
    }
}

/// How recently the session's factors must have been verified, for sensitive actions.
///
/// The presets are Clerk's. They parse from Clerk's names:
///
/// ```
/// use clerk_auth::Reverification;
/// use clerk_auth::FactorLevel;
///
/// let strict: Reverification = "strict".parse()?;
/// assert_eq!(strict, Reverification::Strict);
/// assert_eq!(strict.level(), FactorLevel::SecondFactor);
/// assert_eq!(strict.after_minutes(), 10);
/// # Ok::<(), clerk_auth::ParseReverificationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reverification {
    /// `strict_mfa`: both factors within the last 10 minutes (the first alone if the user has
    /// no second factor).
    StrictMfa,
    /// `strict`: the second factor within the last 10 minutes (the first if there is no second).
    Strict,
    /// `moderate`: the second factor within the last hour (the first if there is no second).
    Moderate,
    /// `lax`: the second factor within the last day (the first if there is no second).
    Lax,
    /// A custom requirement. `after_minutes` must be greater than 0, or every check with it
    /// fails.
    Custom {
        /// Which factors must be fresh.
        level: FactorLevel,
        /// How many minutes a verification stays fresh: an age must be strictly less.
        after_minutes: i64,
    },
}

impl Reverification {
    /// Which factors must be fresh.
    pub const fn level(self) -> FactorLevel {
        match self {
            Reverification::StrictMfa => FactorLevel::MultiFactor,
            Reverification::Strict | Reverification::Moderate | Reverification::Lax => {
                FactorLevel::SecondFactor
            }
            Reverification::Custom { level, .. } => level,
        }
    }

    /// How many minutes a verification stays fresh.
    pub const fn after_minutes(self) -> i64 {
        match self {
            Reverification::StrictMfa | Reverification::Strict => 10,
            Reverification::Moderate => 60,
            Reverification::Lax => 1_440,
            Reverification::Custom { after_minutes, .. } => after_minutes,
        }
    }

    /// Clerk's `checkReverificationAuthorization`, for well-formed factor ages.
    fn is_satisfied_by(self, ages: FactorVerificationAge) -> bool {
        let after_minutes = self.after_minutes();
        if after_minutes <= 0 {
            return false;
        }
        let fresh = |age: Option<f64>| age.is_some_and(|age| (after_minutes as f64) > age);
        let (first, second) = (ages.first_factor_minutes(), ages.second_factor_minutes());
        match (self.level(), first, second) {
            (_, None, None) => false,
            (FactorLevel::FirstFactor, first, _) => fresh(first),
            // Without a second factor, both levels downgrade to the first.
            (FactorLevel::SecondFactor | FactorLevel::MultiFactor, first, None) => fresh(first),
            (FactorLevel::SecondFactor, _, second) => fresh(second),
            (FactorLevel::MultiFactor, None, Some(_)) => false,
            (FactorLevel::MultiFactor, first, second) => fresh(first) && fresh(second),
        }
    }
}

impl FromStr for Reverification {
    type Err = ParseReverificationError;

    /// Parses a preset by Clerk's name: `strict_mfa`, `strict`, `moderate` or `lax`.
    fn from_str(preset: &str) -> Result<Reverification, ParseReverificationError> {
        match preset {
            "strict_mfa" => Ok(Reverification::StrictMfa),
            "strict" => Ok(Reverification::Strict),
            "moderate" => Ok(Reverification::Moderate),
            "lax" => Ok(Reverification::Lax),
            _ => Err(ParseReverificationError {
                expected: "a reverification preset (strict_mfa, strict, moderate or lax)",
            }),
        }
    }
}

/// Which factors a [`Reverification`] requires to be fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorLevel {
    /// `first_factor`: the first factor (password, email code, ...).
    FirstFactor,
    /// `second_factor`: the second factor, or the first if the user has no second factor.
    SecondFactor,
    /// `multi_factor`: both factors, or the first alone if the user has no second factor.
    MultiFactor,
}

impl FactorLevel {
    /// The level as Clerk spells it, e.g. `second_factor`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FactorLevel::FirstFactor => "first_factor",
            FactorLevel::SecondFactor => "second_factor",
            FactorLevel::MultiFactor => "multi_factor",
        }
    }
}

impl FromStr for FactorLevel {
    type Err = ParseReverificationError;

    /// Parses Clerk's name: `first_factor`, `second_factor` or `multi_factor`.
    fn from_str(level: &str) -> Result<FactorLevel, ParseReverificationError> {
        match level {
            "first_factor" => Ok(FactorLevel::FirstFactor),
            "second_factor" => Ok(FactorLevel::SecondFactor),
            "multi_factor" => Ok(FactorLevel::MultiFactor),
            _ => Err(ParseReverificationError {
                expected: "a factor level (first_factor, second_factor or multi_factor)",
            }),
        }
    }
}

/// A string that names no [`Reverification`] preset or [`FactorLevel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseReverificationError {
    expected: &'static str,
}

impl fmt::Display for ParseReverificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.expected)
    }
}

impl std::error::Error for ParseReverificationError {}

/// The requirement of a [`Check`] that a session does not meet: see [`Check::first_unmet`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmet {
    /// This role in the active organization (or there is no active organization).
    Role(Cow<'static, str>),
    /// This permission in the active organization (or there is no active organization).
    Permission(Cow<'static, str>),
    /// This billing feature.
    Feature(Cow<'static, str>),
    /// This billing plan.
    Plan(Cow<'static, str>),
    /// A recent enough factor verification.
    Reverification(Reverification),
    /// None of the alternatives of an "any of" group holds: what each one lacks, in order.
    AnyOf(Vec<Unmet>),
    /// The check asks for nothing (an empty check is never satisfied), or the session has no
    /// user.
    Nothing,
}

impl Unmet {
    /// A stable, machine-readable reason: `missing-role`, `missing-permission`,
    /// `missing-feature`, `missing-plan`, `reverification-required`, or `forbidden` for
    /// [`Unmet::Nothing`]. An [`Unmet::AnyOf`] has the reason of its first alternative, so a
    /// check written `permission or role` is refused as `missing-permission`.
    pub fn reason(&self) -> &'static str {
        match self {
            Unmet::Role(_) => "missing-role",
            Unmet::Permission(_) => "missing-permission",
            Unmet::Feature(_) => "missing-feature",
            Unmet::Plan(_) => "missing-plan",
            Unmet::Reverification(_) => "reverification-required",
            Unmet::AnyOf(alternatives) => alternatives.first().map_or("forbidden", Unmet::reason),
            Unmet::Nothing => "forbidden",
        }
    }

    /// The reverification this refusal asks for, when it is one (the first found in an
    /// [`Unmet::AnyOf`]): Clerk's frontend prompts the user for it.
    pub fn reverification(&self) -> Option<Reverification> {
        match self {
            Unmet::Reverification(requirement) => Some(*requirement),
            Unmet::AnyOf(alternatives) => alternatives.first().and_then(Unmet::reverification),
            _ => None,
        }
    }

    /// What is missing, as a phrase: `the role "org:admin" in the active organization`.
    fn describe(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmet::Role(role) => write!(out, "the role {role:?} in the active organization"),
            Unmet::Permission(permission) => {
                write!(
                    out,
                    "the permission {permission:?} in the active organization"
                )
            }
            Unmet::Feature(feature) => write!(out, "the feature {feature:?}"),
            Unmet::Plan(plan) => write!(out, "the plan {plan:?}"),
            Unmet::Reverification(requirement) => write!(
                out,
                "a recent verification ({} within {} minutes)",
                requirement.level().as_str(),
                requirement.after_minutes()
            ),
            Unmet::AnyOf(alternatives) => {
                for (i, alternative) in alternatives.iter().enumerate() {
                    if i > 0 {
                        out.write_str(" or ")?;
                    }
                    alternative.describe(out)?;
                }
                Ok(())
            }
            Unmet::Nothing => out.write_str("a permission no session has"),
        }
    }
}

impl fmt::Display for Unmet {
    /// A sentence for a refusal's message, e.g. `This action requires the permission
    /// "org:notes:write" in the active organization or the role "org:admin" in the active
    /// organization.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            _ if self.is_empty_group() => {
                f.write_str("This action is not allowed for this session.")
            }
            _ => {
                f.write_str("This action requires ")?;
                self.describe(f)?;
                f.write_str(".")
            }
        }
    }
}

impl Unmet {
    fn is_empty_group(&self) -> bool {
        match self {
            Unmet::Nothing => true,
            Unmet::AnyOf(alternatives) => alternatives.iter().all(Unmet::is_empty_group),
            _ => false,
        }
    }
}

impl SessionClaims {
    /// Whether the session satisfies every requirement of `check`: Clerk's `has()`, and
    /// every "any of" group of it ([`Check::any`]).
    ///
    /// Each dimension of the check (organization, billing, reverification) passes, fails, or
    /// is skipped when the check asks nothing of it. The answer is `true` only if at least one
    /// dimension passes and none fails, so an empty check is never satisfied. Claims the check
    /// needs but the token lacks or carries malformed (no active organization, no `fea`, a
    /// `fva` that is not two ages) fail.
    ///
    /// ```
    /// use clerk_auth::{Check, Reverification, SessionClaims};
    ///
    /// fn may_delete_notes(claims: &SessionClaims) -> bool {
    ///     claims.has(&Check::permission("org:notes:delete").and_reverification(Reverification::Strict))
    /// }
    /// ```
    pub fn has(&self, check: &Check) -> bool {
        if self.user_id().is_empty() {
            return false;
        }
        let requirements_hold = if check.has_requirements() {
            let verdicts = [
                org_verdict(self, check),
                billing_verdict(self, check),
                reverification_verdict(self, check),
            ];
            verdicts.contains(&Verdict::Pass) && !verdicts.contains(&Verdict::Fail)
        } else {
            // Nothing of its own: only "any of" groups, which must exist.
            !check.any_of.is_empty()
        };
        requirements_hold
            && check
                .any_of
                .iter()
                .all(|group| group.iter().any(|alternative| self.has(alternative)))
    }
}

/// One dimension's answer to a [`Check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    /// The check asks nothing of this dimension.
    Skip,
}

impl Verdict {
    fn asked(asked: bool, passes: impl FnOnce() -> bool) -> Verdict {
        if !asked {
            Verdict::Skip
        } else if passes() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

fn org_verdict(claims: &SessionClaims, check: &Check) -> Verdict {
    Verdict::asked(
        !check.roles.is_empty() || !check.permissions.is_empty(),
        || {
            claims.org_id().is_some_and(|org| !org.is_empty())
                && check.roles.iter().all(|role| {
                    claims.org_role().is_some_and(|held| {
                        !held.is_empty() && without_org_prefix(held) == without_org_prefix(role)
                    })
                })
                && check.permissions.iter().all(|permission| {
                    let wanted = without_org_prefix(permission);
                    claims
                        .org_permissions()
                        .iter()
                        .any(|held| held.strip_prefix("org:") == Some(wanted))
                })
        },
    )
}

fn billing_verdict(claims: &SessionClaims, check: &Check) -> Verdict {
    Verdict::asked(
        !check.features.is_empty() || !check.plans.is_empty(),
        || {
            check
                .features
                .iter()
                .all(|feature| is_entitled(claims.feature_entitlements(), feature))
                && check
                    .plans
                    .iter()
                    .all(|plan| is_entitled(claims.plan_entitlements(), plan))
        },
    )
}

fn reverification_verdict(claims: &SessionClaims, check: &Check) -> Verdict {
    Verdict::asked(!check.reverifications.is_empty(), || {
        claims.factor_verification_age().is_some_and(|ages| {
            check
                .reverifications
                .iter()
                .all(|requirement| requirement.is_satisfied_by(ages))
        })
    })
}

/// Clerk's `prefixWithOrg` comparison: `^(org:)*` stands for one `org:`, so comparing what
/// follows the prefixes is comparing the prefixed forms.
fn without_org_prefix(name: &str) -> &str {
    name.trim_start_matches("org:")
}

/// Clerk's `checkForFeatureOrPlan`: whether the claim lists the requested `scope:id` or `id`.
fn is_entitled(claim: Result<&[Entitlement], MalformedClaim>, requested: &str) -> bool {
    // A malformed claim makes Clerk's `splitByScope` throw, and the check fail.
    let Ok(entitlements) = claim else {
        return false;
    };
    let Some((scope, rest)) = requested.split_once(':') else {
        return entitlements.iter().any(|e| e.name() == requested);
    };
    let in_list: fn(EntitlementScope) -> bool = match scope {
        "o" | "org" | "organization" => EntitlementScope::includes_org,
        "u" | "user" => EntitlementScope::includes_user,
        _ => return false,
    };
    // As in Clerk, the id ends at a second colon, and an empty id stands for the scope itself.
    let id = rest
        .split(':')
        .next()
        .filter(|id| !id.is_empty())
        .unwrap_or(scope);
    entitlements
        .iter()
        .any(|e| in_list(e.scope()) && e.name() == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::test_claims as claims;
    use serde_json::{json, Value};

    /// The shape of most of Clerk's authorization.spec.ts fixtures: an admin of `org_123`.
    fn org_admin(permissions: &[&str], features: &str, plans: &str, fva: Value) -> SessionClaims {
        claims(json!({
            "org_id": "org_123",
            "org_role": "org:admin",
            "org_permissions": permissions,
            "fea": features,
            "pla": plans,
            "fva": fva,
        }))
    }

    /// A session with no active organization and these factor ages.
    fn no_org(fva: Value) -> SessionClaims {
        claims(json!({ "fva": fva }))
    }

    fn custom(level: FactorLevel, after_minutes: i64) -> Reverification {
        Reverification::Custom {
            level,
            after_minutes,
        }
    }

    #[test]
    fn parses_features() {
        let claims = claims(json!({
            "org_id": "org_123",
            "org_role": "admin",
            "org_permissions": ["org:read"],
            "fea": "o:reservations,u:dashboard",
            "pla": "free_user,plus_user",
            "fva": [1000, 2000],
        }));
        for feature in [
            "o:reservations",
            "org:reservations",
            "organization:reservations",
            "reservations",
            "u:dashboard",
            "user:dashboard",
            "dashboard",
        ] {
            assert!(claims.has(&Check::feature(feature)), "{feature}");
        }
        assert!(!claims.has(&Check::feature("lol:dashboard")));
        assert!(!claims.has(&Check::feature("u:reservations")));
        assert!(!claims.has(&Check::feature("o:dashboard")));
    }

    #[test]
    fn fails_closed_on_malformed_org_role() {
        let v1 = claims(
            json!({ "org_id": "org_123", "org_role": 123, "org_permissions": ["org:sys_profile:delete"] }),
        );
        assert!(!v1.has(&Check::role("org:admin")));
        assert!(!v1.has(&Check::role("org:123")));
        let v2 = claims(json!({ "v": 2, "o": { "id": "org_123", "rol": 123 } }));
        assert!(!v2.has(&Check::role("org:123")));
        let empty = claims(json!({ "org_id": "org_123", "org_role": "" }));
        assert!(!empty.has(&Check::role("")));
        assert!(!empty.has(&Check::role("org:")));
    }

    #[test]
    fn fails_closed_on_malformed_org_permissions() {
        let claims =
            claims(json!({ "org_id": "org_123", "org_role": "org:admin", "org_permissions": {} }));
        assert!(!claims.has(&Check::permission("org:sys_profile:delete")));
        assert!(claims.has(&Check::role("org:admin")));
    }

    #[test]
    fn fails_closed_on_malformed_features_claim() {
        for fea in [json!({}), json!(1), json!("o:premium,premium")] {
            let claims =
                claims(json!({ "org_id": "org_123", "org_role": "org:admin", "fea": fea }));
            assert!(!claims.has(&Check::feature("org:premium")), "{fea}");
            assert!(!claims.has(&Check::feature("premium")), "{fea}");
        }
    }

    #[test]
    fn fails_closed_on_malformed_plans_claim() {
        for pla in [json!({}), json!(["u:plus"]), json!("u:plus,plus")] {
            let claims = claims(json!({ "pla": pla }));
            assert!(!claims.has(&Check::plan("u:plus")), "{pla}");
        }
    }

    #[test]
    fn fails_when_no_dimension_is_requested() {
        let claims = org_admin(
            &["org:sys_profile:delete"],
            "o:premium",
            "plus",
            json!([0, 0]),
        );
        assert!(!claims.has(&Check::default()));
    }

    #[test]
    fn permission_with_reverification_fails_without_an_org() {
        let claims = no_org(json!([0, 0]));
        let check =
            Check::permission("org:sys_profile:delete").and_reverification(Reverification::Strict);
        assert!(!claims.has(&check));
        assert!(claims.has(&Check::reverification(Reverification::Strict)));
    }

    #[test]
    fn role_with_reverification_fails_without_an_org() {
        let claims = no_org(json!([0, 0]));
        assert!(!claims.has(&Check::role("org:admin").and_reverification(Reverification::Strict)));
    }

    #[test]
    fn reverification_fails_when_fva_is_null_or_absent() {
        let check =
            Check::permission("org:sys_profile:delete").and_reverification(Reverification::Strict);
        let null = org_admin(&["org:sys_profile:delete"], "", "", Value::Null);
        assert!(!null.has(&check));
        assert!(null.has(&Check::permission("org:sys_profile:delete")));
        let absent =
            claims(json!({ "org_id": "org_123", "org_permissions": ["org:sys_profile:delete"] }));
        assert!(!absent.has(&check));
    }

    #[test]
    fn reverification_fails_when_fva_is_malformed() {
        for fva in [
            json!(["0", "0"]),
            json!([0]),
            json!([0, 0, 0]),
            json!("0,0"),
            json!({ "0": 0, "1": 0 }),
            json!([null, 0]),
        ] {
            assert!(
                !no_org(fva.clone()).has(&Check::reverification(Reverification::StrictMfa)),
                "{fva}"
            );
        }
    }

    #[test]
    fn invalid_reverification_config_fails() {
        assert!("invalid-value".parse::<Reverification>().is_err());
        let claims = org_admin(&["org:sys_profile:delete"], "", "", json!([0, 0]));
        let check = Check::permission("org:sys_profile:delete")
            .and_reverification(custom(FactorLevel::SecondFactor, 0));
        assert!(!claims.has(&check));
    }

    #[test]
    fn incomplete_or_out_of_range_config_fails() {
        // An incomplete config (a level without minutes) cannot be written in Rust; the
        // out-of-range ones can, and fail.
        let claims = org_admin(&["org:sys_profile:delete"], "", "", json!([0, 0]));
        for after_minutes in [0, -1, i64::MIN] {
            let check = Check::reverification(custom(FactorLevel::MultiFactor, after_minutes));
            assert!(!claims.has(&check), "{after_minutes}");
        }
        assert!(claims.has(&Check::reverification(custom(FactorLevel::MultiFactor, 1))));
    }

    #[test]
    fn and_across_billing_and_org() {
        let claims = org_admin(
            &["org:sys_memberships:read"],
            "o:reservations",
            "",
            json!([0, 0]),
        );
        let denied = Check::permission("org:sys_profile:delete").and_feature("org:reservations");
        assert!(!claims.has(&denied));
        let granted = Check::permission("org:sys_memberships:read").and_feature("org:reservations");
        assert!(claims.has(&granted));
    }

    #[test]
    fn and_within_org() {
        let claims = org_admin(&["org:sys_memberships:read"], "", "", json!([0, 0]));
        assert!(!claims.has(&Check::role("org:admin").and_permission("org:sys_profile:delete")));
        assert!(!claims.has(&Check::role("org:member").and_permission("org:sys_memberships:read")));
        assert!(claims.has(&Check::role("org:admin").and_permission("org:sys_memberships:read")));
    }

    #[test]
    fn and_within_billing() {
        let claims = org_admin(&["org:read"], "o:reservations", "u:plus", json!([0, 0]));
        assert!(claims.has(&Check::feature("org:reservations").and_plan("u:plus")));
        assert!(!claims.has(&Check::feature("org:reservations").and_plan("u:free")));
        assert!(!claims.has(&Check::feature("org:missing").and_plan("u:plus")));
    }

    #[test]
    fn and_across_org_and_billing_with_cross_dimension_combos() {
        let claims = org_admin(
            &["org:sys_memberships:read"],
            "o:reservations",
            "u:plus",
            json!([0, 0]),
        );
        assert!(!claims.has(&Check::role("org:admin").and_feature("org:missing")));
        assert!(!claims.has(&Check::role("org:admin").and_plan("u:free")));
        assert!(claims.has(&Check::role("org:admin").and_feature("org:reservations")));
    }

    #[test]
    fn every_requested_dimension_must_pass() {
        let claims = org_admin(
            &["org:sys_memberships:read"],
            "o:reservations",
            "",
            json!([0, 0]),
        );
        let all_three = Check::permission("org:sys_memberships:read")
            .and_feature("org:reservations")
            .and_reverification(Reverification::Strict);
        assert!(claims.has(&all_three));
        let stale = org_admin(
            &["org:sys_memberships:read"],
            "o:reservations",
            "",
            json!([0, 10]),
        );
        assert!(!stale.has(&all_three));
    }

    #[test]
    fn several_values_of_one_kind_must_all_hold() {
        let claims = org_admin(
            &["org:notes:read", "org:notes:delete"],
            "o:a,u:b",
            "u:pro",
            json!([0, 0]),
        );
        assert!(claims.has(&Check::permission("org:notes:read").and_permission("org:notes:delete")));
        assert!(!claims.has(&Check::permission("org:notes:read").and_permission("org:notes:write")));
        assert!(!claims.has(&Check::role("org:admin").and_role("org:member")));
        assert!(claims.has(&Check::feature("o:a").and_feature("u:b")));
        assert!(!claims.has(&Check::plan("u:pro").and_plan("o:pro")));
        let both = Check::reverification(Reverification::Lax)
            .and_reverification(custom(FactorLevel::FirstFactor, 1));
        assert!(claims.has(&both));
        let stale = org_admin(&[], "", "", json!([5, 0]));
        assert!(!stale.has(&both));
    }

    #[test]
    fn feature_check_fails_when_the_claim_is_missing_or_empty() {
        let empty = org_admin(&["org:read"], "", "", json!([0, 0]));
        assert!(!empty.has(&Check::feature("org:premium")));
        assert!(!empty.has(&Check::plan("premium")));
        let missing = claims(json!({ "org_id": "org_123" }));
        assert!(!missing.has(&Check::feature("premium")));
    }

    #[test]
    fn missing_features_fail_even_with_a_passing_reverification() {
        let claims = org_admin(&["org:sys_profile:delete"], "", "", json!([0, 0]));
        assert!(
            !claims.has(&Check::feature("org:premium").and_reverification(Reverification::Strict))
        );
    }

    #[test]
    fn permission_and_reverification_pass_together() {
        let claims = org_admin(&["org:sys_memberships:read"], "", "", json!([0, 0]));
        let check = Check::permission("org:sys_memberships:read")
            .and_reverification(Reverification::Strict);
        assert!(claims.has(&check));
    }

    #[test]
    fn negative_non_sentinel_ages_fail() {
        for fva in [json!([-0.5, 0]), json!([0, -2]), json!([-1.5, -1])] {
            assert!(
                !no_org(fva.clone()).has(&Check::reverification(Reverification::Strict)),
                "{fva}"
            );
        }
    }

    #[test]
    fn non_string_claim_values_fail_without_panicking() {
        let claims = claims(json!({
            "v": 2,
            "o": { "id": "org_123", "rol": 123, "per": 1, "fpm": 1 },
            "fea": 5,
            "pla": { "u": "plus" },
            "fva": [true, false],
        }));
        assert!(!claims.has(&Check::role("org:123")));
        assert!(!claims.has(&Check::permission("org:x:read")));
        assert!(!claims.has(&Check::feature("5")));
        assert!(!claims.has(&Check::plan("plus")));
        assert!(!claims.has(&Check::reverification(Reverification::Lax)));
    }

    #[test]
    fn strict_mfa_downgrades_when_no_second_factor_is_enrolled() {
        let claims = org_admin(&["org:sys_memberships:read"], "", "", json!([0, -1]));
        let check = Check::permission("org:sys_memberships:read")
            .and_reverification(Reverification::StrictMfa);
        assert!(claims.has(&check));
    }

    #[test]
    fn no_factors_enrolled_fails() {
        let claims = org_admin(&["org:sys_memberships:read"], "", "", json!([-1, -1]));
        for level in [
            FactorLevel::FirstFactor,
            FactorLevel::SecondFactor,
            FactorLevel::MultiFactor,
        ] {
            assert!(
                !claims.has(&Check::reverification(custom(level, 1_000_000))),
                "{level:?}"
            );
        }
        let check = Check::permission("org:sys_memberships:read")
            .and_reverification(Reverification::Strict);
        assert!(!claims.has(&check));
    }

    #[test]
    fn first_factor_verified_3_minutes_ago_without_second_factor() {
        let claims = no_org(json!([3, -1]));
        assert!(claims.has(&Check::reverification(Reverification::Strict)));
        assert!(claims.has(&Check::reverification(Reverification::StrictMfa)));
        assert!(!claims.has(&Check::reverification(custom(FactorLevel::SecondFactor, 3))));
        assert!(claims.has(&Check::reverification(custom(FactorLevel::SecondFactor, 4))));
    }

    #[test]
    fn freshness_is_a_strict_comparison() {
        let claims = no_org(json!([10, 10]));
        assert!(!claims.has(&Check::reverification(Reverification::Strict)));
        assert!(claims.has(&Check::reverification(custom(
            FactorLevel::SecondFactor,
            11
        ))));
        let fractional = no_org(json!([9.5, 9.999]));
        assert!(fractional.has(&Check::reverification(Reverification::StrictMfa)));
    }

    #[test]
    fn first_factor_level_needs_a_fresh_first_factor() {
        assert!(no_org(json!([5, 500]))
            .has(&Check::reverification(custom(FactorLevel::FirstFactor, 10))));
        assert!(!no_org(json!([50, 0]))
            .has(&Check::reverification(custom(FactorLevel::FirstFactor, 10))));
        assert!(!no_org(json!([-1, 0]))
            .has(&Check::reverification(custom(FactorLevel::FirstFactor, 10))));
    }

    #[test]
    fn second_factor_level_prefers_the_second_factor() {
        let strict = Check::reverification(Reverification::Strict);
        // Both enrolled: only the second factor counts.
        assert!(no_org(json!([500, 5])).has(&strict));
        assert!(!no_org(json!([5, 500])).has(&strict));
        // Only one enrolled: that one counts.
        assert!(no_org(json!([-1, 5])).has(&strict));
        assert!(!no_org(json!([-1, 50])).has(&strict));
        assert!(no_org(json!([5, -1])).has(&strict));
        assert!(!no_org(json!([50, -1])).has(&strict));
    }

    #[test]
    fn multi_factor_level_needs_both_factors_fresh() {
        let strict_mfa = Check::reverification(Reverification::StrictMfa);
        assert!(no_org(json!([5, 5])).has(&strict_mfa));
        assert!(!no_org(json!([5, 50])).has(&strict_mfa));
        assert!(!no_org(json!([50, 5])).has(&strict_mfa));
        // A second factor without a first cannot satisfy multi-factor.
        assert!(!no_org(json!([-1, 5])).has(&strict_mfa));
    }

    #[test]
    fn presets_match_clerk() {
        let presets = [
            (
                Reverification::StrictMfa,
                "strict_mfa",
                FactorLevel::MultiFactor,
                10,
            ),
            (
                Reverification::Strict,
                "strict",
                FactorLevel::SecondFactor,
                10,
            ),
            (
                Reverification::Moderate,
                "moderate",
                FactorLevel::SecondFactor,
                60,
            ),
            (Reverification::Lax, "lax", FactorLevel::SecondFactor, 1_440),
        ];
        for (preset, name, level, minutes) in presets {
            assert_eq!(name.parse::<Reverification>(), Ok(preset));
            assert_eq!(preset.level(), level);
            assert_eq!(preset.after_minutes(), minutes);
        }
        assert!(no_org(json!([0, 1_439])).has(&Check::reverification(Reverification::Lax)));
        assert!(!no_org(json!([0, 1_440])).has(&Check::reverification(Reverification::Lax)));
        assert!(no_org(json!([0, 59])).has(&Check::reverification(Reverification::Moderate)));
        assert!(!no_org(json!([0, 60])).has(&Check::reverification(Reverification::Moderate)));
    }

    #[test]
    fn clerk_names_parse() {
        for level in [
            FactorLevel::FirstFactor,
            FactorLevel::SecondFactor,
            FactorLevel::MultiFactor,
        ] {
            assert_eq!(level.as_str().parse::<FactorLevel>(), Ok(level));
        }
        for name in ["", "Strict", " strict", "strict_MFA", "second-factor"] {
            assert!(name.parse::<Reverification>().is_err(), "{name:?}");
            assert!(name.parse::<FactorLevel>().is_err(), "{name:?}");
        }
        let error = "x".parse::<FactorLevel>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "expected a factor level (first_factor, second_factor or multi_factor)"
        );
    }

    #[test]
    fn no_user_id_has_nothing() {
        let mut payload = serde_json::Map::new();
        payload.insert("sid".to_owned(), json!("sess_123"));
        payload.insert("org_id".to_owned(), json!("org_123"));
        payload.insert("org_role".to_owned(), json!("org:admin"));
        assert!(!SessionClaims::from_payload(payload).has(&Check::role("org:admin")));
    }

    #[test]
    fn has_with_v1_token_for_user_scope() {
        let claims = claims(json!({ "act": { "sub": "actor" } }));
        for check in [
            Check::role("org:admin"),
            Check::role("admin"),
            Check::permission("org:f1:read"),
            Check::permission("f1:read"),
            Check::feature("org:reservations"),
            Check::feature("org:impersonation"),
        ] {
            assert!(!claims.has(&check), "{check:?}");
        }
    }

    fn v1_org(role: &str) -> SessionClaims {
        claims(json!({
            "act": { "sub": "actor" },
            "org_id": "orgId",
            "org_role": role,
            "org_slug": "orgSlug",
            "org_permissions": ["org:f1:read", "org:f2:manage"],
        }))
    }

    #[test]
    fn has_with_v1_token_for_orgs() {
        for role in ["org:admin", "admin"] {
            let claims = v1_org(role);
            assert!(claims.has(&Check::role("org:admin")), "{role}");
            assert!(claims.has(&Check::role("admin")), "{role}");
            assert!(claims.has(&Check::permission("org:f1:read")), "{role}");
            assert!(claims.has(&Check::permission("f1:read")), "{role}");
            assert!(!claims.has(&Check::permission("org:f1")), "{role}");
            assert!(claims.has(&Check::permission("org:f2:manage")), "{role}");
            assert!(!claims.has(&Check::permission("org:f2")), "{role}");
            assert!(!claims.has(&Check::feature("org:reservations")), "{role}");
            assert!(!claims.has(&Check::feature("org:impersonation")), "{role}");
        }
    }

    #[test]
    fn has_with_v1_token_for_the_old_bare_admin_role() {
        let claims = v1_org("admin");
        assert!(claims.has(&Check::role("org:admin")));
        assert!(claims.has(&Check::role("org:org:admin")));
        assert!(!claims.has(&Check::role("org:member")));
        assert!(!claims.has(&Check::role("administrator")));
    }

    #[test]
    fn has_with_v2_token_for_orgs() {
        let claims = claims(json!({
            "v": 2,
            "act": { "sub": "actor" },
            "fea": "o:reservations,o:impersonation",
            "o": { "id": "orgId", "rol": "admin", "slg": "orgSlug", "per": "read,manage", "fpm": "3" },
        }));
        assert!(claims.has(&Check::role("org:admin")));
        assert!(claims.has(&Check::role("admin")));
        assert!(claims.has(&Check::permission("org:reservations:read")));
        assert!(claims.has(&Check::permission("reservations:read")));
        assert!(!claims.has(&Check::permission("org:reservations")));
        assert!(claims.has(&Check::permission("org:reservations:manage")));
        assert!(!claims.has(&Check::permission("org:impersonation:read")));
        assert!(!claims.has(&Check::permission("org:impersonation:manage")));
        assert!(claims.has(&Check::feature("org:reservations")));
        assert!(claims.has(&Check::feature("org:impersonation")));
    }

    #[test]
    fn has_with_v2_token_for_a_role_with_org_prefix() {
        let claims = claims(json!({
            "v": 2,
            "fea": "o:reservations,o:impersonation",
            "o": { "id": "orgId", "rol": "org:admin", "slg": "orgSlug", "per": "read,manage", "fpm": "3" },
        }));
        assert!(claims.has(&Check::role("org:admin")));
        assert!(claims.has(&Check::role("admin")));
    }

    fn v2_billing() -> SessionClaims {
        claims(json!({
            "v": 2,
            "act": { "sub": "actor" },
            "fea": "o:reservations,u:dashboard,uo:support-chat,o:impersonation",
            "o": { "id": "orgId", "rol": "member", "slg": "orgSlug", "per": "read,manage", "fpm": "2,3" },
            "pla": "u:pro,o:business",
        }))
    }

    #[test]
    fn has_with_v2_token_for_billing_with_scopes() {
        let claims = v2_billing();
        let cases = [
            (Check::permission("org:reservations:read"), false),
            (Check::permission("org:reservations:manage"), true),
            (Check::permission("org:support-chat:read"), true),
            (Check::permission("org:support-chat:manage"), true),
            (Check::permission("u:dashboard:manage"), false),
            (Check::permission("u:dashboard:read"), false),
            (Check::feature("org:reservations"), true),
            (Check::feature("user:reservations"), false),
            (Check::feature("org:impersonation"), true),
            (Check::feature("user:impersonation"), false),
            (Check::feature("org:dashboard"), false),
            (Check::feature("user:dashboard"), true),
            (Check::feature("org:support-chat"), true),
            (Check::feature("user:support-chat"), true),
            (Check::plan("org:business"), true),
            (Check::plan("user:business"), false),
            (Check::plan("org:pro"), false),
            (Check::plan("user:pro"), true),
        ];
        for (check, expected) in cases {
            assert_eq!(claims.has(&check), expected, "{check:?}");
        }
    }

    #[test]
    fn has_with_v2_token_for_billing_without_scopes() {
        let claims = v2_billing();
        assert!(claims.has(&Check::feature("reservations")));
        assert!(claims.has(&Check::feature("dashboard")));
        assert!(!claims.has(&Check::feature("pro")));
        assert!(claims.has(&Check::feature("impersonation")));
        assert!(claims.has(&Check::plan("pro")));
        assert!(claims.has(&Check::plan("business")));
    }

    #[test]
    fn v2_feature_without_colon_fails_feature_and_permission_checks() {
        let claims = claims(json!({
            "v": 2,
            "fea": "o:notes,notes",
            "o": { "id": "org_1", "rol": "admin", "per": "read", "fpm": "1,1" },
        }));
        assert!(!claims.has(&Check::feature("o:notes")));
        assert!(!claims.has(&Check::permission("org:notes:read")));
        assert!(claims.has(&Check::role("org:admin")));
    }

    #[test]
    fn requested_scope_and_id_are_read_like_clerk() {
        let claims = claims(json!({ "fea": "o:a,o:o,u:b:c" }));
        // The id ends at a second colon.
        assert!(claims.has(&Check::feature("o:a:whatever")));
        assert!(!claims.has(&Check::feature("u:b:c")));
        // An empty id stands for the scope.
        assert!(claims.has(&Check::feature("o:")));
        assert!(!claims.has(&Check::feature("u:")));
        // An empty scope is not a scope.
        assert!(!claims.has(&Check::feature(":a")));
    }

    #[test]
    fn org_checks_fail_with_an_empty_org_id() {
        let claims = claims(
            json!({ "org_id": "", "org_role": "org:admin", "org_permissions": ["org:a:read"] }),
        );
        assert!(!claims.has(&Check::role("org:admin")));
        assert!(!claims.has(&Check::permission("org:a:read")));
    }

    #[test]
    fn permissions_are_looked_up_exactly() {
        let claims = claims(
            json!({ "org_id": "org_1", "org_permissions": ["org:a:read", "a:write", "org:org:a:delete"] }),
        );
        assert!(claims.has(&Check::permission("org:org:a:read")));
        // The token's own entries are not normalised.
        assert!(!claims.has(&Check::permission("a:write")));
        assert!(!claims.has(&Check::permission("org:a:delete")));
        assert!(!claims.has(&Check::permission("org:a:READ")));
    }

    #[test]
    fn owned_and_static_names_build_the_same_check() {
        let owned =
            Check::permission(String::from("org:notes:delete")).and_plan(String::from("pro"));
        assert_eq!(owned, Check::permission("org:notes:delete").and_plan("pro"));
    }

    #[test]
    fn any_of_holds_when_one_alternative_holds() {
        let writer = claims(
            json!({ "org_id": "org_1", "org_role": "org:member", "org_permissions": ["org:notes:write"] }),
        );
        let admin = claims(json!({ "org_id": "org_1", "org_role": "org:admin" }));
        let member = claims(json!({ "org_id": "org_1", "org_role": "org:member" }));
        let check = Check::any([
            Check::permission("org:notes:write"),
            Check::role("org:admin"),
        ]);
        assert!(writer.has(&check));
        assert!(admin.has(&check));
        assert!(!member.has(&check));
        assert_eq!(
            check,
            Check::permission("org:notes:write").or(Check::role("org:admin"))
        );
    }

    #[test]
    fn or_flattens_into_one_group() {
        let three = Check::role("a").or(Check::role("b")).or(Check::role("c"));
        assert_eq!(three.any_of().len(), 1);
        assert_eq!(three.any_of()[0].len(), 3);
    }

    #[test]
    fn any_of_with_no_alternatives_never_holds() {
        let admin = claims(json!({ "org_id": "org_1", "org_role": "org:admin" }));
        assert!(!admin.has(&Check::any([])));
        assert!(!admin.has(&Check::role("org:admin").and_any([])));
        let unmet = Check::any([]).first_unmet(&admin).expect("refused");
        assert_eq!(unmet, Unmet::AnyOf(Vec::new()));
        assert_eq!(unmet.reason(), "forbidden");
        assert_eq!(
            unmet.to_string(),
            "This action is not allowed for this session."
        );
    }

    #[test]
    fn any_of_groups_add_to_the_requirements() {
        let check = Check::role("org:member")
            .and_any([Check::permission("org:a"), Check::permission("org:b")]);
        let with_b = claims(
            json!({ "org_id": "org_1", "org_role": "org:member", "org_permissions": ["org:b"] }),
        );
        let neither = claims(
            json!({ "org_id": "org_1", "org_role": "org:member", "org_permissions": ["org:c"] }),
        );
        let admin_with_b = claims(
            json!({ "org_id": "org_1", "org_role": "org:admin", "org_permissions": ["org:b"] }),
        );
        assert!(with_b.has(&check));
        assert!(!neither.has(&check));
        assert!(!admin_with_b.has(&check));
        assert_eq!(
            check.first_unmet(&admin_with_b),
            Some(Unmet::Role("org:member".into()))
        );
        assert_eq!(
            check.first_unmet(&neither),
            Some(Unmet::AnyOf(vec![
                Unmet::Permission("org:a".into()),
                Unmet::Permission("org:b".into())
            ]))
        );
    }

    #[test]
    fn first_unmet_names_the_requirement_that_failed() {
        let session = org_admin(&["org:notes:read"], "o:notes", "pro", json!([0, 0]));
        let cases = [
            (
                Check::role("org:member"),
                Unmet::Role("org:member".into()),
                "missing-role",
            ),
            (
                Check::role("org:admin").and_permission("org:notes:delete"),
                Unmet::Permission("org:notes:delete".into()),
                "missing-permission",
            ),
            (
                Check::feature("o:analytics"),
                Unmet::Feature("o:analytics".into()),
                "missing-feature",
            ),
            (
                Check::plan("enterprise"),
                Unmet::Plan("enterprise".into()),
                "missing-plan",
            ),
            (Check::default(), Unmet::Nothing, "forbidden"),
        ];
        for (check, unmet, reason) in cases {
            assert_eq!(
                check.first_unmet(&session).as_ref(),
                Some(&unmet),
                "{check:?}"
            );
            assert_eq!(unmet.reason(), reason);
        }
        let stale = org_admin(&[], "", "", json!([100, 100]));
        let unmet = Check::reverification(Reverification::Strict).first_unmet(&stale);
        assert_eq!(unmet, Some(Unmet::Reverification(Reverification::Strict)));
        assert_eq!(unmet.unwrap().reason(), "reverification-required");
    }

    #[test]
    fn an_unmet_any_of_takes_its_first_alternatives_reason_and_names_them_all() {
        let member = claims(json!({ "org_id": "org_1", "org_role": "org:member" }));
        let check = Check::permission("org:notes:write").or(Check::role("org:admin"));
        let unmet = check.first_unmet(&member).expect("refused");
        assert_eq!(unmet.reason(), "missing-permission");
        assert_eq!(
            unmet.to_string(),
            "This action requires the permission \"org:notes:write\" in the active organization \
             or the role \"org:admin\" in the active organization."
        );
        let reversed = Check::role("org:admin").or(Check::permission("org:notes:write"));
        assert_eq!(
            reversed.first_unmet(&member).unwrap().reason(),
            "missing-role"
        );
        assert_eq!(
            Unmet::Nothing.to_string(),
            "This action is not allowed for this session."
        );
    }

    #[test]
    fn first_unmet_is_none_exactly_when_has_holds() {
        let sessions = [
            org_admin(&["org:notes:read"], "o:notes", "pro", json!([0, 0])),
            claims(
                json!({ "org_id": "org_1", "org_role": "org:member", "org_permissions": ["org:notes:write"] }),
            ),
            no_org(json!([5, -1])),
            claims(json!({ "sub": "" })),
        ];
        let checks = [
            Check::role("org:admin"),
            Check::permission("org:notes:write"),
            Check::permission("org:notes:write").or(Check::role("org:admin")),
            Check::feature("notes").and_plan("pro"),
            Check::reverification(Reverification::Lax).and_any([Check::role("org:admin")]),
            Check::any([
                Check::feature("x"),
                Check::plan("pro").and_role("org:member"),
            ]),
            Check::default(),
        ];
        for session in &sessions {
            for check in &checks {
                assert_eq!(
                    check.first_unmet(session).is_none(),
                    session.has(check),
                    "{check:?} on {:?}",
                    session.user_id()
                );
            }
        }
    }
}
