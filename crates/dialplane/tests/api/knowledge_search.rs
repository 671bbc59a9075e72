//! Search over the knowledge base: relevance on a small corpus with known answers, web-search
//! syntax that is never an error, one agent's documents only, and only `ready` documents.

use crate::support::*;
use dialplane_extract::fixtures;
use reqwest::Method;
use serde_json::json;

const SEARCH: &str = "/api/public/v1/knowledge-base/search";

async fn corpus(app: &TestApp) -> [String; 3] {
    [
        app.text_document(
            "Refunds",
            "Refund policy: we refund any purchase within 30 days. Bring the receipt to the front desk.",
        )
        .await,
        app.text_document(
            "Parking",
            "Parking is free behind the building. The car park closes at ten in the evening.",
        )
        .await,
        app.text_document(
            "Hours",
            "Opening hours are nine to five on weekdays. We are closed on public holidays.",
        )
        .await,
    ]
}

fn ids(r: &Resp) -> Vec<String> {
    r.data()
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["documentId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_best_passage_comes_first_with_a_higher_score() {
    let app = TestApp::spawn().await;
    let [refunds, parking, hours] = corpus(&app).await;
    let r = app.get(&format!("{SEARCH}?q=refund%20receipt")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r), std::slice::from_ref(&refunds));
    let hit = &r.data()[0];
    assert_eq!(hit["name"], "Refunds");
    assert!(hit["passage"].as_str().unwrap().contains("30 days"));
    assert!(hit["score"].as_f64().unwrap() > 0.0);
    // Stemming: "closes" and "closed" share a stem; both documents match, each once.
    let r = app.get(&format!("{SEARCH}?q=close")).await;
    let mut found = ids(&r);
    found.sort();
    let mut expected = vec![parking.clone(), hours.clone()];
    expected.sort();
    assert_eq!(found, expected);
    // A document that matches more of the words ranks first.
    let r = app
        .get(&format!(
            "{SEARCH}?q=parking%20or%20holidays%20or%20building"
        ))
        .await;
    assert_eq!(ids(&r)[0], parking);
    // Phrases, exclusions, or.
    let r = app
        .get(&format!("{SEARCH}?q=%22public%20holidays%22"))
        .await;
    assert_eq!(ids(&r), std::slice::from_ref(&hours));
    let r = app.get(&format!("{SEARCH}?q=close%20-parking")).await;
    assert_eq!(ids(&r), std::slice::from_ref(&hours));
    let r = app
        .get(&format!("{SEARCH}?q=receipt%20or%20weekdays"))
        .await;
    assert_eq!(ids(&r).len(), 2);
    let r = app.get(&format!("{SEARCH}?q=close&limit=1")).await;
    assert_eq!(ids(&r).len(), 1);
    assert_eq!(
        app.get(&format!("{SEARCH}?q=zebra")).await.data(),
        &json!([])
    );
}

#[tokio::test]
async fn any_query_text_is_an_answer_never_a_syntax_error() {
    let app = TestApp::spawn().await;
    corpus(&app).await;
    for q in [
        "%22",
        "-",
        "-refund",
        "NEAR(refund",
        "refund%20AND",
        "*",
        "col%3Arefund",
        "%5E%24%28%29",
        "or",
        "%22unclosed%20phrase",
        "refund%20%22%22",
        "%E2%80%94",
    ] {
        let r = app.get(&format!("{SEARCH}?q={q}")).await;
        assert_eq!(r.status, 200, "q={q}: {}", r.text);
    }
    for bad in [
        "",
        "?q=",
        "?q=%20%20",
        "?q=a&limit=0",
        "?q=a&limit=51",
        "?q=a&other=1",
    ] {
        app.get(&format!("{SEARCH}{bad}"))
            .await
            .assert_error(400, "invalid_parameter");
    }
}

#[tokio::test]
async fn search_within_one_agents_documents_and_only_ready_ones() {
    let app = TestApp::spawn().await;
    let [refunds, parking, _] = corpus(&app).await;
    let agent = app
        .create_agent(&agent_with(
            "/conversationConfig/agent/prompt/knowledgeBase",
            json!([parking.clone()]),
        ))
        .await;
    assert_eq!(agent.status, 201, "{}", agent.text);
    let agent_id = agent.data()["agentId"].as_str().unwrap();
    let r = app
        .get(&format!(
            "{SEARCH}?q=refund%20or%20parking&agentId={agent_id}"
        ))
        .await;
    assert_eq!(ids(&r), [parking]);
    let r = app.get(&format!("{SEARCH}?q=refund%20or%20parking")).await;
    assert!(ids(&r).contains(&refunds));
    let missing = "01931c1e-7b1a-7f00-8000-000000000000";
    app.get(&format!("{SEARCH}?q=refund&agentId={missing}"))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("{SEARCH}?q=refund&agentId=nope"))
        .await
        .assert_error(400, "invalid_parameter");
    // A failed document is not searched, whatever its bytes hold.
    let r = app
        .upload(&[
            field("groupName", "G"),
            file("scan.pdf", &fixtures::pdf_without_text()),
        ])
        .await;
    assert_eq!(r.data()["documents"][0]["status"], "failed");
    assert_eq!(app.get(&format!("{SEARCH}?q=rg")).await.data(), &json!([]));
}

#[tokio::test]
async fn a_long_document_is_searched_passage_by_passage() {
    let app = TestApp::spawn().await;
    let mut text = "Filler about nothing in particular. ".repeat(200);
    text.push_str("The secret word is marmalade. ");
    text.push_str(&"More filler about nothing at all. ".repeat(200));
    let id = app.text_document("Long", &text).await;
    let r = app.get(&format!("{SEARCH}?q=marmalade")).await;
    assert_eq!(ids(&r), [id]);
    let passage = r.data()[0]["passage"].as_str().unwrap();
    assert!(passage.contains("marmalade"));
    assert!(
        passage.chars().count() <= 1000,
        "{}",
        passage.chars().count()
    );
}

#[tokio::test]
async fn a_search_finds_only_its_own_workspaces_passages() {
    let app = TestApp::spawn().await;
    let ours = app
        .text_document("Ours", "The lighthouse keeper rings the bell.")
        .await;
    let other = app
        .new_key("elsewhere", dialplane_core::Scope::Write, "mallory")
        .await;
    let body = json!({"name": "Theirs", "text": "The lighthouse keeper sleeps."});
    let created = app
        .send(
            Method::POST,
            "/api/public/v1/knowledge-base/documents/text",
            Some(&other),
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let theirs = created.data()["documentId"].as_str().unwrap().to_owned();
    // More passages of ours after theirs: each workspace's passages keep their own range.
    let later = app
        .text_document("Later", "A second lighthouse stands on the hill.")
        .await;
    let r = app.get(&format!("{SEARCH}?q=lighthouse")).await;
    let mut found = ids(&r);
    found.sort();
    let mut expected = vec![ours, later];
    expected.sort();
    assert_eq!(found, expected);
    let r = app
        .send(
            Method::GET,
            &format!("{SEARCH}?q=lighthouse"),
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(ids(&r), [theirs]);
}
