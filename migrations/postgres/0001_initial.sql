-- Times are unix milliseconds (BIGINT) and ids are UUIDv7 text, so one set of queries
-- serves PostgreSQL and SQLite alike.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

INSERT INTO tenants (id, name, created_at, updated_at)
VALUES ('default', 'Default tenant', 0, 0);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    email               TEXT NOT NULL,
    email_normalized    TEXT NOT NULL,
    username            TEXT,
    username_normalized TEXT,
    password_hash       TEXT NOT NULL,
    first_name          TEXT,
    last_name           TEXT,
    display_name        TEXT,
    locale              TEXT,
    email_verified      BIGINT NOT NULL DEFAULT 0,
    status              TEXT NOT NULL DEFAULT 'active',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email_normalized),
    CONSTRAINT users_tenant_username_key UNIQUE (tenant_id, username_normalized)
);
CREATE INDEX users_tenant_status_idx ON users (tenant_id, status, id);

CREATE TABLE roles (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
INSERT INTO roles (tenant_id, name, description, created_at) VALUES
    ('default', 'customer', 'Granted on sign-up', 0),
    ('default', 'admin', 'Manages users, roles, clients and keys', 0);

CREATE TABLE user_roles (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    role_name   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_name),
    FOREIGN KEY (tenant_id, role_name) REFERENCES roles(tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX user_roles_role_idx ON user_roles (tenant_id, role_name, user_id);

CREATE TABLE preferences (
    user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    data        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE clients (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    secret_hash       TEXT,
    public            BIGINT NOT NULL DEFAULT 0,
    first_party       BIGINT NOT NULL DEFAULT 0,
    grant_types       TEXT NOT NULL,
    scopes            TEXT NOT NULL,
    audiences         TEXT NOT NULL,
    access_ttl_secs   BIGINT,
    refresh_idle_secs BIGINT,
    refresh_max_secs  BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX clients_tenant_idx ON clients (tenant_id, id);
-- The built-in public client behind the JSON /auth/* endpoints.
INSERT INTO clients (id, tenant_id, name, secret_hash, public, first_party, grant_types, scopes, audiences, created_at, updated_at)
VALUES ('portcullis', 'default', 'portcullis first-party', NULL, 1, 1, 'password refresh_token',
        'openid profile email offline_access', '', 0, 0);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT,
    ip              TEXT,
    user_agent      TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_idle_idx ON sessions (idle_expires_at);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    bits          BIGINT NOT NULL,
    status        TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    private_enc   BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    activate_at   BIGINT NOT NULL,
    activated_at  BIGINT,
    retired_at    BIGINT,
    remove_after  BIGINT,
    revoked_at    BIGINT
);
-- The database, not the instances, guarantees a single signing key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor_id    TEXT,
    subject_id  TEXT,
    ip          TEXT,
    user_agent  TEXT,
    detail      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);
-- At most one key waits to sign next, however many instances rotate at once.
CREATE UNIQUE INDEX signing_keys_one_pending ON signing_keys (status) WHERE status = 'pending';
