//! The opt-out statements of the SQLite writer's transactions.

use super::writer::{db, SqliteTx};
use crate::opt_outs::{OptOut, OptOutTx};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::CreatedBy;
use rusqlite::params;

#[async_trait]
impl OptOutTx for SqliteTx<'_> {
    async fn add_opt_out(&mut self, workspace: &str, entry: &OptOut) -> Result<(OptOut, bool)> {
        let added = self.execute(
            "INSERT INTO opt_outs (workspace, number, reason, created_at, user_id, user_email)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace, number) DO NOTHING",
            params![
                workspace,
                entry.number,
                entry.reason,
                entry.created_at,
                entry.created_by.user_id,
                entry.created_by.user_email,
            ],
        )? == 1;
        let stored = self
            .conn
            .prepare_cached(
                "SELECT reason, created_at, user_id, user_email FROM opt_outs
                 WHERE workspace = ? AND number = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, entry.number], |r| {
                    Ok(OptOut {
                        number: entry.number.clone(),
                        reason: r.get(0)?,
                        created_at: r.get(1)?,
                        created_by: CreatedBy {
                            user_id: r.get(2)?,
                            user_email: r.get(3)?,
                        },
                    })
                })
            })
            .map_err(db)?;
        Ok((stored, added))
    }

    async fn remove_opt_out(&mut self, workspace: &str, number: &str) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM opt_outs WHERE workspace = ? AND number = ?",
            params![workspace, number],
        )? == 1)
    }
}
