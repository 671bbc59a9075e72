//! Claims: which due deliveries a worker attempts next, with what each sends and the secrets that
//! sign it. Where other instances share the database, a claim leases them ([`ClaimDeliveries`]); the
//! only instance of a SQLite file leases nothing and claims by reading
//! ([`crate::Store::claim_webhook_deliveries`]).

use super::deliveries::{DeliveryStatus, StoredDelivery, Target};
use super::{now_ms, Secrets};
use crate::write::{Tx, WriteOp};
use crate::{Result, StoreError};
use async_trait::async_trait;
use dialplane_core::DeliveryId;
use std::collections::HashMap;

/// A delivery a worker may now attempt: what it sends, and the secrets that sign it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: StoredDelivery,
    pub payload: String,
    pub secrets: Vec<String>,
    /// Whether its endpoint's last attempts failed (a success must then reset its streak).
    pub endpoint_failing: bool,
}

/// What a claim got, and when the next delivery not yet due falls due.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub claimed: Vec<Claimed>,
    pub next_due: Option<i64>,
}

/// Up to `limit` due deliveries for a worker: leased for `lease_ms` under `token` where other
/// instances share the database (the only instance of a SQLite file leases nothing: the worker
/// keeps its own deliveries under way out of the claim, `in_flight`).
#[derive(Debug, Clone)]
pub struct ClaimDeliveries {
    pub token: String,
    pub limit: u32,
    pub lease_ms: i64,
    /// Targets this worker has as many attempts under way to as it allows.
    pub busy: Vec<String>,
    /// Deliveries this worker is attempting or recording.
    pub in_flight: Vec<DeliveryId>,
}

#[async_trait]
impl WriteOp for ClaimDeliveries {
    type Output = Claims;
    const NAME: &'static str = "claim_webhook_deliveries";

    async fn run(self, tx: &mut dyn Tx) -> Result<Claims> {
        let now = now_ms();
        let due = if self.limit == 0 {
            Vec::new()
        } else {
            tx.due_deliveries(now, self.limit, &self.busy, &self.in_flight)
                .await?
        };
        let mut claimed = Vec::with_capacity(due.len());
        // Each target's URL and secrets, read once for all its deliveries in this claim.
        let mut targets: HashMap<String, Option<ClaimTarget>> = HashMap::new();
        for (mut delivery, payload) in due {
            let key = target_key(&delivery);
            if !targets.contains_key(&key) {
                let found = target_of(tx, &delivery).await?;
                targets.insert(key.clone(), found);
            }
            let Some(target) = targets.get(&key).cloned().flatten() else {
                // Gone or disabled since: nothing more goes to it.
                delivery.end(DeliveryStatus::Cancelled, now);
                delivery.last_error = Some("the endpoint is disabled or deleted".into());
                tx.put_delivery(&delivery).await?;
                continue;
            };
            if let Some(url) = target.url {
                delivery.url = url;
            }
            if !tx.only_instance() {
                delivery.lease = Some((self.token.clone(), now + self.lease_ms));
            }
            claimed.push(Claimed {
                delivery,
                payload: payload.unwrap_or_default(),
                secrets: target.secrets.signing(now),
                endpoint_failing: target.failing,
            });
        }
        if !tx.only_instance() {
            let ids: Vec<DeliveryId> = claimed.iter().map(|c| c.delivery.id).collect();
            tx.lease_deliveries(&ids, &self.token, now + self.lease_ms)
                .await?;
        }
        let next_due = tx.next_due(now).await?;
        Ok(Claims { claimed, next_due })
    }
}

impl crate::Store {
    /// Claims due deliveries for a worker. Where other instances share the database, a write that
    /// leases them ([`ClaimDeliveries`]); the only instance of a database (SQLite) leases nothing,
    /// so its claim is a read beside the writer, which it leaves to the writes that matter.
    pub async fn claim_webhook_deliveries(&self, claim: ClaimDeliveries) -> Result<Claims> {
        if !self.single_writer() {
            return self.write(claim).await;
        }
        self.timed("claim_webhook_deliveries", self.claim_by_reading(claim))
            .await
    }

    async fn claim_by_reading(&self, claim: ClaimDeliveries) -> Result<Claims> {
        self.unpack_webhook_outbox(Some(claim.limit)).await?;
        let now = now_ms();
        let json = |v: Vec<String>| {
            serde_json::to_string(&v).map_err(|e| StoreError::Internal(format!("claim: {e}")))
        };
        let busy = json(claim.busy)?;
        let in_flight = json(claim.in_flight.iter().map(ToString::to_string).collect())?;
        let due = if claim.limit == 0 {
            Vec::new()
        } else {
            self.reads()
                .due_webhook_deliveries(now, claim.limit, &busy, &in_flight)
                .await?
        };
        let mut targets: HashMap<String, Option<ClaimTarget>> = HashMap::new();
        let mut claimed = Vec::with_capacity(due.len());
        let mut gone = Vec::new();
        for (mut delivery, payload) in due {
            let key = target_key(&delivery);
            if !targets.contains_key(&key) {
                let found = match delivery.target {
                    Target::Endpoint(id) => ClaimTarget::endpoint(
                        self.reads()
                            .get_webhook_endpoint(&delivery.workspace, id)
                            .await?,
                    ),
                    Target::PostCallWebhook(_) => Some(ClaimTarget::workspace(
                        match self
                            .reads()
                            .webhook_workspace_secrets(&delivery.workspace)
                            .await?
                        {
                            Some(secrets) => secrets,
                            None => {
                                self.write(super::WorkspaceSecret {
                                    workspace: delivery.workspace.clone(),
                                    rotate: false,
                                })
                                .await?
                            }
                        },
                    )),
                };
                targets.insert(key.clone(), found);
            }
            let Some(target) = targets.get(&key).cloned().flatten() else {
                gone.push(delivery.id);
                continue;
            };
            if let Some(url) = target.url {
                delivery.url = url;
            }
            claimed.push(Claimed {
                delivery,
                payload: payload.unwrap_or_default(),
                secrets: target.secrets.signing(now),
                endpoint_failing: target.failing,
            });
        }
        if !gone.is_empty() {
            self.write(CancelDeliveries { ids: gone }).await?;
        }
        let next_due = self.reads().next_webhook_due(now).await?;
        Ok(Claims { claimed, next_due })
    }
}

/// Cancels pending deliveries whose endpoint was disabled or deleted since they were queued.
#[derive(Debug, Clone)]
pub struct CancelDeliveries {
    pub ids: Vec<DeliveryId>,
}

#[async_trait]
impl WriteOp for CancelDeliveries {
    type Output = ();
    const NAME: &'static str = "cancel_webhook_deliveries";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        let now = now_ms();
        for id in self.ids {
            if let Some(mut delivery) = tx.lock_delivery(None, id).await? {
                if delivery.status == DeliveryStatus::Pending {
                    delivery.end(DeliveryStatus::Cancelled, now);
                    delivery.last_error = Some("the endpoint is disabled or deleted".into());
                    tx.put_delivery(&delivery).await?;
                }
            }
        }
        Ok(())
    }
}

/// The key under which a claim reads a delivery's target once.
fn target_key(delivery: &StoredDelivery) -> String {
    match delivery.target {
        Target::Endpoint(id) => id.to_string(),
        Target::PostCallWebhook(_) => format!("workspace {}", delivery.workspace),
    }
}

/// Where a claimed delivery goes now and what signs it.
#[derive(Debug, Clone)]
struct ClaimTarget {
    /// An endpoint's URL as it is now (a `postCallWebhook` keeps the one stored).
    url: Option<String>,
    secrets: Secrets,
    failing: bool,
}

impl ClaimTarget {
    /// An endpoint's; `None` for one disabled or deleted since.
    fn endpoint(endpoint: Option<super::StoredEndpoint>) -> Option<Self> {
        endpoint.filter(|e| !e.disabled).map(|e| Self {
            url: Some(e.url),
            secrets: e.secrets,
            failing: e.failure_streak > 0,
        })
    }

    /// An agent's `postCallWebhook`, signed with the workspace's secrets.
    fn workspace(secrets: Secrets) -> Self {
        Self {
            url: None,
            secrets,
            failing: false,
        }
    }
}

/// Its [`ClaimTarget`]; `None` for an endpoint disabled or deleted since.
async fn target_of(tx: &mut dyn Tx, delivery: &StoredDelivery) -> Result<Option<ClaimTarget>> {
    Ok(match delivery.target {
        Target::Endpoint(id) => {
            ClaimTarget::endpoint(tx.endpoint(&delivery.workspace, id, false).await?)
        }
        Target::PostCallWebhook(_) => Some(ClaimTarget::workspace(
            match tx.workspace_secrets(&delivery.workspace, false).await? {
                Some(secrets) => secrets,
                None => {
                    let made = Secrets::generate();
                    tx.put_workspace_secrets(&delivery.workspace, &made).await?;
                    made
                }
            },
        )),
    })
}
