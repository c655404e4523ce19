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
//! before the handler runs. For a requirement known only at run time, use
//! [`ClerkAuth::require`]; for a whole router, [`crate::RequireAuthLayer::with`].

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use clerk_auth::{Check, Reverification};

use crate::{ClerkAuth, ClerkRejection};

/// A requirement known at compile time, usually declared with [`crate::permission!`],
/// [`crate::role!`], [`crate::feature!`] or [`crate::plan!`].
pub trait Requirement: Send + Sync + 'static {
    /// The check to pass.
    fn check() -> Check;
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
        pub struct $guard<T: $bound>(pub ClerkAuth, PhantomData<T>);

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
            fn check() -> Check {
                let check: fn() -> Check = $check;
                check()
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
