//! Unit and property tests of validation: valid documents survive, invalid ones are reported in full.

use super::*;
use crate::agent::*;
use proptest::prelude::*;
use serde_json::json;

fn rules() -> Rules {
    Rules::default()
}

fn minimal() -> Map<String, Value> {
    json!({"name": "A", "conversationConfig": {"agent": {"prompt": {"prompt": "p"}}}})
        .as_object()
        .cloned()
        .unwrap()
}

fn stored(spec: AgentSpec) -> Agent {
    Agent {
        agent_id: AgentId::generate(),
        spec,
        phone_numbers: Vec::new(),
        metadata: Metadata {
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
            created_by: CreatedBy {
                user_id: "u".into(),
                user_email: "u@example.com".into(),
            },
        },
    }
}

fn paths(problems: &Problems) -> Vec<(String, ProblemCode)> {
    problems.iter().map(|p| (p.path.clone(), p.code)).collect()
}

#[test]
fn a_minimal_body_gets_every_default() {
    let spec = validate_create(&minimal(), &rules()).unwrap();
    let mut expected = AgentSpec {
        name: "A".into(),
        ..AgentSpec::default()
    };
    expected.conversation_config.agent.prompt.prompt = "p".into();
    assert_eq!(spec, expected);
    assert!(
        spec.conversation_config
            .agent
            .prompt
            .built_in_tools
            .end_call
            .enabled
    );
    assert_eq!(spec.conversation_config.tts.voice_id, DEFAULT_VOICE_ID);
}

#[test]
fn every_problem_is_reported_at_once_with_its_pointer() {
    let body = json!({
        "name": "",
        "direction": "sideways",
        "tags": ["a", "a"],
        "conversationConfig": {"agent": {"prompt": {"prompt": "p", "temperature": 3.5, "extra": 1}}},
        "platformSettings": {"callRetry": {"retryCount": 2.5}}
    });
    let problems = validate_create(body.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![
            ("/name".into(), ProblemCode::TooShort),
            ("/direction".into(), ProblemCode::InvalidValue),
            ("/tags/1".into(), ProblemCode::Duplicate),
            (
                "/conversationConfig/agent/prompt/temperature".into(),
                ProblemCode::OutOfRange
            ),
            (
                "/conversationConfig/agent/prompt/extra".into(),
                ProblemCode::UnknownField
            ),
            (
                "/platformSettings/callRetry/retryCount".into(),
                ProblemCode::InvalidType
            ),
        ]
    );
    assert_eq!(problems.to_string(), "6 fields are invalid");
}

#[test]
fn a_missing_parent_is_reported_once_at_the_outermost_missing_object() {
    let body = json!({"name": "A"});
    let problems = validate_create(body.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![("/conversationConfig".into(), ProblemCode::Required)]
    );
    let body = json!({"name": "A", "conversationConfig": {"agent": {}}});
    let problems = validate_create(body.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![(
            "/conversationConfig/agent/prompt".into(),
            ProblemCode::Required
        )]
    );
}

#[test]
fn a_wrong_type_for_an_object_is_one_problem_not_many() {
    let body = json!({"name": "A", "conversationConfig": 7});
    let problems = validate_create(body.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![("/conversationConfig".into(), ProblemCode::InvalidType)]
    );
}

#[test]
fn the_llm_must_be_one_of_the_configured_models() {
    let mut body = minimal();
    body["conversationConfig"]["agent"]["prompt"]["llm"] = json!("my-model");
    assert!(validate_create(&body, &rules()).is_err());
    let custom = Rules {
        llm_models: vec!["my-model".into()],
        ..Rules::default()
    };
    assert!(validate_create(&body, &custom).is_ok());
}

#[test]
fn patching_an_agent_with_its_own_document_changes_nothing() {
    let agent = stored(validate_create(&minimal(), &rules()).unwrap());
    let body = serde_json::to_value(&agent).unwrap();
    assert_eq!(
        validate_patch(&agent, body.as_object().unwrap(), &rules()),
        Ok(None)
    );
    assert_eq!(validate_patch(&agent, &Map::new(), &rules()), Ok(None));
}

#[test]
fn read_only_fields_must_keep_their_stored_values() {
    let agent = stored(validate_create(&minimal(), &rules()).unwrap());
    let patch = json!({"metadata": {"createdAt": "2020-01-01T00:00:00Z"}, "agentId": "x"});
    let problems = validate_patch(&agent, patch.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![
            ("/agentId".into(), ProblemCode::ReadOnly),
            ("/metadata/createdAt".into(), ProblemCode::ReadOnly),
        ]
    );
}

#[test]
fn a_transfer_to_itself_is_refused() {
    let agent = stored(validate_create(&minimal(), &rules()).unwrap());
    let patch = json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": {"transferToAgent": {
        "transfers": [{"agentId": agent.agent_id.to_string(), "condition": "asks"}]}}}}}});
    let problems = validate_patch(&agent, patch.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        problems.iter().next().unwrap().code,
        ProblemCode::SelfReference
    );
}

prop_compose! {
    fn tool()(enabled in any::<bool>(), description in "[a-z ]{0,20}", disable in any::<bool>()) -> Tool {
        Tool { enabled, description, disable_interruption: disable }
    }
}

prop_compose! {
    fn valid_spec()(
        name in "[A-Za-z][A-Za-z0-9 ]{0,40}",
        direction in prop::sample::select(vec![Direction::Outbound, Direction::Inbound, Direction::Both]),
        tags in prop::collection::btree_set("[a-z]{1,10}", 0..5),
        prompt in "\\PC{1,200}",
        temperature in 0.0f64..=2.0,
        llm in prop::sample::select(DEFAULT_LLM_MODELS.to_vec()),
        end_call in tool(),
        skip_turn in tool(),
        turn_timeout in 1.0f64..=30.0,
        silence in prop_oneof![Just(-1.0f64), 1.0f64..=7200.0],
        eagerness in prop::sample::select(vec![TurnEagerness::Patient, TurnEagerness::Normal, TurnEagerness::Eager]),
        vars in prop::collection::btree_map("[a-z_][a-z0-9_]{0,10}", prop_oneof![
            "[a-z]{0,5}".prop_map(Value::from), any::<i32>().prop_map(Value::from), any::<bool>().prop_map(Value::from)
        ], 0..5),
        retry_count in 0u32..=10,
        retry_delay in 1u32..=1440,
        calls_per_number in 1u32..=10_000,
        numbers in prop::collection::btree_set("\\+[1-9][0-9]{6,12}", 2..5),
        rotation in any::<bool>(),
        language in prop::sample::select(vec!["en", "pt-BR", "fr", "es-419"]),
    ) -> AgentSpec {
        let mut s = AgentSpec { name, direction, tags: tags.into_iter().collect(), ..AgentSpec::default() };
        let p = &mut s.conversation_config.agent.prompt;
        p.prompt = prompt;
        p.temperature = temperature;
        p.llm = llm.to_owned();
        p.built_in_tools.end_call = end_call;
        p.built_in_tools.skip_turn = skip_turn;
        s.conversation_config.agent.dynamic_variables = vars.into_iter().collect();
        s.conversation_config.agent.primary_language = language.to_owned();
        s.conversation_config.turn.turn_timeout = turn_timeout;
        s.conversation_config.turn.silence_end_call_timeout = silence;
        s.conversation_config.turn.turn_eagerness = eagerness;
        s.platform_settings.call_retry = CallRetry { retry_count, retry_delay };
        s.platform_settings.telephony.calls_per_number = calls_per_number;
        s.platform_settings.telephony.number_rotation_enabled = rotation;
        s.platform_settings.telephony.rotation_numbers = numbers.into_iter().collect();
        s
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "tags",
                    "conversationConfig",
                    "agent",
                    "prompt",
                    "temperature",
                    "turn",
                    "platformSettings",
                    "telephony",
                    "workflow",
                    "nodes",
                    "edges",
                    "type",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn a_valid_document_survives_serialise_then_validate_unchanged(spec in valid_spec()) {
        let body = serde_json::to_value(&spec).unwrap();
        let back = validate_create(body.as_object().unwrap(), &rules());
        prop_assert_eq!(back, Ok(spec));
    }

    #[test]
    fn a_stored_agent_patched_with_its_own_get_body_is_a_no_op(spec in valid_spec()) {
        let agent = stored(spec);
        let body = serde_json::to_value(&agent).unwrap();
        prop_assert_eq!(validate_patch(&agent, body.as_object().unwrap(), &rules()), Ok(None));
    }

    #[test]
    fn validation_never_panics_and_every_problem_has_a_pointer(body in json_value()) {
        let base = serde_json::to_value(stored(validate_create(&minimal(), &rules()).unwrap())).unwrap();
        let candidate = merge(&base, &body);
        if let Err(problems) = read_candidate(&candidate, &rules()) {
            prop_assert!(!problems.is_empty());
            for p in problems.iter() {
                prop_assert!(p.path.is_empty() || p.path.starts_with('/'), "{}", p.path);
                prop_assert!(!p.message.is_empty());
            }
        }
    }

    #[test]
    fn an_out_of_range_temperature_is_reported_exactly_there(t in prop_oneof![-1e9f64..-0.001, 2.001f64..1e9]) {
        let mut body = minimal();
        body["conversationConfig"]["agent"]["prompt"]["temperature"] = json!(t);
        let problems = validate_create(&body, &rules()).unwrap_err();
        prop_assert_eq!(paths(&problems), vec![(
            "/conversationConfig/agent/prompt/temperature".to_owned(), ProblemCode::OutOfRange)]);
    }
}

#[test]
fn an_unknown_field_set_to_null_is_still_unknown() {
    let mut body = minimal();
    body.insert("bogus".into(), Value::Null);
    body["conversationConfig"]["agent"]["prompt"]["nope"] = Value::Null;
    let problems = validate_create(&body, &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![
            (
                "/conversationConfig/agent/prompt/nope".into(),
                ProblemCode::UnknownField
            ),
            ("/bogus".into(), ProblemCode::UnknownField),
        ]
    );
    let agent = stored(validate_create(&minimal(), &rules()).unwrap());
    let patch = json!({"bogus": null, "tags": null, "platformSettings": {"widget": {"k": null}}});
    let problems = validate_patch(&agent, patch.as_object().unwrap(), &rules()).unwrap_err();
    assert_eq!(
        paths(&problems),
        vec![("/bogus".into(), ProblemCode::UnknownField)]
    );
}

/// The paths of an RFC 6902 diff, each once: what `changes::diff` must give, from the two values'
/// text, without building the diff.
fn paths_of_a_full_diff(before: &Value, after: &Value) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for op in json_patch::diff(before, after).iter() {
        let path = op.path().to_string();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// `changes::diff` of the two values written as JSON text.
fn diff_of_texts(before: &Value, after: &Value) -> Vec<String> {
    let (before, after) = (before.to_string(), after.to_string());
    fn raw(text: &str) -> &serde_json::value::RawValue {
        serde_json::from_str(text).unwrap()
    }
    let (before, after) = (raw(&before), raw(&after));
    let mut paths = Vec::new();
    changes::diff(before, after, &mut String::new(), &mut paths);
    paths
}

proptest! {
    #[test]
    fn changed_paths_are_those_of_a_full_diff(
        before in crate::testing::json_value(),
        after in crate::testing::json_value(),
    ) {
        prop_assert_eq!(diff_of_texts(&before, &after), paths_of_a_full_diff(&before, &after));
    }
}

/// Every node of `value`, as a JSON Pointer, parents before children.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            out.push(at.clone());
            for (key, inner) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(inner, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            out.push(at.clone());
            for (i, inner) in items.iter().enumerate() {
                pointers(inner, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

/// `value` with a few edits, each at a node picked by `pick`: replaced by `with`, removed from its
/// object or array, or (an object or array) given one more member or element. Most of the result
/// is as it was, as with two revisions of one agent.
fn edited(mut value: Value, edits: Vec<(usize, u8, Value)>) -> Value {
    for (pick, kind, with) in edits {
        let mut nodes = Vec::new();
        pointers(&value, String::new(), &mut nodes);
        let at = &nodes[pick % nodes.len()];
        let (parent, last) = at.rsplit_once('/').unwrap_or(("", ""));
        match kind % 3 {
            0 => *value.pointer_mut(at).unwrap() = with,
            1 if !at.is_empty() => match value.pointer_mut(parent).unwrap() {
                Value::Object(map) => {
                    map.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(items) => {
                    items.remove(last.parse().unwrap());
                }
                _ => unreachable!("a parent is an object or an array"),
            },
            _ => match value.pointer_mut(at).unwrap() {
                Value::Object(map) => {
                    map.insert("zz".into(), with);
                }
                Value::Array(items) => items.push(with),
                other => *other = with,
            },
        }
    }
    value
}

/// `value` as compact JSON text with every object's members in reverse order, as a struct's fields
/// may be: not sorted by key.
fn reversed_text(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(key, inner)| {
                    format!("{}:{}", Value::from(key.as_str()), reversed_text(inner))
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed_text).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

proptest! {
    #[test]
    fn changed_paths_read_side_by_side_are_those_of_a_full_diff(
        before in crate::testing::json_value(),
        edits in prop::collection::vec(
            (any::<usize>(), any::<u8>(), crate::testing::json_value()),
            0..4,
        ),
        unrelated in crate::testing::json_value(),
        layout in 0..3,
    ) {
        let edited = edited(before.clone(), edits);
        for after in [&edited, &unrelated] {
            // Compact; the second text pretty-printed; members in another order than by key.
            let (before_text, after_text) = match layout {
                0 => (before.to_string(), after.to_string()),
                1 => (before.to_string(), serde_json::to_string_pretty(after).unwrap()),
                _ => (reversed_text(&before), reversed_text(after)),
            };
            prop_assert_eq!(
                changes::changed_paths_of_values(&before_text, &after_text),
                Some(paths_of_a_full_diff(&before, after))
            );
        }
    }
}

#[test]
fn changed_paths_of_documents_that_are_not_json_objects_are_none() {
    let agent =
        serde_json::to_string(&stored(validate_create(&minimal(), &rules()).unwrap())).unwrap();
    for (before, after) in [
        (agent.as_str(), "[1]"),
        (agent.as_str(), "{"),
        (agent.as_str(), &agent[..agent.len() - 1]),
        ("{\"a\": tru}", "{\"a\": false}"),
        ("{\"a\": 1} x", "{\"a\": 2}"),
    ] {
        assert!(
            changed_paths(before, after).is_empty(),
            "{before} -> {after}"
        );
        assert!(
            changed_paths(after, before).is_empty(),
            "{after} -> {before}"
        );
    }
}

#[test]
fn changed_paths_of_arrays_that_grow_or_shrink() {
    for (before, after) in [
        (json!({"t": [1, 2, 3]}), json!({"t": [1]})),
        (json!({"t": [1]}), json!({"t": [1, 2, 3]})),
        (
            json!({"t": [{"a": 1}], "u~/": 1}),
            json!({"t": [{"a": 2}, 3]}),
        ),
    ] {
        assert_eq!(
            diff_of_texts(&before, &after),
            paths_of_a_full_diff(&before, &after),
            "{before} -> {after}"
        );
    }
}

#[test]
fn the_read_only_values_are_those_of_the_stored_document() {
    let agent = stored(validate_create(&minimal(), &rules()).unwrap());
    let document = serde_json::to_value(&agent).unwrap();
    let read_only = read_only_values(&agent);
    for key in READ_ONLY {
        assert_eq!(read_only.get(key), document.get(key), "{key}");
    }
    assert_eq!(read_only.as_object().unwrap().len(), READ_ONLY.len());
}

#[test]
fn changed_paths_compare_values_and_leave_out_the_read_only_members() {
    let before = stored(validate_create(&minimal(), &rules()).unwrap());
    let mut after = before.clone();
    after.spec.name = "Renamed".into();
    after.spec.conversation_config.tts.voice_id = "v2".into();
    after.metadata.updated_at = "2030-01-01T00:00:00.000000Z".into();
    let (before, after) = (
        serde_json::to_string(&before).unwrap(),
        serde_json::to_string(&after).unwrap(),
    );
    assert_eq!(
        changed_paths(&before, &after),
        vec!["/conversationConfig/tts/voiceId", "/name"]
    );
    assert!(changed_paths(&before, &before).is_empty());
    // The same values written differently are no change; a different value is one.
    assert!(changed_paths(r#"{"a": [1, {"b": "x"}]}"#, r#"{"a":[1,{"b":"x"}]}"#).is_empty());
    assert_eq!(
        changed_paths(
            r#"{"a": {"b": 1}, "agentId": 1}"#,
            r#"{"a":{"b":2},"agentId":2}"#
        ),
        vec!["/a/b"]
    );
}

/// How a PATCH was validated before only its named members were read: the whole stored agent merged
/// with the patch and read again.
fn validate_patch_in_full(
    stored: &Agent,
    patch: &Map<String, Value>,
) -> Result<Option<AgentSpec>, Problems> {
    let mut candidate = serde_json::to_value(stored).unwrap();
    crate::merge::merge_in_place(&mut candidate, &Value::Object(patch.clone()));
    let spec = finish(
        patch,
        &|k| patch.contains_key(k),
        candidate,
        &read_only_values(stored),
        &rules(),
        Some(stored.agent_id),
        None,
    )?;
    Ok((spec != stored.spec).then_some(spec))
}

/// Merge patches that reach into the sections at random: each member of another valid agent's
/// document is left out, sent whole, descended into (an object: the same again inside it, sometimes
/// with an unknown member), or sent as `null` or as a random value.
fn nested_merge_patch() -> impl Strategy<Value = Map<String, Value>> {
    fn sparse(
        map: &Map<String, Value>,
        choices: &mut impl Iterator<Item = u8>,
        junk: &Value,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in map {
            let sent = match (choices.next().unwrap(), value) {
                (0, _) => continue,
                (1, _) => value.clone(),
                (2 | 3, Value::Object(inner)) => {
                    let mut inner = sparse(inner, choices, junk);
                    if choices.next() == Some(0) {
                        inner.insert("bogus".into(), junk.clone());
                    }
                    Value::Object(inner)
                }
                (2 | 3, _) => value.clone(),
                _ if choices.next().unwrap().is_multiple_of(2) => Value::Null,
                _ => junk.clone(),
            };
            out.insert(key.clone(), sent);
        }
        out
    }
    (
        valid_spec(),
        prop::collection::vec(0u8..5, 64),
        json_value(),
    )
        .prop_map(|(spec, choices, junk)| {
            let doc = serde_json::to_value(stored(spec)).unwrap();
            sparse(
                doc.as_object().unwrap(),
                &mut choices.into_iter().cycle(),
                &junk,
            )
        })
}

/// Merge patches: random ones, members of another valid agent, and nested changes.
fn merge_patch() -> impl Strategy<Value = Map<String, Value>> {
    prop_oneof![
        nested_merge_patch(),
        json_value().prop_filter_map("an object", |v| v.as_object().cloned()),
        (valid_spec(), prop::collection::vec(any::<bool>(), 9)).prop_map(|(spec, pick)| {
            let doc = serde_json::to_value(stored(spec)).unwrap();
            doc.as_object()
                .unwrap()
                .iter()
                .zip(pick)
                .filter(|(_, picked)| *picked)
                .map(|((k, v), _)| (k.clone(), v.clone()))
                .collect()
        }),
        (
            -1.0f64..3.0,
            "\\PC{0,12}",
            prop::option::of(Just(Value::Null))
        )
            .prop_map(|(temperature, voice, reset)| {
                let mut patch = json!({"conversationConfig": {
                    "agent": {"prompt": {"temperature": temperature}},
                    "tts": {"voiceId": voice},
                }});
                if let Some(null) = reset {
                    patch["platformSettings"] = null;
                }
                patch.as_object().cloned().unwrap()
            }),
    ]
}

proptest! {
    #[test]
    fn a_patch_read_in_part_is_judged_as_when_the_whole_agent_is_read(
        spec in valid_spec(),
        patch in merge_patch(),
    ) {
        let agent = stored(spec);
        prop_assert_eq!(
            validate_patch(&agent, &patch, &rules()),
            validate_patch_in_full(&agent, &patch)
        );
    }

    #[test]
    fn every_member_of_a_stored_document_is_known(spec in valid_spec()) {
        let agent = stored(spec);
        let document = serde_json::to_value(&agent).unwrap();
        for (key, value) in document.as_object().unwrap() {
            prop_assert_eq!(member(&agent, key), Some(value.clone()), "{}", key);
        }
    }
}
