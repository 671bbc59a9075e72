//! The webhook statements of PostgreSQL transactions: [`Statements`] over sqlx (the statements
//! themselves are shared with SQLite, in `webhooks::sql`).

use super::PgTx;
use crate::webhooks::sql;
use crate::webhooks::tx::{Statements, Value};
use crate::webhooks::StoredDelivery;
use crate::Result;
use async_trait::async_trait;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Postgres, Row};

fn bound<'q>(sql: &'q str, args: &[Value]) -> Query<'q, Postgres, PgArguments> {
    let mut query = sqlx::query(sql);
    for a in args {
        query = match a {
            Value::Text(s) => query.bind(s.clone()),
            Value::Int(i) => query.bind(*i),
        };
    }
    query
}

#[async_trait]
impl Statements for PgTx<'_> {
    const POSTGRES: bool = true;

    async fn exec(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        Ok(bound(sql, args)
            .execute(&mut *self.conn)
            .await?
            .rows_affected())
    }

    async fn texts(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Option<String>>> {
        bound(sql, args)
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(|r| Ok(r.try_get::<Option<String>, _>(0)?))
            .collect()
    }

    async fn integer(&mut self, sql: &str, args: &[Value]) -> Result<Option<i64>> {
        Ok(
            match bound(sql, args).fetch_optional(&mut *self.conn).await? {
                Some(row) => row.try_get::<Option<i64>, _>(0)?,
                None => None,
            },
        )
    }

    async fn deliveries(
        &mut self,
        sql: &str,
        args: &[Value],
    ) -> Result<Vec<(StoredDelivery, Option<String>)>> {
        bound(sql, args)
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(|row| {
                let more = if row.len() > sql::DELIVERY_COLUMN_COUNT {
                    row.try_get::<Option<String>, _>(sql::DELIVERY_COLUMN_COUNT)?
                } else {
                    None
                };
                Ok((sql::delivery(row)?, more))
            })
            .collect()
    }
}
