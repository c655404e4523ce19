-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are Unix milliseconds.
-- What Clerk's webhooks (POST /webhooks/clerk) keep in sync. Every row carries Clerk's own
-- updated_at: an event never overwrites a row with a newer (or equal) updated_at, so
-- deliveries can arrive in any order. A deleted row stays as a tombstone (deleted = TRUE,
-- deleted_at set) and is never brought back by a late update.

-- When the user was deleted (this server's clock): a tombstone, and the user's tokens are
-- refused by every instance for a day after (revocations are loaded from here at startup).
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
CREATE INDEX users_deleted_at_idx ON users (deleted_at) WHERE deleted_at IS NOT NULL;

-- One row per delivery applied (or deliberately ignored), by Svix's message id: a
-- redelivery of the same message changes nothing. Written in the same transaction as the
-- event's changes, so a delivery that failed half-way is not remembered and is applied
-- whole when Svix retries it.
CREATE TABLE webhook_deliveries (
    svix_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);

-- Organizations as Clerk knows them (organization.created/updated/deleted).
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT,
    image_url TEXT,
    public_metadata TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at BIGINT
);

-- Who belongs to which organization, with which role (organizationMembership.*).
-- permissions is a JSON array of permission keys, as text.
CREATE TABLE memberships (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    permissions TEXT NOT NULL DEFAULT '[]',
    updated_at BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at BIGINT
);
CREATE INDEX memberships_org_idx ON memberships (org_id, user_id);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- Sessions Clerk revoked, ended or removed (session.revoked/ended/removed): their tokens,
-- though not expired, are refused. revoked_at is this server's clock; a restarted or new
-- instance loads the last day's revocations.
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_sessions_revoked_idx ON revoked_sessions (revoked_at);
