//! The webhook statements of the SQLite writer's transactions: [`Statements`] over rusqlite (the
//! statements themselves are shared with PostgreSQL, in `webhooks::sql`).

use super::writer::{db, SqliteTx};
use crate::webhooks::sql;
use crate::webhooks::subscriptions::SubscriptionCache;
use crate::webhooks::tx::{Statements, Value};
use crate::webhooks::unpack::BatchOutbox;
use crate::webhooks::StoredDelivery;
use crate::Result;
use async_trait::async_trait;
use rusqlite::types::Value as Sqlite;

fn arguments(args: &[Value]) -> rusqlite::ParamsFromIter<Vec<Sqlite>> {
    rusqlite::params_from_iter(
        args.iter()
            .map(|a| match a {
                Value::Text(Some(s)) => Sqlite::Text(s.clone()),
                Value::Int(Some(i)) => Sqlite::Integer(*i),
                Value::Text(None) | Value::Int(None) => Sqlite::Null,
            })
            .collect::<Vec<_>>(),
    )
}

#[async_trait]
impl Statements for SqliteTx<'_> {
    const POSTGRES: bool = false;

    async fn exec(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        self.execute(sql, arguments(args)).map(|n| n as u64)
    }

    async fn texts(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Option<String>>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(db)?;
        let rows = statement
            .query_map(arguments(args), |r| r.get::<_, Option<String>>(0))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    async fn bytes(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Vec<u8>>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(db)?;
        let rows = statement
            .query_map(arguments(args), |r| {
                Ok(r.get_ref(0)?
                    .as_bytes_or_null()?
                    .unwrap_or_default()
                    .to_vec())
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    async fn integer(&mut self, sql: &str, args: &[Value]) -> Result<Option<i64>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(db)?;
        let mut rows = statement.query(arguments(args)).map_err(db)?;
        match rows.next().map_err(db)? {
            Some(row) => row.get::<_, Option<i64>>(0).map_err(db),
            None => Ok(None),
        }
    }

    fn subscription_cache(&mut self) -> Option<&mut SubscriptionCache> {
        Some(self.subscriptions)
    }

    fn batch_outbox(&mut self) -> Option<&mut BatchOutbox> {
        Some(self.outbox)
    }

    async fn deliveries(
        &mut self,
        sql: &str,
        args: &[Value],
    ) -> Result<Vec<(StoredDelivery, Option<String>)>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(db)?;
        let extra = statement.column_count() > sql::DELIVERY_COLUMN_COUNT;
        let mut rows = statement.query(arguments(args)).map_err(db)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            let more = if extra {
                row.get::<_, Option<String>>(sql::DELIVERY_COLUMN_COUNT)
                    .map_err(db)?
            } else {
                None
            };
            found.push((sql::delivery(row)?, more));
        }
        Ok(found)
    }
}
