use super::*;

/// The example of the Standard Webhooks reference libraries' own tests.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const AT: i64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;

#[test]
fn signatures_match_the_reference_example() {
    let key = secret_key(SECRET).unwrap();
    assert_eq!(
        sign(&key, ID, AT, BODY),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[test]
fn a_rotation_signs_with_both_keys_space_separated() {
    let new = secret_key(&generate_secret()).unwrap();
    let old = secret_key(SECRET).unwrap();
    let header = signature_header(&[new.clone(), old.clone()], ID, AT, BODY);
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts, [sign(&new, ID, AT, BODY), sign(&old, ID, AT, BODY)]);
    assert_eq!(verify(SECRET, ID, AT, BODY, &header, AT), Ok(()));
}

#[test]
fn generated_secrets_are_32_random_bytes_in_standard_base64() {
    let a = generate_secret();
    let b = generate_secret();
    assert_ne!(a, b);
    assert!(a.starts_with("whsec_"));
    assert_eq!(secret_key(&a).unwrap().len(), 32);
    // Standard alphabet with padding: 32 bytes are 44 characters ending in '='.
    assert_eq!(a.len(), "whsec_".len() + 44);
    assert!(a.ends_with('='));
}

#[test]
fn verify_says_why_a_delivery_does_not_verify() {
    let header = sign(&secret_key(SECRET).unwrap(), ID, AT, BODY);
    assert_eq!(verify(SECRET, ID, AT, BODY, &header, AT + 10), Ok(()));

    let other = generate_secret();
    assert_eq!(
        verify(&other, ID, AT, BODY, &header, AT),
        Err(Mismatch::NoMatch { variant: None })
    );
    assert!(matches!(
        verify(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ID,
            AT,
            BODY,
            &header,
            AT
        ),
        Err(Mismatch::BadSecret(_))
    ));
    assert_eq!(
        verify(SECRET, ID, AT, BODY, "v2,abc", AT),
        Err(Mismatch::NoSignature)
    );
    assert_eq!(
        verify(SECRET, ID, AT, BODY, &header, AT + 301),
        Err(Mismatch::Timestamp {
            skew_seconds: -301,
            signed: true
        })
    );
    let old = verify(SECRET, ID, AT, BODY, &header, AT + 301).unwrap_err();
    assert!(old.to_string().contains("301 s before now"), "{old}");
    assert!(old.to_string().contains("the delivery is old"), "{old}");
    // A timestamp ahead of the clock is no old delivery: a clock is wrong.
    let ahead = verify(SECRET, ID, AT, BODY, &header, AT - 301).unwrap_err();
    assert_eq!(
        ahead,
        Mismatch::Timestamp {
            skew_seconds: 301,
            signed: true
        }
    );
    assert!(ahead.to_string().contains("301 s after now"), "{ahead}");
    assert!(!ahead.to_string().contains("old"), "{ahead}");
    assert!(ahead.to_string().contains("clock"), "{ahead}");
    // A receiver that parsed the JSON and serialised it again.
    let sent = b"{\n  \"test\": 2432232314\n}";
    let signed = sign(&secret_key(SECRET).unwrap(), ID, AT, sent);
    assert_eq!(
        verify(SECRET, ID, AT, br#"{"test":2432232314}"#, &signed, AT),
        Err(Mismatch::NoMatch {
            variant: Some("the body as pretty-printed JSON")
        })
    );
    // Or whose file gained a newline.
    let with_newline = [BODY, b"\n"].concat();
    assert_eq!(
        verify(SECRET, ID, AT, &with_newline, &header, AT),
        Err(Mismatch::NoMatch {
            variant: Some("the body without its trailing whitespace")
        })
    );
    let message = verify(SECRET, ID, AT, &with_newline, &header, AT)
        .unwrap_err()
        .to_string();
    assert!(message.contains("raw request body"), "{message}");
}

#[test]
fn event_types_read_back_as_written() {
    for t in EventType::SUBSCRIBABLE.into_iter().chain([EventType::Ping]) {
        assert_eq!(EventType::parse(t.as_str()), Some(t));
    }
    assert_eq!(EventType::parse("agent.renamed"), None);
    assert!(!EventType::SUBSCRIBABLE.contains(&EventType::Ping));
}

#[test]
fn the_default_schedule_is_eight_attempts_over_about_a_day() {
    let s = RetrySchedule::default();
    assert_eq!(s.attempts(), 8);
    assert_eq!(s.to_string(), "5s,5m,30m,2h,5h,10h,10h");
    assert_eq!(s.total(), Duration::from_secs(5 + 300 + 1800 + 3600 * 27));
    assert_eq!(s, "5s,5m,30m,2h,5h,10h,10h".parse().unwrap());
}

#[test]
fn schedules_parse_from_comma_separated_durations() {
    let s: RetrySchedule = "200ms, 1s,2m,1d".parse().unwrap();
    assert_eq!(
        s,
        RetrySchedule::new(vec![
            Duration::from_millis(200),
            Duration::from_secs(1),
            Duration::from_secs(120),
            Duration::from_secs(86_400),
        ])
    );
    assert_eq!(s.attempts(), 5);
    assert_eq!("".parse::<RetrySchedule>().unwrap().attempts(), 1);
    for bad in ["5", "5x", "s", "1s,,2s", "-1s", "99999999999999999999d"] {
        assert!(bad.parse::<RetrySchedule>().is_err(), "{bad}");
    }
}

#[test]
fn retries_follow_the_schedule_within_ten_percent_and_stop_after_the_last() {
    let s: RetrySchedule = "10s,100s".parse().unwrap();
    let zero = Duration::ZERO;
    assert_eq!(
        s.after_failure(1, 0.0, None, zero),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        s.after_failure(1, 1.0, None, zero),
        Some(Duration::from_secs(11))
    );
    assert_eq!(
        s.after_failure(1, -1.0, None, zero),
        Some(Duration::from_secs(9))
    );
    assert_eq!(
        s.after_failure(1, 7.0, None, zero),
        Some(Duration::from_secs(11))
    );
    assert_eq!(
        s.after_failure(2, 0.0, None, zero),
        Some(Duration::from_secs(100))
    );
    assert_eq!(s.after_failure(3, 0.0, None, zero), None);
    assert_eq!(s.after_failure(0, 0.0, None, zero), None);
}

#[test]
fn retry_after_replaces_the_delay_within_the_schedules_total() {
    let s: RetrySchedule = "10s,100s".parse().unwrap();
    let asked = Some(Duration::from_secs(2));
    assert_eq!(
        s.after_failure(1, 0.0, asked, Duration::ZERO),
        Some(Duration::from_secs(2))
    );
    let long = Some(Duration::from_secs(1000));
    assert_eq!(
        s.after_failure(1, 0.0, long, Duration::from_secs(10)),
        Some(Duration::from_secs(100))
    );
    // The last attempt is the last, whatever the receiver asks.
    assert_eq!(s.after_failure(3, 0.0, asked, Duration::ZERO), None);
}

#[test]
fn event_types_serialize_as_their_names() {
    for t in EventType::SUBSCRIBABLE.into_iter().chain([EventType::Ping]) {
        assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
    }
}
