//! Malformed requests, continued: routes that take no body, and the duplicate's media types.

use super::malformed::*;
use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn routes_that_need_no_body_take_none_or_an_empty_json_object_only() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let a = app.create_named("Front desk").await;
    assert_eq!(
        app.patch_agent(&a, &json!({"tags": ["x"]})).await.status,
        200
    );
    let before = snapshot(&app).await;
    let routes = [
        (Method::DELETE, format!("{V1}/agents/{a}")),
        (Method::POST, format!("{V1}/agents/{a}/versions/1/restore")),
    ];
    let app = &app;
    for (method, path) in &routes {
        let send = |content_type: &'static str, body: &'static str| {
            let headers = vec![("content-type", content_type)];
            let (method, body) = (method.clone(), body.as_bytes().to_vec());
            async move {
                app.send(method, path, Some(&app.key), &headers, Some(body))
                    .await
            }
        };
        let r = send("application/xml", "<xml/>").await;
        r.assert_error(415, "unsupported_media_type");
        let r = send("text/plain", "not json").await;
        r.assert_error(415, "unsupported_media_type");
        let r = send("application/json", "not json").await;
        r.assert_error(400, "invalid_json");
        send("application/json", r#"{"bogus": 1}"#)
            .await
            .assert_problem("/bogus", "unknown_field");
    }
    assert_eq!(snapshot(app).await, before, "nothing changed");
    // No body, or an empty object, is what these routes take.
    let (restore, delete) = (&routes[1], &routes[0]);
    let r = app
        .send(
            restore.0.clone(),
            &format!("{}?dryRun=true", restore.1),
            Some(&app.key),
            &[("content-type", "application/json")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .send(delete.0.clone(), &delete.1, Some(&app.key), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_duplicate_takes_its_options_as_a_merge_patch_media_type_too() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let a = app.create_named("Front desk").await;
    let r = app
        .send(
            Method::POST,
            &format!("{V1}/agents/{a}/duplicate"),
            Some(&app.key),
            &[("content-type", "application/merge-patch+json")],
            Some(br#"{"name": "Night desk"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.data()["name"], "Night desk");
}
