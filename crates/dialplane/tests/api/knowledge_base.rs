//! The knowledge base over HTTP: Callin's upload with real PDF and DOCX files in its answer's shape,
//! text documents, rename, delete, bytes and text, lists and groups, retries with an
//! Idempotency-Key, tenancy and scopes. (Refused uploads: `knowledge_uploads`.)

use crate::support::*;
use dialplane_extract::fixtures;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn an_upload_stores_a_group_of_real_files_with_their_text_in_callins_shape() {
    let app = TestApp::spawn().await;
    let pdf = fixtures::pdf(&["Refunds are issued within 14 days.", "Keep your receipt."]);
    let docx = fixtures::docx(&["Opening hours", "Monday to Friday, nine to five."]);
    let md = "# Parking\n\nPark behind the building.".as_bytes();
    let r = app
        .upload(&[
            field("groupName", "Front desk"),
            file("refunds.pdf", &pdf),
            file("dir/hours.docx", &docx),
            file("parking.md", md),
        ])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let data = r.data();
    assert_eq!(data["name"], "Front desk");
    let group = data["groupId"].as_str().unwrap().to_owned();
    let documents = data["documents"].as_array().unwrap();
    let names: Vec<&str> = documents
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["refunds.pdf", "hours.docx", "parking.md"]);
    let total = (pdf.len() + docx.len() + md.len()) as f64;
    let metadata = &data["metadata"];
    assert_eq!(metadata["allowedMb"], 100.0);
    assert_eq!(metadata["usedMb"], 0.0);
    let after = (total / 1_048_576.0 * 100.0).round() / 100.0;
    assert_eq!(metadata["usedMbAfter"], after);
    assert_eq!(
        metadata["remainingMbAfter"],
        ((100.0 - total / 1_048_576.0) * 100.0).round() / 100.0
    );
    for (document, (file_type, bytes, text)) in documents.iter().zip([
        (
            "pdf",
            &pdf[..],
            "Refunds are issued within 14 days.\nKeep your receipt.",
        ),
        (
            "docx",
            &docx[..],
            "Opening hours\nMonday to Friday, nine to five.",
        ),
        ("md", md, "# Parking\n\nPark behind the building."),
    ]) {
        let id = document["documentId"].as_str().unwrap();
        assert_eq!(document["type"], "file");
        assert_eq!(document["status"], "ready", "{document}");
        assert_eq!(document["groupId"], group.as_str());
        assert_eq!(document["details"]["fileType"], file_type);
        assert_eq!(document["details"]["fileSize"], bytes.len());
        assert_eq!(document["textChars"], text.chars().count());
        let url = document["details"]["fileUrl"].as_str().unwrap();
        assert_eq!(
            url,
            format!("http://{}{}", app.addr, document_path(id, "/content"))
        );
        let content = app.get(&document_path(id, "/content")).await;
        assert_eq!(content.status, 200);
        let bytes_back = app
            .client
            .get(app.url(&document_path(id, "/content")))
            .header("x-api-key", &app.key)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&bytes_back[..], bytes);
        let extracted = app.get(&document_path(id, "/text")).await;
        assert_eq!(extracted.status, 200);
        assert_eq!(
            extracted.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(extracted.text, text);
        let got = app.get(&document_path(id, "")).await;
        assert_eq!(got.data(), document);
    }
    assert_eq!(
        app.get(&document_path(
            documents[0]["documentId"].as_str().unwrap(),
            "/content"
        ))
        .await
        .header("content-type"),
        Some("application/pdf")
    );
    // The group is matched without regard to case, and keeps its first spelling.
    let again = app
        .upload(&[
            field("groupName", "FRONT DESK"),
            file("more.txt", b"More notes."),
        ])
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.data()["groupId"], group.as_str());
    assert_eq!(again.data()["name"], "Front desk");
    assert_eq!(again.data()["metadata"]["usedMb"], after);
    let groups = app.get("/api/public/v1/knowledge-base/groups").await;
    assert_eq!(groups.status, 200, "{}", groups.text);
    let listed = &groups.data()[0];
    assert_eq!(listed["groupId"], group.as_str());
    assert_eq!(listed["documentCount"], 4);
    assert_eq!(listed["bytes"], total as u64 + 11);
}

#[tokio::test]
async fn a_text_document_is_a_ready_txt_file_that_can_be_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let id = app
        .text_document(
            "  Opening hours  ",
            "Open 9 to 5.\r\n\r\n\r\nClosed on Sunday.",
        )
        .await;
    let got = app.get(&document_path(&id, "")).await;
    assert_eq!(got.data()["name"], "Opening hours");
    assert_eq!(got.data()["type"], "file");
    assert_eq!(got.data()["details"]["fileType"], "txt");
    assert_eq!(got.data()["status"], "ready");
    assert_eq!(got.data()["groupId"], Value::Null);
    assert_eq!(
        app.get(&document_path(&id, "/text")).await.text,
        "Open 9 to 5.\n\nClosed on Sunday."
    );
    let r = app
        .json(
            Method::PATCH,
            &document_path(&id, ""),
            &app.key,
            &json!({"name": "Hours"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["name"], "Hours");
    assert!(
        r.data()["metadata"]["updatedAt"].as_str() > got.data()["metadata"]["updatedAt"].as_str()
    );
    let r = app
        .json(
            Method::PATCH,
            &document_path(&id, ""),
            &app.key,
            &json!({"status": "failed", "nme": 1, "name": ""}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/name", "too_short"),
            ("/nme", "unknown_field"),
            ("/status", "read_only"),
        ],
    );
    let r = app
        .json(
            Method::POST,
            &format!("{DOCUMENTS}/text"),
            &app.key,
            &json!({"text": "", "extra": true}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/extra", "unknown_field"),
            ("/name", "required"),
            ("/text", "too_short"),
        ],
    );
    let r = app
        .send(
            Method::DELETE,
            &document_path(&id, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data(), &json!({"documentId": id, "deleted": true}));
    app.get(&document_path(&id, ""))
        .await
        .assert_error(404, "not_found");
    app.get(&document_path(&id, "/content"))
        .await
        .assert_error(404, "not_found");
    let r = app
        .send(
            Method::DELETE,
            &document_path(&id, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    r.assert_error(404, "not_found");
    app.get(&document_path("not-an-id", ""))
        .await
        .assert_error(400, "invalid_parameter");
}

#[tokio::test]
async fn documents_list_in_pages_by_time_or_name_with_filters() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for name in ["delta", "Alpha", "charlie", "bravo"] {
        ids.push(app.text_document(name, &format!("About {name}.")).await);
    }
    app.upload(&[field("groupName", "G"), file("echo.md", b"Echo.")])
        .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?sortBy=name&sortDirection=asc&pageSize=2&type=file&cursor={c}"),
            None => "?sortBy=name&sortDirection=asc&pageSize=2&type=file".to_owned(),
        };
        let page = app.get(&format!("{DOCUMENTS}{query}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for d in page.data().as_array().unwrap() {
            seen.push(d["name"].as_str().unwrap().to_owned());
        }
        cursor = page.body["pagination"]["nextCursor"]
            .as_str()
            .map(str::to_owned);
        if cursor.is_none() {
            assert_eq!(page.body["pagination"]["hasMore"], false);
            break;
        }
    }
    assert_eq!(seen, ["Alpha", "bravo", "charlie", "delta", "echo.md"]);
    let newest = app.get(&format!("{DOCUMENTS}?pageSize=1")).await;
    assert_eq!(newest.data()[0]["name"], "echo.md");
    assert_eq!(newest.body["pagination"]["sortBy"], "created_at");
    let found = app.get(&format!("{DOCUMENTS}?search=HAR")).await;
    assert_eq!(found.data().as_array().unwrap().len(), 1);
    assert_eq!(found.data()[0]["documentId"], ids[2].as_str());
    let group = app.get("/api/public/v1/knowledge-base/groups").await.data()[0]["groupId"].clone();
    let in_group = app
        .get(&format!("{DOCUMENTS}?groupId={}", group.as_str().unwrap()))
        .await;
    assert_eq!(in_group.data().as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(&format!("{DOCUMENTS}?type=url")).await.data(),
        &json!([])
    );
    for bad in [
        "?sortBy=size",
        "?type=pdf",
        "?pageSize=0",
        "?cursor=nonsense",
        "?colour=red",
    ] {
        app.get(&format!("{DOCUMENTS}{bad}"))
            .await
            .assert_error(400, "invalid_parameter");
    }
}

#[tokio::test]
async fn another_workspace_sees_none_of_it_and_a_read_key_changes_none_of_it() {
    let app = TestApp::spawn().await;
    let id = app.text_document("Private", "Secret handbook.").await;
    let other = app
        .new_key("elsewhere", dialplane_core::Scope::Write, "mallory")
        .await;
    for rest in ["", "/content", "/text"] {
        let r = app
            .send(
                Method::GET,
                &document_path(&id, rest),
                Some(&other),
                &[],
                None,
            )
            .await;
        r.assert_error(404, "not_found");
    }
    let r = app
        .send(
            Method::DELETE,
            &document_path(&id, ""),
            Some(&other),
            &[],
            None,
        )
        .await;
    r.assert_error(404, "not_found");
    let listed = app
        .send(Method::GET, DOCUMENTS, Some(&other), &[], None)
        .await;
    assert_eq!(listed.data(), &json!([]));
    let found = app
        .send(
            Method::GET,
            "/api/public/v1/knowledge-base/search?q=handbook",
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(found.data(), &json!([]));
    let reader = app
        .new_key("default", dialplane_core::Scope::Read, "reader")
        .await;
    assert_eq!(
        app.send(
            Method::GET,
            &document_path(&id, ""),
            Some(&reader),
            &[],
            None
        )
        .await
        .status,
        200
    );
    app.upload_as(&reader, &[field("groupName", "G"), file("a.txt", b"a")])
        .await
        .assert_error(403, "forbidden");
    let r = app
        .json(
            Method::POST,
            &format!("{DOCUMENTS}/text"),
            &reader,
            &json!({"name": "n", "text": "t"}),
        )
        .await;
    r.assert_error(403, "forbidden");
    let r = app
        .json(
            Method::PATCH,
            &document_path(&id, ""),
            &reader,
            &json!({"name": "n"}),
        )
        .await;
    r.assert_error(403, "forbidden");
    let r = app
        .send(
            Method::DELETE,
            &document_path(&id, ""),
            Some(&reader),
            &[],
            None,
        )
        .await;
    r.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_retried_create_with_its_idempotency_key_is_answered_again_and_stored_once() {
    let app = TestApp::spawn().await;
    let path = format!("{DOCUMENTS}/text");
    let body = json!({"name": "Hours", "text": "Nine to five."});
    let first = app.post_idempotent(&path, "text-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.post_idempotent(&path, "text-1", &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    let other = app
        .post_idempotent(
            &path,
            "text-1",
            &json!({"name": "Hours", "text": "Ten to six."}),
        )
        .await;
    other.assert_error(422, "idempotency_key_reused");
    // An upload: the same group and files under another multipart boundary is the same request.
    let pdf = fixtures::pdf(&["Same bytes."]);
    let upload = |boundary: &'static str, bytes: Vec<u8>| {
        let app = &app;
        async move {
            let parts = [field("groupName", "Retried"), file("same.pdf", &bytes)];
            let (content_type, body) = form_with_boundary(&parts, boundary);
            app.send(
                Method::POST,
                &format!("{DOCUMENTS}/file"),
                Some(&app.key),
                &[
                    ("content-type", &content_type),
                    ("idempotency-key", "upload-1"),
                ],
                Some(body),
            )
            .await
        }
    };
    let first = upload("boundary-one", pdf.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = upload("another-boundary-two", pdf.clone()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data()["documents"], first.data()["documents"]);
    let changed = upload("boundary-one", fixtures::pdf(&["Other bytes."])).await;
    changed.assert_error(422, "idempotency_key_reused");
    let listed = app.get(DOCUMENTS).await;
    assert_eq!(
        listed.data().as_array().unwrap().len(),
        2,
        "one text document, one upload"
    );
}

#[tokio::test]
async fn groups_list_newest_first_by_default_and_lists_take_plain_cursors() {
    let app = TestApp::spawn().await;
    for name in ["beta", "Alpha", "gamma"] {
        let r = app
            .upload(&[field("groupName", name), file("a.txt", b"x")])
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let names = |r: &Resp| -> Vec<String> {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let groups = "/api/public/v1/knowledge-base/groups";
    let newest = app.get(groups).await;
    assert_eq!(names(&newest), ["gamma", "Alpha", "beta"]);
    assert_eq!(newest.body["pagination"]["sortBy"], "created_at");
    assert_eq!(newest.body["pagination"]["sortDirection"], "desc");
    let first = app
        .get(&format!(
            "{groups}?sortBy=name&sortDirection=asc&pageSize=2"
        ))
        .await;
    assert_eq!(names(&first), ["Alpha", "beta"]);
    let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap();
    let rest = app
        .get(&format!(
            "{groups}?sortBy=name&sortDirection=asc&pageSize=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(names(&rest), ["gamma"]);
    // A plain name, or a plain timestamp, as the hosted API's lists take them.
    let after_beta = app
        .get(&format!(
            "{groups}?sortBy=name&sortDirection=asc&cursor=BETA"
        ))
        .await;
    assert_eq!(names(&after_beta), ["gamma"]);
    let documents = app.get(DOCUMENTS).await;
    let created = documents.data()[1]["metadata"]["createdAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let older = app.get(&format!("{DOCUMENTS}?cursor={created}")).await;
    assert_eq!(older.status, 200, "{}", older.text);
    assert_eq!(
        older.data().as_array().unwrap().len(),
        1,
        "only the first is older: {}",
        older.text
    );
    assert_eq!(older.data()[0], documents.data()[2]);
    app.get(&format!("{DOCUMENTS}?cursor=yesterday"))
        .await
        .assert_error(400, "invalid_parameter");
}
