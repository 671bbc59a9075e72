//! API keys: their types, the statements each backend runs for them ([`KeyTx`]) and their writes.
//! Keys belong to no workspace's API: the `dialplane keys` commands and the bootstrap write them.

use crate::reads::{on_pool, Reads};
use crate::write::{Event, Tx, WriteOp};
use crate::{now, parse_id, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::{CreatedBy, KeyHash, KeyId, Scope};

/// Who is calling: what an API key resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: KeyId,
    pub workspace: String,
    pub scope: Scope,
    pub user: CreatedBy,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub workspace: String,
    pub scope: Scope,
    pub user: CreatedBy,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// After this time the key is refused.
    pub expires_at: Option<String>,
}

/// A key to store: only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub hash: KeyHash,
    pub workspace: String,
    pub scope: Scope,
    pub user: CreatedBy,
    /// When the key stops working (`None`: never).
    pub expires_at: Option<String>,
}

/// The key statements of a write's transaction.
#[async_trait]
pub trait KeyTx: Send {
    async fn insert_key(&mut self, key: &NewKey, id: KeyId, now: &str) -> Result<KeyRecord>;
    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool>;
    /// Whether any key exists; holds off other transactions asking the same until this one ends.
    async fn any_key(&mut self) -> Result<bool>;
}

/// Stores a new key.
#[derive(Debug, Clone)]
pub struct CreateKey(pub NewKey);

#[async_trait]
impl WriteOp for CreateKey {
    type Output = KeyRecord;
    const NAME: &'static str = "create_key";

    async fn run(self, tx: &mut dyn Tx) -> Result<KeyRecord> {
        let record = tx.insert_key(&self.0, KeyId::generate(), &now()).await?;
        tx.emit(Event::KeysChanged);
        Ok(record)
    }
}

/// Stores `key` only if no key exists at all (atomically, also across instances): the bootstrap.
#[derive(Debug, Clone)]
pub struct CreateFirstKey(pub NewKey);

#[async_trait]
impl WriteOp for CreateFirstKey {
    type Output = Option<KeyRecord>;
    const NAME: &'static str = "create_first_key";

    async fn run(self, tx: &mut dyn Tx) -> Result<Option<KeyRecord>> {
        if tx.any_key().await? {
            return Ok(None);
        }
        let record = tx.insert_key(&self.0, KeyId::generate(), &now()).await?;
        tx.emit(Event::KeysChanged);
        Ok(Some(record))
    }
}

/// Revokes a key: `false` when there is no such key (or it was already revoked).
#[derive(Debug, Clone)]
pub struct RevokeKey(pub KeyId);

#[async_trait]
impl WriteOp for RevokeKey {
    type Output = bool;
    const NAME: &'static str = "revoke_key";

    async fn run(self, tx: &mut dyn Tx) -> Result<bool> {
        let revoked = tx.revoke_key(self.0, &now()).await?;
        if revoked {
            tx.emit(Event::KeysChanged);
        }
        Ok(revoked)
    }
}

/// An API key from a row with the key columns, on either backend.
pub fn key_record<'r, R>(row: &'r R) -> Result<KeyRecord>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let scope: String = row.try_get("scope")?;
    Ok(KeyRecord {
        key_id: parse_id(&row.try_get::<String, _>("key_id")?)?,
        workspace: row.try_get("workspace")?,
        scope: dialplane_core::Scope::parse(&scope)
            .ok_or_else(|| StoreError::Internal(format!("stored scope {scope:?}")))?,
        user: CreatedBy {
            user_id: row.try_get("user_id")?,
            user_email: row.try_get("user_email")?,
        },
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// The columns of [`key_record`].
const KEY_COLUMNS: &str =
    "key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at";

/// The key reads, once for both backends (see [`crate::reads`]).
impl Reads {
    pub async fn authenticate(&self, hash: &KeyHash) -> Result<Option<Principal>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > $2)"
        );
        let record = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(hash.as_bytes())
                .bind(now())
                .fetch_optional(pool)
                .await?
                .map(|row| key_record(&row))
                .transpose()?
        });
        Ok(record.map(|k| Principal {
            key_id: k.key_id,
            workspace: k.workspace,
            scope: k.scope,
            user: k.user,
        }))
    }

    pub async fn has_keys(&self) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM api_keys)";
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(sql).fetch_one(pool).await?
        }))
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id");
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(key_record)
                .collect()
        })
    }
}

/// The key reads.
impl crate::Store {
    /// Resolves a key hash to its principal, if the key exists and is neither revoked nor expired.
    pub async fn authenticate(&self, hash: &KeyHash) -> Result<Option<Principal>> {
        self.timed("authenticate", self.reads().authenticate(hash))
            .await
    }

    pub async fn has_keys(&self) -> Result<bool> {
        self.timed("has_keys", self.reads().has_keys()).await
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        self.timed("list_keys", self.reads().list_keys()).await
    }
}
