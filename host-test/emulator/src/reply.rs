//! An answer (status, headers, JSON or empty body) and ARM's CloudError,
//! which the ARM routes, the writes and the router all answer with.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

const JSON: &str = "application/json; charset=utf-8";

/// An answer: status, headers, JSON or empty body.
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::json_text(status, body.to_string())
    }

    /// JSON already serialized (an incident as stored, a page written from them).
    pub fn json_text(status: u16, body: String) -> Reply {
        Reply { status, headers: vec![("content-type".into(), JSON.into())], body }
    }

    /// A status with no body (DELETE's 200/204, the query API's 204).
    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: String::new() }
    }

    /// A canned answer as a test wrote it; JSON unless its headers name a content type.
    pub fn canned(status: u16, headers: Vec<(String, String)>, body: String) -> Reply {
        let typed = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        let reply = Reply { status, headers, body };
        if typed {
            reply
        } else {
            reply.header("content-type", JSON)
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// With the id ARM, Log Analytics and Entra give every answer
    /// (`x-ms-request-id`), unless it has one; the client's own id echoed
    /// back as Entra does (`client-request-id`).
    pub fn with_request_ids(self, client_request_id: Option<&str>) -> Reply {
        let has = |name: &str| self.headers.iter().any(|(key, _)| key.eq_ignore_ascii_case(name));
        let mut reply = if has("x-ms-request-id") {
            self
        } else {
            self.header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
        };
        if let Some(id) = client_request_id {
            reply = reply.header("x-ms-client-request-id", id);
        }
        reply
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut builder =
            Response::builder().status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Body::from(self.body)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// ARM's error answer: `error.code` and `error.message`, with request ids.
pub(crate) fn cloud_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message}}))
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
        .header("x-ms-correlation-request-id", uuid::Uuid::new_v4().to_string())
}
