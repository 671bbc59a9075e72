//! Opt-outs: the numbers of a workspace that must not be called (a caller who asked, or a call the
//! runtime marked `optedOut` on an agent with `smartOptOut`). The statements each backend runs are
//! [`OptOutTx`]; the writes are [`AddOptOut`] and [`RemoveOptOut`].

use crate::reads::{on_pool, Reads};
use crate::write::{Event, Tx, WriteOp};
use crate::{now, Result};
use async_trait::async_trait;
use dialplane_core::CreatedBy;

/// A number on a workspace's opt-out list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// E.164.
    pub number: String,
    pub reason: String,
    pub created_at: String,
    pub created_by: CreatedBy,
}

/// The opt-out statements of a write's transaction.
#[async_trait]
pub trait OptOutTx: Send {
    /// Adds `opt_out` unless its number is listed already; the entry as it stands, and whether
    /// this added it.
    async fn add_opt_out(&mut self, workspace: &str, opt_out: &OptOut) -> Result<(OptOut, bool)>;
    /// Removes the number; whether it was listed.
    async fn remove_opt_out(&mut self, workspace: &str, number: &str) -> Result<bool>;
}

/// Lists a number (an entry already there is answered as it is, unchanged).
#[derive(Debug, Clone)]
pub struct AddOptOut {
    pub workspace: String,
    pub number: String,
    pub reason: String,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for AddOptOut {
    /// The entry, and whether this write added it.
    type Output = (OptOut, bool);
    const NAME: &'static str = "add_opt_out";

    async fn run(self, tx: &mut dyn Tx) -> Result<(OptOut, bool)> {
        let entry = OptOut {
            number: self.number,
            reason: self.reason,
            created_at: now(),
            created_by: self.user,
        };
        let (entry, added) = tx.add_opt_out(&self.workspace, &entry).await?;
        if added {
            tx.emit(Event::OptOutsChanged {
                workspace: self.workspace,
            });
        }
        Ok((entry, added))
    }
}

/// Takes a number off the list: `false` if it was not on it.
#[derive(Debug, Clone)]
pub struct RemoveOptOut {
    pub workspace: String,
    pub number: String,
}

#[async_trait]
impl WriteOp for RemoveOptOut {
    type Output = bool;
    const NAME: &'static str = "remove_opt_out";

    async fn run(self, tx: &mut dyn Tx) -> Result<bool> {
        let removed = tx.remove_opt_out(&self.workspace, &self.number).await?;
        if removed {
            tx.emit(Event::OptOutsChanged {
                workspace: self.workspace,
            });
        }
        Ok(removed)
    }
}

/// The columns of [`opt_out`].
pub(crate) const OPT_OUT_COLUMNS: &str = "number, reason, created_at, user_id, user_email";

/// An opt-out from a row with [`OPT_OUT_COLUMNS`], on either backend.
pub(crate) fn opt_out<'r, R>(row: &'r R) -> Result<OptOut>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(OptOut {
        number: row.try_get("number")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        created_by: CreatedBy {
            user_id: row.try_get("user_id")?,
            user_email: row.try_get("user_email")?,
        },
    })
}

impl Reads {
    pub async fn get_opt_out(&self, workspace: &str, number: &str) -> Result<Option<OptOut>> {
        let sql =
            format!("SELECT {OPT_OUT_COLUMNS} FROM opt_outs WHERE workspace = $1 AND number = $2");
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(workspace)
                .bind(number)
                .fetch_optional(pool)
                .await?
                .map(|row| opt_out(&row))
                .transpose()
        })
    }

    /// Up to `limit` entries in order of number, after `after` if given.
    pub async fn list_opt_outs(
        &self,
        workspace: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OptOut>> {
        let sql = format!(
            "SELECT {OPT_OUT_COLUMNS} FROM opt_outs WHERE workspace = $1 AND number > $2
             ORDER BY number LIMIT $3"
        );
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(workspace)
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
                .iter()
                .map(opt_out)
                .collect()
        })
    }
}

impl crate::Store {
    pub async fn get_opt_out(&self, workspace: &str, number: &str) -> Result<Option<OptOut>> {
        self.timed("get_opt_out", self.reads().get_opt_out(workspace, number))
            .await
    }

    pub async fn list_opt_outs(
        &self,
        workspace: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OptOut>> {
        self.timed(
            "list_opt_outs",
            self.reads().list_opt_outs(workspace, after, limit),
        )
        .await
    }
}
