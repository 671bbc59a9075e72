//! `multipart/form-data` bodies written by hand, so that a test controls every byte (odd file
//! names, parts a client library would not send).

/// One part: its field name, its file name (a file part), and its bytes.
pub struct FormPart<'a> {
    pub field: &'a str,
    pub file_name: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// A `files` part.
pub fn file<'a>(name: &'a str, bytes: &'a [u8]) -> FormPart<'a> {
    FormPart {
        field: "files",
        file_name: Some(name),
        bytes,
    }
}

/// A plain field.
pub fn field<'a>(name: &'a str, value: &'a str) -> FormPart<'a> {
    FormPart {
        field: name,
        file_name: None,
        bytes: value.as_bytes(),
    }
}

/// The `Content-Type` and body of a form of `parts`.
pub fn form(parts: &[FormPart<'_>]) -> (String, Vec<u8>) {
    form_with_boundary(parts, "dialplane-test-boundary-7MA4YWxkTrZu0gW")
}

/// [`form`] with another boundary.
pub fn form_with_boundary(parts: &[FormPart<'_>], boundary: &str) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part.file_name {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                    part.field
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", part.field).as_bytes(),
            ),
        }
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
