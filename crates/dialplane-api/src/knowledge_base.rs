//! The knowledge base's wire types: documents (Callin's shape and ours beside it), the upload's
//! answer, groups and search hits, with the envelopes that carry them.

use crate::agents::Pagination;
use crate::envelope::schema_ref;
use crate::named_envelope;
use dialplane_core::CreatedBy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A knowledge-base document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub document_id: String,
    /// `url` or `file` (a text document is a `file` of `fileType: "txt"`).
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub details: DocumentDetails,
    /// The group a file upload put it in.
    pub group_id: Option<String>,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// Why it failed, in plain words.
    pub status_message: Option<String>,
    /// Characters of extracted text (0 until `ready`).
    pub text_chars: u64,
    pub metadata: DocumentMetadata,
}

/// `{url}` for a URL document; `{fileUrl, fileType, fileSize}` for a file document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where the original bytes are (`GET …/documents/{documentId}/content`, with `x-api-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// `pdf`, `docx`, `tsx`, `txt` or `md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub created_by: CreatedBy,
}

/// The answer of an upload: the group, its new documents, and the workspace's quota in MiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub group_id: String,
    /// The group's name as stored (a name matched without regard to case keeps its first spelling).
    pub name: String,
    pub documents: Vec<Document>,
    pub metadata: QuotaUse,
}

/// The workspace's storage quota, in MiB rounded to 2 places.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUse {
    pub allowed_mb: f64,
    pub used_mb: f64,
    pub used_mb_after: f64,
    pub remaining_mb_after: f64,
}

/// `POST /knowledge-base/documents/url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrlDocumentCreate {
    /// An `http` or `https` URL, at most 2 048 characters, without a user name or password.
    pub url: String,
    /// 1..=200 characters after trimming, no control characters.
    pub name: String,
}

/// `POST /knowledge-base/documents/text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextDocumentCreate {
    /// 1..=200 characters after trimming, no control characters.
    pub name: String,
    /// 1..=1 000 000 characters.
    pub text: String,
}

/// `PATCH /knowledge-base/documents/{documentId}`: only the name changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentPatch {
    pub name: Option<String>,
}

/// The answer of a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDeleted {
    pub document_id: String,
    pub deleted: bool,
}

/// A group of documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupItem {
    pub group_id: String,
    pub name: String,
    pub document_count: u64,
    /// Original bytes of its documents.
    pub bytes: u64,
    pub metadata: GroupMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMetadata {
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: CreatedBy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorPagination {
    pub page_size: u32,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// A passage that matches a search, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub document_id: String,
    pub name: String,
    /// About 1 000 characters of the document's text.
    pub passage: String,
    /// Higher is better.
    pub score: f64,
}

named_envelope! {
    DocumentEnvelope = Envelope<Document>, data: schema_ref::<Document>(), needs: [Document]
}

named_envelope! {
    UploadEnvelope = Envelope<Upload>, data: schema_ref::<Upload>(), needs: [Upload]
}

named_envelope! {
    DocumentListEnvelope = ListEnvelope<Document, Pagination>
}

named_envelope! {
    GroupListEnvelope = ListEnvelope<GroupItem, Pagination>
}

named_envelope! {
    SearchEnvelope = Envelope<Vec<SearchHit>>,
    data: utoipa::openapi::schema::ArrayBuilder::new().items(schema_ref::<SearchHit>()).build(),
    needs: [SearchHit]
}

named_envelope! {
    DocumentDeletedEnvelope = Envelope<DocumentDeleted>, data: schema_ref::<DocumentDeleted>(), needs: [DocumentDeleted]
}

named_envelope! {
    DocumentAgentsEnvelope = ListEnvelope<crate::agents::AgentListItem, CursorPagination>
}
