use super::*;
use crate::calls::{ConversationStatus::*, TurnRole};
use crate::CreatedBy;
use serde_json::json;

fn recorded(status: ConversationStatus) -> Recorded {
    Recorded {
        conversation: Conversation {
            conversation_id: ConversationId::generate(),
            agent_id: AgentId::generate(),
            agent_name: "Front desk".into(),
            agent_version: 1,
            status,
            direction: CallDirection::Inbound,
            conversation_duration: None,
            start_time_unix: 1_000,
            end_time_unix: None,
            summary: String::new(),
            transcript: String::new(),
            contact_number: None,
            caller_number: None,
            sentiment: None,
            key_moments: Vec::new(),
            appointment_scheduled: Map::new(),
            data_collected: Map::new(),
            voice_mail_detected: false,
            error_message: None,
            call_transferred: false,
            recording_url: None,
            opted_out: false,
            external_id: None,
            turns: Vec::new(),
            metadata: Metadata {
                created_at: "t0".into(),
                updated_at: "t0".into(),
                created_by: CreatedBy {
                    user_id: "u".into(),
                    user_email: "u@x".into(),
                },
            },
        },
        transcript_sent: false,
    }
}

fn finish(status: ConversationStatus, end: i64) -> Changes {
    Changes {
        status: Some(status),
        end_time_unix: Some(Some(end)),
        ..Changes::default()
    }
}

#[test]
fn finishing_a_call_sets_its_duration_and_a_backward_move_is_a_conflict() {
    let live = recorded(InProgress);
    let done = apply(&live, &finish(Completed, 1_090), "t1", 5_000)
        .unwrap()
        .unwrap();
    assert_eq!(done.conversation.conversation_duration, Some(90));
    assert_eq!(done.conversation.metadata.updated_at, "t1");
    let back = Changes {
        status: Some(InProgress),
        ..Changes::default()
    };
    assert!(matches!(
        apply(&done, &back, "t2", 5_000),
        Err(Refusal::Conflict(_))
    ));
    // The same status again is no move, and no change.
    let same = Changes {
        status: Some(Completed),
        ..Changes::default()
    };
    assert_eq!(apply(&done, &same, "t2", 5_000), Ok(None));
}

#[test]
fn a_call_reported_over_without_an_end_ended_now() {
    let done = apply(
        &recorded(InProgress),
        &Changes {
            status: Some(Failed),
            ..Changes::default()
        },
        "t1",
        1_500,
    )
    .unwrap()
    .unwrap();
    assert_eq!(done.conversation.end_time_unix, Some(1_500));
    assert_eq!(done.conversation.conversation_duration, Some(500));
}

#[test]
fn the_end_is_not_before_the_start_and_only_a_finished_call_has_one() {
    let problem_at = |r: Result<Option<Recorded>, Refusal>| match r {
        Err(Refusal::Invalid(p)) => p
            .iter()
            .map(|p| (p.path.clone(), p.code))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        problem_at(apply(
            &recorded(InProgress),
            &finish(Completed, 999),
            "t",
            0
        )),
        [("/endTimeUnix".to_owned(), ProblemCode::OutOfRange)]
    );
    let early_end = Changes {
        end_time_unix: Some(Some(2_000)),
        ..Changes::default()
    };
    assert_eq!(
        problem_at(apply(&recorded(InProgress), &early_end, "t", 0)),
        [("/endTimeUnix".to_owned(), ProblemCode::InvalidCombination)]
    );
}

#[test]
fn a_finished_call_takes_only_analysis() {
    let done = apply(&recorded(InProgress), &finish(Completed, 1_010), "t1", 0)
        .unwrap()
        .unwrap();
    let analysis = Changes {
        summary: Some("Booked a table".into()),
        opted_out: Some(true),
        data_collected: Some(MapChange::Merge(
            json!({"party": 4}).as_object().unwrap().clone(),
        )),
        ..Changes::default()
    };
    let analysed = apply(&done, &analysis, "t2", 0).unwrap().unwrap();
    assert_eq!(analysed.conversation.summary, "Booked a table");
    for change in [
        Changes {
            transcript: Some(Some("x".into())),
            ..Changes::default()
        },
        Changes {
            recording_url: Some(Some("https://r/1".into())),
            ..Changes::default()
        },
        Changes {
            end_time_unix: Some(Some(1_020)),
            ..Changes::default()
        },
        Changes {
            call_transferred: Some(true),
            ..Changes::default()
        },
    ] {
        assert!(
            matches!(
                apply(&analysed, &change, "t3", 0),
                Err(Refusal::Conflict(_))
            ),
            "{change:?}"
        );
    }
    // The value it has already is no change, so no conflict.
    let same_end = Changes {
        end_time_unix: Some(Some(1_010)),
        ..Changes::default()
    };
    assert_eq!(apply(&analysed, &same_end, "t3", 0), Ok(None));
}

#[test]
fn a_transcript_sent_is_kept_and_null_brings_back_the_rendered_one() {
    let mut live = recorded(InProgress);
    live.conversation.turns = vec![Turn {
        role: TurnRole::User,
        text: "Hello?".into(),
        start_ms: 0,
        end_ms: 10,
    }];
    let sent = Changes {
        transcript: Some(Some("caller: hello".into())),
        ..Changes::default()
    };
    let with = apply(&live, &sent, "t1", 0).unwrap().unwrap();
    assert!(with.transcript_sent);
    assert_eq!(with.conversation.transcript, "caller: hello");
    let reset = Changes {
        transcript: Some(None),
        ..Changes::default()
    };
    let rendered = apply(&with, &reset, "t2", 0).unwrap().unwrap();
    assert!(!rendered.transcript_sent);
    assert_eq!(rendered.conversation.transcript, "User: Hello?");
}

#[test]
fn settings_drop_what_the_agent_does_not_keep_and_name_each_drop() {
    let keeps_nothing = Settings {
        store_data: false,
        record_voice: false,
        smart_opt_out: true,
        entities: BTreeMap::new(),
    };
    let mut changes = Changes {
        data_collected: Some(MapChange::Merge(
            json!({"name": "Ada"}).as_object().unwrap().clone(),
        )),
        recording_url: Some(Some("https://rec/1".into())),
        ..Changes::default()
    };
    assert!(
        keeps_nothing.check(&changes).is_empty(),
        "dropped whole, unchecked"
    );
    assert_eq!(
        keeps_nothing.enforce(&mut changes),
        ["/dataCollected", "/recordingUrl"]
    );
    assert_eq!(changes, Changes::default());
    // Nothing sent, nothing dropped.
    assert!(keeps_nothing.enforce(&mut Changes::default()).is_empty());
    let keeps_all = Settings {
        store_data: true,
        record_voice: true,
        smart_opt_out: false,
        entities: [
            ("name".to_owned(), EntityType::String),
            ("guests".to_owned(), EntityType::Integer),
            ("budget".to_owned(), EntityType::Number),
            ("vip".to_owned(), EntityType::Boolean),
        ]
        .into(),
    };
    let data = |v: Value| Changes {
        data_collected: Some(MapChange::Merge(v.as_object().unwrap().clone())),
        ..Changes::default()
    };
    let problems = |changes: &Changes| -> Vec<(String, ProblemCode)> {
        let found = keeps_all.check(changes);
        found.iter().map(|p| (p.path.clone(), p.code)).collect()
    };
    // Each value of its entity's type, or null (a key removed), is fine.
    let fine = data(json!({"name": "Ada", "guests": 4, "budget": 12.5, "vip": null}));
    assert_eq!(problems(&fine), []);
    assert_eq!(
        problems(&data(json!({"budget": 3}))),
        [],
        "a whole number is a number"
    );
    let mut changes =
        data(json!({"name": 7, "guests": 4.5, "budget": "12", "vip": "yes", "age": 3}));
    assert_eq!(
        problems(&changes),
        [
            ("/dataCollected/age".to_owned(), ProblemCode::UnknownField),
            ("/dataCollected/budget".to_owned(), ProblemCode::InvalidType),
            ("/dataCollected/guests".to_owned(), ProblemCode::InvalidType),
            ("/dataCollected/name".to_owned(), ProblemCode::InvalidType),
            ("/dataCollected/vip".to_owned(), ProblemCode::InvalidType),
        ]
    );
    assert!(keeps_all.enforce(&mut changes).is_empty());
}

#[test]
fn a_finished_opted_out_call_of_a_smart_opt_out_agent_lists_its_contact() {
    let smart = Settings {
        store_data: true,
        record_voice: true,
        smart_opt_out: true,
        entities: BTreeMap::new(),
    };
    let mut call = recorded(Completed).conversation;
    call.opted_out = true;
    call.contact_number = Some("+14155550123".into());
    assert_eq!(smart.opt_out(&call), Some("+14155550123"));
    call.status = InProgress;
    assert_eq!(smart.opt_out(&call), None, "not over yet");
    call.status = Completed;
    let plain = Settings {
        smart_opt_out: false,
        ..smart.clone()
    };
    assert_eq!(plain.opt_out(&call), None);
    call.contact_number = None;
    assert_eq!(smart.opt_out(&call), None, "no number to list");
}

#[test]
fn the_detail_keeps_callins_snake_case_inside_sentiment() {
    let mut call = recorded(Completed).conversation;
    call.sentiment = Some(Sentiment {
        sentiment_score: Some(0.5),
        sentiment_by_turn: vec![TurnSentiment {
            text: "Great".into(),
            sentiment_score: Some(0.9),
            sentiment_label: Some("positive".into()),
            speaker: Some("user".into()),
        }],
        sentiment_overall: Some("positive".into()),
    });
    let value = serde_json::to_value(&call).unwrap();
    assert_eq!(
        value["sentiment"]["sentiment_by_turn"][0]["sentiment_label"],
        "positive"
    );
    assert!(value.get("voiceMailDetected").is_some() && value.get("keyMoments").is_some());
}
