//! API keys can expire (`dialplane keys create --expires-in`); an expired key is refused like a
//! revoked one.

use crate::support::*;
use dialplane_core::{ApiKey, CreatedBy, Scope};
use dialplane_store::NewKey;
use std::time::Duration;

async fn key_expiring_at(app: &TestApp, expires_at: String) -> String {
    let key = ApiKey::generate();
    app.store
        .write(dialplane_store::CreateKey(NewKey {
            hash: key.hash(),
            workspace: "default".into(),
            scope: Scope::Write,
            user: CreatedBy {
                user_id: "temp".into(),
                user_email: "temp@example.com".into(),
            },
            expires_at: Some(expires_at),
        }))
        .await
        .unwrap();
    key.expose().to_owned()
}

#[tokio::test]
async fn an_expired_key_is_refused_with_the_same_answer_as_an_unknown_one() {
    let app = TestApp::spawn().await;
    let expired = key_expiring_at(
        &app,
        dialplane_core::agent::timestamp_ago(Duration::from_secs(1)),
    )
    .await;
    let refused = app.list_agents_as(&expired, "").await;
    refused.assert_error(401, "unauthorized");
    let unknown = app.list_agents_as(ApiKey::generate().expose(), "").await;
    assert_eq!(
        refused.body["error"]["message"], unknown.body["error"]["message"],
        "nothing tells an expired key from an unknown one"
    );
}

#[tokio::test]
async fn a_key_works_until_it_expires() {
    let app = TestApp::spawn().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let key = key_expiring_at(&app, dialplane_core::agent::timestamp(later)).await;
    assert_eq!(app.list_agents_as(&key, "").await.status, 200);
}
