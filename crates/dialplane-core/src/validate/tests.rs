//! Unit and property tests of validation: valid documents survive, invalid ones are reported in full.

use super::*;
use crate::agent::*;
use proptest::prelude::*;
use serde_json::json;

pub(super) fn rules() -> Rules {
    Rules::default()
}

pub(super) fn minimal() -> Map<String, Value> {
    json!({"name": "A", "conversationConfig": {"agent": {"prompt": {"prompt": "p"}}}})
        .as_object()
        .cloned()
        .unwrap()
}

pub(super) fn stored(spec: AgentSpec) -> Agent {
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
    pub(super) fn valid_spec()(
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

pub(super) fn json_value() -> impl Strategy<Value = Value> {
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
