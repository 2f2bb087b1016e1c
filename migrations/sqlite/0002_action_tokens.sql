-- Single-use tokens sent by email (password reset, email verification). Only the SHA-256
-- of a token is stored; `email` is the address it was sent to, so a token dies when the
-- account's email changes. `used_at` is set once, by a conditional update.
CREATE TABLE action_tokens (
    token_hash  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    email       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX action_tokens_user_kind_idx ON action_tokens (user_id, kind);
CREATE INDEX action_tokens_expires_idx ON action_tokens (expires_at);
