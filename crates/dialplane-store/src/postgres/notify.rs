//! Telling the other instances on the same database that something they may remember changed: a
//! write whose events matter to them sends `NOTIFY dialplane_changes` inside its transaction
//! (PostgreSQL delivers it when, and only if, the transaction commits), and each instance listens
//! on a connection of its own.

use crate::write::Event;
use crate::{OtherInstances, OthersListener};
use sqlx::postgres::{PgListener, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// The channel of the notifications.
pub const CHANNEL: &str = "dialplane_changes";

/// A name for this instance, unique among those on the database: its process and the moment it
/// opened the store.
pub fn instance() -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{started}", std::process::id())
}

/// The payload of the notification a write of `instance` with `events` sends (`change <instance>
/// <workspace>`), if any of its events changes what another instance may remember: agents,
/// documents, the opt-out list.
pub fn payload(instance: &str, events: &[Event]) -> Option<String> {
    let workspace = events.iter().find_map(|e| match e {
        Event::AgentCreated { workspace, .. }
        | Event::AgentUpdated { workspace, .. }
        | Event::AgentDeleted { workspace, .. }
        | Event::DocumentCreated { workspace, .. }
        | Event::DocumentUpdated { workspace, .. }
        | Event::DocumentDeleted { workspace, .. }
        | Event::OptOutsChanged { workspace } => Some(workspace.as_str()),
        Event::KeysChanged
        | Event::DocumentSettled { .. }
        | Event::ConversationCompleted { .. }
        | Event::ConversationAnalyzed { .. }
        | Event::EndpointDisabled { .. }
        | Event::DeliveriesDue => None,
    })?;
    Some(format!("change {instance} {workspace}"))
}

/// How often an instance checks that its listening connection still hears: it notifies itself and
/// waits for its own notification.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// How long it waits for its own notification before it takes the connection for lost.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Listens for the other instances' changes until the pools close, telling `listener` of each, of a
/// lost connection (changes may have been missed) and of listening again. A connection that falls
/// silent (a network partition sends no reset) is found out by the instance's own pings.
pub async fn listen(pool: PgPool, listening: PgPool, instance: Arc<str>, listener: OthersListener) {
    let token = format!("ping {instance}");
    let mut backoff = Duration::from_millis(50);
    let mut ping = 0u64;
    while !pool.is_closed() {
        let (heard_tx, mut heard) = watch::channel(0u64);
        let (ready_tx, ready) = oneshot::channel();
        let receiving = tokio::spawn(receive(
            listening.clone(),
            listener.clone(),
            instance.clone(),
            heard_tx,
            ready_tx,
        ));
        if ready.await.is_err() {
            // It could not listen: try again after a while.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        backoff = Duration::from_millis(50);
        listener(OtherInstances::Listening);
        loop {
            tokio::time::sleep(PING_EVERY).await;
            if pool.is_closed() || receiving.is_finished() {
                break;
            }
            ping += 1;
            let sent = tokio::time::timeout(
                PING_TIMEOUT,
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(format!("{token} {ping}"))
                    .execute(&pool),
            )
            .await;
            let heard_back = matches!(sent, Ok(Ok(_)))
                && tokio::time::timeout(PING_TIMEOUT, heard.wait_for(|n| *n >= ping))
                    .await
                    .is_ok_and(|r| r.is_ok());
            if !heard_back {
                tracing::warn!("the connection that listens for other instances' changes fell silent; reconnecting");
                break;
            }
        }
        receiving.abort();
        listener(OtherInstances::Lost);
    }
}

/// Receives notifications on a connection of its own; says when it listens, counts its own pings,
/// and tells `listener` of the other instances' changes (not of this one's, which it knew first).
async fn receive(
    pool: PgPool,
    listener: OthersListener,
    instance: Arc<str>,
    heard: watch::Sender<u64>,
    ready: oneshot::Sender<()>,
) {
    let mut connection = match subscribe(&pool).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other instances' changes; retrying");
            return;
        }
    };
    let _ = ready.send(());
    loop {
        match connection.try_recv().await {
            Ok(Some(n)) => {
                let mut words = n.payload().split(' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("ping"), Some(of), Some(count)) if of == &*instance => {
                        let count = count.parse().unwrap_or(0);
                        heard.send_modify(|n| *n = (*n).max(count));
                    }
                    // Another instance's ping, or this instance's own change.
                    (Some("ping"), ..) => {}
                    (Some("change"), Some(of), _) if of == &*instance => {}
                    _ => listener(OtherInstances::Changed),
                }
            }
            // Reconnected (and listening again) after a lost connection: what was sent meanwhile
            // is lost.
            Ok(None) => listener(OtherInstances::Changed),
            Err(e) => {
                // At once, not at the next ping: answers must stop trusting memory now.
                listener(OtherInstances::Lost);
                tracing::warn!(error = %e, "lost the connection that listens for other instances' changes");
                return;
            }
        }
    }
}

async fn subscribe(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut connection = PgListener::connect_with(pool).await?;
    connection.listen(CHANNEL).await?;
    Ok(connection)
}
