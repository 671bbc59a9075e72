-- API keys may expire: a key past its expires_at is refused like a revoked one.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
