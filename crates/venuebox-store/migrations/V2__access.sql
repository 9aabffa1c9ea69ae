-- Who may use this box. Node-local on purpose: credentials are not show data and never sync.
-- Only hashes are stored: argon2 for passphrases, SHA-256 for random session/token secrets.
CREATE TABLE credentials (
    role       TEXT PRIMARY KEY NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    hash       TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;

CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;
