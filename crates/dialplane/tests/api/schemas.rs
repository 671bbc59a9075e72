//! The document's three views of the agent, proven against the server: what it answers is an
//! `Agent` with every answered field required; `AgentCreate` requires exactly what the server
//! refuses a create without; `AgentPatch` allows `null` exactly where a merge patch resets a field.
//! Instances are checked with a JSON Schema validator (`jsonschema`, draft 2020-12).

use crate::support::*;
use serde_json::{json, Value};

const COMMITTED: &str = include_str!("../../../../openapi.json");

fn document() -> Value {
    serde_json::from_str(COMMITTED).unwrap()
}

/// A validator for one schema of the document (its `$ref`s resolve inside the document).
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let root =
        json!({"$ref": format!("#/components/schemas/{name}"), "components": doc["components"]});
    jsonschema::draft202012::new(&root).unwrap()
}

/// `schema` with its `$ref` followed, and whether it allows `null` (`oneOf: [$ref, null]`).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> (&'a Value, bool) {
    if let Some(r) = schema["$ref"].as_str() {
        return (
            &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
            false,
        );
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let null = branches.iter().any(|b| b["type"] == "null");
        let other = branches.iter().find(|b| b["type"] != "null").unwrap();
        return (resolve(doc, other).0, null);
    }
    let null = schema["type"]
        .as_array()
        .is_some_and(|t| t.contains(&json!("null")));
    (schema, null)
}

/// A create body with every section and every kind of list item filled in; `other` is an agent it
/// transfers to.
fn full_body(other: &str) -> Value {
    let tool =
        json!({"enabled": true, "description": "Ends the call.", "disableInterruption": true});
    json!({
        "name": "Everything", "direction": "both", "tags": ["full"],
        "conversationConfig": {
            "agent": {
                "prompt": {
                    "prompt": "You help.", "llm": "gpt-4o", "temperature": 0.5, "toolIds": ["tool-1"],
                    "builtInTools": {
                        "endCall": tool, "languageDetection": tool, "skipTurn": tool,
                        "transferToAgent": {"enabled": true, "description": "To sales.", "disableInterruption": false,
                            "transfers": [{"agentId": other, "condition": "asks for sales", "delayMs": 100,
                                "transferMessage": "One moment.", "enableTransferredAgentFirstMessage": true}]},
                        "transferToNumber": {"enabled": true, "description": "", "disableInterruption": false,
                            "transferRuleIds": ["rule-1"],
                            "transfers": [{"condition": "asks for a human",
                                "transferDestination": {"phoneNumber": "+14155550123"}}]},
                        "voicemailDetection": {"enabled": true, "description": "", "disableInterruption": false,
                            "voicemailMessage": "Call us back."}
                    },
                    "knowledgeBase": [], "ignoreDefaultPersonality": true, "timezone": "Europe/Paris"
                },
                "greetingMessage": "Hello.", "primaryLanguage": "fr", "hinglishMode": false,
                "dynamicVariables": {"clinic": "Rivoli"}, "disableFirstMessageInterruptions": true
            },
            "asr": {"userInputAudioFormat": "ulaw_8000", "keywords": ["dental"]},
            "turn": {"turnTimeout": 5, "silenceEndCallTimeout": 60, "turnEagerness": "eager", "spellingPatience": "off"},
            "tts": {"voiceId": "voice-1", "expressiveMode": true,
                "supportedVoices": [{"label": "Calm", "voiceId": "voice-2", "language": "fr", "stability": 0.4,
                    "speed": 1.0, "similarityBoost": 0.6}],
                "suggestedAudioTags": [{"tag": "laughs", "description": "When something is funny."}]}
        },
        "platformSettings": {
            "callActions": {"smartOptOut": true, "issueTracking": true, "postCallWebhook": "",
                "postCallEmail": {"enabled": false, "emailConfiguration": {}},
                "scheduleOnCalendar": {"enabled": false, "provider": "outlook", "eventsIds": []}},
            "widget": {"color": "blue"},
            "dataCollection": {"entities": {"age": {"type": "integer", "description": "The caller's age."}},
                "storeData": true},
            "callRetry": {"retryCount": 2, "retryDelay": 60},
            "summaryLanguage": "en",
            "privacy": {"recordVoice": true},
            "telephony": {"numberRotationEnabled": false, "rotationNumbers": ["+14155550124"], "callsPerNumber": 50,
                "stateRestrictionEnabled": false, "stateRestrictedNumbers": []}
        },
        "workflow": {"nodes": {"start": {"type": "start"}}, "edges": {}, "preventSubagentLoops": true}
    })
}

/// Every field of `value` that the object schemas along the way declare, as (object pointer, field,
/// whether the schema requires it), depth first.
fn fields(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    out: &mut Vec<(String, String, bool)>,
) {
    let (schema, _) = resolve(doc, schema);
    match value {
        Value::Object(map) => {
            let Some(properties) = schema["properties"].as_object() else {
                if let Some(values) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                    for (key, item) in map {
                        fields(doc, values, item, &format!("{at}/{key}"), out);
                    }
                }
                return;
            };
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            for (key, item) in map {
                let property = properties
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}/{key} is not in the schema"));
                out.push((at.to_owned(), key.clone(), required.contains(&json!(key))));
                fields(doc, property, item, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                fields(doc, &schema["items"], item, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn without(body: &Value, at: &str, field: &str) -> Value {
    let mut body = body.clone();
    let parent = if at.is_empty() {
        &mut body
    } else {
        body.pointer_mut(at).unwrap()
    };
    parent.as_object_mut().unwrap().remove(field);
    body
}

#[tokio::test]
async fn an_answer_is_an_agent_of_the_document_with_every_answered_field_required() {
    let doc = document();
    let app = TestApp::spawn().await;
    let other = app.create_named("Sales").await;
    let created = app.create_agent(&full_body(&other)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let minimal = app.create_agent(&minimal_agent("Bare")).await;
    let agent = validator(&doc, "Agent");
    for answer in [created.data(), minimal.data()] {
        let errors: Vec<String> = agent.iter_errors(answer).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        // And the other way: every field the server answers is one the schema requires, except
        // the two of a transfer destination, of which the answer has only the one that is set.
        let mut answered = Vec::new();
        fields(
            &doc,
            &json!({"$ref": "#/components/schemas/Agent"}),
            answer,
            "",
            &mut answered,
        );
        let optional: Vec<_> = answered
            .iter()
            .filter(|(_, _, required)| !required)
            .collect();
        assert!(
            optional
                .iter()
                .all(|(at, _, _)| at.ends_with("/transferDestination")),
            "answered but not required: {optional:?}"
        );
    }
    // Without a required field, the answer would not be an `Agent`.
    let partial = without(created.data(), "/conversationConfig/turn", "turnTimeout");
    assert!(!agent.is_valid(&partial));
}

#[tokio::test]
async fn a_create_body_needs_exactly_the_fields_agent_create_requires() {
    let doc = document();
    let app = TestApp::spawn().await;
    let other = app.create_named("Sales").await;
    let body = full_body(&other);
    let create = validator(&doc, "AgentCreate");
    assert!(create.is_valid(&body));
    assert_eq!(app.create_agent(&body).await.status, 201);
    let mut present = Vec::new();
    fields(
        &doc,
        &json!({"$ref": "#/components/schemas/AgentCreate"}),
        &body,
        "",
        &mut present,
    );
    assert!(
        present.len() > 80,
        "the body fills every section: {}",
        present.len()
    );
    let mut required = Vec::new();
    for (at, field, is_required) in present {
        let body = without(&body, &at, &field);
        let r = app
            .json(
                reqwest::Method::POST,
                "/api/public/v1/agents?dryRun=true",
                &app.key,
                &body,
            )
            .await;
        let pointer = format!("{at}/{field}");
        assert_eq!(create.is_valid(&body), !is_required, "{pointer}");
        if is_required {
            r.assert_error(400, "validation_error");
            let details = r.detail_paths();
            assert!(
                details
                    .iter()
                    .any(|(p, c)| p.starts_with(&pointer) && c == "required"),
                "{pointer}: {details:?}"
            );
            required.push(pointer);
        } else if at.ends_with("/transferDestination") {
            // "Exactly one of phoneNumber and sipUri": said in the schema's description, since
            // generators mishandle the `oneOf` of two `required` lists that would say it.
            r.assert_problem(&at, "invalid_combination");
        } else {
            assert_eq!(
                r.status, 200,
                "{pointer} is optional in the document: {}",
                r.text
            );
        }
    }
    // The required fields, each at every place it occurs in the full body (sorted: the body's
    // members come in key order).
    required.sort();
    assert_eq!(
        required,
        [
            "/conversationConfig",
            "/conversationConfig/agent",
            "/conversationConfig/agent/prompt",
            "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers/0/agentId",
            "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers/0/condition",
            "/conversationConfig/agent/prompt/builtInTools/transferToNumber/transfers/0/condition",
            "/conversationConfig/agent/prompt/builtInTools/transferToNumber/transfers/0/transferDestination",
            "/conversationConfig/agent/prompt/prompt",
            "/conversationConfig/tts/suggestedAudioTags/0/tag",
            "/conversationConfig/tts/supportedVoices/0/label",
            "/conversationConfig/tts/supportedVoices/0/language",
            "/conversationConfig/tts/supportedVoices/0/voiceId",
            "/name",
            "/platformSettings/dataCollection/entities/age/description",
            "/platformSettings/dataCollection/entities/age/type",
        ]
    );
}

/// Every property of the merge-patch view reachable through nested patch objects, as (pointer,
/// whether `null` is allowed).
fn patch_properties(doc: &Value, schema: &Value, at: &str, out: &mut Vec<(String, bool)>) {
    let (schema, _) = resolve(doc, schema);
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        let pointer = format!("{at}/{key}");
        let (target, null) = resolve(doc, property);
        out.push((pointer.clone(), null));
        if target["properties"].is_object() && !property["$ref"].is_null()
            || property["oneOf"].is_array()
        {
            patch_properties(doc, property, &pointer, out);
        }
    }
}

#[tokio::test]
async fn a_merge_patch_may_send_null_exactly_where_the_server_resets_the_field() {
    let doc = document();
    let app = TestApp::spawn().await;
    let other = app.create_named("Sales").await;
    let id = app.create_agent(&full_body(&other)).await.data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let defaults = app
        .create_agent(&minimal_agent("Bare"))
        .await
        .data()
        .clone();
    let patch_view = validator(&doc, "AgentPatch");
    let mut properties = Vec::new();
    patch_properties(
        &doc,
        &json!({"$ref": "#/components/schemas/AgentPatch"}),
        "",
        &mut properties,
    );
    assert!(properties.len() > 60, "{}", properties.len());
    let mut not_nullable = Vec::new();
    // The document's properties come in its order; compare them sorted.
    for (pointer, nullable) in properties {
        let mut patch = json!({});
        set_pointer(&mut patch, &pointer, Value::Null);
        assert_eq!(patch_view.is_valid(&patch), nullable, "{pointer}");
        let r = app.patch_agent(&id, &patch).await;
        if nullable {
            assert_eq!(r.status, 200, "{pointer}: {}", r.text);
            assert_eq!(
                r.data().pointer(&pointer),
                defaults.pointer(&pointer),
                "{pointer} is back to its default"
            );
        } else {
            r.assert_error(400, "validation_error");
            not_nullable.push(pointer);
        }
    }
    not_nullable.sort();
    assert_eq!(
        not_nullable,
        [
            "/conversationConfig",
            "/conversationConfig/agent",
            "/conversationConfig/agent/prompt",
            "/conversationConfig/agent/prompt/prompt",
            "/name",
        ]
    );
}

/// Every schema object in `value`, with where it is.
fn walk<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            out.push((at.clone(), value));
            for (key, item) in map {
                walk(item, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_schemas_have_no_composition_or_default_that_generators_stumble_on() {
    let doc = document();
    let mut all = Vec::new();
    walk(&doc["components"]["schemas"], String::new(), &mut all);
    for (at, schema) in all {
        if at.contains("/example") {
            continue;
        }
        assert!(schema.get("allOf").is_none(), "allOf at {at}");
        if let Some(branches) = schema["oneOf"].as_array() {
            assert!(branches.len() >= 2, "a single-branch oneOf at {at}");
        }
        // Defaults are said in words: openapi-typescript makes a field with a `default` required.
        assert!(
            schema.get("default").is_none(),
            "a default at {at}: {}",
            schema["default"]
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        !schemas.contains_key("AgentSpec"),
        "the writable base is replaced by its views"
    );
    for name in [
        "Agent",
        "AgentCreate",
        "AgentPatch",
        "PromptInput",
        "PromptPatch",
        "LlmModel",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    // Each default of a create field is said in its description.
    let temperature = &schemas["TurnInput"]["properties"]["turnTimeout"]["description"];
    assert!(
        temperature.as_str().unwrap().ends_with("Default: `7.0`."),
        "{temperature}"
    );
    let eagerness = &schemas["TurnInput"]["properties"]["turnEagerness"]["description"];
    assert_eq!(eagerness, "Default: `\"normal\"`.");
}
