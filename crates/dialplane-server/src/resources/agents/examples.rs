//! Example payloads for the OpenAPI document, built from the real types so they are valid by
//! construction.

use dialplane_core::validate::validate_create;
use dialplane_core::{Agent, CreatedBy, Metadata, Rules};
use serde_json::{json, Value};

/// A create body with a few sections filled in.
pub fn create_body() -> Value {
    json!({
        "name": "Appointment setter",
        "direction": "outbound",
        "tags": ["dental", "emea"],
        "conversationConfig": {
            "agent": {
                "prompt": {
                    "prompt": "You book dental appointments. Be brief and friendly.",
                    "llm": "gemini-2.5-flash",
                    "temperature": 0.3,
                    "timezone": "Europe/Paris"
                },
                "greetingMessage": "Hello! This is the dental office.",
                "primaryLanguage": "fr",
                "dynamicVariables": {"clinic": "Rue de Rivoli"}
            },
            "turn": {"turnTimeout": 5}
        },
        "platformSettings": {
            "callRetry": {"retryCount": 2, "retryDelay": 60}
        }
    })
}

/// The agent [`create_body`] creates.
pub fn agent() -> Value {
    let body = create_body();
    let spec = body
        .as_object()
        .and_then(|b| validate_create(b, &Rules::default()).ok())
        .unwrap_or_default();
    let agent = Agent {
        agent_id: "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b"
            .parse()
            .unwrap_or_else(|_| dialplane_core::AgentId::generate()),
        spec,
        phone_numbers: Vec::new(),
        metadata: Metadata {
            created_at: "2026-11-23T10:00:00.000000Z".into(),
            updated_at: "2026-11-23T10:00:00.000000Z".into(),
            created_by: CreatedBy {
                user_id: "admin".into(),
                user_email: "admin@localhost".into(),
            },
        },
    };
    serde_json::to_value(agent).unwrap_or(Value::Null)
}

/// `{"success": true, "data": <agent>}`.
pub fn agent_envelope() -> Value {
    json!({"success": true, "data": agent()})
}

/// An error answer with details.
pub fn validation_error() -> Value {
    json!({"success": false, "error": {
        "code": "validation_error",
        "message": "2 fields are invalid",
        "details": [
            {"path": "/conversationConfig/agent/prompt/temperature", "code": "out_of_range",
             "message": "must be between 0 and 2, got 3.5"},
            {"path": "/tags/1", "code": "duplicate", "message": "\"sales\" is listed twice"}
        ],
        "requestId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0c"
    }})
}

/// A malformed query or path parameter.
pub fn invalid_parameter() -> Value {
    json!({"success": false, "error": {
        "code": "invalid_parameter",
        "message": "pageSize: must be an integer from 1 to 100, got \"0\"",
        "details": [{"parameter": "pageSize", "code": "invalid_value",
                     "message": "must be an integer from 1 to 100, got \"0\""}],
        "requestId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0c"
    }})
}
