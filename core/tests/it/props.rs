//! Property tests for the codec, the parsers of outside input and the text
//! hygiene, in the normal suite (the fuzz targets, `scripts/fuzz.sh`, run
//! the same parsers for minutes with coverage guidance).

use chrono::TimeZone;
use proptest::prelude::*;
use wardwatch_core::ingest::{codec, observation, sse};
use wardwatch_core::text;

proptest! {
    /// Any samples, with gaps anywhere, come back exactly.
    #[test]
    fn the_ecg_codec_round_trips_any_samples(
        samples in proptest::collection::vec(proptest::option::weighted(0.9, any::<i32>()), 0..600)
    ) {
        let (encoding, bytes) = codec::encode(&samples).expect("encode");
        prop_assert_eq!(codec::decode(encoding, &bytes, samples.len()).expect("decode"), samples);
    }

    /// A damaged block, or a wrong sample count, is an error, never a panic.
    #[test]
    fn a_damaged_ecg_block_is_an_error_not_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        encoding in 0i64..4,
        n in 0usize..5_000,
    ) {
        let _ = codec::decode(encoding, &bytes, n);
    }

    /// However the network splits a stream, the same events come out.
    #[test]
    fn sse_events_do_not_depend_on_how_the_stream_is_split(
        lines in proptest::collection::vec(
            prop_oneof![
                "data: [ -~]{0,20}",
                "id: [0-9a-z]{0,6}",
                ": [ -~]{0,10}",
                Just(String::new()),
                "[a-z]{1,5}:[ -~]{0,8}",
            ],
            0..40,
        ),
        ends in proptest::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r")], 40),
        step in 1usize..17,
    ) {
        let mut stream = Vec::new();
        for (line, end) in lines.iter().zip(&ends) {
            stream.extend_from_slice(line.as_bytes());
            stream.extend_from_slice(end.as_bytes());
        }
        let whole = sse::EventParser::default().feed(&stream);
        let mut p = sse::EventParser::default();
        let mut split = Vec::new();
        for chunk in stream.chunks(step) {
            split.extend(p.feed(chunk));
        }
        prop_assert_eq!(whole, split);
    }

    /// Any record a stream may carry is decoded or rejected with a reason.
    #[test]
    fn any_stream_record_is_decoded_or_rejected_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400)
    ) {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).single().expect("time");
        let _ = observation::decode(&bytes, now);
    }

    /// An Observation with any value in any vital's slot is decoded or
    /// rejected with a reason.
    #[test]
    fn observations_with_hostile_values_are_decoded_or_rejected(
        code in prop_oneof![Just("8867-4".to_owned()), Just("9279-1".to_owned()), Just("2708-6".to_owned()), Just("8310-5".to_owned()), Just("3151-8".to_owned()), "[0-9-]{1,8}"],
        value in prop_oneof![any::<f64>().prop_map(|v| v.to_string()), Just("null".to_owned()), Just("\"72\"".to_owned()), Just("1e400".to_owned())],
        unit in prop_oneof![Just("/min".to_owned()), Just("%".to_owned()), Just("Cel".to_owned()), Just("[degF]".to_owned()), Just("L/min".to_owned()), "[ -~]{0,6}"],
        when in prop_oneof![Just("2026-11-25T07:59:00Z".to_owned()), Just("1970-01-01T00:00:00Z".to_owned()), Just("2026-13-45T99:00:00Z".to_owned()), "[ -~]{0,25}"],
    ) {
        let json = format!(
            r#"{{"resourceType":"Observation","id":"p1","status":"final","subject":{{"identifier":{{"value":"WW1"}}}},"effectiveDateTime":"{}","code":{{"coding":[{{"system":"http://loinc.org","code":"{}"}}]}},"valueQuantity":{{"value":{},"code":"{}"}}}}"#,
            when.replace('"', ""), code, value, unit.replace(['"', '\\'], "")
        );
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).single().expect("time");
        let _ = observation::decode(json.as_bytes(), now);
    }

    /// Whatever a name holds, what is shown has no unsafe character, and
    /// text without one is shown as it is.
    #[test]
    fn printable_text_holds_no_unsafe_character(s in "\\PC{0,30}|[\\x00-\\x1f\\x7f-\\x9f\u{202a}-\u{202e}\u{2066}-\u{2069}a-z]{0,30}") {
        let shown = text::printable(&s);
        prop_assert!(!shown.chars().any(text::is_unsafe));
        if !s.chars().any(text::is_unsafe) {
            prop_assert_eq!(shown.as_ref(), s.as_str());
        }
    }

    /// Redaction masks every credential it finds and is stable.
    #[test]
    fn redaction_leaves_no_secret_and_is_idempotent(
        user in "[a-z]{1,8}", pass in "[A-Za-z0-9]{4,12}", host in "[a-z]{1,10}(\\.[a-z]{2,5})?",
        param in prop_oneof![Just("access_token"), Just("token"), Just("X-Amz-Signature"), Just("sig"), Just("password")],
    ) {
        let url = format!("https://{user}:{pass}@{host}/s?ward=A&{param}={pass}Z&n=1");
        let once = text::redact_secrets(&url).into_owned();
        prop_assert!(!once.contains(&pass), "{}", once);
        let twice = text::redact_secrets(&once).into_owned();
        prop_assert_eq!(twice, once.clone());
        prop_assert!(text::url_has_secret(&url));
        prop_assert!(!text::url_has_secret(&once.replace("***@", "").replace("=***", "=")));
    }
}
