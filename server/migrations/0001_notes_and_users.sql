-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are Unix milliseconds.

-- Notes belong to one user (org_id NULL: a personal note) or to one organization.
-- owner_user_id: who created the note; author_user_id: who wrote its current version.
CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    owner_user_id TEXT NOT NULL,
    org_id TEXT,
    author_user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Listing is newest first within one scope (keyset pagination on created_at, id).
CREATE INDEX notes_personal_idx ON notes (owner_user_id, created_at, id) WHERE org_id IS NULL;
CREATE INDEX notes_org_idx ON notes (org_id, created_at, id) WHERE org_id IS NOT NULL;

-- Users as Clerk knows them, kept in sync by Clerk's webhooks (user.created/updated/deleted).
-- public_metadata is JSON text; updated_at is Clerk's, so an older event never wins.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    image_url TEXT,
    public_metadata TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
