//! The outbox's rows. A write's transaction stores the webhook events it emitted as one compact row
//! of `webhook_outbox` (on SQLite one row for the writer's whole batch, written after its last
//! savepoint, [`BatchOutbox`]): each event with its payload, its deliveries' ids, targets and URLs.
//! Unpacking ([`super::WebhookTx::unpack_outbox`]) turns rows into the events and deliveries that
//! the log, the worker and the API read, in a transaction of its own: the worker unpacks before it
//! claims, and every read or write of events and deliveries unpacks first, so none of them sees less
//! than was committed. A write thus pays for one row with no index instead of an event and a
//! delivery with their six indexes, and the rest is done when the worker gets to it.
//!
//! A row's body is a JSON array of entries ([`entry`]). The SQLite writer's batch row stores it
//! compressed (zlib, a BLOB; [`BatchOutbox::take_row`]): a batch's entries repeat their workspace,
//! type, endpoint and URL, and its bytes were the cost of the row (each page of it is written to
//! the WAL, synced, and folded into the database file). A body that starts with `[` is the JSON
//! itself (PostgreSQL's rows, made by one statement); [`body_text`] reads both.

use super::deliveries::{StoredDelivery, StoredEvent, Target};
use super::outbox::new_delivery;
use crate::{Result, StoreError};
use dialplane_core::webhooks::EventType;
use dialplane_core::{AgentId, ConversationId, DeliveryId, EndpointId, EventId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::{Read, Write};

/// One event as the outbox keeps it. PostgreSQL's fan-out statement writes the same shape in SQL
/// ([`super::sql::LOG_EVENT_FOR_SUBSCRIBERS_PG`]).
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    id: EventId,
    #[serde(borrow)]
    ws: Cow<'a, str>,
    #[serde(rename = "type")]
    event_type: EventType,
    conv: Option<ConversationId>,
    at: i64,
    /// Attempts each delivery gets.
    n: u32,
    #[serde(borrow)]
    payload: &'a RawValue,
    to: Vec<Planned<'a>>,
}

/// One delivery of an [`Entry`]: an endpoint's, or an agent's `postCallWebhook`.
#[derive(Serialize, Deserialize)]
struct Planned<'a> {
    id: DeliveryId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<EndpointId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<AgentId>,
    #[serde(borrow)]
    url: Cow<'a, str>,
}

fn internal(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Internal(format!("{what}: {e}"))
}

/// `event` and its new deliveries as one entry of an outbox row.
pub(crate) fn entry(event: &StoredEvent, deliveries: &[StoredDelivery]) -> Result<String> {
    let payload: &RawValue =
        serde_json::from_str(&event.payload).map_err(|e| internal("an event's payload", e))?;
    let entry = Entry {
        id: event.id,
        ws: Cow::Borrowed(&event.workspace),
        event_type: event.event_type,
        conv: event.conversation_id,
        at: event.created_at,
        n: deliveries.first().map_or(1, |d| d.max_attempts),
        payload,
        to: deliveries
            .iter()
            .map(|d| {
                let (endpoint, agent) = match d.target {
                    Target::Endpoint(id) => (Some(id), None),
                    Target::PostCallWebhook(id) => (None, Some(id)),
                };
                Planned {
                    id: d.id,
                    endpoint,
                    agent,
                    url: Cow::Borrowed(&d.url),
                }
            })
            .collect(),
    };
    serde_json::to_string(&entry).map_err(|e| internal("an outbox entry", e))
}

/// A row's body as its JSON text: as stored, or decompressed if stored compressed.
pub(crate) fn body_text(body: &[u8]) -> Result<Cow<'_, str>> {
    let text = |bytes| {
        std::str::from_utf8(bytes)
            .map_err(|e| StoreError::Internal(format!("an outbox row's text: {e}")))
    };
    if body.first() == Some(&b'[') {
        return text(body).map(Cow::Borrowed);
    }
    let mut json = String::with_capacity(body.len() * 4);
    flate2::read::ZlibDecoder::new(body)
        .read_to_string(&mut json)
        .map_err(|e| StoreError::Internal(format!("an outbox row's compressed body: {e}")))?;
    Ok(Cow::Owned(json))
}

/// `json` compressed, as the SQLite writer stores a batch's row (the JSON itself, which
/// [`body_text`] reads too, should the compressor ever fail: writing to a Vec does not).
fn compressed(json: &str) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(json.len() / 3),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(json.as_bytes())
        .and_then(|()| encoder.finish())
        .unwrap_or_else(|_| json.as_bytes().to_vec())
}

/// The events of an outbox row (a JSON array of entries), each with its deliveries, pending.
pub(crate) fn events(body: &str) -> Result<Vec<(StoredEvent, Vec<StoredDelivery>)>> {
    let entries: Vec<Entry<'_>> =
        serde_json::from_str(body).map_err(|e| internal("an outbox row", e))?;
    entries
        .into_iter()
        .map(|e| {
            let event = StoredEvent {
                id: e.id,
                workspace: e.ws.into_owned(),
                event_type: e.event_type,
                conversation_id: e.conv,
                created_at: e.at,
                payload: e.payload.get().to_owned(),
            };
            let deliveries =
                e.to.into_iter()
                    .map(|p| {
                        let target = match (p.endpoint, p.agent) {
                            (Some(id), _) => Target::Endpoint(id),
                            (None, Some(id)) => Target::PostCallWebhook(id),
                            (None, None) => {
                                return Err(StoreError::Internal(
                                    "an outbox delivery with no target".into(),
                                ))
                            }
                        };
                        Ok(StoredDelivery {
                            id: p.id,
                            ..new_delivery(&event, target, &p.url, e.n)
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
            Ok((event, deliveries))
        })
        .collect()
}

/// The outbox entries of the SQLite writer's running batch, kept in memory and stored as one row
/// after the batch's last savepoint (each write's savepoint would otherwise journal the outbox's
/// page again). A write that unpacks the outbox unpacks these too; what a write that is undone
/// did to them is undone with it ([`Self::op_ended`]).
#[derive(Debug, Default)]
pub struct BatchOutbox {
    entries: Vec<Kept>,
    /// Entries `..unpacked` were unpacked by the running write.
    unpacked: usize,
}

#[derive(Debug)]
struct Kept {
    body: String,
    deliveries: usize,
    at: i64,
}

/// A batch's outbox row: its oldest event's time, its deliveries, its body (compressed).
pub type OutboxRow = (i64, i64, Vec<u8>);

impl BatchOutbox {
    /// Keeps an entry ([`entry`]) of `deliveries` deliveries, its event made `at`.
    pub(crate) fn push(&mut self, body: String, deliveries: usize, at: i64) {
        self.entries.push(Kept {
            body,
            deliveries,
            at,
        });
    }

    /// The entries not yet unpacked, now counted as unpacked by the running write.
    pub(crate) fn unpack(&mut self) -> Vec<String> {
        let bodies = self.entries[self.unpacked..]
            .iter()
            .map(|k| format!("[{}]", k.body))
            .collect();
        self.unpacked = self.entries.len();
        bodies
    }

    /// Where the running write starts.
    pub fn op_started(&self) -> usize {
        self.entries.len()
    }

    /// The write that started at `mark` ended: if it stands, the entries it unpacked are stored
    /// (as events and deliveries); if it is undone, so are the entries it added and its unpacking.
    pub fn op_ended(&mut self, mark: usize, stands: bool) {
        if stands {
            self.entries.drain(..self.unpacked);
        } else {
            self.entries.truncate(mark);
        }
        self.unpacked = 0;
    }

    /// The batch's row, if it has entries; empties it.
    pub fn take_row(&mut self) -> Option<OutboxRow> {
        if self.entries.is_empty() {
            return None;
        }
        let at = self.entries.iter().map(|k| k.at).min().unwrap_or(0);
        let deliveries = self.entries.iter().map(|k| k.deliveries).sum::<usize>();
        let mut body =
            String::with_capacity(2 + self.entries.iter().map(|k| k.body.len() + 1).sum::<usize>());
        body.push('[');
        for (n, kept) in self.entries.drain(..).enumerate() {
            if n > 0 {
                body.push(',');
            }
            body.push_str(&kept.body);
        }
        body.push(']');
        self.unpacked = 0;
        let deliveries = i64::try_from(deliveries).unwrap_or(i64::MAX);
        Some((at, deliveries, compressed(&body)))
    }

    /// Forgets everything (the batch was rolled back).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.unpacked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: &str) -> StoredEvent {
        StoredEvent {
            id: EventId::generate(),
            workspace: "ws \"quoted\"".into(),
            event_type: EventType::ConversationCompleted,
            conversation_id: Some(ConversationId::generate()),
            created_at: 1_765_000_000_123,
            payload: payload.into(),
        }
    }

    fn delivery(event: &StoredEvent, target: Target, url: &str) -> StoredDelivery {
        new_delivery(event, target, url, 8)
    }

    #[test]
    fn an_entry_unpacks_to_the_event_and_deliveries_it_was_made_of() {
        let event = event(r#"{"type":"conversation.completed","data":{"text":"é \" \\ \n"}}"#);
        let deliveries = vec![
            delivery(
                &event,
                Target::Endpoint(EndpointId::generate()),
                "https://a.test/x",
            ),
            delivery(
                &event,
                Target::PostCallWebhook(AgentId::generate()),
                "https://b.test/\"y",
            ),
        ];
        let body = format!("[{}]", entry(&event, &deliveries).unwrap());
        let unpacked = events(&body).unwrap();
        assert_eq!(unpacked, vec![(event, deliveries)]);
    }

    #[test]
    fn a_batch_row_is_stored_compressed_and_read_back_as_it_was_and_json_as_it_is() {
        let event = event(r#"{"type":"agent.updated","data":{"agentId":"x","version":3}}"#);
        let mut batch = BatchOutbox::default();
        let mut entries = Vec::new();
        for _ in 0..32 {
            let deliveries = vec![delivery(
                &event,
                Target::Endpoint(EndpointId::generate()),
                "https://a.test/hook",
            )];
            let one = entry(&event, &deliveries).unwrap();
            batch.push(one.clone(), 1, event.created_at);
            entries.push(one);
        }
        let json = format!("[{}]", entries.join(","));
        let (_, deliveries, body) = batch.take_row().unwrap();
        assert_eq!(deliveries, 32);
        assert!(
            body.len() * 2 < json.len(),
            "{} of {}",
            body.len(),
            json.len()
        );
        assert_eq!(body_text(&body).unwrap(), json);
        assert_eq!(events(&body_text(&body).unwrap()).unwrap().len(), 32);
        // A body stored as JSON text (PostgreSQL's) is read as it is.
        assert_eq!(body_text(json.as_bytes()).unwrap(), json);
        assert!(body_text(b"not zlib").is_err());
    }

    #[test]
    fn an_undone_write_takes_back_its_entries_and_its_unpacking() {
        let mut batch = BatchOutbox::default();
        batch.push("{\"a\":1}".into(), 1, 20);
        // A write that adds one entry and is undone.
        let mark = batch.op_started();
        batch.push("{\"b\":2}".into(), 2, 10);
        batch.op_ended(mark, false);
        // A write that unpacks and is undone: the entry is still to be stored.
        let mark = batch.op_started();
        assert_eq!(batch.unpack(), vec!["[{\"a\":1}]".to_owned()]);
        batch.op_ended(mark, false);
        // One that adds an entry and stands.
        let mark = batch.op_started();
        batch.push("{\"c\":3}".into(), 3, 30);
        batch.op_ended(mark, true);
        let (at, deliveries, body) = batch.take_row().unwrap();
        assert_eq!((at, deliveries), (20, 4));
        assert_eq!(body_text(&body).unwrap(), "[{\"a\":1},{\"c\":3}]");
        assert_eq!(batch.take_row(), None);
    }

    #[test]
    fn entries_a_standing_write_unpacked_are_not_stored_again() {
        let mut batch = BatchOutbox::default();
        batch.push("{\"a\":1}".into(), 1, 20);
        let mark = batch.op_started();
        assert_eq!(batch.unpack().len(), 1);
        assert!(batch.unpack().is_empty(), "unpacked once");
        batch.op_ended(mark, true);
        assert_eq!(batch.take_row(), None);
    }
}
