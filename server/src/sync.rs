//! Clerk's users, organizations and memberships in the local tables, kept in sync by Clerk's
//! webhooks: one delivery, one transaction.
//!
//! Svix delivers each message at least once and in no particular order, so applying one is:
//! - **idempotent**: the message id (`svix-id`) is recorded in `webhook_deliveries` in the
//!   same transaction; a message already recorded changes nothing;
//! - **order-safe**: each row keeps Clerk's `updated_at`, and an event never overwrites a row
//!   whose `updated_at` is newer or equal (`ON CONFLICT … DO UPDATE … WHERE`, portable to
//!   SQLite and PostgreSQL). Without `updated_at` in the data, the event's own `timestamp`
//!   stands in; without either, 0 (it creates a missing row, never overwrites one);
//! - **final for deletions**: a `*.deleted` event leaves a tombstone (`deleted = TRUE`,
//!   `deleted_at`, the user's personal fields cleared) that no later or late update
//!   resurrects; Clerk never reuses an id. A delete for a row never seen still writes the
//!   tombstone, so a `*.created` delivered after it stays dead;
//! - **all or nothing**: any failure rolls the whole transaction back, the message included,
//!   so Svix's retry applies it whole.

use clerk_webhooks::{DeletedObject, Event, EventData, Organization, OrganizationMembership, User};
use serde::Serialize;
use sqlx::{Any, AnyConnection, Executor};

use crate::db::Db;
use crate::revocation::Revocation;

/// How long delivered message ids (for idempotency) and revoked sessions are kept: far
/// beyond Svix's retry schedule (about a day) and the verifier's memory of a revocation.
pub const RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Applied. An event older than the stored row is applied too: it has nothing to change.
    Applied,
    /// This message was applied before: nothing changed.
    Duplicate,
    /// An event this server does not keep (or whose data it cannot read): recorded, so a
    /// redelivery is a duplicate, and nothing else.
    Ignored,
}

impl Outcome {
    /// `applied`, `duplicate` or `ignored`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The result of [`apply`]: the outcome, and the revocations now committed, which the caller
/// applies to its verifier.
#[derive(Debug)]
pub struct Applied {
    /// What became of the delivery.
    pub outcome: Outcome,
    /// The sessions and users whose tokens are to be refused from now on.
    pub revocations: Vec<Revocation>,
}

/// The event types that end a session.
const REVOKING_SESSION: [&str; 3] = ["session.revoked", "session.ended", "session.removed"];

/// What an event asks of the tables.
enum Change<'a> {
    UpsertUser(&'a User),
    DeleteUser(&'a DeletedObject),
    RevokeSession {
        id: &'a str,
        user_id: Option<&'a str>,
    },
    UpsertOrganization(&'a Organization),
    DeleteOrganization(&'a DeletedObject),
    UpsertMembership(Membership<'a>),
    DeleteMembership(Membership<'a>),
    Nothing,
}

/// A membership with the ids a row needs.
struct Membership<'a> {
    data: &'a OrganizationMembership,
    org_id: Option<&'a str>,
    user_id: Option<&'a str>,
}

impl<'a> Membership<'a> {
    fn of(data: &'a OrganizationMembership) -> Self {
        Membership {
            data,
            org_id: data.organization_id().filter(|id| !id.is_empty()),
            user_id: data.user_id().filter(|id| !id.is_empty()),
        }
    }
}

fn plan(event: &Event) -> Change<'_> {
    match &event.data {
        EventData::UserCreated(user) | EventData::UserUpdated(user) => Change::UpsertUser(user),
        EventData::UserDeleted(deleted) => Change::DeleteUser(deleted),
        EventData::SessionRevoked(session)
        | EventData::SessionEnded(session)
        | EventData::SessionRemoved(session) => Change::RevokeSession {
            id: &session.id,
            user_id: Some(&session.user_id),
        },
        EventData::OrganizationCreated(organization)
        | EventData::OrganizationUpdated(organization) => Change::UpsertOrganization(organization),
        EventData::OrganizationDeleted(deleted) => Change::DeleteOrganization(deleted),
        EventData::OrganizationMembershipCreated(data)
        | EventData::OrganizationMembershipUpdated(data) => {
            let membership = Membership::of(data);
            if membership.org_id.is_none() || membership.user_id.is_none() {
                tracing::warn!(
                    event_type = %event.type_,
                    membership = %data.id,
                    "webhook: a membership without its organization or user id; ignored"
                );
                return Change::Nothing;
            }
            Change::UpsertMembership(membership)
        }
        EventData::OrganizationMembershipDeleted(data) => {
            Change::DeleteMembership(Membership::of(data))
        }
        EventData::Unparsed { data, error } => {
            // A session's end must not be missed over a field the revocation does not need.
            if REVOKING_SESSION.contains(&event.type_.as_str()) {
                if let Some(id) = data["id"].as_str().filter(|id| !id.is_empty()) {
                    tracing::warn!(event_type = %event.type_, error = %error, "webhook: session data of an unexpected shape; revoking it by its id");
                    return Change::RevokeSession {
                        id,
                        user_id: data["user_id"].as_str(),
                    };
                }
            }
            // Verified, so it is Clerk's: refusing it would only make Svix retry a delivery
            // that can never succeed.
            tracing::warn!(event_type = %event.type_, error = %error, "webhook: data of an unexpected shape; ignored");
            Change::Nothing
        }
        _ => Change::Nothing,
    }
}

/// Clerk's `updated_at`, else the event's `timestamp`, else 0.
fn version(updated_at: Option<i64>, event: &Event) -> i64 {
    updated_at
        .or((event.timestamp > 0).then_some(event.timestamp))
        .unwrap_or(0)
}

/// Applies one verified delivery in one transaction (see the module docs). `now` is the
/// receipt time, in Unix milliseconds.
///
/// On PostgreSQL the revocations are also notified to every instance, at commit.
pub async fn apply(
    db: &Db,
    message_id: &str,
    event: &Event,
    now: i64,
) -> Result<Applied, sqlx::Error> {
    let change = plan(event);
    let outcome = match change {
        Change::Nothing => Outcome::Ignored,
        _ => Outcome::Applied,
    };
    let mut tx = db.pool().begin().await?;
    let recorded = sqlx::query(
        "INSERT INTO webhook_deliveries (svix_id, event_type, outcome, received_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (svix_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(event.type_.as_str())
    .bind(outcome.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if recorded.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(Applied {
            outcome: Outcome::Duplicate,
            revocations: Vec::new(),
        });
    }
    let revocation = write(&mut tx, change, event, now).await?;
    if let Some(revocation) = &revocation {
        if db.backend() == crate::db::Backend::Postgres {
            clerk_service::revocation::notify(&mut tx, revocation).await?;
        }
    }
    tx.commit().await?;
    Ok(Applied {
        outcome,
        revocations: revocation.into_iter().collect(),
    })
}

async fn write(
    conn: &mut AnyConnection,
    change: Change<'_>,
    event: &Event,
    now: i64,
) -> Result<Option<Revocation>, sqlx::Error> {
    match change {
        Change::UpsertUser(user) => {
            upsert_user(&mut *conn, user, version(user.updated_at, event)).await?;
            Ok(None)
        }
        Change::DeleteUser(deleted) => {
            sqlx::query(
                "INSERT INTO users (id, public_metadata, updated_at, deleted, deleted_at) \
                 VALUES ($1, '{}', $2, TRUE, $3) \
                 ON CONFLICT (id) DO UPDATE SET email = NULL, first_name = NULL, \
                 last_name = NULL, image_url = NULL, public_metadata = '{}', deleted = TRUE, \
                 deleted_at = excluded.deleted_at \
                 WHERE users.deleted = FALSE",
            )
            .bind(deleted.id.as_str())
            .bind(version(None, event))
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE memberships SET deleted = TRUE, deleted_at = $2 \
                 WHERE user_id = $1 AND deleted = FALSE",
            )
            .bind(deleted.id.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(Some(Revocation::User(deleted.id.clone())))
        }
        Change::RevokeSession { id, user_id } => {
            sqlx::query(
                "INSERT INTO revoked_sessions (session_id, user_id, revoked_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(Some(Revocation::Session(id.to_owned())))
        }
        Change::UpsertOrganization(organization) => {
            sqlx::query(
                "INSERT INTO organizations (id, name, slug, image_url, public_metadata, \
                 updated_at, deleted) VALUES ($1, $2, $3, $4, $5, $6, FALSE) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug, \
                 image_url = excluded.image_url, public_metadata = excluded.public_metadata, \
                 updated_at = excluded.updated_at \
                 WHERE organizations.deleted = FALSE \
                 AND organizations.updated_at < excluded.updated_at",
            )
            .bind(organization.id.as_str())
            .bind(organization.name.as_str())
            .bind(organization.slug.as_deref())
            .bind(organization.image_url.as_deref())
            .bind(json(&organization.public_metadata))
            .bind(version(organization.updated_at, event))
            .execute(&mut *conn)
            .await?;
            Ok(None)
        }
        Change::DeleteOrganization(deleted) => {
            sqlx::query(
                "INSERT INTO organizations (id, name, public_metadata, updated_at, deleted, \
                 deleted_at) VALUES ($1, '', '{}', $2, TRUE, $3) \
                 ON CONFLICT (id) DO UPDATE SET deleted = TRUE, deleted_at = excluded.deleted_at \
                 WHERE organizations.deleted = FALSE",
            )
            .bind(deleted.id.as_str())
            .bind(version(None, event))
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE memberships SET deleted = TRUE, deleted_at = $2 \
                 WHERE org_id = $1 AND deleted = FALSE",
            )
            .bind(deleted.id.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(None)
        }
        Change::UpsertMembership(membership) => {
            sqlx::query(
                "INSERT INTO memberships (id, org_id, user_id, role, permissions, updated_at, \
                 deleted) VALUES ($1, $2, $3, $4, $5, $6, FALSE) \
                 ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, \
                 user_id = excluded.user_id, role = excluded.role, \
                 permissions = excluded.permissions, updated_at = excluded.updated_at \
                 WHERE memberships.deleted = FALSE \
                 AND memberships.updated_at < excluded.updated_at",
            )
            .bind(membership.data.id.as_str())
            .bind(membership.org_id)
            .bind(membership.user_id)
            .bind(membership.data.role.as_str())
            .bind(json(&membership.data.permissions))
            .bind(version(membership.data.updated_at, event))
            .execute(&mut *conn)
            .await?;
            Ok(None)
        }
        Change::DeleteMembership(membership) => {
            match (membership.org_id, membership.user_id) {
                (Some(org_id), Some(user_id)) => {
                    sqlx::query(
                        "INSERT INTO memberships (id, org_id, user_id, role, permissions, \
                         updated_at, deleted, deleted_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7) \
                         ON CONFLICT (id) DO UPDATE SET deleted = TRUE, \
                         deleted_at = excluded.deleted_at WHERE memberships.deleted = FALSE",
                    )
                    .bind(membership.data.id.as_str())
                    .bind(org_id)
                    .bind(user_id)
                    .bind(membership.data.role.as_str())
                    .bind(json(&membership.data.permissions))
                    .bind(version(membership.data.updated_at, event))
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                // Not enough for a tombstone: mark the row, if there is one.
                _ => {
                    sqlx::query(
                        "UPDATE memberships SET deleted = TRUE, deleted_at = $2 \
                         WHERE id = $1 AND deleted = FALSE",
                    )
                    .bind(membership.data.id.as_str())
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            Ok(None)
        }
        Change::Nothing => Ok(None),
    }
}

/// Inserts or updates a user from Clerk's User object, unless the stored row is as new or
/// newer (`updated_at`), or deleted. Returns whether the row changed.
pub async fn upsert_user<'c, E>(
    executor: E,
    user: &User,
    updated_at: i64,
) -> Result<bool, sqlx::Error>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "INSERT INTO users (id, email, first_name, last_name, image_url, public_metadata, \
         updated_at, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE) \
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, \
         first_name = excluded.first_name, last_name = excluded.last_name, \
         image_url = excluded.image_url, public_metadata = excluded.public_metadata, \
         updated_at = excluded.updated_at \
         WHERE users.deleted = FALSE AND users.updated_at < excluded.updated_at",
    )
    .bind(user.id.as_str())
    .bind(user.primary_email())
    .bind(user.first_name.as_deref())
    .bind(user.last_name.as_deref())
    .bind(user.image_url.as_deref())
    .bind(json(&user.public_metadata))
    .bind(updated_at)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Forgets delivered message ids and revoked sessions older than [`RETENTION_MS`].
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let before = now.saturating_sub(RETENTION_MS);
    let deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < $1")
        .bind(before)
        .execute(db.pool())
        .await?;
    let sessions = sqlx::query("DELETE FROM revoked_sessions WHERE revoked_at < $1")
        .bind(before)
        .execute(db.pool())
        .await?;
    Ok(deliveries.rows_affected() + sessions.rows_affected())
}

/// A JSON value as text (serializing a map or a list of strings cannot fail).
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
