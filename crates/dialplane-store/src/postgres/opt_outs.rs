//! The opt-out statements of PostgreSQL transactions.

use super::PgTx;
use crate::opt_outs::{opt_out, OptOut, OptOutTx, OPT_OUT_COLUMNS};
use crate::Result;
use async_trait::async_trait;

#[async_trait]
impl OptOutTx for PgTx<'_> {
    async fn add_opt_out(&mut self, workspace: &str, entry: &OptOut) -> Result<(OptOut, bool)> {
        let added = sqlx::query(
            "INSERT INTO opt_outs (workspace, number, reason, created_at, user_id, user_email)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace, number) DO NOTHING",
        )
        .bind(workspace)
        .bind(&entry.number)
        .bind(&entry.reason)
        .bind(&entry.created_at)
        .bind(&entry.created_by.user_id)
        .bind(&entry.created_by.user_email)
        .execute(&mut *self.conn)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!(
            "SELECT {OPT_OUT_COLUMNS} FROM opt_outs WHERE workspace = $1 AND number = $2"
        ))
        .bind(workspace)
        .bind(&entry.number)
        .fetch_one(&mut *self.conn)
        .await?;
        Ok((opt_out(&row)?, added))
    }

    async fn remove_opt_out(&mut self, workspace: &str, number: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM opt_outs WHERE workspace = $1 AND number = $2")
                .bind(workspace)
                .bind(number)
                .execute(&mut *self.conn)
                .await?
                .rows_affected()
                == 1,
        )
    }
}
