//! Raw HTTP: requests written byte for byte, answers read off the socket.

use super::TestApp;
use serde_json::{json, Value};

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error answer in the envelope, with a request id.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["success"], json!(false), "{self:?}");
        assert_eq!(self.body["error"]["code"], json!(code), "{self:?}");
        assert!(self.body["error"]["requestId"].is_string(), "{self:?}");
        assert!(self.header("x-request-id").is_some(), "{self:?}");
    }
}

/// Reads one HTTP/1.1 answer from `conn`; `None` if the connection closes before a whole one arrives.
pub async fn read_raw_response(conn: &mut tokio::net::TcpStream) -> Option<RawResp> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = parsed.parse(&buf) {
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
            if buf.len() >= head + length {
                return Some(RawResp {
                    status: parsed.code.unwrap(),
                    body: serde_json::from_slice(&buf[head..head + length]).unwrap_or(Value::Null),
                    headers,
                });
            }
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

impl TestApp {
    /// Sends `request` as it is on a new connection and reads one answer (`None` if the server closed
    /// the connection without one). Gives up after 10 seconds.
    pub async fn raw(&self, request: &[u8]) -> Option<RawResp> {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        // The server may answer and close before reading everything (e.g. an oversized head).
        let _ = conn.write_all(request).await;
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            read_raw_response(&mut conn),
        )
        .await
        .expect("an answer or a close within 10 s")
    }
}
