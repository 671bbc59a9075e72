//! Uploads refused or stored as failed: type by content, all or nothing, the order of statuses
//! (413, 403, 400) with every problem listed, files whose text cannot be had, the quota, names that
//! cannot be read, and each route's media type.

use crate::support::*;
use dialplane_extract::fixtures;
use dialplane_server::resources::knowledge_base::KnowledgeOptions;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_upload_with_any_refused_file_stores_nothing_and_names_each_file() {
    let app = TestApp::spawn().await;
    let good = fixtures::pdf(&["Fine."]);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let not_docx = fixtures::zip_of(&[("readme.txt", b"hello")]);
    let r = app
        .upload(&[
            field("groupName", "Mixed"),
            file("good.pdf", &good),
            file("scan.pdf", &png),
            file("tool.exe", b"MZ"),
            file("letter.docx", &not_docx),
            file("latin1.txt", b"caf\xe9"),
        ])
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/files/1", "invalid_format"),
            ("/files/2", "unsupported_type"),
            ("/files/3", "invalid_format"),
            ("/files/4", "invalid_format"),
        ],
    );
    assert!(r.text.contains("scan.pdf"), "{}", r.text);
    let listed = app.get(DOCUMENTS).await;
    assert_eq!(listed.data(), &json!([]));
    let groups = app.get("/api/public/v1/knowledge-base/groups").await;
    assert_eq!(groups.data(), &json!([]), "no group is created either");
    // A missing group name and no file at all.
    let r = app.upload(&[field("other", "x")]).await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/files", "required"),
            ("/groupName", "required"),
            ("/other", "unknown_field"),
        ],
    );
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_413_with_every_refused_file_listed() {
    let app = TestApp::spawn().await;
    let big = vec![b'a'; (5 << 20) + 1];
    let r = app
        .upload(&[
            field("groupName", "Big"),
            file("ok.txt", b"small"),
            file("big.txt", &big),
            file("big.md", &big),
            file("tool.exe", b"MZ"),
            field("groupName", "Twice"),
        ])
        .await;
    // 413 comes first, and every other problem is listed beside it.
    r.assert_details(
        413,
        "payload_too_large",
        &[
            ("/files/1", "too_large"),
            ("/files/2", "too_large"),
            ("/files/3", "unsupported_type"),
            ("/groupName", "duplicate"),
        ],
    );
    assert!(
        r.text.contains("2 file(s) over the size limit of 5 MiB"),
        "{}",
        r.text
    );
    assert_eq!(app.get(DOCUMENTS).await.data(), &json!([]));
    // Exactly at the limit is fine.
    let at_limit = vec![b'a'; 5 << 20];
    let r = app
        .upload(&[field("groupName", "Big"), file("at.txt", &at_limit)])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_file_whose_text_cannot_be_had_is_stored_as_failed_with_the_reason() {
    let app = TestApp::spawn().await;
    let scan = fixtures::pdf_without_text();
    let whole = fixtures::pdf(&["Truncated later."]);
    let truncated = whole[..whole.len() / 2].to_vec();
    let bomb = fixtures::docx_bomb(80 << 20);
    let r = app
        .upload(&[
            field("groupName", "Hostile"),
            file("scan.pdf", &scan),
            file("truncated.pdf", &truncated),
            file("bomb.docx", &bomb),
        ])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let documents = r.data()["documents"].as_array().unwrap().clone();
    let messages: Vec<&str> = documents
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "failed", "{d}");
            assert_eq!(d["textChars"], 0);
            d["statusMessage"].as_str().unwrap()
        })
        .collect();
    assert!(messages[0].contains("no text layer"), "{}", messages[0]);
    assert!(messages[1].contains("PDF"), "{}", messages[1]);
    assert!(messages[2].contains("zip bomb"), "{}", messages[2]);
    for document in &documents {
        let id = document["documentId"].as_str().unwrap();
        app.get(&document_path(id, "/text"))
            .await
            .assert_error(409, "conflict");
        // The original bytes are kept all the same.
        assert_eq!(app.get(&document_path(id, "/content")).await.status, 200);
    }
    // The server is unharmed.
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn the_quota_refuses_an_upload_that_would_pass_it_and_stores_none_of_it() {
    let app = TestApp::spawn_with(TestOptions {
        knowledge: KnowledgeOptions {
            quota_bytes: 1 << 20,
            ..KnowledgeOptions::default()
        },
        ..TestOptions::default()
    })
    .await;
    let half = vec![b'a'; 600 << 10];
    let r = app
        .upload(&[field("groupName", "Q"), file("one.txt", &half)])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.data()["metadata"]["allowedMb"], 1.0);
    let r = app
        .upload(&[
            field("groupName", "Q"),
            file("small.txt", b"fits"),
            file("two.txt", &half),
            file("x.exe", b"MZ"),
        ])
        .await;
    // 403 before 400, each file from the first that passes the quota named, and the other
    // problems listed too.
    r.assert_details(
        403,
        "quota_exceeded",
        &[
            ("/files/1", "quota_exceeded"),
            ("/files/2", "quota_exceeded"),
            ("/files/2", "unsupported_type"),
        ],
    );
    assert!(r.text.contains("1 MiB"), "{}", r.text);
    // A text document counts too.
    let body = json!({"name": "Long", "text": "a".repeat(600 << 10)});
    let r = app
        .json(Method::POST, &format!("{DOCUMENTS}/text"), &app.key, &body)
        .await;
    r.assert_error(403, "quota_exceeded");
    assert_eq!(app.get(DOCUMENTS).await.data().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn each_route_takes_only_its_own_media_type() {
    let app = TestApp::spawn().await;
    let r = app
        .json(
            Method::POST,
            &format!("{DOCUMENTS}/file"),
            &app.key,
            &json!({"groupName": "G"}),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    let (content_type, body) = form(&[field("name", "n"), field("text", "t")]);
    let r = app
        .send(
            Method::POST,
            &format!("{DOCUMENTS}/text"),
            Some(&app.key),
            &[("content-type", &content_type)],
            Some(body),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    // A multipart body cut short is a clear 400, never a 500.
    let (content_type, mut body) = form(&[field("groupName", "G"), file("a.txt", b"abc")]);
    body.truncate(body.len() - 10);
    let r = app.upload_raw(&content_type, body, &[]).await;
    r.assert_error(400, "validation_error");
}

#[tokio::test]
async fn a_group_name_or_file_name_that_cannot_be_read_is_said_so() {
    let app = TestApp::spawn().await;
    let long = "g".repeat(4097);
    let r = app
        .upload(&[field("groupName", &long), file("a.txt", b"x")])
        .await;
    r.assert_details(400, "validation_error", &[("/groupName", "too_long")]);
    let bad = FormPart {
        field: "groupName",
        file_name: None,
        bytes: b"\xff\xfe",
    };
    let r = app.upload(&[bad, file("a.txt", b"x")]).await;
    r.assert_details(400, "validation_error", &[("/groupName", "invalid_format")]);
    let (content_type, mut body) = form(&[field("groupName", "G"), file("PLACEHOLDER", b"x")]);
    // A file part whose filename is not UTF-8.
    let at = body.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    body.splice(at..at + 11, b"caf\xe9.txt".iter().copied());
    let r = app.upload_raw(&content_type, body, &[]).await;
    r.assert_details(400, "validation_error", &[("/files/0", "required")]);
    assert!(r.text.contains("no file name"), "{}", r.text);
    app.get(&format!("{DOCUMENTS}?groupId=xyz"))
        .await
        .assert_error(400, "invalid_parameter");
}
