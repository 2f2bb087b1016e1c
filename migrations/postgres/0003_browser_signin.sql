-- Browser sign-in: authorization code + PKCE, SSO sessions, remembered consent.

-- Clients gain redirect URIs (space-separated, exact match) and consent / PKCE switches.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_consent BIGINT NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN require_pkce BIGINT NOT NULL DEFAULT 1;

-- A browser (SSO) session is a row of `sessions` with kind 'sso', found by the SHA-256 of its
-- cookie; sessions opened through it for a client point to it (`parent_id`), so ending the
-- browser session ends them too. Listing, password change, disabling and admin revocation
-- already work on `sessions`, so they cover browser sessions without a second path.
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'refresh';
ALTER TABLE sessions ADD COLUMN cookie_hash TEXT;
ALTER TABLE sessions ADD COLUMN parent_id TEXT;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
CREATE UNIQUE INDEX sessions_cookie_idx ON sessions (cookie_hash) WHERE cookie_hash IS NOT NULL;
CREATE INDEX sessions_parent_idx ON sessions (parent_id) WHERE parent_id IS NOT NULL;

-- An authorization request waiting for sign-in or consent; `id` travels in the page URLs.
CREATE TABLE authorization_requests (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    params      TEXT NOT NULL,
    login_sso_id TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expires_idx ON authorization_requests (expires_at);

-- Authorization codes: only the SHA-256 is stored; `used_at` is set once, by a conditional
-- update; `session_id` is what the exchange issued, revoked if the code comes back.
CREATE TABLE authorization_codes (
    code_hash       TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sso_session_id  TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    auth_time       BIGINT NOT NULL,
    amr             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    session_id      TEXT
);
CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at);

-- Consent a user gave a client, for a set of scopes (space-separated).
CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
