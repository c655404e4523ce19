//! Guards: extractors that read like the rule they enforce.
//!
//! ```no_run
//! use axum::http::StatusCode;
//! use clerk_axum::{ClerkAuth, RequirePermission, RequireRole, RequireReverification, Strict};
//!
//! clerk_axum::permission!(pub NotesDelete = "org:notes:delete");
//! clerk_axum::role!(pub Admin = "org:admin");
//!
//! async fn delete_note(_: RequirePermission<NotesDelete>, auth: ClerkAuth) -> StatusCode {
//!     StatusCode::NO_CONTENT
//! }
//!
//! async fn wipe(_: RequireRole<Admin>, _: RequireReverification<Strict>) -> StatusCode {
//!     StatusCode::NO_CONTENT
//! }
//! ```
//!
//! A guard answers 401 (no valid session) or 403 (a valid session without the requirement)
//! before the handler runs. A requirement of several parts, "any of" included, is declared
//! once with [`crate::requirement!`] and asked for with [`Require`]:
//!
//! ```no_run
//! use clerk_axum::{Check, ClerkAuth, Require};
//!
//! clerk_axum::requirement!(
//!     /// Listing the organization's users: its admins, or whoever may read users.
//!     pub ListUsers = Check::permission("org:users:read").or(Check::role("org:admin"))
//! );
//!
//! async fn users(Require(auth, ..): Require<ListUsers>) -> String {
//!     format!("the users of {:?}", auth.org_id())
//! }
//! ```
//!
//! For a requirement that depends on the request (who owns the resource), use
//! [`ClerkAuth::require`]; for a whole router, [`crate::RequireAuthLayer::with`].

use std::borrow::Cow;
use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use clerk_auth::{Check, Reverification};

use crate::{ClerkAuth, ClerkRejection};

/// A requirement known at compile time: declared with [`crate::requirement!`] (any check,
/// built once) and asked for with [`Require`]; each guard of this module is one too.
pub trait Requirement: Send + Sync + 'static {
    /// The check to pass.
    fn check() -> Cow<'static, Check>;
}

/// A permission name, e.g. `org:notes:delete`. Declare one with [`crate::permission!`].
pub trait Permission: Send + Sync + 'static {
    /// The permission.
    const NAME: &'static str;
}

/// A role name, e.g. `org:admin`. Declare one with [`crate::role!`].
pub trait Role: Send + Sync + 'static {
    /// The role.
    const NAME: &'static str;
}

/// A feature, e.g. `o:analytics`. Declare one with [`crate::feature!`].
pub trait Feature: Send + Sync + 'static {
    /// The feature.
    const NAME: &'static str;
}

/// A plan, e.g. `pro`. Declare one with [`crate::plan!`].
pub trait Plan: Send + Sync + 'static {
    /// The plan.
    const NAME: &'static str;
}

/// A reverification requirement: [`StrictMfa`], [`Strict`], [`Moderate`], [`Lax`].
pub trait ReverificationLevel: Send + Sync + 'static {
    /// The requirement.
    const REQUIREMENT: Reverification;
}

macro_rules! level {
    ($(#[$doc:meta])* $name:ident => $value:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl ReverificationLevel for $name {
            const REQUIREMENT: Reverification = $value;
        }
    };
}

level!(
    /// Both factors within 10 minutes, or the first alone when no second factor is enrolled
    /// (Clerk's `strict_mfa`).
    StrictMfa => Reverification::StrictMfa
);
level!(
    /// A second factor (or the first when none is enrolled) within 10 minutes (Clerk's `strict`).
    Strict => Reverification::Strict
);
level!(
    /// A second factor (or the first when none is enrolled) within 60 minutes (Clerk's `moderate`).
    Moderate => Reverification::Moderate
);
level!(
    /// A second factor (or the first when none is enrolled) within a day (Clerk's `lax`).
    Lax => Reverification::Lax
);

macro_rules! guard {
    ($(#[$doc:meta])* $guard:ident<$bound:ident>, $check:expr) => {
        $(#[$doc])*
        pub struct $guard<T: $bound>(pub ClerkAuth, pub PhantomData<T>);

        impl<T: $bound> std::fmt::Debug for $guard<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($guard)).field(&self.0).finish()
            }
        }

        impl<T: $bound> std::ops::Deref for $guard<T> {
            type Target = ClerkAuth;

            fn deref(&self) -> &ClerkAuth {
                &self.0
            }
        }

        impl<T: $bound> Requirement for $guard<T> {
            fn check() -> Cow<'static, Check> {
                let check: fn() -> Check = $check;
                Cow::Owned(check())
            }
        }

        impl<S: Send + Sync, T: $bound> FromRequestParts<S> for $guard<T> {
            type Rejection = ClerkRejection;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                let auth = ClerkAuth::from_request_parts(parts, state).await?;
                auth.require(&<Self as Requirement>::check())?;
                Ok($guard(auth, PhantomData))
            }
        }
    };
}

guard!(
    /// Requires the permission `P` in the active organization (403 `missing-permission`).
    RequirePermission<Permission>,
    || Check::permission(T::NAME)
);
guard!(
    /// Requires the role `R` in the active organization (403 `missing-role`).
    RequireRole<Role>,
    || Check::role(T::NAME)
);
guard!(
    /// Requires the feature `F` (403 `missing-feature`).
    RequireFeature<Feature>,
    || Check::feature(T::NAME)
);
guard!(
    /// Requires the plan `P` (403 `missing-plan`).
    RequirePlan<Plan>,
    || Check::plan(T::NAME)
);
guard!(
    /// Requires a recent enough factor verification (403 `reverification-required`, with the
    /// body Clerk's frontend recognises to prompt the user).
    RequireReverification<ReverificationLevel>,
    || Check::reverification(T::REQUIREMENT)
);

/// Requires the check of `R`, a marker declared with [`crate::requirement!`] (403 with the
/// reason of the first requirement not met: `missing-permission`, `missing-role`, …).
///
/// The session is the first field: `Require(auth, ..): Require<R>`.
pub struct Require<R: Requirement>(pub ClerkAuth, pub PhantomData<R>);

impl<R: Requirement> std::fmt::Debug for Require<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Require").field(&self.0).finish()
    }
}

impl<R: Requirement> std::ops::Deref for Require<R> {
    type Target = ClerkAuth;

    fn deref(&self) -> &ClerkAuth {
        &self.0
    }
}

impl<S: Send + Sync, R: Requirement> FromRequestParts<S> for Require<R> {
    type Rejection = ClerkRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = ClerkAuth::from_request_parts(parts, state).await?;
        auth.require(&R::check())?;
        Ok(Require(auth, PhantomData))
    }
}

/// Declares a requirement marker for [`Require`]: a name for any [`Check`], built once, the
/// first time a request asks for it.
///
/// ```
/// use clerk_axum::Check;
///
/// clerk_axum::requirement!(pub WriteNotes = Check::permission("org:notes:write").or(Check::role("org:admin")));
/// ```
#[macro_export]
macro_rules! requirement {
    ($(#[$doc:meta])* $vis:vis $name:ident = $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::guard::Requirement for $name {
            fn check() -> ::std::borrow::Cow<'static, $crate::Check> {
                static CHECK: ::std::sync::LazyLock<$crate::Check> =
                    ::std::sync::LazyLock::new(|| $check);
                ::std::borrow::Cow::Borrowed(&*CHECK)
            }
        }
    };
}

/// Declares a permission marker for [`RequirePermission`]:
/// `clerk_axum::permission!(pub NotesDelete = "org:notes:delete");`
#[macro_export]
macro_rules! permission {
    ($(#[$doc:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::guard::Permission for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// Declares a role marker for [`RequireRole`]: `clerk_axum::role!(pub Admin = "org:admin");`
#[macro_export]
macro_rules! role {
    ($(#[$doc:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::guard::Role for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// Declares a feature marker for [`RequireFeature`]:
/// `clerk_axum::feature!(pub Analytics = "o:analytics");`
#[macro_export]
macro_rules! feature {
    ($(#[$doc:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::guard::Feature for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// Declares a plan marker for [`RequirePlan`]: `clerk_axum::plan!(pub Pro = "pro");`
#[macro_export]
macro_rules! plan {
    ($(#[$doc:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::guard::Plan for $name {
            const NAME: &'static str = $value;
        }
    };
}
