//! The key statements of the SQLite writer's transactions.

use super::writer::{db, SqliteTx};
use crate::keys::{KeyRecord, KeyTx, NewKey};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::KeyId;
use rusqlite::params;

#[async_trait]
impl KeyTx for SqliteTx<'_> {
    async fn insert_key(&mut self, key: &NewKey, id: KeyId, now: &str) -> Result<KeyRecord> {
        self.execute(
            "INSERT INTO api_keys (key_id, key_hash, workspace, scope, user_id, user_email, created_at,
                                   expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                id.to_string(),
                key.hash.as_bytes(),
                key.workspace,
                key.scope.as_str(),
                key.user.user_id,
                key.user.user_email,
                now,
                key.expires_at,
            ],
        )?;
        Ok(KeyRecord {
            key_id: id,
            workspace: key.workspace.clone(),
            scope: key.scope,
            user: key.user.clone(),
            created_at: now.to_owned(),
            revoked_at: None,
            expires_at: key.expires_at.clone(),
        })
    }

    async fn any_key(&mut self) -> Result<bool> {
        // The writer's transaction holds SQLite's write lock: no one else can add a key meanwhile.
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)
    }

    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool> {
        let changed = self.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            params![now, id.to_string()],
        )?;
        Ok(changed == 1)
    }
}
